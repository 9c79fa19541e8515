/* t_router.c — the router processor against the local stack: exactly once
 * across two shards and thirty types, the lease fence, a restart that skips
 * what is already ledgered, and the bad-input corpus. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/s3.h"
#include "worker/loggen.h"
#include "worker/router.h"
#include "tests/integ/t_router_fix.h"
#include "tests/t.h"

static size_t env_size(const char *name, size_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : def;
}

/* Threads of this process whose name (/proc/self/task/<tid>/comm) is name. */
static int threads_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d)) != NULL;) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = 0;
        fclose(f);
        n += strcmp(comm, name) == 0;
    }
    if (d) closedir(d);
    return n;
}

ITEST_T(router_exactly_once_two_shards, 600)
{
    log_set_level(LOG_ERROR);
    size_t total = env_size("ROUTER_TEST_RECORDS", 20000);
    const char *shards[] = {"shardId-000000000000", "shardId-000000000001"};
    struct rt_env env;
    rt_setup(&env, NULL, shards, 2);
    struct rt_feed f0, f1, *feeds[] = {&f0, &f1};
    rt_feed_make(&f0, shards[0], total / 2, 11, 101);
    rt_feed_make(&f1, shards[1], total - total / 2, 12, 89);
    uint64_t want_type[LOGGEN_NTYPES] = {0}, want_reason[ROUTER_REASON_COUNT] = {0};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < feeds[k]->n; i++) {
            const struct rt_expect *w = &feeds[k]->recs[i].want;
            if (w->type >= 0) want_type[w->type]++;
            else want_reason[w->reason]++;
        }

    struct router *r;
    struct err e = {0};
    int64_t t0 = rt_now_ms();
    ASSERT_OK(router_new(&env.cfg, RT_WORKER, &r, &e), e);
    /* the upload pool's threads carry their name (top -H, perf --sort comm) */
    EXPECT_EQ_INT(threads_named("lf-upload"), env.cfg.router.upload_threads);
    struct rt_run runs[2];
    rt_run_shards(&env, r, feeds, 2, runs, 500, 0);
    struct router_stats st;
    router_stats(r, &st);
    router_free(r);
    int64_t ms = rt_now_ms() - t0;
    fprintf(stderr, "  %zu records, %" PRIu64 " objects, %.1f MB in, %.1f MB out, %lld ms\n",
            total, st.objects_ledgered, st.bytes_in / 1e6, st.bytes_out / 1e6, (long long)ms);

    for (int k = 0; k < 2; k++) {
        EXPECT_EQ_INT(runs[k].rc, 0);
        EXPECT_EQ_INT(runs[k].ck.bad, 0);
        /* the final checkpoint is the last record: nothing left to re-read */
        const struct rt_rec *last = &feeds[k]->recs[feeds[k]->n - 1];
        char seq[128];
        int64_t sub;
        rt_lease_checkpoint(&env, shards[k], seq, &sub);
        EXPECT_EQ_STR(seq, last->seq);
        EXPECT_EQ_INT(sub, last->sub);
    }
    EXPECT_EQ_INT(st.records_in, total);
    EXPECT_EQ_INT(st.records_routed + st.records_dead, total);
    EXPECT_EQ_INT(st.objects_dropped, 0);
    EXPECT_EQ_INT(st.mem_used, 0);
    for (int i = 1; i < ROUTER_REASON_COUNT; i++) EXPECT_EQ_INT(st.dead_by_reason[i], want_reason[i]);

    struct rt_read rd;
    rt_read_ledgered(&env, &rd);
    EXPECT_EQ_INT(rt_check_exactly_once(&rd, feeds, 2), 0);
    EXPECT_EQ_INT(rd.bad_lines, 0);
    EXPECT_EQ_INT(rd.count_mismatch, 0);
    EXPECT_EQ_INT(rd.lineage_mismatch, 0);
    uint64_t got_type[LOGGEN_NTYPES] = {0};
    for (size_t i = 0; i < rd.n; i++)
        if (rd.v[i].type >= 0) got_type[rd.v[i].type]++;
    for (int i = 0; i < LOGGEN_NTYPES; i++) EXPECT_EQ_INT(got_type[i], want_type[i]);
    /* no crash, so no orphans: S3 holds exactly the ledgered objects */
    EXPECT_EQ_INT(rt_count_objects(&env), rd.objects);
    EXPECT_EQ_INT(rt_qi(&env, "SELECT count(*) FROM @.objects"), rd.objects);
    EXPECT_GE_INT(rd.objects, 60);
    rt_read_free(&rd);

    /* the ledger: one (type, day) per object, in its key; dead letters counted by reason */
    EXPECT_EQ_INT(rt_qi(&env, "SELECT count(*) FROM @.objects WHERE position("
                              "to_char(day, 'YYYY/MM/DD') IN key) = 0"), 0);
    EXPECT_EQ_INT(rt_qi(&env, "SELECT count(*) FROM @.objects WHERE NOT dead AND position("
                              "'/' || log_type || '/' IN key) = 0"), 0);
    EXPECT_GE_INT(rt_qi(&env, "SELECT count(DISTINCT day) FROM @.objects WHERE NOT dead"), 2);
    EXPECT_EQ_INT(rt_qi(&env, "SELECT count(DISTINCT log_type) FROM @.objects WHERE NOT dead"),
                  LOGGEN_NTYPES);
    EXPECT_EQ_INT(rt_qi(&env, "SELECT sum(records) FROM @.objects"), total);
    for (int i = 1; i < ROUTER_REASON_COUNT; i++)
        EXPECT_EQ_INT(rt_qi(&env, "SELECT coalesce(sum(records), 0) FROM @.dead_letters"
                                  " WHERE app = '%s' AND reason = '%s'",
                            env.app, router_reason_name(i)),
                      want_reason[i]);
    rt_feed_free(&f0);
    rt_feed_free(&f1);
    rt_teardown(&env);
}

/* ---- If-None-Match: a re-upload finds its own objects; a foreign one is stepped around ---- */

#define NOON INT64_C(1795435200000) /* 2026-11-23T12:00:00Z */

struct s3c {
    struct aws_creds_provider *cp;
    struct s3 *s3;
};

static void s3c_open(struct s3c *c)
{
    struct err e = {0};
    struct aws_creds_opts co = {.access_key = t_env("AWS_ACCESS_KEY_ID"),
                                .secret_key = t_env("AWS_SECRET_ACCESS_KEY"), .imds_disabled = 1};
    ASSERT_OK(aws_creds_provider_new(&co, &c->cp, &e), e);
    struct aws_client_opts o = {.service = "s3", .region = t_env("AWS_REGION"),
                                .endpoint = t_env("S3_ENDPOINT"), .creds = c->cp};
    ASSERT_OK(s3_new(&o, t_env("BUCKET"), &c->s3, &e), e);
}

static void s3c_close(struct s3c *c)
{
    s3_free(c->s3);
    aws_creds_provider_free(c->cp);
}

/* 2000 game records and 40 chat records of 200 KB of random base64, which
 * end up in one chat object of ~6 MB compressed: a multipart upload. */
static void big_feed(struct rt_feed *f, const char *shard)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    rt_feed_begin(f, shard);
    struct loggen *g = loggen_new(5);
    struct buf rec;
    buf_init(&rec, 1 << 20);
    uint64_t rng = 77;
    char ts[25];
    for (int i = 0; i < 2040; i++) {
        buf_reset(&rec);
        int64_t arrival = NOON + i;
        struct rt_expect w;
        if (i % 51 == 50) {
            loggen_iso8601(arrival - 1000, ts);
            buf_printf(&rec, "{\"ts\":\"%s\",\"type\":\"chat\",\"event_id\":\"big-%d\","
                             "\"player_id\":\"p\",\"chat\":\"", ts, i);
            for (int k = 0; k < 200000; k++) buf_append(&rec, &b64[rt_rand(&rng) & 63], 1);
            buf_puts(&rec, "\"}");
            w = (struct rt_expect){5, 0}; /* loggen type 5 is "chat" */
        } else {
            w = (struct rt_expect){loggen_record(g, arrival - 1000, &rec), 0};
        }
        rt_feed_add(f, rec.data, rec.len, arrival, w);
    }
    loggen_free(g);
    buf_free(&rec);
}

static void forget_ledger(struct rt_env *env, const char *shard)
{
    free(rt_q(env, "DELETE FROM @.objects"));
    free(rt_q(env, "DELETE FROM @.dead_letters"));
    free(rt_q(env, "UPDATE @.leases SET checkpoint = 'TRIM_HORIZON', checkpoint_sub = 0"
                   " WHERE lease_key = '%s'", shard));
}

static void run_once(struct rt_env *env, struct rt_feed *f, struct router_stats *st)
{
    struct router *r;
    struct err e = {0};
    ASSERT_OK(router_new(&env->cfg, RT_WORKER, &r, &e), e);
    struct rt_feed *feeds[] = {f};
    struct rt_run run;
    rt_run_shards(env, r, feeds, 1, &run, 100, 0);
    router_stats(r, st);
    router_free(r);
    EXPECT_EQ_INT(run.rc, 0);
    struct rt_read rd;
    rt_read_ledgered(env, &rd);
    EXPECT_EQ_INT(rt_check_exactly_once(&rd, feeds, 1), 0);
    EXPECT_EQ_INT(rd.count_mismatch, 0);
    rt_read_free(&rd);
}

/* One shard whose big_feed goes out as one object per type (no age or
 * size flush), the chat object by multipart (parts of 5 MiB). */
static void big_setup(struct rt_env *env, struct rt_feed *f, const char *shard)
{
    log_set_level(LOG_ERROR);
    struct rt_opts o = {.buffer_bytes = 16 << 20, .buffer_age_ms = 3600000,
                        .memory_limit = 128 << 20, .multipart_bytes = 5 << 20};
    rt_setup(env, &o, &shard, 1);
    big_feed(f, shard);
}

ITEST_T(router_if_none_match_reupload_and_multipart, 300)
{
    const char *shard = "shardId-000000000020";
    struct rt_env env;
    struct rt_feed f;
    big_setup(&env, &f, shard);

    /* 1: everything lands; the chat object went by multipart */
    struct router_stats st;
    run_once(&env, &f, &st);
    long long objects = rt_qi(&env, "SELECT count(*) FROM @.objects");
    EXPECT_GE_INT(objects, 20);
    EXPECT_EQ_INT(st.keys_existed, 0);
    char *chat = rt_q(&env, "SELECT key FROM @.objects WHERE log_type = 'chat'");
    struct s3c c;
    s3c_open(&c);
    struct s3_head_result h;
    struct err e = {0};
    ASSERT_OK(s3_head(c.s3, chat, &h, &e), e);
    EXPECT_GE_INT(h.size, 5 << 20);
    EXPECT_EQ_INT(st.objects_multipart, 1); /* and S3 holds its 2 parts as one object */

    /* 2: the ledger writes are "lost" and the checkpoint never moved: the
     * re-run PUTs the same keys, gets 412s and recognises its own bytes */
    forget_ledger(&env, shard);
    run_once(&env, &f, &st);
    EXPECT_EQ_INT(st.keys_existed, objects);
    EXPECT_EQ_INT(st.keys_foreign, 0);
    EXPECT_EQ_INT(rt_qi(&env, "SELECT count(*) FROM @.objects"), objects);
    EXPECT_EQ_INT(rt_count_objects(&env), objects);

    /* 3: a foreign object sits at one key: it is never overwritten, the
     * records go to the key's -r1 variant */
    char *victim = rt_q(&env, "SELECT min(key) FROM @.objects WHERE log_type <> 'chat'");
    forget_ledger(&env, shard);
    struct s3_put_result pr;
    ASSERT_OK(s3_put(c.s3, victim, "not ours", 8, NULL, &pr, &e), e);
    log_set_level(LOG_WARN); /* each foreign key is logged with both sizes */
    run_once(&env, &f, &st);
    log_set_level(LOG_ERROR);
    EXPECT_EQ_INT(st.keys_foreign, 1);
    EXPECT_EQ_INT(st.keys_existed, objects - 1);
    EXPECT_EQ_INT(rt_qi(&env, "SELECT count(*) FROM @.objects WHERE key LIKE '%%-r1.json.gz'"), 1);
    EXPECT_EQ_INT(rt_qi(&env, "SELECT count(*) FROM @.objects WHERE key = '%s'", victim), 0);
    struct buf got;
    buf_init(&got, 1024);
    ASSERT_OK(s3_get(c.s3, victim, &got, &e), e);
    EXPECT_EQ_STR(got.data, "not ours");
    buf_free(&got);
    free(victim);
    free(chat);
    s3c_close(&c);
    rt_feed_free(&f);
    rt_teardown(&env);
}

/* s3.payload_signing = unsigned (what auto picks over https): every PUT and
 * part carries a CRC-32 that the verifying proxy checks, the multipart
 * upload declares CRC32 and lists the parts' checksums, and every record
 * still lands exactly once. */
ITEST_T(router_unsigned_payload_multipart_exactly_once, 300)
{
    struct rt_env env;
    struct rt_feed f;
    big_setup(&env, &f, "shardId-000000000021");
    env.cfg.s3.payload_signing = LF_PAYLOAD_UNSIGNED;
    ASSERT_TRUE(lf_s3_unsigned_payload(&env.cfg));
    struct router_stats st;
    run_once(&env, &f, &st);
    EXPECT_EQ_INT(st.objects_multipart, 1);
    EXPECT_EQ_INT(st.upload_retries, 0); /* no BadDigest, no signature trouble */
    EXPECT_GE_INT(rt_qi(&env, "SELECT count(*) FROM @.objects"), 20);
    rt_feed_free(&f);
    rt_teardown(&env);
}

/* ---- the lease fence: a zombie's objects are never ledgered ------------------------------------- */

ITEST_T(router_lease_fence, 120)
{
    log_set_level(LOG_ERROR);
    struct rt_env env;
    rt_setup(&env, NULL, NULL, 0);
    const char *zombie = "shardId-000000000030", *handing = "shardId-000000000031";
    /* taken by another worker; and one being handed to another worker, with
     * us as the checkpoint owner who still finishes it (graceful handoff) */
    free(rt_q(&env, "INSERT INTO @.leases (app, lease_key, lease_owner, lease_counter, checkpoint)"
                    " VALUES ('%s', '%s', 'other-worker', 5, 'TRIM_HORIZON')", env.app, zombie));
    free(rt_q(&env, "INSERT INTO @.leases (app, lease_key, lease_owner, checkpoint_owner,"
                    " lease_counter, checkpoint) VALUES ('%s', '%s', 'other-worker', '%s', 5,"
                    " 'TRIM_HORIZON')", env.app, handing, RT_WORKER));
    struct rt_feed f0, f1, *feeds[] = {&f0, &f1};
    rt_feed_make(&f0, zombie, 1500, 31, 0);
    rt_feed_make(&f1, handing, 1500, 32, 0);
    struct router *r;
    struct err e = {0};
    ASSERT_OK(router_new(&env.cfg, RT_WORKER, &r, &e), e);
    struct rt_run runs[2];
    rt_run_shards(&env, r, feeds, 2, runs, 100, 2000);
    struct router_stats st;
    router_stats(r, &st);
    router_free(r);
    /* the zombie: objects reached S3 but not the ledger; no checkpoint */
    EXPECT_EQ_INT(rt_qi(&env, "SELECT count(*) FROM @.objects WHERE shard = '%s'", zombie), 0);
    EXPECT_EQ_INT(runs[0].ck.writes, 0);
    EXPECT_GE_INT(st.objects_dropped, 1);
    char *cp = rt_q(&env, "SELECT checkpoint FROM @.leases WHERE lease_key = '%s'", zombie);
    EXPECT_EQ_STR(cp, "TRIM_HORIZON");
    free(cp);
    /* the handoff: finished and checkpointed by us */
    EXPECT_EQ_INT(runs[1].rc, 0);
    struct rt_read rd;
    rt_read_ledgered(&env, &rd);
    struct rt_feed *only[] = {&f1};
    EXPECT_EQ_INT(rt_check_exactly_once(&rd, only, 1), 0);
    rt_read_free(&rd);
    char seq[128];
    int64_t sub;
    rt_lease_checkpoint(&env, handing, seq, &sub);
    EXPECT_EQ_STR(seq, f1.recs[f1.n - 1].seq);
    rt_feed_free(&f0);
    rt_feed_free(&f1);
    rt_teardown(&env);
}
