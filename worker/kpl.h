/* kpl.h — KPL aggregated records: recognise, de-aggregate, and build them.
 *
 * An aggregate is one Kinesis record holding many user records: the magic
 * F3 89 9A C2, a protobuf AggregatedRecord (worker/kpl.proto), and the MD5 of
 * the protobuf bytes.  A record without the magic is a plain record, not an
 * error.  De-aggregated user records share the Kinesis sequence number; each
 * one's index in the aggregate is its subSequenceNumber (reference/kcl.md).
 * A kpl_result owns everything its records point at; kpl_result_free
 * releases it.  Stateless: any thread may call, one result per caller.
 */
#ifndef LOGFLEET_KPL_H
#define LOGFLEET_KPL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define KPL_MAGIC_LEN 4
#define KPL_MD5_LEN 16

/* One user record of an aggregate; every pointer is owned by the result. */
struct kpl_user_record {
    const char *partition_key;
    const char *explicit_hash_key;   /* NULL when the record has none */
    const void *data;
    size_t len;
    uint64_t subseq;                 /* index inside the aggregate */
};

struct kpl_result {
    struct kpl_user_record *recs;
    size_t n;
    void *msg;                       /* the decoded protobuf (private) */
};

/* One record to aggregate; borrowed for the call. */
struct kpl_record_in {
    const char *partition_key;       /* required */
    const char *explicit_hash_key;   /* or NULL */
    const void *data;
    size_t len;
};

/* 1 when p starts with the magic and is long enough to carry a protobuf and
 * an MD5 (KCL's test); such a record must go through kpl_deaggregate. */
int kpl_is_aggregated(const void *p, size_t n);

/* Decodes an aggregate into out (zeroed first).  On a corrupt aggregate
 * (not an aggregate, md5 mismatch, protobuf decode failure, an index out of
 * range, no records) returns -EBADMSG with ERR_PERMANENT and a message that
 * names the reason, and out holds nothing.  Note that KCL delivers such a
 * record as a plain record; the caller decides (logfleet dead-letters it). */
int kpl_deaggregate(const void *p, size_t n, struct kpl_result *out, struct err *e);

/* Releases what kpl_deaggregate gave out; NULL-safe, leaves r zeroed. */
void kpl_result_free(struct kpl_result *r);

/* Appends one aggregate of recs[0..n) to out: partition and explicit hash
 * keys are stored once each in their tables.  -EINVAL (n == 0 or a NULL
 * partition key), -E2BIG when out's maximum would be passed (out unchanged). */
int kpl_aggregate(const struct kpl_record_in *recs, size_t n, struct buf *out, struct err *e);

#endif
