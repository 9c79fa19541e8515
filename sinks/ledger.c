/* ledger.c — object ledger writes (fenced by the lease) and restart spans. */
#include "sinks/ledger.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/seq.h"
#include "common/buf.h"
#include "common/mem.h"
#include "common/pg.h"
#include "sinks/keys.h"

#define Q_LEASE                                                                         \
    "SELECT 1 FROM @.leases WHERE app = $1 AND lease_key = $2"                        \
    " AND ((lease_owner = $3 AND checkpoint_owner IS NULL) OR checkpoint_owner = $3)"  \
    " FOR SHARE"
#define Q_INSERT                                                                        \
    "INSERT INTO @.objects (app, key, log_type, day, shard, first_seq, first_sub,"    \
    " last_seq, last_sub, records, bytes, raw_bytes, dead, worker_id)"                 \
    " VALUES ($1, $2, $3, $4::date, $5, $6::numeric, $7, $8::numeric, $9, $10, $11,"   \
    " $12, $13::boolean, $14) ON CONFLICT (key) DO NOTHING RETURNING object_id"
#define Q_EXISTING                                                                      \
    "SELECT shard, first_seq::text, first_sub, last_seq::text, last_sub, records"      \
    " FROM @.objects WHERE key = $1"
#define Q_DEAD                                                                          \
    "INSERT INTO @.dead_letters (app, reason, records) VALUES ($1, $2, $3)"           \
    " ON CONFLICT (app, reason) DO UPDATE SET records = dead_letters.records + EXCLUDED.records"

/* tmpl with every "@." replaced by "<schema>." (schema is a checked
 * identifier). */
static char *sql_for(const char *tmpl, const char *schema)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    for (const char *s = tmpl; *s; s++) {
        if (s[0] == '@' && s[1] == '.') buf_puts(&b, schema);
        else buf_append(&b, s, 1);
    }
    return buf_steal(&b, NULL);
}

/* Runs a schema-qualified statement. */
static int run(PGconn *pg, const char *tmpl, const char *schema, int n, const char *const *p,
               PGresult **res, struct err *e)
{
    char *sql = sql_for(tmpl, schema);
    int rc = pg_execp(pg, sql, n, p, res, e);
    free(sql);
    return rc;
}

static void rollback(PGconn *pg)
{
    if (PQstatus(pg) == CONNECTION_OK) PQclear(PQexec(pg, "ROLLBACK"));
}

/* The row already under o->key must be this very object. */
static int same_row(PGconn *pg, const struct ledger_who *w, const struct ledger_obj *o,
                    struct err *e)
{
    PGresult *r;
    const char *p[] = {o->key};
    int rc = run(pg, Q_EXISTING, w->schema, 1, p, &r, e);
    if (rc) return rc;
    int same = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), o->shard) == 0 &&
               ckpt_seq_cmp(PQgetvalue(r, 0, 1), strtoll(PQgetvalue(r, 0, 2), NULL, 10),
                            o->first_seq, o->first_sub) == 0 &&
               ckpt_seq_cmp(PQgetvalue(r, 0, 3), strtoll(PQgetvalue(r, 0, 4), NULL, 10),
                            o->last_seq, o->last_sub) == 0 &&
               strtoull(PQgetvalue(r, 0, 5), NULL, 10) == o->records;
    PQclear(r);
    return same ? 0 : LEDGER_KEY_TAKEN;
}

static int bump_dead(PGconn *pg, const struct ledger_who *w, const struct ledger_obj *o,
                     struct err *e)
{
    for (size_t i = 0; i < o->nreasons; i++) {
        if (!o->reason_counts[i]) continue;
        char n[24];
        snprintf(n, sizeof n, "%" PRIu32, o->reason_counts[i]);
        const char *p[] = {w->app, o->reason_names[i], n};
        PGresult *r;
        int rc = run(pg, Q_DEAD, w->schema, 3, p, &r, e);
        if (rc) return rc;
        PQclear(r);
    }
    return 0;
}

/* Inside the transaction: the object row, and the dead-letter counts if new. */
static int insert(PGconn *pg, const struct ledger_who *w, const struct ledger_obj *o,
                  struct err *e)
{
    char day[11], fsub[24], lsub[24], recs[24], bytes[24], raw[24];
    keys_day_text(o->day, day);
    snprintf(fsub, sizeof fsub, "%" PRId64, o->first_sub);
    snprintf(lsub, sizeof lsub, "%" PRId64, o->last_sub);
    snprintf(recs, sizeof recs, "%" PRIu64, o->records);
    snprintf(bytes, sizeof bytes, "%" PRIu64, o->bytes);
    snprintf(raw, sizeof raw, "%" PRIu64, o->raw_bytes);
    const char *p[] = {w->app,      o->key, o->log_type, day,   o->shard,
                       o->first_seq, fsub,  o->last_seq, lsub,  recs,
                       bytes,       raw,    o->dead ? "true" : "false", w->worker_id};
    PGresult *r;
    int rc = run(pg, Q_INSERT, w->schema, 14, p, &r, e);
    if (rc) return rc;
    int inserted = PQntuples(r) == 1;
    PQclear(r);
    if (!inserted) return same_row(pg, w, o, e);
    return o->dead ? bump_dead(pg, w, o, e) : 0;
}

int ledger_commit(PGconn *pg, const struct ledger_who *w, const struct ledger_obj *o,
                  struct err *e)
{
    int rc = pg_exec(pg, "BEGIN", e);
    if (rc) return rc;
    PGresult *r;
    const char *p[] = {w->app, o->shard, w->worker_id};
    rc = run(pg, Q_LEASE, w->schema, 3, p, &r, e);
    if (rc == 0) {
        int ours = PQntuples(r) == 1;
        PQclear(r);
        if (!ours) {
            rollback(pg);
            return LEDGER_NOT_OWNER;
        }
        rc = insert(pg, w, o, e);
    }
    if (rc) { /* a failure, or LEDGER_KEY_TAKEN: nothing to commit */
        rollback(pg);
        return rc;
    }
    return pg_commit(pg, e);
}

/* ---- spans ------------------------------------------------------------------ */

#define Q_SPANS                                                                         \
    "SELECT log_type, day::text, dead, first_seq::text, first_sub, last_seq::text,"    \
    " last_sub FROM @.objects WHERE app = $1 AND shard = $2"
#define Q_SPANS_AFTER                                                                   \
    Q_SPANS " AND (last_seq > $3::numeric OR (last_seq = $3::numeric AND last_sub > $4))"

int ledger_spans_load(PGconn *pg, const struct ledger_who *w, const char *shard,
                      const char *after_seq, int64_t after_sub, struct ledger_span **out,
                      size_t *n, struct err *e)
{
    *out = NULL;
    *n = 0;
    if (after_seq && strcmp(after_seq, CKPT_SEQ_SHARD_END) == 0) return 0;
    int after = after_seq && ckpt_seq_is_digits(after_seq);
    char sub[24];
    snprintf(sub, sizeof sub, "%" PRId64, after_sub);
    const char *p[] = {w->app, shard, after_seq, sub};
    char *sql = sql_for(after ? Q_SPANS_AFTER " ORDER BY first_seq, first_sub"
                              : Q_SPANS " ORDER BY first_seq, first_sub",
                        w->schema);
    PGresult *r;
    int rc = pg_execp(pg, sql, after ? 4 : 2, p, &r, e);
    free(sql);
    if (rc) return rc;
    int rows = PQntuples(r);
    struct ledger_span *v = xcalloc(rows ? (size_t)rows : 1, sizeof *v);
    for (int i = 0; i < rows; i++) {
        v[i].log_type = xstrdup(PQgetvalue(r, i, 0));
        if (keys_day_parse(PQgetvalue(r, i, 1), &v[i].day)) v[i].day = INT32_MIN;
        v[i].dead = PQgetvalue(r, i, 2)[0] == 't';
        v[i].first_seq = xstrdup(PQgetvalue(r, i, 3));
        v[i].first_sub = strtoll(PQgetvalue(r, i, 4), NULL, 10);
        v[i].last_seq = xstrdup(PQgetvalue(r, i, 5));
        v[i].last_sub = strtoll(PQgetvalue(r, i, 6), NULL, 10);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

void ledger_spans_free(struct ledger_span *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].log_type);
        free(v[i].first_seq);
        free(v[i].last_seq);
    }
    free(v);
}

/* ---- the skip index ---------------------------------------------------------- */

struct range {
    char *first, *last;
    int64_t first_sub, last_sub;
};

struct group {
    int kind;
    int32_t day;
    struct range *r;      /* sorted by first */
    size_t n, cur;        /* ranges before cur end below every later record */
};

struct ledger_skip {
    struct group *g;
    size_t n;
    size_t hint;
    char *max_last;       /* the furthest last record of any range */
    int64_t max_last_sub;
};

static struct group *group_of(struct ledger_skip *s, int kind, int32_t day, int add)
{
    if (s->hint < s->n && s->g[s->hint].kind == kind && s->g[s->hint].day == day)
        return &s->g[s->hint];
    for (size_t i = 0; i < s->n; i++)
        if (s->g[i].kind == kind && s->g[i].day == day) return &s->g[s->hint = i];
    if (!add) return NULL;
    s->g = xrealloc(s->g, (s->n + 1) * sizeof *s->g);
    s->g[s->n] = (struct group){.kind = kind, .day = day};
    return &s->g[s->hint = s->n++];
}

static int range_cmp(const void *a, const void *b)
{
    const struct range *x = a, *y = b;
    return ckpt_seq_cmp(x->first, x->first_sub, y->first, y->first_sub);
}

struct ledger_skip *ledger_skip_new(const struct ledger_span *v, size_t n,
                                    int (*kind_of)(void *ctx, const struct ledger_span *s),
                                    void *ctx)
{
    struct ledger_skip *s = xcalloc(1, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        int kind = kind_of(ctx, &v[i]);
        if (kind == -2 || v[i].day == INT32_MIN) continue;
        struct group *g = group_of(s, kind, v[i].day, 1);
        g->r = xrealloc(g->r, (g->n + 1) * sizeof *g->r);
        g->r[g->n++] = (struct range){xstrdup(v[i].first_seq), xstrdup(v[i].last_seq),
                                      v[i].first_sub, v[i].last_sub};
        if (!s->max_last ||
            ckpt_seq_cmp(v[i].last_seq, v[i].last_sub, s->max_last, s->max_last_sub) > 0) {
            free(s->max_last);
            s->max_last = xstrdup(v[i].last_seq);
            s->max_last_sub = v[i].last_sub;
        }
    }
    for (size_t i = 0; i < s->n; i++) qsort(s->g[i].r, s->g[i].n, sizeof *s->g[i].r, range_cmp);
    return s;
}

void ledger_skip_free(struct ledger_skip *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        for (size_t k = 0; k < s->g[i].n; k++) {
            free(s->g[i].r[k].first);
            free(s->g[i].r[k].last);
        }
        free(s->g[i].r);
    }
    free(s->g);
    free(s->max_last);
    free(s);
}

bool ledger_skip_empty(const struct ledger_skip *s) { return s->max_last == NULL; }

bool ledger_skip_contains(struct ledger_skip *s, int kind, int32_t day, const char *seq,
                          int64_t sub)
{
    struct group *g = group_of(s, kind, day, 0);
    if (!g) return false;
    while (g->cur < g->n && ckpt_seq_cmp(g->r[g->cur].last, g->r[g->cur].last_sub, seq, sub) < 0)
        g->cur++;
    return g->cur < g->n && ckpt_seq_cmp(g->r[g->cur].first, g->r[g->cur].first_sub, seq, sub) <= 0;
}

bool ledger_skip_passed(struct ledger_skip *s, const char *seq, int64_t sub)
{
    return !s->max_last || ckpt_seq_cmp(s->max_last, s->max_last_sub, seq, sub) <= 0;
}
