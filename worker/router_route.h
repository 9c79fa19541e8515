/* router_route.h — the router's per-record decision: which (type, day) a
 * record goes to, or why it is a dead letter; and the lineage splice.
 *
 * struct router_rules is built once from the config (types, their columns,
 * the type and time fields, size/depth limits, the time window) and is then
 * read-only: any thread may use it.  struct router_scratch holds one
 * caller's scanner fields and decode buffer: one per thread.
 *
 * A decision depends only on the record's bytes and its ARRIVAL time (not
 * the wall clock), so a replay after a restart decides identically — the
 * exactly-once skip logic relies on that.
 */
#ifndef LOGFLEET_ROUTER_ROUTE_H
#define LOGFLEET_ROUTER_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/err.h"

/* Dead-letter reasons (0 = routed).  The first ten are the scanner's. */
enum router_reason {
    ROUTER_OK = 0,
    ROUTER_NOT_JSON,        /* syntax error, truncated, trailing bytes */
    ROUTER_NOT_OBJECT,
    ROUTER_BAD_UTF8,
    ROUTER_BAD_ESCAPE,
    ROUTER_NUL_BYTE,
    ROUTER_NUMBER_RANGE,
    ROUTER_TOO_DEEP,
    ROUTER_TOO_LARGE,
    ROUTER_TRAILING_DATA,
    ROUTER_TRUNCATED,
    ROUTER_NO_TYPE,         /* type field missing or null */
    ROUTER_BAD_TYPE_NAME,   /* not a string matching ^[a-z][a-z0-9_]{0,62}$ */
    ROUTER_UNKNOWN_TYPE,    /* a valid name that is not configured */
    ROUTER_SCHEMA_MISMATCH, /* required column missing/null, or a value of the wrong kind */
    ROUTER_BAD_TIME,        /* time field present but unparseable */
    ROUTER_OUT_OF_WINDOW,   /* event time outside [arrival - retention, arrival + skew] */
    ROUTER_REASON_COUNT
};

/* "not_json", "unknown_type", ...; "ok" for ROUTER_OK; "invalid" otherwise. */
const char *router_reason_name(int reason);

/* Column kinds checked (a column's value may always be null unless the
 * column is required):
 *   text       any JSON value (non-strings are stored as their JSON text)
 *   varchar(N) a string
 *   int        an integer (no fraction or exponent) within int32
 *   bigint     an integer within int64
 *   double     a number
 *   boolean    true or false
 *   timestamp  a string or number that scan_time_ms accepts */
struct router_rules;
struct router_scratch;

/* Builds the rules from c (borrowed only during the call).  Fails
 * (PERMANENT) on a bad column spec or more than ROUTER_MAX_FIELDS distinct
 * field names. */
#define ROUTER_MAX_FIELDS 256
int router_rules_new(const struct lf_config *c, struct router_rules **out, struct err *e);
void router_rules_free(struct router_rules *r);
size_t router_rules_ntypes(const struct router_rules *r);
const char *router_rules_type_name(const struct router_rules *r, size_t i);
size_t router_rules_max_record(const struct router_rules *r);

struct router_scratch *router_scratch_new(const struct router_rules *r);
void router_scratch_free(struct router_scratch *s);

struct router_route {
    int reason;             /* enum router_reason */
    int type;               /* index into the rules' types; -1 for a dead letter */
    int64_t event_ms;       /* event time, or arrival when the record has none */
    int32_t day;            /* days since epoch: event day; dead letters: arrival day */
    size_t close_off;       /* routed: offset of the closing '}' */
    int empty;              /* routed: the object is "{}" */
    int raw_newline;        /* routed: '\n' or '\r' before the close (whitespace) */
};

/* Decides for p[0..n) arriving at arrival_ms.  Never fails: an unroutable
 * record yields its reason.  Checks run in this order and the first that
 * fails names the reason: size, the scanner (syntax, UTF-8, depth, ...),
 * the type field, the time field, the time window, the type's columns. */
void router_route(const struct router_rules *r, struct router_scratch *s, const char *p, size_t n,
                  int64_t arrival_ms, struct router_route *out);

/* Lineage of one record; shard_json is the shard id already JSON-escaped
 * (router_json_escape). */
struct router_lineage {
    const char *shard_json;
    size_t shard_len;
    const char *seq;
    int64_t subseq;
    int64_t arrival_ms;
    size_t seq_len;         /* strlen(seq) when the caller has it; 0: measured here */
};

/* Appends the routed record p[0..n) with
 *   ,"_shard":"<shard>","_seq":"<seq>","_subseq":<n>,"_arrival":<ms>
 * spliced before its closing '}' (no leading comma for "{}"), then '\n'.
 * Bytes after the '}' (whitespace) are dropped; a '\n' or '\r' inside the
 * record (whitespace between tokens: raw ones cannot occur in strings)
 * becomes ' ', so every record is exactly one line.  0 or -E2BIG. */
int router_splice(struct buf *out, const char *p, size_t n, const struct router_route *rt,
                  const struct router_lineage *l);

/* Appends s as the inside of a JSON string (quotes not included). */
int router_json_escape(struct buf *out, const char *s, size_t n);

#endif
