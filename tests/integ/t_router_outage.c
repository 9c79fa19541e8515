/* t_router_outage.c — S3 goes away mid-run: memory stays bounded, feeding
 * blocks, and once S3 is back everything lands exactly once.
 *
 * Two shards feed ~45 MB through a router with an 8 MB memory budget.  The
 * budget counts compressed bytes (plus a bound for staged lines), so the
 * feed is sized to fill it about twice over: in one run the budget filled
 * after ~25k of the records (~23 MB raw), and the rest must wait.  As
 * soon as the first object is ledgered S3 is stopped (tests/stack/svc ...
 * stop s3: the SigV4 proxy then answers 502) for ROUTER_OUTAGE_S seconds
 * (default 10; e.g. 60 for the long run), by a detached helper that always
 * starts it again, even if this test dies.  Meanwhile the router's own
 * accounting must stay under the limit (plus one record per shard in
 * flight), records_in must stop moving (producers blocked), and RSS must
 * not grow past the budget plus the fixed per-buffer gzip state.
 */
#include <fcntl.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/s3.h"
#include "worker/router.h"
#include "tests/integ/t_router_fix.h"
#include "tests/t.h"

struct feeder {
    struct rt_env *env;
    struct router *r;
    struct rt_feed **feeds;
    struct rt_run runs[2];
    pthread_t tid;
};

static void *feeder_main(void *arg)
{
    struct feeder *f = arg;
    rt_run_shards(f->env, f->r, f->feeds, 2, f->runs, 200, 0);
    return NULL;
}

/* Starts `svc stop s3; sleep secs; svc start s3; touch marker` in its own
 * session, so it outlives this test if the test dies. */
static void outage(int secs, const char *marker)
{
    const char *root = getenv("LOGFLEET_ROOT");
    char *cmd = xasprintf("'%s/tests/stack/svc' '%s' stop s3 >/dev/null 2>&1; sleep %d;"
                          " '%s/tests/stack/svc' '%s' start s3 >/dev/null 2>&1; touch '%s'",
                          root && *root ? root : ".", t_env("STACK_DIR"), secs,
                          root && *root ? root : ".", t_env("STACK_DIR"), marker);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        if (fork() != 0) _exit(0); /* the grandchild is reparented: never waited for here */
        setsid();
        int fd = open("/dev/null", O_RDWR);
        dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
    free(cmd);
}

/* Waits until S3 answers with a failure (the proxy's 502), up to 30 s. */
static bool s3_is_down(void)
{
    struct err e = {0};
    struct aws_creds_provider *cp;
    struct aws_creds_opts co = {.access_key = t_env("AWS_ACCESS_KEY_ID"),
                                .secret_key = t_env("AWS_SECRET_ACCESS_KEY"), .imds_disabled = 1};
    ASSERT_OK(aws_creds_provider_new(&co, &cp, &e), e);
    struct aws_client_opts o = {.service = "s3", .region = t_env("AWS_REGION"),
                                .endpoint = t_env("S3_ENDPOINT"), .creds = cp, .max_attempts = 1,
                                .timeout_ms = 2000, .connect_timeout_ms = 1000};
    struct s3 *s3;
    ASSERT_OK(s3_new(&o, t_env("BUCKET"), &s3, &e), e);
    bool down = false;
    for (int64_t t0 = rt_now_ms(); !down && rt_now_ms() - t0 < 30000;) {
        struct s3_head_result h;
        down = s3_head(s3, "probe", &h, &e) != 0;
        if (!down) usleep(50000);
    }
    s3_free(s3);
    aws_creds_provider_free(cp);
    return down;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Memory beside the budget: the igzip state of every open buffer whose
 * stage filled (~360 KB each; 30 types x 2 shards, plus up to 8 idle
 * writers per shard) ~27 MB, the stages' spare capacity (~128 KB each)
 * ~8 MB, the shards' scratch, libcurl, libpq, OpenSSL, malloc slack. */
#define FIXED_KB (48 * 1024)

ITEST_T(router_s3_outage_bounded_memory, 600)
{
    log_set_level(LOG_ERROR);
    const char *v = getenv("ROUTER_OUTAGE_S");
    int secs = v && *v ? (int)strtol(v, NULL, 10) : 10;
    const int64_t limit = 8 << 20;
    const char *shards[] = {"shardId-000000000040", "shardId-000000000041"};
    struct rt_opts o = {.memory_limit = limit, .buffer_bytes = 1 << 20, .buffer_age_ms = 300,
                        .upload_threads = 2, .retry_cap_ms = 500, .grace_ms = 120000};
    struct rt_env env;
    rt_setup(&env, &o, shards, 2);
    struct rt_feed f0, f1, *feeds[] = {&f0, &f1};
    rt_feed_make(&f0, shards[0], 24000, 41, 211);
    rt_feed_make(&f1, shards[1], 24000, 42, 223);
    char *marker = xasprintf("%s/s3-back", t_tmpdir());

    struct router *r;
    struct err e = {0};
    ASSERT_OK(router_new(&env.cfg, RT_WORKER, &r, &e), e);
    long rss0 = rt_rss_kb();
    struct feeder fd = {.env = &env, .r = r, .feeds = feeds};
    pthread_create(&fd.tid, NULL, feeder_main, &fd);

    struct router_stats st;
    int64_t t0 = rt_now_ms();
    do {
        usleep(10000);
        router_stats(r, &st);
    } while (st.objects_ledgered == 0 && rt_now_ms() - t0 < 30000);
    ASSERT_TRUE(st.objects_ledgered > 0);
    outage(secs, marker);
    ASSERT_TRUE(s3_is_down());
    int64_t down = rt_now_ms();
    /* samples at 3 s into the outage and 1 s before its scheduled end */
    uint64_t in_at_3s = 0, ledgered_at_3s = 0, in_at_end = 0, ledgered_at_end = 0;
    int64_t mem_max = 0;
    long rss_max = 0;
    while (!exists(marker) && rt_now_ms() - down < (secs + 60) * 1000LL) {
        usleep(50000);
        router_stats(r, &st);
        if (st.mem_used > mem_max) mem_max = st.mem_used;
        long rss = rt_rss_kb();
        if (rss > rss_max) rss_max = rss;
        int64_t t = rt_now_ms() - down;
        if (!in_at_3s && t >= 3000) in_at_3s = st.records_in, ledgered_at_3s = st.objects_ledgered;
        if (t <= secs * 1000LL - 1000) in_at_end = st.records_in, ledgered_at_end = st.objects_ledgered;
    }
    ASSERT_TRUE(exists(marker));
    fprintf(stderr, "  S3 down %d s: records in %" PRIu64 " after 3 s, %" PRIu64 " at the end of "
                    "%" PRIu64 "; budget max %.2f MB of %.2f MB; paused %" PRIu64 " ms in %" PRIu64
                    " pauses; %" PRIu64 " upload retries; RSS %ld -> %ld KB\n",
            secs, in_at_3s, in_at_end, (uint64_t)(f0.n + f1.n), mem_max / 1048576.0,
            limit / 1048576.0, st.paused_ms, st.pauses, st.upload_retries, rss0, rss_max);
    /* producers were blocked: nothing more came in, nothing got out */
    EXPECT_EQ_INT(in_at_end, in_at_3s);
    EXPECT_TRUE(in_at_end < f0.n + f1.n);
    EXPECT_EQ_INT(ledgered_at_end, ledgered_at_3s);
    EXPECT_GE_INT(st.upload_retries, 1);
    pthread_join(fd.tid, NULL);
    router_stats(r, &st);
    router_free(r);
    EXPECT_EQ_INT(fd.runs[0].rc, 0);
    EXPECT_EQ_INT(fd.runs[1].rc, 0);
    EXPECT_GE_INT(st.pauses, 1); /* a pause is counted when it ends */
    EXPECT_GE_INT(st.paused_ms, (uint64_t)secs * 500); /* the feeders sat out the outage */
    /* the budget held: at most one record per shard past it */
    EXPECT_LE_INT(st.mem_peak, limit + 2 * 70 * 1024);
    EXPECT_EQ_INT(st.mem_used, 0);
#if !defined(__SANITIZE_ADDRESS__)
    EXPECT_LE_INT(rt_peak_rss_kb() - rss0, limit / 1024 + FIXED_KB);
#endif
    fprintf(stderr, "  after: peak budget %.2f MB, peak RSS %ld KB (+%ld KB), %" PRIu64
                    " objects, paused %" PRIu64 " ms\n",
            st.mem_peak / 1048576.0, rt_peak_rss_kb(), rt_peak_rss_kb() - rss0,
            st.objects_ledgered, st.paused_ms);
    struct rt_read rd;
    rt_read_ledgered(&env, &rd);
    EXPECT_EQ_INT(rt_check_exactly_once(&rd, feeds, 2), 0);
    EXPECT_EQ_INT(rd.count_mismatch, 0);
    rt_read_free(&rd);
    for (int k = 0; k < 2; k++) {
        char seq[128];
        int64_t sub;
        rt_lease_checkpoint(&env, shards[k], seq, &sub);
        EXPECT_EQ_STR(seq, feeds[k]->recs[feeds[k]->n - 1].seq);
    }
    free(marker);
    rt_feed_free(&f0);
    rt_feed_free(&f1);
    rt_teardown(&env);
}
