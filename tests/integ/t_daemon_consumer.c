/* t_daemon_consumer.c — one shard consumer (worker/consumer.c) against a
 * scripted Kinesis (fakehttp) and a recording in-process processor, with
 * its lease in the real coordination table: resuming inside a KPL
 * aggregate, a corrupt aggregate delivered as a plain record, a new
 * iterator after ExpiredIteratorException, backoff after throttling,
 * GetRecords pacing, the shard's end (child lease, SHARD_END, release),
 * restart from the checkpoint after a processor failure, release after
 * repeated start failures, and a fenced-out checkpoint ending in leaseLost. */
#include "tests/integ/fakehttp.h"
#include "tests/integ/t_lease_fix.h"
#include "tests/t.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "worker/consumer.h"
#include "worker/kpl.h"

#define SHARD "shardId-000000000000"
#define S1 "49590338271490256608559692538361571095921575989136588801"
#define S2 "49590338271490256608559692538361571095921575989136588802"
#define S3 "49590338271490256608559692538361571095921575989136588803"

/* ---- a recording processor --------------------------------------------- */

struct tshared {
    pthread_mutex_t mu;
    struct buf log;
    int creates;
    int fail_creates;        /* create fails this many times first */
    int fail_batch;          /* the first processor fails its n-th batch (1-based) */
};

struct tproc {
    struct tshared *sh;
    int id, batches;
};

static void note(struct tshared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct tshared *sh, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&sh->mu);
    buf_puts(&sh->log, line);
    pthread_mutex_unlock(&sh->mu);
}

static char *log_copy(struct tshared *sh)
{
    pthread_mutex_lock(&sh->mu);
    char *s = xstrdup(sh->log.data ? sh->log.data : "");
    pthread_mutex_unlock(&sh->mu);
    return s;
}

static int tp_init(struct processor *p, const char *shard, const char *seq, int64_t sub, struct err *e)
{
    (void)e;
    struct tproc *t = p->impl;
    note(t->sh, "init%d %s %s %lld\n", t->id, shard, seq, (long long)sub);
    return 0;
}

static int tp_records(struct processor *p, const struct proc_batch *b, struct checkpointer *cp,
                      struct err *e)
{
    struct tproc *t = p->impl;
    if (b->n == 0) return 0;
    t->batches++;
    for (size_t i = 0; i < b->n; i++)
        note(t->sh, "rec%d %s %lld %.*s\n", t->id, b->recs[i].seq, (long long)b->recs[i].subseq,
             (int)b->recs[i].len, (const char *)b->recs[i].data);
    if (t->id == 1 && t->batches == t->sh->fail_batch) {
        note(t->sh, "fail%d\n", t->id);
        return err_set(e, -EPIPE, ERR_RETRY, "test processor failed on purpose");
    }
    const struct proc_record *last = &b->recs[b->n - 1];
    enum ckpt_result r = cp->ops->checkpoint(cp, last->seq, last->subseq);
    note(t->sh, "ckpt%d %s %s\n", t->id, last->seq, r == CKPT_OK ? "ok" : ckpt_result_name(r));
    return 0;
}

static int tp_lost(struct processor *p, struct err *e)
{
    (void)e;
    struct tproc *t = p->impl;
    note(t->sh, "lost%d\n", t->id);
    return 0;
}

static int tp_ended(struct processor *p, struct checkpointer *cp, struct err *e)
{
    (void)e;
    struct tproc *t = p->impl;
    enum ckpt_result r = cp->ops->checkpoint(cp, NULL, 0);
    note(t->sh, "ended%d %s\n", t->id, r == CKPT_OK ? "ok" : ckpt_result_name(r));
    return 0;
}

static int tp_shutdown(struct processor *p, struct checkpointer *cp, struct err *e)
{
    (void)cp, (void)e;
    struct tproc *t = p->impl;
    note(t->sh, "shutdown%d\n", t->id);
    return 0;
}

static void tp_destroy(struct processor *p) { free(p->impl); }

static const struct processor_ops tp_ops = {"test", tp_init, tp_records, tp_lost, tp_ended,
                                            tp_shutdown, tp_destroy};

static int tp_create(void *ctx, const char *shard, int cancel_fd, struct processor *out, struct err *e)
{
    (void)shard, (void)cancel_fd;
    struct tshared *sh = ctx;
    pthread_mutex_lock(&sh->mu);
    int id = ++sh->creates;
    bool fail = id <= sh->fail_creates;
    pthread_mutex_unlock(&sh->mu);
    if (fail) return err_set(e, -ENOEXEC, ERR_PERMANENT, "test create %d refused", id);
    struct tproc *t = xcalloc(1, sizeof *t);
    t->sh = sh;
    t->id = id;
    *out = (struct processor){&tp_ops, t};
    return 0;
}

/* ---- a scripted Kinesis ---------------------------------------------------- */

struct kscript {
    pthread_mutex_t mu;
    int status[32];
    char *body[32];
    size_t n, next;
    int64_t t[64];           /* monotonic ms of each GetRecords */
    size_t nt;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends a GetRecords answer; served in order, then empty answers. */
static void script(struct kscript *k, int status, const char *body)
{
    pthread_mutex_lock(&k->mu);
    if (k->n < 32) {
        k->status[k->n] = status;
        k->body[k->n++] = xstrdup(body);
    }
    pthread_mutex_unlock(&k->mu);
}

static const char EMPTY[] = "{\"Records\":[],\"NextShardIterator\":\"it\",\"MillisBehindLatest\":0}";

static void kin_handler(const struct fakehttp_req *req, struct fakehttp_reply *rep, void *arg)
{
    struct kscript *k = arg;
    const char *target = fakehttp_header(req, "X-Amz-Target");
    rep->status = 200;
    rep->body_len = FAKEHTTP_STRLEN;
    if (target && strstr(target, "GetShardIterator")) {
        rep->body = "{\"ShardIterator\":\"it\"}";
        return;
    }
    if (!target || !strstr(target, "GetRecords")) {
        rep->body = "{\"Shards\":[]}";
        return;
    }
    pthread_mutex_lock(&k->mu);
    if (k->nt < 64) k->t[k->nt++] = mono_ms();
    rep->body = EMPTY;
    if (k->next < k->n) {
        rep->status = k->status[k->next];
        rep->body = k->body[k->next++];
    }
    pthread_mutex_unlock(&k->mu);
}

static void b64(const void *p, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *d = p;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
        out[o++] = a[v >> 18], out[o++] = a[(v >> 12) & 63], out[o++] = a[(v >> 6) & 63], out[o++] = a[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0);
        out[o++] = a[v >> 18], out[o++] = a[(v >> 12) & 63];
        out[o++] = i + 1 < n ? a[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = 0;
}

/* {"Data":...,"PartitionKey":"pk","SequenceNumber":seq,...} into b. */
static void rec_json(struct buf *b, const char *seq, const void *data, size_t n)
{
    char *enc = xmalloc(n * 2 + 8);
    b64(data, n, enc);
    buf_printf(b, "%s{\"Data\":\"%s\",\"PartitionKey\":\"pk\",\"SequenceNumber\":\"%s\","
                  "\"ApproximateArrivalTimestamp\":1700000000.5}",
               b->len && b->data[b->len - 1] == '}' ? "," : "", enc, seq);
    free(enc);
}

/* ---- fixture ------------------------------------------------------------------ */

struct cfix {
    struct fakehttp *fh;
    struct kscript ks;
    struct tshared sh;
    struct aws_creds_provider *cp;
    struct proc_factory factory;
    struct consumer_cfg cfg;
    struct lease_coord *lc;
    struct consumer *c;
};

static void cfix_open(struct cfix *x, const char *checkpoint, int64_t sub)
{
    memset(x, 0, sizeof *x);
    pthread_mutex_init(&x->ks.mu, NULL);
    pthread_mutex_init(&x->sh.mu, NULL);
    buf_init(&x->sh.log, 1 << 20);
    x->fh = fakehttp_start();
    ASSERT_TRUE(x->fh != NULL);
    fakehttp_set_handler(x->fh, kin_handler, &x->ks);
    struct aws_creds_opts co = {.access_key = "AK", .secret_key = "SK", .imds_disabled = 1};
    struct err e;
    err_clear(&e);
    ASSERT_OK(aws_creds_provider_new(&co, &x->cp, &e), e);
    x->factory = (struct proc_factory){"test", tp_create, NULL, &x->sh, false};
    x->cfg = (struct consumer_cfg){
        .stream = "s",
        .kin = {.region = "us-east-1", .endpoint = fakehttp_url(x->fh), .creds = x->cp,
                .timeout_ms = 3000, .max_attempts = 1, .retry_base_ms = 10, .retry_cap_ms = 50},
        .initial_position = "TRIM_HORIZON", .max_records = 100, .idle_ms = 0,
        .parent_poll_ms = 100, .task_backoff_ms = 50, .max_failures = 3, .factory = &x->factory};
    lt_schema();
    free(lt_q("INSERT INTO @.leases (app, lease_key, checkpoint, checkpoint_sub) VALUES ('%s', '%s', '%s', %lld)",
              LT_APP, SHARD, checkpoint, (long long)sub));
    x->lc = lt_coord(&(struct lt_opts){.worker = "w1", .duration_ms = 20000});
    ASSERT_OK(lease_take(x->lc, &e), e);
}

static void cfix_start(struct cfix *x)
{
    struct lease_info *v;
    size_t n;
    lease_held_snapshot(x->lc, &v, &n);
    ASSERT_TRUE(n == 1);
    struct err e;
    err_clear(&e);
    ASSERT_OK(consumer_start(&x->cfg, x->lc, &v[0], &x->c, &e), e);
    lease_info_free(v, n);
}

/* Waits for the consumer thread to end; false on timeout. */
static bool cfix_wait_done(struct cfix *x, int64_t ms)
{
    for (int64_t end = mono_ms() + ms; !consumer_done(x->c); lt_sleep_ms(20))
        if (mono_ms() > end) return false;
    return true;
}

static void cfix_close(struct cfix *x)
{
    if (x->c) {
        consumer_signal(x->c, CONSUMER_ABORT);
        cfix_wait_done(x, 10000);
        consumer_join(x->c);
    }
    lease_coord_free(x->lc);
    fakehttp_free(x->fh);
    aws_creds_provider_free(x->cp);
    for (size_t i = 0; i < x->ks.n; i++) free(x->ks.body[i]);
    buf_free(&x->sh.log);
    lt_drop();
}

static char *lease_col(const char *col)
{
    return lt_q("SELECT coalesce(%s::text, 'NULL') FROM @.leases WHERE app = '%s' AND lease_key = '%s'",
                col, LT_APP, SHARD);
}

/* ---- tests ---------------------------------------------------------------------- */

ITEST_T(daemon_consumer_kpl_resume_expired_iterator_pacing_and_shard_end, 60)
{
    struct cfix x;
    cfix_open(&x, S1, 1);
    /* 1: an aggregate of four at S1 (0 and 1 are checkpointed) and a plain record */
    struct kpl_record_in in[4] = {{"pk", NULL, "a0", 2}, {"pk", NULL, "a1", 2},
                                  {"pk", NULL, "a2", 2}, {"pk", NULL, "a3", 2}};
    struct buf agg, body;
    buf_init(&agg, 1 << 16);
    buf_init(&body, 1 << 20);
    struct err e;
    err_clear(&e);
    ASSERT_OK(kpl_aggregate(in, 4, &agg, &e), e);
    buf_puts(&body, "{\"Records\":[");
    rec_json(&body, S1, agg.data, agg.len);
    rec_json(&body, S2, "p2", 2);
    buf_puts(&body, "],\"NextShardIterator\":\"it\",\"MillisBehindLatest\":5}");
    script(&x.ks, 200, body.data);
    /* 2: the iterator expired: a new one AFTER_SEQUENCE_NUMBER S2 */
    script(&x.ks, 400, "{\"__type\":\"ExpiredIteratorException\",\"message\":\"expired\"}");
    /* 3: a corrupt aggregate (magic, then garbage) goes out as a plain record */
    static const char bad[] = "\xF3\x89\x9A\xC2 this is not a protobuf, nor an MD5";
    buf_reset(&body);
    buf_puts(&body, "{\"Records\":[");
    rec_json(&body, S3, bad, sizeof bad - 1);
    buf_puts(&body, "],\"NextShardIterator\":\"it\",\"MillisBehindLatest\":0}");
    script(&x.ks, 200, body.data);
    /* 4: throttled; then empty polls; then the end, with a child */
    script(&x.ks, 400, "{\"__type\":\"ProvisionedThroughputExceededException\",\"message\":\"slow\"}");
    for (int i = 0; i < 5; i++) script(&x.ks, 200, EMPTY);
    script(&x.ks, 200, "{\"Records\":[],\"MillisBehindLatest\":0,\"ChildShards\":[{\"ShardId\":"
                       "\"shardId-000000000001\",\"ParentShards\":[\"" SHARD "\"],\"HashKeyRange\":"
                       "{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"99\"}}]}");
    struct metrics_counter *corrupt = metrics_counter("logfleet_consumer_kpl_corrupt_total",
        "Corrupt KPL aggregates delivered as plain records.", NULL);
    uint64_t corrupt0 = metrics_counter_get(corrupt);

    cfix_start(&x);
    ASSERT_TRUE(cfix_wait_done(&x, 20000));
    char *log = log_copy(&x.sh);
    char want[2048];
    snprintf(want, sizeof want,
             "init1 " SHARD " " S1 " 1\n"
             "rec1 " S1 " 2 a2\nrec1 " S1 " 3 a3\nrec1 " S2 " 0 p2\nckpt1 " S2 " ok\n"
             "rec1 " S3 " 0 %s\nckpt1 " S3 " ok\n"
             "ended1 ok\n", bad);
    EXPECT_EQ_STR(log, want);
    free(log);
    EXPECT_EQ_INT(metrics_counter_get(corrupt) - corrupt0, 1);

    /* iterators: AT the checkpoint first, AFTER the last record on expiry */
    int iters = 0;
    for (size_t i = 0; i < fakehttp_count(x.fh); i++) {
        const struct fakehttp_req *q = fakehttp_req_at(x.fh, i);
        const char *t = fakehttp_header(q, "X-Amz-Target");
        if (!t || !strstr(t, "GetShardIterator")) continue;
        if (iters == 0) EXPECT_CONTAINS(q->body, "\"AT_SEQUENCE_NUMBER\",\"StartingSequenceNumber\":\"" S1 "\"");
        if (iters == 1) EXPECT_CONTAINS(q->body, "\"AFTER_SEQUENCE_NUMBER\",\"StartingSequenceNumber\":\"" S2 "\"");
        iters++;
    }
    EXPECT_EQ_INT(iters, 2);
    /* at most 5 GetRecords a second: 200 ms apart at least */
    EXPECT_EQ_INT(x.ks.nt, 10);
    for (size_t i = 1; i < x.ks.nt; i++) EXPECT_GE_INT(x.ks.t[i] - x.ks.t[i - 1], 190);

    /* the end: SHARD_END written, the lease released, the child created */
    char *cp = lease_col("checkpoint"), *owner = lease_col("lease_owner");
    EXPECT_EQ_STR(cp, "SHARD_END");
    EXPECT_EQ_STR(owner, "NULL");
    free(cp);
    free(owner);
    char *child = lt_q("SELECT checkpoint || ' ' || array_to_string(parent_keys, ',') FROM @.leases"
                       " WHERE app = '%s' AND lease_key = 'shardId-000000000001'", LT_APP);
    EXPECT_EQ_STR(child, "TRIM_HORIZON " SHARD);
    free(child);
    buf_free(&agg);
    buf_free(&body);
    cfix_close(&x);
}

ITEST_T(daemon_consumer_restarts_failed_processor_from_its_checkpoint, 60)
{
    struct cfix x;
    cfix_open(&x, "TRIM_HORIZON", 0);
    x.sh.fail_batch = 2;
    struct buf body;
    buf_init(&body, 1 << 16);
    const char *seqs[2] = {S1, S2}, *data[2] = {"r1", "r2"};
    for (int i = 0; i < 2; i++) {
        buf_reset(&body);
        buf_puts(&body, "{\"Records\":[");
        rec_json(&body, seqs[i], data[i], 2);
        buf_puts(&body, "],\"NextShardIterator\":\"it\",\"MillisBehindLatest\":0}");
        script(&x.ks, 200, body.data);
    }
    /* after the restart: AT_SEQUENCE_NUMBER S1 returns S1 again, then S2 */
    buf_reset(&body);
    buf_puts(&body, "{\"Records\":[");
    rec_json(&body, S1, "r1", 2);
    rec_json(&body, S2, "r2", 2);
    buf_puts(&body, "],\"NextShardIterator\":\"it\",\"MillisBehindLatest\":0}");
    script(&x.ks, 200, body.data);
    cfix_start(&x);
    char *log = NULL;
    for (int64_t end = mono_ms() + 10000; mono_ms() < end; lt_sleep_ms(50)) {
        free(log);
        log = log_copy(&x.sh);
        if (strstr(log, "ckpt2 " S2)) break;
    }
    EXPECT_EQ_STR(log, "init1 " SHARD " TRIM_HORIZON 0\n"
                       "rec1 " S1 " 0 r1\nckpt1 " S1 " ok\n"
                       "rec1 " S2 " 0 r2\nfail1\n"
                       "init2 " SHARD " " S1 " 0\n"
                       "rec2 " S2 " 0 r2\nckpt2 " S2 " ok\n");
    free(log);
    char *cp = lease_col("checkpoint");
    EXPECT_EQ_STR(cp, S2);
    free(cp);
    EXPECT_TRUE(!consumer_done(x.c));
    buf_free(&body);
    cfix_close(&x);
}

ITEST_T(daemon_consumer_releases_lease_after_repeated_start_failures, 30)
{
    struct cfix x;
    cfix_open(&x, "TRIM_HORIZON", 0);
    x.sh.fail_creates = 100;
    cfix_start(&x);
    ASSERT_TRUE(cfix_wait_done(&x, 10000));
    EXPECT_EQ_INT(x.sh.creates, 3); /* max_failures */
    char *owner = lease_col("lease_owner");
    EXPECT_EQ_STR(owner, "NULL");
    free(owner);
    cfix_close(&x);
}

ITEST_T(daemon_consumer_fenced_checkpoint_ends_in_lease_lost, 30)
{
    struct cfix x;
    cfix_open(&x, "TRIM_HORIZON", 0);
    struct buf body;
    buf_init(&body, 1 << 16);
    buf_puts(&body, "{\"Records\":[");
    rec_json(&body, S1, "r1", 2);
    buf_puts(&body, "],\"NextShardIterator\":\"it\",\"MillisBehindLatest\":0}");
    script(&x.ks, 200, body.data);
    cfix_start(&x);
    /* after r1, another worker takes the lease (not gracefully) */
    char *log = NULL;
    for (int64_t end = mono_ms() + 10000; mono_ms() < end; lt_sleep_ms(20)) {
        free(log);
        log = log_copy(&x.sh);
        if (strstr(log, "ckpt1 " S1)) break;
    }
    free(log);
    free(lt_q("UPDATE @.leases SET lease_owner = 'thief', lease_counter = lease_counter + 1"
              " WHERE app = '%s' AND lease_key = '%s'", LT_APP, SHARD));
    buf_reset(&body);
    buf_puts(&body, "{\"Records\":[");
    rec_json(&body, S2, "r2", 2);
    buf_puts(&body, "],\"NextShardIterator\":\"it\",\"MillisBehindLatest\":0}");
    script(&x.ks, 200, body.data);
    ASSERT_TRUE(cfix_wait_done(&x, 10000));
    log = log_copy(&x.sh);
    EXPECT_EQ_STR(log, "init1 " SHARD " TRIM_HORIZON 0\n"
                       "rec1 " S1 " 0 r1\nckpt1 " S1 " ok\n"
                       "rec1 " S2 " 0 r2\nckpt1 " S2 " ShutdownException\n"
                       "lost1\n");
    free(log);
    char *owner = lease_col("lease_owner"), *cp = lease_col("checkpoint");
    EXPECT_EQ_STR(owner, "thief");
    EXPECT_EQ_STR(cp, S1);
    free(owner);
    free(cp);
    buf_free(&body);
    cfix_close(&x);
}
