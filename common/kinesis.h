/* kinesis.h — the Kinesis Data Streams calls logfleet needs (JSON 1.1 over
 * common/aws.h: POST /, X-Amz-Target: Kinesis_20131202.<Op>).
 *
 * struct kin holds one aws_client (service "kinesis") and, like it, is used
 * by one thread at a time.  Every call is bounded by the client's timeout_ms
 * (kinesalite can hang forever; a timeout is a RETRY-class error).  Results
 * are small caller-owned structs released with their _free function.  Server
 * JSON is parsed with jansson; explicit nulls count as absent.  Errors keep
 * the AWS code (__type) in e->msg; throttling is RETRY, an expired iterator
 * is PERMANENT with e->code = KIN_E_EXPIRED_ITERATOR.
 */
#ifndef LOGFLEET_KINESIS_H
#define LOGFLEET_KINESIS_H

#include <stddef.h>

#include "common/aws.h"
#include "common/err.h"

/* Distinct e->code values (the class stays PERMANENT). */
#define KIN_E_EXPIRED_ITERATOR (-2001) /* get a new iterator and go on */
#define KIN_E_NOT_FOUND (-2002)        /* ResourceNotFoundException */
#define KIN_E_IN_USE (-2003)           /* ResourceInUseException (stream busy) */

#define KIN_PUT_MAX 500                /* records per PutRecords */
#define KIN_SEQ_MAX 130                /* sequence numbers: up to 129 digits */
#define KIN_SHARD_ID_MAX 130

struct kin;

/* o->service is forced to "kinesis". */
int kin_new(const struct aws_client_opts *o, struct kin **out, struct err *e);
void kin_free(struct kin *k);

/* ---- streams ------------------------------------------------------------ */

int kin_create_stream(struct kin *k, const char *stream, int shards, struct err *e);
int kin_delete_stream(struct kin *k, const char *stream, struct err *e);

struct kin_stream_summary {
    char status[16];      /* CREATING ACTIVE UPDATING DELETING */
    int open_shards;
    int retention_hours;
    char arn[256];
};
int kin_describe_stream_summary(struct kin *k, const char *stream,
                                struct kin_stream_summary *out, struct err *e);

/* ---- shards ------------------------------------------------------------- */

struct kin_shard {
    char id[KIN_SHARD_ID_MAX];
    char parent[KIN_SHARD_ID_MAX];           /* "" if none */
    char adjacent_parent[KIN_SHARD_ID_MAX];  /* "" if none (set by a merge) */
    char hash_start[48];                     /* decimal, up to 2^128-1 */
    char hash_end[48];
    char seq_start[KIN_SEQ_MAX];
    char seq_end[KIN_SEQ_MAX];               /* "" while the shard is open */
};

struct kin_shard_list {
    struct kin_shard *v;
    size_t n;
    int pages;            /* ListShards calls it took */
};

/* Every shard of the stream, following NextToken (page_size 0: server's
 * default).  Shards are returned in the server's order. */
int kin_list_shards(struct kin *k, const char *stream, int page_size,
                    struct kin_shard_list *out, struct err *e);
void kin_shard_list_free(struct kin_shard_list *l);

int kin_split_shard(struct kin *k, const char *stream, const char *shard,
                    const char *new_starting_hash_key, struct err *e);
int kin_merge_shards(struct kin *k, const char *stream, const char *shard,
                     const char *adjacent_shard, struct err *e);
/* UNIFORM_SCALING to target shards. */
int kin_update_shard_count(struct kin *k, const char *stream, int target, struct err *e);

/* ---- reading ------------------------------------------------------------ */

enum kin_iter_type {
    KIN_TRIM_HORIZON,
    KIN_LATEST,
    KIN_AT_SEQUENCE_NUMBER,
    KIN_AFTER_SEQUENCE_NUMBER,
    KIN_AT_TIMESTAMP,
};

struct kin_iter_from {
    enum kin_iter_type type;
    const char *seq;       /* for AT_/AFTER_SEQUENCE_NUMBER */
    double timestamp;      /* for AT_TIMESTAMP: epoch seconds */
};

/* *iterator is owned by the caller (free()); NULL when the server answers a
 * null iterator (nothing left to read in a closed shard). */
int kin_get_shard_iterator(struct kin *k, const char *stream, const char *shard,
                           const struct kin_iter_from *from, char **iterator,
                           struct err *e);

struct kin_record {
    const unsigned char *data;  /* base64-decoded; points into the batch */
    size_t len;
    const char *partition_key;
    const char *seq;
    long long arrival_ms;       /* ApproximateArrivalTimestamp, epoch ms; -1 if absent */
};

struct kin_child_shard {
    char id[KIN_SHARD_ID_MAX];
    char parents[2][KIN_SHARD_ID_MAX];  /* "" when absent */
    char hash_start[48];
    char hash_end[48];
};

struct kin_records {
    struct kin_record *v;
    size_t n;
    char *next_iterator;          /* NULL: the (closed) shard is fully read */
    long long millis_behind;      /* -1 if absent */
    struct kin_child_shard *children;
    size_t n_children;
    char *arena;                  /* owns the records' bytes */
};

/* GetRecords; limit 0 = server default (10000). */
int kin_get_records(struct kin *k, const char *iterator, int limit, struct kin_records *out,
                    struct err *e);
void kin_records_free(struct kin_records *r);
/* Parses a GetRecords answer (exposed for tests). */
int kin_parse_records(const char *json, size_t len, struct kin_records *out, struct err *e);
/* Parses a ListShards answer, appending to out and returning the NextToken
 * (owned, NULL if absent or null) in *next (exposed for tests). */
int kin_parse_shards(const char *json, size_t len, struct kin_shard_list *out, char **next,
                     struct err *e);

/* ---- writing ------------------------------------------------------------ */

struct kin_put_entry {
    const void *data;
    size_t len;                   /* up to 1 MiB */
    const char *partition_key;    /* 1..256 characters */
    const char *explicit_hash_key;/* NULL: MD5 of the partition key */
};

struct kin_put_result {
    char seq[KIN_SEQ_MAX];        /* "" if this entry failed */
    char shard[KIN_SHARD_ID_MAX];
    char error_code[64];          /* "" on success */
    char error_message[160];
};

/* PutRecords of n (<= 500) entries; out[i] answers in[i].  Returns 0 when
 * the call succeeded (entries may still have failed: *failed counts them).
 * A lost reply is UNKNOWN_OUTCOME (the records may have been written). */
int kin_put_records(struct kin *k, const char *stream, const struct kin_put_entry *in,
                    size_t n, struct kin_put_result *out, size_t *failed, struct err *e);

struct kin_put_retry {
    long deadline_ms;             /* give up after this long; default 30000 */
    long base_ms;                 /* backoff base, default 100 */
    long cap_ms;                  /* backoff cap, default 5000 */
    int resend_unknown;           /* 1: resend a batch whose reply was lost
                                     (Kinesis is at-least-once: duplicates) */
};

/* kin_put_records, then again with only the failed entries (and after
 * RETRY-class call failures), with full-jitter backoff, until every entry has
 * a sequence number or the deadline passes (then RETRY, the last entry error
 * in e->msg).  o may be NULL. */
int kin_put_records_all(struct kin *k, const char *stream, const struct kin_put_entry *in,
                        size_t n, struct kin_put_result *out, const struct kin_put_retry *o,
                        struct err *e);

/* ---- helpers ------------------------------------------------------------ */

/* Strict RFC 4648 base64 (standard alphabet, '=' padding required, no
 * whitespace) into out, which has room for base64_decoded_max(n) bytes.
 * Returns the decoded length, or -EINVAL. */
long kin_base64_decode(const char *in, size_t n, unsigned char *out);
static inline size_t kin_base64_decoded_max(size_t n) { return n / 4 * 3; }

#endif
