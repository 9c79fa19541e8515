/* consumer.c — one shard consumer thread (see consumer.h; reference/kcl.md
 * §A.7, §B.4–B.7).
 *
 * Life of a processor: create → initialize(checkpoint) → GetRecords loop →
 * one of shard end / stop request / failure.  The first GetRecords after
 * initialize starts AT_SEQUENCE_NUMBER of a numeric checkpoint and drops the
 * records at or below it (the KPL sub-records of the checkpointed aggregate
 * included), as KCL's IteratorBuilder + ProcessTask filter do; an expired
 * iterator is replaced AFTER_SEQUENCE_NUMBER of the last record fetched.
 * The stored checkpoint lives in the run's tracker across lives, so a new
 * processor after a failure starts from exactly what was last written.
 */
#include "worker/consumer.h"
#include "common/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/seq.h"
#include "checkpoint/tracker.h"
#include "common/kinesis.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "worker/kpl.h"

#define CALLS_PER_S 5.0                   /* Kinesis read calls per shard and second */
#define BYTES_PER_S (2.0 * 1024 * 1024)   /* read throughput per shard */
#define RETRY_BASE_MS 100                 /* GetRecords backoff after RETRY errors */
#define RETRY_CAP_MS 5000
#define STORE_TRIES 5                     /* coordination writes at a shard's end */
#define STORE_PAUSE_MS 200
#define CHILD_TRIES 5                     /* ListShards until a closed shard shows children */

struct consumer {
    pthread_t th;
    const struct consumer_cfg *cfg;
    struct lease_coord *lc;
    char *key;
    char token[33];
    char *start_seq;                      /* the lease's checkpoint when started */
    int64_t start_sub;
    size_t nparents;
    int wake_fd;                          /* readable once any stop is requested */
    int cancel_fd;                        /* readable once CONSUMER_ABORT is requested */
    atomic_int stop;                      /* enum consumer_stop; only raised */
    atomic_bool done, processing;
    atomic_int pgid;
};

/* Rate limiter: level refills at rate per second up to cap; may go negative. */
struct bucket {
    double level, rate, cap;
    int64_t t;
};

/* State of the consumer thread (touched by it alone). */
struct run {
    struct consumer *c;
    struct kin *kin;
    struct ckpt_tracker tr;               /* tr.last: the stored checkpoint */
    struct processor p;
    bool have_p;
    char *iter;                           /* NULL: open one (unless at_end) */
    bool at_end;                          /* the shard is fully read */
    char last_fetched[KIN_SEQ_MAX];       /* "" until this life fetched a record */
    char filter[KIN_SEQ_MAX];             /* drop records <= (filter, filter_sub) */
    int64_t filter_sub;
    bool filtering;
    int retry;                            /* GetRecords failures in a row */
    struct bucket calls, bytes;
    struct metrics_gauge *behind;
};

enum life { LIFE_END, LIFE_STOP, LIFE_FAIL };

static struct {
    struct metrics_counter *records, *bytes, *gets, *get_retry, *get_expired, *get_error;
    struct metrics_counter *kpl_corrupt, *proc_fail, *ckpt_ok, *ckpt_err, *released_failing;
    struct metrics_counter *lease_retry;
} M;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_init(void)
{
    M.records = metrics_counter("logfleet_consumer_records_total",
                                "Records handed to record processors.", NULL);
    M.bytes = metrics_counter("logfleet_consumer_bytes_total",
                              "Record payload bytes handed to record processors.", NULL);
    M.gets = metrics_counter("logfleet_consumer_getrecords_total", "GetRecords calls answered.", NULL);
#define GET_ERR "GetRecords/GetShardIterator failures by how they were handled."
    M.get_retry = metrics_counter("logfleet_consumer_getrecords_errors_total", GET_ERR, "class=retry");
    M.get_expired = metrics_counter("logfleet_consumer_getrecords_errors_total", GET_ERR, "class=expired_iterator");
    M.get_error = metrics_counter("logfleet_consumer_getrecords_errors_total", GET_ERR, "class=permanent");
    M.kpl_corrupt = metrics_counter("logfleet_consumer_kpl_corrupt_total",
                                    "Corrupt KPL aggregates delivered as plain records.", NULL);
    M.proc_fail = metrics_counter("logfleet_consumer_processor_failures_total",
                                  "Record processors that failed and were restarted.", NULL);
    M.ckpt_ok = metrics_counter("logfleet_consumer_checkpoints_total", "Checkpoints written.", NULL);
    M.ckpt_err = metrics_counter("logfleet_consumer_checkpoint_errors_total",
                                 "Checkpoints refused by the lease store.", NULL);
    M.released_failing = metrics_counter("logfleet_consumer_failing_releases_total",
                                         "Leases released after repeated processor failures.", NULL);
    M.lease_retry = metrics_counter("logfleet_consumer_lease_write_retries_total",
                                    "Lease releases, handoffs and child-lease writes retried.", NULL);
}

/* ---- time, stop and waits ----------------------------------------------- */

static enum consumer_stop stopping(const struct consumer *c)
{
    return (enum consumer_stop)atomic_load(&c->stop);
}

static bool fd_wait(int fd, int64_t ms)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int64_t end = clock_mono_ms() + (ms > 0 ? ms : 0);
    for (;;) {
        int64_t left = end - clock_mono_ms();
        int r = poll(&pf, 1, left > 0 ? (int)(left > 60000 ? 60000 : left) : 0);
        if (r > 0) return true;
        if ((r == 0 || errno != EINTR) && clock_mono_ms() >= end) return false;
    }
}

/* Sleeps ms unless a stop is (or becomes) requested; true if stopping. */
static bool nap(struct consumer *c, int64_t ms)
{
    if (stopping(c)) return true;
    fd_wait(c->wake_fd, ms);
    return stopping(c) != CONSUMER_RUN;
}

/* A short pause on the way out (only an abort cuts it). */
static void pause_out(struct consumer *c, int64_t ms) { fd_wait(c->cancel_fd, ms); }

static void bucket_init(struct bucket *b, double rate, double cap)
{
    *b = (struct bucket){cap, rate, cap, clock_mono_ms()};
}

/* Milliseconds until the level reaches need. */
static int64_t bucket_wait(struct bucket *b, double need)
{
    int64_t t = clock_mono_ms();
    b->level = fmin(b->cap, b->level + (double)(t - b->t) * b->rate / 1000.0);
    b->t = t;
    return b->level >= need ? 0 : (int64_t)ceil((need - b->level) * 1000.0 / b->rate);
}

/* ---- the lease ------------------------------------------------------------ */

/* Retries a coordination write that must happen on the way out. */
static void lease_out(struct run *r, int (*fn)(struct lease_coord *, const char *, struct err *),
                      const char *what)
{
    struct consumer *c = r->c;
    for (int i = 0; i < STORE_TRIES; i++) {
        struct err e = {0};
        int rc = fn(c->lc, c->key, &e);
        if (rc == 0) return;
        if (rc == LEASE_E_LOST) {
            log_info("consumer", "%s skipped shard=%s reason=\"%s\"", what, c->key, e.msg);
            return;
        }
        log_warn("consumer", "%s failed shard=%s try=%d err=\"%s\"", what, c->key, i + 1, e.msg);
        metrics_counter_inc(M.lease_retry);
        if (stopping(c) == CONSUMER_ABORT) return; /* lease_release_all at exit */
        pause_out(c, STORE_PAUSE_MS << i);
    }
}

static void release(struct run *r) { lease_out(r, lease_release, "release"); }
static void hand_on(struct run *r) { lease_out(r, lease_handoff_complete, "handoff"); }

/* The fenced checkpoint behind every processor's checkpointer. */
static enum ckpt_result checkpoint(struct checkpointer *cp, const char *seq, int64_t sub)
{
    struct run *r = cp->ctx;
    struct consumer *c = r->c;
    struct ckpt_target tg;
    enum ckpt_result res = ckpt_tracker_resolve(&r->tr, seq, sub, &tg);
    if (res != CKPT_OK || !tg.write || !tg.seq) return res;
    struct err e = {0};
    int rc = lease_checkpoint(c->lc, c->key, c->token, tg.seq, tg.sub, &e);
    if (rc == 0) {
        ckpt_tracker_advanced(&r->tr, &tg);
        metrics_counter_inc(M.ckpt_ok);
        return CKPT_OK;
    }
    metrics_counter_inc(M.ckpt_err);
    if (rc == LEASE_E_LOST) {
        log_info("consumer", "checkpoint refused shard=%s reason=lease_lost err=\"%s\"", c->key, e.msg);
        consumer_signal(c, CONSUMER_LOST);
        return CKPT_SHUTDOWN;
    }
    if (rc == LEASE_E_INVAL) return CKPT_ILLEGAL_ARGUMENT;
    log_warn("consumer", "checkpoint failed shard=%s class=%s err=\"%s\"", c->key,
             err_class_name(e.cls), e.msg);
    return e.cls == ERR_RETRY ? CKPT_THROTTLING : CKPT_DEPENDENCY;
}

static const struct checkpointer_ops checkpoint_ops = {checkpoint};

/* ---- reading the shard ---------------------------------------------------- */

static const char *stored(const struct run *r) { return r->tr.last ? r->tr.last : ""; }

/* Where this life starts reading (or goes on after an expired iterator). */
static void iter_from(struct run *r, struct kin_iter_from *f)
{
    const struct consumer_cfg *cfg = r->c->cfg;
    const char *cp = stored(r);
    memset(f, 0, sizeof *f);
    if (r->last_fetched[0]) {
        f->type = KIN_AFTER_SEQUENCE_NUMBER;
        f->seq = r->last_fetched;
    } else if (ckpt_seq_is_digits(cp)) {
        f->type = KIN_AT_SEQUENCE_NUMBER;
        f->seq = cp;
        strlcpy_(r->filter, cp, sizeof r->filter);
        r->filter_sub = r->tr.last_sub;
        r->filtering = true;
    } else if (!strcmp(cp, CKPT_SEQ_LATEST)) {
        f->type = KIN_LATEST;
    } else if (!strcmp(cp, CKPT_SEQ_AT_TIMESTAMP)) {
        f->type = KIN_AT_TIMESTAMP;
        f->timestamp = cfg->initial_timestamp_s;
    } else {
        f->type = KIN_TRIM_HORIZON;
    }
}

static int open_iterator(struct run *r, struct err *e)
{
    struct kin_iter_from f;
    iter_from(r, &f);
    free(r->iter);
    r->iter = NULL;
    int rc = kin_get_shard_iterator(r->kin, r->c->cfg->stream, r->c->key, &f, &r->iter, e);
    if (rc == 0 && !r->iter) r->at_end = true; /* a closed shard with nothing left */
    return rc;
}

/* Handles a failed GetShardIterator/GetRecords: counts, logs, waits. */
static void read_failed(struct run *r, const char *what, const struct err *e)
{
    struct consumer *c = r->c;
    if (e->code == KIN_E_EXPIRED_ITERATOR) {
        metrics_counter_inc(M.get_expired);
        log_info("consumer", "iterator expired shard=%s resume_after=%s", c->key,
                 r->last_fetched[0] ? r->last_fetched : stored(r));
        free(r->iter);
        r->iter = NULL;
        return;
    }
    bool retry = e->cls == ERR_RETRY;
    metrics_counter_inc(retry ? M.get_retry : M.get_error);
    int64_t wait = retry ? aws_backoff_ms(r->retry, RETRY_BASE_MS, RETRY_CAP_MS) + RETRY_BASE_MS
                         : c->cfg->task_backoff_ms;
    r->retry += r->retry < 16;
    if (retry) log_warn("consumer", "%s throttled or failed shard=%s wait_ms=%" PRId64 " err=\"%s\"",
                        what, c->key, wait, e->msg);
    else log_error("consumer", "%s failed shard=%s wait_ms=%" PRId64 " err=\"%s\"", what, c->key,
                   wait, e->msg);
    if (!retry) { /* start over from a fresh iterator */
        free(r->iter);
        r->iter = NULL;
    }
    nap(c, wait);
}

/* One paced GetRecords.  1: *out holds an answer (caller frees);
 * 0: nothing this time (already waited as needed). */
static int fetch(struct run *r, struct kin_records *out)
{
    struct consumer *c = r->c;
    int64_t w = bucket_wait(&r->calls, 1.0), wb = bucket_wait(&r->bytes, 0.0);
    if (wb > w) w = wb;
    if (w > 0 && nap(c, w)) return 0;
    struct err e = {0};
    if (!r->iter) {
        if (open_iterator(r, &e) < 0) {
            r->calls.level -= 1.0;
            read_failed(r, "GetShardIterator", &e);
            return 0;
        }
        if (!r->iter) return 0; /* at_end */
    }
    r->calls.level -= 1.0;
    if (kin_get_records(r->kin, r->iter, c->cfg->max_records, out, &e) < 0) {
        read_failed(r, "GetRecords", &e);
        return 0;
    }
    r->retry = 0;
    metrics_counter_inc(M.gets);
    for (size_t i = 0; i < out->n; i++) r->bytes.level -= (double)out->v[i].len;
    free(r->iter);
    r->iter = out->next_iterator ? xstrdup(out->next_iterator) : NULL;
    r->at_end = r->iter == NULL;
    if (out->millis_behind >= 0) metrics_gauge_set(r->behind, (double)out->millis_behind);
    return 1;
}

/* ---- batches -------------------------------------------------------------- */

struct batch {
    struct proc_record *v;
    size_t n, cap;
    struct kpl_result *kpl;               /* one per de-aggregated record */
    size_t nkpl;
    uint64_t bytes;
};

static void batch_add(struct run *r, struct batch *b, const struct kin_record *k, const void *data,
                      size_t len, const char *pk, int64_t subseq)
{
    if (r->filtering) {
        if (ckpt_seq_cmp(k->seq, subseq, r->filter, r->filter_sub) <= 0) return;
        r->filtering = false; /* records come in order: the rest is newer */
    }
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->v = xrealloc(b->v, b->cap * sizeof *b->v);
    }
    b->v[b->n++] = (struct proc_record){data, len, pk, k->seq, subseq, k->arrival_ms};
    b->bytes += len;
}

/* The processor's view of a GetRecords answer: KPL aggregates
 * de-aggregated (a corrupt one goes as a plain record, as KCL does), and
 * records at or below the starting checkpoint dropped. */
static void batch_build(struct run *r, const struct kin_records *kr, struct batch *b)
{
    memset(b, 0, sizeof *b);
    for (size_t i = 0; i < kr->n; i++) {
        const struct kin_record *k = &kr->v[i];
        if (kpl_is_aggregated(k->data, k->len)) {
            struct kpl_result res;
            struct err e = {0};
            if (kpl_deaggregate(k->data, k->len, &res, &e) == 0) {
                for (size_t j = 0; j < res.n; j++)
                    batch_add(r, b, k, res.recs[j].data, res.recs[j].len, res.recs[j].partition_key,
                              (int64_t)res.recs[j].subseq);
                b->kpl = xrealloc(b->kpl, (b->nkpl + 1) * sizeof *b->kpl);
                b->kpl[b->nkpl++] = res;
                continue;
            }
            metrics_counter_inc(M.kpl_corrupt);
            log_warn("consumer", "corrupt KPL aggregate delivered as a plain record shard=%s seq=%s "
                     "err=\"%s\"", r->c->key, k->seq, e.msg);
        }
        batch_add(r, b, k, k->data, k->len, k->partition_key, 0);
    }
}

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->nkpl; i++) kpl_result_free(&b->kpl[i]);
    free(b->kpl);
    free(b->v);
}

static void processor_failed(struct run *r, const char *what, const struct err *e)
{
    metrics_counter_inc(M.proc_fail);
    log_error("consumer", "processor failed shard=%s during=%s class=%s err=\"%s\"", r->c->key,
              what, err_class_name(e->cls), e->msg);
}

/* Hands one answer to the processor.  0, or <0 when the processor failed. */
static int deliver(struct run *r, const struct kin_records *kr, struct checkpointer *cp,
                   bool *progressed)
{
    struct consumer *c = r->c;
    struct batch b;
    batch_build(r, kr, &b);
    if (kr->n) strlcpy_(r->last_fetched, kr->v[kr->n - 1].seq, sizeof r->last_fetched);
    int rc = 0;
    if (b.n || c->cfg->factory->call_empty) {
        for (size_t i = 0; i < b.n; i++) ckpt_tracker_delivered(&r->tr, b.v[i].seq, b.v[i].subseq);
        struct proc_batch pb = {b.v, b.n, kr->millis_behind};
        struct err e = {0};
        rc = r->p.ops->process_records(&r->p, &pb, cp, &e);
        if (rc < 0) processor_failed(r, "processRecords", &e);
        else {
            *progressed = true;
            metrics_counter_add(M.records, b.n);
            metrics_counter_add(M.bytes, b.bytes);
            lease_add_bytes(c->lc, c->key, b.bytes);
        }
    }
    batch_free(&b);
    return rc;
}

/* ---- shard end -------------------------------------------------------------- */

struct kids {
    struct lease_shard *v;
    size_t n;
    struct kin_shard_list list;
};

static void kids_from_answer(const struct kin_records *kr, struct kids *k)
{
    k->v = xcalloc(kr->n_children + 1, sizeof *k->v);
    for (size_t i = 0; i < kr->n_children; i++) {
        const struct kin_child_shard *ch = &kr->children[i];
        k->v[k->n++] = (struct lease_shard){ch->id, ch->parents[0][0] ? ch->parents[0] : NULL,
                                            ch->parents[1][0] ? ch->parents[1] : NULL,
                                            ch->hash_start[0] ? ch->hash_start : NULL,
                                            ch->hash_end[0] ? ch->hash_end : NULL, false};
    }
}

/* ListShards until the shard's children show (they do once it is closed). */
static void kids_from_list(struct run *r, struct kids *k)
{
    struct consumer *c = r->c;
    for (int t = 0; t < CHILD_TRIES && !k->n; t++) {
        struct err e = {0};
        kin_shard_list_free(&k->list);
        free(k->v);
        k->v = NULL;
        if (kin_list_shards(r->kin, c->cfg->stream, 0, &k->list, &e) < 0)
            log_warn("consumer", "ListShards failed shard=%s err=\"%s\"", c->key, e.msg);
        k->v = xcalloc(k->list.n + 1, sizeof *k->v);
        for (size_t i = 0; i < k->list.n; i++) {
            const struct kin_shard *s = &k->list.v[i];
            if (strcmp(s->parent, c->key) && strcmp(s->adjacent_parent, c->key)) continue;
            k->v[k->n++] = (struct lease_shard){s->id, s->parent[0] ? s->parent : NULL,
                                                s->adjacent_parent[0] ? s->adjacent_parent : NULL,
                                                s->hash_start[0] ? s->hash_start : NULL,
                                                s->hash_end[0] ? s->hash_end : NULL, s->seq_end[0] != 0};
        }
        if (!k->n && t + 1 < CHILD_TRIES && nap(c, c->cfg->task_backoff_ms)) break;
    }
    if (!k->n) log_warn("consumer", "shard ended without children in ListShards shard=%s", c->key);
}

/* Creates the child leases (KCL's ShutdownTask).  0, or <0 (lease lost,
 * or the store kept failing: the next life tries again). */
static int record_children(struct run *r, const struct kin_records *kr)
{
    struct consumer *c = r->c;
    struct kids k = {0};
    if (kr && kr->n_children) kids_from_answer(kr, &k);
    else kids_from_list(r, &k);
    int rc = -1;
    for (int i = 0; i < STORE_TRIES && stopping(c) < CONSUMER_LOST; i++) {
        struct err e = {0};
        rc = lease_shard_ended(c->lc, c->key, k.v, k.n, &e);
        if (rc == 0) break;
        if (rc == LEASE_E_LOST) {
            log_info("consumer", "lease lost at shard end shard=%s", c->key);
            consumer_signal(c, CONSUMER_LOST);
            break;
        }
        log_warn("consumer", "recording children failed shard=%s try=%d err=\"%s\"", c->key, i + 1, e.msg);
        metrics_counter_inc(M.lease_retry);
        pause_out(c, STORE_PAUSE_MS << i);
    }
    if (rc == 0) log_info("consumer", "shard ended shard=%s children=%zu", c->key, k.n);
    free(k.v);
    kin_shard_list_free(&k.list);
    return rc;
}

/* The shard is fully read and delivered: children, shard_ended (the
 * processor checkpoints SHARD_END), release. */
static enum life finish_shard(struct run *r, const struct kin_records *kr, struct checkpointer *cp)
{
    struct consumer *c = r->c;
    if (record_children(r, kr) < 0) return stopping(c) ? LIFE_STOP : LIFE_FAIL;
    ckpt_tracker_shard_end(&r->tr);
    struct err e = {0};
    if (r->p.ops->shard_ended(&r->p, cp, &e) < 0) {
        processor_failed(r, "shardEnded", &e);
        return LIFE_FAIL;
    }
    if (strcmp(stored(r), CKPT_SEQ_SHARD_END)) {
        err_set(&e, -EPROTO, ERR_RETRY, "shard_ended returned without a SHARD_END checkpoint");
        processor_failed(r, "shardEnded", &e);
        return LIFE_FAIL;
    }
    return LIFE_END;
}

/* ---- a processor's life ------------------------------------------------------ */

static void drop_processor(struct run *r)
{
    if (!r->have_p) return;
    processor_free(&r->p);
    r->have_p = false;
    atomic_store(&r->c->pgid, 0);
    atomic_store(&r->c->processing, false);
}

/* A stop request reached a live processor: tell it, as KCL does. */
static void stop_processor(struct run *r, struct checkpointer *cp)
{
    struct consumer *c = r->c;
    struct err e = {0};
    if (stopping(c) == CONSUMER_HANDOFF) {
        log_info("consumer", "shutdown requested shard=%s", c->key);
        if (r->p.ops->shutdown_requested(&r->p, cp, &e) < 0)
            log_warn("consumer", "shutdownRequested failed shard=%s err=\"%s\"", c->key, e.msg);
        if (stopping(c) == CONSUMER_HANDOFF) hand_on(r);
    }
    err_clear(&e);
    if (r->p.ops->lease_lost(&r->p, &e) < 0)
        log_info("consumer", "leaseLost not delivered shard=%s err=\"%s\"", c->key, e.msg);
    drop_processor(r);
}

/* Resets the per-life state; the tracker restarts at the stored checkpoint. */
static void life_reset(struct run *r)
{
    char *last = xstrdup(stored(r));
    int64_t sub = r->tr.last_sub;
    ckpt_tracker_free(&r->tr);
    ckpt_tracker_init(&r->tr, last, sub);
    free(last);
    free(r->iter);
    r->iter = NULL;
    r->at_end = false;
    r->last_fetched[0] = '\0';
    r->filtering = false;
    r->retry = 0;
}

static int start_processor(struct run *r)
{
    struct consumer *c = r->c;
    const struct proc_factory *f = c->cfg->factory;
    struct err e = {0};
    if (f->create(f->ctx, c->key, c->cancel_fd, &r->p, &e) < 0) {
        processor_failed(r, "create", &e);
        return -1;
    }
    r->have_p = true;
    if (r->p.ops->initialize(&r->p, c->key, stored(r), r->tr.last_sub, &e) < 0) {
        processor_failed(r, "initialize", &e);
        drop_processor(r);
        return -1;
    }
    if (f->child_pgid) atomic_store(&c->pgid, (int)f->child_pgid(f->ctx, &r->p));
    atomic_store(&c->processing, true);
    log_info("consumer", "processing shard=%s processor=%s from=%s sub=%" PRId64, c->key, f->name,
             stored(r), r->tr.last_sub);
    return 0;
}

static enum life one_life(struct run *r, bool *progressed)
{
    struct consumer *c = r->c;
    struct checkpointer cp = {&checkpoint_ops, r};
    life_reset(r);
    if (start_processor(r) < 0) return LIFE_FAIL;
    enum life res = LIFE_FAIL;
    for (;;) {
        if (stopping(c)) {
            stop_processor(r, &cp);
            return LIFE_STOP;
        }
        struct kin_records kr = {0};
        int got = r->at_end ? 0 : fetch(r, &kr);
        if (got && deliver(r, &kr, &cp, progressed) < 0) {
            kin_records_free(&kr);
            break;
        }
        if (r->at_end && !stopping(c)) {
            res = finish_shard(r, got ? &kr : NULL, &cp);
            kin_records_free(&kr);
            if (res == LIFE_STOP) continue; /* lease lost on the way: tell the processor */
            break;
        }
        if (got && kr.n == 0) nap(c, c->cfg->idle_ms);
        kin_records_free(&kr);
    }
    drop_processor(r);
    return res;
}

/* ---- the thread ------------------------------------------------------------- */

static int wait_parents(struct run *r)
{
    struct consumer *c = r->c;
    for (int round = 0; c->nparents; round++) {
        bool done = false;
        struct err e = {0};
        int rc = lease_parents_done(c->lc, c->key, &done, &e);
        if (rc == 0 && done) return 0;
        if (rc == LEASE_E_NOTFOUND) {
            log_warn("consumer", "lease row gone shard=%s", c->key);
            consumer_signal(c, CONSUMER_LOST);
            return -1;
        }
        if (rc < 0) log_warn("consumer", "parent check failed shard=%s err=\"%s\"", c->key, e.msg);
        else if (round == 0) log_info("consumer", "waiting for parents shard=%s", c->key);
        if (nap(c, c->cfg->parent_poll_ms)) return -1;
    }
    return 0;
}

static void run_lives(struct run *r)
{
    struct consumer *c = r->c;
    for (int fails = 0;;) {
        if (stopping(c)) break;
        if (!strcmp(stored(r), CKPT_SEQ_SHARD_END)) { /* a failure after the last checkpoint */
            release(r);
            return;
        }
        bool progressed = false;
        enum life res = one_life(r, &progressed);
        if (res == LIFE_END) release(r);
        if (res != LIFE_FAIL) return;
        fails = progressed ? 1 : fails + 1;
        if (fails >= c->cfg->max_failures) {
            metrics_counter_inc(M.released_failing);
            log_error("consumer", "releasing lease after repeated processor failures shard=%s "
                      "failures=%d", c->key, fails);
            release(r);
            return;
        }
        nap(c, c->cfg->task_backoff_ms);
    }
    if (stopping(c) == CONSUMER_HANDOFF) hand_on(r); /* no processor to tell */
}

static int open_kinesis(struct run *r)
{
    struct consumer *c = r->c;
    for (;;) {
        struct err e = {0};
        if (kin_new(&c->cfg->kin, &r->kin, &e) == 0) return 0;
        log_error("consumer", "kinesis client failed shard=%s err=\"%s\"", c->key, e.msg);
        if (nap(c, c->cfg->task_backoff_ms)) return -1;
    }
}

static void *consumer_main(void *arg)
{
    struct consumer *c = arg;
    struct run r = {.c = c};
    char labels[KIN_SHARD_ID_MAX + 8];
    snprintf(labels, sizeof labels, "shard=%s", c->key);
    r.behind = metrics_gauge("logfleet_consumer_millis_behind_latest",
                             "millisBehindLatest of the last GetRecords, per held shard.", labels);
    bucket_init(&r.calls, CALLS_PER_S, 1.0); /* no bursts: 200 ms apart */
    bucket_init(&r.bytes, BYTES_PER_S, BYTES_PER_S);
    ckpt_tracker_init(&r.tr, c->start_seq, c->start_sub);
    log_info("consumer", "started shard=%s checkpoint=%s", c->key, c->start_seq);
    if (!strcmp(c->start_seq, CKPT_SEQ_SHARD_END)) release(&r); /* finished before */
    else if (open_kinesis(&r) == 0 && wait_parents(&r) == 0) run_lives(&r);
    else if (stopping(c) == CONSUMER_HANDOFF) hand_on(&r);
    metrics_gauge_set(r.behind, 0);
    free(r.iter);
    kin_free(r.kin);
    log_info("consumer", "stopped shard=%s checkpoint=%s stop=%d", c->key, stored(&r),
             (int)stopping(c));
    ckpt_tracker_free(&r.tr);
    atomic_store(&c->done, true);
    return NULL;
}

/* ---- manager side -------------------------------------------------------------- */

int consumer_start(const struct consumer_cfg *cfg, struct lease_coord *lc,
                   const struct lease_info *li, struct consumer **out, struct err *e)
{
    pthread_once(&metrics_once, metrics_init);
    struct consumer *c = xcalloc(1, sizeof *c);
    c->cfg = cfg;
    c->lc = lc;
    c->key = xstrdup(li->key);
    memcpy(c->token, li->token, sizeof c->token);
    c->start_seq = xstrdup(li->checkpoint && *li->checkpoint ? li->checkpoint : cfg->initial_position);
    c->start_sub = li->checkpoint_sub;
    c->nparents = li->nparents;
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int rc = c->wake_fd < 0 || c->cancel_fd < 0 ? -errno : 0;
    if (rc == 0) rc = -pthread_create(&c->th, NULL, consumer_main, c);
    if (rc == 0) pthread_setname_np(c->th, "lf-shard");
    if (rc < 0) {
        err_set(e, rc, ERR_RETRY, "consumer %s: %s", li->key, strerror(-rc));
        if (c->wake_fd >= 0) close(c->wake_fd);
        if (c->cancel_fd >= 0) close(c->cancel_fd);
        free(c->key);
        free(c->start_seq);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void poke(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof one) < 0) {} /* EAGAIN: already readable */
}

void consumer_signal(struct consumer *c, enum consumer_stop s)
{
    int cur = atomic_load(&c->stop);
    while (cur < (int)s && !atomic_compare_exchange_weak(&c->stop, &cur, (int)s)) {}
    if (s > CONSUMER_RUN) poke(c->wake_fd);
    if (s == CONSUMER_ABORT) poke(c->cancel_fd);
}

bool consumer_done(const struct consumer *c) { return atomic_load(&c->done); }
bool consumer_processing(const struct consumer *c) { return atomic_load(&c->processing); }
const char *consumer_key(const struct consumer *c) { return c->key; }
const char *consumer_token(const struct consumer *c) { return c->token; }
pid_t consumer_child_pgid(const struct consumer *c) { return (pid_t)atomic_load(&c->pgid); }

void consumer_join(struct consumer *c)
{
    if (!c) return;
    pthread_join(c->th, NULL);
    close(c->wake_fd);
    close(c->cancel_fd);
    free(c->key);
    free(c->start_seq);
    free(c);
}
