/* t_lease_fix.c — fixtures for the lease/ integration tests. */
#include "tests/integ/t_lease_fix.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/buf.h"
#include "common/mem.h"
#include "lease/schema.h"
#include "tests/t.h"

static char schema[32];

const char *lt_schema(void)
{
    unsigned char r[6];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) exit(1);
    snprintf(schema, sizeof schema, "lt_%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
    struct err e = {0};
    ASSERT_OK(lease_migrate(t_env("COORD_DSN"), schema, &e), e);
    return schema;
}

const char *lt_schema_name(void) { return schema; }

void lt_drop(void)
{
    if (schema[0]) free(lt_q("DROP SCHEMA %s CASCADE", schema));
}

char *lt_first_value(PGconn *pg, const char *sql, const char *who)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "  %s %s: %s", who, sql, PQresultErrorMessage(res));
        exit(1);
    }
    char *out;
    if (st != PGRES_TUPLES_OK || PQntuples(res) == 0) out = xstrdup("");
    else if (PQgetisnull(res, 0, 0)) out = xstrdup("(null)");
    else out = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return out;
}

__attribute__((format(printf, 1, 0))) static char *vq(const char *fmt, va_list ap)
{
    char *raw = NULL;
    if (vasprintf(&raw, fmt, ap) < 0) exit(1);
    struct buf b;
    buf_init(&b, 1 << 20);
    for (const char *s = raw; *s; s++) {
        if (s[0] == '@' && s[1] == '.') buf_puts(&b, schema);
        else buf_append(&b, s, 1);
    }
    free(raw);
    PGconn *pg = PQconnectdb(t_env("COORD_DSN"));
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "  lt_q connect: %s", PQerrorMessage(pg));
        exit(1);
    }
    PQclear(PQexec(pg, "SET client_min_messages TO warning"));
    char *out = lt_first_value(pg, b.data, "lt_q");
    PQfinish(pg);
    buf_free(&b);
    return out;
}

char *lt_q(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vq(fmt, ap);
    va_end(ap);
    return s;
}

long long lt_qi(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vq(fmt, ap);
    va_end(ap);
    long long v = strtoll(s, NULL, 10);
    free(s);
    return v;
}

void lt_leases(int n)
{
    free(lt_q("INSERT INTO @.leases (app, lease_key, checkpoint)"
              " SELECT '%s', 'shard-' || lpad(i::text, 3, '0'), 'TRIM_HORIZON'"
              " FROM generate_series(0, %d) i",
              LT_APP, n - 1));
}

struct lease_coord *lt_coord(const struct lt_opts *o)
{
    struct lease_opts lo = {
        .dsn = t_env("COORD_DSN"),
        .schema = schema,
        .app = o->app ? o->app : LT_APP,
        .worker_id = o->worker,
        .duration_ms = o->duration_ms ? o->duration_ms : 1500,
        .max_leases = o->max_leases,
        .max_steal = o->max_steal,
        .graceful_handoff = o->graceful,
        .handoff_timeout_ms = o->handoff_timeout_ms,
    };
    struct lease_coord *c;
    struct err e = {0};
    ASSERT_OK(lease_coord_new(&lo, &c, &e), e);
    ASSERT_OK(lease_worker_register(c, &e), e);
    return c;
}

int lt_count(struct lease_coord *c, int st)
{
    struct lease_info *v;
    size_t n;
    lease_held_snapshot(c, &v, &n);
    int k = 0;
    for (size_t i = 0; i < n; i++) k += st < 0 || (int)v[i].state == st;
    lease_info_free(v, n);
    return k;
}

int lt_state(struct lease_coord *c, const char *key)
{
    struct lease_info *v;
    size_t n;
    lease_held_snapshot(c, &v, &n);
    int st = -1;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].key, key)) st = (int)v[i].state;
    lease_info_free(v, n);
    return st;
}

void lt_token(struct lease_coord *c, const char *key, char out[33])
{
    struct lease_info *v;
    size_t n;
    lease_held_snapshot(c, &v, &n);
    out[0] = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].key, key)) memcpy(out, v[i].token, 33);
    lease_info_free(v, n);
}

static int cmp_word(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void lt_sort_words(char *list)
{
    char *copy = xstrdup(list), *words[256];
    size_t n = 0;
    for (char *p = copy; *p && n < 256;) {
        p += strspn(p, " ");
        if (!*p) break;
        words[n++] = p;
        p += strcspn(p, " ");
        if (*p) *p++ = 0;
    }
    qsort(words, n, sizeof *words, cmp_word);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) list[len++] = ' ';
        size_t w = strlen(words[i]);
        memcpy(list + len, words[i], w);
        len += w;
    }
    list[len] = 0;
    free(copy);
}

int lt_events(struct lease_coord *c, int kind, char *keys, size_t cap)
{
    struct lease_event *ev;
    size_t n;
    lease_events_take(c, &ev, &n);
    int k = 0;
    if (keys && cap) keys[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if ((int)ev[i].kind != kind) continue;
        k++;
        if (keys) {
            size_t len = strlen(keys);
            snprintf(keys + len, cap - len, "%s%s", len ? " " : "", ev[i].key);
        }
    }
    lease_events_free(ev, n);
    if (keys) lt_sort_words(keys);
    return k;
}

void lt_sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

int64_t lt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
