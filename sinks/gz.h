/* gz.h — streaming gzip writer, one gzip member per S3 object, and an inflater.
 *
 * A struct gz compresses whatever is written to it into ONE gzip member,
 * appending compressed bytes to a caller's struct buf; gz_finish closes the
 * member (CRC32 + ISIZE trailer) and gz_reset starts the next one, so a
 * per-type buffer reuses one writer for every object it flushes.  Backed by
 * ISA-L igzip when built with HAVE_ISAL (levels 0-3, default 1), else by zlib
 * deflate (level 0 maps to zlib 1; 1-3 as is) behind the same API.
 * One owner at a time; no internal locking.
 *
 * gz_inflate_all (zlib) decodes a whole .gz buffer, concatenated members
 * included: for tests, the loaders and the readers.
 */
#ifndef LOGFLEET_GZ_H
#define LOGFLEET_GZ_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define GZ_LEVEL_MIN 0
#define GZ_LEVEL_MAX 3
#define GZ_LEVEL_DEFAULT 1

struct gz;

/* New writer at level GZ_LEVEL_MIN..GZ_LEVEL_MAX, ready for a first member.
 * 0, or -EINVAL for a bad level. */
int gz_new(int level, struct gz **out);
void gz_free(struct gz *g);

/* Compresses p[0..n) into the current member, appending to out.  Returns 0;
 * -E2BIG when out reached its max (the member is then unusable: discard out
 * and gz_reset); -EINVAL after gz_finish without gz_reset; -EIO on a codec
 * failure.  Output lags input: the codec keeps up to a window buffered. */
int gz_write(struct gz *g, const void *p, size_t n, struct buf *out);

/* Ends the member: flushes buffered input and the trailer into out.  Same
 * returns as gz_write.  Then only gz_reset (or gz_free) is allowed. */
int gz_finish(struct gz *g, struct buf *out);

/* Starts a new member (a new header, CRC and size; no shared history). */
void gz_reset(struct gz *g);

/* At most how many bytes writing `unfed` more bytes and then gz_finish can
 * still add to a member's output: the codec's pending tokens (when the
 * member was fed at all: `fed`), the unfed bytes themselves plus a stored
 * block's framing of them, the last block header and the trailer.  What a
 * memory budget charges for an open member beyond what its out holds.
 * tests/unit/t_gz.c checks it on log, random and mixed data. */
size_t gz_finish_bound(int level, int fed, size_t unfed);

/* Uncompressed bytes written into the current member so far. */
uint64_t gz_bytes_in(const struct gz *g);

/* "isal" or "zlib". */
const char *gz_backend(void);

/* Inflates a gzip file p[0..n) of one or more members, appending the data to
 * out.  0, or negative with e filled (PERMANENT): -EBADMSG for corrupt,
 * truncated, empty or trailing-garbage input, -E2BIG when out would pass
 * its max (a decompression bomb stops there). */
int gz_inflate_all(const void *p, size_t n, struct buf *out, struct err *e);

#endif
