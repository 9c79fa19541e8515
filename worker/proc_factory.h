/* proc_factory.h — how logfleetd gets a record processor for a shard.
 *
 * The daemon knows processors only through this seam: each shard consumer
 * calls create() once per processor life (a new one after a failure), on
 * its own thread, then drives the struct processor (worker/processor.h).
 * Implementations: the multilang factory (worker/kclapp.c: one
 * MultiLangDaemon child per shard) and the built-in router.  The factory
 * and its ctx are owned by whoever built them and must outlive the daemon
 * run; create() may be called from many consumer threads at once, so ctx
 * must be read-only or guard itself.
 */
#ifndef LOGFLEET_PROC_FACTORY_H
#define LOGFLEET_PROC_FACTORY_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"
#include "worker/processor.h"

struct proc_factory {
    const char *name;            /* "multilang", "router": for logs */
    /* Fills *out with a new, not yet initialized processor for shard_id.
     * cancel_fd becomes readable (and stays so) when the consumer must
     * abandon the call in progress at once (shutdown grace over): a
     * processor that can block should poll it; others may ignore it.
     * 0 or a negative code with e filled (ERR_PERMANENT: this shard's
     * consumer counts it as a failed start and backs off). */
    int (*create)(void *ctx, const char *shard_id, int cancel_fd, struct processor *out,
                  struct err *e);
    /* Optional: the process group a processor runs in (multilang's child),
     * or 0; logfleetd SIGKILLs it if the consumer is still stuck when it
     * exits after the grace period.  NULL for in-process processors. */
    pid_t (*child_pgid)(void *ctx, const struct processor *p);
    void *ctx;
    /* Call process_records also after a GetRecords that returned nothing
     * (KCL callProcessRecordsEvenForEmptyRecordList); the router sets it so
     * that it can flush and checkpoint on time. */
    bool call_empty;
};

#endif
