/* t_router_kill.c — exactly once after kill -9 at random instants.
 *
 * A child process runs a router on two shards, feeding a deterministic
 * record stream from each lease's checkpoint (as logfleetd would after a
 * restart) and checkpointing into the real lease rows.  The parent SIGKILLs
 * it at random instants, ROUTER_KILLS times (default 10), then lets a last
 * run finish.  Afterwards every record must be in exactly one LEDGERED
 * object; S3 may hold unledgered orphans of the killed runs (counted).
 * ROUTER_KILL_RECORDS (default 8000) and ROUTER_SEED scale and replay it.
 *
 * S3 is the stack's SigV4-verifying proxy with If-None-Match on, as in
 * production.  (A SIGKILL used to wedge the proxy: a conditional PUT whose
 * client died while the proxy HEADed the key, or waited on its per-key
 * lock, never released that lock; fixed in tests/stack/sigv4_proxy.js.)
 * ROUTER_KILL_DIRECT=1 talks to s3rver itself with If-None-Match off.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/router.h"
#include "tests/integ/t_router_fix.h"
#include "tests/t.h"

static size_t env_num(const char *name, size_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : def;
}

/* The child: one "daemon life".  Exits 0 when it finished and checkpointed. */
static void child_life(struct rt_env *env, struct rt_feed **feeds)
{
    log_set_level(LOG_ERROR);
    struct router *r;
    struct err e = {0};
    if (router_new(&env->cfg, RT_WORKER, &r, &e)) {
        fprintf(stderr, "  child: router_new: %s\n", e.msg);
        _exit(2);
    }
    struct rt_run runs[2];
    rt_run_shards(env, r, feeds, 2, runs, 40, 25000);
    router_free(r);
    _exit(runs[0].rc || runs[1].rc || runs[0].ck.bad || runs[1].ck.bad ? 1 : 0);
}

static pid_t spawn(struct rt_env *env, struct rt_feed **feeds)
{
    fflush(NULL);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) child_life(env, feeds);
    return pid;
}

ITEST_T(router_kill9_exactly_once, 900)
{
    log_set_level(LOG_ERROR);
    size_t total = env_num("ROUTER_KILL_RECORDS", 8000);
    int kills = (int)env_num("ROUTER_KILLS", 10);
    uint64_t seed = env_num("ROUTER_SEED", (size_t)time(NULL));
    fprintf(stderr, "  seed=%" PRIu64 " records=%zu kills=%d (ROUTER_SEED to replay)\n", seed,
            total, kills);
    const char *shards[] = {"shardId-000000000004", "shardId-000000000005"};
    struct rt_opts o = {.buffer_bytes = 32768, .buffer_age_ms = 150, .upload_threads = 2,
                        .grace_ms = 30000, .direct_s3 = env_num("ROUTER_KILL_DIRECT", 0)};
    struct rt_env env;
    rt_setup(&env, &o, shards, 2);
    struct rt_feed f0, f1, *feeds[] = {&f0, &f1};
    rt_feed_make(&f0, shards[0], total / 2, seed, 53);
    rt_feed_make(&f1, shards[1], total - total / 2, seed + 1, 61);

    uint64_t rng = seed;
    int killed = 0, finished_early = 0;
    long long ahead = 0; /* objects ledgered beyond the checkpoint when a life died */
    for (int k = 0; k < kills; k++) {
        pid_t pid = spawn(&env, feeds);
        long ms = 100 + (long)(rt_rand(&rng) % 1400);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            finished_early++; /* it was faster than the kill: just another life */
            EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
            continue;
        }
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        killed += WIFSIGNALED(st);
        ahead += rt_qi(&env, "SELECT count(*) FROM @.objects o JOIN @.leases l ON l.app = o.app"
                             " AND l.lease_key = o.shard WHERE l.checkpoint !~ '^[0-9]+$'"
                             " OR o.last_seq > l.checkpoint::numeric"
                             " OR (o.last_seq = l.checkpoint::numeric AND o.last_sub > l.checkpoint_sub)");
    }
    /* the last life runs to the end (bounded: a wedged life fails the test) */
    int st = 0;
    pid_t last = spawn(&env, feeds);
    int64_t t0 = rt_now_ms();
    while (waitpid(last, &st, WNOHANG) == 0) {
        if (rt_now_ms() - t0 > 240000) {
            fprintf(stderr, "  the last life did not finish in 240 s\n");
            kill(last, SIGKILL);
            waitpid(last, &st, 0);
            break;
        }
        usleep(50000);
    }
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    for (int k = 0; k < 2; k++) {
        char seq[128];
        int64_t sub;
        rt_lease_checkpoint(&env, shards[k], seq, &sub);
        EXPECT_EQ_STR(seq, feeds[k]->recs[feeds[k]->n - 1].seq);
        EXPECT_EQ_INT(sub, feeds[k]->recs[feeds[k]->n - 1].sub);
    }
    struct rt_read rd;
    rt_read_ledgered(&env, &rd);
    EXPECT_EQ_INT(rt_check_exactly_once(&rd, feeds, 2), 0);
    EXPECT_EQ_INT(rd.bad_lines, 0);
    EXPECT_EQ_INT(rd.count_mismatch, 0);
    EXPECT_EQ_INT(rd.lineage_mismatch, 0);
    size_t in_s3 = rt_count_objects(&env);
    EXPECT_GE_INT(in_s3, rd.objects);
    EXPECT_EQ_INT(rt_qi(&env, "SELECT sum(records) FROM @.objects"), total);
    fprintf(stderr, "  killed %d lives (%d finished before their kill), %zu ledgered objects, "
                    "%lld ledgered beyond the checkpoint at a kill (skipped on restart), "
                    "%zu unledgered orphans in S3\n",
            killed, finished_early, rd.objects, ahead, in_s3 - rd.objects);
    EXPECT_GE_INT(ahead, 1); /* the restart skip logic was exercised */
    EXPECT_GE_INT(killed, kills / 2); /* the kills must actually land mid-run */
    rt_read_free(&rd);
    rt_feed_free(&f0);
    rt_feed_free(&f1);
    rt_teardown(&env);
}
