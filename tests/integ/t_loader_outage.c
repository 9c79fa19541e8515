/* t_loader_outage.c — one backend down does not slow the other.
 *
 * Objects flow at a steady rate into the ledger; the manifest builder and
 * both backends' loaders run as in logfleetd.  Then warehouse B (its own
 * PostgreSQL instance) is stopped for LOGFLEET_T_OUTAGE_S seconds (default
 * 15; the field's 3-minute outage is LOGFLEET_T_OUTAGE_S=180):
 *   - A keeps loading at its usual rate (rows/s during >= 50% of before) and
 *     its backlog stays small;
 *   - B's loads queue up (pending, attempts counted), its breaker opens and
 *     it loads nothing;
 * after B starts again its backlog drains, and both warehouses end exact.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "common/mem.h"
#include "sinks/loader.h"
#include "sinks/manifest.h"
#include "tests/integ/t_loader_fix.h"
#include "tests/t.h"

#define PRODUCE_EVERY_MS 100
#define RECORDS_PER_OBJECT 40

struct flow {
    struct lf_fix *f;
    _Atomic int run;
    int n;
};

static void *produce(void *arg)
{
    struct flow *fl = arg;
    while (fl->run) {
        int64_t t0 = lf_now_ms();
        int i = fl->n++;
        lf_put_object(fl->f, i % LF_TYPES, (i / LF_TYPES) % LF_DAYS, i % 2 ? "s-1" : "s-0",
                      RECORDS_PER_OBJECT, 900 + (uint64_t)i);
        int64_t left = PRODUCE_EVERY_MS - (lf_now_ms() - t0);
        if (left > 0) lf_sleep_ms(left);
    }
    return NULL;
}

static long long rows_done(struct lf_fix *f, const char *backend)
{
    return lf_qi(f->coord, "SELECT coalesce(sum(l.rows_loaded), 0) FROM @C.loads l"
                           " JOIN @C.manifests m USING (manifest_id) WHERE m.app = '%s'"
                           " AND l.backend = '%s' AND l.state = 'done'", f->app, backend);
}

static int svc(const char *verb)
{
    char *cmd = xasprintf("%s/tests/stack/svc %s %s pg_b >/dev/null", t_env("LOGFLEET_ROOT"),
                          t_env("STACK_DIR"), verb);
    int rc = system(cmd);
    free(cmd);
    return rc;
}

/* Samples for `secs`: A's row rate over the window, B's breaker and counts. */
struct sample {
    double a_rate;
    bool b_open_seen;
    long long b_done_start, b_done_end;
};

static void observe(struct lf_fix *f, struct loader *l, int secs, struct sample *s)
{
    memset(s, 0, sizeof *s);
    long long a0 = rows_done(f, "wh_a");
    s->b_done_start = lf_loads(f, "wh_b", "done");
    int64_t t0 = lf_now_ms(), end = t0 + secs * 1000;
    while (lf_now_ms() < end) {
        struct loader_stats st;
        if (loader_stats(l, "wh_b", &st) == 0 && st.breaker != LOADER_BREAKER_CLOSED)
            s->b_open_seen = true;
        lf_sleep_ms(200);
    }
    s->a_rate = (double)(rows_done(f, "wh_a") - a0) * 1000.0 / (double)(lf_now_ms() - t0);
    s->b_done_end = lf_loads(f, "wh_b", "done");
}

ITEST_T(loader_outage_isolation, 900)
{
    int outage_s = (int)lf_env_long("LOGFLEET_T_OUTAGE_S", 15);
    struct lf_fix f;
    /* the retry window outlasts the outage: B's loads wait, none fails */
    struct lf_opts o = {.max_objects = 4, .interval_ms = 250, .retry_base_ms = 100,
                        .retry_cap_ms = 1000, .breaker_failures = 3, .breaker_open_ms = 1500,
                        .retry_window_s = 60 + 2 * outage_s};
    lf_open(&f, &o);
    struct err e = {0};
    struct manifest_builder *mb;
    struct loader *l;
    ASSERT_OK(manifest_builder_start(&f.cfg, &mb, &e), e);
    ASSERT_OK(loader_start(&f.cfg, &l, &e), e);
    struct flow fl = {.f = &f, .run = 1};
    pthread_t prod;
    pthread_create(&prod, NULL, produce, &fl);

    lf_sleep_ms(2000); /* warm up */
    struct sample before, during;
    observe(&f, l, 5, &before);
    ASSERT_TRUE(svc("stop") == 0);
    int64_t stopped = lf_now_ms();
    lf_sleep_ms(2000); /* in-flight B loads fail, its breaker opens */
    observe(&f, l, outage_s > 4 ? outage_s - 2 : 2, &during);
    long long a_backlog = lf_loads(&f, "wh_a", "pending") + lf_loads(&f, "wh_a", "running");
    long long b_backlog = lf_loads(&f, "wh_b", "pending") + lf_loads(&f, "wh_b", "running");
    long long b_attempted = lf_qi(f.coord, "SELECT count(*) FROM @C.loads WHERE backend = 'wh_b'"
                                           " AND state = 'pending' AND attempts > 0");
    struct loader_stats sb;
    EXPECT_EQ_INT(loader_stats(l, "wh_b", &sb), 0);
    ASSERT_TRUE(svc("start") == 0);
    int64_t outage_ms = lf_now_ms() - stopped;
    fl.run = 0;
    pthread_join(prod, NULL);

    fprintf(stderr, "  outage %lld ms; wh_a rows/s before %.0f, during %.0f; backlog during:"
                    " wh_a %lld, wh_b %lld (%lld retried); wh_b breaker opened %llu times\n",
            (long long)outage_ms, before.a_rate, during.a_rate, a_backlog, b_backlog, b_attempted,
            (unsigned long long)sb.breaker_opens);
    EXPECT_TRUE(before.a_rate > 0);
    EXPECT_GE_INT((long long)(during.a_rate * 100), (long long)(before.a_rate * 50));
    EXPECT_LE_INT(a_backlog, 12);                      /* A kept up with the flow */
    EXPECT_TRUE(during.b_open_seen);
    EXPECT_GE_INT((long long)sb.breaker_opens, 1);
    EXPECT_EQ_INT(during.b_done_end, during.b_done_start); /* B loaded nothing */
    EXPECT_GE_INT(b_backlog, 5);
    EXPECT_GE_INT(b_attempted, 1);
    EXPECT_EQ_INT(lf_loads(&f, NULL, "failed"), 0);

    /* B is back: its backlog drains; everything ends exact in both */
    struct manifest_result mr = {0};
    lf_sleep_ms(500);
    manifest_builder_stop(mb);
    ASSERT_OK(manifest_build_once(&f.cfg, &mr, &e), e);
    int64_t t0 = lf_now_ms();
    bool all = lf_wait_all_done(&f, 120000 + (int64_t)outage_s * 1000);
    fprintf(stderr, "  wh_b backlog drained in %lld ms\n", (long long)(lf_now_ms() - t0));
    EXPECT_EQ_INT(loader_stats(l, "wh_b", &sb), 0);
    loader_stop(l);
    EXPECT_TRUE(all);
    EXPECT_EQ_INT(sb.breaker, LOADER_BREAKER_CLOSED);
    EXPECT_EQ_INT(lf_qi(f.coord, "SELECT count(*) FROM @C.objects WHERE manifest_id IS NULL"), 0);
    PQreset(f.wh_b);
    lf_check_warehouse(&f, f.wh_a, "wh_a", true);
    lf_check_warehouse(&f, f.wh_b, "wh_b", true);
    lf_close(&f);
}
