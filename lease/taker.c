/* taker.c — lease_take: one round of KCL's lease taker (reference/kcl.md B.3).
 *
 * Scan every lease of the app; remember per lease when its counter last
 * moved on our monotonic clock (first sight of an owned lease counts as a
 * move); a lease is expired when it has not moved for > duration, available
 * when unclaimed or expired.  Workers = owners of unexpired leases + us +
 * live registered workers, minus draining ones; target = ceil(leases /
 * workers), capped by max_leases.  Take available leases (expired first) up
 * to the target; if none is available, steal from the most loaded worker,
 * gracefully (checkpoint_owner, B.7) when configured.  SHARD_END leases are
 * finished work: never taken, counted or stolen.
 */
#include "lease/lease_int.h"
#include "common/clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "lease/sql.h"
#include "lease/taker.h"

#define SQL_SCAN                                                                         \
    "SELECT lease_key, lease_owner, checkpoint_owner, checkpoint, lease_counter"        \
    " FROM @.leases WHERE app = $1 ORDER BY lease_key COLLATE \"C\""

#define SQL_WORKERS                                                                      \
    "SELECT worker_id, draining,"                                                       \
    " heartbeat_at > now() - $2::bigint * interval '1 millisecond'"                     \
    " FROM @.workers WHERE app = $1"

#define SQL_TAKE                                                                         \
    "UPDATE @.leases SET lease_owner = $3, lease_counter = lease_counter + 1,"          \
    " owner_switches = owner_switches"                                                  \
    "   + CASE WHEN lease_owner IS DISTINCT FROM $3 THEN 1 ELSE 0 END,"                 \
    " checkpoint_owner = NULL, updated_at = now()"                                      \
    " WHERE app = $1 AND lease_key = $2 AND lease_counter = $4"                         \
    " AND lease_owner IS NOT DISTINCT FROM $5 AND checkpoint_owner IS NOT DISTINCT FROM $6" \
    " RETURNING lease_counter, checkpoint, checkpoint_sub, parent_keys"

/* B.7 step 1: the owner must checkpoint, then hand over to us. */
#define SQL_REQUEST                                                                      \
    "UPDATE @.leases SET checkpoint_owner = lease_owner, lease_owner = $3,"             \
    " updated_at = now()"                                                               \
    " WHERE app = $1 AND lease_key = $2 AND lease_owner = $4 AND checkpoint_owner IS NULL" \
    " RETURNING lease_counter, checkpoint, checkpoint_sub, parent_keys"

/* ---- pure arithmetic (unit-tested) ------------------------------------ */

int lease_target(size_t nleases, size_t nworkers, int max_leases)
{
    if (nworkers == 0) nworkers = 1;
    size_t t = nworkers >= nleases ? 1 : (nleases + nworkers - 1) / nworkers;
    if (max_leases > 0 && t > (size_t)max_leases) t = (size_t)max_leases;
    return (int)t;
}

int lease_steal_count(int victim_count, int target, int needed, int max_steal)
{
    int n = 0;
    if (needed <= 0 || max_steal < 0) return 0;
    if (victim_count > target) n = victim_count - target < needed ? victim_count - target : needed;
    else if (victim_count == target && needed > 1) n = 1;
    if (n > max_steal) n = max_steal;
    return n;
}

/* ---- one round ---------------------------------------------------------- */

struct row {
    struct lease_row_view v;
    bool done;       /* SHARD_END */
    bool expired, available;
};

struct round {
    struct row *rows;
    size_t n;
    char **workers;  /* distinct, sorted */
    size_t nworkers;
    char **draining;
    size_t ndraining;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_seen(const void *key, const void *el)
{
    return strcmp((const char *)key, ((const struct lease_seen *)el)->key);
}

/* Updates c->seen from the scan and classifies each row. */
static void observe(struct lease_coord *c, const PGresult *r, struct round *rd, int64_t now)
{
    size_t n = (size_t)PQntuples(r);
    struct lease_seen *seen = n ? xcalloc(n, sizeof *seen) : NULL;
    rd->rows = n ? xcalloc(n, sizeof *rd->rows) : NULL;
    rd->n = n;
    for (size_t i = 0; i < n; i++) {
        struct row *w = &rd->rows[i];
        w->v.key = PQgetvalue(r, (int)i, 0);
        w->v.owner = lease_sql_get(r, (int)i, 1);
        w->v.ckpt_owner = lease_sql_get(r, (int)i, 2);
        w->v.checkpoint = lease_sql_get(r, (int)i, 3);
        w->v.counter = lease_sql_get_i64(r, (int)i, 4);
        w->done = w->v.checkpoint && !strcmp(w->v.checkpoint, "SHARD_END");
        const struct lease_seen *old =
            c->nseen ? bsearch(w->v.key, c->seen, c->nseen, sizeof *c->seen, cmp_seen) : NULL;
        seen[i].key = xstrdup(w->v.key);
        seen[i].counter = w->v.counter;
        seen[i].changed_ms = old && old->counter == w->v.counter ? old->changed_ms : now;
        bool claimed = w->v.owner || w->v.ckpt_owner;
        w->expired = claimed && now - seen[i].changed_ms > c->duration_ms;
        w->available = !claimed || w->expired;
    }
    for (size_t i = 0; i < c->nseen; i++) free(c->seen[i].key);
    free(c->seen);
    c->seen = seen;
    c->nseen = n;
}

static bool in_sorted(char **v, size_t n, const char *s)
{
    return n && bsearch(&s, v, n, sizeof *v, cmp_str);
}

static void push_name(char ***v, size_t *n, const char *s)
{
    *v = xrealloc(*v, (*n + 1) * sizeof **v);
    (*v)[(*n)++] = xstrdup(s);
}

static void sort_unique(char **v, size_t *n)
{
    if (!*n) return;
    qsort(v, *n, sizeof *v, cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < *n; i++) {
        if (strcmp(v[i], v[k - 1])) v[k++] = v[i];
        else free(v[i]);
    }
    *n = k;
}

/* Worker set: unexpired owners + me + live workers, minus draining ones. */
static void count_workers(struct lease_coord *c, const PGresult *wr, struct round *rd)
{
    char **all = NULL;
    size_t n = 0;
    push_name(&all, &n, c->me);
    for (size_t i = 0; i < rd->n; i++)
        if (!rd->rows[i].available && !rd->rows[i].done && rd->rows[i].v.owner)
            push_name(&all, &n, rd->rows[i].v.owner);
    for (int i = 0; wr && i < PQntuples(wr); i++) {
        bool draining = PQgetvalue(wr, i, 1)[0] == 't';
        if (draining) push_name(&rd->draining, &rd->ndraining, PQgetvalue(wr, i, 0));
        else if (PQgetvalue(wr, i, 2)[0] == 't') push_name(&all, &n, PQgetvalue(wr, i, 0));
    }
    sort_unique(all, &n);
    sort_unique(rd->draining, &rd->ndraining);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (in_sorted(rd->draining, rd->ndraining, all[i]) && strcmp(all[i], c->me)) free(all[i]);
        else all[k++] = all[i];
    }
    rd->workers = all;
    rd->nworkers = k;
}

static void round_free(struct round *rd)
{
    free(rd->rows);
    lease_sql_strv_free(rd->workers, rd->nworkers);
    lease_sql_strv_free(rd->draining, rd->ndraining);
}

int lease_take_one_locked(struct lease_coord *c, const struct lease_row_view *v, struct err *e)
{
    char ctr[24];
    snprintf(ctr, sizeof ctr, "%" PRId64, v->counter);
    const char *p[] = {c->app, v->key, c->me, ctr, v->owner, v->ckpt_owner};
    int64_t sent = clock_mono_ms();
    PGresult *r = lease_q(c, SQL_TAKE, 6, p, e);
    if (!r) return LEASE_E_STORE;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return 0;
    }
    struct lease_held *h = lease_held_find(c, v->key);
    if (!h) h = lease_held_add(c, v->key, LEASE_HELD);
    else {
        h->state = LEASE_HELD;
        h->state_ms = sent;
    }
    lease_held_fill(h, r, 0, 0);
    h->renewed_ms = sent;
    PQclear(r);
    lease_event_push(c, LEASE_EV_ACQUIRED, h->key, h->token);
    log_info("lease", "taken shard=%s worker=%s from=%s counter=%" PRId64, h->key, c->me,
             v->ckpt_owner ? v->ckpt_owner : v->owner ? v->owner : "-", h->counter);
    return 1;
}

/* Rows that say they are ours but are not in the held set (a restart with
 * the same worker id, or a handoff we have not seen yet), and pending
 * handoffs whose old owner died. */
static int claim_own(struct lease_coord *c, struct round *rd, struct err *e)
{
    for (size_t i = 0; i < rd->n; i++) {
        struct row *w = &rd->rows[i];
        if (w->done) continue;
        struct lease_held *h = lease_held_find(c, w->v.key);
        bool mine = w->v.owner && !strcmp(w->v.owner, c->me);
        int rc = 0;
        if (h && h->state == LEASE_PENDING_HANDOFF_IN) {
            if (mine && (w->expired || !w->v.ckpt_owner)) rc = lease_take_one_locked(c, &w->v, e);
        } else if (!h && mine && !w->v.ckpt_owner) {
            rc = lease_take_one_locked(c, &w->v, e);
        } else if (!h && mine && strcmp(w->v.ckpt_owner, c->me)) {
            struct lease_held *p = lease_held_add(c, w->v.key, LEASE_PENDING_HANDOFF_IN);
            p->counter = w->v.counter;
            free(p->checkpoint);
            p->checkpoint = xstrdup(w->v.checkpoint ? w->v.checkpoint : "");
        }
        if (rc < 0) return rc;
    }
    return 0;
}

static int my_count(struct lease_coord *c)
{
    int n = 0;
    for (size_t i = 0; i < c->nheld; i++)
        if (c->held[i].state != LEASE_HANDOFF_REQUESTED && strcmp(c->held[i].checkpoint, "SHARD_END"))
            n++;
    return n;
}

static void shuffle(struct lease_coord *c, struct row **v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(lease_rand(c) % i);
        struct row *t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* Takes up to needed available leases, expired ones first.  Returns the
 * number of available candidates (0 means: steal instead), or <0. */
static int take_available(struct lease_coord *c, struct round *rd, int needed, struct err *e)
{
    struct row **cand = xcalloc(rd->n + 1, sizeof *cand);
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t start = n;
        for (size_t i = 0; i < rd->n; i++) {
            struct row *w = &rd->rows[i];
            if (w->done || !w->available || w->expired != (pass == 0)) continue;
            if (w->v.owner && !strcmp(w->v.owner, c->me)) continue; /* claim_own's */
            if (lease_held_find(c, w->v.key)) continue;
            cand[n++] = w;
        }
        shuffle(c, cand + start, n - start);
    }
    int rc = 0, got = 0;
    for (size_t i = 0; i < n && got < needed && rc >= 0; i++) {
        rc = lease_take_one_locked(c, &cand[i]->v, e);
        if (rc > 0) got++;
    }
    free(cand);
    return rc < 0 ? rc : (int)n;
}

static int steal_one(struct lease_coord *c, struct row *w, struct err *e)
{
    if (!c->graceful) return lease_take_one_locked(c, &w->v, e);
    const char *p[] = {c->app, w->v.key, c->me, w->v.owner};
    PGresult *r = lease_q(c, SQL_REQUEST, 4, p, e);
    if (!r) return LEASE_E_STORE;
    int got = PQntuples(r) == 1;
    if (got) {
        struct lease_held *h = lease_held_add(c, w->v.key, LEASE_PENDING_HANDOFF_IN);
        lease_held_fill(h, r, 0, 0);
        log_info("lease", "handoff_asked shard=%s worker=%s from=%s", w->v.key, c->me, w->v.owner);
    }
    PQclear(r);
    return got;
}

/* Steals from the most loaded other worker (B.3 step 8); draining workers
 * are not in the worker set: they hand their leases off by themselves. */
static int steal(struct lease_coord *c, struct round *rd, int target, int needed, struct err *e)
{
    const char *victim = NULL;
    int best = 0;
    for (size_t k = 0; k < rd->nworkers; k++) {
        const char *wk = rd->workers[k];
        if (!strcmp(wk, c->me)) continue;
        int cnt = 0;
        for (size_t i = 0; i < rd->n; i++)
            if (!rd->rows[i].available && !rd->rows[i].done && rd->rows[i].v.owner &&
                !strcmp(rd->rows[i].v.owner, wk))
                cnt++;
        if (cnt > best) best = cnt, victim = wk;
    }
    int n = victim ? lease_steal_count(best, target, needed, c->max_steal) : 0;
    if (n <= 0) return 0;
    struct row **cand = xcalloc(rd->n + 1, sizeof *cand);
    size_t nc = 0;
    for (size_t i = 0; i < rd->n; i++) {
        struct row *w = &rd->rows[i];
        if (!w->available && !w->done && !w->v.ckpt_owner && w->v.owner &&
            !strcmp(w->v.owner, victim) && !lease_held_find(c, w->v.key))
            cand[nc++] = w;
    }
    shuffle(c, cand, nc);
    int rc = 0, got = 0;
    for (size_t i = 0; i < nc && got < n && rc >= 0; i++) {
        rc = steal_one(c, cand[i], e);
        if (rc > 0) got++;
    }
    if (got) log_info("lease", "stole worker=%s from=%s count=%d graceful=%d", c->me, victim, got, c->graceful);
    free(cand);
    return rc < 0 ? rc : 0;
}

static int take_round(struct lease_coord *c, struct round *rd, struct err *e)
{
    int rc = claim_own(c, rd, e);
    if (rc < 0) return rc;
    size_t nleases = 0;
    for (size_t i = 0; i < rd->n; i++) nleases += !rd->rows[i].done;
    int target = lease_target(nleases, rd->nworkers, 0);
    if (c->max_leases > 0 && target > c->max_leases) {
        log_info("lease", "spillover worker=%s target=%d max_leases=%d", c->me, target, c->max_leases);
        target = c->max_leases;
    }
    int needed = target - my_count(c);
    if (needed <= 0) return 0;
    rc = take_available(c, rd, needed, e);
    if (rc != 0) return rc < 0 ? rc : 0;
    return steal(c, rd, target, needed, e);
}

int lease_take(struct lease_coord *c, struct err *e)
{
    lease_lock(c);
    if (c->draining) {
        lease_unlock(c);
        return 0;
    }
    char dur[24];
    snprintf(dur, sizeof dur, "%" PRId64, c->duration_ms);
    const char *p[] = {c->app, dur};
    int rc = 0;
    PGresult *r = lease_q(c, SQL_SCAN, 1, p, e);
    PGresult *wr = r ? lease_q(c, SQL_WORKERS, 2, p, e) : NULL;
    if (!r || !wr) rc = LEASE_E_STORE;
    else {
        struct round rd = {0};
        observe(c, r, &rd, clock_mono_ms());
        count_workers(c, wr, &rd);
        rc = take_round(c, &rd, e);
        round_free(&rd);
    }
    PQclear(r);
    PQclear(wr);
    lease_unlock(c);
    return rc < 0 ? rc : 0;
}
