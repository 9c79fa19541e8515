/* t_rotate.c — `logfleetctl rotate` over simulated days (--date) on both
 * postgres warehouses: day tables appear ahead, views follow the window,
 * expired tables go; --dry-run changes nothing; runs are idempotent, and a
 * second concurrent run waits for the first (the advisory lock). */
#include <stdio.h>

#include "common/mem.h"
#include "common/pg.h"
#include "tests/integ/t_loader_fix.h"
#include "tests/t.h"

/* "login_20250303 login_20250304 ..." of the type's tables in wh. */
static char *tables(struct lf_fix *f, PGconn *wh, const char *type)
{
    return lf_q(wh, "SELECT coalesce(string_agg(tablename, ' ' ORDER BY tablename), '')"
                    " FROM pg_tables WHERE schemaname = '%s' AND tablename ~ '^%s_[0-9]{8}$'",
                f->wh_schema, type);
}

static void expect_tables(struct lf_fix *f, PGconn *wh, const char *type, const char *want)
{
    char *got = tables(f, wh, type);
    EXPECT_EQ_STR(got, want);
    free(got);
}

/* The tables the view reads, from the catalog's dependency records. */
static void expect_view(struct lf_fix *f, PGconn *wh, const char *type, const char *want)
{
    char *got = lf_q(wh, "SELECT coalesce(string_agg(DISTINCT t.relname, ' ' ORDER BY t.relname), '')"
                         " FROM pg_rewrite r JOIN pg_depend d ON d.objid = r.oid"
                         " JOIN pg_class t ON t.oid = d.refobjid AND t.relkind = 'r'"
                         " WHERE r.ev_class = '%s.%s'::regclass",
                     f->wh_schema, type);
    EXPECT_EQ_STR(got, want);
    free(got);
}

static void insert_login(PGconn *wh, const char *ymd, int n)
{
    for (int i = 0; i < n; i++)
        free(lf_q(wh, "INSERT INTO @W.login_%s (ts, player_id, _shard, _seq, _subseq)"
                      " VALUES (now(), 'p', 's', '%s-%d', 0)", ymd, ymd, i));
}

ITEST_T(rotate_simulated_days, 180)
{
    struct lf_fix f;
    struct lf_opts o = {.days_ahead = 2, .retention_days = 3};
    lf_open(&f, &o);
    struct buf out;
    buf_init(&out, 1 << 20);

    /* dry run: prints the DDL, creates nothing */
    EXPECT_EQ_INT(lf_ctl(&f, &out, "rotate --date 2025-03-01 --dry-run"), 0);
    char *want = xasprintf("CREATE TABLE IF NOT EXISTS %s.login_20250303 (", f.wh_schema);
    EXPECT_CONTAINS(out.data, want);
    free(want);
    want = xasprintf("BEGIN;\nCREATE OR REPLACE VIEW %s.chat AS SELECT event_time, payload", f.wh_schema);
    EXPECT_CONTAINS(out.data, want);
    free(want);
    EXPECT_CONTAINS(out.data, "-- backend wh_b (postgres)");
    char *none = lf_q(f.wh_a, "SELECT to_regnamespace('%s')::text", f.wh_schema);
    EXPECT_EQ_STR(none, "(null)");
    free(none);

    /* day 1: three days of tables, the view over them */
    EXPECT_EQ_INT(lf_ctl(&f, &out, "rotate --date 2025-03-01"), 0);
    EXPECT_CONTAINS(out.data, "rotated: 18 table(s) created, 0 dropped, 6 view(s) replaced");
    for (int b = 0; b < 2; b++) {
        PGconn *wh = b ? f.wh_b : f.wh_a;
        expect_tables(&f, wh, "login", "login_20250301 login_20250302 login_20250303");
        expect_tables(&f, wh, "chat", "chat_20250301 chat_20250302 chat_20250303");
        expect_view(&f, wh, "login", "login_20250301 login_20250302 login_20250303");
    }
    insert_login(f.wh_a, "20250301", 1);
    insert_login(f.wh_a, "20250303", 2);
    EXPECT_EQ_INT(lf_qi(f.wh_a, "SELECT count(*) FROM @W.login"), 3);

    /* day 2: one more ahead, nothing expired yet */
    EXPECT_EQ_INT(lf_ctl(&f, &out, "rotate --date 2025-03-02"), 0);
    EXPECT_CONTAINS(out.data, "rotated: 6 table(s) created, 0 dropped");
    expect_view(&f, f.wh_a, "battle", "battle_20250301 battle_20250302 battle_20250303 battle_20250304");

    /* day 5: 03-01 and 03-02 fall out of [03-03, 03-07] and are dropped */
    EXPECT_EQ_INT(lf_ctl(&f, &out, "rotate --date 2025-03-05"), 0);
    EXPECT_CONTAINS(out.data, "rotated: 18 table(s) created, 12 dropped, 6 view(s) replaced");
    for (int b = 0; b < 2; b++) {
        PGconn *wh = b ? f.wh_b : f.wh_a;
        expect_tables(&f, wh, "login",
                      "login_20250303 login_20250304 login_20250305 login_20250306 login_20250307");
        expect_view(&f, wh, "login",
                    "login_20250303 login_20250304 login_20250305 login_20250306 login_20250307");
    }
    EXPECT_EQ_INT(lf_qi(f.wh_a, "SELECT count(*) FROM @W.login"), 2);

    /* idempotent */
    EXPECT_EQ_INT(lf_ctl(&f, &out, "rotate --date 2025-03-05"), 0);
    EXPECT_CONTAINS(out.data, "rotated: 0 table(s) created, 0 dropped, 6 view(s) replaced");

    /* one backend only; argument errors */
    EXPECT_EQ_INT(lf_ctl(&f, &out, "rotate --date 2025-03-06 --backend wh_b"), 0);
    expect_tables(&f, f.wh_a, "chat", "chat_20250303 chat_20250304 chat_20250305 chat_20250306 chat_20250307");
    expect_tables(&f, f.wh_b, "chat", "chat_20250304 chat_20250305 chat_20250306 chat_20250307 chat_20250308");
    EXPECT_EQ_INT(lf_ctl(&f, &out, "rotate --backend nope"), 1);
    EXPECT_EQ_INT(lf_ctl(&f, &out, "rotate --date 2025-02-30"), 2);
    buf_free(&out);
    lf_close(&f);
}

ITEST_T(rotate_concurrent_runs, 180)
{
    struct lf_fix f;
    struct lf_opts o = {.days_ahead = 1, .retention_days = 2};
    lf_open(&f, &o);
    struct buf out;
    buf_init(&out, 1 << 20);
    EXPECT_EQ_INT(lf_ctl(&f, &out, "rotate --date 2025-06-01"), 0);

    /* the test holds the app's rotation lock: a run waits, then does the work */
    char lock[256];
    wh_lock_name(lock, sizeof lock, &f.cfg, "rotate", NULL, NULL);
    struct err e = {0};
    ASSERT_OK(pg_advisory_lock(f.coord, lock, &e), e);
    char *cmd = xasprintf("%s/logfleetctl -c %s rotate --date 2025-06-10", t_env("LOGFLEET_BIN"),
                          f.conf_path);
    fflush(NULL);
    FILE *a = popen(cmd, "r"), *b = popen(cmd, "r");
    ASSERT_TRUE(a && b);
    lf_sleep_ms(1500);
    expect_tables(&f, f.wh_a, "login", "login_20250601 login_20250602");
    ASSERT_OK(pg_advisory_unlock(f.coord, lock, &e), e);
    char ba[4096] = "", bb[4096] = "";
    size_t na = fread(ba, 1, sizeof ba - 1, a), nb = fread(bb, 1, sizeof bb - 1, b);
    ba[na] = bb[nb] = 0;
    EXPECT_EQ_INT(pclose(a), 0);
    EXPECT_EQ_INT(pclose(b), 0);
    EXPECT_CONTAINS(ba, "(after waiting for another run)");
    EXPECT_CONTAINS(bb, "(after waiting for another run)");
    /* one of them did the work, the other found it done */
    EXPECT_TRUE((strstr(ba, "rotated: 12 table(s) created, 12 dropped") &&
                 strstr(bb, "rotated: 0 table(s) created, 0 dropped")) ||
                (strstr(bb, "rotated: 12 table(s) created, 12 dropped") &&
                 strstr(ba, "rotated: 0 table(s) created, 0 dropped")));
    expect_tables(&f, f.wh_a, "login", "login_20250610 login_20250611");
    expect_view(&f, f.wh_b, "login", "login_20250610 login_20250611");
    free(cmd);
    buf_free(&out);
    lf_close(&f);
}
