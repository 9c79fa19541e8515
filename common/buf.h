/* buf.h — a growable byte buffer with a hard maximum (curl's dynbuf habit).
 *
 * The buffer owns its memory; buf_free releases it.  Appends that would pass
 * max fail with -E2BIG and leave the contents unchanged.  The data is always
 * NUL-terminated (not counted in len) so text can be used as a C string.
 * Not thread-safe: one owner at a time.
 */
#ifndef LOGFLEET_BUF_H
#define LOGFLEET_BUF_H

#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ensures room for n more bytes; returns a pointer to write at. */
char *buf_reserve(struct buf *b, size_t n);
/* Gives up ownership of the data (caller frees) and resets b. */
char *buf_steal(struct buf *b, size_t *len);

struct err;
/* Appends the whole file at path (a config or properties file, not a
 * stream).  0, or PERMANENT in e with the path first:
 *   "<path>: cannot open: <strerror>"   (-errno)
 *   "<path>: larger than <max> bytes"   (-E2BIG)
 *   "<path>: cannot read: <strerror>"   (-EIO) */
int buf_read_file(struct buf *b, const char *path, struct err *e);

#endif
