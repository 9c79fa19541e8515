/* warehouse.c — the statement door, config-built connections, days, locks. */
#include "sinks/warehouse.h"
#include "common/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/mem.h"
#include "common/pg.h"
#include "sinks/keys.h"

#define CONNECT_TIMEOUT_S 5

/* ---- days ------------------------------------------------------------------ */

int wh_today(void)
{
    return (int)keys_day_of_ms((int64_t)time(NULL) * 1000);
}

void wh_day_iso(int day, char out[11])
{
    keys_day_text(day, out);
}

int wh_day_parse(const char *s, int *day)
{
    int32_t d;
    char back[11];
    if (!s || keys_day_parse(s, &d)) return -1;
    keys_day_text(d, back);
    if (strcmp(back, s) != 0) return -1; /* 2025-02-30 comes back as 03-02 */
    *day = d;
    return 0;
}

void wh_day_ymd(int day, char out[9])
{
    char iso[11];
    keys_day_text(day, iso);
    memcpy(out, iso, 4);
    memcpy(out + 4, iso + 5, 2);
    memcpy(out + 6, iso + 8, 2);
    out[8] = 0;
}

void wh_day_path(int day, char out[11])
{
    keys_day_text(day, out);
    out[4] = out[7] = '/';
}

/* ---- the statement door ------------------------------------------------------ */

static void echo(struct wh_sql *x, const char *sql, int n, const char *const *params)
{
    if (!x->echo) return;
    buf_puts(x->echo, sql);
    buf_puts(x->echo, ";\n");
    for (int i = 0; i < n; i++) {
        buf_printf(x->echo, "-- $%d = ", i + 1);
        if (params[i]) wh_sql_literal(x->echo, params[i]);
        else buf_puts(x->echo, "NULL");
        buf_puts(x->echo, "\n");
    }
}

static int run_on(PGconn *pg, const char *sql, int n, const char *const *params, PGresult **res,
                  struct err *e)
{
    PGresult *r = NULL;
    if (!pg) r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    else if (n == 0 && !res) return pg_exec(pg, sql, e);
    else if (pg_execp(pg, sql, n, params, &r, e)) return -EIO;
    if (res) *res = r;
    else PQclear(r);
    return 0;
}

int wh_sql_run(struct wh_sql *x, const char *sql, int n, const char *const *params,
               PGresult **res, struct err *e)
{
    if (res) *res = NULL;
    echo(x, sql, n, params);
    return run_on(x->pg, sql, n, params, res, e);
}

int wh_sql_commit(struct wh_sql *x, struct err *e)
{
    echo(x, "COMMIT", 0, NULL);
    return x->pg ? pg_commit(x->pg, e) : 0;
}

void wh_sql_rollback(struct wh_sql *x)
{
    echo(x, "ROLLBACK", 0, NULL);
    if (x->pg && PQstatus(x->pg) == CONNECTION_OK) PQclear(PQexec(x->pg, "ROLLBACK"));
}

int wh_sql_catalog(struct wh_sql *x, const char *sql, int n, const char *const *params,
                   PGresult **res, struct err *e)
{
    *res = NULL;
    return run_on(x->catalog, sql, n, params, res, e);
}

int wh_sql_literal(struct buf *b, const char *s)
{
    int rc = buf_puts(b, "'");
    for (const char *p = s; rc == 0 && *p; p++)
        rc = *p == '\'' ? buf_puts(b, "''") : buf_append(b, p, 1);
    return rc ? rc : buf_puts(b, "'");
}

/* ---- connections --------------------------------------------------------------- */

int wh_coord_connect(const struct lf_config *c, PGconn **out, struct err *e)
{
    if (pg_connect(c->coord.dsn, CONNECT_TIMEOUT_S, out, e)) return -1;
    /* durable before acknowledged: manifests and load states are ledgers */
    char *sql = xasprintf("SET search_path TO %s; SET synchronous_commit TO on", c->coord.schema);
    int rc = pg_exec(*out, sql, e);
    free(sql);
    if (rc) {
        PQfinish(*out);
        *out = NULL;
    }
    return rc;
}

int wh_connect(const struct lf_backend *b, const char *session_sql, PGconn **out, struct err *e)
{
    if (pg_connect(b->dsn, CONNECT_TIMEOUT_S, out, e)) return -1;
    int rc = pg_exec(*out, session_sql, e);
    if (rc) {
        PQfinish(*out);
        *out = NULL;
    }
    return rc;
}

void wh_drop_if_bad(PGconn **pg)
{
    if (*pg && PQstatus(*pg) != CONNECTION_OK) {
        PQfinish(*pg);
        *pg = NULL;
    }
}

static const char *or_null(const char *s)
{
    return s && *s ? s : NULL;
}

int wh_s3_open(const struct lf_config *c, struct wh_s3 *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    const struct lf_aws_config *a = &c->aws;
    struct aws_creds_opts co = {.access_key = or_null(a->access_key_id),
                                .secret_key = or_null(a->secret_access_key),
                                .session_token = or_null(a->session_token),
                                .profile = or_null(a->profile),
                                .ecs_endpoint = or_null(a->ecs_endpoint),
                                .imds_endpoint = or_null(a->imds_endpoint),
                                .imds_disabled = a->imds_disabled};
    if (aws_creds_provider_new(&co, &out->creds, e)) return -1;
    struct aws_client_opts o = {.region = a->region, .endpoint = or_null(c->s3.endpoint),
                                .creds = out->creds, .connect_timeout_ms = a->connect_timeout_ms,
                                .timeout_ms = a->request_timeout_ms,
                                .max_attempts = a->max_attempts, .retry_base_ms = a->retry_base_ms,
                                .retry_cap_ms = a->retry_cap_ms};
    if (s3_new(&o, c->s3.bucket, &out->s3, e)) {
        aws_creds_provider_free(out->creds);
        out->creds = NULL;
        return -1;
    }
    s3_set_unsigned_payload(out->s3, lf_s3_unsigned_payload(c));
    return 0;
}

void wh_s3_close(struct wh_s3 *s)
{
    s3_free(s->s3);
    aws_creds_provider_free(s->creds);
    memset(s, 0, sizeof *s);
}

/* ---- locks and lookups ------------------------------------------------------------- */

void wh_lock_name(char *out, size_t n, const struct lf_config *c, const char *what,
                  const char *a, const char *b)
{
    snprintf(out, n, "logfleet/%s/%s/%s/%s", c->app, what, a ? a : "", b ? b : "");
}

int wh_try_lock(PGconn *pg, const char *name, int *got, struct err *e)
{
    char k[24];
    snprintf(k, sizeof k, "%lld", (long long)pg_lock_key(name));
    const char *p[] = {k};
    PGresult *r;
    *got = 0;
    if (pg_execp(pg, "SELECT pg_try_advisory_lock($1::bigint)", 1, p, &r, e)) return -1;
    *got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return 0;
}

bool wh_backend_has_type(const struct lf_backend *b, const char *type)
{
    if (b->n_types == 0) return true;
    for (size_t i = 0; i < b->n_types; i++)
        if (strcmp(b->types[i], type) == 0) return true;
    return false;
}

const struct lf_backend *wh_backend_find(const struct lf_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_backends; i++)
        if (strcmp(c->backends[i].name, name) == 0) return &c->backends[i];
    return NULL;
}

