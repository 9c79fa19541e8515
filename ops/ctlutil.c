/* ctlutil.c — argument parsing, usage errors and AWS clients for logfleetctl. */
#include "ops/ctlutil.h"

#include "common/mem.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ctl_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int ctl_parse_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9') return -1; /* strtoull accepts "-1" */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int ctl_parse_double(const char *s, double min, double max, double *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int ctl_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "logfleetctl %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

void ctl_getopt_reset(void)
{
    optind = 0; /* GNU: 0 reinitialises the scanner */
    opterr = 0;
}

int ctl_bad_option(const char *usage, int ch, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (ch == ':') return ctl_usage_error(argv[0], usage, "option %s needs a value", arg);
    if (optopt) return ctl_usage_error(argv[0], usage, "unknown option -%c", optopt);
    return ctl_usage_error(argv[0], usage, "unknown option %s", arg);
}

static const char *or_null(const char *s) { return s && *s ? s : NULL; }

int ctl_creds_new(const struct lf_config *c, struct aws_creds_provider **out, struct err *e)
{
    struct aws_creds_opts o = {.access_key = or_null(c->aws.access_key_id),
                               .secret_key = or_null(c->aws.secret_access_key),
                               .session_token = or_null(c->aws.session_token),
                               .profile = or_null(c->aws.profile),
                               .ecs_endpoint = or_null(c->aws.ecs_endpoint),
                               .imds_endpoint = or_null(c->aws.imds_endpoint),
                               .imds_disabled = c->aws.imds_disabled};
    return aws_creds_provider_new(&o, out, e);
}

int ctl_kin_new(const struct lf_config *c, struct aws_creds_provider *cp, struct kin **out,
                struct err *e)
{
    struct aws_client_opts o = {.region = c->aws.region,
                                .endpoint = or_null(c->kinesis.endpoint),
                                .creds = cp,
                                .connect_timeout_ms = c->aws.connect_timeout_ms,
                                .timeout_ms = c->aws.request_timeout_ms,
                                .max_attempts = c->aws.max_attempts,
                                .retry_base_ms = c->aws.retry_base_ms,
                                .retry_cap_ms = c->aws.retry_cap_ms};
    return kin_new(&o, out, e);
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ctl_now_ms(void) { return clock_ms(CLOCK_REALTIME); }
int64_t ctl_mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

int ctl_iso8601_ms(const char *s, int64_t *out)
{
    struct tm tm = {0};
    const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!p) return -1;
    int ms = 0;
    if (*p == '.') {
        int scale = 100;
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10) ms += (*p - '0') * scale;
    }
    if (strcmp(p, "Z")) return -1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return -1;
    *out = (int64_t)t * 1000 + ms;
    return 0;
}

void ctl_table_init(struct ctl_table *t, size_t ncols)
{
    *t = (struct ctl_table){ncols, 0, 0, NULL};
}

void ctl_table_add(struct ctl_table *t, const char *const *row)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
    }
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] = xstrdup(row[i] ? row[i] : "-");
    t->nrows++;
}

void ctl_table_print(FILE *f, const struct ctl_table *t)
{
    size_t *w = xcalloc(t->ncols, sizeof *w);
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            size_t n = strlen(t->cells[r * t->ncols + i]);
            if (n > w[i]) w[i] = n;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols; i++) {
            const char *s = t->cells[r * t->ncols + i];
            if (i + 1 == t->ncols)
                fprintf(f, "%s\n", s);
            else
                fprintf(f, "%-*s  ", (int)w[i], s);
        }
    }
    free(w);
}

void ctl_table_free(struct ctl_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++) free(t->cells[i]);
    free(t->cells);
    *t = (struct ctl_table){0};
}
