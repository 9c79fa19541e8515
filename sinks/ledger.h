/* ledger.h — the object ledger in the coordination database (migration 2:
 * `objects`, `dead_letters`), as the router writes and reads it.
 *
 * ledger_commit records one object that S3 has confirmed, in ONE
 * transaction that first re-checks, FOR SHARE, that the shard's lease is
 * still this worker's (as owner, or as checkpoint owner during a graceful
 * handoff): a zombie's object is then never ledgered, and a lease take that
 * races it waits for the transaction.  A key already ledgered (the COMMIT of
 * an earlier attempt whose reply was lost) is accepted once its row matches.
 * Dead-letter objects bump dead_letters per reason in the same transaction.
 *
 * ledger_spans_load reads, for a shard being (re)started at a checkpoint,
 * every ledgered object whose last record lies beyond it; struct
 * ledger_skip answers "is this record already in a ledgered object of its
 * (type, day)?" for records delivered in order.
 * Functions take the caller's PGconn (one thread at a time, libpq's rule);
 * a struct ledger_skip has one owner.
 */
#ifndef LOGFLEET_LEDGER_H
#define LOGFLEET_LEDGER_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct ledger_obj {
    const char *key;
    const char *log_type;        /* DEADLETTER_TYPE for dead letters */
    int32_t day;                 /* days since epoch */
    const char *shard;
    const char *first_seq;
    int64_t first_sub;
    const char *last_seq;
    int64_t last_sub;
    uint64_t records, bytes, raw_bytes;
    bool dead;
    size_t nreasons;             /* dead letters: counts per reason name */
    const char *const *reason_names;
    const uint32_t *reason_counts;
};

struct ledger_who {
    const char *schema;          /* coordination schema, a valid identifier */
    const char *app;
    const char *worker_id;
};

#define LEDGER_NOT_OWNER 1
#define LEDGER_KEY_TAKEN 2

/* 0: ledgered (now or by an earlier attempt); LEDGER_NOT_OWNER: the lease
 * is not ours, nothing written; LEDGER_KEY_TAKEN: another object (other
 * records) is ledgered under this key, nothing written; negative: failure,
 * classified (RETRY, UNKNOWN_OUTCOME for a lost COMMIT reply: call again,
 * PERMANENT). */
int ledger_commit(PGconn *pg, const struct ledger_who *w, const struct ledger_obj *o,
                  struct err *e);

/* One ledgered object of a shard. */
struct ledger_span {
    char *log_type;
    int32_t day;
    bool dead;
    char *first_seq;
    int64_t first_sub;
    char *last_seq;
    int64_t last_sub;
};

/* Objects of (app, shard) whose (last_seq, last_sub) is beyond
 * (after_seq, after_sub); a sentinel checkpoint (TRIM_HORIZON, LATEST,
 * AT_TIMESTAMP) loads every object of the shard, SHARD_END none.  Sorted
 * by first record.  *out is owned: ledger_spans_free. */
int ledger_spans_load(PGconn *pg, const struct ledger_who *w, const char *shard,
                      const char *after_seq, int64_t after_sub, struct ledger_span **out,
                      size_t *n, struct err *e);
void ledger_spans_free(struct ledger_span *v, size_t n);

/* ---- skipping records already ledgered ----------------------------------- */

struct ledger_skip;

/* Index over spans; kind_of maps a span to the caller's (type) kind, or -2
 * to leave it out (e.g. a type no longer configured).  Copies what it keeps. */
struct ledger_skip *ledger_skip_new(const struct ledger_span *v, size_t n,
                                    int (*kind_of)(void *ctx, const struct ledger_span *s),
                                    void *ctx);
void ledger_skip_free(struct ledger_skip *s);
/* True when no span remains ahead (the caller may then drop the index). */
bool ledger_skip_empty(const struct ledger_skip *s);
/* Whether record (seq, sub) of (kind, day) lies inside a span.  Records must
 * be asked in increasing (seq, sub) order (per kind and day). */
bool ledger_skip_contains(struct ledger_skip *s, int kind, int32_t day, const char *seq,
                          int64_t sub);
/* Advances past everything at or before (seq, sub); returns true when no
 * span extends beyond it (the index is then useless). */
bool ledger_skip_passed(struct ledger_skip *s, const char *seq, int64_t sub);

#endif
