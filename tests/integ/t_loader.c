/* t_loader.c — loaders end to end on the postgres dialect, live: objects ->
 * manifests -> both warehouses (separate PostgreSQL instances), exact per
 * (type, day), no duplicate lineage, views over the day tables; crashed
 * loaders' loads are requeued; retries end in 'failed' with an error
 * manifest, and `logfleetctl loads retry` brings them back. */
#include <jansson.h>
#include <pthread.h>

#include "common/mem.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "sinks/loader.h"
#include "sinks/manifest.h"
#include "tests/integ/t_loader_fix.h"
#include "tests/t.h"

ITEST_T(loader_pg_end_to_end, 300)
{
    struct lf_fix f;
    struct lf_opts o = {.max_objects = 6, .b_types = "\"login\", \"chat\""};
    lf_open(&f, &o);
    long records = lf_env_long("LOGFLEET_T_RECORDS", 20000);
    int per_object = 250, objects = (int)(records / per_object);
    int64_t t0 = lf_now_ms();
    for (int i = 0; i < objects; i++)
        lf_put_object(&f, i % LF_TYPES, (i / LF_TYPES) % LF_DAYS, i % 2 ? "shardId-1" : "shardId-0",
                      per_object, 7000 + (uint64_t)i);
    int64_t t1 = lf_now_ms();
    struct manifest_result mr = {0};
    struct err e = {0};
    ASSERT_OK(manifest_build_once(&f.cfg, &mr, &e), e);
    EXPECT_EQ_INT(mr.objects, objects);
    struct loader *l;
    ASSERT_OK(loader_start(&f.cfg, &l, &e), e);
    bool all = lf_wait_all_done(&f, 180000);
    int64_t t2 = lf_now_ms();
    struct loader_stats sa, sb;
    EXPECT_EQ_INT(loader_stats(l, "wh_a", &sa), 0);
    EXPECT_EQ_INT(loader_stats(l, "wh_b", &sb), 0);
    loader_stop(l);
    EXPECT_TRUE(all);
    fprintf(stderr, "  %ld records, %d objects, %d manifests: produced in %lld ms, loaded both"
                    " backends in %lld ms (wh_a %llu rows, wh_b %llu rows)\n",
            records, objects, mr.manifests, (long long)(t1 - t0), (long long)(t2 - t1),
            (unsigned long long)sa.rows, (unsigned long long)sb.rows);
    lf_check_warehouse(&f, f.wh_a, "wh_a", true);
    lf_check_warehouse(&f, f.wh_b, "wh_b", false);
    EXPECT_EQ_INT(sa.rows + sb.rows, lf_qi(f.coord, "SELECT sum(rows_loaded) FROM @C.loads"));
    EXPECT_EQ_INT(sa.done, lf_loads(&f, "wh_a", "done"));
    /* the warehouse ledgers hold one row per manifest */
    EXPECT_EQ_INT(lf_qi(f.wh_a, "SELECT count(*) FROM @W.logfleet_loads"), lf_loads(&f, "wh_a", NULL));
    EXPECT_EQ_INT(lf_qi(f.wh_b, "SELECT count(*) FROM @W.logfleet_loads"), lf_loads(&f, "wh_b", NULL));
    /* columns mapped from the JSON, not just counted */
    EXPECT_EQ_INT(lf_qi(f.wh_a, "SELECT count(*) FROM @W.login WHERE ts IS NULL OR player_id !~ '^[0-9a-f]{32}$'"
                                " OR level IS NULL OR platform IS NULL"), 0);
    EXPECT_EQ_INT(lf_qi(f.wh_a, "SELECT max(length(server)) FROM @W.battle"), 8);
    EXPECT_EQ_INT(lf_qi(f.wh_b, "SELECT count(*) FROM @W.chat WHERE payload->>'type' IS NULL"
                                " OR event_time IS NULL OR payload->>'_seq' <> _seq"), 0);
    /* what /metrics shows */
    struct buf m;
    buf_init(&m, 1 << 22);
    metrics_render(&m);
    char *line = xasprintf("logfleet_load_rows_total{backend=\"wh_b\"} %llu", (unsigned long long)sb.rows);
    EXPECT_CONTAINS(m.data, line);
    EXPECT_CONTAINS(m.data, "logfleet_loads_total{backend=\"wh_a\",result=\"done\"}");
    EXPECT_CONTAINS(m.data, "logfleet_breaker_state{backend=\"wh_a\"} 0");
    free(line);
    buf_free(&m);
    lf_close(&f);
}

/* A loader that died mid-load leaves its load 'running' with nobody holding
 * its lock: an idle loader thread requeues it and it loads once. */
ITEST_T(loader_requeues_stale_running, 120)
{
    struct lf_fix f;
    struct lf_opts o = {.only_backend = "wh_a"};
    lf_open(&f, &o);
    lf_put_object(&f, 0, 1, "shard-0", 50, 1);
    struct manifest_result mr = {0};
    struct err e = {0};
    ASSERT_OK(manifest_build_once(&f.cfg, &mr, &e), e);
    free(lf_q(f.coord, "UPDATE @C.loads SET state = 'running', attempts = 1,"
                       " first_attempt_at = now(), updated_at = now() - interval '1 minute'"));
    struct loader *l;
    ASSERT_OK(loader_start(&f.cfg, &l, &e), e);
    bool all = lf_wait_all_done(&f, 30000);
    loader_stop(l);
    EXPECT_TRUE(all);
    EXPECT_EQ_INT(lf_qi(f.coord, "SELECT attempts FROM @C.loads"), 2);
    char ymd[9];
    wh_day_ymd(f.days[1], ymd);
    EXPECT_EQ_INT(lf_qi(f.wh_a, "SELECT count(*) FROM @W.login_%s", ymd), 50);
    lf_close(&f);
}

/* Retries run out: 'failed', an error manifest under errors/, listed by
 * `loads --failed`; the missing object appears, `loads retry` requeues, it loads. */
ITEST_T(loader_failed_then_retry, 120)
{
    struct lf_fix f;
    struct lf_opts o = {.only_backend = "wh_a", .retry_window_s = 2, .retry_base_ms = 100,
                        .retry_cap_ms = 300};
    lf_open(&f, &o);
    char key[512];
    lf_ledger_only(&f, 0, 1, "shard-0", 30, key, sizeof key);
    lf_put_object(&f, 0, 1, "shard-1", 40, 5);
    struct manifest_result mr = {0};
    struct err e = {0};
    ASSERT_OK(manifest_build_once(&f.cfg, &mr, &e), e);
    ASSERT_TRUE(mr.manifests == 1);
    int64_t t0 = lf_now_ms();
    struct loader_run_result rr = {0};
    int runs = 0;
    while (lf_loads(&f, NULL, "failed") == 0 && lf_now_ms() - t0 < 20000) {
        ASSERT_OK(loader_run_once(&f.cfg, "wh_a", 0, &rr, &e), e);
        runs++;
        lf_sleep_ms(100);
    }
    EXPECT_EQ_INT(lf_loads(&f, NULL, "failed"), 1);
    EXPECT_GE_INT(lf_now_ms() - t0, 2000);           /* the window, not the first error */
    long long attempts = lf_qi(f.coord, "SELECT attempts FROM @C.loads");
    EXPECT_GE_INT(attempts, 3);
    EXPECT_LE_INT(attempts, 25);                       /* backed off, not hammering */
    char *last = lf_q(f.coord, "SELECT last_error FROM @C.loads");
    EXPECT_CONTAINS(last, "NoSuchKey");
    free(last);
    /* the error manifest: the same entries, plus the error */
    char ekey[512];
    manifest_key(ekey, sizeof ekey, &f.cfg, "errors/", "login", f.days[1],
                 lf_qi(f.coord, "SELECT manifest_id FROM @C.manifests"), ".wh_a");
    struct buf body;
    buf_init(&body, 1 << 20);
    ASSERT_OK(s3_get(f.s3.s3, ekey, &body, &e), e);
    json_error_t je;
    json_t *doc = json_loadb(body.data, body.len, 0, &je);
    EXPECT_EQ_INT(json_array_size(json_object_get(doc, "entries")), 2);
    EXPECT_CONTAINS(json_string_value(json_object_get(json_object_get(doc, "error"), "message")),
                    "NoSuchKey");
    EXPECT_EQ_STR(json_string_value(json_object_get(json_object_get(doc, "error"), "backend")),
                  "wh_a");
    json_decref(doc);
    /* logfleetctl loads --failed --json lists it; retry needs an id or --all */
    EXPECT_EQ_INT(lf_ctl(&f, &body, "loads --failed --json"), 0);
    doc = json_loadb(body.data, body.len, 0, &je);
    EXPECT_EQ_INT(json_array_size(doc), 1);
    EXPECT_EQ_STR(json_string_value(json_object_get(json_array_get(doc, 0), "state")), "failed");
    json_decref(doc);
    EXPECT_EQ_INT(lf_ctl(&f, &body, "loads retry"), 2);
    EXPECT_EQ_INT(lf_ctl(&f, &body, "loads retry 999999"), 1);
    /* fix the cause, requeue, load */
    lf_upload(&f, key, 1, "shard-0", 30, 9);
    EXPECT_EQ_INT(lf_ctl(&f, &body, "loads retry %lld",
                         lf_qi(f.coord, "SELECT manifest_id FROM @C.manifests")), 0);
    EXPECT_CONTAINS(body.data, "requeued 1 load");
    EXPECT_EQ_INT(lf_qi(f.coord, "SELECT attempts FROM @C.loads WHERE state = 'pending'"), 0);
    ASSERT_OK(loader_run_once(&f.cfg, "wh_a", 0, &rr, &e), e);
    EXPECT_EQ_INT(lf_loads(&f, NULL, "done"), 1);
    char ymd[9];
    wh_day_ymd(f.days[1], ymd);
    EXPECT_EQ_INT(lf_qi(f.wh_a, "SELECT count(*) FROM @W.login_%s", ymd), 70);
    EXPECT_EQ_INT(lf_ctl(&f, &body, "loads"), 0);
    EXPECT_CONTAINS(body.data, "done");
    EXPECT_EQ_INT(lf_ctl(&f, &body, "loads retry --all"), 0);
    EXPECT_CONTAINS(body.data, "requeued 0 loads");
    buf_free(&body);
    lf_close(&f);
}

/* At most one loader per (backend, table): while another holds the table's
 * lock, its loads wait and other tables' loads go ahead. */
ITEST_T(loader_table_lock_respected, 120)
{
    struct lf_fix f;
    struct lf_opts o = {.only_backend = "wh_a"};
    lf_open(&f, &o);
    lf_put_object(&f, 0, 1, "shard-0", 20, 1);
    lf_put_object(&f, 1, 1, "shard-0", 30, 2);
    struct manifest_result mr = {0};
    struct err e = {0};
    ASSERT_OK(manifest_build_once(&f.cfg, &mr, &e), e);
    char ymd[9], table[64], lock[512];
    wh_day_ymd(f.days[1], ymd);
    snprintf(table, sizeof table, "login_%s", ymd);
    wh_lock_name(lock, sizeof lock, &f.cfg, "table/wh_a", table, NULL);
    ASSERT_OK(pg_advisory_lock(f.coord, lock, &e), e);
    struct loader_run_result r = {0};
    ASSERT_OK(loader_run_once(&f.cfg, "wh_a", 0, &r, &e), e);
    EXPECT_EQ_INT(r.attempted, 1);
    EXPECT_EQ_INT(r.done, 1);
    EXPECT_EQ_INT(lf_qi(f.coord, "SELECT count(*) FROM @C.loads JOIN @C.manifests USING (manifest_id)"
                                 " WHERE log_type = 'login' AND state = 'pending' AND attempts = 0"), 1);
    ASSERT_OK(pg_advisory_unlock(f.coord, lock, &e), e);
    ASSERT_OK(loader_run_once(&f.cfg, "wh_a", 0, &r, &e), e);
    EXPECT_EQ_INT(lf_loads(&f, NULL, "done"), 2);
    EXPECT_EQ_INT(lf_qi(f.wh_a, "SELECT count(*) FROM @W.%s", table), 20);
    lf_close(&f);
}
