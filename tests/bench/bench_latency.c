/* bench_latency.c — end-to-end latency, record put into Kinesis → row visible
 * through the view public.login, WITH THE DEFAULT BUFFERING (router.buffer_age_ms
 * 30000, manifest.interval_ms 60000, loader.poll_ms 1000; only lease timings
 * are shortened so the worker starts quickly).  Needs the stack's environment
 * (tests/bench/run).  Own app, coordination schema, S3 prefix and 4-shard
 * stream; logfleetctl init + rotate, one logfleetd; once it holds every lease,
 * puts "login" records with unique event_ids at 10/s for BENCH_LATENCY_S
 * seconds (default 90) while polling wh_a every 250 ms, until all are visible
 * or 150 s after the last put.  Prints p50/p90/p99/max, a split of the mean
 * from the coordination ledger, and wh_b's count.  Figures only: exits
 * non-zero only when the setup fails.
 */
#include <fcntl.h>
#include <libpq-fe.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/kinesis.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"
#include "worker/loggen.h"

extern char **environ;

#define RATE 10.0     /* records per second */
#define SHARDS 4
#define POLL_S 0.25
#define TAIL_S 150.0  /* wait this long after the last put */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Spawns LOGFLEET_BIN/prog [arg], stdout and stderr appended to logf. */
static pid_t spawn(const char *prog, const char *arg, const char *logf)
{
    char *bin = xasprintf("%s/%s", getenv("LOGFLEET_BIN"), prog);
    char *argv[] = {bin, (char *)arg, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    if (posix_spawn(&pid, bin, &fa, NULL, argv, environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    free(bin);
    return pid;
}

static int ctl(const char *cmd, const char *logf)
{
    int st = 0;
    pid_t pid = spawn("logfleetctl", cmd, logf);
    if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st)) return 0;
    fprintf(stderr, "bench_latency: logfleetctl %s failed (see %s)\n", cmd, logf);
    return -1;
}

static void stop(pid_t pid)
{
    int st = 0;
    kill(pid, SIGTERM);
    for (int i = 0; i < 600; i++, usleep(100000))
        if (waitpid(pid, &st, WNOHANG) == pid) return;
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

static long q_long(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    long v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)
                 ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return v;
}

/* Marks ids of this run newly visible in wh_a at time t. */
static size_t poll_wh(PGconn *c, const char *like, double t, double *vis, size_t n)
{
    const char *p[1] = {like};
    size_t fresh = 0;
    PGresult *r = PQexecParams(c, "SELECT event_id FROM public.login WHERE event_id LIKE $1", 1,
                               NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        for (int i = 0; i < PQntuples(r); i++) {
            const char *id = strrchr(PQgetvalue(r, i, 0), '-');
            size_t k = id ? strtoul(id + 1, NULL, 10) : n;
            if (k < n && vis[k] < 0) vis[k] = t, fresh++;
        }
    else if (PQstatus(c) != CONNECTION_OK) PQreset(c);
    PQclear(r);
    return fresh;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double q) /* nearest rank */
{
    size_t k = (size_t)ceil(q * (double)n);
    return v[k ? k - 1 : 0];
}

/* Record-weighted mean seconds object ledgered → manifest and manifest →
 * wh_a load done, from the coordination ledger. */
static void split(PGconn *coord, const char *schema, const char *app, double mean)
{
    char *sql = xasprintf(
        "SELECT sum(o.records * extract(epoch FROM m.created_at - o.created_at)) / sum(o.records),"
        " sum(o.records * extract(epoch FROM l.updated_at - m.created_at)) / sum(o.records),"
        " count(DISTINCT o.object_id), count(DISTINCT m.manifest_id)"
        " FROM %s.objects o JOIN %s.manifests m USING (manifest_id)"
        " JOIN %s.loads l ON l.manifest_id = m.manifest_id"
        "  AND l.backend = 'wh_a' AND l.state = 'done'"
        " WHERE o.app = $1 AND o.log_type = 'login' AND NOT o.dead", schema, schema, schema);
    const char *p[1] = {app};
    PGresult *r = PQexecParams(coord, sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        double man = strtod(PQgetvalue(r, 0, 0), NULL), load = strtod(PQgetvalue(r, 0, 1), NULL);
        printf("mean %.1f s = put→object in S3 + ledger %.1f s (router.buffer_age_ms 30000: "
               "0-30 s)\n"
               "             + object→manifest %.1f s (manifest.interval_ms 60000: 0-60 s)\n"
               "             + manifest→loaded in wh_a %.1f s (loader.poll_ms 1000 + COPY)\n"
               "             over %s objects in %s manifests\n",
               mean, mean - man - load, man, load, PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
        const char *dom = man >= load && man >= mean - man - load ? "the manifest interval"
                          : load >= mean - man - load ? "the load" : "the buffer age";
        printf("dominated by %s\n", dom);
    } else
        printf("split: no ledger figures (%s)\n", PQresultErrorMessage(r));
    PQclear(r);
    free(sql);
}

int main(void)
{
    static const char *const need[] = {"COORD_DSN", "WH_A_DSN", "WH_B_DSN", "KINESIS_ENDPOINT",
                                       "LOGFLEET_CONF", "LOGFLEET_BIN"};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++)
        if (!getenv(need[i]))
            return fprintf(stderr, "bench_latency: %s not set (use tests/bench/run)\n", need[i]), 1;
    log_set_level(LOG_WARN);
    const char *d = getenv("BENCH_LATENCY_S");
    long secs = d && *d ? strtol(d, NULL, 10) : 90;
    size_t n = (size_t)((secs > 0 ? secs : 90) * RATE);

    char run[16], tag[32], prefix[40], like[40], dir[] = "/tmp/bench_lat.XXXXXX";
    snprintf(run, sizeof run, "%x%04x", (unsigned)getpid(), (unsigned)time(NULL) & 0xffff);
    snprintf(tag, sizeof tag, "bench_lat_%s", run);
    snprintf(prefix, sizeof prefix, "%s/", tag);
    snprintf(like, sizeof like, "lat-%s-%%", run);
    if (!mkdtemp(dir)) return perror("bench_latency: mkdtemp"), 1;
    char *logf = xasprintf("%s/logfleetd.log", dir);
    setenv("LOGFLEET_APP", tag, 1);
    setenv("LOGFLEET_COORD_SCHEMA", tag, 1);
    setenv("LOGFLEET_S3_PREFIX", prefix, 1);
    setenv("LOGFLEET_KINESIS_STREAM", tag, 1);
    setenv("LOGFLEET_LEASE_DURATION_MS", "3000", 1);
    setenv("LOGFLEET_LEASE_SHARD_SYNC_MS", "1000", 1);

    /* Setup: stream, schema, day tables, worker holding every lease. */
    struct err e = {0};
    struct aws_creds_provider *cp = NULL;
    struct kin *k = NULL;
    struct aws_creds_opts co = {.imds_disabled = 1};
    struct aws_client_opts o = {.region = getenv("AWS_REGION") ? getenv("AWS_REGION") : "us-east-1",
                                .endpoint = getenv("KINESIS_ENDPOINT"), .timeout_ms = 30000};
    struct kin_stream_summary ss = {0};
    int rc = aws_creds_provider_new(&co, &cp, &e);
    o.creds = cp;
    if (rc == 0) rc = kin_new(&o, &k, &e);
    if (rc == 0) rc = kin_create_stream(k, tag, SHARDS, &e);
    for (int i = 0; rc == 0 && i < 400 && strcmp(ss.status, "ACTIVE"); i++, usleep(50000))
        rc = kin_describe_stream_summary(k, tag, &ss, &e);
    if (rc < 0) fprintf(stderr, "bench_latency: stream %s: %s\n", tag, e.msg);
    PGconn *coord = NULL, *wa = NULL, *wb = NULL;
    if (rc == 0) rc = ctl("init", logf);
    if (rc == 0) rc = ctl("rotate", logf);
    if (rc == 0 && (pg_connect(getenv("COORD_DSN"), 10, &coord, &e) ||
                    pg_connect(getenv("WH_A_DSN"), 10, &wa, &e) ||
                    pg_connect(getenv("WH_B_DSN"), 10, &wb, &e)))
        rc = -1, fprintf(stderr, "bench_latency: %s\n", e.msg);
    pid_t pid = rc == 0 ? spawn("logfleetd", NULL, logf) : -1;
    char *held = xasprintf("SELECT count(*) FROM %s.leases WHERE app = '%s'"
                           " AND lease_owner IS NOT NULL", tag, tag);
    double t0 = now_s();
    while (pid > 0 && q_long(coord, held) < SHARDS && now_s() - t0 < 60) usleep(200000);
    if (pid > 0 && q_long(coord, held) < SHARDS)
        rc = -1, fprintf(stderr, "bench_latency: no leases taken in 60 s (see %s)\n", logf);
    if (rc == 0)
        printf("latency: %zu login records at %.0f/s, %d shards, one logfleetd, default buffering "
               "(worker held every lease %.1f s after start)\n", n, RATE, SHARDS, now_s() - t0);

    /* Put at a steady rate; poll wh_a every 250 ms. */
    double *put = xcalloc(n, sizeof *put), *vis = xcalloc(n, sizeof *vis);
    for (size_t i = 0; i < n; i++) put[i] = vis[i] = -1;
    size_t next = 0, seen = 0, failed = 0;
    t0 = now_s();
    double deadline = t0 + (double)n / RATE + TAIL_S, next_poll = t0;
    while (rc == 0) {
        double t = now_s();
        for (; next < n && t0 + (double)next / RATE <= t; next++, t = now_s()) {
            char id[48], ts[25], rec[256];
            snprintf(id, sizeof id, "lat-%s-%zu", run, next);
            struct timespec wall;
            clock_gettime(CLOCK_REALTIME, &wall);
            loggen_iso8601((int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000, ts);
            int len = snprintf(rec, sizeof rec, "{\"ts\":\"%s\",\"type\":\"login\",\"event_id\":"
                               "\"%s\",\"player_id\":\"p%zu\",\"platform\":\"ios\"}", ts, id,
                               next % 100);
            struct kin_put_entry in = {rec, (size_t)len, id, NULL};
            struct kin_put_result out;
            if (kin_put_records_all(k, tag, &in, 1, &out, NULL, &e) == 0) put[next] = now_s();
            else failed++;
        }
        if (t >= next_poll) {
            seen += poll_wh(wa, like, t, vis, n);
            next_poll = t + POLL_S;
        }
        if (next == n && (seen >= n - failed || t > deadline)) break;
        double due = next < n && t0 + (double)next / RATE < next_poll ? t0 + (double)next / RATE
                                                                      : next_poll;
        if (due > now_s()) usleep((useconds_t)((due - now_s()) * 1e6));
    }

    /* Figures. */
    if (rc == 0) {
        double *lat = xcalloc(n, sizeof *lat), sum = 0;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (put[i] >= 0 && vis[i] >= 0) sum += lat[m++] = vis[i] > put[i] ? vis[i] - put[i] : 0;
        qsort(lat, m, sizeof *lat, cmp_d);
        printf("wh_a: %zu of %zu visible (%zu puts failed), polled every %.0f ms\n", m, n, failed,
               POLL_S * 1000);
        if (m) {
            printf("latency s: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  min %.1f  mean %.1f\n",
                   pct(lat, m, .5), pct(lat, m, .9), pct(lat, m, .99), lat[m - 1], lat[0],
                   sum / (double)m);
            split(coord, tag, tag, sum / (double)m);
        }
        char *q = xasprintf("SELECT count(DISTINCT event_id) FROM public.login"
                            " WHERE event_id LIKE '%s'", like);
        long b = q_long(wb, q);
        for (double tb = now_s(); b < (long)m && now_s() - tb < 15; usleep(250000)) b = q_long(wb, q);
        printf("wh_b: %ld of %zu visible\n", b, n);
        free(q);
        free(lat);
    }

    /* Teardown: the worker, the stream, the coordination schema. */
    if (pid > 0) stop(pid);
    if (k) kin_delete_stream(k, tag, &e);
    if (coord) {
        char *drop = xasprintf("SET client_min_messages TO warning;"
                               " DROP SCHEMA IF EXISTS %s CASCADE", tag);
        PQclear(PQexec(coord, drop));
        free(drop);
    }
    if (rc == 0 && seen >= n - failed) unlink(logf), rmdir(dir);
    else fprintf(stderr, "bench_latency: worker log kept in %s\n", logf);
    PQfinish(coord), PQfinish(wa), PQfinish(wb);
    kin_free(k);
    aws_creds_provider_free(cp);
    free(put), free(vis), free(held), free(logf);
    return rc == 0 ? 0 : 1;
}
