/* lease_int.h — the coordinator's insides, shared by the lease/ sources only.
 *
 * Every field is guarded by lease_coord.mu; functions named *_locked expect
 * it held.  SQL text is built once at lease_coord_new with the schema name
 * spliced in (validated by lease_ident_valid).
 */
#ifndef LOGFLEET_LEASE_INT_H
#define LOGFLEET_LEASE_INT_H

#include <libpq-fe.h>
#include <pthread.h>

#include "lease/lease.h"

#define LEASE_EVENTS_MAX 4096

struct lease_held {
    char *key;
    char token[33];
    enum lease_state state;
    int64_t counter;           /* the value our next fenced write expects */
    int64_t renewed_ms;        /* monotonic send time of the last successful write */
    int64_t state_ms;          /* monotonic time the state was entered */
    char *checkpoint;
    int64_t checkpoint_sub;
    char **parents;
    size_t nparents;
    uint64_t bytes;            /* since the last renew */
    double kbps;               /* EMA, alpha 0.5 */
    int mark;                  /* scratch for one pass of the renewer */
};

/* The taker's memory of one lease: when its counter last moved, locally. */
struct lease_seen {
    char *key;
    int64_t counter;
    int64_t changed_ms;
};

struct lease_coord {
    pthread_mutex_t mu;
    PGconn *pg;
    char *schema, *app, *me;
    int64_t duration_ms, handoff_timeout_ms;
    int max_leases, max_steal;
    bool graceful;
    bool draining;
    bool in_tx;              /* inside BEGIN..COMMIT: never reconnect silently */
    uint64_t rng;

    struct lease_held *held;
    size_t nheld, capheld;
    struct lease_seen *seen; /* sorted by key (strcmp) */
    size_t nseen;
    struct lease_event *ev;
    size_t nev, capev;
    size_t ev_dropped;

    char *sql_take;          /* the one conditional take statement */
    char *sql_read;          /* read rows by key array */
};

/* Row columns as read by sql_read and the taker's scan. */
struct lease_row_view {
    const char *key, *owner, *ckpt_owner, *checkpoint;
    int64_t counter;
};

/* Runs sql with "@." replaced by "<schema>."; NULL + e (LEASE_E_STORE) on failure. */
PGresult *lease_q(struct lease_coord *c, const char *sql, int n, const char *const *p,
                  struct err *e);
/* BEGIN / COMMIT / ROLLBACK on the coordinator's connection (sets in_tx). */
int lease_begin_locked(struct lease_coord *c, struct err *e);
int lease_commit_locked(struct lease_coord *c, struct err *e);
void lease_rollback_locked(struct lease_coord *c);
void lease_lock(struct lease_coord *c);
void lease_unlock(struct lease_coord *c);
uint64_t lease_rand(struct lease_coord *c);

struct lease_held *lease_held_find(struct lease_coord *c, const char *key);
/* Adds a held entry (new token) in state st; the caller fills the rest. */
struct lease_held *lease_held_add(struct lease_coord *c, const char *key, enum lease_state st);
/* Removes h (a pointer into c->held) and queues kind unless kind < 0. */
void lease_held_drop(struct lease_coord *c, struct lease_held *h, int kind);
void lease_event_push(struct lease_coord *c, enum lease_event_kind kind, const char *key,
                      const char *token);
/* True once h's local deadline passed (no successful write for > duration). */
bool lease_held_expired(const struct lease_coord *c, const struct lease_held *h, int64_t now);
/* Drops every locally expired lease as LOST. */
void lease_drop_expired_locked(struct lease_coord *c, int64_t now);
/* Fills h's checkpoint/parents/counter from a RETURNING row laid out as
 * (lease_counter, checkpoint, checkpoint_sub, parent_keys) from column col. */
void lease_held_fill(struct lease_held *h, const PGresult *r, int row, int col);

/* After a fenced write of h matched no row: re-reads it and, if the row is
 * still ours with counter one past ours (our own write whose reply was
 * lost), adopts that counter.  1 adopted, 0 lost, <0 store error. */
int lease_adopt_locked(struct lease_coord *c, struct lease_held *h, struct err *e);
/* Runs one fenced statement for h (params $1 app, $2 key, $3 counter, then
 * up to 5 extra), adopting our own lost write once.  1: one row returned in
 * *res (caller PQclears), 0: fenced out, <0: store error. */
int lease_fenced_locked(struct lease_coord *c, struct lease_held *h, const char *sql,
                        const char *const *extra, int nextra, PGresult **res, struct err *e);
/* Finds key held in a state that may write (not pending), checks token
 * (NULL: skip), drops it as LOST if expired locally.  0 or LEASE_E_LOST. */
int lease_held_for_write(struct lease_coord *c, const char *key, const char *token,
                         struct lease_held **out, struct err *e);
/* Gives h up (fenced): to the worker that asked for it, else unowned; a
 * pending lease is handed back.  Drops h and queues kind.  0, LEASE_E_LOST
 * (dropped as lost) or LEASE_E_STORE (kept). */
int lease_give_up_locked(struct lease_coord *c, struct lease_held *h, enum lease_event_kind kind,
                         struct err *e);
/* The conditional take: owner := me, counter + 1, checkpoint_owner := NULL,
 * fenced on the scanned (counter, owner, checkpoint_owner).  Returns 1 taken
 * (entry added or updated to HELD and ACQUIRED queued), 0 lost the race,
 * <0 store error. */
int lease_take_one_locked(struct lease_coord *c, const struct lease_row_view *v,
                          struct err *e);

/* Heartbeats the worker row; sets c->draining when asked to drain. */
int lease_heartbeat_locked(struct lease_coord *c, struct err *e);
void lease_drain_locked(struct lease_coord *c);

#endif
