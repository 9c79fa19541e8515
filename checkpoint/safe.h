/* safe.h — the router's safe-checkpoint tracker, one per shard.
 *
 * A shard's checkpoint may advance to S only when every record of the shard
 * up to S is in a ledgered object (or was skipped because it already is).
 * The tracker knows the outstanding objects — open buffers and sealed ones
 * not yet ledgered — by their first (seq, sub), and the last record of each
 * processed batch.  The safe position is the largest batch end strictly
 * below the smallest outstanding first record, or the last batch end when
 * nothing is outstanding: an object only holds records at or after its
 * first, so every record up to that batch end sits in a durable object.
 * Objects must be opened in increasing (seq, sub) order of their first
 * record (records are processed in order); they may complete in any order.
 * One owner (the shard's processor thread); strings are copied.
 */
#ifndef LOGFLEET_CKPT_SAFE_H
#define LOGFLEET_CKPT_SAFE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ckpt_safe;

struct ckpt_safe *ckpt_safe_new(void);
void ckpt_safe_free(struct ckpt_safe *s);

/* An object starts at record (seq, sub); returns its handle. */
uint64_t ckpt_safe_open(struct ckpt_safe *s, const char *seq, int64_t sub);
/* The object is durable (ledgered).  Unknown or repeated handles are ignored. */
void ckpt_safe_done(struct ckpt_safe *s, uint64_t id);
/* A batch was processed up to record (seq, sub) (its last record). */
void ckpt_safe_batch_end(struct ckpt_safe *s, const char *seq, int64_t sub);

/* Objects not yet durable. */
size_t ckpt_safe_outstanding(const struct ckpt_safe *s);

/* The current safe position if it lies beyond the last one taken with
 * ckpt_safe_take: fills *seq (borrowed, valid until the next call) and *sub
 * and returns true.  Batch ends at or below it are forgotten once taken. */
bool ckpt_safe_peek(struct ckpt_safe *s, const char **seq, int64_t *sub);
/* The position from ckpt_safe_peek was checkpointed. */
void ckpt_safe_take(struct ckpt_safe *s);

#endif
