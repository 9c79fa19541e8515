/* loader.c — backend pools: queue claims, loads, retries, circuit breakers.
 *
 * Layout: a struct pool per backend (its threads, breaker, counters and
 * metrics); a struct lthread per thread (its own connections); a struct
 * claim per load in hand.  The breaker is the only state the threads of a
 * pool share (pool.mu, held for a few instructions); pools share nothing.
 */
#include "sinks/loader.h"
#include "common/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "sinks/dialect.h"
#include "sinks/manifest.h"
#include "sinks/rotate.h"
#include "sinks/warehouse.h"

#define KNOWN_TABLES_MAX 512
#define CLAIM_TRIES 8
#define RECOVER_EVERY_MS 5000
#define ERROR_MANIFEST_MAX (64u << 20)

#define SQL_CLAIM                                                                          \
    "UPDATE loads l SET state = 'running', attempts = l.attempts + 1,"                     \
    " first_attempt_at = coalesce(l.first_attempt_at, now()), updated_at = now()"          \
    " FROM manifests m WHERE m.manifest_id = l.manifest_id"                                \
    " AND (l.manifest_id, l.backend) = (SELECT l2.manifest_id, l2.backend"                 \
    "   FROM loads l2 JOIN manifests m2 ON m2.manifest_id = l2.manifest_id"                \
    "   WHERE l2.backend = $1 AND m2.app = $2 AND l2.state = 'pending'"                    \
    "   AND l2.next_attempt_at <= now()"                                                   \
    "   AND NOT (m2.log_type || '_' || to_char(m2.day, 'YYYYMMDD') = ANY($3::text[]))"     \
    "   AND NOT (l2.manifest_id = ANY($4::bigint[]))"                                      \
    "   ORDER BY l2.manifest_id FOR UPDATE OF l2 SKIP LOCKED LIMIT 1)"                     \
    " RETURNING l.manifest_id, m.key, m.log_type, m.day - DATE '1970-01-01', l.attempts,"  \
    " (extract(epoch FROM now() - l.first_attempt_at) * 1000)::bigint, m.records"

#define SQL_DONE                                                                           \
    "UPDATE loads SET state = 'done', rows_loaded = $3::bigint, last_error = NULL,"        \
    " updated_at = now() WHERE manifest_id = $1::bigint AND backend = $2"

#define SQL_RETRY                                                                          \
    "UPDATE loads SET state = 'pending', last_error = $3,"                                 \
    " next_attempt_at = now() + $4::bigint * interval '1 millisecond', updated_at = now()" \
    " WHERE manifest_id = $1::bigint AND backend = $2"

#define SQL_FAILED                                                                         \
    "UPDATE loads SET state = 'failed', last_error = $3, updated_at = now()"               \
    " WHERE manifest_id = $1::bigint AND backend = $2"

#define SQL_STALE                                                                          \
    "SELECT l.manifest_id FROM loads l JOIN manifests m ON m.manifest_id = l.manifest_id"  \
    " WHERE l.backend = $1 AND m.app = $2 AND l.state = 'running'"                         \
    " AND l.updated_at < now() - interval '2 seconds' ORDER BY 1 LIMIT 100"

#define SQL_REQUEUE                                                                        \
    "UPDATE loads SET state = 'pending', next_attempt_at = now(), updated_at = now()"      \
    " WHERE manifest_id = $1::bigint AND backend = $2 AND state = 'running'"

#define SQL_ENTRIES \
    "SELECT key, bytes FROM objects WHERE manifest_id = $1::bigint ORDER BY object_id"

struct pool {
    const struct lf_config *c;
    const struct lf_backend *b;
    const struct dialect_ops *ops;
    struct dialect_type *types;   /* the config's types, parsed once; read-only */
    size_t n_types;

    pthread_mutex_t mu;           /* guards stop and the breaker fields below */
    pthread_cond_t cv;            /* stop, breaker closed */
    bool stop;
    enum loader_breaker_state breaker;
    int failures;                 /* consecutive breaker-relevant failures */
    int64_t open_until;           /* monotonic ms */
    bool probe_out;               /* the half-open probe is in flight */

    _Atomic uint64_t done, already, retried, failed, rows, opens;
    _Atomic int busy;

    struct metrics_counter *m_done, *m_already, *m_retry, *m_failed, *m_rows, *m_opens, *m_dups;
    struct metrics_gauge *m_breaker;
    struct metrics_histogram *m_seconds;

    pthread_t *th;
    size_t n_th;
    struct lthread *lt;
};

/* One thread's own resources. */
struct lthread {
    struct pool *p;
    PGconn *coord, *wh;
    struct wh_s3 s3;
    char (*known)[WH_IDENT_MAX];  /* day tables seen to exist */
    size_t n_known;
    int64_t next_recover;
    unsigned seed;
};

/* A load in hand. */
struct claim {
    char id[24];
    char key[S3_KEY_MAX];
    char type[64];
    int day;
    int attempts;
    int64_t elapsed_ms;           /* since the first attempt, at claim time */
    int64_t records;
    char table[WH_IDENT_MAX];
    char table_lock[320], load_lock[320];
};

struct loader {
    const struct lf_config *c;
    struct pool *pools;
    size_t n;
};

enum outcome { OUT_NONE, OUT_OK, OUT_FAIL };

/* ---- the pool: breaker and sleeping --------------------------------------------- */

static void pool_wait(struct pool *p, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&p->mu);
    if (!p->stop) pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    pthread_mutex_unlock(&p->mu);
}

static bool pool_stopping(struct pool *p)
{
    pthread_mutex_lock(&p->mu);
    bool s = p->stop;
    pthread_mutex_unlock(&p->mu);
    return s;
}

static void set_breaker(struct pool *p, enum loader_breaker_state s)
{
    p->breaker = s;
    metrics_gauge_set(p->m_breaker, (double)s);
}

/* May this thread start a load?  *probe: it is the half-open probe;
 * otherwise *wait_ms says how long to sleep first. */
static bool breaker_admit(struct pool *p, bool *probe, int64_t *wait_ms)
{
    int64_t now = clock_mono_ms();
    bool ok = false;
    *probe = false;
    *wait_ms = p->c->loader.poll_ms;
    pthread_mutex_lock(&p->mu);
    if (p->breaker == LOADER_BREAKER_OPEN && now >= p->open_until) {
        set_breaker(p, LOADER_BREAKER_HALF_OPEN);
        p->probe_out = false;
    }
    if (p->breaker == LOADER_BREAKER_CLOSED) ok = true;
    else if (p->breaker == LOADER_BREAKER_HALF_OPEN && !p->probe_out)
        ok = *probe = p->probe_out = true;
    else if (p->breaker == LOADER_BREAKER_OPEN) *wait_ms = p->open_until - now;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

/* RETRY and UNKNOWN_OUTCOME say the backend (or the path to it) is sick;
 * a PERMANENT error is an answer: the backend is up. */
static void breaker_report(struct pool *p, bool probe, enum outcome o, enum err_class cls)
{
    bool sick = o == OUT_FAIL && (cls == ERR_RETRY || cls == ERR_UNKNOWN_OUTCOME);
    pthread_mutex_lock(&p->mu);
    if (o == OUT_NONE) {
        if (probe) p->probe_out = false;
    } else if (!sick) {
        p->failures = 0;
        if (p->breaker != LOADER_BREAKER_CLOSED) {
            set_breaker(p, LOADER_BREAKER_CLOSED);
            log_info("loader", "breaker_closed backend=%s", p->b->name);
            pthread_cond_broadcast(&p->cv);
        }
    } else if (++p->failures >= p->c->loader.breaker_failures || probe) {
        if (p->breaker != LOADER_BREAKER_OPEN) {
            p->opens++;
            metrics_counter_inc(p->m_opens);
            log_warn("loader", "breaker_open backend=%s failures=%d open_ms=%d", p->b->name,
                     p->failures, p->c->loader.breaker_open_ms);
        }
        set_breaker(p, LOADER_BREAKER_OPEN);
        p->open_until = clock_mono_ms() + p->c->loader.breaker_open_ms;
    }
    pthread_mutex_unlock(&p->mu);
}

/* ---- claiming ---------------------------------------------------------------------- */

static void unlock_quiet(PGconn *pg, const char *name)
{
    struct err ignore;
    if (pg && PQstatus(pg) == CONNECTION_OK) pg_advisory_unlock(pg, name, &ignore);
}

static void claim_fill(struct lthread *t, PGresult *r, struct claim *cl)
{
    const struct lf_config *c = t->p->c;
    snprintf(cl->id, sizeof cl->id, "%s", PQgetvalue(r, 0, 0));
    snprintf(cl->key, sizeof cl->key, "%s", PQgetvalue(r, 0, 1));
    snprintf(cl->type, sizeof cl->type, "%s", PQgetvalue(r, 0, 2));
    cl->day = (int)strtol(PQgetvalue(r, 0, 3), NULL, 10);
    cl->attempts = (int)strtol(PQgetvalue(r, 0, 4), NULL, 10);
    cl->elapsed_ms = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
    cl->records = strtoll(PQgetvalue(r, 0, 6), NULL, 10);
    dialect_table_name(cl->type, cl->day, cl->table);
    char what[160];
    snprintf(what, sizeof what, "table/%s", t->p->b->name);
    wh_lock_name(cl->table_lock, sizeof cl->table_lock, c, what, cl->table, NULL);
    snprintf(what, sizeof what, "load/%s", t->p->b->name);
    wh_lock_name(cl->load_lock, sizeof cl->load_lock, c, what, cl->id, NULL);
}

/* One claim transaction.  1: claimed (locks held); 0: nothing due;
 * 2: its table is busy elsewhere (added to skip); -1: error. */
static int claim_try(struct lthread *t, struct buf *skip, const char *exclude, struct claim *cl,
                     struct err *e)
{
    const char *p[] = {t->p->b->name, t->p->c->app, skip->data, exclude};
    PGresult *r = NULL;
    int got_table = 0, got_load = 0;
    if (pg_exec(t->coord, "BEGIN", e)) return -1;
    int rc = pg_execp(t->coord, SQL_CLAIM, 4, p, &r, e);
    if (rc == 0 && PQntuples(r) == 1) {
        claim_fill(t, r, cl);
        rc = wh_try_lock(t->coord, cl->table_lock, &got_table, e);
        if (rc == 0 && got_table) rc = wh_try_lock(t->coord, cl->load_lock, &got_load, e);
    }
    int found = rc == 0 && PQntuples(r) == 1;
    PQclear(r);
    if (rc == 0 && got_table && got_load) {
        if (pg_commit(t->coord, e) == 0) return 1;
        rc = -1;
    }
    /* session locks outlive the transaction: end it first (an aborted one
     * refuses the unlock calls), then let go */
    PQclear(PQexec(t->coord, "ROLLBACK"));
    if (got_table) unlock_quiet(t->coord, cl->table_lock);
    if (got_load) unlock_quiet(t->coord, cl->load_lock);
    if (rc) return -1;
    if (!found) return 0;
    if (!got_table) {
        skip->len--; /* drop the closing brace, append the table */
        buf_printf(skip, "%s%s}", skip->len > 1 ? "," : "", cl->table);
    }
    return 2;
}

/* The next due load of this backend, or 0. */
static int claim_next(struct lthread *t, const char *exclude, struct claim *cl, struct err *e)
{
    struct buf skip;
    buf_init(&skip, 64 * 1024);
    buf_puts(&skip, "{}");
    int rc = 0;
    for (int i = 0; i < CLAIM_TRIES; i++)
        if ((rc = claim_try(t, &skip, exclude, cl, e)) != 2) break;
    buf_free(&skip);
    return rc == 2 ? 0 : rc;
}

/* Requeues 'running' loads whose loader is gone (nobody holds their lock). */
static void recover_stale(struct lthread *t)
{
    struct pool *p = t->p;
    const char *prm[] = {p->b->name, p->c->app};
    PGresult *r;
    struct err e = {0};
    if (pg_execp(t->coord, SQL_STALE, 2, prm, &r, &e)) return;
    for (int i = 0; i < PQntuples(r); i++) {
        struct claim cl;
        char what[160];
        snprintf(cl.id, sizeof cl.id, "%s", PQgetvalue(r, i, 0));
        snprintf(what, sizeof what, "load/%s", p->b->name);
        wh_lock_name(cl.load_lock, sizeof cl.load_lock, p->c, what, cl.id, NULL);
        int got = 0;
        if (wh_try_lock(t->coord, cl.load_lock, &got, &e) || !got) continue;
        const char *q[] = {cl.id, p->b->name};
        PGresult *u = NULL;
        if (pg_execp(t->coord, SQL_REQUEUE, 2, q, &u, &e) == 0 && strcmp(PQcmdTuples(u), "1") == 0)
            log_warn("loader", "requeued_stale backend=%s manifest_id=%s", p->b->name, cl.id);
        PQclear(u);
        unlock_quiet(t->coord, cl.load_lock);
    }
    PQclear(r);
}

/* ---- one load ------------------------------------------------------------------------ */

static const struct dialect_type *pool_type(struct pool *p, const char *name)
{
    for (size_t i = 0; i < p->n_types; i++)
        if (strcmp(p->types[i].name, name) == 0) return &p->types[i];
    return NULL;
}

static bool known_table(struct lthread *t, const char *table)
{
    for (size_t i = 0; i < t->n_known; i++)
        if (strcmp(t->known[i], table) == 0) return true;
    return false;
}

/* The warehouse connection (with its ledger) and the S3 client. */
static int ensure_conns(struct lthread *t, struct err *e)
{
    wh_drop_if_bad(&t->wh);
    if (!t->wh) {
        if (wh_connect(t->p->b, t->p->ops->session_sql, &t->wh, e)) return -1;
        struct wh_sql x = {.pg = t->wh, .catalog = t->wh};
        if (t->p->ops->ensure_ledger(&x, t->p->b->schema, e)) return -1;
    }
    if (!t->s3.s3 && wh_s3_open(t->p->c, &t->s3, e)) return -1;
    return 0;
}

static int ensure_table(struct lthread *t, const struct dialect_type *ty, const struct claim *cl,
                        struct err *e)
{
    if (known_table(t, cl->table)) return 0;
    int created = 0;
    if (rotate_ensure_day(t->p->c, t->p->b, t->coord, t->wh, ty, cl->day, &created, e)) return -1;
    if (created)
        log_info("loader", "day_table_created backend=%s table=%s", t->p->b->name, cl->table);
    if (t->n_known == KNOWN_TABLES_MAX) t->n_known = 0;
    snprintf(t->known[t->n_known++], WH_IDENT_MAX, "%s", cl->table);
    return 0;
}

static int do_load(struct lthread *t, const struct claim *cl, struct dialect_load_result *res,
                   struct err *e)
{
    struct pool *p = t->p;
    const struct dialect_type *ty = pool_type(p, cl->type);
    if (!ty)
        return err_set(e, -ENOENT, ERR_PERMANENT, "loader: type %s is not in the config",
                       cl->type);
    if (ensure_conns(t, e) || ensure_table(t, ty, cl, e)) return -1;
    struct dialect_target tg = {p->b->schema, ty, p->b->copy_credentials};
    struct dialect_load l = {.manifest_key = cl->key, .bucket = p->c->s3.bucket, .day = cl->day,
                             .s3 = t->s3.s3, .expect_records = cl->records};
    struct wh_sql x = {.pg = t->wh, .catalog = t->wh};
    return p->ops->load_manifest(&x, &tg, &l, res, e);
}

/* The error manifest: the load's entries and its last error, under error_prefix. */
static int write_error_manifest(struct lthread *t, const struct claim *cl, const struct err *le,
                                struct err *e)
{
    struct pool *p = t->p;
    const char *prm[] = {cl->id};
    PGresult *r;
    if (!t->s3.s3 && wh_s3_open(p->c, &t->s3, e)) return -1;
    if (pg_execp(t->coord, SQL_ENTRIES, 1, prm, &r, e)) return -1;
    size_t n = (size_t)PQntuples(r);
    struct manifest_entry *v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i].key = PQgetvalue(r, (int)i, 0);
        v[i].bytes = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
    }
    json_t *ej = json_pack("{s:s,s:s,s:i,s:s,s:s}", "backend", p->b->name, "manifest", cl->key,
                           "attempts", cl->attempts, "class", err_class_name(le->cls), "message",
                           le->msg);
    char *ejs = ej ? json_dumps(ej, JSON_COMPACT) : NULL;
    struct buf body;
    buf_init(&body, ERROR_MANIFEST_MAX);
    char key[S3_KEY_MAX], suffix[80];
    snprintf(suffix, sizeof suffix, ".%s", p->b->name);
    manifest_key(key, sizeof key, p->c, p->c->manifest.error_prefix, cl->type, cl->day,
                 strtoll(cl->id, NULL, 10), suffix);
    int rc = ejs ? manifest_json(&body, p->c->s3.bucket, v, n, ejs) : -ENOMEM;
    struct s3_put_opts po = {.content_type = "application/json", .content_md5 = 1};
    struct s3_put_result pr;
    if (rc) rc = err_set(e, rc, ERR_PERMANENT, "loader: error manifest %s: too large", key);
    else rc = s3_put(t->s3.s3, key, body.data, body.len, &po, &pr, e);
    if (rc == 0) log_error("loader", "load_failed backend=%s manifest=%s error_manifest=%s",
                           p->b->name, cl->key, key);
    buf_free(&body);
    free(ejs);
    json_decref(ej);
    free(v);
    PQclear(r);
    return rc;
}

static int64_t backoff_ms(const struct lf_loader_config *lc, int attempts, unsigned *seed)
{
    int64_t d = lc->retry_base_ms;
    for (int i = 1; i < attempts && d < lc->retry_cap_ms; i++) d *= 2;
    if (d > lc->retry_cap_ms) d = lc->retry_cap_ms;
    return d / 2 + (int64_t)(rand_r(seed) % (unsigned)(d / 2 + 1));
}

/* Records a failed attempt: pending with a backoff (returns 0), or failed
 * past the window (returns 1); -1 when the coordination DB did not take it. */
static int record_failure(struct lthread *t, const struct claim *cl, const struct err *le,
                          int64_t took_ms, struct err *e)
{
    struct pool *p = t->p;
    int64_t window = (int64_t)p->c->loader.retry_window_s * 1000;
    bool give_up = cl->elapsed_ms + took_ms >= window;
    struct err me = {0};
    if (give_up && write_error_manifest(t, cl, le, &me)) {
        log_warn("loader", "error_manifest_failed backend=%s manifest=%s err=\"%s\"", p->b->name,
                 cl->key, me.msg);
        give_up = false; /* try the load (and the error manifest) again later */
    }
    char delay[24];
    snprintf(delay, sizeof delay, "%" PRId64, backoff_ms(&p->c->loader, cl->attempts, &t->seed));
    const char *prm[] = {cl->id, p->b->name, le->msg, delay};
    PGresult *r = NULL;
    int rc = pg_execp(t->coord, give_up ? SQL_FAILED : SQL_RETRY, give_up ? 3 : 4, prm, &r, e);
    PQclear(r);
    if (rc) return rc;
    metrics_counter_inc(give_up ? p->m_failed : p->m_retry);
    if (give_up) p->failed++;
    else p->retried++;
    if (!give_up)
        log_warn("loader", "load_retry backend=%s manifest=%s attempts=%d delay_ms=%s class=%s"
                 " err=\"%s\"", p->b->name, cl->key, cl->attempts, delay,
                 err_class_name(le->cls), le->msg);
    return give_up;
}

static int record_success(struct lthread *t, const struct claim *cl,
                          const struct dialect_load_result *res, struct err *e)
{
    struct pool *p = t->p;
    char rows[24];
    snprintf(rows, sizeof rows, "%" PRId64, res->rows);
    const char *prm[] = {cl->id, p->b->name, rows};
    PGresult *r = NULL;
    int rc = pg_execp(t->coord, SQL_DONE, 3, prm, &r, e);
    PQclear(r);
    if (rc) return rc;
    if (res->already) {
        p->already++;
        metrics_counter_inc(p->m_already);
        log_info("loader", "already_loaded backend=%s manifest=%s rows=%" PRId64, p->b->name,
                 cl->key, res->rows);
        return 0;
    }
    p->done++;
    p->rows += (uint64_t)res->rows;
    metrics_counter_inc(p->m_done);
    metrics_counter_add(p->m_rows, (uint64_t)res->rows);
    if (res->lines > res->rows) metrics_counter_add(p->m_dups, (uint64_t)(res->lines - res->rows));
    log_debug("loader", "loaded backend=%s manifest=%s rows=%" PRId64, p->b->name, cl->key,
              res->rows);
    return 0;
}

/* Claims one due load and runs it.  *cls: the class of a failed load. */
static enum outcome work_one(struct lthread *t, const char *exclude, struct claim *cl,
                             struct loader_run_result *rr, enum err_class *cls)
{
    struct pool *p = t->p;
    struct err e = {0};
    wh_drop_if_bad(&t->coord);
    if (!t->coord && wh_coord_connect(p->c, &t->coord, &e)) {
        log_warn("loader", "coord_unreachable backend=%s err=\"%s\"", p->b->name, e.msg);
        return OUT_NONE;
    }
    int got = claim_next(t, exclude, cl, &e);
    if (got < 0) log_warn("loader", "claim_failed backend=%s err=\"%s\"", p->b->name, e.msg);
    if (got <= 0) return OUT_NONE;
    p->busy++;
    int64_t t0 = clock_mono_ms();
    struct dialect_load_result res = {0};
    struct err le = {0}, re = {0};
    int rc = do_load(t, cl, &res, &le);
    int64_t took = clock_mono_ms() - t0;
    metrics_histogram_observe(p->m_seconds, (double)took / 1000.0);
    wh_drop_if_bad(&t->wh);
    if (rc) t->n_known = 0; /* a dropped table must be looked up again */
    int rrc = rc ? record_failure(t, cl, &le, took, &re) : record_success(t, cl, &res, &re);
    if (rrc < 0)
        log_warn("loader", "record_failed backend=%s manifest=%s err=\"%s\"", p->b->name, cl->key,
                 re.msg); /* the row stays 'running': recover_stale requeues it */
    unlock_quiet(t->coord, cl->table_lock);
    unlock_quiet(t->coord, cl->load_lock);
    p->busy--;
    if (rr) {
        rr->attempted++;
        if (rc == 0 && res.already) rr->already++;
        else if (rc == 0) rr->done++, rr->rows += res.rows;
        else if (rrc == 1) rr->failed++;
        else rr->retried++;
    }
    *cls = le.cls;
    return rc ? OUT_FAIL : OUT_OK;
}

static void *thread_main(void *arg)
{
    struct lthread *t = arg;
    struct pool *p = t->p;
    while (!pool_stopping(p)) {
        bool probe;
        int64_t wait;
        if (!breaker_admit(p, &probe, &wait)) {
            pool_wait(p, wait);
            continue;
        }
        struct claim cl;
        enum err_class cls = ERR_NONE;
        enum outcome o = work_one(t, "{}", &cl, NULL, &cls);
        breaker_report(p, probe, o, cls);
        if (t->coord && clock_mono_ms() >= t->next_recover) {
            recover_stale(t);
            t->next_recover = clock_mono_ms() + RECOVER_EVERY_MS;
        }
        if (o == OUT_NONE) pool_wait(p, p->c->loader.poll_ms);
    }
    return NULL;
}

/* ---- pools ------------------------------------------------------------------------------ */

static void lthread_init(struct lthread *t, struct pool *p, int idx)
{
    memset(t, 0, sizeof *t);
    t->p = p;
    t->known = xcalloc(KNOWN_TABLES_MAX, sizeof *t->known);
    t->seed = (unsigned)time(NULL) ^ (unsigned)(idx * 2654435761u) ^ (unsigned)(uintptr_t)t;
}

static void lthread_close(struct lthread *t)
{
    if (t->coord) PQfinish(t->coord);
    if (t->wh) PQfinish(t->wh);
    if (t->s3.s3) wh_s3_close(&t->s3);
    free(t->known);
    memset(t, 0, sizeof *t);
}

static void pool_metrics(struct pool *p)
{
    char lb[128], l2[160];
    snprintf(lb, sizeof lb, "backend=%s", p->b->name);
    static const double bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
#define RESULT(r) (snprintf(l2, sizeof l2, "%s,result=" r, lb), l2)
    p->m_done = metrics_counter("logfleet_loads_total", "Load attempts by result.", RESULT("done"));
    p->m_already = metrics_counter("logfleet_loads_total", "Load attempts by result.",
                                   RESULT("already_loaded"));
    p->m_retry = metrics_counter("logfleet_loads_total", "Load attempts by result.",
                                 RESULT("retry"));
    p->m_failed = metrics_counter("logfleet_loads_total", "Load attempts by result.",
                                  RESULT("failed"));
#undef RESULT
    p->m_rows = metrics_counter("logfleet_load_rows_total", "Rows loaded into the warehouse.", lb);
    p->m_dups = metrics_counter("logfleet_load_duplicate_rows_total",
                                "Rows skipped by a day table's unique lineage key.", lb);
    p->m_opens = metrics_counter("logfleet_breaker_opens_total", "Times the breaker opened.", lb);
    p->m_breaker = metrics_gauge("logfleet_breaker_state",
                                 "Backend circuit breaker: 0 closed, 1 open, 2 half-open.", lb);
    p->m_seconds = metrics_histogram("logfleet_load_seconds", "Duration of one load attempt.", lb,
                                     bounds, sizeof bounds / sizeof bounds[0]);
}

static int pool_init(struct pool *p, const struct lf_config *c, const struct lf_backend *b,
                     struct err *e)
{
    memset(p, 0, sizeof *p);
    p->c = c;
    p->b = b;
    p->ops = dialect_for(b->dialect);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->types = xcalloc(c->n_types + 1, sizeof *p->types);
    for (size_t i = 0; i < c->n_types; i++, p->n_types++)
        if (dialect_type_init(&p->types[i], &c->types[i], c->router.time_field, e)) return -1;
    pool_metrics(p);
    metrics_gauge_set(p->m_breaker, 0);
    return 0;
}

static void pool_free(struct pool *p)
{
    for (size_t i = 0; i < p->n_types; i++) dialect_type_free(&p->types[i]);
    free(p->types);
    if (p->c) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
    }
    free(p->th);
    free(p->lt);
}

static void pool_stop(struct pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->n_th; i++) pthread_join(p->th[i], NULL);
    for (size_t i = 0; i < p->n_th; i++) lthread_close(&p->lt[i]);
    p->n_th = 0;
}

static int pool_start(struct pool *p, struct err *e)
{
    size_t n = (size_t)p->b->pool_size;
    p->th = xcalloc(n, sizeof *p->th);
    p->lt = xcalloc(n, sizeof *p->lt);
    for (size_t i = 0; i < n; i++) {
        lthread_init(&p->lt[i], p, (int)i);
        int rc = pthread_create(&p->th[i], NULL, thread_main, &p->lt[i]);
        if (rc) {
            lthread_close(&p->lt[i]);
            return err_set(e, -rc, ERR_PERMANENT, "loader: cannot start a %s thread", p->b->name);
        }
        pthread_setname_np(p->th[i], "lf-loader");
        p->n_th++;
    }
    return 0;
}

int loader_start(const struct lf_config *c, struct loader **out, struct err *e)
{
    struct loader *l = xcalloc(1, sizeof *l);
    l->c = c;
    l->pools = xcalloc(c->n_backends + 1, sizeof *l->pools);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->n_backends; i++, l->n++)
        rc = pool_init(&l->pools[i], c, &c->backends[i], e);
    for (size_t i = 0; rc == 0 && i < l->n; i++) rc = pool_start(&l->pools[i], e);
    if (rc) {
        loader_stop(l);
        return -1;
    }
    log_info("loader", "started backends=%zu", l->n);
    *out = l;
    return 0;
}

void loader_stop(struct loader *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) {
        pthread_mutex_lock(&l->pools[i].mu);
        l->pools[i].stop = true;
        pthread_cond_broadcast(&l->pools[i].cv);
        pthread_mutex_unlock(&l->pools[i].mu);
    }
    for (size_t i = 0; i < l->n; i++) pool_stop(&l->pools[i]);
    for (size_t i = 0; i < l->n; i++) pool_free(&l->pools[i]);
    free(l->pools);
    free(l);
}

int loader_stats(struct loader *l, const char *backend, struct loader_stats *out)
{
    for (size_t i = 0; i < l->n; i++) {
        struct pool *p = &l->pools[i];
        if (strcmp(p->b->name, backend) != 0) continue;
        memset(out, 0, sizeof *out);
        out->done = p->done, out->already = p->already, out->retried = p->retried;
        out->failed = p->failed, out->rows = p->rows, out->breaker_opens = p->opens;
        out->busy = p->busy;
        pthread_mutex_lock(&p->mu);
        out->breaker = p->breaker;
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    return -ENOENT;
}

int loader_run_once(const struct lf_config *c, const char *backend, int max_loads,
                    struct loader_run_result *r, struct err *e)
{
    memset(r, 0, sizeof *r);
    const struct lf_backend *b = wh_backend_find(c, backend);
    if (!b) return err_set(e, -ENOENT, ERR_PERMANENT, "loader: no backend named \"%s\"", backend);
    struct pool p;
    struct lthread t;
    int rc = pool_init(&p, c, b, e);
    lthread_init(&t, &p, 0);
    if (rc == 0 && wh_coord_connect(c, &t.coord, e)) rc = -1;
    struct buf seen; /* each load at most once per call */
    buf_init(&seen, 1u << 24);
    buf_puts(&seen, "{}");
    while (rc == 0 && (max_loads <= 0 || r->attempted < max_loads)) {
        struct claim cl;
        enum err_class cls;
        if (work_one(&t, seen.data, &cl, r, &cls) == OUT_NONE) break;
        seen.len--;
        if (buf_printf(&seen, "%s%s}", seen.len > 1 ? "," : "", cl.id)) break;
    }
    buf_free(&seen);
    lthread_close(&t);
    pool_free(&p);
    return rc;
}

/* ---- the queue, for operators ------------------------------------------------------------ */

#define SQL_LIST                                                                           \
    "SELECT l.manifest_id, m.key, m.log_type, to_char(m.day, 'YYYY-MM-DD'), l.backend,"    \
    " l.state, l.attempts, l.last_error,"                                                  \
    " to_char(l.next_attempt_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"    \
    " coalesce(l.rows_loaded, -1)"                                                         \
    " FROM loads l JOIN manifests m ON m.manifest_id = l.manifest_id"                      \
    " WHERE m.app = $1 AND ($2::boolean IS FALSE OR l.state = 'failed')"                   \
    " ORDER BY l.manifest_id, l.backend"

#define SQL_REQUEUE_FAILED                                                                 \
    "UPDATE loads l SET state = 'pending', attempts = 0, first_attempt_at = NULL,"          \
    " next_attempt_at = now(), updated_at = now() FROM manifests m"                        \
    " WHERE m.manifest_id = l.manifest_id AND m.app = $1 AND l.state = 'failed'"           \
    " AND ($2::bigint < 0 OR l.manifest_id = $2::bigint)"                                  \
    " AND ($3::text IS NULL OR l.backend = $3)"

int loader_list(const struct lf_config *c, bool failed_only, struct loader_row **rows,
                size_t *n, struct err *e)
{
    PGconn *pg;
    PGresult *r;
    *rows = NULL;
    *n = 0;
    if (wh_coord_connect(c, &pg, e)) return -1;
    const char *p[] = {c->app, failed_only ? "true" : "false"};
    int rc = pg_execp(pg, SQL_LIST, 2, p, &r, e);
    PQfinish(pg);
    if (rc) return rc;
    *n = (size_t)PQntuples(r);
    *rows = xcalloc(*n + 1, sizeof **rows);
    for (int i = 0; i < (int)*n; i++) {
        struct loader_row *w = &(*rows)[i];
        w->manifest_id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        w->manifest_key = xstrdup(PQgetvalue(r, i, 1));
        w->log_type = xstrdup(PQgetvalue(r, i, 2));
        snprintf(w->day, sizeof w->day, "%s", PQgetvalue(r, i, 3));
        w->backend = xstrdup(PQgetvalue(r, i, 4));
        w->state = xstrdup(PQgetvalue(r, i, 5));
        w->attempts = (int)strtol(PQgetvalue(r, i, 6), NULL, 10);
        w->last_error = PQgetisnull(r, i, 7) ? NULL : xstrdup(PQgetvalue(r, i, 7));
        w->next_attempt_at = xstrdup(PQgetvalue(r, i, 8));
        w->rows_loaded = strtoll(PQgetvalue(r, i, 9), NULL, 10);
    }
    PQclear(r);
    return 0;
}

void loader_rows_free(struct loader_row *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].manifest_key);
        free(v[i].log_type);
        free(v[i].backend);
        free(v[i].state);
        free(v[i].last_error);
        free(v[i].next_attempt_at);
    }
    free(v);
}

int loader_requeue(const struct lf_config *c, int64_t manifest_id, const char *backend,
                   int *count, struct err *e)
{
    PGconn *pg;
    PGresult *r;
    *count = 0;
    if (wh_coord_connect(c, &pg, e)) return -1;
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, manifest_id);
    const char *p[] = {c->app, id, backend};
    int rc = pg_execp(pg, SQL_REQUEUE_FAILED, 3, p, &r, e);
    PQfinish(pg);
    if (rc) return rc;
    *count = (int)strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    if (*count) log_info("loader", "requeued loads=%d", *count);
    return 0;
}
