/* loggen.h — deterministic generator of realistic ~1 KB game log records.
 *
 * Each record is one compact JSON object (no newline) of one of
 * LOGGEN_NTYPES types drawn with a skew (login and battle common,
 * iap_refund rare), with "ts" (ISO-8601 UTC with milliseconds, from the
 * caller's epoch ms) and "type" first, then a player drawn with skew from
 * 50k players (32-hex id, session uuid, platform, region, client version,
 * IP, drifting level/xp/gold), position floats, a payload object, 8-48 chat
 * words (some non-ASCII, some escaped, a few records \u-escaped throughout as
 * Python's json.dumps does), a device object, A/B flags and a trace id.
 * Used by the benchmarks, the scanner's differential test and logfleetctl's
 * load generator.  Same seed, same records.  One owner at a time.
 */
#ifndef LOGFLEET_LOGGEN_H
#define LOGFLEET_LOGGEN_H

#include <stdint.h>

#include "common/buf.h"

#define LOGGEN_NTYPES 30

struct loggen;

/* Owned; free with loggen_free.  Never fails (allocation aborts). */
struct loggen *loggen_new(uint64_t seed);
void loggen_free(struct loggen *g);

/* Appends one record with event time ts_ms to out.  Returns the record's
 * type index (0..LOGGEN_NTYPES-1), or -E2BIG if out would pass its max
 * (out is then unchanged). */
int loggen_record(struct loggen *g, int64_t ts_ms, struct buf *out);

/* "login", "logout", ... for 0..LOGGEN_NTYPES-1; NULL otherwise. */
const char *loggen_type_name(int i);

/* Formats epoch ms as 2026-11-22T01:02:03.456Z into out[25]; years 0-9999. */
void loggen_iso8601(int64_t ms, char out[25]);

/* The generator's PRNG, for callers that want the same stream of numbers. */
uint64_t loggen_rand(struct loggen *g);

#endif
