/* t_pg.c — PG helpers against the stack's PostgreSQL (COORD_DSN). */
#include "common/pg.h"
#include "tests/t.h"

#include <errno.h>

static PGconn *conn(void)
{
    PGconn *c;
    struct err e = {0};
    ASSERT_OK(pg_connect(t_env("COORD_DSN"), 5, &c, &e), e);
    return c;
}

#define EXPECT_CLASS(e, want) EXPECT_EQ_STR(err_class_name((e).cls), want)

ITEST(pg_query_roundtrip)
{
    PGconn *c = conn();
    PGresult *r;
    struct err e = {0};
    const char *p[3] = {"41", "hé \"x\"", NULL};
    ASSERT_OK(pg_execp(c, "SELECT $1::int + 1, $2::text, $3::text IS NULL, "
                          "current_setting('application_name')", 3, p, &r, &e), e);
    EXPECT_EQ_INT(PQntuples(r), 1);
    EXPECT_EQ_STR(PQgetvalue(r, 0, 0), "42");
    EXPECT_EQ_STR(PQgetvalue(r, 0, 1), "hé \"x\"");
    EXPECT_EQ_STR(PQgetvalue(r, 0, 2), "t");
    EXPECT_EQ_STR(PQgetvalue(r, 0, 3), "logfleet");
    PQclear(r);
    ASSERT_OK(pg_exec(c, "CREATE TEMP TABLE t (id int); INSERT INTO t VALUES (1), (2)", &e), e);
    ASSERT_OK(pg_exec(c, "BEGIN", &e), e);
    ASSERT_OK(pg_exec(c, "INSERT INTO t VALUES (3)", &e), e);
    ASSERT_OK(pg_commit(c, &e), e);
    ASSERT_OK(pg_execp(c, "SELECT sum(id) FROM t", 0, NULL, &r, &e), e);
    EXPECT_EQ_STR(PQgetvalue(r, 0, 0), "6");
    PQclear(r);
    PQfinish(c);
}

ITEST(pg_syntax_error_is_permanent)
{
    PGconn *c = conn();
    PGresult *r = (PGresult *)&r;
    struct err e = {0};
    EXPECT_EQ_INT(pg_execp(c, "SELEC 1", 0, NULL, &r, &e), -EIO);
    EXPECT_TRUE(r == NULL);
    EXPECT_CLASS(e, "permanent");
    EXPECT_CONTAINS(e.msg, "pg: exec: SQLSTATE 42601: syntax error at or near \"SELEC\"");
    EXPECT_EQ_INT(pg_exec(c, "SELECT * FROM no_such_table_here", &e), -EIO);
    EXPECT_CONTAINS(e.msg, "SQLSTATE 42P01");
    EXPECT_CLASS(e, "permanent");
    /* The connection is still good, and a COMMIT of the failed transaction
     * says so instead of pretending to commit. */
    ASSERT_OK(pg_exec(c, "BEGIN", &e), e);
    EXPECT_EQ_INT(pg_exec(c, "SELEC 1", &e), -EIO);
    EXPECT_EQ_INT(pg_commit(c, &e), -EIO);
    EXPECT_CLASS(e, "permanent");
    EXPECT_CONTAINS(e.msg, "rolled back");
    ASSERT_OK(pg_exec(c, "SELECT 1", &e), e);
    PQfinish(c);
}

ITEST(pg_unique_violation_is_permanent)
{
    PGconn *c = conn();
    struct err e = {0};
    ASSERT_OK(pg_exec(c, "CREATE TEMP TABLE u (id int PRIMARY KEY)", &e), e);
    const char *p[1] = {"7"};
    PGresult *r;
    ASSERT_OK(pg_execp(c, "INSERT INTO u VALUES ($1)", 1, p, &r, &e), e);
    PQclear(r);
    EXPECT_EQ_INT(pg_execp(c, "INSERT INTO u VALUES ($1)", 1, p, &r, &e), -EIO);
    EXPECT_CLASS(e, "permanent");
    EXPECT_CONTAINS(e.msg, "SQLSTATE 23505: duplicate key value violates unique constraint");
    PQfinish(c);
}

/* Terminates c's backend from another connection and waits until it is gone. */
static void kill_backend(PGconn *c)
{
    PGconn *k = conn();
    char pid[16];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(c));
    const char *p[1] = {pid};
    PGresult *r;
    struct err e = {0};
    ASSERT_OK(pg_execp(k, "SELECT pg_terminate_backend($1::int, 5000)", 1, p, &r, &e), e);
    EXPECT_EQ_STR(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    PQfinish(k);
}

ITEST(pg_killed_backend_is_retry)
{
    PGconn *c = conn();
    struct err e = {0};
    ASSERT_OK(pg_exec(c, "SELECT 1", &e), e);
    kill_backend(c);
    EXPECT_EQ_INT(pg_exec(c, "SELECT 1", &e), -EIO);
    EXPECT_CLASS(e, "retry");
    EXPECT_EQ_INT(PQstatus(c), CONNECTION_BAD);
    PQfinish(c);
    /* A new connection works: the retry would succeed. */
    c = conn();
    ASSERT_OK(pg_exec(c, "SELECT 1", &e), e);
    PQfinish(c);
}

ITEST(pg_commit_with_lost_reply_is_unknown_outcome)
{
    PGconn *c = conn();
    struct err e = {0};
    ASSERT_OK(pg_exec(c, "BEGIN", &e), e);
    ASSERT_OK(pg_exec(c, "SELECT 1", &e), e);
    kill_backend(c);
    EXPECT_EQ_INT(pg_commit(c, &e), -EIO);
    EXPECT_CLASS(e, "unknown_outcome");
    EXPECT_CONTAINS(e.msg, "pg: commit:");
    PQfinish(c);
}

ITEST(pg_connect_failure_is_retry)
{
    PGconn *c = (PGconn *)&c;
    struct err e = {0};
    EXPECT_EQ_INT(pg_connect("host=127.0.0.1 port=1 dbname=x user=x", 2, &c, &e), -ECONNREFUSED);
    EXPECT_TRUE(c == NULL);
    EXPECT_CLASS(e, "retry");
    EXPECT_CONTAINS(e.msg, "pg: connect:");
}

ITEST(pg_advisory_locks_exclude)
{
    PGconn *a = conn(), *b = conn();
    struct err e = {0};
    int got = -1;
    ASSERT_OK(pg_advisory_lock(a, "logfleet.rotate", &e), e);
    /* b cannot take it, neither by try nor by waiting (lock_timeout → 55P03). */
    ASSERT_OK(pg_exec(b, "BEGIN", &e), e);
    ASSERT_OK(pg_try_advisory_xact_lock(b, "logfleet.rotate", &got, &e), e);
    EXPECT_EQ_INT(got, 0);
    ASSERT_OK(pg_try_advisory_xact_lock(b, "logfleet.other", &got, &e), e);
    EXPECT_EQ_INT(got, 1);
    ASSERT_OK(pg_commit(b, &e), e);
    ASSERT_OK(pg_exec(b, "SET lock_timeout = '200ms'", &e), e);
    EXPECT_EQ_INT(pg_advisory_lock(b, "logfleet.rotate", &e), -EIO);
    EXPECT_CLASS(e, "retry");
    EXPECT_CONTAINS(e.msg, "SQLSTATE 55P03");
    /* Released by a, b takes it for its transaction, and then a cannot. */
    ASSERT_OK(pg_advisory_unlock(a, "logfleet.rotate", &e), e);
    EXPECT_EQ_INT(pg_advisory_unlock(a, "logfleet.rotate", &e), -ENOENT);
    ASSERT_OK(pg_exec(b, "BEGIN", &e), e);
    ASSERT_OK(pg_try_advisory_xact_lock(b, "logfleet.rotate", &got, &e), e);
    EXPECT_EQ_INT(got, 1);
    ASSERT_OK(pg_exec(a, "BEGIN", &e), e);
    ASSERT_OK(pg_try_advisory_xact_lock(a, "logfleet.rotate", &got, &e), e);
    EXPECT_EQ_INT(got, 0);
    ASSERT_OK(pg_commit(b, &e), e);   /* the xact lock ends with b's transaction */
    ASSERT_OK(pg_try_advisory_xact_lock(a, "logfleet.rotate", &got, &e), e);
    EXPECT_EQ_INT(got, 1);
    ASSERT_OK(pg_commit(a, &e), e);
    PQfinish(a);
    PQfinish(b);
}
