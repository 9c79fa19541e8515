/* dialect.c — what both dialects share: type columns, table names, the
 * catalog reads, the DDL shapes (filled from a struct dialect_ddl) and the
 * factory. */
#include "sinks/dialect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* "<type>_" + 8 digits must fit PostgreSQL's 63-byte identifiers. */
#define TYPE_NAME_MAX (WH_IDENT_MAX - 1 - 9)

const struct dialect_ops *dialect_for(enum lf_dialect d)
{
    return d == LF_DIALECT_REDSHIFT ? &dialect_redshift : &dialect_postgres;
}

static int find_sort_col(const struct dialect_type *t)
{
    for (size_t i = 0; i < t->n_cols; i++)
        if (t->cols[i].type == LF_COL_TIMESTAMP && strcmp(t->cols[i].name, t->time_field) == 0)
            return (int)i;
    for (size_t i = 0; i < t->n_cols; i++)
        if (t->cols[i].type == LF_COL_TIMESTAMP) return (int)i;
    return -1;
}

int dialect_type_init(struct dialect_type *t, const struct lf_type *lt, const char *time_field,
                      struct err *e)
{
    memset(t, 0, sizeof *t);
    if (strlen(lt->name) > TYPE_NAME_MAX)
        return err_set(e, -ENAMETOOLONG, ERR_PERMANENT,
                       "dialect: type \"%s\" is too long for a day table name (max %d bytes)",
                       lt->name, TYPE_NAME_MAX);
    t->name = lt->name;
    t->time_field = time_field;
    t->n_cols = lt->n_columns;
    t->cols = lt->n_columns ? xcalloc(lt->n_columns, sizeof *t->cols) : NULL;
    for (size_t i = 0; i < lt->n_columns; i++) {
        if (lf_column_parse(lt->columns[i], &t->cols[i]) == 0) continue;
        int rc = err_set(e, -EINVAL, ERR_PERMANENT, "dialect: type %s: bad column \"%s\"",
                         lt->name, lt->columns[i]);
        dialect_type_free(t);
        return rc;
    }
    t->sort_col = find_sort_col(t);
    return 0;
}

void dialect_type_free(struct dialect_type *t)
{
    free(t->cols);
    memset(t, 0, sizeof *t);
}

void dialect_table_name(const char *type, int day, char out[WH_IDENT_MAX])
{
    char ymd[9];
    wh_day_ymd(day, ymd);
    snprintf(out, WH_IDENT_MAX, "%s_%s", type, ymd);
}

int dialect_view_columns(struct buf *b, const struct dialect_type *t)
{
    int rc = 0;
    if (t->n_cols == 0) rc = buf_puts(b, "event_time, payload");
    for (size_t i = 0; rc == 0 && i < t->n_cols; i++)
        rc = buf_printf(b, "%s%s", i ? ", " : "", t->cols[i].name);
    return rc ? rc : buf_puts(b, ", _shard, _seq, _subseq, _arrival");
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The day of "<type>_yyyymmdd", or -1. */
static int day_of_table(const char *table, size_t type_len)
{
    const char *d = table + type_len + 1;
    if (strlen(d) != 8 || strspn(d, "0123456789") != 8) return -1;
    char iso[11] = {d[0], d[1], d[2], d[3], '-', d[4], d[5], '-', d[6], d[7], 0};
    int day;
    return wh_day_parse(iso, &day) ? -1 : day;
}

int dialect_list_day_tables(struct wh_sql *x, const struct dialect_target *t, int **days,
                            size_t *n, struct err *e)
{
    char *re = xasprintf("^%s_[0-9]{8}$", t->type->name);
    const char *p[] = {t->schema, re};
    PGresult *r;
    *days = NULL;
    *n = 0;
    int rc = wh_sql_catalog(x,
                            "SELECT tablename FROM pg_tables WHERE schemaname = $1"
                            " AND tablename ~ $2",
                            2, p, &r, e);
    free(re);
    if (rc) return rc;
    int rows = PQntuples(r);
    *days = xcalloc((size_t)rows + 1, sizeof **days);
    size_t tl = strlen(t->type->name);
    for (int i = 0; i < rows; i++) {
        int d = day_of_table(PQgetvalue(r, i, 0), tl);
        if (d >= 0) (*days)[(*n)++] = d;
    }
    PQclear(r);
    qsort(*days, *n, sizeof **days, cmp_int);
    return 0;
}

int dialect_ensure_schema(struct wh_sql *x, const char *schema, struct err *e)
{
    const char *p[] = {schema};
    PGresult *r;
    if (wh_sql_catalog(x, "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1, p, &r, e))
        return -1;
    int exists = PQntuples(r) > 0;
    PQclear(r);
    if (exists) return 0;
    char *sql = xasprintf("CREATE SCHEMA IF NOT EXISTS %s", schema);
    int rc = wh_sql_run(x, sql, 0, NULL, NULL, e);
    free(sql);
    return rc;
}

int dialect_ensure_ledger(struct wh_sql *x, const char *schema, const struct dialect_ddl *d,
                          struct err *e)
{
    if (dialect_ensure_schema(x, schema, e)) return -1;
    const char *p[] = {schema, DIALECT_LEDGER};
    PGresult *r;
    if (wh_sql_catalog(x, "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2", 2,
                       p, &r, e))
        return -1;
    int exists = PQntuples(r) > 0;
    PQclear(r);
    if (exists) return 0;
    char *sql = xasprintf("CREATE TABLE IF NOT EXISTS %s." DIALECT_LEDGER " %s", schema,
                          d->ledger_columns);
    int rc = wh_sql_run(x, sql, 0, NULL, NULL, e);
    free(sql);
    return rc;
}

static int col_type(struct buf *b, const struct lf_column *c, const struct dialect_ddl *d)
{
    switch (c->type) {
    case LF_COL_TEXT: return buf_puts(b, d->text_type);
    case LF_COL_VARCHAR: return buf_printf(b, "varchar(%d)", c->length);
    case LF_COL_INT: return buf_puts(b, "integer");
    case LF_COL_BIGINT: return buf_puts(b, "bigint");
    case LF_COL_DOUBLE: return buf_puts(b, "double precision");
    case LF_COL_BOOLEAN: return buf_puts(b, "boolean");
    case LF_COL_TIMESTAMP: return buf_puts(b, d->timestamp_type);
    }
    return -EINVAL;
}

void dialect_day_table_sql(struct buf *b, const struct dialect_target *t, int day,
                           const struct dialect_ddl *d)
{
    const struct dialect_type *ty = t->type;
    char table[WH_IDENT_MAX];
    dialect_table_name(ty->name, day, table);
    buf_printf(b, "CREATE TABLE IF NOT EXISTS %s.%s (", t->schema, table);
    if (ty->n_cols == 0) buf_puts(b, d->generic_columns);
    for (size_t i = 0; i < ty->n_cols; i++) {
        buf_printf(b, "%s%s ", i ? ", " : "", ty->cols[i].name);
        col_type(b, &ty->cols[i], d);
        if (ty->cols[i].required) buf_puts(b, " NOT NULL");
    }
    buf_puts(b, d->lineage_columns);
}

int dialect_view_sql(struct buf *b, const struct dialect_target *t, const int *days, size_t n)
{
    int rc = buf_printf(b, "CREATE OR REPLACE VIEW %s.%s AS ", t->schema, t->type->name);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char table[WH_IDENT_MAX];
        dialect_table_name(t->type->name, days[i], table);
        rc = buf_puts(b, i ? " UNION ALL SELECT " : "SELECT ");
        if (rc == 0) rc = dialect_view_columns(b, t->type);
        if (rc == 0) rc = buf_printf(b, " FROM %s.%s", t->schema, table);
    }
    return rc ? -E2BIG : 0;
}

int dialect_drop_view(struct wh_sql *x, const struct dialect_target *t, struct err *e)
{
    char *sql = xasprintf("DROP VIEW IF EXISTS %s.%s", t->schema, t->type->name);
    int rc = wh_sql_run(x, sql, 0, NULL, NULL, e);
    free(sql);
    return rc;
}

int dialect_drop_table(struct wh_sql *x, const struct dialect_target *t, int day, struct err *e)
{
    char table[WH_IDENT_MAX];
    dialect_table_name(t->type->name, day, table);
    char *sql = xasprintf("DROP TABLE IF EXISTS %s.%s", t->schema, table);
    int rc = wh_sql_run(x, sql, 0, NULL, NULL, e);
    free(sql);
    return rc;
}
