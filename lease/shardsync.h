/* shardsync.h — ListShards result -> lease rows (KCL's HierarchicalShardSyncer,
 * simplified; reference/kcl.md B.6).
 *
 * Which leases are created, for shards without a lease:
 *  - a shard descending from a shard that has a lease (a reshard we already
 *    follow) starts at TRIM_HORIZON, whatever the initial position;
 *  - otherwise with TRIM_HORIZON / AT_TIMESTAMP: every open shard and every
 *    ancestor of one still in the list, at that position, so reading starts
 *    at the oldest available ancestor (parent gating keeps the order);
 *  - otherwise with LATEST: open shards only, at LATEST.
 * Every lease records its parents (parent, adjacent_parent) and hash range.
 * The sync runs in one transaction under an advisory lock per (schema, app),
 * and inserts with ON CONFLICT DO NOTHING, so concurrent syncs create each
 * lease once.  SHARD_END leases whose shard is no longer listed are deleted.
 * Thread-safe like the rest of the coordinator (it takes its mutex).
 */
#ifndef LOGFLEET_LEASE_SHARDSYNC_H
#define LOGFLEET_LEASE_SHARDSYNC_H

#include <stddef.h>

#include "common/err.h"
#include "lease/lease.h"

/* One lease to create, as planned; strings borrowed from the shard list. */
struct lease_new {
    const char *key;
    const char *checkpoint;
    const char *parents[2];
    size_t nparents;
    const char *hash_start, *hash_end;
};

/* Pure planning step.  existing: keys that have a lease, sorted by strcmp.
 * *out (caller frees) lists the leases to create in shard-list order. */
int lease_sync_plan(const struct lease_shard *shards, size_t n, char *const *existing,
                    size_t nexisting, const char *initial_position, struct lease_new **out,
                    size_t *nout, struct err *e);

/* Plans against the lease table and applies the plan; *created and
 * *deleted may be NULL. */
int lease_sync_shards(struct lease_coord *c, const struct lease_shard *shards, size_t n,
                      const char *initial_position, size_t *created, size_t *deleted,
                      struct err *e);

#endif
