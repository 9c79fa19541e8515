/* buf.c — bounded growable buffer. */
#include "common/buf.h"
#include "common/err.h"
#include "common/mem.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

char *buf_reserve(struct buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n) return NULL;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        if (cap > b->max + 1) cap = b->max + 1;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    return b->data + b->len;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    char *w = buf_reserve(b, n);
    if (!w) return -E2BIG;
    if (n) memcpy(w, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return -EINVAL;
    char *w = buf_reserve(b, (size_t)n);
    if (!w) return -E2BIG;
    va_start(ap, fmt);
    vsnprintf(w, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *buf_steal(struct buf *b, size_t *len)
{
    if (!b->data) {
        buf_reserve(b, 0);
        b->data[0] = 0;
    }
    char *d = b->data;
    if (len) *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

int buf_read_file(struct buf *b, const char *path, struct err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, -errno, ERR_PERMANENT, "%s: cannot open: %s", path, strerror(errno));
    char chunk[8192];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(b, chunk, n))
            rc = err_set(e, -E2BIG, ERR_PERMANENT, "%s: larger than %zu bytes", path, b->max);
    if (!rc && ferror(f))
        rc = err_set(e, -EIO, ERR_PERMANENT, "%s: cannot read: %s", path, strerror(errno));
    fclose(f);
    return rc;
}
