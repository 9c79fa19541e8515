/* pg.h — PostgreSQL helpers over libpq, and the one place PG failures are
 * classified.
 *
 * Every failure fills struct err with "pg: <what>: SQLSTATE xxxxx: <server
 * message>" (or "pg: <what>: connection: <libpq message>") and a class:
 *   RETRY            connection failures; SQLSTATE class 08, 53; 40001,
 *                    40P01, 55P03, 57P01, 57P02, 57P03
 *   UNKNOWN_OUTCOME  the reply to a COMMIT was lost (pg_commit only)
 *   PERMANENT        everything else (42xxx syntax/undefined, 23xxx, ...)
 * A PGconn is used by one thread at a time (libpq's rule); these helpers keep
 * no state of their own.
 */
#ifndef LOGFLEET_PG_H
#define LOGFLEET_PG_H

#include <stdint.h>

#include <libpq-fe.h>

#include "common/err.h"

/* Connects with application_name=logfleet, connect_timeout=timeout_s and
 * TCP keepalives.  dsn is a libpq connection string or URI.  On failure
 * *out is NULL and the class is RETRY. */
int pg_connect(const char *dsn, int timeout_s, PGconn **out, struct err *e);

/* Runs sql (one or more statements, no parameters), discarding rows. */
int pg_exec(PGconn *c, const char *sql, struct err *e);

/* Runs one statement with text parameters (NULL entries are SQL NULL).  On
 * success *res is the result (caller PQclear()s it); on failure NULL. */
int pg_execp(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **res,
             struct err *e);

/* COMMIT.  A lost reply (connection gone before the answer) is
 * ERR_UNKNOWN_OUTCOME; a COMMIT that answers ROLLBACK (the transaction had
 * already failed) is a PERMANENT error. */
int pg_commit(PGconn *c, struct err *e);

/* The classification: sqlstate may be NULL (no server error code);
 * conn_ok is 0 when the connection is gone; during_commit is 1 while the
 * statement was a COMMIT. */
enum err_class pg_classify(const char *sqlstate, int conn_ok, int during_commit);

/* A stable 64-bit advisory-lock key for a string (FNV-1a, computed here so
 * it never depends on the server's hashtext). */
int64_t pg_lock_key(const char *key);

/* Session-level advisory lock: blocks (bounded by the session's
 * lock_timeout, which fails with 55P03 = RETRY). */
int pg_advisory_lock(PGconn *c, const char *key, struct err *e);
int pg_advisory_unlock(PGconn *c, const char *key, struct err *e);
/* Transaction-level try-lock (inside BEGIN..COMMIT): *got = 1 when taken. */
int pg_try_advisory_xact_lock(PGconn *c, const char *key, int *got, struct err *e);

#endif
