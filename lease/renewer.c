/* renewer.c — lease_renew: keep held leases alive (KCL B.2 + B.7).
 *
 * One UPDATE renews every held lease, fenced by its counter and by
 * ownership: we renew as owner (checkpoint_owner empty) or as checkpoint
 * owner during a handoff.  A returned row whose checkpoint_owner is us and
 * owner is someone else is a handoff request.  Rows that did not match are
 * re-read once: our own lost write (counter one past ours) is adopted and
 * renewed again, anything else is a lost lease.  Leases past their local
 * deadline are dropped before any write (zombie guard).
 */
#include "lease/lease_int.h"
#include "common/clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "lease/sql.h"

#define SQL_RENEW                                                                        \
    "UPDATE @.leases l SET lease_counter = l.lease_counter + 1,"                        \
    " throughput_kbps = h.t, updated_at = now()"                                        \
    " FROM unnest($2::text[], $3::bigint[], $4::float8[]) AS h(k, c, t)"                \
    " WHERE l.app = $1 AND l.lease_key = h.k AND l.lease_counter = h.c"                 \
    " AND ((l.lease_owner = $5 AND l.checkpoint_owner IS NULL) OR l.checkpoint_owner = $5)" \
    " RETURNING l.lease_key, l.lease_counter, l.lease_owner, l.checkpoint_owner"

#define SQL_READ_KEYS                                                                    \
    "SELECT lease_key, lease_owner, checkpoint_owner, checkpoint, lease_counter"        \
    " FROM @.leases WHERE app = $1 AND lease_key = ANY($2::text[])"

/* Notes a handoff request seen on a renewed row. */
static void check_request(struct lease_coord *c, struct lease_held *h, const char *owner,
                          const char *ckpt_owner)
{
    if (h->state != LEASE_HELD || !ckpt_owner || strcmp(ckpt_owner, c->me)) return;
    if (owner && !strcmp(owner, c->me)) return;
    h->state = LEASE_HANDOFF_REQUESTED;
    h->state_ms = clock_mono_ms();
    lease_event_push(c, LEASE_EV_HANDOFF_REQUESTED, h->key, h->token);
    log_info("lease", "handoff_requested shard=%s worker=%s to=%s", h->key, c->me,
             owner ? owner : "-");
}

/* Renews every entry with mark == 1; clears the mark of those renewed. */
static int renew_pass(struct lease_coord *c, struct err *e)
{
    struct buf keys, ctrs, kbps;
    buf_init(&keys, 64u << 20);
    buf_init(&ctrs, 16u << 20);
    buf_init(&kbps, 16u << 20);
    buf_puts(&ctrs, "{");
    buf_puts(&kbps, "{");
    const char **kv = xcalloc(c->nheld + 1, sizeof *kv);
    size_t n = 0;
    for (size_t i = 0; i < c->nheld; i++) {
        struct lease_held *h = &c->held[i];
        if (h->mark != 1) continue;
        buf_printf(&ctrs, "%s%" PRId64, n ? "," : "", h->counter);
        buf_printf(&kbps, "%s%.3f", n ? "," : "", h->kbps);
        kv[n++] = h->key;
    }
    buf_puts(&ctrs, "}");
    buf_puts(&kbps, "}");
    lease_sql_array(&keys, kv, n);
    free(kv);
    int rc = 0;
    if (n) {
        const char *p[] = {c->app, keys.data, ctrs.data, kbps.data, c->me};
        int64_t sent = clock_mono_ms();
        PGresult *r = lease_q(c, SQL_RENEW, 5, p, e);
        if (!r) rc = LEASE_E_STORE;
        for (int i = 0; r && i < PQntuples(r); i++) {
            struct lease_held *h = lease_held_find(c, PQgetvalue(r, i, 0));
            if (!h) continue;
            h->counter = lease_sql_get_i64(r, i, 1);
            h->renewed_ms = sent;
            h->mark = 0;
            check_request(c, h, lease_sql_get(r, i, 2), lease_sql_get(r, i, 3));
        }
        PQclear(r);
    }
    buf_free(&keys);
    buf_free(&ctrs);
    buf_free(&kbps);
    return rc;
}

static void update_kbps(struct lease_held *h, int64_t now)
{
    int64_t ms = now - h->renewed_ms;
    if (ms <= 0) return;
    double inst = (double)h->bytes * 1000.0 / 1024.0 / (double)ms;
    h->kbps = 0.5 * inst + 0.5 * h->kbps;
    h->bytes = 0;
}

/* Renews HELD and HANDOFF_REQUESTED leases; drops the ones lost. */
static int renew_held(struct lease_coord *c, struct err *e)
{
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < c->nheld; i++) {
        struct lease_held *h = &c->held[i];
        h->mark = h->state != LEASE_PENDING_HANDOFF_IN;
        if (h->mark) update_kbps(h, now);
    }
    int rc = renew_pass(c, e);
    bool retry = false;
    for (size_t i = 0; rc == 0 && i < c->nheld; i++) {
        if (c->held[i].mark != 1) continue;
        int a = lease_adopt_locked(c, &c->held[i], e);
        if (a < 0) rc = a;
        else if (a == 0) c->held[i].mark = 2;
        else retry = true;
    }
    if (rc == 0 && retry) rc = renew_pass(c, e);
    if (rc < 0) return rc;
    for (size_t i = c->nheld; i-- > 0;) {
        struct lease_held *h = &c->held[i];
        if (!h->mark) continue;
        log_info("lease", "lost shard=%s worker=%s counter=%" PRId64, h->key, c->me, h->counter);
        lease_held_drop(c, h, LEASE_EV_LOST);
    }
    return 0;
}

/* Leases handed to us: acquire once the old owner finished, forget them if
 * someone else has them now.  (Expiry of a dead old owner: see taker.c.) */
static int settle_pending(struct lease_coord *c, struct err *e)
{
    const char **kv = xcalloc(c->nheld + 1, sizeof *kv);
    size_t n = 0;
    for (size_t i = 0; i < c->nheld; i++)
        if (c->held[i].state == LEASE_PENDING_HANDOFF_IN) kv[n++] = c->held[i].key;
    struct buf keys;
    buf_init(&keys, 64u << 20);
    lease_sql_array(&keys, kv, n);
    free(kv);
    int rc = 0;
    PGresult *r = NULL;
    if (n) {
        const char *p[] = {c->app, keys.data};
        r = lease_q(c, SQL_READ_KEYS, 2, p, e);
        if (!r) rc = LEASE_E_STORE;
    }
    buf_free(&keys);
    for (size_t i = c->nheld; r && rc >= 0 && i-- > 0;) {
        struct lease_held *h = &c->held[i];
        if (h->state != LEASE_PENDING_HANDOFF_IN) continue;
        int row = -1;
        for (int j = 0; j < PQntuples(r) && row < 0; j++)
            if (!strcmp(PQgetvalue(r, j, 0), h->key)) row = j;
        struct lease_row_view v = {0};
        if (row >= 0) {
            v.key = h->key;
            v.owner = lease_sql_get(r, row, 1);
            v.ckpt_owner = lease_sql_get(r, row, 2);
            v.checkpoint = lease_sql_get(r, row, 3);
            v.counter = lease_sql_get_i64(r, row, 4);
        }
        if (row < 0 || !v.owner || strcmp(v.owner, c->me)) {
            log_info("lease", "handoff_cancelled shard=%s worker=%s", h->key, c->me);
            lease_held_drop(c, h, LEASE_EV_LOST);
        } else if (!v.ckpt_owner) {
            int t = lease_take_one_locked(c, &v, e);
            if (t < 0) rc = t;
        }
    }
    PQclear(r);
    return rc;
}

/* Completes handoffs the consumer did not finish within the timeout. */
static int handoff_timeouts(struct lease_coord *c, struct err *e)
{
    int64_t now = clock_mono_ms();
    for (size_t i = c->nheld; i-- > 0;) {
        if (i >= c->nheld) continue;
        struct lease_held *h = &c->held[i];
        if (h->state != LEASE_HANDOFF_REQUESTED || now - h->state_ms <= c->handoff_timeout_ms)
            continue;
        log_warn("lease", "handoff_timeout shard=%s worker=%s waited_ms=%" PRId64, h->key, c->me,
                 now - h->state_ms);
        int rc = lease_give_up_locked(c, h, LEASE_EV_HANDED_OFF, e);
        if (rc < 0 && rc != LEASE_E_LOST) return rc;
    }
    return 0;
}

int lease_renew(struct lease_coord *c, struct err *e)
{
    lease_lock(c);
    lease_drop_expired_locked(c, clock_mono_ms());
    int rc = renew_held(c, e);
    if (rc == 0) rc = settle_pending(c, e);
    if (rc == 0) rc = handoff_timeouts(c, e);
    if (rc == 0) rc = lease_heartbeat_locked(c, e);
    lease_unlock(c);
    return rc;
}
