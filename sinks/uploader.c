/* uploader.c — upload threads: PUT (or multipart) with If-None-Match, then
 * ledger, then hand the job back to its sink.
 *
 * Locks: u->mu guards the queue, u->stop and the backoff sleeps (u->wake);
 * u->mem_mu only pairs with u->mem_cv for budget waiters (the counter itself
 * is atomic); a sink's mu guards its refs and done list, its ledger_mu is
 * held across "is the sink cancelled? → ledger transaction" so that cancel
 * cannot slip in between.  Order: ledger_mu before mu; never u->mu with a
 * sink lock held.
 */
#include "sinks/uploader.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/s3.h"
#include "sinks/keys.h"
#include "sinks/ledger.h"

#define PART_MIN (5u << 20)
#define SUB "uploader"

struct upl_sink {
    struct uploader *u;
    char *shard;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    atomic_bool cancelled;
    struct upl_job *done, **done_tail;
    pthread_mutex_t ledger_mu;
};

struct uthread {
    struct uploader *u;
    pthread_t tid;
    struct s3 *s3;
    PGconn *pg;
    struct buf key;
};

struct uploader {
    const struct lf_config *cfg;
    char *worker_id;
    const char *const *reason_names;
    size_t nreasons;
    int nthreads;
    struct uthread *t;
    pthread_mutex_t mu;
    pthread_cond_t nonempty, nonfull, wake;
    struct upl_job *head, **tail;
    size_t queued;
    atomic_bool stop;              /* written under mu */
    /* budget */
    int64_t limit;
    _Atomic int64_t used, peak;
    pthread_mutex_t mem_mu;
    pthread_cond_t mem_cv;
    /* statistics */
    _Atomic uint64_t objects, multipart, bytes_out, ledgered, dropped, retries, existed, foreign, paused_ms;
    struct metrics_counter *m_objects, *m_bytes, *m_retries, *m_dropped, *m_foreign;
    struct metrics_gauge *m_mem;
};

/* ---- small helpers ---------------------------------------------------------- */

static struct timespec deadline_in(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    return ts;
}

static bool abandon(const struct uploader *u, const struct upl_job *j)
{
    return atomic_load(&j->sink->cancelled) || atomic_load(&u->stop);
}

/* Sleeps the backoff of try n unless stopped or cancelled; true = abandon. */
static bool backoff(struct uploader *u, struct upl_job *j, int n, const char *what,
                    const struct err *e)
{
    const struct lf_aws_config *a = &u->cfg->aws;
    long ms = aws_backoff_ms(n < 16 ? n : 16, a->retry_base_ms, a->retry_cap_ms);
    atomic_fetch_add(&u->retries, 1);
    metrics_counter_inc(u->m_retries);
    if (e->cls == ERR_PERMANENT)
        log_error(SUB, "%s failed shard=%s first=%s class=%s try=%d backoff_ms=%ld err=\"%s\"", what,
                  j->shard, j->first_seq, err_class_name(e->cls), n + 1, ms, e->msg);
    else
        log_warn(SUB, "%s failed shard=%s first=%s class=%s try=%d backoff_ms=%ld err=\"%s\"", what,
                 j->shard, j->first_seq, err_class_name(e->cls), n + 1, ms, e->msg);
    pthread_mutex_lock(&u->mu);
    struct timespec dl = deadline_in((int)ms);
    while (!abandon(u, j) && pthread_cond_timedwait(&u->wake, &u->mu, &dl) == 0) {
    }
    pthread_mutex_unlock(&u->mu);
    return abandon(u, j);
}

static void md5_hex(const unsigned char *md, unsigned n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) out[2 * i] = hex[md[i] >> 4], out[2 * i + 1] = hex[md[i] & 15];
    out[2 * n] = 0;
}

static size_t part_size(size_t len)
{
    size_t p = (len + 9999) / 10000;
    return p < PART_MIN ? PART_MIN : p;
}

/* "md5" of the whole body, quotes included. */
static void etag_whole(const struct buf *b, char out[80])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(b->data, b->len, md, &n, EVP_md5(), NULL);
    out[0] = '"';
    md5_hex(md, n, out + 1);
    out[1 + 2 * n] = '"';
    out[2 + 2 * n] = 0;
}

/* "md5-of-part-md5s-N", as S3 tags a multipart upload of part_size() parts. */
static void etag_multipart(const struct buf *b, char out[80])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    size_t ps = part_size(b->len), parts = (b->len + ps - 1) / ps;
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    EVP_DigestInit_ex(x, EVP_md5(), NULL);
    for (size_t i = 0; i < parts; i++) {
        size_t off = i * ps, len = b->len - off < ps ? b->len - off : ps;
        EVP_Digest(b->data + off, len, md, &n, EVP_md5(), NULL);
        EVP_DigestUpdate(x, md, n);
    }
    EVP_DigestFinal_ex(x, md, &n);
    EVP_MD_CTX_free(x);
    out[0] = '"';
    md5_hex(md, n, out + 1);
    snprintf(out + 1 + 2 * n, 80 - 1 - 2 * n, "-%zu\"", parts);
}

/* ---- S3 ---------------------------------------------------------------------- */

static int put_multipart(struct uthread *t, const struct upl_job *j, const char *key,
                         struct s3_put_result *res, struct err *e)
{
    const struct buf *b = &j->body;
    size_t ps = part_size(b->len), n = (b->len + ps - 1) / ps;
    char *id = NULL;
    int rc = s3_mpu_create(t->s3, key, "application/gzip", &id, e);
    if (rc) return rc;
    struct s3_part *parts = xcalloc(n, sizeof *parts);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t off = i * ps, len = b->len - off < ps ? b->len - off : ps;
        rc = s3_mpu_part(t->s3, key, id, (int)i + 1, b->data + off, len, &parts[i], e);
    }
    if (rc == 0) rc = s3_mpu_complete(t->s3, key, id, parts, n, t->u->cfg->s3.if_none_match, res, e);
    if (rc == 0 && !res->existed) atomic_fetch_add(&t->u->multipart, 1);
    if (rc || res->existed) {
        struct err ignore;
        s3_mpu_abort(t->s3, key, id, &ignore); /* best effort: a lifecycle rule reclaims the rest */
    }
    free(parts);
    free(id);
    return rc;
}

static int put_once(struct uthread *t, const struct upl_job *j, const char *key,
                    struct s3_put_result *res, struct err *e)
{
    memset(res, 0, sizeof *res);
    if ((int64_t)j->body.len >= t->u->cfg->router.multipart_bytes)
        return put_multipart(t, j, key, res, e);
    struct s3_put_opts o = {.content_type = "application/gzip",
                            .if_none_match = t->u->cfg->s3.if_none_match};
    return s3_put(t->s3, key, j->body.data, j->body.len, &o, res, e);
}

/* After a 412: is the object under key exactly these bytes?  1 yes, 0 no
 * (a foreign object), <0 HEAD failed. */
static int is_ours(struct uthread *t, const struct upl_job *j, const char *key,
                   struct s3_head_result *hr, struct err *e)
{
    struct s3_head_result h;
    int rc = s3_head(t->s3, key, &h, e);
    if (rc) return rc;
    *hr = h;
    if (!h.exists) return err_set(e, -ENOENT, ERR_RETRY, "s3: %s vanished after a 412", key);
    if (h.size != (long long)j->body.len) return 0;
    /* A PUT is tagged with the body's MD5; a multipart upload with the MD5
     * of its parts' MD5s and the part count (S3), or the body's MD5 (some
     * S3 stand-ins): either way the bytes are ours. */
    char want[80];
    etag_whole(&j->body, want);
    if (strcmp(h.etag, want) == 0) return 1;
    if ((int64_t)j->body.len < t->u->cfg->router.multipart_bytes) return 0;
    etag_multipart(&j->body, want);
    return strcmp(h.etag, want) == 0;
}

static void key_for(struct uthread *t, const struct upl_job *j, int attempt)
{
    const struct lf_config *c = t->u->cfg;
    struct keys_object k = {.s3_prefix = c->s3.prefix,
                            .prefix = j->dead ? c->router.dead_letter_prefix : c->router.object_prefix,
                            .type = j->dead ? NULL : j->log_type,
                            .first_event_ms = j->first_event_ms, .day = j->day,
                            .shard = j->shard, .first_seq = j->first_seq,
                            .first_sub = j->first_sub, .attempt = attempt};
    if (keys_object(&t->key, &k)) abort(); /* S3_KEY_MAX-sized buffer; inputs are bounded */
}

/* Puts the job's body under its key's *variant (0: the plain key; moved on
 * past foreign objects).  0 stored, -ECANCELED when abandoned. */
static int store(struct uthread *t, struct upl_job *j, int *variant)
{
    struct uploader *u = t->u;
    for (int tries = 0;;) {
        if (abandon(u, j)) return -ECANCELED;
        key_for(t, j, *variant);
        struct s3_put_result res;
        struct err e = {0};
        int rc = put_once(t, j, t->key.data, &res, &e);
        if (rc == 0 && !res.existed) return 0;
        if (rc == 0 && u->cfg->s3.if_none_match) {
            struct s3_head_result h = {0};
            rc = is_ours(t, j, t->key.data, &h, &e);
            if (rc == 1) {
                atomic_fetch_add(&u->existed, 1);
                return 0;
            }
            if (rc == 0) {
                atomic_fetch_add(&u->foreign, 1);
                metrics_counter_inc(u->m_foreign);
                log_warn(SUB, "foreign object: using the next variant key=%s size=%lld etag=%s"
                         " ours_size=%zu records=%" PRIu64, t->key.data, h.size, h.etag,
                         j->body.len, j->records);
                ++*variant;
                continue;
            }
        }
        if (backoff(u, j, tries++, "upload", &e)) return -ECANCELED;
    }
}

/* ---- ledger ------------------------------------------------------------------- */

static int ledger_once(struct uthread *t, struct upl_job *j, struct err *e)
{
    struct uploader *u = t->u;
    if (!t->pg) {
        int rc = pg_connect(u->cfg->coord.dsn, 10, &t->pg, e);
        if (rc) return rc;
        rc = pg_exec(t->pg, "SET lock_timeout = '20s'; SET statement_timeout = '60s'", e);
        if (rc) return rc;
    }
    struct ledger_who who = {u->cfg->coord.schema, u->cfg->app, u->worker_id};
    struct ledger_obj o = {.key = j->key, .log_type = j->log_type, .day = j->day,
                           .shard = j->shard, .first_seq = j->first_seq,
                           .first_sub = j->first_sub, .last_seq = j->last_seq,
                           .last_sub = j->last_sub, .records = j->records, .bytes = j->bytes,
                           .raw_bytes = j->raw_bytes, .dead = j->dead,
                           .nreasons = j->dead ? u->nreasons : 0,
                           .reason_names = u->reason_names, .reason_counts = j->reasons};
    pthread_mutex_lock(&j->sink->ledger_mu);
    int rc = atomic_load(&j->sink->cancelled) ? -ECANCELED : ledger_commit(t->pg, &who, &o, e);
    pthread_mutex_unlock(&j->sink->ledger_mu);
    return rc;
}

/* UPL_LEDGERED, UPL_DROPPED, or UPL_PENDING when the key is ledgered with
 * another object's records (the caller stores it under the next variant). */
static enum upl_outcome ledger(struct uthread *t, struct upl_job *j)
{
    for (int tries = 0;; tries++) {
        struct err e = {0};
        int rc = ledger_once(t, j, &e);
        if (rc == 0) return UPL_LEDGERED;
        if (rc == LEDGER_KEY_TAKEN) return UPL_PENDING;
        if (rc == -ECANCELED) return UPL_DROPPED;
        if (rc == LEDGER_NOT_OWNER) {
            log_warn(SUB, "lease not ours: object not ledgered shard=%s key=%s", j->shard, j->key);
            return UPL_DROPPED;
        }
        if (t->pg && (e.cls != ERR_PERMANENT || PQstatus(t->pg) != CONNECTION_OK)) {
            PQfinish(t->pg);
            t->pg = NULL;
        }
        if (backoff(t->u, j, tries, "ledger", &e)) return UPL_DROPPED;
    }
}

/* ---- sinks ---------------------------------------------------------------------- */

struct upl_sink *uploader_sink_new(struct uploader *u, const char *shard)
{
    struct upl_sink *s = xcalloc(1, sizeof *s);
    s->u = u;
    s->shard = xstrdup(shard);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->ledger_mu, NULL);
    s->refs = 1;
    s->done_tail = &s->done;
    return s;
}

static void sink_unref(struct upl_sink *s)
{
    pthread_mutex_lock(&s->mu);
    int left = --s->refs;
    pthread_mutex_unlock(&s->mu);
    if (left) return;
    for (struct upl_job *j = s->done, *n; j; j = n) {
        n = j->next;
        uploader_job_free(j);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->ledger_mu);
    free(s->shard);
    free(s);
}

void uploader_sink_release(struct upl_sink *s)
{
    if (s) sink_unref(s);
}

void uploader_sink_cancel(struct upl_sink *s)
{
    pthread_mutex_lock(&s->ledger_mu);
    atomic_store(&s->cancelled, true);
    pthread_mutex_unlock(&s->ledger_mu);
    pthread_mutex_lock(&s->u->mu);
    pthread_cond_broadcast(&s->u->wake);
    pthread_mutex_unlock(&s->u->mu);
}

bool uploader_sink_cancelled(const struct upl_sink *s) { return atomic_load(&s->cancelled); }

bool uploader_sink_wait(struct upl_sink *s, int timeout_ms)
{
    pthread_mutex_lock(&s->mu);
    struct timespec dl = deadline_in(timeout_ms);
    while (!s->done && pthread_cond_timedwait(&s->cv, &s->mu, &dl) == 0) {
    }
    bool ready = s->done != NULL;
    pthread_mutex_unlock(&s->mu);
    return ready;
}

struct upl_job *uploader_sink_take(struct upl_sink *s)
{
    pthread_mutex_lock(&s->mu);
    struct upl_job *l = s->done;
    s->done = NULL;
    s->done_tail = &s->done;
    pthread_mutex_unlock(&s->mu);
    return l;
}

/* Hands a job back to its sink and drops the job's reference. */
static void finish(struct uploader *u, struct upl_job *j, enum upl_outcome o)
{
    struct upl_sink *s = j->sink;
    if (j->charged) {
        uploader_mem_charge(u, -j->charged);
        j->charged = 0;
    }
    buf_free(&j->body);
    j->outcome = o;
    atomic_fetch_add(o == UPL_LEDGERED ? &u->ledgered : &u->dropped, 1);
    if (o != UPL_LEDGERED) metrics_counter_inc(u->m_dropped);
    j->next = NULL;
    pthread_mutex_lock(&s->mu);
    *s->done_tail = j;
    s->done_tail = &j->next;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    sink_unref(s);
}

/* ---- jobs and threads --------------------------------------------------------------- */

struct upl_job *uploader_job_new(void) { return xcalloc(1, sizeof(struct upl_job)); }

void uploader_job_free(struct upl_job *j)
{
    if (!j) return;
    buf_free(&j->body);
    free(j->key);
    free(j);
}

void uploader_submit(struct uploader *u, struct upl_sink *s, struct upl_job *j)
{
    pthread_mutex_lock(&s->mu);
    s->refs++;
    pthread_mutex_unlock(&s->mu);
    j->sink = s;
    j->shard = s->shard;
    j->charged = (int64_t)j->body.len;
    j->outcome = UPL_PENDING;
    j->next = NULL;
    pthread_mutex_lock(&u->mu);
    while (u->queued >= UPLOADER_QUEUE_MAX && !u->stop) pthread_cond_wait(&u->nonfull, &u->mu);
    if (u->stop) {
        pthread_mutex_unlock(&u->mu);
        finish(u, j, UPL_DROPPED);
        return;
    }
    *u->tail = j;
    u->tail = &j->next;
    u->queued++;
    pthread_cond_signal(&u->nonempty);
    pthread_mutex_unlock(&u->mu);
}

bool uploader_queue_wait(struct uploader *u, int timeout_ms)
{
    pthread_mutex_lock(&u->mu);
    struct timespec dl = deadline_in(timeout_ms);
    while (u->queued >= UPLOADER_QUEUE_MAX && !atomic_load(&u->stop) &&
           pthread_cond_timedwait(&u->nonfull, &u->mu, &dl) == 0) {
    }
    bool room = u->queued < UPLOADER_QUEUE_MAX || atomic_load(&u->stop);
    pthread_mutex_unlock(&u->mu);
    return room;
}

static struct upl_job *pop(struct uploader *u)
{
    pthread_mutex_lock(&u->mu);
    while (!u->head && !u->stop) pthread_cond_wait(&u->nonempty, &u->mu);
    struct upl_job *j = u->stop ? NULL : u->head;
    if (j) {
        u->head = j->next;
        if (!u->head) u->tail = &u->head;
        u->queued--;
        pthread_cond_broadcast(&u->nonfull);
    }
    pthread_mutex_unlock(&u->mu);
    return j;
}

static void run_job(struct uthread *t, struct upl_job *j)
{
    struct uploader *u = t->u;
    for (int variant = 0;; variant++) {
        if (store(t, j, &variant) < 0) {
            finish(u, j, UPL_DROPPED);
            return;
        }
        free(j->key);
        j->key = xstrdup(t->key.data);
        j->bytes = j->body.len;
        atomic_fetch_add(&u->objects, 1);
        atomic_fetch_add(&u->bytes_out, j->bytes);
        metrics_counter_inc(u->m_objects);
        metrics_counter_add(u->m_bytes, j->bytes);
        enum upl_outcome o = ledger(t, j);
        if (o != UPL_PENDING) {
            finish(u, j, o);
            return;
        }
        /* Only a routing change between runs (a type removed from the
         * config) can make a restart rebuild an object at a ledgered key
         * with other records: store it beside, never lose it. */
        atomic_fetch_add(&u->foreign, 1);
        metrics_counter_inc(u->m_foreign);
        log_error(SUB, "key ledgered with other records key=%s: using the next variant", j->key);
    }
}

static void *thread_main(void *arg)
{
    struct uthread *t = arg;
    for (struct upl_job *j; (j = pop(t->u)) != NULL;) run_job(t, j);
    return NULL;
}

/* ---- memory budget ------------------------------------------------------------------- */

void uploader_mem_charge(struct uploader *u, int64_t delta)
{
    int64_t now = atomic_fetch_add(&u->used, delta) + delta;
    metrics_gauge_set(u->m_mem, (double)now);
    if (delta > 0) {
        int64_t p = atomic_load(&u->peak);
        while (now > p && !atomic_compare_exchange_weak(&u->peak, &p, now)) {
        }
        return;
    }
    pthread_mutex_lock(&u->mem_mu);
    pthread_cond_broadcast(&u->mem_cv);
    pthread_mutex_unlock(&u->mem_mu);
}

int64_t uploader_mem_used(const struct uploader *u) { return atomic_load(&u->used); }
int64_t uploader_mem_limit(const struct uploader *u) { return u->limit; }

bool uploader_mem_fits(const struct uploader *u, int64_t need)
{
    int64_t used = atomic_load(&u->used);
    return used <= 0 || used + need <= u->limit;
}

bool uploader_mem_wait(struct uploader *u, int64_t need, int timeout_ms)
{
    pthread_mutex_lock(&u->mem_mu);
    struct timespec dl = deadline_in(timeout_ms);
    while (!uploader_mem_fits(u, need) && pthread_cond_timedwait(&u->mem_cv, &u->mem_mu, &dl) == 0) {
    }
    pthread_mutex_unlock(&u->mem_mu);
    metrics_gauge_set(u->m_mem, (double)atomic_load(&u->used));
    return uploader_mem_fits(u, need);
}

void uploader_note_paused(struct uploader *u, uint64_t ms) { atomic_fetch_add(&u->paused_ms, ms); }

/* ---- life ------------------------------------------------------------------------------ */

static int make_s3(const struct uploader_opts *o, struct s3 **out, struct err *e)
{
    const struct lf_config *c = o->cfg;
    struct aws_client_opts ao = {.service = "s3", .region = c->aws.region,
                                 .endpoint = *c->s3.endpoint ? c->s3.endpoint : NULL,
                                 .creds = o->creds,
                                 .connect_timeout_ms = c->aws.connect_timeout_ms,
                                 .timeout_ms = c->aws.request_timeout_ms,
                                 .max_attempts = c->aws.max_attempts,
                                 .retry_base_ms = c->aws.retry_base_ms,
                                 .retry_cap_ms = c->aws.retry_cap_ms};
    if (s3_new(&ao, c->s3.bucket, out, e)) return -1;
    s3_set_unsigned_payload(*out, lf_s3_unsigned_payload(c));
    return 0;
}

static void register_metrics(struct uploader *u)
{
    u->m_objects = metrics_counter("logfleet_router_objects_uploaded_total",
                                   "Archive and dead-letter objects stored in S3.", NULL);
    u->m_bytes = metrics_counter("logfleet_router_bytes_out_total",
                                 "Compressed bytes stored in S3.", NULL);
    u->m_retries = metrics_counter("logfleet_router_upload_retries_total",
                                   "Retries of S3 uploads and ledger writes.", NULL);
    u->m_dropped = metrics_counter("logfleet_router_objects_dropped_total",
                                   "Objects not ledgered: lease lost or processor gone.", NULL);
    u->m_foreign = metrics_counter("logfleet_router_foreign_keys_total",
                                   "Uploads that found a foreign object at their key.", NULL);
    u->m_mem = metrics_gauge("logfleet_router_memory_bytes",
                             "Bytes held by open buffers (compressed, plus a bound for staged"
                             " lines) plus compressed bytes in flight.", NULL);
}

int uploader_new(const struct uploader_opts *o, struct uploader **out, struct err *e)
{
    struct uploader *u = xcalloc(1, sizeof *u);
    u->cfg = o->cfg;
    u->worker_id = xstrdup(o->worker_id);
    u->reason_names = o->reason_names;
    u->nreasons = o->nreasons;
    u->limit = o->cfg->router.memory_limit_bytes;
    u->tail = &u->head;
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->nonempty, NULL);
    pthread_cond_init(&u->nonfull, NULL);
    pthread_cond_init(&u->wake, NULL);
    pthread_mutex_init(&u->mem_mu, NULL);
    pthread_cond_init(&u->mem_cv, NULL);
    register_metrics(u);
    int n = o->cfg->router.upload_threads > 0 ? o->cfg->router.upload_threads : 1;
    u->t = xcalloc((size_t)n, sizeof *u->t);
    for (int i = 0; i < n; i++) {
        struct uthread *t = &u->t[i];
        t->u = u;
        buf_init(&t->key, S3_KEY_MAX);
        int rc = make_s3(o, &t->s3, e);
        if (rc == 0 && pthread_create(&t->tid, NULL, thread_main, t) != 0) {
            s3_free(t->s3);
            rc = err_set(e, -EAGAIN, ERR_RETRY, "uploader: cannot start a thread");
        } else if (rc == 0) {
            pthread_setname_np(t->tid, "lf-upload"); /* named once uploader_new returns */
        }
        if (rc) {
            buf_free(&t->key);
            uploader_free(u);
            return rc;
        }
        u->nthreads++;
    }
    *out = u;
    return 0;
}

void uploader_free(struct uploader *u)
{
    if (!u) return;
    pthread_mutex_lock(&u->mu);
    atomic_store(&u->stop, true);
    pthread_cond_broadcast(&u->nonempty);
    pthread_cond_broadcast(&u->nonfull);
    pthread_cond_broadcast(&u->wake);
    pthread_mutex_unlock(&u->mu);
    for (int i = 0; i < u->nthreads; i++) {
        pthread_join(u->t[i].tid, NULL);
        s3_free(u->t[i].s3);
        if (u->t[i].pg) PQfinish(u->t[i].pg);
        buf_free(&u->t[i].key);
    }
    for (struct upl_job *j = u->head, *n; j; j = n) {
        n = j->next;
        finish(u, j, UPL_DROPPED);
    }
    free(u->t);
    free(u->worker_id);
    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->nonempty);
    pthread_cond_destroy(&u->nonfull);
    pthread_cond_destroy(&u->wake);
    pthread_mutex_destroy(&u->mem_mu);
    pthread_cond_destroy(&u->mem_cv);
    free(u);
}

void uploader_stats(const struct uploader *u, struct uploader_stats *out)
{
    out->objects = atomic_load(&u->objects);
    out->multipart = atomic_load(&u->multipart);
    out->bytes_out = atomic_load(&u->bytes_out);
    out->ledgered = atomic_load(&u->ledgered);
    out->dropped = atomic_load(&u->dropped);
    out->retries = atomic_load(&u->retries);
    out->existed = atomic_load(&u->existed);
    out->foreign = atomic_load(&u->foreign);
    out->mem_used = atomic_load(&u->used);
    out->mem_peak = atomic_load(&u->peak);
    out->paused_ms = atomic_load(&u->paused_ms);
}
