/* bench_router_kinesis.c — the router path through the Kinesis stand-in.
 *
 *   build/rel/bench/bench_router_kinesis [records] [shards]   (default 200000 2)
 *
 * Needs the local stack's environment (tests/bench/run: COORD_DSN,
 * KINESIS_ENDPOINT, AWS keys, LOGFLEET_CONF, LOGFLEET_BIN).  Creates a fresh
 * stream, puts `records` loggen records into it with `logfleetctl produce`
 * (not timed), then times ONE logfleetd (router mode, its own app, schema
 * and S3 prefix, router.buffer_age_ms 1 s) from its start until the ledger
 * holds every record (SELECT sum(records) FROM <schema>.objects).  The
 * figure is bound by the stand-ins (kinesalite serving GetRecords, s3rver +
 * SigV4 proxy), which share the cores: see bench_router for the router's own
 * cost against a non-bottleneck sink.  Figures only.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/aws.h"
#include "common/kinesis.h"
#include "common/mem.h"

extern char **environ;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *env_or_die(const char *k)
{
    const char *v = getenv(k);
    if (!v || !*v) {
        fprintf(stderr, "bench_router_kinesis: %s is not set: run it through tests/bench/run (make bench)\n", k);
        exit(2);
    }
    return v;
}

static pid_t spawn(char **argv, const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_t pid = 0;
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static int wait_exit(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* sum(records) of the ledger, or -1 while the table does not exist yet */
static long long ledgered(PGconn *pg, const char *schema)
{
    char q[160];
    snprintf(q, sizeof q, "SELECT coalesce(sum(records), 0) FROM %s.objects", schema);
    PGresult *r = PQexec(pg, q);
    long long n = PQresultStatus(r) == PGRES_TUPLES_OK ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return n;
}

int main(int argc, char **argv)
{
    long records = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    int shards = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2;
    if (records < 1 || records > 100000000 || shards < 1 || shards > 64) {
        fprintf(stderr, "usage: %s [records] [shards 1..64]\n", argv[0]);
        return 2;
    }
    unsigned char rnd[4];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) return 1;
    char tag[32], prefix[40], stream[40], nrec[24];
    snprintf(tag, sizeof tag, "rk_%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    snprintf(prefix, sizeof prefix, "%s/", tag);
    snprintf(stream, sizeof stream, "bench_%s", tag);
    snprintf(nrec, sizeof nrec, "%ld", records);
    const char *bindir = env_or_die("LOGFLEET_BIN");
    env_or_die("LOGFLEET_CONF");
    const char *dsn = env_or_die("COORD_DSN");

    struct aws_creds_opts co = {.access_key = env_or_die("AWS_ACCESS_KEY_ID"),
                                .secret_key = env_or_die("AWS_SECRET_ACCESS_KEY"),
                                .imds_disabled = 1};
    struct aws_creds_provider *cp = NULL;
    struct kin *k = NULL;
    struct err e = {0};
    struct aws_client_opts o = {.region = env_or_die("AWS_REGION"),
                                .endpoint = env_or_die("KINESIS_ENDPOINT"),
                                .timeout_ms = 10000, .max_attempts = 3};
    if (aws_creds_provider_new(&co, &cp, &e) || (o.creds = cp, kin_new(&o, &k, &e)) ||
        kin_create_stream(k, stream, shards, &e)) {
        fprintf(stderr, "bench_router_kinesis: stream: %s\n", e.msg);
        return 1;
    }
    struct kin_stream_summary sum = {0};
    for (int i = 0; i < 400; i++) {
        err_clear(&e);
        if (kin_describe_stream_summary(k, stream, &sum, &e) == 0 && !strcmp(sum.status, "ACTIVE"))
            break;
        usleep(50 * 1000);
    }
    setenv("LOGFLEET_APP", tag, 1);
    setenv("LOGFLEET_COORD_SCHEMA", tag, 1);
    setenv("LOGFLEET_S3_PREFIX", prefix, 1);
    setenv("LOGFLEET_KINESIS_STREAM", stream, 1);
    setenv("LOGFLEET_WORKER_ID", "bench", 1);
    setenv("LOGFLEET_ROUTER_BUFFER_AGE_MS", "1000", 1);
    setenv("LOGFLEET_KINESIS_IDLE_BETWEEN_READS_MS", "100", 1);
    setenv("LOGFLEET_LOG_LEVEL", "warn", 1);
    char log[256];
    snprintf(log, sizeof log, "%s/%s.log", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", tag);

    char *ctl = xasprintf("%s/logfleetctl", bindir), *d = xasprintf("%s/logfleetd", bindir);
    char *pa[] = {ctl, "produce", "--seed", "20261122", "--count", nrec, NULL};
    double t0 = now_s();
    pid_t pp = spawn(pa, log);
    int prc = pp > 0 ? wait_exit(pp) : -1;
    double put_s = now_s() - t0;
    if (prc != 0) {
        fprintf(stderr, "bench_router_kinesis: produce failed (%d), see %s\n", prc, log);
        return 1;
    }
    printf("bench_router_kinesis: %ld records put to a %d-shard stream in %.1f s (%.0f records/s, not"
           " part of the figure)\n", records, shards, put_s, records / put_s);

    PGconn *pg = PQconnectdb(dsn);
    char *da[] = {d, NULL};
    t0 = now_s();
    pid_t dp = spawn(da, log);
    long long got = 0;
    double deadline = t0 + 120 + records / 2000.0;
    while (dp > 0 && got < records && now_s() < deadline) {
        usleep(100 * 1000);
        got = ledgered(pg, tag);
        if (waitpid(dp, NULL, WNOHANG) == dp) dp = -1;
    }
    double run_s = now_s() - t0;
    printf("through kinesalite (stand-in bound): 1 logfleetd, %d shards, start to %lld of %ld records"
           " ledgered: %.1f s, %.0f records/s (kinesalite GetRecords, s3rver + SigV4 proxy and"
           " logfleetd share the cores)%s\n",
           shards, got, records, run_s, got / run_s, got < records ? "  INCOMPLETE" : "");
    if (dp > 0) {
        kill(dp, SIGTERM);
        wait_exit(dp);
    }
    char q[96];
    snprintf(q, sizeof q, "DROP SCHEMA %s CASCADE", tag);
    PQclear(PQexec(pg, q));
    PQfinish(pg);
    kin_delete_stream(k, stream, &e);
    kin_free(k);
    aws_creds_provider_free(cp);
    free(ctl);
    free(d);
    return got < records;
}
