/* dialect_redshift.c — Amazon Redshift: COPY ... MANIFEST, late-binding views.
 *
 * A load is one transaction (reference/redshift-s3.md §1.4):
 *   BEGIN; LOCK <ledger>; SELECT 1 FROM <ledger> WHERE manifest_key = $1;
 *   (found: ROLLBACK, already loaded)  COPY ...; INSERT INTO <ledger> ...; COMMIT;
 * Typed types COPY straight into the day table with JSON 'auto ignorecase'.
 * A generic type's records go whole into a SUPER column: COPY ... JSON
 * 'noshred' into a temp table, then INSERT ... SELECT the event time and the
 * lineage out of it.  Views are WITH NO SCHEMA BINDING (schema-qualified),
 * so rotation can create, replace and drop in any order without errors;
 * rotate.c still orders them create -> view -> drop so the view never names
 * a dropped table.  No Redshift runs here: tests pin this text byte for byte
 * (tests/data/golden/redshift_*.sql).
 */
#include "sinks/dialect.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define SQL_MAX (1u << 20)

static const struct dialect_ddl ddl = {
    .ledger_columns = "(manifest_key varchar(1024) NOT NULL, target varchar(128) NOT NULL,"
                      " loaded_at timestamp NOT NULL, rows bigint, PRIMARY KEY (manifest_key))",
    .text_type = "varchar(65535)",
    .timestamp_type = "timestamp",
    .generic_columns = "event_time timestamp, payload super",
    .lineage_columns = ", _shard varchar(64), _seq varchar(128), _subseq bigint, _arrival bigint)",
};

/* Runs the statement in b (then resets b). */
static int run(struct wh_sql *x, struct buf *b, int n, const char *const *p, PGresult **res,
               struct err *e)
{
    int rc = wh_sql_run(x, b->data, n, p, res, e);
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
    const struct dialect_type *ty = t->type;
    struct buf b;
    buf_init(&b, SQL_MAX);
    dialect_day_table_sql(&b, t, day, &ddl);
    const char *sort = ty->n_cols == 0 ? "event_time"
                       : ty->sort_col >= 0 ? ty->cols[ty->sort_col].name
                                           : "_arrival";
    buf_printf(&b, " SORTKEY(%s)", sort);
    int rc = run(x, &b, 0, NULL, NULL, e);
    buf_free(&b);
    return rc;
}

static int create_or_replace_view(struct wh_sql *x, const struct dialect_target *t,
                                  const int *days, size_t n, struct err *e)
{
    struct buf b;
    buf_init(&b, SQL_MAX);
    int rc = dialect_view_sql(&b, t, days, n);
    if (rc == 0) rc = buf_puts(&b, " WITH NO SCHEMA BINDING");
    rc = rc ? err_set(e, rc, ERR_PERMANENT, "redshift: view statement too long")
            : run(x, &b, 0, NULL, NULL, e);
    buf_free(&b);
    return rc;
}

/* FROM '<manifest url>' <credentials>: the part every COPY shares. */
static void copy_source(struct buf *b, const struct dialect_target *t, const struct dialect_load *l)
{
    struct buf url;
    buf_init(&url, 4096);
    buf_printf(&url, "s3://%s/%s", l->bucket, l->manifest_key);
    buf_puts(b, " FROM ");
    wh_sql_literal(b, url.data);
    buf_printf(b, " %s", t->copy_credentials);
    buf_free(&url);
}

/* The COPY (and for a generic type the staging around it) into table. */
static int copy_into(struct wh_sql *x, const struct dialect_target *t,
                     const struct dialect_load *l, const char *table, struct err *e)
{
    const struct dialect_type *ty = t->type;
    struct buf b;
    buf_init(&b, SQL_MAX);
    int rc;
    if (ty->n_cols) {
        buf_printf(&b, "COPY %s.%s (", t->schema, table);
        for (size_t i = 0; i < ty->n_cols; i++)
            buf_printf(&b, "%s%s", i ? ", " : "", ty->cols[i].name);
        buf_puts(&b, ", _shard, _seq, _subseq, _arrival)");
        copy_source(&b, t, l);
        buf_puts(&b, " FORMAT AS JSON 'auto ignorecase' GZIP MANIFEST TIMEFORMAT 'auto'"
                     " TRUNCATECOLUMNS COMPUPDATE OFF STATUPDATE OFF");
        rc = run(x, &b, 0, NULL, NULL, e);
    } else {
        rc = wh_sql_run(x, "CREATE TEMP TABLE logfleet_stage (doc super)", 0, NULL, NULL, e);
        buf_puts(&b, "COPY logfleet_stage");
        copy_source(&b, t, l);
        buf_puts(&b, " FORMAT AS JSON 'noshred' GZIP MANIFEST COMPUPDATE OFF STATUPDATE OFF");
        if (rc == 0) rc = run(x, &b, 0, NULL, NULL, e);
        buf_printf(&b, "INSERT INTO %s.%s (event_time, payload, _shard, _seq, _subseq, _arrival)"
                       " SELECT CASE WHEN is_varchar(doc.\"%s\") THEN CAST(doc.\"%s\" AS"
                       " varchar)::timestamp ELSE TIMESTAMP 'epoch' + doc._arrival::bigint / 1000"
                       " * INTERVAL '1 second' END, doc, doc._shard::varchar(64),"
                       " doc._seq::varchar(128), doc._subseq::bigint, doc._arrival::bigint"
                       " FROM logfleet_stage",
                   t->schema, table, ty->time_field, ty->time_field);
        if (rc == 0) rc = run(x, &b, 0, NULL, NULL, e);
    }
    buf_free(&b);
    return rc;
}

/* After the COPY: the ledger row, the row count, the staging table gone. */
static int record_load(struct wh_sql *x, const struct dialect_target *t,
                       const struct dialect_load *l, const char *table,
                       struct dialect_load_result *r, struct err *e)
{
    char *ins = xasprintf("INSERT INTO %s." DIALECT_LEDGER " (manifest_key, target, loaded_at,"
                          " rows) VALUES ($1, $2, getdate(), pg_last_copy_count())",
                          t->schema);
    const char *p[] = {l->manifest_key, table};
    PGresult *res = NULL;
    int rc = wh_sql_run(x, ins, 2, p, NULL, e);
    if (rc == 0) rc = wh_sql_run(x, "SELECT pg_last_copy_count()", 0, NULL, &res, e);
    if (rc == 0 && PQntuples(res) == 1) r->rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (rc == 0 && t->type->n_cols == 0)
        rc = wh_sql_run(x, "DROP TABLE logfleet_stage", 0, NULL, NULL, e);
    PQclear(res);
    free(ins);
    return rc;
}

static int load_manifest(struct wh_sql *x, const struct dialect_target *t,
                         const struct dialect_load *l, struct dialect_load_result *r,
                         struct err *e)
{
    char table[WH_IDENT_MAX];
    dialect_table_name(t->type->name, l->day, table);
    memset(r, 0, sizeof *r);
    char *lock = xasprintf("LOCK %s." DIALECT_LEDGER, t->schema);
    char *check = xasprintf("SELECT 1 FROM %s." DIALECT_LEDGER " WHERE manifest_key = $1",
                            t->schema);
    const char *p[] = {l->manifest_key};
    PGresult *found = NULL;
    int rc = wh_sql_run(x, "BEGIN", 0, NULL, NULL, e), ended = 0;
    if (rc == 0) rc = wh_sql_run(x, lock, 0, NULL, NULL, e);
    if (rc == 0) rc = wh_sql_run(x, check, 1, p, &found, e);
    if (rc == 0 && PQntuples(found) > 0) {
        r->already = true;
        wh_sql_rollback(x);
        ended = 1;
    } else if (rc == 0) {
        rc = copy_into(x, t, l, table, e);
        if (rc == 0) rc = record_load(x, t, l, table, r, e);
        if (rc == 0) rc = wh_sql_commit(x, e), ended = 1;
    }
    if (rc && !ended) wh_sql_rollback(x);
    PQclear(found);
    free(lock);
    free(check);
    return rc;
}

const struct dialect_ops dialect_redshift = {
    .name = "redshift",
    .session_sql = "SET timezone TO 'UTC'",
    .transactional_ddl = false,
    .ensure_ledger = ensure_ledger,
    .create_day_table = create_day_table,
    .create_or_replace_view = create_or_replace_view,
    .drop_view = dialect_drop_view,
    .drop_table = dialect_drop_table,
    .list_day_tables = dialect_list_day_tables,
    .load_manifest = load_manifest,
};
