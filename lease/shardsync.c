/* shardsync.c — create leases for the shards of a stream (see shardsync.h). */
#include "lease/shardsync.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "lease/lease_int.h"
#include "lease/sql.h"

#define SQL_KEYS "SELECT lease_key FROM @.leases WHERE app = $1 ORDER BY lease_key COLLATE \"C\""

#define SQL_INSERT                                                                       \
    "INSERT INTO @.leases (app, lease_key, checkpoint, parent_keys, hash_start, hash_end)" \
    " SELECT $1, k, cp, array_remove(ARRAY[p1, p2], NULL), hs::numeric, he::numeric"    \
    " FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])" \
    "   AS u(k, cp, p1, p2, hs, he)"                                                    \
    " ON CONFLICT (app, lease_key) DO NOTHING"

#define SQL_GONE                                                                         \
    "DELETE FROM @.leases WHERE app = $1 AND checkpoint = 'SHARD_END'"                  \
    " AND NOT (lease_key = ANY($2::text[])) RETURNING lease_key"

struct plan {
    const struct lease_shard *s;
    size_t n;
    size_t *order;          /* shard indices sorted by id */
    char *const *ex;
    size_t nex;
    signed char *desc;      /* -1 unknown, 0/1, 2 visiting */
    unsigned char *mark;
};

static int cmp_order(const void *a, const void *b, void *arg)
{
    const struct lease_shard *s = arg;
    return strcmp(s[*(const size_t *)a].id, s[*(const size_t *)b].id);
}

static long find(const struct plan *p, const char *id)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(p->s[p->order[mid]].id, id);
        if (c == 0) return (long)p->order[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static bool has_lease(const struct plan *p, const char *id)
{
    size_t lo = 0, hi = p->nex;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(p->ex[mid], id);
        if (c == 0) return true;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return false;
}

/* Does shard i descend from a shard that has a lease? */
static bool descends(struct plan *p, size_t i)
{
    if (p->desc[i] >= 0) return p->desc[i] == 1;
    p->desc[i] = 2; /* a cycle in bad input ends here as "no" */
    const char *par[2] = {p->s[i].parent, p->s[i].adjacent_parent};
    bool d = false;
    for (int k = 0; k < 2 && !d; k++) {
        if (!par[k]) continue;
        if (has_lease(p, par[k])) d = true;
        else {
            long j = find(p, par[k]);
            d = j >= 0 && p->desc[j] != 2 && descends(p, (size_t)j);
        }
    }
    p->desc[i] = d;
    return d;
}

/* Marks every open shard without a lease and its lease-less ancestors. */
static void mark_candidates(struct plan *p)
{
    size_t *stack = xcalloc(p->n + 1, sizeof *stack);
    for (size_t i = 0; i < p->n; i++) {
        if (p->s[i].closed || has_lease(p, p->s[i].id)) continue;
        size_t top = 0;
        stack[top++] = i;
        while (top) {
            size_t k = stack[--top];
            if (p->mark[k]) continue;
            p->mark[k] = 1;
            const char *par[2] = {p->s[k].parent, p->s[k].adjacent_parent};
            for (int q = 0; q < 2; q++) {
                long j = par[q] ? find(p, par[q]) : -1;
                if (j >= 0 && !p->mark[j] && !has_lease(p, par[q]) && top < p->n)
                    stack[top++] = (size_t)j;
            }
        }
    }
    free(stack);
}

static int check_input(const struct lease_shard *s, size_t n, const char *pos, struct err *e)
{
    if (!pos || (strcmp(pos, "TRIM_HORIZON") && strcmp(pos, "LATEST") && strcmp(pos, "AT_TIMESTAMP")))
        return err_set(e, LEASE_E_INVAL, ERR_PERMANENT, "shard sync: bad initial position \"%s\"",
                       pos ? pos : "(null)");
    for (size_t i = 0; i < n; i++) {
        if (!s[i].id || !*s[i].id)
            return err_set(e, LEASE_E_INVAL, ERR_PERMANENT, "shard sync: shard without id");
        const char *h[2] = {s[i].hash_start, s[i].hash_end};
        for (int k = 0; k < 2; k++) {
            if (!h[k]) continue;
            size_t len = strspn(h[k], "0123456789");
            if (!len || h[k][len] || len > 64)
                return err_set(e, LEASE_E_INVAL, ERR_PERMANENT, "shard sync: bad hash key for %s",
                               s[i].id);
        }
    }
    return 0;
}

int lease_sync_plan(const struct lease_shard *shards, size_t n, char *const *existing,
                    size_t nexisting, const char *initial_position, struct lease_new **out,
                    size_t *nout, struct err *e)
{
    *out = NULL;
    *nout = 0;
    if (check_input(shards, n, initial_position, e) < 0) return LEASE_E_INVAL;
    struct plan p = {shards, n, xcalloc(n + 1, sizeof(size_t)), existing, nexisting,
                     xmalloc(n + 1), xcalloc(n + 1, 1)};
    for (size_t i = 0; i < n; i++) p.order[i] = i;
    memset(p.desc, -1, n + 1);
    qsort_r(p.order, n, sizeof *p.order, cmp_order, (void *)shards);
    mark_candidates(&p);
    bool latest = !strcmp(initial_position, "LATEST");
    struct lease_new *v = xcalloc(n + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!p.mark[i]) continue;
        const char *cp = descends(&p, i) ? "TRIM_HORIZON"
                         : latest        ? (shards[i].closed ? NULL : "LATEST")
                                         : initial_position;
        if (!cp) continue;
        struct lease_new *w = &v[k++];
        w->key = shards[i].id;
        w->checkpoint = cp;
        if (shards[i].parent) w->parents[w->nparents++] = shards[i].parent;
        if (shards[i].adjacent_parent) w->parents[w->nparents++] = shards[i].adjacent_parent;
        w->hash_start = shards[i].hash_start;
        w->hash_end = shards[i].hash_end;
    }
    free(p.order);
    free(p.desc);
    free(p.mark);
    *out = v;
    *nout = k;
    return 0;
}

/* Inserts the planned leases in one statement; *created = rows inserted. */
static int insert_plan(struct lease_coord *c, const struct lease_new *v, size_t n, size_t *created,
                       struct err *e)
{
    const char **col[6];
    for (int j = 0; j < 6; j++) col[j] = xcalloc(n + 1, sizeof *col[j]);
    for (size_t i = 0; i < n; i++) {
        col[0][i] = v[i].key;
        col[1][i] = v[i].checkpoint;
        col[2][i] = v[i].nparents > 0 ? v[i].parents[0] : NULL;
        col[3][i] = v[i].nparents > 1 ? v[i].parents[1] : NULL;
        col[4][i] = v[i].hash_start;
        col[5][i] = v[i].hash_end;
    }
    struct buf arr[6];
    const char *p[7] = {c->app};
    for (int j = 0; j < 6; j++) {
        buf_init(&arr[j], 256u << 20);
        lease_sql_array(&arr[j], col[j], n);
        p[j + 1] = arr[j].data;
        free(col[j]);
    }
    PGresult *r = lease_q(c, SQL_INSERT, 7, p, e);
    for (int j = 0; j < 6; j++) buf_free(&arr[j]);
    if (!r) return LEASE_E_STORE;
    *created = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

/* Deletes SHARD_END leases of shards no longer listed. */
static int delete_gone(struct lease_coord *c, const struct lease_shard *s, size_t n,
                       size_t *deleted, struct err *e)
{
    const char **ids = xcalloc(n + 1, sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = s[i].id;
    struct buf arr;
    buf_init(&arr, 256u << 20);
    lease_sql_array(&arr, ids, n);
    free(ids);
    const char *p[] = {c->app, arr.data};
    PGresult *r = lease_q(c, SQL_GONE, 2, p, e);
    buf_free(&arr);
    if (!r) return LEASE_E_STORE;
    for (int i = 0; i < PQntuples(r); i++) {
        log_info("lease", "cleaned shard=%s reason=shard_gone", PQgetvalue(r, i, 0));
        struct lease_held *h = lease_held_find(c, PQgetvalue(r, i, 0));
        if (h) lease_held_drop(c, h, LEASE_EV_RELEASED);
    }
    *deleted = (size_t)PQntuples(r);
    PQclear(r);
    return 0;
}

static int sync_locked(struct lease_coord *c, const struct lease_shard *shards, size_t n,
                       const char *pos, size_t *created, size_t *deleted, struct err *e)
{
    char key[24];
    lease_sql_lock_key("shardsync", c->schema, c->app, key);
    const char *lk[] = {key};
    const char *ap[] = {c->app};
    PGresult *r = lease_q(c, "SELECT pg_advisory_xact_lock($1::bigint)", 1, lk, e);
    if (!r) return LEASE_E_STORE;
    PQclear(r);
    r = lease_q(c, SQL_KEYS, 1, ap, e);
    if (!r) return LEASE_E_STORE;
    size_t nex = (size_t)PQntuples(r);
    char **ex = xcalloc(nex + 1, sizeof *ex);
    for (size_t i = 0; i < nex; i++) ex[i] = PQgetvalue(r, (int)i, 0);
    struct lease_new *plan;
    size_t nplan;
    int rc = lease_sync_plan(shards, n, ex, nex, pos, &plan, &nplan, e);
    free(ex);
    PQclear(r);
    if (rc == 0 && nplan) rc = insert_plan(c, plan, nplan, created, e);
    if (rc == 0 && n) rc = delete_gone(c, shards, n, deleted, e);
    if (rc == 0 && (*created || *deleted))
        log_info("lease", "shard_sync app=%s shards=%zu created=%zu deleted=%zu", c->app, n,
                 *created, *deleted);
    free(plan);
    return rc;
}

int lease_sync_shards(struct lease_coord *c, const struct lease_shard *shards, size_t n,
                      const char *initial_position, size_t *created, size_t *deleted,
                      struct err *e)
{
    size_t cr = 0, del = 0;
    if (check_input(shards, n, initial_position, e) < 0) return LEASE_E_INVAL;
    lease_lock(c);
    int rc = lease_begin_locked(c, e);
    if (rc == 0) rc = sync_locked(c, shards, n, initial_position, &cr, &del, e);
    if (rc == 0) rc = lease_commit_locked(c, e);
    else if (c->in_tx) lease_rollback_locked(c);
    lease_unlock(c);
    if (created) *created = rc == 0 ? cr : 0;
    if (deleted) *deleted = rc == 0 ? del : 0;
    return rc;
}
