/* bench_multilang.c — throughput of the multilang record processor.
 *
 * 1. Drives ml_processor (worker/multilang.h) directly, as a shard consumer
 *    does, with batches of 1 KiB records, against three children:
 *      c       this program re-run with --child: reads each line, answers
 *              its status (the protocol's floor: pipes, JSON + base64 on
 *              our side)
 *      python  python3 -c: json.loads every line, answers its status
 *      node    tests/data/kcl/consumer.js on the real aws-kcl package, which
 *              also checkpoints every batch (skipped without node_modules)
 * 2. End to end, when a local stack is up (tests/bench/run starts one:
 *    KINESIS_ENDPOINT, COORD_DSN, LOGFLEET_BIN, LOGFLEET_CONF): puts 1 KiB
 *    records into a 4-shard kinesalite stream, runs logfleetd with the c
 *    child checkpointing every batch (--child-ckpt), and times it from start
 *    until every shard's lease is checkpointed at its last record.  Reads
 *    are paced as on AWS (5 calls/s and 2 MB/s per shard after a first 2 MB),
 *    so long runs top out near 2000 1-KiB records/s per shard.
 * Prints records/s and MB/s of payload.  Figures only, no assertions.
 *
 *   bench_multilang [records]     (default 200000 for c, a quarter for the
 *                                  others, a tenth end to end)
 * LOGFLEET_ROOT (default: the current directory) locates tests/data.
 */
#include <fcntl.h>
#include <libpq-fe.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/kinesis.h"
#include "common/log.h"
#include "common/mem.h"
#include "lease/registry.h"
#include "lease/schema.h"
#include "worker/multilang.h"

#define REC_BYTES 1024

/* ---- the trivial child ------------------------------------------------- */

/* The last "sequenceNumber":"..." of a processRecords line, or NULL. */
static const char *last_seq(const char *line, int *len)
{
    const char *hit = NULL, *k = "\"sequenceNumber\":\"";
    for (const char *p = line; (p = strstr(p, k)) != NULL; p += 18) hit = p + 18;
    if (!hit) return NULL;
    *len = (int)strcspn(hit, "\"");
    return hit;
}

/* Answers every action's status; with ckpt, first checkpoints each
 * processRecords at its last record (and reads the reply). */
static int child_main(bool ckpt)
{
    char *line = NULL, *reply = NULL;
    size_t cap = 0, rcap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        const char *a = strstr(line, "\"action\":\"");
        if (!a) continue;
        a += 10;
        const char *end = strchr(a, '"');
        if (!end) continue;
        int n;
        const char *seq = ckpt && !strncmp(a, "processRecords", 14) ? last_seq(line, &n) : NULL;
        if (seq) {
            printf("{\"action\":\"checkpoint\",\"sequenceNumber\":\"%.*s\"}\n", n, seq);
            fflush(stdout);
            if (getline(&reply, &rcap, stdin) <= 0) break;
        }
        printf("{\"action\":\"status\",\"responseFor\":\"%.*s\"}\n", (int)(end - a), a);
        fflush(stdout);
    }
    free(line);
    free(reply);
    return 0;
}

/* ---- the driver --------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static enum ckpt_result ok_checkpoint(struct checkpointer *c, const char *seq, int64_t sub)
{
    (void)c, (void)seq, (void)sub;
    return CKPT_OK;
}

static const struct checkpointer_ops ok_ops = {ok_checkpoint};

struct batchset {
    struct proc_record *recs;
    char (*seqs)[48];
    unsigned char *payload;
};

/* A batch of n records whose sequence numbers go on from *next. */
static void fill(struct batchset *b, size_t n, unsigned long long *next)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(b->seqs[i], sizeof b->seqs[i], "4959033827149025660855%015llu", (*next)++);
        b->recs[i] = (struct proc_record){b->payload, REC_BYTES, "pk", b->seqs[i], 0, 1700000000000};
    }
}

static void run(const char *name, const char *const *argv, size_t total, size_t batch)
{
    struct processor p;
    struct err e = {0};
    struct ml_opts o = {.argv = argv, .shard_id = "shardId-000000000000", .action_timeout_ms = 60000};
    if (ml_processor_new(&o, &p, &e) < 0 ||
        p.ops->initialize(&p, "shardId-000000000000", "TRIM_HORIZON", 0, &e) < 0) {
        printf("%-7s batch=%-5zu skipped: %s\n", name, batch, e.msg);
        processor_free(&p);
        return;
    }
    struct batchset b = {xcalloc(batch, sizeof *b.recs), xcalloc(batch, sizeof *b.seqs),
                         xmalloc(REC_BYTES)};
    for (size_t i = 0; i < REC_BYTES; i++) b.payload[i] = (unsigned char)("{\"type\":\"x\"}"[i % 12]);
    struct checkpointer cp = {&ok_ops, NULL};
    unsigned long long next = 1;
    size_t done = 0;
    double t0 = now_s();
    while (done < total) {
        size_t n = total - done < batch ? total - done : batch;
        fill(&b, n, &next);
        struct proc_batch pb = {b.recs, n, 0};
        if (p.ops->process_records(&p, &pb, &cp, &e) < 0) {
            printf("%-7s batch=%-5zu failed after %zu records: %s\n", name, batch, done, e.msg);
            break;
        }
        done += n;
    }
    double s = now_s() - t0;
    if (done == total)
        printf("%-7s batch=%-5zu records=%-7zu %8.3f s %10.0f records/s %8.1f MB/s\n", name, batch,
               done, s, (double)done / s, (double)done * REC_BYTES / s / 1e6);
    p.ops->lease_lost(&p, &e);
    processor_free(&p);
    free(b.recs);
    free(b.seqs);
    free(b.payload);
}

static const char PY_CHILD[] =
    "import json, sys\n"
    "for line in sys.stdin:\n"
    "    m = json.loads(line)\n"
    "    sys.stdout.write(json.dumps({'action': 'status', 'responseFor': m['action']}) + '\\n')\n"
    "    sys.stdout.flush()\n";

/* ---- end to end through kinesalite -------------------------------------- */

struct e2e {
    struct aws_creds_provider *cp;
    struct kin *k;
    char stream[64], schema[32], dir[64];
    char last[8][KIN_SEQ_MAX], shard[8][KIN_SHARD_ID_MAX];
    int nshards;
};

static int e2e_put(struct e2e *x, size_t total, struct err *e)
{
    static char payload[REC_BYTES];
    memset(payload, 'x', sizeof payload);
    struct kin_put_entry in[KIN_PUT_MAX];
    struct kin_put_result *out = xcalloc(KIN_PUT_MAX, sizeof *out);
    char pk[KIN_PUT_MAX][24];
    int rc = 0;
    for (size_t done = 0; rc == 0 && done < total;) {
        size_t n = total - done < KIN_PUT_MAX ? total - done : KIN_PUT_MAX;
        for (size_t i = 0; i < n; i++) {
            snprintf(pk[i], sizeof pk[i], "k%zu", done + i);
            in[i] = (struct kin_put_entry){payload, sizeof payload, pk[i], NULL};
        }
        rc = kin_put_records_all(x->k, x->stream, in, n, out, NULL, e);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            int s = 0;
            while (s < x->nshards && strcmp(x->shard[s], out[i].shard)) s++;
            if (s == x->nshards && s < 8) strlcpy_(x->shard[x->nshards++], out[i].shard, KIN_SHARD_ID_MAX);
            if (s < 8) strlcpy_(x->last[s], out[i].seq, KIN_SEQ_MAX);
        }
        done += n;
    }
    free(out);
    return rc;
}

/* Every shard's lease checkpointed at its last record. */
static bool e2e_done(struct e2e *x, const char *dsn)
{
    struct lease_row *v;
    size_t n;
    struct err e = {0};
    if (lease_list(dsn, x->schema, "bench", &v, &n, &e) < 0) return false;
    int ok = 0;
    for (int s = 0; s < x->nshards; s++)
        for (size_t i = 0; i < n; i++)
            ok += !strcmp(v[i].key, x->shard[s]) && !strcmp(v[i].checkpoint, x->last[s]);
    lease_rows_free(v, n);
    return ok == x->nshards;
}

static pid_t e2e_daemon(struct e2e *x, const char *self)
{
    char props[128], logf[128];
    snprintf(props, sizeof props, "%s/app.properties", x->dir);
    snprintf(logf, sizeof logf, "%s/logfleetd.log", x->dir);
    FILE *f = fopen(props, "w");
    if (!f) return -1;
    fprintf(f, "executableName = %s --child-ckpt\nstreamName = %s\napplicationName = bench\n"
               "initialPositionInStream = TRIM_HORIZON\nmaxRecords = 10000\n"
               "idleTimeBetweenReadsInMillis = 100\nshardSyncIntervalMillis = 1000\n",
            self, x->stream);
    fclose(f);
    char *bin = xasprintf("%s/logfleetd", getenv("LOGFLEET_BIN"));
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 2);
        setenv("LOGFLEET_COORD_SCHEMA", x->schema, 1);
        setenv("LOGFLEET_LOG_LEVEL", "warn", 1);
        execl(bin, "logfleetd", "-c", getenv("LOGFLEET_CONF"), "--properties", props, (char *)NULL);
        _exit(127);
    }
    free(bin);
    return pid;
}

static void e2e_cleanup(struct e2e *x, const char *dsn)
{
    struct err e = {0};
    kin_delete_stream(x->k, x->stream, &e);
    PGconn *pg = PQconnectdb(dsn);
    char *sql = xasprintf("DROP SCHEMA IF EXISTS %s CASCADE", x->schema);
    if (PQstatus(pg) == CONNECTION_OK) {
        PQclear(PQexec(pg, "SET client_min_messages TO warning"));
        PQclear(PQexec(pg, sql));
    }
    PQfinish(pg);
    free(sql);
    char *rm = xasprintf("rm -rf %s", x->dir);
    if (system(rm) != 0) fprintf(stderr, "bench: %s failed\n", rm);
    free(rm);
    kin_free(x->k);
    aws_creds_provider_free(x->cp);
}

static void end_to_end(const char *self, size_t total)
{
    const char *dsn = getenv("COORD_DSN"), *ep = getenv("KINESIS_ENDPOINT");
    if (!dsn || !ep || !getenv("LOGFLEET_BIN") || !getenv("LOGFLEET_CONF")) {
        printf("e2e     skipped: no local stack (run through tests/bench/run)\n");
        return;
    }
    struct e2e x = {0};
    struct err e = {0};
    snprintf(x.stream, sizeof x.stream, "bench_ml_%d", (int)getpid());
    snprintf(x.schema, sizeof x.schema, "bench_ml_%d", (int)getpid());
    snprintf(x.dir, sizeof x.dir, "/tmp/bench_ml_%d", (int)getpid());
    struct aws_creds_opts co = {.imds_disabled = 1};
    struct aws_client_opts o = {.region = getenv("AWS_REGION"), .endpoint = ep, .timeout_ms = 30000};
    struct kin_stream_summary ss = {0};
    int rc = mkdir(x.dir, 0700) < 0 ? -1 : aws_creds_provider_new(&co, &x.cp, &e);
    o.creds = x.cp;
    if (rc == 0) rc = kin_new(&o, &x.k, &e);
    if (rc == 0) rc = kin_create_stream(x.k, x.stream, 4, &e);
    for (int i = 0; rc == 0 && i < 200 && strcmp(ss.status, "ACTIVE"); i++, usleep(50000))
        rc = kin_describe_stream_summary(x.k, x.stream, &ss, &e);
    double t0 = now_s();
    if (rc == 0) rc = e2e_put(&x, total, &e);
    double put_s = now_s() - t0;
    pid_t pid = rc == 0 ? e2e_daemon(&x, self) : -1;
    t0 = now_s();
    bool done = false;
    while (pid > 0 && !(done = e2e_done(&x, dsn)) && now_s() - t0 < 300) usleep(50000);
    double run_s = now_s() - t0;
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    if (rc < 0) printf("e2e     failed: %s\n", e.msg);
    else if (!done) printf("e2e     did not finish in 300 s (see %s/logfleetd.log)\n", x.dir);
    else {
        printf("e2e     put    records=%-7zu %8.3f s %10.0f records/s (PutRecords into kinesalite)\n",
               total, put_s, (double)total / put_s);
        printf("e2e     read   records=%-7zu %8.3f s %10.0f records/s %8.1f MB/s (logfleetd start to "
               "last checkpoint, 4 shards)\n", total, run_s, (double)total / run_s,
               (double)total * REC_BYTES / run_s / 1e6);
    }
    e2e_cleanup(&x, dsn);
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--child")) return child_main(false);
    if (argc == 2 && !strcmp(argv[1], "--child-ckpt")) return child_main(true);
    log_set_level(LOG_WARN);
    size_t total = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    if (total == 0) total = 200000;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    const char *root = getenv("LOGFLEET_ROOT") ? getenv("LOGFLEET_ROOT") : ".";
    char js[PATH_MAX + 64], mods[PATH_MAX + 64];
    snprintf(js, sizeof js, "%s/tests/data/kcl/consumer.js", root);
    snprintf(mods, sizeof mods, "%s/node_modules/aws-kcl", root);
    const char *c_argv[] = {self, "--child", NULL};
    const char *py_argv[] = {"python3", "-c", PY_CHILD, NULL};
    const char *node_argv[] = {"node", js, NULL};
    printf("multilang: %d-byte records through ml_processor (one child, one shard)\n", REC_BYTES);
    static const size_t batches[] = {100, 1000};
    for (size_t i = 0; i < 2; i++) run("c", c_argv, total, batches[i]);
    for (size_t i = 0; i < 2; i++) run("python", py_argv, total / 4, batches[i]);
    if (access(mods, R_OK) == 0)
        for (size_t i = 0; i < 2; i++) run("node", node_argv, total / 4, batches[i]);
    else
        printf("node    skipped: %s not found\n", mods);
    end_to_end(self, total / 10);
    return 0;
}
