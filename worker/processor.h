/* processor.h — KCL's record-processor interface, in C.
 *
 * A shard consumer owns one struct processor per held shard and calls it from
 * the consumer's thread only, in KCL order: initialize, then any number of
 * process_records, then exactly one of lease_lost / shard_ended /
 * shutdown_requested, then destroy.  Calls that may checkpoint receive a
 * struct checkpointer, valid only for the duration of the call.
 * Implementations: multilang (worker/multilang.c, a child process speaking
 * the MultiLangDaemon protocol) and router (the built-in S3 pipeline).
 */
#ifndef LOGFLEET_PROCESSOR_H
#define LOGFLEET_PROCESSOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* One (possibly de-aggregated) record as handed to a processor.  Borrowed
 * for the call.  (Named proc_record: common/kinesis.h has its own kin_record.) */
struct proc_record {
    const void *data;
    size_t len;
    const char *partition_key;
    const char *seq;          /* decimal sequence number, may exceed 64 bits */
    int64_t subseq;           /* index inside a KPL aggregate, else 0 */
    int64_t arrival_ms;       /* approximateArrivalTimestamp, epoch ms */
};

struct proc_batch {
    const struct proc_record *recs;
    size_t n;
    int64_t millis_behind;    /* -1 when unknown (sent as null) */
};

/* Checkpoint outcomes; the names are KCL's exception names on the wire. */
enum ckpt_result {
    CKPT_OK = 0,
    CKPT_INVALID_STATE,       /* "InvalidStateException" */
    CKPT_SHUTDOWN,            /* "ShutdownException": lease lost */
    CKPT_THROTTLING,          /* "ThrottlingException" */
    CKPT_DEPENDENCY,          /* "KinesisClientLibDependencyException" */
    CKPT_ILLEGAL_ARGUMENT,    /* "IllegalArgumentException": out of range */
};

const char *ckpt_result_name(enum ckpt_result r);

struct checkpointer;
struct checkpointer_ops {
    /* seq NULL means "the last record delivered" (or SHARD_END inside
     * shard_ended).  Returns the outcome; never blocks longer than one
     * coordination-store write. */
    enum ckpt_result (*checkpoint)(struct checkpointer *c, const char *seq, int64_t subseq);
};
struct checkpointer {
    const struct checkpointer_ops *ops;
    void *ctx;
};

struct processor;
struct processor_ops {
    const char *name;
    /* seq is the lease's checkpoint or a sentinel ("TRIM_HORIZON", "LATEST",
     * "AT_TIMESTAMP"); delivery starts after it. */
    int (*initialize)(struct processor *p, const char *shard_id, const char *seq,
                      int64_t subseq, struct err *e);
    int (*process_records)(struct processor *p, const struct proc_batch *b,
                           struct checkpointer *cp, struct err *e);
    int (*lease_lost)(struct processor *p, struct err *e);
    int (*shard_ended)(struct processor *p, struct checkpointer *cp, struct err *e);
    int (*shutdown_requested)(struct processor *p, struct checkpointer *cp, struct err *e);
    void (*destroy)(struct processor *p);   /* NULL-safe via processor_free */
};

struct processor {
    const struct processor_ops *ops;
    void *impl;
};

void processor_free(struct processor *p);

#endif
