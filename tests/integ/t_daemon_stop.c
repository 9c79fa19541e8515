/* t_daemon_stop.c — logfleetd's graceful exits: SIGTERM (shutdownRequested
 * and its checkpoint reach every child, then leaseLost; leases released;
 * exit 0 within the grace), the grace running out (children killed, exit
 * 1, leases still released), and `drain` (the worker hands its leases off
 * and keeps running with none). */
#include "tests/integ/t_daemon_fix.h"
#include "tests/integ/t_lease_fix.h"
#include "tests/t.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "lease/registry.h"

/* Distinct shards of the records put, and each one's last record. */
static int shards_put(const struct df *f, const struct df_put *last[8])
{
    int n = 0;
    for (size_t i = 0; i < f->nput; i++) {
        int k = 0;
        while (k < n && strcmp(last[k]->shard, f->put[i].shard)) k++;
        if (k == n && n == 8) continue;
        last[k] = &f->put[i];
        n += k == n;
    }
    return n;
}

ITEST_T(daemon_sigterm_checkpoints_releases_and_exits_zero, 60)
{
    struct df f;
    df_open(&f, "term", 2);
    df_put_records(&f, 100, 8);
    /* checkpoints only at shutdownRequested: what lands is that checkpoint */
    const char *env[] = {"KCL_BATCH_CHECKPOINT=0", NULL};
    const char *props = df_props(&f, "app.properties", df_python_app(), "shutdownGraceMillis = 10000\n");
    int w = df_start(&f, "w1", props, env, NULL);
    ASSERT_TRUE(df_wait_all(&f, 20000));
    const struct df_put *last[8];
    int ns = shards_put(&f, last);
    ASSERT_TRUE(ns == 2);
    for (int s = 0; s < ns; s++) {
        char *cp = df_checkpoint(&f, last[s]->shard);
        EXPECT_EQ_STR(cp, "TRIM_HORIZON");
        free(cp);
    }

    int64_t t0 = df_now_ms();
    df_signal(&f, w, SIGTERM);
    EXPECT_EQ_INT(df_wait_exit(&f, w, 12000), 0);
    int64_t took = df_now_ms() - t0;
    fprintf(stderr, "  exited %lld ms after SIGTERM\n", (long long)took);
    EXPECT_LE_INT(took, 10000);

    struct df_out o;
    df_read(&f, &o);
    for (int s = 0; s < ns; s++) {
        char shut[200], lost[200];
        snprintf(shut, sizeof shut, "E shutdownRequested %s ok\n", last[s]->shard);
        snprintf(lost, sizeof lost, "E leaseLost %s\n", last[s]->shard);
        const char *a = strstr(o.text, shut), *b = strstr(o.text, lost);
        EXPECT_TRUE(a != NULL && b != NULL && a < b);
        char *cp = df_checkpoint(&f, last[s]->shard);
        EXPECT_EQ_STR(cp, last[s]->seq);
        free(cp);
    }
    df_out_free(&o);
    EXPECT_EQ_INT(df_owned(&f, NULL), 2);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.workers WHERE app = '%s'", f.app), 0);
    df_close(&f);
}

ITEST_T(daemon_sigterm_grace_over_kills_hung_child_and_exits_nonzero, 60)
{
    struct df f;
    df_open(&f, "grace", 1);
    df_put_records(&f, 20, 4);
    struct kin_shard_list l;
    struct err e;
    err_clear(&e);
    ASSERT_OK(kin_list_shards(f.k, f.stream, 0, &l, &e), e);
    char *bad = xasprintf("KCL_BAD=%s:hang:shutdown", l.v[0].id);
    char *dir = xasprintf("KCL_BAD_DIR=%s", f.dir);
    const char *env[] = {bad, dir, NULL};
    const char *props = df_props(&f, "app.properties", df_python_app(), "shutdownGraceMillis = 1500\n");
    int w = df_start(&f, "w1", props, env, NULL);
    ASSERT_TRUE(df_wait_all(&f, 20000));

    int64_t t0 = df_now_ms();
    df_signal(&f, w, SIGTERM);
    EXPECT_EQ_INT(df_wait_exit(&f, w, 15000), 1);
    int64_t took = df_now_ms() - t0;
    fprintf(stderr, "  exited %lld ms after SIGTERM\n", (long long)took);
    EXPECT_GE_INT(took, 1500);
    EXPECT_LE_INT(took, 1500 + 2000 + 2500); /* grace + the child's SIGTERM-to-SIGKILL + slack */

    struct df_out o;
    df_read(&f, &o);
    char hang[200];
    snprintf(hang, sizeof hang, "E hanging %s ", l.v[0].id);
    const char *h = strstr(o.text, hang);
    ASSERT_TRUE(h != NULL);
    int pid = (int)strtol(h + strlen(hang), NULL, 10);
    EXPECT_TRUE(pid > 0 && kill(pid, 0) < 0 && errno == ESRCH); /* killed and reaped */
    df_out_free(&o);
    EXPECT_EQ_INT(df_owned(&f, NULL), 1); /* released all the same */
    kin_shard_list_free(&l);
    free(bad);
    free(dir);
    df_close(&f);
}

ITEST_T(daemon_drain_hands_leases_off_and_keeps_running, 60)
{
    struct df f;
    df_open(&f, "drain", 4);
    const char *props = df_props(&f, "app.properties", df_python_app(), NULL);
    int w1 = df_start(&f, "w1", props, NULL, NULL);
    df_start(&f, "w2", props, NULL, NULL);
    int64_t end = df_now_ms() + 30000;
    /* settled: 2/2 AND every balancing handoff complete, so that each move's
     * shutdownRequested is already in the output before we count them */
    while ((df_owned(&f, "w1") != 2 || df_owned(&f, "w2") != 2 || df_handoffs_pending(&f)) &&
           df_now_ms() < end)
        df_sleep_ms(200);
    ASSERT_TRUE(df_owned(&f, "w1") == 2 && df_owned(&f, "w2") == 2 && !df_handoffs_pending(&f));
    df_put_records(&f, 100, 8);
    ASSERT_TRUE(df_wait_all(&f, 20000));

    struct df_out o;
    df_read(&f, &o);
    int handoffs = df_lines(&o, "E shutdownRequested "); /* balancing moves so far */
    df_out_free(&o);
    struct err e;
    err_clear(&e);
    ASSERT_OK(lease_worker_set_draining(t_env("COORD_DSN"), f.schema, f.app, "w1", true, &e), e);
    end = df_now_ms() + 20000;
    while ((df_owned(&f, "w1") != 0 || df_owned(&f, "w2") != 4) && df_now_ms() < end) {
        df_put_records(&f, 4, 8);
        df_sleep_ms(200);
    }
    EXPECT_EQ_INT(df_owned(&f, "w1"), 0);
    EXPECT_EQ_INT(df_owned(&f, "w2"), 4);
    df_put_records(&f, 100, 8);
    ASSERT_TRUE(df_wait_all(&f, 20000));
    EXPECT_EQ_INT(df_wait_exit(&f, w1, 0), -1); /* still running, with no lease */
    EXPECT_EQ_INT(df_owned(&f, "w1"), 0);
    char *body;
    EXPECT_EQ_INT(df_http_get(&f, w1, "/readyz", &body), 503);
    EXPECT_CONTAINS(body, "draining");
    free(body);

    df_read(&f, &o);
    for (size_t i = 0; i < f.nput; i++) EXPECT_EQ_INT(df_count(&o, &f.put[i]), 1);
    EXPECT_EQ_INT(df_lines(&o, "E shutdownRequested ") - handoffs, 2); /* w1's two, handed off */
    df_out_free(&o);
    df_close(&f);
}
