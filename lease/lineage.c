/* lineage.c — parents and children across a split or merge (KCL B.6).
 *
 * A child lease is created at TRIM_HORIZON with its parents; its consumer
 * waits until every parent lease is gone or checkpointed at SHARD_END.  A
 * finished parent is deleted once every child has started (its checkpoint
 * has moved past the start sentinels).
 */
#include "lease/lease_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "lease/sql.h"

#define SQL_COUNT_KEYS                                                                   \
    "SELECT count(*) FROM @.leases WHERE app = $1 AND lease_key = ANY($2::text[])"

#define SQL_INSERT_CHILD                                                                 \
    "INSERT INTO @.leases (app, lease_key, checkpoint, parent_keys, hash_start, hash_end)" \
    " VALUES ($1, $2, 'TRIM_HORIZON', $3::text[], $4::numeric, $5::numeric)"            \
    " ON CONFLICT (app, lease_key) DO NOTHING"

#define SQL_CHILD_KEYS                                                                   \
    "UPDATE @.leases SET child_keys = $4::text[], lease_counter = lease_counter + 1,"    \
    " updated_at = now()"                                                               \
    " WHERE app = $1 AND lease_key = $2 AND lease_counter = $3"                         \
    " AND ((lease_owner = $5 AND checkpoint_owner IS NULL) OR checkpoint_owner = $5)"   \
    " RETURNING lease_counter"

#define SQL_PARENTS_PENDING                                                              \
    "SELECT (SELECT count(*) FROM @.leases p WHERE p.app = $1"                          \
    "   AND p.lease_key = ANY(l.parent_keys) AND p.checkpoint <> 'SHARD_END')"          \
    " FROM @.leases l WHERE l.app = $1 AND l.lease_key = $2"

#define SQL_CLEANUP                                                                      \
    "DELETE FROM @.leases p WHERE p.app = $1 AND p.checkpoint = 'SHARD_END'"            \
    " AND cardinality(p.child_keys) > 0"                                                \
    " AND NOT EXISTS (SELECT 1 FROM unnest(p.child_keys) AS ck(k) WHERE NOT EXISTS ("   \
    "   SELECT 1 FROM @.leases ch WHERE ch.app = p.app AND ch.lease_key = ck.k"         \
    "   AND ch.checkpoint NOT IN ('TRIM_HORIZON', 'AT_TIMESTAMP', 'LATEST')))"          \
    " RETURNING p.lease_key"

static bool digits_or_null(const char *s)
{
    if (!s) return true;
    if (!*s || strlen(s) > 64) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

static int check_children(const struct lease_shard *ch, size_t n, struct err *e)
{
    for (size_t i = 0; i < n; i++) {
        if (!ch[i].id || !*ch[i].id)
            return err_set(e, LEASE_E_INVAL, ERR_PERMANENT, "shard_ended: child without id");
        if (!digits_or_null(ch[i].hash_start) || !digits_or_null(ch[i].hash_end))
            return err_set(e, LEASE_E_INVAL, ERR_PERMANENT, "shard_ended: bad hash range for %s",
                           ch[i].id);
    }
    return 0;
}

/* Creates one child lease unless it is a merge child with one parent lease
 * missing (the other parent's end creates it).  0 or LEASE_E_STORE. */
static int create_child(struct lease_coord *c, const char *key, const struct lease_shard *ch,
                        struct err *e)
{
    const char *par[2];
    size_t np = 0;
    if (ch->parent) par[np++] = ch->parent;
    if (ch->adjacent_parent) par[np++] = ch->adjacent_parent;
    if (np == 0) par[np++] = key;
    struct buf arr;
    buf_init(&arr, 1 << 16);
    lease_sql_array(&arr, par, np);
    int rc = 0;
    if (np == 2) {
        const char *p[] = {c->app, arr.data};
        PGresult *r = lease_q(c, SQL_COUNT_KEYS, 2, p, e);
        if (!r) rc = LEASE_E_STORE;
        else if (lease_sql_get_i64(r, 0, 0) == 1) rc = 1;
        PQclear(r);
    }
    if (rc == 0) {
        const char *p[] = {c->app, ch->id, arr.data, ch->hash_start, ch->hash_end};
        PGresult *r = lease_q(c, SQL_INSERT_CHILD, 5, p, e);
        if (!r) rc = LEASE_E_STORE;
        else if (strcmp(PQcmdTuples(r), "0"))
            log_info("lease", "child_created shard=%s parent=%s", ch->id, key);
        PQclear(r);
    } else if (rc == 1) {
        log_info("lease", "child_deferred shard=%s parent=%s reason=other_parent_missing", ch->id, key);
        rc = 0;
    }
    buf_free(&arr);
    return rc;
}

int lease_shard_ended(struct lease_coord *c, const char *key, const struct lease_shard *children,
                      size_t n, struct err *e)
{
    if (check_children(children, n, e) < 0) return LEASE_E_INVAL;
    lease_lock(c);
    struct lease_held *h;
    int rc = lease_held_for_write(c, key, NULL, &h, e);
    if (rc == 0) rc = lease_begin_locked(c, e);
    if (rc < 0) goto out;
    /* the counter moves only if the transaction commits */
    int64_t ctr0 = h->counter, renewed0 = h->renewed_ms;
    for (size_t i = 0; i < n && rc == 0; i++) rc = create_child(c, key, &children[i], e);
    if (rc == 0) {
        const char **ids = xcalloc(n + 1, sizeof *ids);
        for (size_t i = 0; i < n; i++) ids[i] = children[i].id;
        struct buf arr;
        buf_init(&arr, 1 << 16);
        lease_sql_array(&arr, ids, n);
        free(ids);
        const char *x[] = {arr.data, c->me};
        PGresult *r = NULL;
        rc = lease_fenced_locked(c, h, SQL_CHILD_KEYS, x, 2, &r, e);
        buf_free(&arr);
        if (rc == 1) h->counter = lease_sql_get_i64(r, 0, 0);
        PQclear(r);
    }
    if (rc == 1) {
        rc = lease_commit_locked(c, e);
        if (rc == 0) log_info("lease", "shard_ended shard=%s children=%zu", key, n);
        else h->counter = ctr0, h->renewed_ms = renewed0; /* a lost commit is adopted later */
        goto out;
    }
    lease_rollback_locked(c);
    h->counter = ctr0;
    h->renewed_ms = renewed0;
    if (rc == 0) {
        lease_held_drop(c, h, LEASE_EV_LOST);
        rc = err_set(e, LEASE_E_LOST, ERR_PERMANENT, "lease %s lost (fenced out)", key);
    }
out:
    lease_unlock(c);
    return rc;
}

int lease_parents_done(struct lease_coord *c, const char *key, bool *done, struct err *e)
{
    *done = false;
    lease_lock(c);
    const char *p[] = {c->app, key};
    PGresult *r = lease_q(c, SQL_PARENTS_PENDING, 2, p, e);
    int rc = r ? 0 : LEASE_E_STORE;
    if (r && PQntuples(r) == 0)
        rc = err_set(e, LEASE_E_NOTFOUND, ERR_PERMANENT, "no lease %s", key);
    else if (r) *done = lease_sql_get_i64(r, 0, 0) == 0;
    PQclear(r);
    lease_unlock(c);
    return rc;
}

int lease_cleanup(struct lease_coord *c, size_t *deleted, struct err *e)
{
    if (deleted) *deleted = 0;
    lease_lock(c);
    const char *p[] = {c->app};
    PGresult *r = lease_q(c, SQL_CLEANUP, 1, p, e);
    for (int i = 0; r && i < PQntuples(r); i++) {
        const char *k = PQgetvalue(r, i, 0);
        log_info("lease", "cleaned shard=%s reason=children_started", k);
        struct lease_held *h = lease_held_find(c, k);
        if (h) lease_held_drop(c, h, LEASE_EV_RELEASED);
    }
    if (r && deleted) *deleted = (size_t)PQntuples(r);
    PQclear(r);
    lease_unlock(c);
    return r ? 0 : LEASE_E_STORE;
}
