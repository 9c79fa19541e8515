/* dialect_postgres.c — PostgreSQL: the manifest's objects through COPY FROM STDIN.
 *
 * A load reads the manifest from S3, then in ONE transaction:
 *   INSERT INTO <ledger> ... ON CONFLICT DO NOTHING   (no row inserted: already
 *                                                     loaded -> ROLLBACK)
 *   CREATE TEMP TABLE logfleet_stage (doc text) ON COMMIT DROP
 *   COPY logfleet_stage (doc) FROM STDIN (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02')
 *       every object, gunzipped, streamed line for line (the odd quote and
 *       delimiter keep each NDJSON line byte for byte; reference §3)
 *   INSERT INTO <day table> SELECT <each column from doc::jsonb> ... ON CONFLICT DO NOTHING
 *   UPDATE <ledger> SET rows = <inserted>; COMMIT
 * Day tables carry UNIQUE (_shard, _seq, _subseq): a record that would land
 * twice is skipped and counted, never duplicated.  Views are plain (PG has no
 * late binding), so rotate.c replaces a view and drops the tables it no
 * longer names in one transaction (transactional_ddl).
 */
#include "sinks/dialect.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"
#include "sinks/gz.h"

#define SQL_MAX (1u << 20)
#define MANIFEST_MAX (64u << 20)
#define OBJECT_GZ_MAX (64u << 20)      /* S3 GET answers are capped there (aws.h) */
#define OBJECT_RAW_MAX (1024u << 20)   /* router.buffer_bytes is at most 1 GiB */
#define COPY_CHUNK (256u << 10)

static const struct dialect_ddl ddl = {
    .ledger_columns = "(manifest_key text PRIMARY KEY, target text NOT NULL,"
                      " loaded_at timestamptz NOT NULL DEFAULT now(), rows bigint)",
    .text_type = "text",
    .timestamp_type = "timestamptz",
    .generic_columns = "event_time timestamptz, payload jsonb NOT NULL",
    .lineage_columns = ", _shard varchar(64) NOT NULL, _seq varchar(128) NOT NULL,"
                       " _subseq bigint NOT NULL, _arrival bigint, UNIQUE (_shard, _seq, _subseq))",
};

static int run(struct wh_sql *x, struct buf *b, int n, const char *const *p, PGresult **res,
               struct err *e)
{
    int rc = b->len ? wh_sql_run(x, b->data, n, p, res, e)
                    : err_set(e, -E2BIG, ERR_PERMANENT, "postgres: statement too long");
    buf_reset(b);
    return rc;
}

static int ensure_ledger(struct wh_sql *x, const char *schema, struct err *e)
{
    return dialect_ensure_ledger(x, schema, &ddl, e);
}

static int create_day_table(struct wh_sql *x, const struct dialect_target *t, int day,
                            struct err *e)
{
    struct buf b;
    buf_init(&b, SQL_MAX);
    dialect_day_table_sql(&b, t, day, &ddl);
    int rc = run(x, &b, 0, NULL, NULL, e);
    buf_free(&b);
    return rc;
}

/* A view too long for SQL_MAX leaves b empty: run() fails it as too long. */
static int create_or_replace_view(struct wh_sql *x, const struct dialect_target *t,
                                  const int *days, size_t n, struct err *e)
{
    struct buf b;
    buf_init(&b, SQL_MAX);
    if (dialect_view_sql(&b, t, days, n)) buf_reset(&b);
    int rc = run(x, &b, 0, NULL, NULL, e);
    buf_free(&b);
    return rc;
}

/* ---- the load --------------------------------------------------------------- */

/* A JSON time (ISO-8601 string, or epoch seconds / milliseconds) as timestamptz. */
static void ts_expr(struct buf *b, const char *key)
{
    struct buf k;
    buf_init(&k, 512);
    wh_sql_literal(&k, key);
    buf_printf(b,
               "CASE jsonb_typeof(d->%s) WHEN 'string' THEN (d->>%s)::timestamptz"
               " WHEN 'number' THEN to_timestamp((d->>%s)::double precision / CASE WHEN"
               " (d->>%s)::double precision >= 100000000000 THEN 1000 ELSE 1 END) END",
               k.data, k.data, k.data, k.data);
    buf_free(&k);
}

static void col_expr(struct buf *b, const struct lf_column *c)
{
    switch (c->type) {
    case LF_COL_TEXT: buf_printf(b, "d->>'%s'", c->name); break;
    case LF_COL_VARCHAR: buf_printf(b, "(d->>'%s')::varchar(%d)", c->name, c->length); break;
    case LF_COL_INT: buf_printf(b, "(d->>'%s')::numeric::integer", c->name); break;
    case LF_COL_BIGINT: buf_printf(b, "(d->>'%s')::numeric::bigint", c->name); break;
    case LF_COL_DOUBLE: buf_printf(b, "(d->>'%s')::double precision", c->name); break;
    case LF_COL_BOOLEAN: buf_printf(b, "(d->>'%s')::boolean", c->name); break;
    case LF_COL_TIMESTAMP: ts_expr(b, c->name); break;
    }
}

/* INSERT INTO <table> SELECT ... FROM the staged lines. */
static void insert_sql(struct buf *b, const struct dialect_target *t, const char *table)
{
    const struct dialect_type *ty = t->type;
    buf_printf(b, "INSERT INTO %s.%s (", t->schema, table);
    dialect_view_columns(b, ty);
    buf_puts(b, ") SELECT ");
    if (ty->n_cols == 0) {
        buf_puts(b, "coalesce(");
        ts_expr(b, ty->time_field);
        buf_puts(b, ", to_timestamp((d->>'_arrival')::double precision / 1000)), d");
    }
    for (size_t i = 0; i < ty->n_cols; i++) {
        if (i) buf_puts(b, ", ");
        col_expr(b, &ty->cols[i]);
    }
    buf_puts(b, ", d->>'_shard', d->>'_seq', (d->>'_subseq')::bigint, (d->>'_arrival')::bigint"
                " FROM (SELECT doc::jsonb AS d FROM logfleet_stage WHERE doc IS NOT NULL) s"
                " ON CONFLICT DO NOTHING");
}

/* The manifest's object keys (in bucket), from S3. */
static int read_manifest(const struct dialect_load *l, char ***keys, size_t *n, struct err *e)
{
    struct buf m;
    buf_init(&m, MANIFEST_MAX);
    *keys = NULL;
    *n = 0;
    int rc = s3_get(l->s3, l->manifest_key, &m, e);
    json_error_t je;
    json_t *doc = rc ? NULL : json_loadb(m.data, m.len, 0, &je);
    json_t *entries = json_object_get(doc, "entries");
    if (rc == 0 && !json_is_array(entries))
        rc = err_set(e, -EBADMSG, ERR_PERMANENT, "postgres: manifest %s: no entries array",
                     l->manifest_key);
    size_t pl = strlen(l->bucket) + 6;
    for (size_t i = 0; rc == 0 && i < json_array_size(entries); i++) {
        const char *url = json_string_value(json_object_get(json_array_get(entries, i), "url"));
        if (!url || strncmp(url, "s3://", 5) || strncmp(url + 5, l->bucket, pl - 6) ||
            url[pl - 1] != '/' || !url[pl]) {
            rc = err_set(e, -EBADMSG, ERR_PERMANENT,
                         "postgres: manifest %s: entry %zu is not an s3://%s/ url",
                         l->manifest_key, i, l->bucket);
            break;
        }
        *keys = xrealloc(*keys, (*n + 1) * sizeof **keys);
        (*keys)[(*n)++] = xstrdup(url + pl);
    }
    json_decref(doc);
    buf_free(&m);
    return rc;
}

/* A COPY-protocol failure: the result's SQLSTATE when there is one, else
 * the connection's message (on one line). */
static int copy_fail_res(PGconn *pg, const PGresult *r, const char *what, struct err *e)
{
    const char *ss = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char msg[200];
    size_t w = 0;
    for (const char *c = m ? m : PQerrorMessage(pg); *c && w + 1 < sizeof msg; c++) {
        bool ws = *c == ' ' || *c == '\n' || *c == '\r' || *c == '\t';
        if (!ws || (w && msg[w - 1] != ' ')) msg[w++] = ws ? ' ' : *c;
    }
    while (w && msg[w - 1] == ' ') w--;
    msg[w] = 0;
    return err_set(e, -EIO, pg_classify(ss, PQstatus(pg) == CONNECTION_OK, 0),
                   "postgres: %s: SQLSTATE %s: %s", what, ss ? ss : "none", msg);
}

static int copy_fail(PGconn *pg, const char *what, struct err *e)
{
    return copy_fail_res(pg, NULL, what, e);
}

/* Streams every object's lines into the COPY already in progress. */
static int stream_objects(PGconn *pg, const struct dialect_load *l, char **keys, size_t n,
                          struct err *e)
{
    struct buf gz, raw;
    buf_init(&gz, OBJECT_GZ_MAX);
    buf_init(&raw, OBJECT_RAW_MAX);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        buf_reset(&raw);
        rc = s3_get(l->s3, keys[i], &gz, e);
        if (rc == 0) rc = gz_inflate_all(gz.data, gz.len, &raw, e);
        for (size_t off = 0; rc == 0 && off < raw.len; off += COPY_CHUNK) {
            size_t len = raw.len - off < COPY_CHUNK ? raw.len - off : COPY_CHUNK;
            if (PQputCopyData(pg, raw.data + off, (int)len) != 1)
                rc = copy_fail(pg, "COPY data", e);
        }
        if (rc == 0 && raw.len && raw.data[raw.len - 1] != '\n' && PQputCopyData(pg, "\n", 1) != 1)
            rc = copy_fail(pg, "COPY data", e);
    }
    buf_free(&gz);
    buf_free(&raw);
    return rc;
}

/* COPY logfleet_stage FROM STDIN: the objects' lines; *lines = rows copied. */
static int copy_stage(struct wh_sql *x, const struct dialect_load *l, char **keys, size_t n,
                      int64_t *lines, struct err *e)
{
    static const char copy[] = "COPY logfleet_stage (doc) FROM STDIN WITH (FORMAT csv,"
                               " QUOTE e'\\x01', DELIMITER e'\\x02')";
    if (!x->pg) return wh_sql_run(x, copy, 0, NULL, NULL, e);
    if (x->echo) buf_printf(x->echo, "%s;\n", copy);
    PGresult *r = PQexec(x->pg, copy);
    if (!r || PQresultStatus(r) != PGRES_COPY_IN) {
        int rc = copy_fail_res(x->pg, r, "COPY", e);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    int rc = stream_objects(x->pg, l, keys, n, e);
    if (PQputCopyEnd(x->pg, rc ? "logfleet: load aborted" : NULL) != 1 && rc == 0)
        rc = copy_fail(x->pg, "COPY end", e);
    while ((r = PQgetResult(x->pg))) {
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = copy_fail_res(x->pg, r, "COPY", e);
        } else if (rc == 0) {
            *lines = strtoll(PQcmdTuples(r), NULL, 10);
        }
        PQclear(r);
    }
    if (rc == 0 && PQstatus(x->pg) != CONNECTION_OK) rc = copy_fail(x->pg, "COPY", e);
    return rc;
}

/* Ledger first: 1 when this transaction now owns the manifest, 0 when it
 * was loaded before (r->rows = what that load recorded). */
static int claim_ledger(struct wh_sql *x, const struct dialect_target *t,
                        const struct dialect_load *l, const char *table,
                        struct dialect_load_result *r, struct err *e)
{
    char *ins = xasprintf("INSERT INTO %s." DIALECT_LEDGER " (manifest_key, target, loaded_at,"
                          " rows) VALUES ($1, $2, now(), 0) ON CONFLICT (manifest_key) DO NOTHING",
                          t->schema);
    char *sel = xasprintf("SELECT rows FROM %s." DIALECT_LEDGER " WHERE manifest_key = $1",
                          t->schema);
    const char *p[] = {l->manifest_key, table};
    PGresult *res = NULL;
    int rc = wh_sql_run(x, ins, 2, p, &res, e), owned = 1;
    if (rc == 0 && x->pg && strcmp(PQcmdTuples(res), "0") == 0) {
        owned = 0;
        PQclear(res);
        res = NULL;
        rc = wh_sql_run(x, sel, 1, p, &res, e);
        if (rc == 0 && PQntuples(res) == 1) r->rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    }
    PQclear(res);
    free(ins);
    free(sel);
    return rc ? rc : owned;
}

/* Stage, insert, count: everything between the ledger claim and COMMIT. */
static int load_rows(struct wh_sql *x, const struct dialect_target *t,
                     const struct dialect_load *l, const char *table, char **keys, size_t n,
                     struct dialect_load_result *r, struct err *e)
{
    int rc = wh_sql_run(x, "CREATE TEMP TABLE logfleet_stage (doc text) ON COMMIT DROP", 0,
                        NULL, NULL, e);
    if (rc == 0) rc = copy_stage(x, l, keys, n, &r->lines, e);
    struct buf b;
    buf_init(&b, SQL_MAX);
    insert_sql(&b, t, table);
    PGresult *res = NULL;
    if (rc == 0) rc = run(x, &b, 0, NULL, &res, e);
    if (rc == 0) r->rows = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    char rows[24];
    snprintf(rows, sizeof rows, "%lld", (long long)r->rows);
    const char *p[] = {l->manifest_key, rows};
    buf_printf(&b, "UPDATE %s." DIALECT_LEDGER " SET rows = $2 WHERE manifest_key = $1", t->schema);
    if (rc == 0) rc = run(x, &b, 2, p, NULL, e);
    buf_free(&b);
    return rc;
}

static int load_manifest(struct wh_sql *x, const struct dialect_target *t,
                         const struct dialect_load *l, struct dialect_load_result *r,
                         struct err *e)
{
    char table[WH_IDENT_MAX];
    dialect_table_name(t->type->name, l->day, table);
    memset(r, 0, sizeof *r);
    char **keys = NULL;
    size_t n = 0;
    int rc = x->pg ? read_manifest(l, &keys, &n, e) : 0, ended = 0;
    if (rc == 0) rc = wh_sql_run(x, "BEGIN", 0, NULL, NULL, e);
    int owned = rc == 0 ? claim_ledger(x, t, l, table, r, e) : -1;
    if (owned == 0) {
        r->already = true;
        wh_sql_rollback(x);
        ended = 1;
    } else if (owned == 1) {
        rc = load_rows(x, t, l, table, keys, n, r, e);
        if (rc == 0) rc = wh_sql_commit(x, e), ended = 1;
    } else {
        rc = -1;
    }
    if (rc && !ended) wh_sql_rollback(x);
    if (rc == 0 && !r->already && l->expect_records && r->lines != l->expect_records)
        log_warn("postgres", "manifest_lines_differ manifest=%s lines=%lld expected=%lld",
                 l->manifest_key, (long long)r->lines, (long long)l->expect_records);
    for (size_t i = 0; i < n; i++) free(keys[i]);
    free(keys);
    return rc;
}

const struct dialect_ops dialect_postgres = {
    .name = "postgres",
    /* A load is acknowledged to the coordination DB as done only after its
     * COMMIT returned: it must be durable then, whatever the server's
     * default (bulk-load servers often run synchronous_commit = off, which
     * loses acknowledged commits in a crash). */
    .session_sql = "SET TimeZone TO 'UTC'; SET synchronous_commit TO on",
    .transactional_ddl = true,
    .ensure_ledger = ensure_ledger,
    .create_day_table = create_day_table,
    .create_or_replace_view = create_or_replace_view,
    .drop_view = dialect_drop_view,
    .drop_table = dialect_drop_table,
    .list_day_tables = dialect_list_day_tables,
    .load_manifest = load_manifest,
};
