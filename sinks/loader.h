/* loader.h — loads manifests into the warehouse backends, one pool per backend.
 *
 * A load is a `loads` row (manifest x backend) in the coordination DB.  Each
 * configured backend gets its own pool: backend.pool_size threads, each with
 * its own coordination connection, warehouse connection and S3 client; its
 * own queue (the backend's pending rows, claimed with UPDATE ... WHERE
 * (manifest_id, backend) = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1)); and
 * its own circuit breaker (loader.breaker_failures consecutive failures open
 * it for loader.breaker_open_ms, then one thread probes with one load; a
 * success closes it).  Pools share nothing that can block, so a dead
 * backend only grows its own backlog.
 *
 * A claim holds two session advisory locks on the thread's coordination
 * connection until the load ends: the load's own (a crashed loader's
 * 'running' rows are found by any idle thread and requeued) and its target
 * table's (at most one loader per (backend, table) in the whole fleet: COPY
 * locks the table anyway).  A missing day table is created on demand, and
 * the type's view refreshed (sinks/rotate.h), so a missed cron stalls nothing.
 *
 * Failures back off with jitter (loader.retry_base_ms .. retry_cap_ms) until
 * loader.retry_window_s after the first attempt; then the load is 'failed'
 * and an error manifest (the entries and the last error) is written under
 * <s3.prefix><manifest.error_prefix>.  An UNKNOWN_OUTCOME (connection lost
 * after COMMIT was sent) is retried like any failure: the warehouse ledger
 * decides whether it had committed.  `logfleetctl loads retry` requeues.
 *
 * Threads: loader_start/loader_stop from one controlling thread;
 * loader_stats from any thread.  The config is borrowed and must outlive
 * the loader.
 */
#ifndef LOGFLEET_LOADER_H
#define LOGFLEET_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/err.h"

enum loader_breaker_state {
    LOADER_BREAKER_CLOSED = 0,
    LOADER_BREAKER_OPEN,
    LOADER_BREAKER_HALF_OPEN,    /* one probe load in flight */
};

struct loader_stats {
    uint64_t done;               /* loads committed by this process */
    uint64_t already;            /* loads the warehouse ledger already had */
    uint64_t retried;            /* failed attempts put back with a backoff */
    uint64_t failed;             /* loads past the retry window */
    uint64_t rows;               /* rows inserted */
    enum loader_breaker_state breaker;
    uint64_t breaker_opens;
    int busy;                    /* threads inside a load right now */
};

struct loader;

/* Starts every backend's pool.  0, or -1 (nothing started). */
int loader_start(const struct lf_config *c, struct loader **out, struct err *e);
/* Asks every thread to stop, waits for the loads in flight to end, frees.
 * NULL-safe. */
void loader_stop(struct loader *l);
/* Counters of the named backend's pool: 0, or -ENOENT. */
int loader_stats(struct loader *l, const char *backend, struct loader_stats *out);

struct loader_run_result {
    int attempted;               /* loads claimed */
    int done, already, retried, failed;
    int64_t rows;
};

/* Runs the named backend's due loads one after another in the calling
 * thread (no breaker), at most max_loads (<= 0: until none is due).
 * Returns 0 when the queue could be worked (individual load failures are
 * in *r and the loads table), -1 when the backend is unknown or the
 * coordination DB unreachable. */
int loader_run_once(const struct lf_config *c, const char *backend, int max_loads,
                    struct loader_run_result *r, struct err *e);

/* ---- the queue, for operators (`logfleetctl loads`) ---------------------------- */

struct loader_row {
    int64_t manifest_id;
    char *manifest_key;
    char *log_type;
    char day[11];                /* YYYY-MM-DD */
    char *backend;
    char *state;                 /* pending running done failed */
    int attempts;
    char *last_error;            /* NULL if none */
    char *next_attempt_at;       /* ISO-8601 UTC */
    int64_t rows_loaded;         /* -1 if not loaded */
};

/* The app's loads, oldest manifest first; failed_only: state 'failed'.
 * Free with loader_rows_free. */
int loader_list(const struct lf_config *c, bool failed_only, struct loader_row **rows,
                size_t *n, struct err *e);
void loader_rows_free(struct loader_row *v, size_t n);

/* Requeues failed loads (state pending, attempts 0, next attempt now, a new
 * retry window): of manifest_id (< 0: every failed load of the app), of
 * backend (NULL: all).  *count = loads requeued. */
int loader_requeue(const struct lf_config *c, int64_t manifest_id, const char *backend,
                   int *count, struct err *e);

#endif
