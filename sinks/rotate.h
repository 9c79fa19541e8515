/* rotate.h — rotating day tables behind a view, per backend and log type.
 *
 * rotate_run (`logfleetctl rotate`, daily from cron) for every backend and
 * every type it loads, with D = the date rotated for:
 *   1. creates the day tables D .. D + tables.days_ahead that are missing;
 *   2. replaces the view <type> over the existing tables of
 *      [D - tables.retention_days + 1, D + days_ahead];
 *   3. drops the tables older than that window.  postgres: in the same
 *      transaction as step 2 (a plain view must stop naming a table before
 *      it can go); redshift: after step 2 (late-binding views).
 * It is idempotent, and runs under an app-wide session advisory lock in the
 * coordination DB: a second concurrent run waits for the first, then finds
 * nothing left to do.  Each (backend, type) is also locked while its DDL
 * runs, the lock rotate_ensure_day takes, so a loader creating a table on
 * demand and rotation never interleave.  With dry_run nothing is locked or
 * changed: the catalog is read and the statements are printed.
 * Single-threaded per call; calls in several processes are safe.
 */
#ifndef LOGFLEET_ROTATE_H
#define LOGFLEET_ROTATE_H

#include <stdbool.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "common/config.h"
#include "common/err.h"
#include "sinks/dialect.h"

struct rotate_opts {
    int date;                /* days since 1970-01-01 (wh_today() for cron) */
    bool dry_run;            /* print the SQL to out, change nothing */
    const char *backend;     /* NULL: every backend */
    FILE *out;               /* dry-run SQL and one summary line per (backend, type); NULL: none */
};

struct rotate_result {
    int tables_created;
    int tables_dropped;
    int views_replaced;
    int backends_failed;     /* backends that could not be rotated (see the log) */
    bool waited;             /* another run held the lock first */
};

/* 0 when every selected backend was rotated; -1 otherwise (e: the first
 * failure; the other backends were still done). */
int rotate_run(const struct lf_config *c, const struct rotate_opts *o, struct rotate_result *r,
               struct err *e);

/* The view window of date: [*lo, *hi]. */
void rotate_window(const struct lf_config *c, int date, int *lo, int *hi);

/* For the loaders: makes sure (backend b, type t, day) has its table on wh.
 * If it had to be created, the type's view is replaced to include it (when
 * day is inside today's window).  Takes the (backend, type) DDL lock on
 * coord (a session lock, released before returning).  *created = 1 when
 * this call created the table. */
int rotate_ensure_day(const struct lf_config *c, const struct lf_backend *b, PGconn *coord,
                      PGconn *wh, const struct dialect_type *t, int day, int *created,
                      struct err *e);

#endif
