/* manifest.c — the manifest builder: objects -> manifests -> loads. */
#include "sinks/manifest.h"
#include "common/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "sinks/warehouse.h"

#define MANIFEST_BODY_MAX (64u << 20)
#define CHECK_MS 500

#define SQL_GROUPS                                                                      \
    "SELECT log_type, day - DATE '1970-01-01', count(*) FROM objects"                   \
    " WHERE app = $1 AND manifest_id IS NULL AND NOT dead"                              \
    " GROUP BY 1, 2 HAVING count(*) >= $2::int ORDER BY 1, 2"

#define SQL_TAKE                                                                        \
    "SELECT object_id, key, bytes, records FROM objects"                                \
    " WHERE app = $1 AND log_type = $2 AND day = DATE '1970-01-01' + $3::int"           \
    " AND manifest_id IS NULL AND NOT dead ORDER BY object_id LIMIT $4::int FOR UPDATE"

#define SQL_NEXT_ID "SELECT nextval(pg_get_serial_sequence('manifests', 'manifest_id'))"

#define SQL_INSERT_MANIFEST                                                             \
    "INSERT INTO manifests (manifest_id, app, key, log_type, day, objects, records, bytes)" \
    " VALUES ($1::bigint, $2, $3, $4, DATE '1970-01-01' + $5::int, $6::int, $7::bigint,"  \
    " $8::bigint)"

#define SQL_CLAIM_OBJECTS                                                               \
    "UPDATE objects SET manifest_id = $1::bigint"                                       \
    " WHERE object_id = ANY($2::bigint[]) AND manifest_id IS NULL"

#define SQL_INSERT_LOADS                                                                \
    "INSERT INTO loads (manifest_id, backend) SELECT $1::bigint, unnest($2::text[])"

/* ---- the JSON and the key ------------------------------------------------------ */

static int json_str(struct buf *b, const char *s)
{
    int rc = buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        if (*p == '"' || *p == '\\') rc = buf_printf(b, "\\%c", *p);
        else if (*p < 0x20) rc = buf_printf(b, "\\u%04x", *p);
        else rc = buf_append(b, p, 1);
    }
    return rc ? rc : buf_puts(b, "\"");
}

int manifest_json(struct buf *out, const char *bucket, const struct manifest_entry *v, size_t n,
                  const char *error_json)
{
    int rc = buf_puts(out, "{\"entries\":[");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *url = xasprintf("s3://%s/%s", bucket, v[i].key);
        rc = buf_puts(out, i ? ",{\"url\":" : "{\"url\":");
        if (rc == 0) rc = json_str(out, url);
        if (rc == 0)
            rc = buf_printf(out, ",\"mandatory\":true,\"meta\":{\"content_length\":%" PRId64 "}}",
                            v[i].bytes);
        free(url);
    }
    if (rc == 0) rc = buf_puts(out, "]");
    if (rc == 0 && error_json) rc = buf_printf(out, ",\"error\":%s", error_json);
    return rc ? rc : buf_puts(out, "}");
}

void manifest_key(char *out, size_t n, const struct lf_config *c, const char *prefix,
                  const char *type, int day, int64_t id, const char *suffix)
{
    char path[11], ymd[9];
    wh_day_path(day, path);
    wh_day_ymd(day, ymd);
    snprintf(out, n, "%s%s%s/%s/%s-%s-%" PRId64 "%s.manifest", c->s3.prefix, prefix, type, path,
             type, ymd, id, suffix ? suffix : "");
}

/* ---- one builder's connections ----------------------------------------------------- */

struct mb {
    const struct lf_config *c;
    PGconn *coord;
    struct wh_s3 s3;
};

static struct metrics_counter *m_built, *m_objects, *m_errors;

static void metrics_init(void)
{
    m_built = metrics_counter("logfleet_manifests_built_total", "Manifests written and ledgered.",
                              NULL);
    m_objects = metrics_counter("logfleet_manifest_objects_total",
                                "Objects put into manifests.", NULL);
    m_errors = metrics_counter("logfleet_manifest_errors_total",
                               "Manifest build passes that failed (retried next pass).", NULL);
}

static int mb_open(struct mb *m, struct err *e)
{
    wh_drop_if_bad(&m->coord);
    if (!m->coord && wh_coord_connect(m->c, &m->coord, e)) return -1;
    if (!m->s3.s3 && wh_s3_open(m->c, &m->s3, e)) return -1;
    return 0;
}

static void mb_close(struct mb *m)
{
    if (m->coord) PQfinish(m->coord);
    m->coord = NULL;
    if (m->s3.s3) wh_s3_close(&m->s3);
}

/* The taken objects of one manifest. */
struct batch {
    PGresult *rows;            /* object_id, key, bytes, records */
    struct manifest_entry *v;
    size_t n;
    int64_t records, bytes;
};

static void batch_fill(struct batch *b)
{
    b->n = (size_t)PQntuples(b->rows);
    b->v = xcalloc(b->n + 1, sizeof *b->v);
    for (size_t i = 0; i < b->n; i++) {
        b->v[i].key = PQgetvalue(b->rows, (int)i, 1);
        b->v[i].bytes = strtoll(PQgetvalue(b->rows, (int)i, 2), NULL, 10);
        b->bytes += b->v[i].bytes;
        b->records += strtoll(PQgetvalue(b->rows, (int)i, 3), NULL, 10);
    }
}

/* "{1,2,3}" of the batch's object ids; "{a,b}" of the backends loading type. */
static char *id_array(const struct batch *b)
{
    struct buf a;
    buf_init(&a, SIZE_MAX / 2);
    buf_puts(&a, "{");
    for (size_t i = 0; i < b->n; i++)
        buf_printf(&a, "%s%s", i ? "," : "", PQgetvalue(b->rows, (int)i, 0));
    buf_puts(&a, "}");
    return buf_steal(&a, NULL);
}

static char *backend_array(const struct lf_config *c, const char *type)
{
    struct buf a;
    buf_init(&a, SIZE_MAX / 2);
    buf_puts(&a, "{");
    for (size_t i = 0, k = 0; i < c->n_backends; i++)
        if (wh_backend_has_type(&c->backends[i], type))
            buf_printf(&a, "%s%s", k++ ? "," : "", c->backends[i].name);
    buf_puts(&a, "}");
    return buf_steal(&a, NULL);
}

/* PUT the manifest (If-None-Match when configured). */
static int put_manifest(struct mb *m, const char *key, const struct batch *b, struct err *e)
{
    struct buf body;
    buf_init(&body, MANIFEST_BODY_MAX);
    int rc = manifest_json(&body, m->c->s3.bucket, b->v, b->n, NULL);
    if (rc) rc = err_set(e, rc, ERR_PERMANENT, "manifest: %s: too large", key);
    struct s3_put_opts po = {.content_type = "application/json",
                             .if_none_match = m->c->s3.if_none_match, .content_md5 = 1};
    struct s3_put_result pr;
    if (rc == 0) rc = s3_put(m->s3.s3, key, body.data, body.len, &po, &pr, e);
    /* The id is fresh, so the key can only exist if an earlier try of this
     * very PUT landed (attempts > 1). */
    if (rc == 0 && pr.existed && pr.attempts <= 1)
        rc = err_set(e, -EEXIST, ERR_PERMANENT, "manifest: %s already exists", key);
    buf_free(&body);
    return rc;
}

/* Inside the open transaction: the manifests row, the objects, the loads. */
static int ledger_manifest(struct mb *m, const char *type, int day, const char *id,
                           const char *key, const struct batch *b, struct err *e)
{
    char dayt[16], nobj[16], rec[24], bytes[24];
    snprintf(dayt, sizeof dayt, "%d", day);
    snprintf(nobj, sizeof nobj, "%zu", b->n);
    snprintf(rec, sizeof rec, "%" PRId64, b->records);
    snprintf(bytes, sizeof bytes, "%" PRId64, b->bytes);
    const char *pm[] = {id, m->c->app, key, type, dayt, nobj, rec, bytes};
    char *ids = id_array(b), *backends = backend_array(m->c, type);
    const char *po[] = {id, ids}, *pl[] = {id, backends};
    PGresult *r = NULL;
    int rc = pg_execp(m->coord, SQL_INSERT_MANIFEST, 8, pm, &r, e);
    PQclear(r);
    if (rc == 0) rc = pg_execp(m->coord, SQL_CLAIM_OBJECTS, 2, po, &r, e);
    if (rc == 0 && strtoull(PQcmdTuples(r), NULL, 10) != b->n)
        rc = err_set(e, -EAGAIN, ERR_RETRY, "manifest: objects of %s/%d changed under the lock",
                     type, day);
    PQclear(r);
    r = NULL;
    if (rc == 0 && strcmp(backends, "{}") != 0)
        rc = pg_execp(m->coord, SQL_INSERT_LOADS, 2, pl, &r, e);
    PQclear(r);
    free(ids);
    free(backends);
    return rc;
}

/* Allocates the id, PUTs, ledgers: the batch becomes manifest *id_out. */
static int write_manifest(struct mb *m, const char *type, int day, struct batch *b,
                          struct err *e)
{
    PGresult *r;
    if (pg_execp(m->coord, SQL_NEXT_ID, 0, NULL, &r, e)) return -1;
    char id[24], key[S3_KEY_MAX];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    manifest_key(key, sizeof key, m->c, m->c->manifest.prefix, type, day,
                 strtoll(id, NULL, 10), NULL);
    int rc = put_manifest(m, key, b, e);
    if (rc == 0) rc = ledger_manifest(m, type, day, id, key, b, e);
    if (rc == 0) log_debug("manifest", "built key=%s objects=%zu", key, b->n);
    return rc;
}

/* One manifest of (type, day) if at least min_objects are pending.
 * *built = 1 when one was made; *busy = 1 when another builder holds the type. */
static int build_one(struct mb *m, const char *type, int day, int min_objects, int *built,
                     int *busy, struct manifest_result *res, struct err *e)
{
    char lock[256], dayt[16], lim[16];
    wh_lock_name(lock, sizeof lock, m->c, "manifest", type, NULL);
    snprintf(dayt, sizeof dayt, "%d", day);
    snprintf(lim, sizeof lim, "%d", m->c->manifest.max_objects);
    const char *p[] = {m->c->app, type, dayt, lim};
    struct batch b = {0};
    int got = 0, rc = pg_exec(m->coord, "BEGIN", e);
    *built = *busy = 0;
    if (rc == 0) rc = pg_try_advisory_xact_lock(m->coord, lock, &got, e);
    if (rc == 0 && !got) *busy = 1;
    if (rc == 0 && got) rc = pg_execp(m->coord, SQL_TAKE, 4, p, &b.rows, e);
    if (rc == 0 && got) batch_fill(&b);
    bool make = rc == 0 && got && b.n >= (size_t)min_objects && b.n > 0;
    if (make) rc = write_manifest(m, type, day, &b, e);
    if (make && rc == 0) {
        rc = pg_commit(m->coord, e); /* a lost reply: the next pass sees which */
        *built = rc == 0;
    } else {
        PQclear(PQexec(m->coord, "ROLLBACK"));
    }
    if (*built) {
        res->manifests++, res->objects += (int64_t)b.n;
        res->records += b.records, res->bytes += b.bytes;
        metrics_counter_inc(m_built);
        metrics_counter_add(m_objects, b.n);
    }
    PQclear(b.rows);
    free(b.v);
    return rc;
}

/* Every (type, day) with at least min_objects pending, until fewer remain. */
static int build_pass(struct mb *m, int min_objects, struct manifest_result *res, struct err *e)
{
    if (mb_open(m, e)) return -1;
    char minv[16];
    snprintf(minv, sizeof minv, "%d", min_objects);
    const char *p[] = {m->c->app, minv};
    PGresult *g;
    if (pg_execp(m->coord, SQL_GROUPS, 2, p, &g, e)) return -1;
    int rc = 0;
    const char *busy_type = NULL;
    for (int i = 0; rc == 0 && i < PQntuples(g); i++) {
        const char *type = PQgetvalue(g, i, 0);
        if (busy_type && strcmp(busy_type, type) == 0) continue;
        int day = (int)strtol(PQgetvalue(g, i, 1), NULL, 10), built = 1, busy = 0;
        while (rc == 0 && built) rc = build_one(m, type, day, min_objects, &built, &busy, res, e);
        if (busy) busy_type = type, res->types_busy++;
    }
    PQclear(g);
    return rc;
}

int manifest_build_once(const struct lf_config *c, struct manifest_result *r, struct err *e)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, metrics_init);
    struct mb m = {.c = c};
    int rc = build_pass(&m, 1, r, e);
    mb_close(&m);
    return rc;
}

/* ---- the builder thread ------------------------------------------------------------- */

struct manifest_builder {
    struct mb m;
    pthread_t th;
    pthread_mutex_t mu;            /* guards stop and total */
    pthread_cond_t cv;
    bool stop;
    struct manifest_result total;
};

static void add_result(struct manifest_result *t, const struct manifest_result *r)
{
    t->manifests += r->manifests, t->objects += r->objects, t->records += r->records;
    t->bytes += r->bytes, t->types_busy += r->types_busy;
}

/* Sleeps ms or until stop; returns stop. */
static bool mb_wait(struct manifest_builder *b, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&b->mu);
    while (!b->stop && pthread_cond_timedwait(&b->cv, &b->mu, &ts) == 0) {}
    bool stop = b->stop;
    pthread_mutex_unlock(&b->mu);
    return stop;
}

static void *builder_main(void *arg)
{
    struct manifest_builder *b = arg;
    const struct lf_config *c = b->m.c;
    int check = c->manifest.interval_ms < CHECK_MS ? c->manifest.interval_ms : CHECK_MS;
    int64_t next_full = clock_mono_ms();
    do {
        int64_t now = clock_mono_ms();
        bool full = now >= next_full;
        struct manifest_result r = {0};
        struct err e = {0};
        if (build_pass(&b->m, full ? 1 : c->manifest.max_objects, &r, &e)) {
            metrics_counter_inc(m_errors);
            log_warn("manifest", "pass_failed class=%s err=\"%s\"", err_class_name(e.cls), e.msg);
        }
        if (full) next_full = now + c->manifest.interval_ms;
        pthread_mutex_lock(&b->mu);
        add_result(&b->total, &r);
        pthread_mutex_unlock(&b->mu);
    } while (!mb_wait(b, check));
    return NULL;
}

int manifest_builder_start(const struct lf_config *c, struct manifest_builder **out,
                           struct err *e)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, metrics_init);
    struct manifest_builder *b = xcalloc(1, sizeof *b);
    b->m.c = c;
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&b->th, NULL, builder_main, b);
    if (rc == 0) pthread_setname_np(b->th, "lf-manifest");
    if (rc) {
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
        free(b);
        return err_set(e, -rc, ERR_PERMANENT, "manifest: cannot start the builder thread");
    }
    *out = b;
    return 0;
}

void manifest_builder_stop(struct manifest_builder *b)
{
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->th, NULL);
    mb_close(&b->m);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

void manifest_builder_stats(struct manifest_builder *b, struct manifest_result *total)
{
    pthread_mutex_lock(&b->mu);
    *total = b->total;
    pthread_mutex_unlock(&b->mu);
}
