/* buffer.h — one open archive object: a (shard, type, day) gzip buffer.
 *
 * Lines are appended to a raw staging area (buffer_stage) and compressed in
 * large feeds into ONE gzip member (sinks/gz.h), which keeps igzip fast
 * when thirty buffers take turns.  A gzip writer (~360 KB of igzip state)
 * is taken from the owner's buffer_pool only when the stage first fills,
 * so a buffer of a rare type that is sealed before that never holds one.
 * The buffer remembers the first and last (seq, sub) of its records, the
 * first record's event time (for the key's hour), when it was opened (for
 * the age flush), and, for a dead-letter buffer, how many records of each
 * reason it holds.  buffer_seal finishes the member and hands the
 * compressed bytes over; the buffer can then be started again.
 * buffer_held says what it holds for a memory budget: compressed bytes,
 * not the raw bytes they stand for.
 * A buffer and its pool have one owner at a time (the shard's processor).
 */
#ifndef LOGFLEET_BUFFER_H
#define LOGFLEET_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define BUFFER_SEQ_MAX 128       /* longest sequence number kept, NUL included */
#define BUFFER_REASONS 32        /* per-reason counters of a dead-letter buffer */

struct gz;

/* Idle gzip writers of one owner (at most `keep` are kept). */
struct buffer_pool {
    int level;
    size_t keep;
    size_t n;
    struct gz **idle;
};

/* 0, or -EINVAL (PERMANENT) for a bad gzip level. */
int buffer_pool_init(struct buffer_pool *p, int level, size_t keep, struct err *e);
void buffer_pool_free(struct buffer_pool *p);

struct buffer {
    int type;                    /* log type index; -1: dead letters */
    int32_t day;
    char first_seq[BUFFER_SEQ_MAX];
    int64_t first_sub;
    char last_seq[BUFFER_SEQ_MAX];
    int64_t last_sub;
    int64_t first_event_ms;
    int64_t opened_ms;           /* monotonic ms of the first record */
    uint64_t records;
    uint64_t raw_bytes;          /* uncompressed bytes appended */
    uint64_t track_id;           /* the owner's handle (checkpoint/safe.h) */
    int64_t charged;             /* the owner's: bytes charged to its memory budget */
    uint32_t reasons[BUFFER_REASONS];
    /* private */
    struct buffer_pool *pool;
    struct gz *gz;               /* NULL until the stage first fills */
    struct buf stage;
    struct buf out;
    size_t stage_cap;
    size_t out_hint;
};

/* A buffer gathering stage_cap raw bytes before each compression feed;
 * line_max is the longest single line, out_max the largest member;
 * out_hint bytes of output room are reserved at the first feed (0: grow
 * as needed). */
struct buffer *buffer_new(struct buffer_pool *pool, size_t stage_cap, size_t line_max,
                          size_t out_max, size_t out_hint);
void buffer_free(struct buffer *b);

/* Starts an object at its first record.  -EINVAL if seq is too long. */
int buffer_start(struct buffer *b, int type, int32_t day, const char *seq, int64_t sub,
                 int64_t event_ms, int64_t now_ms);

/* The staging area: append exactly one line to it, then call buffer_added. */
static inline struct buf *buffer_stage(struct buffer *b) { return &b->stage; }

/* The line just staged belongs to record (seq, sub) and is raw bytes long;
 * compresses the stage when it is full.  0, or -E2BIG/-EIO from gzip, or
 * -EINVAL for a sequence number longer than BUFFER_SEQ_MAX - 1. */
int buffer_added(struct buffer *b, const char *seq, int64_t sub, size_t raw);

/* Finishes the gzip member and moves it into *body (body is reinitialised;
 * its capacity is trimmed to its length); the buffer is empty again and
 * may be started anew.  0 or negative (gzip failure: the content is lost
 * and the caller must not count the records as written). */
int buffer_seal(struct buffer *b, struct buf *body);

/* Bytes the buffer holds, and at most may still add before buffer_seal
 * hands them over: the compressed member so far plus gz_finish_bound of the
 * staged lines.  What a memory budget counts for an open buffer: after
 * buffer_seal the body is never longer, and one append (a line, or a stage
 * feed) raises it by at most buffer_append_bound of the line's length (for buffers of that pool). */
size_t buffer_held(const struct buffer *b);
size_t buffer_append_bound(const struct buffer_pool *pool, size_t line);

/* Drops the content (lease lost); the buffer may be started anew. */
void buffer_discard(struct buffer *b);

#endif
