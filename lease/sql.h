/* sql.h — the few libpq helpers lease/ needs, kept inside the module.
 *
 * Connect with timeouts, run one statement and classify its failure by
 * SQLSTATE into the err classes, encode/decode text[] values, and derive
 * advisory-lock keys.  Plain libpq so lease/ does not wait on common/pg.
 * No shared state: every call works on the connection it is given, and the
 * caller serialises use of a connection.
 */
#ifndef LOGFLEET_LEASE_SQL_H
#define LOGFLEET_LEASE_SQL_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* Opens a connection; io_timeout_ms bounds connect and TCP silence. */
int lease_sql_connect(const char *dsn, int64_t io_timeout_ms, PGconn **out, struct err *e);
/* Reconnects if the connection went bad; 0 if it is usable. */
int lease_sql_ensure(PGconn *pg, struct err *e);

/* Runs sql with n text params (NULL entries are SQL NULL).  Returns the
 * result (caller PQclear()s) when its status is COMMAND_OK or TUPLES_OK,
 * else NULL with e filled (code = code_on_fail). */
PGresult *lease_sql_exec(PGconn *pg, const char *sql, int n, const char *const *params,
                         int code_on_fail, struct err *e);
/* Runs a statement that returns no rows of interest; 0 or code_on_fail. */
int lease_sql_cmd(PGconn *pg, const char *sql, int n, const char *const *params,
                  int code_on_fail, struct err *e);

/* Error class of a failed result (or a bad connection when r is NULL). */
enum err_class lease_sql_class(PGconn *pg, const PGresult *r);

/* Appends v[0..n) as a text[] literal ({"a","b"}; NULL entries as NULL). */
void lease_sql_array(struct buf *out, const char *const *v, size_t n);
/* Parses a text[] output literal into a new string vector (NULL elements
 * become ""); returns 0, or -1 on malformed input.  Free with
 * lease_sql_strv_free. */
int lease_sql_parse_array(const char *s, char ***out, size_t *n);
void lease_sql_strv_free(char **v, size_t n);
char **lease_sql_strv_dup(char *const *v, size_t n);

/* A 64-bit advisory-lock key for (purpose, a, b), as decimal text in out. */
void lease_sql_lock_key(const char *purpose, const char *a, const char *b, char out[24]);

/* Value of column c in row i, or NULL if SQL NULL. */
const char *lease_sql_get(const PGresult *r, int i, int c);
int64_t lease_sql_get_i64(const PGresult *r, int i, int c);

#endif
