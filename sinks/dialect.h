/* dialect.h — the SQL a warehouse speaks, behind one ops table.
 *
 * Two dialects: `redshift` (COPY ... FROM 's3://.../x.manifest' ... MANIFEST,
 * late-binding views; dialect_redshift.c) and `postgres` (the manifest's
 * objects streamed through COPY FROM STDIN, plain views replaced in the same
 * transaction as the drops; dialect_postgres.c).  Both target day tables
 * <schema>.<type>_<yyyymmdd> (the type's columns, or event_time + payload for
 * a generic type, then the lineage columns _shard _seq _subseq _arrival), a
 * view <schema>.<type> over them, and a load ledger <schema>.logfleet_loads
 * (manifest_key primary) written in the same transaction as each load, so a
 * retry after an unknown outcome never loads twice.
 * Every statement goes through a struct wh_sql (sinks/warehouse.h): the same
 * functions run live, print --dry-run output and produce the golden SQL.
 * The ops are stateless and thread-safe; each call uses the connection it is
 * given.  The type switch lives only in dialect_for().
 */
#ifndef LOGFLEET_DIALECT_H
#define LOGFLEET_DIALECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/err.h"
#include "common/s3.h"
#include "sinks/warehouse.h"

#define DIALECT_LEDGER "logfleet_loads"

/* A log type's columns as the dialects see them. */
struct dialect_type {
    const char *name;          /* borrowed from the config */
    size_t n_cols;             /* 0: generic (event_time, payload) */
    struct lf_column *cols;    /* owned */
    const char *time_field;    /* router.time_field: the JSON key of the event time */
    int sort_col;              /* index of the event-time column; -1: none (sort on _arrival) */
};

/* Parses lt's column specs; the table name "<type>_<yyyymmdd>" must fit an
 * identifier (type names of at most 54 bytes).  0, or -1 PERMANENT. */
int dialect_type_init(struct dialect_type *t, const struct lf_type *lt, const char *time_field,
                      struct err *e);
void dialect_type_free(struct dialect_type *t);

/* Where a type's tables live on one backend. */
struct dialect_target {
    const char *schema;             /* backend schema */
    const struct dialect_type *type;
    const char *copy_credentials;   /* redshift: the COPY authorization clause */
};

/* "<type>_<yyyymmdd>" into out. */
void dialect_table_name(const char *type, int day, char out[WH_IDENT_MAX]);

/* One manifest to load into its day table. */
struct dialect_load {
    const char *manifest_key;  /* S3 key (relative to the bucket): the ledger key */
    const char *bucket;        /* the manifest's bucket */
    int day;
    struct s3 *s3;             /* postgres: reads the manifest and its objects */
    int64_t expect_records;    /* from the manifests row; 0: unknown (only logged) */
};

struct dialect_load_result {
    bool already;              /* the ledger already had the manifest: nothing loaded */
    int64_t rows;              /* rows inserted (redshift: pg_last_copy_count()) */
    int64_t lines;             /* postgres: NDJSON lines read from the objects */
};

struct dialect_ops {
    const char *name;
    /* Run once per warehouse session. */
    const char *session_sql;
    /* postgres: a view replacement and the drops it allows commit together */
    bool transactional_ddl;
    /* The schema (if missing) and the load ledger table. */
    int (*ensure_ledger)(struct wh_sql *x, const char *schema, struct err *e);
    int (*create_day_table)(struct wh_sql *x, const struct dialect_target *t, int day,
                            struct err *e);
    /* days: ascending, at least one. */
    int (*create_or_replace_view)(struct wh_sql *x, const struct dialect_target *t,
                                  const int *days, size_t n, struct err *e);
    int (*drop_view)(struct wh_sql *x, const struct dialect_target *t, struct err *e);
    int (*drop_table)(struct wh_sql *x, const struct dialect_target *t, int day, struct err *e);
    /* Days of the existing day tables of t's type, ascending (owned array). */
    int (*list_day_tables)(struct wh_sql *x, const struct dialect_target *t, int **days,
                           size_t *n, struct err *e);
    /* One transaction: ledger check, load, ledger row, COMMIT.  Failures are
     * classified; a lost COMMIT reply is UNKNOWN_OUTCOME (retry: the ledger
     * decides). */
    int (*load_manifest)(struct wh_sql *x, const struct dialect_target *t,
                         const struct dialect_load *l, struct dialect_load_result *r,
                         struct err *e);
};

extern const struct dialect_ops dialect_redshift;
extern const struct dialect_ops dialect_postgres;

const struct dialect_ops *dialect_for(enum lf_dialect d);

/* ---- shared by the two dialects (sinks/dialect.c) ------------------------- */

/* Appends the view's column list ("ts, player_id, ..., _arrival"). */
int dialect_view_columns(struct buf *b, const struct dialect_type *t);
/* list_day_tables over pg_tables (both dialects). */
int dialect_list_day_tables(struct wh_sql *x, const struct dialect_target *t, int **days,
                            size_t *n, struct err *e);
/* CREATE SCHEMA IF NOT EXISTS, unless the catalog shows the schema. */
int dialect_ensure_schema(struct wh_sql *x, const char *schema, struct err *e);

/* The DDL text in which the two dialects differ; the builders below put it
 * into the statement shape both share. */
struct dialect_ddl {
    const char *ledger_columns;   /* "(manifest_key ...)": the ledger's column list */
    const char *text_type;        /* an LF_COL_TEXT column's type */
    const char *timestamp_type;   /* an LF_COL_TIMESTAMP column's type */
    const char *generic_columns;  /* a generic type's event_time and payload */
    const char *lineage_columns;  /* ", _shard ... )": the lineage; closes the list */
};

/* The schema and the ledger table, each created unless the catalog shows it. */
int dialect_ensure_ledger(struct wh_sql *x, const char *schema, const struct dialect_ddl *d,
                          struct err *e);
/* Appends "CREATE TABLE IF NOT EXISTS <schema>.<type>_<day> (<columns>)". */
void dialect_day_table_sql(struct buf *b, const struct dialect_target *t, int day,
                           const struct dialect_ddl *d);
/* Appends "CREATE OR REPLACE VIEW <schema>.<type> AS SELECT ... UNION ALL ...";
 * -E2BIG at the first part that does not fit in b. */
int dialect_view_sql(struct buf *b, const struct dialect_target *t, const int *days, size_t n);
/* DROP VIEW / DROP TABLE IF EXISTS (both dialects). */
int dialect_drop_view(struct wh_sql *x, const struct dialect_target *t, struct err *e);
int dialect_drop_table(struct wh_sql *x, const struct dialect_target *t, int day, struct err *e);

#endif
