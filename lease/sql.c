/* sql.c — libpq helpers for lease/: connect, exec + classify, text[] codec. */
#include "lease/sql.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"

/* Server notices ("already exists, skipping") are expected chatter. */
static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    log_debug("lease", "pg_notice msg=\"%.*s\"", (int)strcspn(msg, "\n"), msg);
}

int lease_sql_connect(const char *dsn, int64_t io_timeout_ms, PGconn **out, struct err *e)
{
    char ct[24], tut[24];
    int64_t secs = io_timeout_ms / 1000;
    snprintf(ct, sizeof ct, "%" PRId64, secs < 2 ? 2 : secs);
    snprintf(tut, sizeof tut, "%" PRId64, io_timeout_ms < 1000 ? 1000 : io_timeout_ms);
    /* Defaults first: values in the DSN (expanded from dbname) override them. */
    const char *const keys[] = {"application_name", "connect_timeout", "keepalives",
                                "keepalives_idle", "keepalives_interval",
                                "tcp_user_timeout", "dbname", NULL};
    const char *const vals[] = {"logfleet-lease", ct, "1", "5", "2", tut, dsn, NULL};
    *out = NULL;
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg) return err_set(e, -12, ERR_RETRY, "pg connect: out of memory");
    if (PQstatus(pg) != CONNECTION_OK) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(pg));
        msg[strcspn(msg, "\n")] = 0;
        PQfinish(pg);
        return err_set(e, -1, ERR_RETRY, "pg connect: %s", msg);
    }
    PQsetNoticeProcessor(pg, quiet_notice, NULL);
    *out = pg;
    return 0;
}

int lease_sql_ensure(PGconn *pg, struct err *e)
{
    if (PQstatus(pg) == CONNECTION_OK) return 0;
    PQreset(pg);
    if (PQstatus(pg) == CONNECTION_OK) return 0;
    char msg[200];
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(pg));
    msg[strcspn(msg, "\n")] = 0;
    return err_set(e, -1, ERR_RETRY, "pg reconnect: %s", msg);
}

enum err_class lease_sql_class(PGconn *pg, const PGresult *r)
{
    if (!r || PQstatus(pg) != CONNECTION_OK) return ERR_RETRY;
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (!st) return ERR_RETRY; /* no server verdict: the link failed */
    static const char *const retry_classes[] = {"08", "40", "53", "57", "58"};
    for (size_t i = 0; i < sizeof retry_classes / sizeof *retry_classes; i++)
        if (!strncmp(st, retry_classes[i], 2)) return ERR_RETRY;
    if (!strcmp(st, "55P03") || !strcmp(st, "55006")) return ERR_RETRY;
    return ERR_PERMANENT;
}

PGresult *lease_sql_exec(PGconn *pg, const char *sql, int n, const char *const *params,
                         int code_on_fail, struct err *e)
{
    if (lease_sql_ensure(pg, e) < 0) {
        if (e) e->code = code_on_fail;
        return NULL;
    }
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    char msg[200];
    snprintf(msg, sizeof msg, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
    msg[strcspn(msg, "\n")] = 0;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    err_set(e, code_on_fail, lease_sql_class(pg, r), "pg: %s%s%s", state ? state : "",
            state ? " " : "", msg);
    PQclear(r);
    return NULL;
}

int lease_sql_cmd(PGconn *pg, const char *sql, int n, const char *const *params,
                  int code_on_fail, struct err *e)
{
    PGresult *r = lease_sql_exec(pg, sql, n, params, code_on_fail, e);
    if (!r) return code_on_fail;
    PQclear(r);
    return 0;
}

void lease_sql_array(struct buf *out, const char *const *v, size_t n)
{
    buf_puts(out, "{");
    for (size_t i = 0; i < n; i++) {
        if (!v[i]) {
            buf_puts(out, i ? ",NULL" : "NULL");
            continue;
        }
        buf_puts(out, i ? ",\"" : "\"");
        for (const char *p = v[i]; *p; p++) {
            if (*p == '"' || *p == '\\') buf_append(out, "\\", 1);
            buf_append(out, p, 1);
        }
        buf_puts(out, "\"");
    }
    buf_puts(out, "}");
}

/* Reads one element at *pp into a new string; advances past it. */
static char *array_elem(const char **pp)
{
    const char *p = *pp;
    struct buf b;
    buf_init(&b, 1 << 20);
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1]) p++;
            buf_append(&b, p, 1);
        }
        if (*p != '"') {
            buf_free(&b);
            return NULL;
        }
        p++;
    } else {
        size_t len = strcspn(p, ",}");
        if (!(len == 4 && !strncmp(p, "NULL", 4))) buf_append(&b, p, len);
        p += len;
    }
    *pp = p;
    buf_append(&b, "", 0); /* allocates and terminates even when empty */
    size_t len;
    return buf_steal(&b, &len);
}

int lease_sql_parse_array(const char *s, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!s || *s != '{') return -1;
    const char *p = s + 1;
    char **v = NULL;
    size_t k = 0;
    while (*p && *p != '}') {
        char *el = array_elem(&p);
        if (!el || (*p != ',' && *p != '}')) {
            free(el);
            lease_sql_strv_free(v, k);
            return -1;
        }
        v = xrealloc(v, (k + 1) * sizeof *v);
        v[k++] = el;
        if (*p == ',') p++;
    }
    if (*p != '}') {
        lease_sql_strv_free(v, k);
        return -1;
    }
    *out = v;
    *n = k;
    return 0;
}

void lease_sql_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

char **lease_sql_strv_dup(char *const *v, size_t n)
{
    if (!n) return NULL;
    char **d = xmalloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = xstrdup(v[i]);
    return d;
}

void lease_sql_lock_key(const char *purpose, const char *a, const char *b, char out[24])
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a 64 */
    const char *parts[] = {purpose, a, b};
    for (int i = 0; i < 3; i++) {
        for (const char *p = parts[i] ? parts[i] : ""; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 1099511628211ULL;
        }
        h ^= 0xff; /* separator, so ("ab","c") != ("a","bc") */
        h *= 1099511628211ULL;
    }
    snprintf(out, 24, "%" PRId64, (int64_t)h);
}

const char *lease_sql_get(const PGresult *r, int i, int c)
{
    return PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c);
}

int64_t lease_sql_get_i64(const PGresult *r, int i, int c)
{
    const char *s = lease_sql_get(r, i, c);
    return s ? strtoll(s, NULL, 10) : 0;
}
