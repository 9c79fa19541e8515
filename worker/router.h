/* router.h — the built-in record processor: route → gzip → S3 → ledger →
 * checkpoint (DESIGN.md, "The router path and its invariants").
 *
 * One struct router per worker owns what the shards share: the routing
 * rules, the upload thread pool with the memory budget (sinks/uploader.h),
 * the AWS credentials, a coordination-DB connection for restart reads, and
 * the statistics.  router_create_processor makes one struct processor per
 * shard (worker/processor.h): it owns that shard's (type, day) buffers and
 * dead-letter buffers, tracks which records are durable
 * (checkpoint/safe.h), and checkpoints itself through the checkpointer it
 * is handed, only ever to a position whose records are all in ledgered
 * objects.  After a restart it skips records already in ledgered objects
 * (sinks/ledger.h), so every record lands in exactly one ledgered object.
 *
 * Threads: router_new / router_free from one thread, after every processor
 * is destroyed; router_create_processor and router_stats from any thread;
 * a processor from its consumer thread only (KCL order).  The config and
 * worker id are borrowed and must outlive the router.
 */
#ifndef LOGFLEET_ROUTER_H
#define LOGFLEET_ROUTER_H

#include <stdint.h>

#include "common/config.h"
#include "common/err.h"
#include "worker/processor.h"
#include "worker/router_route.h"

struct router;

/* Builds the rules, the credentials chain and the upload threads.  Fails
 * (PERMANENT) on bad types/columns, or when no AWS credentials are found. */
int router_new(const struct lf_config *c, const char *worker_id, struct router **out,
               struct err *e);
void router_free(struct router *r);

/* The proc_factory create hook (worker/proc_factory.h): router is the
 * struct router; cancel_fd (or -1) becomes readable when a blocking call
 * (a memory-budget wait, a shutdown flush) must give up at once. */
int router_create_processor(void *router, const char *shard_id, int cancel_fd,
                            struct processor *out, struct err *e);

struct router_stats {
    uint64_t records_in;         /* records handed to process_records */
    uint64_t records_routed;     /* into an archive buffer */
    uint64_t records_dead;       /* into a dead-letter buffer */
    uint64_t records_skipped;    /* already in a ledgered object (restart) */
    uint64_t records_reordered;  /* at or below the last record: ignored */
    uint64_t bytes_in;           /* record bytes handed in */
    uint64_t bytes_out;          /* compressed bytes stored in S3 */
    uint64_t objects_uploaded, objects_ledgered, objects_dropped;
    uint64_t objects_multipart;  /* uploaded by multipart (router.multipart_bytes) */
    uint64_t upload_retries;     /* S3 and ledger retries */
    uint64_t keys_existed;       /* a 412 that was an earlier attempt of ours */
    uint64_t keys_foreign;       /* a 412 from a foreign (orphan) object */
    uint64_t checkpoints;
    uint64_t pauses, paused_ms;  /* memory-budget waits */
    int64_t mem_used, mem_peak, mem_limit;
    uint64_t dead_by_reason[ROUTER_REASON_COUNT];
};

void router_stats(const struct router *r, struct router_stats *out);

#endif
