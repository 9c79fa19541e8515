/* router.c — the router processor: per-shard buffers, safe checkpoints,
 * restart skips, memory backpressure; the shared struct router.
 *
 * A processor's state is touched only by its consumer thread; what it
 * shares with the upload threads goes through its upl_sink (completions)
 * and the uploader's atomic memory counter.  struct router's counters are
 * atomics; its control connection is guarded by ctl_mu.
 */
#include "worker/router.h"
#include "common/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "checkpoint/safe.h"
#include "checkpoint/seq.h"
#include "common/aws.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "sinks/buffer.h"
#include "sinks/deadletter.h"
#include "sinks/ledger.h"
#include "sinks/uploader.h"

#define SUB "router"
#define DEAD_KIND (-1)
#define CHARGE_BATCH (64 * 1024)   /* bytes charged to the budget at a time */
#define CKPT_INTERVAL_MS 1000      /* at most one checkpoint a second while running */
#define WAIT_SLICE_MS 100

_Static_assert(ROUTER_REASON_COUNT <= BUFFER_REASONS, "a dead-letter buffer counts every reason");

struct router {
    const struct lf_config *cfg;
    char *worker_id;
    struct router_rules *rules;
    struct aws_creds_provider *creds;
    struct uploader *up;
    const char *reason_names[ROUTER_REASON_COUNT];
    pthread_mutex_t ctl_mu;
    PGconn *ctl;
    _Atomic uint64_t pressure_gen;
    _Atomic uint64_t records_in, routed, dead, skipped, reordered, bytes_in, checkpoints, pauses;
    _Atomic uint64_t dead_by_reason[ROUTER_REASON_COUNT];
    struct metrics_counter **m_type;     /* records routed, per type */
    struct metrics_counter *m_reason[ROUTER_REASON_COUNT];
    struct metrics_counter *m_bytes_in, *m_skipped, *m_paused_ms, *m_pauses;
};

struct rproc {
    struct router *r;
    char *shard;
    struct buf shard_json;
    int cancel_fd;
    struct router_scratch *scratch;
    struct buffer_pool pool;
    struct buffer **open;             /* open buffers, any (kind, day) */
    size_t nopen, capopen;
    struct buffer **cur;              /* per kind + 1: the last buffer used */
    struct buffer **idle;             /* sealed buffers kept for reuse */
    size_t nidle, keep;               /* at most keep: one per kind */
    size_t stage_cap, line_max, out_max;
    struct ckpt_safe *safe;
    struct upl_sink *sink;
    struct ledger_skip *skip;
    char last_seq[BUFFER_SEQ_MAX];
    size_t last_len;
    int64_t last_sub;
    bool have_last, lost, initialized;
    int64_t charge;                   /* held bytes not yet charged (may be negative) */
    int64_t last_ckpt_ms;
    uint64_t pressure_seen;
    uint64_t *n_type;                 /* per type, per batch: records routed */
    uint64_t n_reason[ROUTER_REASON_COUNT];
    uint64_t n_skipped, n_reordered, n_bytes;
};

static void collect(struct rproc *p);

static bool cancelled_fd(int fd)
{
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLERR | POLLHUP));
}

/* ---- buffers ----------------------------------------------------------------- */

static size_t kind_slot(int kind) { return (size_t)(kind + 1); }

static struct buffer *find_open(struct rproc *p, int kind, int32_t day)
{
    struct buffer *b = p->cur[kind_slot(kind)];
    if (b && b->day == day) return b;
    for (size_t i = 0; i < p->nopen; i++)
        if (p->open[i]->type == kind && p->open[i]->day == day)
            return p->cur[kind_slot(kind)] = p->open[i];
    return NULL;
}

static struct buffer *open_buffer(struct rproc *p, int kind, int32_t day,
                                  const struct proc_record *rec, int64_t event_ms, int64_t now)
{
    struct buffer *b = p->nidle ? p->idle[--p->nidle]
                                : buffer_new(&p->pool, p->stage_cap, p->line_max, p->out_max,
                                             (size_t)p->r->cfg->router.buffer_bytes / 2);
    buffer_start(b, kind, day, rec->seq, rec->subseq, event_ms, now);
    b->track_id = ckpt_safe_open(p->safe, rec->seq, rec->subseq);
    if (p->nopen == p->capopen) {
        p->capopen = p->capopen ? p->capopen * 2 : 16;
        p->open = xrealloc(p->open, p->capopen * sizeof *p->open);
    }
    p->open[p->nopen++] = b;
    return p->cur[kind_slot(kind)] = b;
}

/* Takes b out of the open set (keeping it for reuse or freeing it). */
static void close_buffer(struct rproc *p, struct buffer *b)
{
    for (size_t i = 0; i < p->nopen; i++)
        if (p->open[i] == b) {
            p->open[i] = p->open[--p->nopen];
            break;
        }
    if (p->cur[kind_slot(b->type)] == b) p->cur[kind_slot(b->type)] = NULL;
    if (p->nidle < p->keep) p->idle[p->nidle++] = b;
    else buffer_free(b);
}

static void flush_charge(struct rproc *p)
{
    if (p->charge) uploader_mem_charge(p->r->up, p->charge);
    p->charge = 0;
}

/* ---- backpressure bookkeeping ----------------------------------------------------- */

/* A shard starts waiting (memory budget or upload queue): logged once. */
static void pause_begin(struct rproc *p, const char *why, int64_t *t0)
{
    if (*t0) return;
    *t0 = clock_mono_ms();
    log_info(SUB, "paused shard=%s reason=%s mem_used=%" PRId64 " limit=%" PRId64, p->shard, why,
             uploader_mem_used(p->r->up), uploader_mem_limit(p->r->up));
}

static void pause_end(struct rproc *p, int64_t t0)
{
    struct router *r = p->r;
    if (!t0) return;
    uint64_t ms = (uint64_t)(clock_mono_ms() - t0);
    uploader_note_paused(r->up, ms);
    atomic_fetch_add(&r->pauses, 1);
    metrics_counter_inc(r->m_pauses);
    metrics_counter_add(r->m_paused_ms, ms);
    log_info(SUB, "resumed shard=%s paused_ms=%" PRIu64, p->shard, ms);
}

/* Waits (interruptibly) for room in the upload queue. */
static int queue_room(struct rproc *p, struct err *e)
{
    int64_t t0 = 0;
    int rc = 0;
    while (rc == 0 && !uploader_queue_wait(p->r->up, WAIT_SLICE_MS)) {
        pause_begin(p, "upload_queue_full", &t0);
        collect(p);
        if (cancelled_fd(p->cancel_fd))
            rc = err_set(e, -ECANCELED, ERR_RETRY, "router: cancelled while the upload queue "
                         "is full shard=%s", p->shard);
    }
    pause_end(p, t0);
    return rc;
}

/* Seals b into an upload job.  A gzip failure loses the buffer's records
 * from memory: the processor must fail so they are read again. */
static int seal(struct rproc *p, struct buffer *b, struct err *e)
{
    struct router *r = p->r;
    int qrc = queue_room(p, e);
    if (qrc) return qrc;
    if (p->lost) return 0; /* collect() dropped the shard: b is gone with the rest */
    flush_charge(p);
    struct upl_job *j = uploader_job_new();
    int64_t held = b->charged;
    b->charged = 0;
    j->records = b->records;
    j->raw_bytes = b->raw_bytes;
    int rc = buffer_seal(b, &j->body);
    if (rc) {
        uploader_mem_charge(r->up, -held);
        uploader_job_free(j);
        close_buffer(p, b);
        return err_set(e, rc, ERR_PERMANENT, "router: gzip failed shard=%s rc=%d", p->shard, rc);
    }
    /* never more than was charged (buffer_held bounds the body) */
    uploader_mem_charge(r->up, (int64_t)j->body.len - held);
    j->dead = b->type == DEAD_KIND;
    j->log_type = j->dead ? DEADLETTER_TYPE : router_rules_type_name(r->rules, (size_t)b->type);
    j->day = b->day;
    j->first_event_ms = b->first_event_ms;
    memcpy(j->first_seq, b->first_seq, sizeof j->first_seq);
    memcpy(j->last_seq, b->last_seq, sizeof j->last_seq);
    j->first_sub = b->first_sub;
    j->last_sub = b->last_sub;
    memcpy(j->reasons, b->reasons, sizeof j->reasons);
    j->track_id = b->track_id;
    close_buffer(p, b);
    uploader_submit(r->up, p->sink, j);
    return 0;
}

static int seal_all(struct rproc *p, struct err *e)
{
    int rc = 0;
    while (p->nopen && rc == 0) rc = seal(p, p->open[p->nopen - 1], e);
    return rc;
}

static int seal_aged(struct rproc *p, int64_t now, struct err *e)
{
    int64_t age = p->r->cfg->router.buffer_age_ms;
    for (size_t i = p->nopen; i-- > 0;)
        if (i < p->nopen && now - p->open[i]->opened_ms >= age) {
            int rc = seal(p, p->open[i], e);
            if (rc) return rc;
        }
    return 0;
}

/* Drops every open buffer (lease lost): nothing of them is ever ledgered. */
static void discard_all(struct rproc *p)
{
    flush_charge(p);
    while (p->nopen) {
        struct buffer *b = p->open[p->nopen - 1];
        uploader_mem_charge(p->r->up, -b->charged);
        b->charged = 0;
        buffer_discard(b);
        close_buffer(p, b);
    }
}

static void lose(struct rproc *p, const char *why)
{
    if (p->lost) return;
    p->lost = true;
    uploader_sink_cancel(p->sink);
    discard_all(p);
    log_info(SUB, "shard dropped shard=%s reason=%s", p->shard, why);
}

/* ---- completions and checkpoints ------------------------------------------------ */

static void collect(struct rproc *p)
{
    struct upl_job *l = uploader_sink_take(p->sink);
    while (l) {
        struct upl_job *n = l->next;
        if (l->outcome == UPL_LEDGERED) ckpt_safe_done(p->safe, l->track_id);
        else if (!p->lost) lose(p, "object_not_ledgered");
        uploader_job_free(l);
        l = n;
    }
}

/* Checkpoints the safe position if it moved (and force or the interval
 * passed).  CKPT_SHUTDOWN: the lease is gone. */
static enum ckpt_result checkpoint(struct rproc *p, struct checkpointer *cp, bool force)
{
    const char *seq;
    int64_t sub;
    int64_t now = clock_mono_ms();
    if (p->lost || (!force && now - p->last_ckpt_ms < CKPT_INTERVAL_MS)) return CKPT_OK;
    if (!ckpt_safe_peek(p->safe, &seq, &sub)) return CKPT_OK;
    enum ckpt_result res = cp->ops->checkpoint(cp, seq, sub);
    if (res == CKPT_OK) {
        ckpt_safe_take(p->safe);
        p->last_ckpt_ms = now;
        atomic_fetch_add(&p->r->checkpoints, 1);
        log_debug(SUB, "checkpoint shard=%s seq=%s sub=%" PRId64, p->shard, seq, sub);
    } else if (res == CKPT_SHUTDOWN) {
        lose(p, "checkpoint_shutdown");
    } else {
        log_warn(SUB, "checkpoint failed shard=%s seq=%s result=%s", p->shard, seq,
                 ckpt_result_name(res));
    }
    return res;
}

/* ---- memory backpressure --------------------------------------------------------- */

/* Waits until `need` more bytes fit the budget, sealing this shard's buffers
 * first and asking the other shards to do the same.  -ECANCELED when the
 * consumer must give up. */
static int relieve(struct rproc *p, int64_t need, struct err *e)
{
    struct router *r = p->r;
    flush_charge(p);
    if (uploader_mem_fits(r->up, need)) return 0;
    int rc = seal_all(p, e);
    if (rc) return rc;
    p->pressure_seen = atomic_fetch_add(&r->pressure_gen, 1) + 1;
    int64_t t0 = 0;
    while (rc == 0 && !uploader_mem_wait(r->up, need, WAIT_SLICE_MS)) {
        pause_begin(p, "memory", &t0);
        collect(p);
        if (cancelled_fd(p->cancel_fd))
            rc = err_set(e, -ECANCELED, ERR_RETRY, "router: cancelled while paused shard=%s",
                         p->shard);
    }
    pause_end(p, t0);
    return rc;
}

/* ---- one record ---------------------------------------------------------------------- */

static size_t line_need(const struct rproc *p, const struct proc_record *rec, size_t seqlen,
                        int reason)
{
    if (reason) return deadletter_line_max(p->shard_json.len, seqlen, rec->len);
    return rec->len + p->shard_json.len + seqlen + 96;
}

/* A record already in a ledgered object: skipped.  The open buffer of its
 * (kind, day) is sealed first, so no object's range straddles a ledgered
 * one. */
static int skip_record(struct rproc *p, int kind, int32_t day, struct err *e)
{
    struct buffer *b = find_open(p, kind, day);
    p->n_skipped++;
    return b ? seal(p, b, e) : 0;
}

static int append(struct rproc *p, struct buffer *b, const struct proc_record *rec,
                  size_t seqlen, const struct router_route *rt)
{
    struct buf *st = buffer_stage(b);
    size_t before = st->len;
    int rc;
    if (rt->reason == ROUTER_OK) {
        struct router_lineage l = {p->shard_json.data, p->shard_json.len, rec->seq, rec->subseq,
                                   rec->arrival_ms, seqlen};
        rc = router_splice(st, rec->data, rec->len, rt, &l);
    } else {
        rc = deadletter_line(st, router_reason_name(rt->reason), p->shard, rec->seq, rec->subseq,
                             rec->arrival_ms, rec->data, rec->len);
        b->reasons[rt->reason]++;
    }
    if (rc) return rc;
    rc = buffer_added(b, rec->seq, rec->subseq, st->len - before);
    /* The budget counts what an open buffer holds (compressed bytes and
     * the bound of its staged lines), not the raw bytes it stands for. */
    int64_t held = (int64_t)buffer_held(b);
    p->charge += held - b->charged;
    b->charged = held;
    if (p->charge >= CHARGE_BATCH || p->charge <= -CHARGE_BATCH) flush_charge(p);
    return rc;
}

static void mark_last(struct rproc *p, const struct proc_record *rec, size_t seqlen)
{
    memcpy(p->last_seq, rec->seq, seqlen + 1);
    p->last_len = seqlen;
    p->last_sub = rec->subseq;
    p->have_last = true;
}

static int one_record(struct rproc *p, const struct proc_record *rec, int64_t now, struct err *e)
{
    struct router *r = p->r;
    size_t seqlen = rec->seq ? strnlen(rec->seq, BUFFER_SEQ_MAX) : 0;
    if (!rec->seq || seqlen >= BUFFER_SEQ_MAX || !ckpt_seq_is_digits(rec->seq) || rec->subseq < 0)
        return err_set(e, -EINVAL, ERR_PERMANENT, "router: bad sequence number \"%.40s\" shard=%s",
                       rec->seq ? rec->seq : "(null)", p->shard);
    if (p->have_last &&
        ckpt_seq_cmp_digits(rec->seq, seqlen, rec->subseq, p->last_seq, p->last_len, p->last_sub) <= 0) {
        p->n_reordered++;
        return 0;
    }
    struct router_route rt;
    router_route(r->rules, p->scratch, rec->data, rec->len, rec->arrival_ms, &rt);
    int kind = rt.reason ? DEAD_KIND : rt.type, rc;
    if (p->skip && ledger_skip_contains(p->skip, kind, rt.day, rec->seq, rec->subseq)) {
        rc = skip_record(p, kind, rt.day, e);
        if (rc == 0) mark_last(p, rec, seqlen);
        return rc;
    }
    int64_t need = (int64_t)buffer_append_bound(&p->pool, line_need(p, rec, seqlen, rt.reason));
    if (!uploader_mem_fits(r->up, need + p->charge) && (rc = relieve(p, need, e)) != 0) return rc;
    struct buffer *b = find_open(p, kind, rt.day);
    if (!b) b = open_buffer(p, kind, rt.day, rec, rt.event_ms, now);
    if ((rc = append(p, b, rec, seqlen, &rt)) != 0)
        return err_set(e, rc, ERR_PERMANENT, "router: buffer append failed shard=%s rc=%d",
                       p->shard, rc);
    mark_last(p, rec, seqlen);
    if (rt.reason) p->n_reason[rt.reason]++;
    else p->n_type[rt.type]++;
    if (b->raw_bytes >= (uint64_t)r->cfg->router.buffer_bytes) return seal(p, b, e);
    return 0;
}

/* Adds the batch's per-type and per-reason counts to the shared statistics. */
static void publish_counts(struct rproc *p, size_t n)
{
    struct router *r = p->r;
    size_t nt = router_rules_ntypes(r->rules);
    uint64_t routed = 0, dead = 0;
    for (size_t i = 0; i < nt; i++)
        if (p->n_type[i]) {
            metrics_counter_add(r->m_type[i], p->n_type[i]);
            routed += p->n_type[i];
            p->n_type[i] = 0;
        }
    for (int i = 1; i < ROUTER_REASON_COUNT; i++)
        if (p->n_reason[i]) {
            metrics_counter_add(r->m_reason[i], p->n_reason[i]);
            atomic_fetch_add(&r->dead_by_reason[i], p->n_reason[i]);
            dead += p->n_reason[i];
            p->n_reason[i] = 0;
        }
    atomic_fetch_add(&r->records_in, n);
    atomic_fetch_add(&r->routed, routed);
    atomic_fetch_add(&r->dead, dead);
    atomic_fetch_add(&r->skipped, p->n_skipped);
    atomic_fetch_add(&r->reordered, p->n_reordered);
    atomic_fetch_add(&r->bytes_in, p->n_bytes);
    metrics_counter_add(r->m_skipped, p->n_skipped);
    metrics_counter_add(r->m_bytes_in, p->n_bytes);
    p->n_skipped = p->n_reordered = p->n_bytes = 0;
}

/* ---- the processor ---------------------------------------------------------------- */

static int kind_of_span(void *ctx, const struct ledger_span *s)
{
    struct router *r = ctx;
    if (s->dead) return DEAD_KIND;
    size_t n = router_rules_ntypes(r->rules);
    for (size_t i = 0; i < n; i++)
        if (strcmp(router_rules_type_name(r->rules, i), s->log_type) == 0) return (int)i;
    return -2; /* a type no longer configured: its records now route elsewhere */
}

/* Reads the ledgered objects beyond the checkpoint (under ctl_mu). */
static int load_spans(struct rproc *p, const char *seq, int64_t sub, struct err *e)
{
    struct router *r = p->r;
    struct ledger_who who = {r->cfg->coord.schema, r->cfg->app, r->worker_id};
    struct ledger_span *v = NULL;
    size_t n = 0;
    pthread_mutex_lock(&r->ctl_mu);
    int rc = 0;
    if (r->ctl && PQstatus(r->ctl) != CONNECTION_OK) PQfinish(r->ctl), r->ctl = NULL;
    if (!r->ctl) rc = pg_connect(r->cfg->coord.dsn, 10, &r->ctl, e);
    if (rc == 0) rc = ledger_spans_load(r->ctl, &who, p->shard, seq, sub, &v, &n, e);
    pthread_mutex_unlock(&r->ctl_mu);
    if (rc) return rc;
    if (n) p->skip = ledger_skip_new(v, n, kind_of_span, r);
    if (p->skip && ledger_skip_empty(p->skip)) ledger_skip_free(p->skip), p->skip = NULL;
    log_info(SUB, "initialized shard=%s checkpoint=%s sub=%" PRId64 " ledgered_ahead=%zu", p->shard,
             seq ? seq : "", sub, n);
    ledger_spans_free(v, n);
    return 0;
}

static int p_initialize(struct processor *pp, const char *shard_id, const char *seq, int64_t sub,
                        struct err *e)
{
    struct rproc *p = pp->impl;
    if (strcmp(shard_id, p->shard) != 0)
        return err_set(e, -EINVAL, ERR_PERMANENT, "router: initialize for shard %s, made for %s",
                       shard_id, p->shard);
    int rc = load_spans(p, seq, sub, e);
    if (rc == 0) p->initialized = true;
    p->last_ckpt_ms = clock_mono_ms();
    return rc;
}

static int p_process(struct processor *pp, const struct proc_batch *b, struct checkpointer *cp,
                     struct err *e)
{
    struct rproc *p = pp->impl;
    struct router *r = p->r;
    if (p->lost) return 0; /* the lease is gone; the next owner reads these again */
    if (!p->initialized)
        return err_set(e, -EINVAL, ERR_PERMANENT, "router: process_records before initialize");
    int64_t now = clock_mono_ms();
    uint64_t gen = atomic_load(&r->pressure_gen);
    int rc = 0;
    if (gen != p->pressure_seen) { /* another shard waits for memory */
        p->pressure_seen = gen;
        rc = seal_all(p, e);
    }
    for (size_t i = 0; i < b->n && rc == 0 && !p->lost; i++) {
        p->n_bytes += b->recs[i].len;
        rc = one_record(p, &b->recs[i], now, e);
    }
    flush_charge(p);
    publish_counts(p, b->n);
    if (rc) return rc;
    if (b->n && p->have_last) ckpt_safe_batch_end(p->safe, p->last_seq, p->last_sub);
    if (p->skip && p->have_last && ledger_skip_passed(p->skip, p->last_seq, p->last_sub))
        ledger_skip_free(p->skip), p->skip = NULL;
    if ((rc = seal_aged(p, now, e)) != 0) return rc;
    collect(p);
    checkpoint(p, cp, false);
    return 0;
}

static int p_lease_lost(struct processor *pp, struct err *e)
{
    (void)e;
    struct rproc *p = pp->impl;
    collect(p);
    lose(p, "lease_lost");
    return 0;
}

/* Seals everything and waits (bounded by the shutdown grace and cancel_fd)
 * until every object is ledgered.  0, or negative with e filled. */
static int drain(struct rproc *p, struct err *e)
{
    int rc = seal_all(p, e);
    if (rc) return rc;
    int64_t deadline = clock_mono_ms() + p->r->cfg->shutdown.grace_ms;
    for (;;) {
        collect(p);
        if (p->lost) return err_set(e, -ESHUTDOWN, ERR_PERMANENT, "router: lease lost shard=%s", p->shard);

        size_t left = ckpt_safe_outstanding(p->safe);
        if (left == 0) return 0;
        if (clock_mono_ms() >= deadline || cancelled_fd(p->cancel_fd))
            return err_set(e, -ETIMEDOUT, ERR_RETRY,
                           "router: %zu objects not ledgered in time shard=%s", left, p->shard);
        uploader_sink_wait(p->sink, WAIT_SLICE_MS);
    }
}

static int p_shutdown(struct processor *pp, struct checkpointer *cp, struct err *e)
{
    struct rproc *p = pp->impl;
    if (p->lost) return 0;
    int rc = drain(p, e);
    if (rc == -ESHUTDOWN) return 0; /* the lease went meanwhile: nothing left to do */
    enum ckpt_result res = checkpoint(p, cp, true); /* as far as is safe, even after a timeout */
    if (rc == 0 && res != CKPT_OK)
        rc = err_set(e, -EIO, ERR_RETRY, "router: final checkpoint: %s", ckpt_result_name(res));
    return rc;
}

static int p_shard_ended(struct processor *pp, struct checkpointer *cp, struct err *e)
{
    struct rproc *p = pp->impl;
    if (p->lost) return err_set(e, -ESHUTDOWN, ERR_PERMANENT, "router: lease lost shard=%s", p->shard);
    int rc = drain(p, e);
    if (rc) {
        checkpoint(p, cp, true);
        return rc;
    }
    enum ckpt_result res = cp->ops->checkpoint(cp, NULL, 0); /* SHARD_END */
    if (res == CKPT_OK) {
        atomic_fetch_add(&p->r->checkpoints, 1);
        return 0;
    }
    if (res == CKPT_SHUTDOWN) lose(p, "checkpoint_shutdown");
    return err_set(e, -EIO, ERR_RETRY, "router: SHARD_END checkpoint: %s", ckpt_result_name(res));
}

static void p_destroy(struct processor *pp)
{
    struct rproc *p = pp->impl;
    if (!p) return;
    collect(p);
    /* Anything still in flight must never be ledgered once we are gone: a
     * processor started next on this shard reads the ledger at initialize. */
    uploader_sink_cancel(p->sink);
    discard_all(p);
    for (size_t i = 0; i < p->nidle; i++) buffer_free(p->idle[i]);
    free(p->open);
    free(p->cur);
    free(p->idle);
    buffer_pool_free(&p->pool);
    ledger_skip_free(p->skip);
    ckpt_safe_free(p->safe);
    uploader_sink_release(p->sink);
    router_scratch_free(p->scratch);
    buf_free(&p->shard_json);
    free(p->n_type);
    free(p->shard);
    free(p);
    pp->impl = NULL;
}

static const struct processor_ops router_ops = {
    .name = "router",
    .initialize = p_initialize,
    .process_records = p_process,
    .lease_lost = p_lease_lost,
    .shard_ended = p_shard_ended,
    .shutdown_requested = p_shutdown,
    .destroy = p_destroy,
};

/* Raw bytes staged per buffer before a compression feed: big feeds keep
 * igzip fast across thirty buffers; small budgets get small stages. */
static size_t stage_cap_for(const struct lf_config *c)
{
    int64_t s = c->router.memory_limit_bytes / 256;
    if (s < 64 * 1024) s = 64 * 1024;
    if (s > 1024 * 1024) s = 1024 * 1024;
    if (s > c->router.buffer_bytes) s = c->router.buffer_bytes;
    return (size_t)s;
}

int router_create_processor(void *router, const char *shard_id, int cancel_fd,
                            struct processor *out, struct err *e)
{
    struct router *r = router;
    struct rproc *p = xcalloc(1, sizeof *p);
    p->r = r;
    p->shard = xstrdup(shard_id);
    p->cancel_fd = cancel_fd;
    buf_init(&p->shard_json, 4 * 1024);
    if (router_json_escape(&p->shard_json, shard_id, strlen(shard_id)) || !p->shard_json.data) {
        buf_free(&p->shard_json);
        free(p->shard);
        free(p);
        return err_set(e, -EINVAL, ERR_PERMANENT, "router: bad shard id");
    }
    size_t max_rec = router_rules_max_record(r->rules);
    p->stage_cap = stage_cap_for(r->cfg);
    p->line_max = deadletter_line_max(p->shard_json.len, BUFFER_SEQ_MAX, max_rec) + 256;
    p->out_max = (size_t)r->cfg->router.buffer_bytes + 2 * p->line_max + (1u << 20);
    /* Sealed buffers and idle gzip writers are kept, one per kind (the
     * types and dead letters): a memory-pressure seal closes every open
     * buffer at once, and without them the next records would allocate and
     * page-fault thirty stages and writers anew.  The peak is unchanged: it
     * is when every kind has an open buffer. */
    size_t kinds = router_rules_ntypes(r->rules) + 1; /* the types and dead letters */
    p->keep = kinds;
    p->idle = xcalloc(kinds, sizeof *p->idle);
    buffer_pool_init(&p->pool, r->cfg->router.gzip_level, p->keep, e);
    p->scratch = router_scratch_new(r->rules);
    p->cur = xcalloc(kinds, sizeof *p->cur);
    p->n_type = xcalloc(kinds, sizeof *p->n_type);
    p->safe = ckpt_safe_new();
    p->sink = uploader_sink_new(r->up, shard_id);
    p->pressure_seen = atomic_load(&r->pressure_gen);
    out->ops = &router_ops;
    out->impl = p;
    return 0;
}

/* ---- the router --------------------------------------------------------------------- */

static void register_metrics(struct router *r)
{
    size_t n = router_rules_ntypes(r->rules);
    r->m_type = xcalloc(n + 1, sizeof *r->m_type);
    for (size_t i = 0; i < n; i++) {
        char l[96];
        snprintf(l, sizeof l, "type=%s", router_rules_type_name(r->rules, i));
        r->m_type[i] = metrics_counter("logfleet_router_records_total",
                                       "Records routed into archive buffers, per type.", l);
    }
    for (int i = 1; i < ROUTER_REASON_COUNT; i++) {
        char l[64];
        snprintf(l, sizeof l, "reason=%s", router_reason_name(i));
        r->m_reason[i] = metrics_counter("logfleet_router_dead_letters_total",
                                         "Records written to dead letters, per reason.", l);
    }
    r->m_bytes_in = metrics_counter("logfleet_router_bytes_in_total",
                                    "Record bytes handed to the router.", NULL);
    r->m_skipped = metrics_counter("logfleet_router_records_skipped_total",
                                   "Records skipped after a restart: already ledgered.", NULL);
    r->m_pauses = metrics_counter("logfleet_router_pauses_total",
                                  "Times a shard waited for the memory budget.", NULL);
    r->m_paused_ms = metrics_counter("logfleet_router_paused_ms_total",
                                     "Milliseconds shards spent waiting for the memory budget.",
                                     NULL);
}

static int make_creds(const struct lf_config *c, struct aws_creds_provider **out, struct err *e)
{
    const struct lf_aws_config *a = &c->aws;
    struct aws_creds_opts o = {.access_key = *a->access_key_id ? a->access_key_id : NULL,
                               .secret_key = *a->secret_access_key ? a->secret_access_key : NULL,
                               .session_token = *a->session_token ? a->session_token : NULL,
                               .profile = *a->profile ? a->profile : NULL,
                               .ecs_endpoint = *a->ecs_endpoint ? a->ecs_endpoint : NULL,
                               .imds_endpoint = *a->imds_endpoint ? a->imds_endpoint : NULL,
                               .imds_disabled = a->imds_disabled};
    return aws_creds_provider_new(&o, out, e);
}

int router_new(const struct lf_config *c, const char *worker_id, struct router **out,
               struct err *e)
{
    struct router *r = xcalloc(1, sizeof *r);
    r->cfg = c;
    r->worker_id = xstrdup(worker_id);
    pthread_mutex_init(&r->ctl_mu, NULL);
    for (int i = 0; i < ROUTER_REASON_COUNT; i++) r->reason_names[i] = router_reason_name(i);
    int rc = router_rules_new(c, &r->rules, e);
    if (rc == 0) rc = make_creds(c, &r->creds, e);
    if (rc == 0) {
        struct uploader_opts uo = {.cfg = c, .worker_id = worker_id, .creds = r->creds,
                                   .reason_names = r->reason_names,
                                   .nreasons = ROUTER_REASON_COUNT};
        rc = uploader_new(&uo, &r->up, e);
    }
    if (rc) {
        router_free(r);
        return rc;
    }
    register_metrics(r);
    *out = r;
    return 0;
}

void router_free(struct router *r)
{
    if (!r) return;
    uploader_free(r->up);
    aws_creds_provider_free(r->creds);
    router_rules_free(r->rules);
    if (r->ctl) PQfinish(r->ctl);
    pthread_mutex_destroy(&r->ctl_mu);
    free(r->m_type);
    free(r->worker_id);
    free(r);
}

void router_stats(const struct router *r, struct router_stats *out)
{
    struct uploader_stats u;
    uploader_stats(r->up, &u);
    memset(out, 0, sizeof *out);
    out->records_in = atomic_load(&r->records_in);
    out->records_routed = atomic_load(&r->routed);
    out->records_dead = atomic_load(&r->dead);
    out->records_skipped = atomic_load(&r->skipped);
    out->records_reordered = atomic_load(&r->reordered);
    out->bytes_in = atomic_load(&r->bytes_in);
    out->bytes_out = u.bytes_out;
    out->objects_uploaded = u.objects;
    out->objects_multipart = u.multipart;
    out->objects_ledgered = u.ledgered;
    out->objects_dropped = u.dropped;
    out->upload_retries = u.retries;
    out->keys_existed = u.existed;
    out->keys_foreign = u.foreign;
    out->checkpoints = atomic_load(&r->checkpoints);
    out->pauses = atomic_load(&r->pauses);
    out->paused_ms = u.paused_ms;
    out->mem_used = u.mem_used;
    out->mem_peak = u.mem_peak;
    out->mem_limit = uploader_mem_limit(r->up);
    for (int i = 0; i < ROUTER_REASON_COUNT; i++) out->dead_by_reason[i] = atomic_load(&r->dead_by_reason[i]);
}
