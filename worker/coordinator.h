/* coordinator.h — the lease housekeeping threads of one logfleetd.
 *
 * The lease thread renews every held lease every duration/3 (KCL's
 * renewer, which also heartbeats the worker row and notices a drain
 * request) and runs a taker round every ~2 x duration, randomised by ±10%
 * so that workers started together do not scan in lockstep.  The sync
 * thread compares ListShards with the lease table at start and every
 * shard_sync_ms (lease_sync_shards) and deletes finished parent leases
 * (lease_cleanup).  They are two threads, not one, so that a slow
 * ListShards (bounded only by the AWS client timeout) never delays a
 * renewal past the lease duration.  After every round the lease thread
 * writes notify_fd (an eventfd of the consumer manager) so that new or
 * lost leases are acted on at once.
 *
 * Threads: every function here is for the thread that owns the
 * coordinator (logfleetd's main thread).  cfg and lc are borrowed and must
 * outlive it.
 */
#ifndef LOGFLEET_COORDINATOR_H
#define LOGFLEET_COORDINATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "common/aws.h"
#include "common/err.h"
#include "lease/lease.h"

struct coordinator_cfg {
    int64_t lease_ms;              /* failoverTimeMillis */
    int64_t shard_sync_ms;
    const char *stream;
    const char *initial_position;  /* for leases of shards seen for the first time */
    bool cleanup;                  /* delete SHARD_END leases whose children started */
    struct aws_client_opts kin;    /* the sync thread's own Kinesis client */
};

struct coordinator;

/* Runs the first shard sync (a failure is logged, the sync thread retries),
 * then starts both threads; the first taker round runs at once. */
int coordinator_start(const struct coordinator_cfg *cfg, struct lease_coord *lc, int notify_fd,
                      struct coordinator **out, struct err *e);
/* True once a taker round has completed. */
bool coordinator_ready(const struct coordinator *co);
/* Stops and joins the sync thread; renewing goes on (worker shutdown). */
void coordinator_stop_sync(struct coordinator *co);
/* Stops and joins both threads; NULL-safe. */
void coordinator_free(struct coordinator *co);

#endif
