/* bench_router.c — the router path end to end on 2 shards, against raw gzip.
 *
 *   build/rel/bench/bench_router [MiB-per-shard] [passes] [both|proxy|sink] [repetitions]
 *                                                  (default 32 16 both 5)
 *
 * Needs the local stack's environment (tests/bench/run sets it up:
 * COORD_DSN, S3_ENDPOINT, BUCKET, AWS keys) and tests/data/types30.conf
 * (found through LOGFLEET_ROOT, else the working directory).
 * Generates MiB of ~1 KB game records per shard in memory with loggen (not
 * timed; the source is never the bottleneck), then feeds them `passes`
 * times (fresh sequence numbers each pass) through two router processors
 * on two threads, batches of 500 as GetRecords would, with the default
 * router settings: scan, route to 30 types, splice, igzip, upload to the
 * local S3 with If-None-Match, ledger in PostgreSQL, checkpoint.  Uploads
 * go as they would to AWS over HTTPS (s3.payload_signing = auto there):
 * UNSIGNED-PAYLOAD with a CRC-32 checksum; LOGFLEET_S3_PAYLOAD_SIGNING=signed
 * measures SHA-256-signed bodies instead (what auto picks over plain http).
 * The clock
 * stops when both shards' shutdown_requested returned, i.e. every record is
 * in a ledgered object.  Beside it, on the same two cores: raw gz (same
 * level, 64 KiB feeds) of the same bytes, two threads.  Prints records/s,
 * MiB/s, CPU seconds, the ratio to raw gz and peak RSS; each sink is
 * measured `repetitions` times, alternating, and the summary gives the
 * median and range (a shared VM's speed drifts by a third between runs).
 * 16 passes (1 GiB through the router per run) by default: the final
 * flush of what the memory budget holds, and the last shard finishing
 * alone, are a tenth of a 4-pass run's wall clock and a fortieth of this.
 * Figures only.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "lease/schema.h"
#include "sinks/gz.h"
#include "tests/bench/bench_util.h"
#include "worker/loggen.h"
#include "worker/router.h"

#define BATCH 500

struct shard {
    const char *id;
    struct corpus c;
    struct router *r;
    const char *schema, *app;
    int passes;
    int rc;
    uint64_t checkpoints;
    PGconn *pg;
    double fed_s;        /* when the last batch was processed */
    double run_ns, wait_ns; /* this thread's CPU and run-queue wait (schedstat) */
};

/* CPU seconds used so far by the processes whose pids are in the stack's
 * run/<name>.pid files (the S3 stand-in and its SigV4 proxy), or -1. */
static double stack_cpu_s(void)
{
    const char *dir = getenv("STACK_DIR");
    static const char *const names[] = {"s3", "s3_proxy"};
    double total = 0;
    for (size_t i = 0; dir && i < 2; i++) {
        char path[512], stat[1024];
        snprintf(path, sizeof path, "%s/run/%s.pid", dir, names[i]);
        FILE *f = fopen(path, "r");
        long pid = 0;
        if (!f) return -1;
        if (fscanf(f, "%ld", &pid) != 1) pid = 0;
        fclose(f);
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        f = fopen(path, "r");
        if (!f) return -1;
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[n] = 0;
        const char *p = strrchr(stat, ')');
        unsigned long ut = 0, st = 0;
        /* fields after the command: state ppid pgrp session tty tpgid flags minflt cminflt
         * majflt cmajflt utime stime */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
            return -1;
        total += (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    return dir ? total : -1;
}

/* The calling thread's time on CPU and waiting for one (ns). */
static void sched_times(double *run, double *wait)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%ld/schedstat", (long)gettid());
    FILE *f = fopen(path, "r");
    *run = *wait = 0;
    if (f) {
        if (fscanf(f, "%lf %lf", run, wait) != 2) *run = *wait = 0;
        fclose(f);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
           u.ru_stime.tv_usec / 1e6;
}

static const char *env_or_die(const char *k)
{
    const char *v = getenv(k);
    if (!v || !*v) {
        fprintf(stderr, "bench_router: %s is not set: run it through tests/bench/run (make bench)\n", k);
        exit(2);
    }
    return v;
}

/* ---- the checkpointer: the lease row, as logfleetd's fenced write does ---- */

static enum ckpt_result ck(struct checkpointer *cp, const char *seq, int64_t sub)
{
    struct shard *s = cp->ctx;
    char subs[24], *sql = xasprintf("UPDATE %s.leases SET checkpoint = $1, checkpoint_sub = $2"
                                    " WHERE app = $3 AND lease_key = $4", s->schema);
    snprintf(subs, sizeof subs, "%" PRId64, sub);
    const char *p[] = {seq ? seq : "SHARD_END", subs, s->app, s->id};
    PGresult *r = PQexecParams(s->pg, sql, 4, NULL, p, NULL, NULL, 0);
    free(sql);
    enum ckpt_result res = PQresultStatus(r) == PGRES_COMMAND_OK ? CKPT_OK : CKPT_DEPENDENCY;
    PQclear(r);
    s->checkpoints += res == CKPT_OK;
    return res;
}

static const struct checkpointer_ops ck_ops = {ck};

static void *shard_main(void *arg)
{
    struct shard *s = arg;
    pthread_setname_np(pthread_self(), "bench-shard");
    struct checkpointer cp = {&ck_ops, s};
    struct processor p = {0};
    struct err e = {0};
    s->pg = PQconnectdb(getenv("COORD_DSN"));
    s->rc = router_create_processor(s->r, s->id, -1, &p, &e);
    if (s->rc == 0) s->rc = p.ops->initialize(&p, s->id, "TRIM_HORIZON", 0, &e);
    struct proc_record *v = xcalloc(BATCH, sizeof *v);
    char (*seqs)[32] = xcalloc(BATCH, sizeof *seqs);
    /* sequence numbers counted up in decimal text (what a consumer hands
     * over), without a printf per record in the timed loop */
    char seq[32];
    snprintf(seq, sizeof seq, "4960%020" PRIu64, (uint64_t)1000000);
    size_t seqlen = strlen(seq);
    int64_t arrival = INT64_C(1795435200000);
    for (int pass = 0; pass < s->passes && s->rc == 0; pass++)
        for (size_t i = 0; i < s->c.n && s->rc == 0; i += BATCH) {
            size_t k = s->c.n - i < BATCH ? s->c.n - i : BATCH;
            for (size_t j = 0; j < k; j++) {
                memcpy(seqs[j], seq, seqlen + 1);
                for (size_t d = seqlen; d-- > 0 && ++seq[d] > '9';) seq[d] = '0';
                v[j] = (struct proc_record){.data = s->c.data + s->c.off[i + j],
                                            .len = corpus_rec_len(&s->c, i + j),
                                            .seq = seqs[j], .arrival_ms = arrival++};
            }
            struct proc_batch b = {v, k, 0};
            s->rc = p.ops->process_records(&p, &b, &cp, &e);
        }
    s->fed_s = now_s();
    sched_times(&s->run_ns, &s->wait_ns);
    if (s->rc == 0) s->rc = p.ops->shutdown_requested(&p, &cp, &e);
    if (s->rc) fprintf(stderr, "bench_router: shard %s: %s\n", s->id, e.msg);
    processor_free(&p);
    free(v);
    free(seqs);
    PQfinish(s->pg);
    return NULL;
}

/* ---- raw gz beside it ---- */

struct gzjob {
    const struct corpus *c;
    int level, passes;
    size_t out;
    double cpu;          /* thread CPU seconds */
};

static void *gz_main(void *arg)
{
    struct gzjob *j = arg;
    pthread_setname_np(pthread_self(), "bench-rawgz");
    struct gz *g;
    struct buf out;
    if (gz_new(j->level, &g)) return NULL;
    buf_init(&out, (size_t)1 << 30);
    size_t member = 0; /* raw bytes in the current member */
    for (int pass = 0; pass < j->passes; pass++) {
        for (size_t pos = 0; pos < j->c->len;) {
            size_t k = j->c->len - pos < 65536 ? j->c->len - pos : 65536;
            if (gz_write(g, j->c->data + pos, k, &out)) break;
            pos += k;
            member += k;
            if (member >= (16u << 20)) { /* as the router (buffer_bytes): 16 MiB raw */
                gz_finish(g, &out);
                j->out += out.len;
                buf_reset(&out);
                gz_reset(g);
                member = 0;
            }
        }
    }
    gz_finish(g, &out);
    j->out += out.len;
    j->cpu = thread_cpu_s();
    gz_free(g);
    buf_free(&out);
    return NULL;
}


/* ---- a sink that is not the bottleneck: an in-process loopback S3 ---- */

/* Answers S3 PUT / multipart requests on 127.0.0.1 and throws the bodies
 * away: one thread per connection (the uploader keeps a few alive).  Its
 * CPU is counted in this process; it is small beside the router's. */
struct nullsink {
    int fd;
    int port;
    _Atomic uint64_t requests, bytes;
};

static const char *find_hdr(const char *h, size_t n, const char *name)
{
    size_t k = strlen(name);
    for (const char *p = h; p + k < h + n; p++)
        if ((p == h || p[-1] == '\n') && strncasecmp(p, name, k) == 0 && p[k] == ':') return p + k + 1;
    return NULL;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

struct nullconn {
    struct nullsink *s;
    int fd;
};

static void *nullconn_main(void *arg)
{
    struct nullconn *c = arg;
    pthread_setname_np(pthread_self(), "bench-sink");
    enum { CAP = 256 * 1024 };
    char *b = xmalloc(CAP + 1);
    size_t len = 0;
    uint64_t upload_id = 0;
    for (;;) {
        char *end = NULL;
        while (!(end = len ? memmem(b, len, "\r\n\r\n", 4) : NULL)) {
            if (len == CAP) goto out;
            ssize_t r = recv(c->fd, b + len, CAP - len, 0);
            if (r <= 0) goto out;
            len += (size_t)r;
        }
        size_t hlen = (size_t)(end + 4 - b);
        b[hlen - 1] = 0;
        const char *v = find_hdr(b, hlen, "content-length");
        unsigned long long body = v ? strtoull(v, NULL, 10) : 0;
        bool post = strncmp(b, "POST ", 5) == 0, put = strncmp(b, "PUT ", 4) == 0;
        const char *line_end = memchr(b, '\n', hlen);
        bool uploads = line_end && memmem(b, (size_t)(line_end - b), "?uploads", 8);
        bool complete = post && line_end && memmem(b, (size_t)(line_end - b), "uploadId=", 9);
        if (find_hdr(b, hlen, "expect") && send_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25)) goto out;
        /* the body: whatever came with the headers, then the rest */
        size_t have = len - hlen;
        if (have >= body) {
            memmove(b, b + hlen + body, have - body);
            len = have - body;
        } else {
            unsigned long long left = body - have;
            len = 0;
            while (left) {
                /* MSG_TRUNC: TCP drops the bytes without copying them out (a
                 * remote S3's receive costs nothing on these cores) */
                ssize_t r = recv(c->fd, NULL, left < ((size_t)1 << 30) ? (size_t)left : (size_t)1 << 30,
                                 MSG_TRUNC);
                if (r <= 0) goto out;
                left -= (unsigned long long)r;
            }
        }
        atomic_fetch_add(&c->s->requests, 1);
        atomic_fetch_add(&c->s->bytes, body);
        char rep[512];
        int n;
        if (post && uploads)
            n = snprintf(rep, sizeof rep, "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
                         "Content-Length: %zu\r\n\r\n<InitiateMultipartUploadResult><UploadId>u%06" PRIu64
                         "</UploadId></InitiateMultipartUploadResult>",
                         sizeof "<InitiateMultipartUploadResult><UploadId>u000000</UploadId>"
                                "</InitiateMultipartUploadResult>" - 1, upload_id++ % 1000000);
        else if (complete)
            n = snprintf(rep, sizeof rep, "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
                         "Content-Length: %zu\r\n\r\n%s",
                         sizeof "<CompleteMultipartUploadResult><ETag>\"e\"</ETag>"
                                "</CompleteMultipartUploadResult>" - 1,
                         "<CompleteMultipartUploadResult><ETag>\"e\"</ETag>"
                         "</CompleteMultipartUploadResult>");
        else if (put)
            n = snprintf(rep, sizeof rep, "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: 0\r\n\r\n");
        else
            n = snprintf(rep, sizeof rep, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        if (n < 0 || send_all(c->fd, rep, (size_t)n)) goto out;
    }
out:
    close(c->fd);
    free(b);
    free(c);
    return NULL;
}

static void *nullsink_main(void *arg)
{
    struct nullsink *s = arg;
    for (;;) {
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0) return NULL;
        struct nullconn *c = xmalloc(sizeof *c);
        *c = (struct nullconn){s, fd};
        pthread_t t;
        if (pthread_create(&t, NULL, nullconn_main, c) == 0) pthread_detach(t);
        else close(fd), free(c);
    }
}

static int nullsink_start(struct nullsink *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) || listen(s->fd, 64) ||
        getsockname(s->fd, (struct sockaddr *)&a, &al))
        return -1;
    s->port = ntohs(a.sin_port);
    pthread_t t;
    if (pthread_create(&t, NULL, nullsink_main, s)) return -1;
    pthread_detach(t);
    return 0;
}

/* ---- setup ---- */

static void sql(const char *q)
{
    PGconn *pg = PQconnectdb(env_or_die("COORD_DSN"));
    PGresult *r = PQexec(pg, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "bench_router: %s: %s", q, PQerrorMessage(pg));
    PQclear(r);
    PQfinish(pg);
}

static void load_config(struct lf_config *c, const char *schema, const char *app, const char *prefix,
                        const char *endpoint)
{
    char *types = bench_types30("bench_router");
    char *text = xasprintf(
        "app = \"%s\";\ncoord: { dsn = \"%s\"; schema = \"%s\"; };\n"
        "aws: { region = \"%s\"; access_key_id = \"%s\"; secret_access_key = \"%s\";"
        " imds_disabled = true; };\n"
        "s3: { endpoint = \"%s\"; bucket = \"%s\"; prefix = \"%s\";"
        " payload_signing = \"unsigned\"; };\n"
        "kinesis: { stream = \"bench\"; };\n%s",
        app, env_or_die("COORD_DSN"), schema, env_or_die("AWS_REGION"),
        env_or_die("AWS_ACCESS_KEY_ID"), env_or_die("AWS_SECRET_ACCESS_KEY"),
        endpoint, env_or_die("BUCKET"), prefix, types);
    struct err e = {0};
    if (config_load_string(text, "bench.conf", c, &e)) {
        fprintf(stderr, "bench_router: config: %s\n", e.msg);
        exit(2);
    }
    free(text);
    free(types);
}

/* One measurement: raw gz of the corpus on two threads, then the router on
 * two shards uploading to `endpoint`; prints the figures under `label`.
 * 0 if every record was ledgered and checkpointed. */
static int run_one(const char *label, const char *endpoint, bool stack_sink, struct corpus *cs,
                   size_t mib, int passes, double *pct_wall, double *pct_cpu)
{
    unsigned char rnd[4];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) return 1;
    char schema[32], app[32], prefix[32];
    snprintf(schema, sizeof schema, "rb_%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    snprintf(app, sizeof app, "bench_%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    snprintf(prefix, sizeof prefix, "bench-%02x%02x%02x%02x/", rnd[0], rnd[1], rnd[2], rnd[3]);
    struct err e = {0};
    if (lease_migrate(env_or_die("COORD_DSN"), schema, &e)) {
        fprintf(stderr, "bench_router: migrate: %s\n", e.msg);
        return 1;
    }
    struct lf_config cfg = {0};
    load_config(&cfg, schema, app, prefix, endpoint);
    struct shard sh[2] = {{.id = "shardId-000000000000"}, {.id = "shardId-000000000001"}};
    for (int i = 0; i < 2; i++) {
        char *q = xasprintf("INSERT INTO %s.leases (app, lease_key, lease_owner, checkpoint)"
                            " VALUES ('%s', '%s', 'bench', 'TRIM_HORIZON')", schema, app, sh[i].id);
        sql(q);
        free(q);
        sh[i].c = cs[i];
        sh[i].schema = schema, sh[i].app = app, sh[i].passes = passes;
    }
    double mb = (double)(sh[0].c.len + sh[1].c.len) * passes / (1 << 20);
    size_t recs = (sh[0].c.n + sh[1].c.n) * (size_t)passes;
    printf("\n-- %s (%s)\n", label, endpoint);
    printf("2 shards x %zu MiB x %d passes = %.0f MiB, %zu records (avg %.0f B), "
           "gz %s level %d, %d upload threads, buffer %d MiB, memory limit %lld MiB, "
           "payload %s\n",
           mib, passes, mb, recs, mb * 1048576 / (double)recs, gz_backend(), cfg.router.gzip_level,
           cfg.router.upload_threads, cfg.router.buffer_bytes >> 20,
           (long long)(cfg.router.memory_limit_bytes >> 20),
           lf_s3_unsigned_payload(&cfg) ? "unsigned + CRC-32" : "signed (SHA-256)");

    /* raw gz on the same two cores, same bytes, same level, just before */
    struct gzjob gj[2] = {{&sh[0].c, cfg.router.gzip_level, passes, 0, 0},
                          {&sh[1].c, cfg.router.gzip_level, passes, 0, 0}};
    pthread_t t[2];
    double t0 = now_s();
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, gz_main, &gj[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    double gz_s = now_s() - t0;

    struct router *r;
    if (router_new(&cfg, "bench", &r, &e)) {
        fprintf(stderr, "bench_router: router_new: %s\n", e.msg);
        return 1;
    }
    double c0 = cpu_s(), s0 = stack_cpu_s();
    t0 = now_s();
    for (int i = 0; i < 2; i++) {
        sh[i].r = r;
        pthread_create(&t[i], NULL, shard_main, &sh[i]);
    }
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    double router_s = now_s() - t0, cpu = cpu_s() - c0, s3cpu = stack_cpu_s() - s0;
    struct router_stats st;
    router_stats(r, &st);
    router_free(r);

    printf("raw gz %s -1, 2 threads   %8.1f MiB/s  ratio %.2f\n", gz_backend(), mb / gz_s,
           (double)(sh[0].c.len + sh[1].c.len) * passes / (double)(gj[0].out + gj[1].out));
    printf("router, 2 shards           %8.1f MiB/s  %8.0f records/s  ratio %.2f  (%s)\n",
           mb / router_s, (double)recs / router_s, (double)st.bytes_in / (double)st.bytes_out,
           sh[0].rc || sh[1].rc ? "FAILED" : "all ledgered + checkpointed");
    printf("feeding took %.2f / %.2f s (shards), the final flush + uploads + ledger %.2f s\n",
           sh[0].fed_s - t0, sh[1].fed_s - t0, router_s - (sh[0].fed_s > sh[1].fed_s ? sh[0].fed_s : sh[1].fed_s) + t0);
    for (int i = 0; i < 2; i++)
        printf("shard %d thread: %.2f s on CPU, %.2f s waiting for a CPU, %.2f s blocked\n", i,
               sh[i].run_ns / 1e9, sh[i].wait_ns / 1e9,
               sh[i].fed_s - t0 - (sh[i].run_ns + sh[i].wait_ns) / 1e9);
    *pct_wall = 100.0 * gz_s / router_s;
    printf("router / raw gz = %.0f%% by wall clock [%s] (target >= 60%%)\n", *pct_wall, label);
    double gz_mb_cpu = mb / (gj[0].cpu + gj[1].cpu);
    double feed_cpu = (sh[0].run_ns + sh[1].run_ns) / 1e9;
    *pct_cpu = 100.0 * mb / cpu / gz_mb_cpu;
    printf("per CPU-second: raw gz %.0f MiB, router shard threads %.0f MiB (%.0f%%), whole process"
           " %.0f MiB (%.0f%%)\n",
           gz_mb_cpu, mb / feed_cpu, 100.0 * mb / feed_cpu / gz_mb_cpu, mb / cpu,
           100.0 * mb / cpu / gz_mb_cpu);
    if (stack_sink)
        printf("CPU %.1f s for %.1f s wall: %.0f records per CPU-second (logfleet's process);"
               " the S3 stand-in (node s3rver + SigV4 proxy) used %.1f CPU-s of the same 2 cores\n",
               cpu, router_s, (double)recs / cpu, s0 >= 0 ? s3cpu : -1.0);
    else
        printf("CPU %.1f s for %.1f s wall: %.0f records per CPU-second (logfleet's process,"
               " the in-process sink included)\n", cpu, router_s, (double)recs / cpu);
    printf("objects %" PRIu64 " (multipart %" PRIu64 "), upload retries %" PRIu64
           ", checkpoints %" PRIu64 ", memory-budget pauses %" PRIu64 " (%" PRIu64 " ms), "
           "budget peak %.1f MiB\n",
           st.objects_ledgered, st.objects_multipart, st.upload_retries,
           sh[0].checkpoints + sh[1].checkpoints, st.pauses, st.paused_ms,
           st.mem_peak / 1048576.0);
    char *q = xasprintf("DROP SCHEMA %s CASCADE", schema);
    sql(q);
    free(q);
    config_free(&cfg);
    return sh[0].rc || sh[1].rc;
}

#define MAX_REPS 15

/* One sink's figures over the repetitions. */
struct reps {
    int n;
    double wall[MAX_REPS], cpu[MAX_REPS];
};

static void print_reps(const char *what, struct reps *r)
{
    double w = bench_median(r->wall, r->n), c = bench_median(r->cpu, r->n);
    printf("\n  %s:\n    by wall clock %.0f%% [%.0f-%.0f]; per CPU-second (whole process) %.0f%%"
           " [%.0f-%.0f]", what, w, r->wall[0], r->wall[r->n - 1], c, r->cpu[0], r->cpu[r->n - 1]);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 32;
    int passes = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 16;
    const char *mode = argc > 3 ? argv[3] : "both";
    int reps = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 5;
    bool via_proxy = strcmp(mode, "both") == 0 || strcmp(mode, "proxy") == 0;
    bool via_null = strcmp(mode, "both") == 0 || strcmp(mode, "sink") == 0;
    if (mib == 0 || mib > 1024 || passes < 1 || passes > 100 || (!via_proxy && !via_null) ||
        reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "usage: %s [MiB-per-shard 1..1024] [passes 1..100] [both|proxy|sink]"
                        " [repetitions 1..%d]\n", argv[0], MAX_REPS);
        return 2;
    }
    log_set_level(LOG_WARN);
    struct corpus cs[2];
    for (int i = 0; i < 2; i++)
        corpus_make(&cs[i], mib << 20, 20261122 + (uint64_t)i, INT64_C(1795435200000));
    double corpus_mb = (double)(cs[0].len + cs[1].len) / (1 << 20);
    printf("bench_router: %d cores; source in memory (never the bottleneck)\n",
           (int)sysconf(_SC_NPROCESSORS_ONLN));
    int rc = 0;
    struct reps proxy = {0}, null = {0};
    static struct nullsink ns;
    char url[64];
    if (via_null) {
        if (nullsink_start(&ns)) {
            perror("bench_router: loopback sink");
            return 1;
        }
        snprintf(url, sizeof url, "http://127.0.0.1:%d", ns.port);
    }
    /* alternating, so both see the same drift of a shared machine */
    for (int k = 0; k < reps; k++) {
        if (via_proxy)
            rc |= run_one("local S3 stand-in via proxy", env_or_die("S3_ENDPOINT"), true, cs, mib,
                          passes, &proxy.wall[proxy.n], &proxy.cpu[proxy.n]), proxy.n++;
        if (via_null)
            rc |= run_one("non-bottleneck sink", url, false, cs, mib, passes, &null.wall[null.n],
                          &null.cpu[null.n]), null.n++;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("\nsummary (median of %d runs each, range in brackets): router / raw igzip -1 on the"
           " same 2 cores", reps);
    if (null.n)
        print_reps("to a non-bottleneck sink (in-process loopback PUT, bodies discarded; ledger +"
                   " checkpoints real)", &null);
    if (proxy.n)
        print_reps("via the local S3 stand-in (node s3rver + SigV4 proxy, sharing the cores)",
                   &proxy);
    printf("\npeak RSS %.1f MiB (of which the in-memory source corpus %.1f MiB; target <= 256)\n",
           ru.ru_maxrss / 1024.0, corpus_mb);
    for (int i = 0; i < 2; i++) {
        corpus_free(&cs[i]);
    }
    return rc;
}
