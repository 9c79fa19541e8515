/* daemon.h — logfleetd's run loop: leases, shard consumers, signals.
 *
 * daemon_run wires one worker: it migrates the coordination schema,
 * registers the worker, starts the coordinator threads (renew/take and
 * shard sync, worker/coordinator.h) and the ops HTTP endpoint, and then, on
 * the calling thread, manages one consumer thread per held lease
 * (worker/consumer.h): a consumer starts when its lease is HELD (never while
 * a handoff to us is pending), is told LOST when the lease goes, HANDOFF
 * when a handoff is requested (another worker's graceful steal, `logfleetctl
 * drain`), and is replaced when it ends while the lease is still ours.
 * SIGTERM/SIGINT: stop taking and syncing, hand every lease on gracefully
 * (shutdown_requested → checkpoint → hand over → lease_lost), release what
 * is left, deregister, return 0 — unless the grace period runs out: then
 * every processor's call is abandoned, leftover children are killed and
 * daemon_run returns 1.  A second signal cuts the grace short.
 *
 * Threads: call daemon_run from main() before any other thread exists; it
 * blocks SIGTERM/SIGINT in every thread it starts and reads them from a
 * signalfd.  struct daemon_cfg is plain data borrowed for the whole run.
 */
#ifndef LOGFLEET_DAEMON_H
#define LOGFLEET_DAEMON_H

#include <stdint.h>

#include "common/aws.h"
#include "common/config.h"
#include "common/err.h"
#include "lease/lease.h"
#include "worker/consumer.h"
#include "worker/coordinator.h"

struct daemon_cfg {
    struct lease_opts lease;           /* dsn, schema, app, worker id, duration, limits */
    struct coordinator_cfg coord;      /* .kin.creds is set by daemon_run */
    struct consumer_cfg consumer;      /* .kin.creds is set by daemon_run; .factory required */
    struct aws_creds_opts creds;
    int64_t shutdown_grace_ms;
    const char *http_listen;           /* "" or NULL: no HTTP endpoint */
    const char *processor_desc;        /* for the start line, e.g. the child command */
    char worker_id_buf[256];           /* backs lease.worker_id when generated */
};

/* Fills d from logfleet.conf (strings borrowed from c); the caller then
 * overrides what a processor's own config says and sets the factory. */
void daemon_cfg_init(struct daemon_cfg *d, const struct lf_config *c);

/* Blocks SIGTERM and SIGINT in the calling thread, so that threads started
 * before daemon_run (the router's upload pool, loaders) inherit the mask and
 * the signals reach daemon_run's signalfd instead of killing the process.
 * Call from main before starting any thread. */
void daemon_block_signals(void);

/* Runs until SIGTERM/SIGINT.  Returns 0 after a graceful shutdown, 1 when
 * the grace period ran out, or a negative code with e filled when the
 * worker could not start. */
int daemon_run(const struct daemon_cfg *cfg, struct err *e);

#endif
