/* pg.c — libpq helpers: connect, exec, commit, advisory locks, and the
 * RETRY / PERMANENT / UNKNOWN_OUTCOME classification of every failure. */
#include "common/pg.h"

#include "common/log.h"
#include "common/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* SQLSTATEs (beyond whole classes 08 and 53) that are worth a retry. */
static const char *const retry_states[] = {
    "40001", /* serialization_failure */
    "40P01", /* deadlock_detected */
    "55P03", /* lock_not_available */
    "57P01", /* admin_shutdown */
    "57P02", /* crash_shutdown */
    "57P03", /* cannot_connect_now */
};

enum err_class pg_classify(const char *sqlstate, int conn_ok, int during_commit)
{
    int has = sqlstate && strlen(sqlstate) == 5;
    int conn_class = has && strncmp(sqlstate, "08", 2) == 0;
    int shutdown = has && (!strcmp(sqlstate, "57P01") || !strcmp(sqlstate, "57P02"));
    /* A COMMIT whose answer never came may or may not have committed. */
    if (during_commit && (!conn_ok || !has || conn_class || shutdown)) return ERR_UNKNOWN_OUTCOME;
    if (!conn_ok) return ERR_RETRY;
    if (!has) return ERR_PERMANENT;   /* a client-side error on a live connection */
    if (conn_class || strncmp(sqlstate, "53", 2) == 0) return ERR_RETRY;
    for (size_t i = 0; i < sizeof retry_states / sizeof retry_states[0]; i++)
        if (strcmp(sqlstate, retry_states[i]) == 0) return ERR_RETRY;
    return ERR_PERMANENT;
}

/* Copies a libpq message onto one line: whitespace runs become one space,
 * no trailing newline. */
static void one_line(char *dst, size_t n, const char *src)
{
    size_t w = 0;
    for (const char *p = src ? src : ""; *p && w + 1 < n; p++) {
        int ws = *p == '\n' || *p == '\r' || *p == '\t' || *p == ' ';
        if (ws && (w == 0 || dst[w - 1] == ' ')) continue;
        dst[w++] = ws ? ' ' : *p;
    }
    while (w && dst[w - 1] == ' ') w--;
    if (n) dst[w] = 0;
}

/* Fills e from a failed result (consumed: cleared here) or the connection. */
static int fail(PGconn *c, PGresult *r, const char *what, int during_commit, struct err *e)
{
    char msg[200];
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *prim = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    one_line(msg, sizeof msg, prim && *prim ? prim : r && *PQresultErrorMessage(r)
                                                        ? PQresultErrorMessage(r)
                                                        : PQerrorMessage(c));
    enum err_class cls = pg_classify(st, c && PQstatus(c) == CONNECTION_OK, during_commit);
    if (st) err_set(e, -EIO, cls, "pg: %s: SQLSTATE %s: %s", what, st, msg);
    else err_set(e, -EIO, cls, "pg: %s: connection: %s", what, msg[0] ? msg : "no reply");
    PQclear(r);
    return -EIO;
}

static void notice(void *arg, const char *message)
{
    (void)arg;
    char m[256];
    one_line(m, sizeof m, message);
    log_info("pg", "notice text=\"%s\"", m);
}

int pg_connect(const char *dsn, int timeout_s, PGconn **out, struct err *e)
{
    char tmo[16];
    snprintf(tmo, sizeof tmo, "%d", timeout_s > 0 ? timeout_s : 10);
    /* Keywords after dbname override what the dsn says. */
    const char *const kw[] = {"dbname", "application_name", "connect_timeout", "keepalives",
                              "keepalives_idle", "keepalives_interval", "keepalives_count", NULL};
    const char *const val[] = {dsn ? dsn : "", "logfleet", tmo, "1", "30", "10", "3", NULL};
    PGconn *c = PQconnectdbParams(kw, val, 1);
    *out = NULL;
    if (!c) return err_set(e, -ENOMEM, ERR_RETRY, "pg: connect: out of memory");
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[200];
        one_line(msg, sizeof msg, PQerrorMessage(c));
        PQfinish(c);
        return err_set(e, -ECONNREFUSED, ERR_RETRY, "pg: connect: %s", msg);
    }
    PQsetNoticeProcessor(c, notice, NULL);
    *out = c;
    return 0;
}

static int ok_status(const PGresult *r)
{
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY;
}

int pg_exec(PGconn *c, const char *sql, struct err *e)
{
    PGresult *r = PQexec(c, sql);
    if (!ok_status(r)) return fail(c, r, "exec", 0, e);
    PQclear(r);
    return 0;
}

int pg_execp(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **res,
             struct err *e)
{
    *res = NULL;
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    if (!ok_status(r)) return fail(c, r, "exec", 0, e);
    *res = r;
    return 0;
}

int pg_commit(PGconn *c, struct err *e)
{
    PGresult *r = PQexec(c, "COMMIT");
    if (!ok_status(r)) return fail(c, r, "commit", 1, e);
    /* COMMIT of a failed transaction answers "ROLLBACK", not an error. */
    int rolled_back = strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
    PQclear(r);
    if (rolled_back)
        return err_set(e, -EIO, ERR_PERMANENT, "pg: commit: transaction had failed, rolled back");
    return 0;
}

int64_t pg_lock_key(const char *key)
{
    uint64_t h = 14695981039346656037ULL;
    for (const char *p = key; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    int64_t k;
    memcpy(&k, &h, sizeof k);
    return k;
}

/* Runs a one-row, one-boolean lock function on the key's hash. */
static int lock_call(PGconn *c, const char *sql, const char *key, int *got, struct err *e)
{
    char k[24];
    snprintf(k, sizeof k, "%" PRId64, pg_lock_key(key));
    const char *params[1] = {k};
    PGresult *r;
    int rc = pg_execp(c, sql, 1, params, &r, e);
    if (rc) return rc;
    if (got) *got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return 0;
}

int pg_advisory_lock(PGconn *c, const char *key, struct err *e)
{
    return lock_call(c, "SELECT pg_advisory_lock($1::bigint)", key, NULL, e);
}

int pg_advisory_unlock(PGconn *c, const char *key, struct err *e)
{
    int got = 0;
    int rc = lock_call(c, "SELECT pg_advisory_unlock($1::bigint)", key, &got, e);
    if (rc == 0 && !got)
        return err_set(e, -ENOENT, ERR_PERMANENT, "pg: advisory lock \"%s\" was not held", key);
    return rc;
}

int pg_try_advisory_xact_lock(PGconn *c, const char *key, int *got, struct err *e)
{
    *got = 0;
    return lock_call(c, "SELECT pg_try_advisory_xact_lock($1::bigint)", key, got, e);
}
