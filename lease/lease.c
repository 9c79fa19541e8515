/* lease.c — the coordinator object, its held set and event list, and the
 * consumer-side verbs: checkpoint, handoff completion, release, drain.
 * The renewer lives in renewer.c, the taker in taker.c, parent/child
 * bookkeeping in lineage.c.
 */
#include "lease/lease_int.h"
#include "common/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "lease/schema.h"
#include "lease/sql.h"

#define SQL_READ                                                                         \
    "SELECT lease_key, lease_owner, checkpoint_owner, checkpoint, lease_counter"        \
    " FROM @.leases WHERE app = $1 AND lease_key = ANY($2::text[])"

#define SQL_CHECKPOINT                                                                   \
    "UPDATE @.leases SET checkpoint = $4, checkpoint_sub = $5, owner_switches = 0,"    \
    " lease_counter = lease_counter + 1, updated_at = now()"                            \
    " WHERE app = $1 AND lease_key = $2 AND lease_counter = $3"                         \
    " AND ((lease_owner = $6 AND checkpoint_owner IS NULL) OR checkpoint_owner = $6)"   \
    " RETURNING lease_counter"

/* Hand to the requester (checkpoint_owner = me) or, if nobody asked, unown. */
#define SQL_GIVE_UP                                                                      \
    "UPDATE @.leases SET checkpoint_owner = NULL,"                                      \
    " lease_owner = CASE WHEN checkpoint_owner = $4 THEN lease_owner END,"              \
    " owner_switches = owner_switches + CASE WHEN checkpoint_owner = $4 THEN 1 ELSE 0 END," \
    " lease_counter = lease_counter + 1, updated_at = now()"                            \
    " WHERE app = $1 AND lease_key = $2 AND lease_counter = $3"                         \
    " AND ((lease_owner = $4 AND checkpoint_owner IS NULL) OR checkpoint_owner = $4)"   \
    " RETURNING coalesce(lease_owner, '')"

/* A pending lease we no longer want: the old owner's completion unowns it. */
#define SQL_GIVE_BACK                                                                    \
    "UPDATE @.leases SET lease_owner = NULL, updated_at = now()"                        \
    " WHERE app = $1 AND lease_key = $2 AND lease_owner = $3"                           \
    " AND checkpoint_owner IS NOT NULL"

/* ---- basics ---------------------------------------------------------- */

void lease_lock(struct lease_coord *c) { pthread_mutex_lock(&c->mu); }
void lease_unlock(struct lease_coord *c) { pthread_mutex_unlock(&c->mu); }

uint64_t lease_rand(struct lease_coord *c)
{
    uint64_t x = c->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

PGresult *lease_q(struct lease_coord *c, const char *sql, int n, const char *const *p,
                  struct err *e)
{
    if (c->in_tx && PQstatus(c->pg) != CONNECTION_OK) {
        err_set(e, LEASE_E_STORE, ERR_RETRY, "pg: connection lost inside a transaction");
        return NULL;
    }
    struct buf b;
    buf_init(&b, 1 << 16);
    for (const char *s = sql; *s; s++) {
        if (s[0] == '@' && s[1] == '.') buf_puts(&b, c->schema);
        else buf_append(&b, s, 1);
    }
    PGresult *r = lease_sql_exec(c->pg, b.data, n, p, LEASE_E_STORE, e);
    buf_free(&b);
    return r;
}

int lease_begin_locked(struct lease_coord *c, struct err *e)
{
    PGresult *r = lease_q(c, "BEGIN", 0, NULL, e);
    PQclear(r);
    c->in_tx = r != NULL;
    return r ? 0 : LEASE_E_STORE;
}

int lease_commit_locked(struct lease_coord *c, struct err *e)
{
    PGresult *r = lease_q(c, "COMMIT", 0, NULL, e);
    c->in_tx = false;
    if (!r && e) e->cls = ERR_UNKNOWN_OUTCOME; /* the commit may have happened */
    PQclear(r);
    return r ? 0 : LEASE_E_STORE;
}

void lease_rollback_locked(struct lease_coord *c)
{
    if (PQstatus(c->pg) == CONNECTION_OK) PQclear(PQexec(c->pg, "ROLLBACK"));
    c->in_tx = false;
}

static void new_token(struct lease_coord *c, char out[33])
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        uint64_t a = lease_rand(c), b = lease_rand(c);
        memcpy(raw, &a, 8);
        memcpy(raw + 8, &b, 8);
    }
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* ---- held set and events --------------------------------------------- */

struct lease_held *lease_held_find(struct lease_coord *c, const char *key)
{
    for (size_t i = 0; i < c->nheld; i++)
        if (!strcmp(c->held[i].key, key)) return &c->held[i];
    return NULL;
}

struct lease_held *lease_held_add(struct lease_coord *c, const char *key, enum lease_state st)
{
    if (c->nheld == c->capheld) {
        c->capheld = c->capheld ? 2 * c->capheld : 16;
        c->held = xrealloc(c->held, c->capheld * sizeof *c->held);
    }
    struct lease_held *h = &c->held[c->nheld++];
    memset(h, 0, sizeof *h);
    h->key = xstrdup(key);
    h->state = st;
    h->state_ms = clock_mono_ms();
    h->checkpoint = xstrdup("");
    new_token(c, h->token);
    return h;
}

static void held_clear(struct lease_held *h)
{
    free(h->key);
    free(h->checkpoint);
    lease_sql_strv_free(h->parents, h->nparents);
}

void lease_held_drop(struct lease_coord *c, struct lease_held *h, int kind)
{
    if (kind >= 0) lease_event_push(c, (enum lease_event_kind)kind, h->key, h->token);
    held_clear(h);
    size_t i = (size_t)(h - c->held);
    c->held[i] = c->held[--c->nheld];
}

void lease_event_push(struct lease_coord *c, enum lease_event_kind kind, const char *key,
                      const char *token)
{
    if (c->nev == LEASE_EVENTS_MAX) { /* bounded: drop the oldest */
        free(c->ev[0].key);
        memmove(c->ev, c->ev + 1, (c->nev - 1) * sizeof *c->ev);
        c->nev--;
        c->ev_dropped++;
    }
    if (c->nev == c->capev) {
        c->capev = c->capev ? 2 * c->capev : 16;
        c->ev = xrealloc(c->ev, c->capev * sizeof *c->ev);
    }
    struct lease_event *ev = &c->ev[c->nev++];
    ev->kind = kind;
    ev->key = xstrdup(key);
    snprintf(ev->token, sizeof ev->token, "%s", token ? token : "");
}

bool lease_held_expired(const struct lease_coord *c, const struct lease_held *h, int64_t now)
{
    return h->state != LEASE_PENDING_HANDOFF_IN && now - h->renewed_ms > c->duration_ms;
}

void lease_drop_expired_locked(struct lease_coord *c, int64_t now)
{
    for (size_t i = c->nheld; i-- > 0;) {
        struct lease_held *h = &c->held[i];
        if (!lease_held_expired(c, h, now)) continue;
        log_warn("lease", "expired_locally shard=%s worker=%s age_ms=%" PRId64, h->key, c->me,
                 now - h->renewed_ms);
        lease_held_drop(c, h, LEASE_EV_LOST);
    }
}

void lease_held_fill(struct lease_held *h, const PGresult *r, int row, int col)
{
    h->counter = lease_sql_get_i64(r, row, col);
    free(h->checkpoint);
    const char *cp = lease_sql_get(r, row, col + 1);
    h->checkpoint = xstrdup(cp ? cp : "");
    h->checkpoint_sub = lease_sql_get_i64(r, row, col + 2);
    lease_sql_strv_free(h->parents, h->nparents);
    h->parents = NULL;
    h->nparents = 0;
    if (lease_sql_parse_array(lease_sql_get(r, row, col + 3), &h->parents, &h->nparents) < 0) {
        h->parents = NULL;
        h->nparents = 0;
    }
}

/* ---- new / free -------------------------------------------------------- */

static int check_opts(const struct lease_opts *o, struct err *e)
{
    if (!o || !o->dsn || !o->app || !*o->app || !o->worker_id || !*o->worker_id)
        return err_set(e, LEASE_E_INVAL, ERR_PERMANENT, "lease: dsn, app and worker_id are required");
    if (o->schema && !lease_ident_valid(o->schema))
        return err_set(e, LEASE_E_INVAL, ERR_PERMANENT, "lease: invalid schema name \"%s\"", o->schema);
    if (o->duration_ms < 0 || o->handoff_timeout_ms < 0 || o->max_leases < 0)
        return err_set(e, LEASE_E_INVAL, ERR_PERMANENT, "lease: negative duration or limit");
    return 0;
}

int lease_coord_new(const struct lease_opts *o, struct lease_coord **out, struct err *e)
{
    *out = NULL;
    if (check_opts(o, e) < 0) return LEASE_E_INVAL;
    struct lease_coord *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->schema = xstrdup(o->schema ? o->schema : LEASE_SCHEMA_DEFAULT);
    c->app = xstrdup(o->app);
    c->me = xstrdup(o->worker_id);
    c->duration_ms = o->duration_ms ? o->duration_ms : 10000;
    c->handoff_timeout_ms = o->handoff_timeout_ms ? o->handoff_timeout_ms : 30000;
    c->max_leases = o->max_leases;
    c->max_steal = o->max_steal ? o->max_steal : 1;
    c->graceful = o->graceful_handoff;
    uint64_t seed = (uint64_t)clock_mono_ms() ^ ((uint64_t)getpid() << 32);
    for (const char *p = c->me; *p; p++) seed = seed * 131 + (unsigned char)*p;
    c->rng = seed ? seed : 88172645463325252ULL;
    if (lease_sql_connect(o->dsn, c->duration_ms, &c->pg, e) < 0) {
        if (e) e->code = LEASE_E_STORE;
        lease_coord_free(c);
        return LEASE_E_STORE;
    }
    *out = c;
    return 0;
}

void lease_coord_free(struct lease_coord *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nheld; i++) held_clear(&c->held[i]);
    free(c->held);
    for (size_t i = 0; i < c->nseen; i++) free(c->seen[i].key);
    free(c->seen);
    lease_events_free(c->ev, c->nev);
    if (c->pg) PQfinish(c->pg);
    pthread_mutex_destroy(&c->mu);
    free(c->schema);
    free(c->app);
    free(c->me);
    free(c);
}

const char *lease_coord_worker_id(const struct lease_coord *c) { return c->me; }

/* ---- fenced writes ---------------------------------------------------- */

static bool ours(const struct lease_coord *c, const char *owner, const char *ckpt_owner)
{
    if (ckpt_owner) return !strcmp(ckpt_owner, c->me);
    return owner && !strcmp(owner, c->me);
}

int lease_adopt_locked(struct lease_coord *c, struct lease_held *h, struct err *e)
{
    struct buf keys;
    buf_init(&keys, 1 << 16);
    const char *k1[] = {h->key};
    lease_sql_array(&keys, k1, 1);
    const char *p[] = {c->app, keys.data};
    PGresult *r = lease_q(c, SQL_READ, 2, p, e);
    buf_free(&keys);
    if (!r) return LEASE_E_STORE;
    int adopted = 0;
    if (PQntuples(r) == 1 && ours(c, lease_sql_get(r, 0, 1), lease_sql_get(r, 0, 2)) &&
        lease_sql_get_i64(r, 0, 4) == h->counter + 1) {
        h->counter++;
        adopted = 1;
    }
    PQclear(r);
    return adopted;
}

static bool seq_ok(const char *seq)
{
    if (!seq) return false;
    if (!strcmp(seq, "SHARD_END")) return true;
    size_t n = 0;
    for (const char *p = seq; *p; p++, n++)
        if (*p < '0' || *p > '9') return false;
    return n > 0 && n <= 256;
}

/* Finds key in a state that may write; drops it if it expired locally. */
int lease_held_for_write(struct lease_coord *c, const char *key, const char *token,
                          struct lease_held **out, struct err *e)
{
    struct lease_held *h = lease_held_find(c, key);
    if (!h || h->state == LEASE_PENDING_HANDOFF_IN)
        return err_set(e, LEASE_E_LOST, ERR_PERMANENT, "lease %s not held by %s", key, c->me);
    if (token && strcmp(token, h->token))
        return err_set(e, LEASE_E_LOST, ERR_PERMANENT, "lease %s: stale concurrency token", key);
    if (lease_held_expired(c, h, clock_mono_ms())) {
        lease_held_drop(c, h, LEASE_EV_LOST);
        return err_set(e, LEASE_E_LOST, ERR_PERMANENT, "lease %s expired locally", key);
    }
    *out = h;
    return 0;
}

int lease_fenced_locked(struct lease_coord *c, struct lease_held *h, const char *sql,
                        const char *const *extra, int nextra, PGresult **res, struct err *e)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        char ctr[24];
        snprintf(ctr, sizeof ctr, "%" PRId64, h->counter);
        const char *p[8] = {c->app, h->key, ctr};
        for (int i = 0; i < nextra && i < 5; i++) p[3 + i] = extra[i];
        int64_t sent = clock_mono_ms();
        PGresult *r = lease_q(c, sql, 3 + nextra, p, e);
        if (!r) return LEASE_E_STORE;
        if (PQntuples(r) == 1) {
            h->renewed_ms = sent;
            *res = r;
            return 1;
        }
        PQclear(r);
        int a = lease_adopt_locked(c, h, e);
        if (a <= 0) return a;
    }
    return 0;
}

int lease_checkpoint(struct lease_coord *c, const char *key, const char *token,
                     const char *seq, int64_t subseq, struct err *e)
{
    if (!seq_ok(seq) || subseq < 0)
        return err_set(e, LEASE_E_INVAL, ERR_PERMANENT, "checkpoint: invalid sequence \"%s\"",
                       seq ? seq : "(null)");
    lease_lock(c);
    struct lease_held *h;
    int rc = lease_held_for_write(c, key, token, &h, e);
    if (rc == 0) {
        char sub[24];
        snprintf(sub, sizeof sub, "%" PRId64, subseq);
        const char *x[] = {seq, sub, c->me};
        PGresult *r = NULL;
        rc = lease_fenced_locked(c, h, SQL_CHECKPOINT, x, 3, &r, e);
        if (rc == 1) {
            h->counter = lease_sql_get_i64(r, 0, 0);
            free(h->checkpoint);
            h->checkpoint = xstrdup(seq);
            h->checkpoint_sub = subseq;
            PQclear(r);
            rc = 0;
        } else if (rc == 0) {
            log_info("lease", "checkpoint_fenced shard=%s worker=%s", key, c->me);
            lease_held_drop(c, h, LEASE_EV_LOST);
            rc = err_set(e, LEASE_E_LOST, ERR_PERMANENT, "lease %s lost (fenced out)", key);
        }
    }
    lease_unlock(c);
    return rc;
}

int lease_give_up_locked(struct lease_coord *c, struct lease_held *h, enum lease_event_kind kind,
                         struct err *e)
{
    if (h->state == LEASE_PENDING_HANDOFF_IN) {
        const char *p[] = {c->app, h->key, c->me};
        PGresult *r = lease_q(c, SQL_GIVE_BACK, 3, p, e);
        if (!r) return LEASE_E_STORE;
        PQclear(r);
        lease_held_drop(c, h, (int)kind);
        return 0;
    }
    const char *x[] = {c->me};
    PGresult *r = NULL;
    int rc = lease_fenced_locked(c, h, SQL_GIVE_UP, x, 1, &r, e);
    if (rc < 0) return rc;
    if (rc == 0) {
        err_set(e, LEASE_E_LOST, ERR_PERMANENT, "lease %s lost before hand-over", h->key);
        lease_held_drop(c, h, LEASE_EV_LOST);
        return LEASE_E_LOST;
    }
    const char *to = lease_sql_get(r, 0, 0);
    log_info("lease", "%s shard=%s worker=%s to=%s", kind == LEASE_EV_RELEASED ? "released" : "handed_off",
             h->key, c->me, to && *to ? to : "-");
    PQclear(r);
    lease_held_drop(c, h, (int)kind);
    return 0;
}

static int give_up(struct lease_coord *c, const char *key, enum lease_event_kind kind,
                   struct err *e)
{
    lease_lock(c);
    struct lease_held *h = lease_held_find(c, key);
    int rc;
    if (!h) rc = err_set(e, LEASE_E_LOST, ERR_PERMANENT, "lease %s not held by %s", key, c->me);
    else if (lease_held_expired(c, h, clock_mono_ms())) {
        lease_held_drop(c, h, LEASE_EV_LOST);
        rc = err_set(e, LEASE_E_LOST, ERR_PERMANENT, "lease %s expired locally", key);
    } else rc = lease_give_up_locked(c, h, kind, e);
    lease_unlock(c);
    return rc;
}

int lease_handoff_complete(struct lease_coord *c, const char *key, struct err *e)
{
    return give_up(c, key, LEASE_EV_HANDED_OFF, e);
}

int lease_release(struct lease_coord *c, const char *key, struct err *e)
{
    return give_up(c, key, LEASE_EV_RELEASED, e);
}

int lease_release_all(struct lease_coord *c, struct err *e)
{
    int first = 0;
    struct err one;
    lease_lock(c);
    lease_drop_expired_locked(c, clock_mono_ms());
    for (size_t i = c->nheld; i-- > 0;) {
        if (i >= c->nheld) continue;
        int rc = lease_give_up_locked(c, &c->held[i], LEASE_EV_RELEASED, &one);
        if (rc < 0 && rc != LEASE_E_LOST && first == 0) {
            first = rc;
            if (e) *e = one;
        }
    }
    lease_unlock(c);
    return first;
}

void lease_drain_locked(struct lease_coord *c)
{
    if (!c->draining) log_info("lease", "draining worker=%s held=%zu", c->me, c->nheld);
    c->draining = true;
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < c->nheld; i++) {
        struct lease_held *h = &c->held[i];
        if (h->state != LEASE_HELD) continue;
        h->state = LEASE_HANDOFF_REQUESTED;
        h->state_ms = now;
        lease_event_push(c, LEASE_EV_HANDOFF_REQUESTED, h->key, h->token);
    }
}

int lease_drain(struct lease_coord *c, struct err *e)
{
    int rc = 0;
    lease_lock(c);
    lease_drain_locked(c);
    for (size_t i = c->nheld; i-- > 0;) {
        if (i >= c->nheld || c->held[i].state != LEASE_PENDING_HANDOFF_IN) continue;
        int r = lease_give_up_locked(c, &c->held[i], LEASE_EV_RELEASED, e);
        if (r < 0 && rc == 0) rc = r;
    }
    lease_unlock(c);
    return rc;
}

bool lease_draining(struct lease_coord *c)
{
    lease_lock(c);
    bool d = c->draining;
    lease_unlock(c);
    return d;
}

void lease_add_bytes(struct lease_coord *c, const char *key, uint64_t bytes)
{
    lease_lock(c);
    struct lease_held *h = lease_held_find(c, key);
    if (h) h->bytes += bytes;
    lease_unlock(c);
}

/* ---- views ------------------------------------------------------------- */

int lease_held_snapshot(struct lease_coord *c, struct lease_info **out, size_t *n)
{
    lease_lock(c);
    int64_t now = clock_mono_ms();
    lease_drop_expired_locked(c, now);
    struct lease_info *v = c->nheld ? xcalloc(c->nheld, sizeof *v) : NULL;
    for (size_t i = 0; i < c->nheld; i++) {
        const struct lease_held *h = &c->held[i];
        v[i].key = xstrdup(h->key);
        memcpy(v[i].token, h->token, sizeof v[i].token);
        v[i].state = h->state;
        v[i].counter = h->counter;
        v[i].checkpoint = xstrdup(h->checkpoint);
        v[i].checkpoint_sub = h->checkpoint_sub;
        v[i].parents = lease_sql_strv_dup(h->parents, h->nparents);
        v[i].nparents = h->nparents;
        v[i].state_age_ms = now - h->state_ms;
    }
    *out = v;
    *n = c->nheld;
    lease_unlock(c);
    return 0;
}

void lease_info_free(struct lease_info *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].key);
        free(v[i].checkpoint);
        lease_sql_strv_free(v[i].parents, v[i].nparents);
    }
    free(v);
}

int lease_events_take(struct lease_coord *c, struct lease_event **out, size_t *n)
{
    lease_lock(c);
    *out = c->ev;
    *n = c->nev;
    c->ev = NULL;
    c->nev = c->capev = 0;
    if (c->ev_dropped) {
        log_warn("lease", "events_dropped worker=%s count=%zu", c->me, c->ev_dropped);
        c->ev_dropped = 0;
    }
    lease_unlock(c);
    return 0;
}

void lease_events_free(struct lease_event *v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i].key);
    free(v);
}
