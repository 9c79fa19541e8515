/* lease.h — the lease coordinator: KCL's lease model on PostgreSQL.
 *
 * One struct lease_coord per worker process holds the worker's view of the
 * lease table (reference/kcl.md B): the leases it holds, what it last saw of
 * every lease (counter + local monotonic time of its last change, for expiry
 * without a shared clock), and one PG connection.  Every write is a
 * conditional UPDATE fenced by lease_counter; expiry is judged locally, and a
 * lease whose local deadline passed is never renewed (zombie guard).
 *
 * Threads.  One mutex guards everything inside (connection, held set, taker
 * view, event list), so every function below may be called from any thread;
 * SQL runs under the mutex, so a call may wait for another's round trip.
 *   coordinator thread: lease_renew (every duration/3), lease_take (every
 *     ~2 x duration), lease_sync_shards (shardsync.h), lease_cleanup,
 *     lease_worker_register/_deregister.
 *   consumer threads:   lease_checkpoint, lease_shard_ended,
 *     lease_parents_done, lease_handoff_complete, lease_release, lease_add_bytes.
 *   consumer manager:   lease_held_snapshot / lease_events_take to start and
 *     stop shard consumers; lease_drain on SIGTERM; lease_release_all at exit.
 * Ownership: the coordinator copies everything it is given; snapshots and
 * events are owned by the caller (free with lease_info_free / lease_events_free).
 */
#ifndef LOGFLEET_LEASE_H
#define LOGFLEET_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Error codes (struct err.code and return values). */
enum {
    LEASE_E_LOST = -3001,  /* not held, fenced out or expired locally: KCL ShutdownException */
    LEASE_E_STORE = -3002, /* PostgreSQL failed (cls RETRY or PERMANENT): KinesisClientLibDependencyException */
    LEASE_E_INVAL = -3003, /* bad argument (cls PERMANENT): KCL IllegalArgumentException */
    LEASE_E_NOTFOUND = -3004, /* no such lease row */
};

struct lease_opts {
    const char *dsn;
    const char *schema;          /* NULL: "logfleet" */
    const char *app;             /* KCL applicationName; leases are per app */
    const char *worker_id;       /* unique per live worker process */
    int64_t duration_ms;         /* failoverTimeMillis; 0: 10000 */
    int max_leases;              /* 0: unlimited (maxLeasesForWorker) */
    int max_steal;               /* 0: 1; < 0: never steal (maxLeasesToStealAtOneTime) */
    bool graceful_handoff;       /* steal via checkpoint_owner (KCL 3.x B.7) */
    int64_t handoff_timeout_ms;  /* 0: 30000; the renewer hands over after it */
};

enum lease_state {
    LEASE_HELD = 0,              /* ours: process it */
    LEASE_HANDOFF_REQUESTED,     /* ours until we hand it on: shut the consumer down
                                    gracefully (checkpoint), then lease_handoff_complete */
    LEASE_PENDING_HANDOFF_IN,    /* given to us, old owner still finishing: do not start */
};

struct lease_info {
    char *key;
    char token[33];              /* concurrency token of this tenure */
    enum lease_state state;
    int64_t counter;
    char *checkpoint;            /* TRIM_HORIZON, LATEST, AT_TIMESTAMP, digits, SHARD_END */
    int64_t checkpoint_sub;
    char **parents;
    size_t nparents;
    int64_t state_age_ms;        /* time in the current state */
};

enum lease_event_kind {
    LEASE_EV_ACQUIRED = 0,       /* now HELD: start a consumer at its checkpoint */
    LEASE_EV_LOST,               /* gone without handoff: leaseLost, no checkpoint */
    LEASE_EV_HANDOFF_REQUESTED,  /* shutdownRequested, checkpoint, then complete */
    LEASE_EV_HANDED_OFF,         /* handed on (by us, or by the renewer after the timeout) */
    LEASE_EV_RELEASED,           /* released by lease_release */
};

struct lease_event {
    enum lease_event_kind kind;
    char *key;
    char token[33];
};

struct lease_coord;

/* Connects; does not register the worker or migrate. */
int lease_coord_new(const struct lease_opts *o, struct lease_coord **out, struct err *e);
void lease_coord_free(struct lease_coord *c);
const char *lease_coord_worker_id(const struct lease_coord *c);

/* Renews every held lease (one fenced UPDATE for all), detects handoff
 * requests, acquires leases handed to us, completes handoffs past the
 * timeout, drops locally expired leases as lost, and heartbeats the worker
 * row (a draining flag set there by `logfleetctl drain` starts lease_drain). */
int lease_renew(struct lease_coord *c, struct err *e);
/* One taker round (B.3): scan, take available leases up to the target, else
 * steal from the most loaded worker.  A no-op while draining. */
int lease_take(struct lease_coord *c, struct err *e);

/* Fenced checkpoint.  token: the lease_info token of the caller's tenure, or
 * NULL to skip that check.  seq: digits or "SHARD_END".
 * LEASE_E_LOST when not held, pending, fenced out or locally expired;
 * LEASE_E_STORE (cls RETRY) when PostgreSQL failed. */
int lease_checkpoint(struct lease_coord *c, const char *key, const char *token,
                     const char *seq, int64_t subseq, struct err *e);
/* Hands a lease on after its consumer checkpointed: to the worker that
 * requested it, or unowned (drain).  Drops it locally.  Works on HELD too. */
int lease_handoff_complete(struct lease_coord *c, const char *key, struct err *e);
/* Sets owner = NULL (fenced) and drops the lease locally. */
int lease_release(struct lease_coord *c, const char *key, struct err *e);
/* Releases (or completes the handoff of) every held lease; first error wins. */
int lease_release_all(struct lease_coord *c, struct err *e);
/* Stops taking and marks every held lease HANDOFF_REQUESTED so the consumer
 * manager shuts each down, checkpoints and calls lease_handoff_complete
 * (the renewer completes it after handoff_timeout_ms); leases pending
 * handoff to us are given back. */
int lease_drain(struct lease_coord *c, struct err *e);
bool lease_draining(struct lease_coord *c);
/* Counts bytes delivered for a held lease (throughput_kbps, written at renew). */
void lease_add_bytes(struct lease_coord *c, const char *key, uint64_t bytes);

/* Copies the held set (locally expired leases are dropped first). */
int lease_held_snapshot(struct lease_coord *c, struct lease_info **out, size_t *n);
void lease_info_free(struct lease_info *v, size_t n);
/* Moves pending events out (oldest first).  The list holds at most 4096;
 * past that the oldest are dropped: the snapshot is authoritative. */
int lease_events_take(struct lease_coord *c, struct lease_event **out, size_t *n);
void lease_events_free(struct lease_event *v, size_t n);

/* A shard as ListShards / GetRecords ChildShards report it. */
struct lease_shard {
    const char *id;
    const char *parent;          /* NULL if none */
    const char *adjacent_parent; /* NULL unless a merge */
    const char *hash_start;      /* decimal strings; may be NULL */
    const char *hash_end;
    bool closed;                 /* has an ending sequence number */
};

/* At the end of a held shard: creates the missing child leases at
 * TRIM_HORIZON with their parents (a merge child only when both parents have
 * leases or neither has) and records child_keys on this lease (fenced).  The
 * SHARD_END checkpoint itself is written by lease_checkpoint once the
 * shard's records are durable; then lease_release. */
int lease_shard_ended(struct lease_coord *c, const char *key, const struct lease_shard *children,
                      size_t n, struct err *e);
/* *done = every parent of key is absent or checkpointed at SHARD_END. */
int lease_parents_done(struct lease_coord *c, const char *key, bool *done, struct err *e);
/* Deletes SHARD_END leases whose children all exist and have started
 * (checkpoint past TRIM_HORIZON/AT_TIMESTAMP/LATEST); *deleted may be NULL. */
int lease_cleanup(struct lease_coord *c, size_t *deleted, struct err *e);

/* Worker registry (workers table). */
int lease_worker_register(struct lease_coord *c, struct err *e);
int lease_worker_deregister(struct lease_coord *c, struct err *e);

#endif
