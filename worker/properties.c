/* properties.c — java.util.Properties text format and the KCL keys logfleetd
 * reads from it (see properties.h). */
#include "worker/properties.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"

#define PROPS_MAX_FILE (4u << 20)  /* a properties file is a few KB */

/* ---- the text format ---------------------------------------------------- */

struct scanner {
    const char *p, *end;
    int line;             /* 1-based number of the natural line at p */
};

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\f'; }
static int is_eol(char c) { return c == '\n' || c == '\r'; }

/* Consumes one line terminator (\n, \r or \r\n) at s->p, if any. */
static void eat_eol(struct scanner *s)
{
    if (s->p < s->end && *s->p == '\r') s->p++;
    else if (s->p < s->end && *s->p == '\n') {
        s->p++;
        s->line++;
        return;
    }
    else return;
    if (s->p < s->end && *s->p == '\n') s->p++;
    s->line++;
}

/* Skips blank and comment lines; returns 0 at end of input. */
static int skip_to_logical_line(struct scanner *s)
{
    for (;;) {
        while (s->p < s->end && is_ws(*s->p)) s->p++;
        if (s->p >= s->end) return 0;
        if (*s->p == '#' || *s->p == '!')
            while (s->p < s->end && !is_eol(*s->p)) s->p++;
        if (s->p >= s->end) return 0;
        if (!is_eol(*s->p)) return 1;
        eat_eol(s);
    }
}

/* Reads one logical line into b: natural lines joined where one ends in an
 * odd number of backslashes (that backslash and the next line's leading
 * whitespace dropped).  Returns 0 at end of input. */
static int logical_line(struct scanner *s, struct buf *b, int *start_line)
{
    buf_reset(b);
    if (!skip_to_logical_line(s)) return 0;
    *start_line = s->line;
    for (;;) {
        const char *q = s->p;
        while (q < s->end && !is_eol(*q)) q++;
        size_t n = (size_t)(q - s->p), bs = 0;
        while (bs < n && s->p[n - 1 - bs] == '\\') bs++;
        buf_append(b, s->p, (bs & 1) ? n - 1 : n);
        s->p = q;
        eat_eol(s);
        if (!(bs & 1) || s->p >= s->end) return 1;
        while (s->p < s->end && is_ws(*s->p)) s->p++;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads \uXXXX at in[i] (pointing at 'u'); returns the code unit or -1. */
static long read_u(const char *in, size_t n, size_t i)
{
    if (i + 5 > n) return -1;
    long v = 0;
    for (size_t k = 1; k <= 4; k++) {
        int h = hexval(in[i + k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static void put_utf8(struct buf *out, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xC0 | cp >> 6); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    buf_append(out, u, n);
}

/* Decodes a \uXXXX escape (and a following low surrogate) at in[*i]. */
static int unescape_u(const char *in, size_t n, size_t *i, struct buf *out)
{
    long cu = read_u(in, n, *i);
    if (cu < 0) return -1;
    *i += 5;
    unsigned long cp = (unsigned long)cu;
    if (cu >= 0xD800 && cu <= 0xDBFF && *i + 1 < n && in[*i] == '\\' && in[*i + 1] == 'u') {
        long lo = read_u(in, n, *i + 1);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + (((unsigned long)cu - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
            *i += 6;
        }
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD; /* lone surrogate */
    if (cp == 0) return -1;
    put_utf8(out, cp);
    return 0;
}

/* java.util.Properties.loadConvert: \t \n \r \f, \uXXXX, \x -> x. */
static int unescape(const char *in, size_t n, struct buf *out)
{
    buf_reset(out);
    buf_append(out, "", 0);
    for (size_t i = 0; i < n;) {
        char c = in[i++];
        if (c != '\\') {
            buf_append(out, &c, 1);
            continue;
        }
        if (i >= n) break; /* a lone trailing backslash is dropped */
        c = in[i];
        if (c == 'u') {
            if (unescape_u(in, n, &i, out) < 0) return -1;
            continue;
        }
        i++;
        c = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 'f' ? '\f' : c;
        buf_append(out, &c, 1);
    }
    return 0;
}

/* Splits a logical line at the first unescaped '=', ':' or whitespace. */
static void split_kv(const char *l, size_t n, size_t *key_len, size_t *val_start)
{
    size_t k = 0, v = n;
    int bs = 0, sep = 0;
    for (; k < n; k++) {
        char c = l[k];
        if (!bs && (c == '=' || c == ':')) { v = k + 1; sep = 1; break; }
        if (!bs && is_ws(c)) { v = k + 1; break; }
        bs = c == '\\' ? !bs : 0;
    }
    for (; v < n; v++) {
        if (is_ws(l[v])) continue;
        if (!sep && (l[v] == '=' || l[v] == ':')) { sep = 1; continue; }
        break;
    }
    *key_len = k;
    *val_start = v;
}

int kcl_props_scan(const char *text, size_t len, const char *name, kcl_props_cb cb, void *ctx,
                   struct err *e)
{
    struct scanner s = {text, text + len, 1};
    struct buf line, key, val;
    buf_init(&line, PROPS_MAX_FILE);
    buf_init(&key, PROPS_MAX_FILE);
    buf_init(&val, PROPS_MAX_FILE);
    int start = 0, rc = 0;
    while (rc == 0 && logical_line(&s, &line, &start)) {
        size_t kl, vs;
        split_kv(line.data, line.len, &kl, &vs);
        if (memchr(line.data, 0, line.len) || unescape(line.data, kl, &key) < 0 ||
            unescape(line.data + vs, line.len - vs, &val) < 0) {
            rc = err_set(e, -EINVAL, ERR_PERMANENT, "%s:%d: malformed \\uxxxx encoding or NUL character",
                         name, start);
            break;
        }
        rc = cb(ctx, key.data, val.data, start, e);
    }
    buf_free(&line);
    buf_free(&key);
    buf_free(&val);
    return rc;
}

/* ---- the KCL keys ------------------------------------------------------- */

enum ptype { P_STR, P_INT, P_BOOL, P_POS, P_TS };

struct pkey {
    const char *name;
    enum ptype type;
    size_t off;
    int64_t min, max, def;
};

#define F(f) offsetof(struct kcl_props, f)
#define I(name, f, min, max, def) {name, P_INT, F(f), min, max, def}
#define B(name, f, def) {name, P_BOOL, F(f), 0, 1, def}
#define S(name, f) {name, P_STR, F(f), 0, 0, 0}
/* The one table: every key logfleetd reads, its type, bounds and default. */
static const struct pkey pkeys[] = {
    S("executableName", executable_name),
    S("applicationName", application_name),
    S("streamName", stream_name),
    S("streamArn", stream_arn),
    S("tableName", table_name),
    S("regionName", region_name),
    S("kinesisEndpoint", kinesis_endpoint),
    S("workerId", worker_id),
    {"initialPositionInStream", P_POS, F(initial_position), 0, 0, KCL_POS_TRIM_HORIZON},
    {"initialPositionInStreamExtended", P_TS, F(initial_timestamp_ms), 0, INT64_MAX / 1000, 0},
    I("failoverTimeMillis", failover_time_ms, 1, INT64_MAX, 10000),
    I("maxRecords", max_records, 1, 10000, 10000),
    I("idleTimeBetweenReadsInMillis", idle_time_between_reads_ms, 0, INT64_MAX, 1500),
    I("shardSyncIntervalMillis", shard_sync_interval_ms, 1, INT64_MAX, 60000),
    I("timeoutInSeconds", timeout_s, 0, INT32_MAX, 0),
    I("shutdownGraceMillis", shutdown_grace_ms, 0, INT64_MAX, 0),
    B("callProcessRecordsEvenForEmptyRecordList", call_process_records_even_for_empty_record_list, 0),
    I("parentShardPollIntervalMillis", parent_shard_poll_interval_ms, 1, INT64_MAX, 10000),
    B("cleanupLeasesUponShardCompletion", cleanup_leases_upon_shard_completion, 1),
    I("maxLeasesForWorker", max_leases_for_worker, 1, INT32_MAX, INT32_MAX),
    I("maxLeasesToStealAtOneTime", max_leases_to_steal_at_one_time, 1, INT32_MAX, 1),
    I("taskBackoffTimeMillis", task_backoff_time_ms, 0, INT64_MAX, 500),
    B("isGracefulLeaseHandoffEnabled", graceful_lease_handoff_enabled, 1),
    I("gracefulLeaseHandoffTimeoutMillis", graceful_lease_handoff_timeout_ms, 0, INT64_MAX, 30000),
};
#define N_PKEYS (sizeof pkeys / sizeof *pkeys)

struct parse_ctx {
    struct kcl_props *p;
    const char *name;
    int saw_pos, saw_ts;
};

/* Java's String.trim(): drops bytes <= ' ' at both ends.  Returns a copy. */
static char *trimmed(const char *v)
{
    while (*v && (unsigned char)*v <= ' ') v++;
    size_t n = strlen(v);
    while (n && (unsigned char)v[n - 1] <= ' ') n--;
    return xstrndup(v, n);
}

/* Long.parseLong on a trimmed value: optional sign, decimal digits. */
static int parse_long(const char *s, int64_t *out)
{
    const char *d = (*s == '+' || *s == '-') ? s + 1 : s;
    if (!*d) return -1;
    for (const char *c = d; *c; c++)
        if (*c < '0' || *c > '9') return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

static void add_warning(struct kcl_props *p, char *w)
{
    p->warnings = xrealloc(p->warnings, (p->n_warnings + 1) * sizeof *p->warnings);
    p->warnings[p->n_warnings++] = w;
}

/* commons-beanutils' BooleanConverter, which KCL's configurator uses:
 * true|yes|y|on|1 and false|no|n|off|0 in any case; anything else reads as
 * false (KCL registers it with default FALSE), which we also warn about. */
static bool parse_bool(struct parse_ctx *c, const struct pkey *k, const char *v, int line)
{
    static const char *const yes[] = {"true", "yes", "y", "on", "1"};
    static const char *const no[] = {"false", "no", "n", "off", "0"};
    for (size_t i = 0; i < 5; i++) {
        if (!strcasecmp(v, yes[i])) return true;
        if (!strcasecmp(v, no[i])) return false;
    }
    add_warning(c->p, xasprintf("%s:%d: %s: \"%.60s\" is not a boolean; read as false, as KCL does",
                                c->name, line, k->name, v));
    return false;
}

static int bad_value(struct parse_ctx *c, const struct pkey *k, int line, const char *want,
                     const char *got, struct err *e)
{
    return err_set(e, -EINVAL, ERR_PERMANENT, "%s:%d: %s: expected %s, got \"%.60s\"", c->name, line,
                   k->name, want, got);
}

static int set_int(struct parse_ctx *c, const struct pkey *k, const char *v, int line,
                   struct err *e)
{
    int64_t n;
    if (parse_long(v, &n) < 0) return bad_value(c, k, line, "an integer", v, e);
    if (n < k->min || n > k->max) {
        char want[96];
        snprintf(want, sizeof want, "an integer from %" PRId64 " to %" PRId64, k->min, k->max);
        return bad_value(c, k, line, want, v, e);
    }
    if (k->type == P_TS) n *= 1000;
    *(int64_t *)((char *)c->p + k->off) = n;
    return 0;
}

static int set_pos(struct parse_ctx *c, const struct pkey *k, const char *v, int line,
                   struct err *e)
{
    /* KCL upper-cases the value (InitialPositionInStream.valueOf). */
    if (!strcasecmp(v, "TRIM_HORIZON")) c->p->initial_position = KCL_POS_TRIM_HORIZON;
    else if (!strcasecmp(v, "LATEST")) c->p->initial_position = KCL_POS_LATEST;
    else return bad_value(c, k, line, "TRIM_HORIZON or LATEST (AT_TIMESTAMP comes from "
                                      "initialPositionInStreamExtended)", v, e);
    c->saw_pos = 1;
    return 0;
}

static int set_key(struct parse_ctx *c, const struct pkey *k, const char *value, int line,
                   struct err *e)
{
    if (k->type == P_STR) {
        char **dst = (char **)((char *)c->p + k->off);
        free(*dst);
        *dst = xstrdup(value); /* quotes and trailing blanks kept, as Java */
        return 0;
    }
    char *v = trimmed(value);
    int rc = 0;
    switch (k->type) {
    case P_INT: rc = set_int(c, k, v, line, e); break;
    case P_TS:
        rc = set_int(c, k, v, line, e);
        c->saw_ts = rc == 0;
        break;
    case P_BOOL: *(bool *)((char *)c->p + k->off) = parse_bool(c, k, v, line); break;
    case P_POS: rc = set_pos(c, k, v, line, e); break;
    case P_STR: break;
    }
    free(v);
    return rc;
}

static int on_pair(void *ctx, const char *key, const char *value, int line, struct err *e)
{
    struct parse_ctx *c = ctx;
    for (size_t i = 0; i < N_PKEYS; i++)
        if (!strcmp(key, pkeys[i].name)) return set_key(c, &pkeys[i], value, line, e);
    /* KCL normalises any-case "AwsCredentialsProvider" (kcl.md §A.2). */
    if (!strcasecmp(key, "AwsCredentialsProvider")) {
        free(c->p->credentials_provider);
        c->p->credentials_provider = xstrdup(value);
        return 0;
    }
    struct kcl_props *p = c->p;
    p->unknown = xrealloc(p->unknown, (p->n_unknown + 1) * sizeof *p->unknown);
    p->unknown[p->n_unknown++] = (struct kcl_kv){xstrdup(key), xstrdup(value), line};
    return 0;
}

static void set_defaults(struct kcl_props *p)
{
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < N_PKEYS; i++) {
        const struct pkey *k = &pkeys[i];
        char *f = (char *)p + k->off;
        if (k->type == P_INT) *(int64_t *)f = k->def;
        else if (k->type == P_BOOL) *(bool *)f = k->def != 0;
    }
    p->initial_position = KCL_POS_TRIM_HORIZON;
}

static int blank(const char *s)
{
    if (!s) return 1;
    for (; *s; s++)
        if ((unsigned char)*s > ' ') return 0;
    return 1;
}

/* arn:<partition>:kinesis:<region>:<12-digit account>:stream/<name> */
static char *stream_from_arn(const char *arn)
{
    const char *f[6];
    const char *p = arn;
    for (int i = 0; i < 6; i++) {
        f[i] = p;
        if (i == 5) break;
        p = strchr(p, ':');
        if (!p) return NULL;
        p++;
    }
    if (strncmp(f[0], "arn:", 4) != 0 || f[1][0] == ':' || strncmp(f[2], "kinesis:", 8) != 0 ||
        f[3][0] == ':')
        return NULL;
    for (int i = 0; i < 12; i++)
        if (f[4][i] < '0' || f[4][i] > '9') return NULL;
    if (f[4][12] != ':' || strncmp(f[5], "stream/", 7) != 0) return NULL;
    const char *name = f[5] + 7;
    if (!*name || strpbrk(name, ":/ \t")) return NULL;
    return xstrdup(name);
}

static int finish(struct parse_ctx *c, struct err *e)
{
    struct kcl_props *p = c->p;
    if (blank(p->executable_name))
        return err_set(e, -EINVAL, ERR_PERMANENT, "%s: executableName is required", c->name);
    if (blank(p->application_name))
        return err_set(e, -EINVAL, ERR_PERMANENT, "%s: applicationName is required", c->name);
    if (!blank(p->stream_arn)) {
        char *s = trimmed(p->stream_arn), *n = stream_from_arn(s);
        free(s);
        if (!n)
            return err_set(e, -EINVAL, ERR_PERMANENT,
                           "%s: streamArn: expected arn:<partition>:kinesis:<region>:<account>:"
                           "stream/<name>, got \"%.80s\"", c->name, p->stream_arn);
        free(p->stream_name);
        p->stream_name = n;
    }
    if (blank(p->stream_name))
        return err_set(e, -EINVAL, ERR_PERMANENT, "%s: streamName or streamArn is required", c->name);
    if (!p->table_name) p->table_name = xstrdup(p->application_name);
    if (c->saw_ts) {
        if (c->saw_pos)
            add_warning(p, xasprintf("%s: both initialPositionInStream and "
                                     "initialPositionInStreamExtended are set; using AT_TIMESTAMP",
                                     c->name));
        p->initial_position = KCL_POS_AT_TIMESTAMP;
    }
    return 0;
}

int kcl_props_parse(const char *text, size_t len, const char *name, struct kcl_props *p,
                    struct err *e)
{
    struct parse_ctx c = {p, name, 0, 0};
    set_defaults(p);
    int rc = kcl_props_scan(text, len, name, on_pair, &c, e);
    if (rc == 0) rc = finish(&c, e);
    if (rc != 0) kcl_props_free(p);
    return rc;
}

int kcl_props_load(const char *path, struct kcl_props *p, struct err *e)
{
    struct buf b;
    buf_init(&b, PROPS_MAX_FILE);
    int rc = buf_read_file(&b, path, e);
    if (rc == 0) rc = kcl_props_parse(b.data ? b.data : "", b.len, path, p, e);
    buf_free(&b);
    return rc;
}

void kcl_props_free(struct kcl_props *p)
{
    if (!p) return;
    for (size_t i = 0; i < N_PKEYS; i++)
        if (pkeys[i].type == P_STR) free(*(char **)((char *)p + pkeys[i].off));
    free(p->credentials_provider);
    for (size_t i = 0; i < p->n_unknown; i++) {
        free(p->unknown[i].key);
        free(p->unknown[i].value);
    }
    free(p->unknown);
    for (size_t i = 0; i < p->n_warnings; i++) free(p->warnings[i]);
    free(p->warnings);
    memset(p, 0, sizeof *p);
}

int kcl_props_split_command(const char *cmd, char ***argv_out, struct err *e)
{
    size_t n = 0;
    char **argv = xcalloc(strlen(cmd ? cmd : "") / 2 + 2, sizeof *argv);
    for (const char *p = cmd ? cmd : ""; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *q = strchr(p, ' ');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        argv[n++] = xstrndup(p, len);
        p += len;
    }
    if (n == 0) {
        free(argv);
        *argv_out = NULL;
        return err_set(e, -EINVAL, ERR_PERMANENT, "executableName is empty");
    }
    argv[n] = NULL;
    *argv_out = argv;
    return (int)n;
}

void kcl_props_free_argv(char **argv)
{
    if (!argv) return;
    for (char **a = argv; *a; a++) free(*a);
    free(argv);
}
