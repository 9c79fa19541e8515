/* scan.h — the router's validating JSON record scanner (the hot path).
 *
 * scan_record() walks one record once: it checks that the bytes are exactly
 * one JSON object (RFC 8259, strict UTF-8), pulls out the values of a few
 * requested TOP-LEVEL keys, and reports where the closing '}' is so lineage
 * fields can be spliced in before it.  No allocation; reentrant; any thread.
 *
 * Accept/reject matches jansson 2.14 json_loadb(flags 0) when max_depth is
 * 2048 (JSON_PARSER_MAX_DEPTH), so anything routed here also loads downstream:
 *  - invalid UTF-8 anywhere (overlongs, UTF-8-encoded surrogates, > U+10FFFF,
 *    truncated sequences), raw control bytes in strings, NUL bytes and the
 *    \u0000 escape, unpaired UTF-16 surrogate escapes: rejected;
 *  - integers outside int64 and reals that overflow a double (1e400): rejected
 *    (underflow such as 1e-400 is accepted, as jansson does);
 *  - depth counts every value, scalars included: the top-level object is 1,
 *    its members' values 2, ...; a value deeper than max_depth is rejected;
 *  - duplicate keys are accepted and the LAST value wins (jansson's default);
 *  - no BOM, no comments, no trailing commas; only ' ' \t \n \r whitespace,
 *    which may surround the object.
 * One deliberate difference: jansson 2.14 silently skips a single NUL byte
 * right after a number or literal ("{\"a\":1<NUL>}" loads); here every NUL
 * byte is rejected, so none reaches the warehouse (COPY refuses them).
 */
#ifndef LOGFLEET_SCAN_H
#define LOGFLEET_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define SCAN_DEFAULT_DEPTH 64
#define SCAN_MAX_DEPTH 4096

/* Failure reasons; scan_record returns -reason.  The names double as
 * dead-letter reasons (scan_reason_name). */
enum scan_reason {
    SCAN_OK = 0,
    SCAN_E_NOT_JSON,     /* "not_json": syntax error */
    SCAN_E_NOT_OBJECT,   /* "not_object": valid JSON but not an object */
    SCAN_E_BAD_UTF8,     /* "bad_utf8" */
    SCAN_E_BAD_ESCAPE,   /* "bad_escape": unknown escape, unpaired surrogate */
    SCAN_E_NUL,          /* "nul_byte": a NUL byte or \u0000 */
    SCAN_E_NUMBER_RANGE, /* "number_range": int beyond int64, real overflow */
    SCAN_E_TOO_DEEP,     /* "too_deep" */
    SCAN_E_TOO_LARGE,    /* "too_large": n > max_size */
    SCAN_E_TRAILING,     /* "trailing_data": bytes after the object */
    SCAN_E_TRUNCATED,    /* "truncated": input ends inside the value */
    SCAN_E_BAD_TIME,     /* "bad_time": time field present but unparseable */
    SCAN_E_NO_TIME,      /* "no_time": time field missing or null */
    SCAN_E_ARG,          /* "bad_argument": caller error (scratch, depth) */
    SCAN_E_COUNT_
};

/* JSON type of an extracted field. */
enum scan_type {
    SCAN_T_MISSING = 0,
    SCAN_T_STRING,
    SCAN_T_NUMBER,
    SCAN_T_TRUE,
    SCAN_T_FALSE,
    SCAN_T_NULL,
    SCAN_T_OBJECT,
    SCAN_T_ARRAY,
};

/* One requested top-level key.  key/key_len are inputs (UTF-8, compared
 * with the DECODED key, so "t\u0079pe" matches "type"); the rest is output.
 * val/val_len: for a string, its decoded content (pointing into the record
 * when it had no escapes, else into opts.scratch); for anything else the raw
 * JSON text of the value (number text as written, "true", "{...}").
 * MISSING leaves val NULL.  Outputs are unspecified when scan_record fails. */
struct scan_field {
    const char *key;
    size_t key_len;
    int type;           /* enum scan_type */
    const char *val;
    size_t val_len;
};

/* An index of requested keys for scan_record (opts.keys): one hash probe per
 * top-level key instead of a comparison with every requested key, which is
 * what a router asking for ~100 columns of thirty types needs.  Built from
 * the same fields array (its keys only) that is then passed to scan_record;
 * a key listed twice resolves to its first index, as without the index.
 * Immutable once built: any number of threads may share it. */
struct scan_keys;
struct scan_keys *scan_keys_new(const struct scan_field *fields, size_t nfields);
void scan_keys_free(struct scan_keys *k);
/* The index of k[0..n) among the keys the index was built from, or -1 (the
 * router also looks its type names up through one). */
int scan_keys_find(const struct scan_keys *t, const char *k, size_t n);

/* A memo of the keys recent records held, by their ordinal in the record
 * (the Nth key, at any depth).  A stream's records list their keys in the
 * same order (one producer's serializer), so a key is most often the same
 * bytes as the one in its place last time: one 32-byte compare then stands
 * for scanning the string and, at the top level, for its index lookup.
 * Byte equality with a key that scanned clean (no escapes, valid UTF-8)
 * is the same verdict, so results are identical with or without a memo.
 * It belongs to one thread and one fields array (with its keys index):
 * it keeps the field index each top-level key resolved to. */
struct scan_key_memo;
struct scan_key_memo *scan_key_memo_new(void);
void scan_key_memo_free(struct scan_key_memo *m);

struct scan_opts {
    size_t max_size;    /* bytes; 0 = no limit */
    int max_depth;      /* 0 = SCAN_DEFAULT_DEPTH; at most SCAN_MAX_DEPTH */
    char *scratch;      /* decoded escaped string values land here */
    size_t scratch_len; /* must be >= n whenever fields are requested */
    const struct scan_keys *keys; /* NULL: keys are compared one by one */
    struct scan_key_memo *memo;   /* optional: see scan_key_memo_new */
};

struct scan_result {
    size_t close_off;   /* offset of the object's closing '}' */
    int empty;          /* 1 for "{}": a splice needs no leading comma */
    size_t members;     /* top-level members, duplicates included */
    int raw_newline;    /* '\n' or '\r' occurs as whitespace before the close */
    int reason;         /* enum scan_reason; SCAN_OK on success */
    size_t err_off;     /* on failure, where it was detected */
};

/* Scans p[0..n) as one JSON object.  Returns 0, or -reason (also in
 * res->reason).  opts may be NULL when nfields is 0 (defaults).  res must
 * not be NULL. */
int scan_record(const char *p, size_t n, struct scan_field *fields, size_t nfields,
                struct scan_result *res, const struct scan_opts *opts);

/* Short snake_case name of a reason ("not_json", ...); "ok" for 0; accepts
 * the negative return value too. */
const char *scan_reason_name(int reason);

/* Event time of an extracted field, as epoch milliseconds.
 *  - a string in ISO-8601 / RFC 3339: 2026-11-22T01:02:03.456Z, a 't' or ' '
 *    separator, seconds optional, any number of fraction digits ('.' or ',',
 *    truncated to ms), zone Z | +HH:MM | +HHMM | +HH (no zone = UTC), or a
 *    date alone (midnight UTC); second 60 (a leap second) reads as 59.999;
 *  - a number, or a string of digits with an optional fraction: epoch
 *    seconds, or milliseconds when the integer part is above 1e11; negative
 *    values are rejected.
 * The instant must fall in years 0000-9999 UTC.  Returns 0, -SCAN_E_NO_TIME for MISSING or NULL,
 * -SCAN_E_BAD_TIME for anything else that does not parse. */
int scan_time_ms(int type, const char *val, size_t len, int64_t *ms);

#endif
