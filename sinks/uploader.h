/* uploader.h — the router's upload thread pool, memory budget and
 * completion queues.
 *
 * A sealed object (struct upl_job: a finished gzip member plus what the
 * ledger needs) goes into one bounded FIFO; each of N threads, with its own
 * struct s3 and PostgreSQL connection, PUTs it (multipart from
 * router.multipart_bytes, If-None-Match when s3.if_none_match), retrying
 * RETRY / UNKNOWN_OUTCOME — and, with an error log, PERMANENT — failures
 * forever with capped jittered backoff (the body stays in memory, counted
 * against the budget, until the object is ledgered), then ledgers it
 * (sinks/ledger.h)
 * and hands the job back, with its outcome, to the submitter's struct
 * upl_sink.  A 412 on the deterministic key is resolved with HEAD: same
 * size and ETag = an earlier attempt of ours, done; anything else = a
 * foreign (orphan) object, and the upload moves to the key's "-r<n>"
 * variant, so nothing is ever overwritten.
 *
 * Memory budget: bytes the producers hold (the router: each open buffer's
 * buffer_held) plus compressed bytes in flight, across the worker.
 * Producers charge what they hold and wait (uploader_mem_wait)
 * while the total is at the limit; a job's bytes are released once S3 holds
 * them.
 *
 * Sinks: one per shard processor, reference counted (the processor and
 * every job in flight hold one).  uploader_sink_cancel (lease lost, or the
 * processor is going away) waits for a ledger transaction of that sink in
 * progress to end and guarantees no later one: its remaining jobs are
 * dropped (S3 orphans, never ledgered), so a processor started afterwards
 * on the same shard reads a ledger that no longer changes under it.
 *
 * Threads: every function may be called from any thread; jobs belong to the
 * uploader from submit until they come back through their sink.
 */
#ifndef LOGFLEET_UPLOADER_H
#define LOGFLEET_UPLOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/aws.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/err.h"
#include "sinks/buffer.h"

struct uploader;
struct upl_sink;

enum upl_outcome {
    UPL_PENDING = 0,
    UPL_LEDGERED,    /* in S3 and in the ledger: durable */
    UPL_DROPPED,     /* sink cancelled, lease not ours, or uploader stopped: not ledgered */
};

struct upl_job {
    /* filled by the submitter */
    struct buf body;             /* the gzip member; freed once S3 holds it */
    const char *log_type;        /* type name or DEADLETTER_TYPE; borrowed, outlives the job */
    bool dead;
    int32_t day;
    int64_t first_event_ms;
    const char *shard;           /* set by uploader_submit: the sink's copy */
    char first_seq[BUFFER_SEQ_MAX];
    int64_t first_sub;
    char last_seq[BUFFER_SEQ_MAX];
    int64_t last_sub;
    uint64_t records, raw_bytes;
    uint32_t reasons[BUFFER_REASONS];
    uint64_t track_id;
    /* filled by the uploader */
    int64_t charged;             /* bytes held against the budget */
    enum upl_outcome outcome;
    char *key;                   /* the key it was stored under (owned) */
    uint64_t bytes;              /* compressed size */
    struct upl_sink *sink;
    struct upl_job *next;
};

struct uploader_opts {
    const struct lf_config *cfg; /* borrowed; outlives the uploader */
    const char *worker_id;
    struct aws_creds_provider *creds; /* borrowed */
    const char *const *reason_names;  /* dead-letter reason names, nreasons of them */
    size_t nreasons;
};

struct uploader_stats {
    uint64_t objects, multipart, bytes_out, ledgered, dropped, retries, existed, foreign;
    int64_t mem_used, mem_peak;
    uint64_t paused_ms;
};

/* Starts cfg->router.upload_threads threads (S3 clients are made here, PG
 * connections on first use).  Fails only on a bad S3 client setup. */
int uploader_new(const struct uploader_opts *o, struct uploader **out, struct err *e);
/* Stops the threads (each finishes or abandons its current step); jobs
 * still queued come back through their sinks as UPL_DROPPED. */
void uploader_free(struct uploader *u);

/* ---- memory budget ---------------------------------------------------------- */

/* Adds delta (negative to release) to the bytes in use. */
void uploader_mem_charge(struct uploader *u, int64_t delta);
int64_t uploader_mem_used(const struct uploader *u);
int64_t uploader_mem_limit(const struct uploader *u);
/* Whether `need` more bytes fit now (always true when nothing is in use). */
bool uploader_mem_fits(const struct uploader *u, int64_t need);
/* Waits up to timeout_ms for `need` bytes to fit; true when they do. */
bool uploader_mem_wait(struct uploader *u, int64_t need, int timeout_ms);
/* Adds to the paused-time statistic. */
void uploader_note_paused(struct uploader *u, uint64_t ms);

/* ---- jobs and sinks ------------------------------------------------------------ */

/* A sink for the jobs of one shard (the id is copied). */
struct upl_sink *uploader_sink_new(struct uploader *u, const char *shard);
/* Drops the caller's reference (after uploader_sink_cancel, or when nothing
 * is in flight). */
void uploader_sink_release(struct upl_sink *s);
void uploader_sink_cancel(struct upl_sink *s);
bool uploader_sink_cancelled(const struct upl_sink *s);
/* Waits up to timeout_ms for a finished job; true if one is ready. */
bool uploader_sink_wait(struct upl_sink *s, int timeout_ms);
/* Takes every finished job (a list through ->next, in completion order);
 * the caller frees them with uploader_job_free. */
struct upl_job *uploader_sink_take(struct upl_sink *s);

struct upl_job *uploader_job_new(void);
void uploader_job_free(struct upl_job *j);
/* Waits up to timeout_ms for room in the upload queue (UPLOADER_QUEUE_MAX
 * jobs); true when there is some. */
#define UPLOADER_QUEUE_MAX 1024
bool uploader_queue_wait(struct uploader *u, int timeout_ms);
/* Queues j for s (j->charged = j->body.len is taken over from the caller's
 * charges).  Blocks while the queue is full: call uploader_queue_wait
 * first to wait interruptibly. */
void uploader_submit(struct uploader *u, struct upl_sink *s, struct upl_job *j);

void uploader_stats(const struct uploader *u, struct uploader_stats *out);

#endif
