/* keys.h — S3 object key naming for the archive and the dead letters, and
 * the UTC calendar helpers they need.
 *
 * Keys are deterministic from an object's first record, so a retry after an
 * unknown outcome (or a restart that re-reads the same records) re-PUTs the
 * same key with If-None-Match instead of writing a second copy:
 *   <s3.prefix><router.object_prefix><type>/<yyyy>/<mm>/<dd>/<hh>/<shard>-<seq>-<sub>.json.gz
 *   <s3.prefix><router.dead_letter_prefix><yyyy>/<mm>/<dd>/<shard>-<seq>-<sub>.json.gz
 * <hh> is the hour of the first record's event time.  A shard id byte
 * outside [A-Za-z0-9._-] is written as "~XX" (hex), so keys stay in the
 * character set every S3 client encodes alike and distinct shards never
 * collide.  Pure functions, thread-safe.
 */
#ifndef LOGFLEET_KEYS_H
#define LOGFLEET_KEYS_H

#include <stdint.h>

#include "common/buf.h"

/* Days since 1970-01-01 (UTC) of epoch milliseconds (floor). */
int32_t keys_day_of_ms(int64_t ms);
/* Hour of day 0..23 (UTC) of epoch milliseconds. */
int keys_hour_of_ms(int64_t ms);
/* Civil date of a day number. */
void keys_civil(int32_t day, int *y, int *m, int *d);
/* "YYYY-MM-DD" of a day number into out[11] (years 0000-9999). */
void keys_day_text(int32_t day, char out[11]);
/* Day number of "YYYY-MM-DD" (as PostgreSQL prints a date); -1 on error. */
int keys_day_parse(const char *s, int32_t *day);

/* Appends the shard id, escaped as described above. */
int keys_shard(struct buf *out, const char *shard);

struct keys_object {
    const char *s3_prefix;       /* "" or ending in '/' */
    const char *prefix;          /* router.object_prefix or dead_letter_prefix */
    const char *type;            /* NULL for a dead-letter object */
    int64_t first_event_ms;      /* event time of the first record (for <hh>) */
    int32_t day;                 /* the object's day */
    const char *shard;
    const char *first_seq;
    int64_t first_sub;
    int attempt;                 /* 0: the plain key; n > 0 adds "-r<n>" (a foreign
                                    object already held the plain key) */
};

/* Resets out and writes the key.  0, or -E2BIG past out's max. */
int keys_object(struct buf *out, const struct keys_object *k);

#endif
