/* consumer.h — one shard consumer: a thread per held lease (KCL's
 * ShardConsumer with its polling fetcher).
 *
 * The thread waits for the shard's parents to finish, creates a processor
 * through the factory, initializes it at the lease's checkpoint, reads the
 * shard with GetRecords (paced to 5 calls/s and 2 MB/s, KPL aggregates
 * de-aggregated), hands batches to the processor with a checkpointer that
 * writes fenced lease checkpoints, and at the shard's end creates the child
 * leases, lets the processor checkpoint SHARD_END and releases the lease.
 * A failed processor (child crash, hang past its timeout) is freed and a
 * new one starts from the last stored checkpoint after task_backoff_ms;
 * after max_failures failures in a row without a processed batch the lease
 * is released so another worker can try.
 *
 * Threads.  consumer_start/consumer_signal/consumer_done/consumer_join are
 * called by the consumer manager (worker/daemon.c) only; consumer_signal
 * and the getters are safe against the consumer's own thread (atomics and
 * eventfds).  Every wait inside the consumer wakes on a signal, except one
 * GetRecords/ListShards request in flight (bounded by the client timeout,
 * see consumer_cfg.kin).  The config, the lease coordinator and the factory
 * are borrowed and must outlive every consumer.
 */
#ifndef LOGFLEET_CONSUMER_H
#define LOGFLEET_CONSUMER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/aws.h"
#include "common/err.h"
#include "lease/lease.h"
#include "worker/proc_factory.h"

struct consumer_cfg {
    const char *stream;
    struct aws_client_opts kin;        /* one Kinesis client per consumer thread */
    const char *initial_position;      /* TRIM_HORIZON, LATEST, AT_TIMESTAMP */
    double initial_timestamp_s;        /* for AT_TIMESTAMP (epoch seconds) */
    int max_records;                   /* GetRecords Limit, 1..10000 */
    int64_t idle_ms;                   /* after a GetRecords that returned nothing */
    int64_t parent_poll_ms;            /* parentShardPollIntervalMillis */
    int64_t task_backoff_ms;           /* after a processor failure */
    int max_failures;                  /* in a row, then the lease is released */
    const struct proc_factory *factory;
};

/* Stop requests, in rising strength; a consumer only ever moves up. */
enum consumer_stop {
    CONSUMER_RUN = 0,
    CONSUMER_HANDOFF,  /* shutdown_requested (checkpoint), hand the lease on, lease_lost */
    CONSUMER_LOST,     /* the lease is gone: lease_lost, nothing is written */
    CONSUMER_ABORT,    /* grace over: abandon the processor's call now, kill its child */
};

struct consumer;

/* Starts the thread for the lease in *li (copied).  0 or -errno. */
int consumer_start(const struct consumer_cfg *cfg, struct lease_coord *lc,
                   const struct lease_info *li, struct consumer **out, struct err *e);
/* Raises the stop request to at least s and wakes the consumer. */
void consumer_signal(struct consumer *c, enum consumer_stop s);
/* The thread has finished (join it). */
bool consumer_done(const struct consumer *c);
/* The consumer is past initialize and reading (for readiness). */
bool consumer_processing(const struct consumer *c);
const char *consumer_key(const struct consumer *c);
const char *consumer_token(const struct consumer *c);
/* Process group of its processor's child, or 0. */
pid_t consumer_child_pgid(const struct consumer *c);
/* Joins a finished thread and frees; NULL-safe. */
void consumer_join(struct consumer *c);

#endif
