/* deadletter.h — the dead-letter line format.
 *
 * A record the router cannot route is never dropped: it is written, whole,
 * as one JSON line of a per-(shard, day) dead-letter object
 *   {"reason":"unknown_type","shard":"shardId-0001","seq":"4963...","subseq":0,
 *    "arrival":1795305600123,"data_b64":"eyJ0eXBlIjoi..."}
 * and the object is ledgered (dead = true) with the per-reason counts added
 * to the dead_letters table in the same transaction.  Pure functions,
 * thread-safe.
 */
#ifndef LOGFLEET_DEADLETTER_H
#define LOGFLEET_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* The ledger's log_type of dead-letter objects. */
#define DEADLETTER_TYPE "_dead"

/* Appends the line (with its '\n').  reason is a snake_case name, shard is
 * JSON-escaped here.  0 or -E2BIG. */
int deadletter_line(struct buf *out, const char *reason, const char *shard, const char *seq,
                    int64_t subseq, int64_t arrival_ms, const void *data, size_t n);

/* Bytes deadletter_line appends for a record of n bytes, at most. */
size_t deadletter_line_max(size_t shard_len, size_t seq_len, size_t n);

/* Standard base64 (RFC 4648, padded) of p[0..n) appended to out. */
int deadletter_b64(struct buf *out, const void *p, size_t n);

#endif
