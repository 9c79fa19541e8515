/* warehouse.h — what the manifest builder, the loaders, the dialects and
 * rotation share.
 *
 * - struct wh_sql: the one door every warehouse statement goes through.  It
 *   runs statements on a live connection, or only records them (the text and
 *   its parameters) for `logfleetctl rotate --dry-run` and the golden SQL
 *   tests, so the recorded text is exactly what a live run sends.
 * - connections built from the config: the coordination database (with its
 *   search_path set to coord.schema), a warehouse (TimeZone UTC), S3.
 * - day helpers (days since 1970-01-01 UTC) and advisory-lock names.
 * No shared state: a PGconn, struct wh_sql or struct wh_s3 is used by one
 * thread at a time.
 */
#ifndef LOGFLEET_WAREHOUSE_H
#define LOGFLEET_WAREHOUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/aws.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/err.h"
#include "common/s3.h"

/* Longest "<type>_<yyyymmdd>" a warehouse identifier holds (PostgreSQL: 63). */
#define WH_IDENT_MAX 64

/* ---- days ------------------------------------------------------------------ */

/* Today (UTC) as days since 1970-01-01. */
int wh_today(void);
/* Strict "YYYY-MM-DD" (a real calendar date): 0, or -1. */
int wh_day_parse(const char *s, int *day);
/* "20250102" into out[9]. */
void wh_day_ymd(int day, char out[9]);
/* "2025-01-02" into out[11]. */
void wh_day_iso(int day, char out[11]);
/* "2025/01/02" into out[11] (key paths). */
void wh_day_path(int day, char out[11]);

/* ---- the statement door ------------------------------------------------------ */

struct wh_sql {
    PGconn *pg;        /* statements run here; NULL: recorded only */
    PGconn *catalog;   /* catalog reads (which tables exist) run here; NULL: none exist */
    struct buf *echo;  /* not NULL: each statement is appended as "<sql>;\n", then one
                          "-- $n = '<value>'\n" line per parameter */
};

/* Runs (or records) one statement.  res may be NULL (result discarded);
 * otherwise *res is the result (caller PQclear()s it): without pg an empty
 * result (no rows, PQcmdTuples "").  Failures are classified (common/pg.h). */
int wh_sql_run(struct wh_sql *x, const char *sql, int n, const char *const *params,
               PGresult **res, struct err *e);
/* COMMIT through pg_commit (a lost reply is UNKNOWN_OUTCOME). */
int wh_sql_commit(struct wh_sql *x, struct err *e);
/* ROLLBACK, errors ignored (the transaction is being abandoned). */
void wh_sql_rollback(struct wh_sql *x);
/* A catalog read on x->catalog; without one an empty result. */
int wh_sql_catalog(struct wh_sql *x, const char *sql, int n, const char *const *params,
                   PGresult **res, struct err *e);

/* Appends s as a SQL string literal ('...' with quotes doubled). */
int wh_sql_literal(struct buf *b, const char *s);

/* ---- connections --------------------------------------------------------------- */

/* The coordination database, search_path set to coord.schema. */
int wh_coord_connect(const struct lf_config *c, PGconn **out, struct err *e);
/* A warehouse backend; session_sql (the dialect's session settings) runs
 * first. */
int wh_connect(const struct lf_backend *b, const char *session_sql, PGconn **out, struct err *e);
/* PQfinish and NULL when the connection is no longer usable. */
void wh_drop_if_bad(PGconn **pg);

/* An S3 client on s3.* with the aws.* credentials, timeouts and retries. */
struct wh_s3 {
    struct aws_creds_provider *creds;
    struct s3 *s3;
};
int wh_s3_open(const struct lf_config *c, struct wh_s3 *out, struct err *e);
void wh_s3_close(struct wh_s3 *s);

/* ---- advisory locks in the coordination database --------------------------------- */

/* Names are "logfleet/<app>/<what>/<a>/<b>"; pg_lock_key hashes them. */
void wh_lock_name(char *out, size_t n, const struct lf_config *c, const char *what,
                  const char *a, const char *b);
/* Session-level try-lock: *got = 1 when taken. */
int wh_try_lock(PGconn *pg, const char *name, int *got, struct err *e);

/* Backend b loads type (its `types` list is empty or names it). */
bool wh_backend_has_type(const struct lf_backend *b, const char *type);
/* The backend named name, or NULL. */
const struct lf_backend *wh_backend_find(const struct lf_config *c, const char *name);

#endif
