/* tracker.h — the per-shard checkpoint validation state of KCL's
 * ShardRecordProcessorCheckpointer (reference/kcl.md §A.6).
 *
 * It remembers the last checkpoint written (initially the lease's own), the
 * largest (seq, sub) delivered to the processor ("largest permitted"), and,
 * once the shard has ended, the last record delivered, so that a checkpoint
 * at that record is written as SHARD_END.  A new checkpoint must lie in
 * [last, largest]; repeating the last one is accepted and writes nothing.
 * Owned by one shard consumer; not thread-safe.  Strings are copied.
 */
#ifndef LOGFLEET_CKPT_TRACKER_H
#define LOGFLEET_CKPT_TRACKER_H

#include <stdbool.h>
#include <stdint.h>

#include "worker/processor.h" /* enum ckpt_result */

struct ckpt_tracker {
    char *last;         /* last checkpoint written; NULL if none */
    int64_t last_sub;
    char *largest;      /* largest permitted; SHARD_END once the shard ended */
    int64_t largest_sub;
    char *at_end;       /* largest delivered before the shard ended, else NULL */
    int64_t at_end_sub;
};

/* What a checkpoint request resolves to.  seq is borrowed from the tracker,
 * the request or a literal; valid until the tracker next changes. */
struct ckpt_target {
    const char *seq;    /* NULL: nothing delivered, nothing to write */
    int64_t sub;
    bool write;         /* false: equals the last checkpoint, a no-op */
};

/* seq/sub: the lease's checkpoint (digits or a sentinel; NULL if none). */
void ckpt_tracker_init(struct ckpt_tracker *t, const char *seq, int64_t sub);
void ckpt_tracker_free(struct ckpt_tracker *t);
/* A record (seq, sub) is about to be delivered: raises largest to it.
 * -EINVAL if seq is not digits or sub is negative (nothing changes). */
int ckpt_tracker_delivered(struct ckpt_tracker *t, const char *seq, int64_t sub);
/* The shard ended: largest becomes SHARD_END. */
void ckpt_tracker_shard_end(struct ckpt_tracker *t);
/* Checks an explicit checkpoint (seq not NULL): CKPT_OK, or
 * CKPT_ILLEGAL_ARGUMENT if sub < 0, seq is neither digits nor a sentinel, or
 * (seq, sub) lies outside [last, largest]. */
enum ckpt_result ckpt_tracker_validate(const struct ckpt_tracker *t, const char *seq, int64_t sub);
/* Validates and resolves a request; seq NULL means "at the largest
 * permitted" (KCL's checkpoint()).  On CKPT_OK fills *out. */
enum ckpt_result ckpt_tracker_resolve(const struct ckpt_tracker *t, const char *seq, int64_t sub,
                                      struct ckpt_target *out);
/* The store accepted *tg: it becomes the last checkpoint. */
void ckpt_tracker_advanced(struct ckpt_tracker *t, const struct ckpt_target *tg);

#endif
