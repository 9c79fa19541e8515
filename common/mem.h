/* mem.h — allocation wrappers that abort on OOM, and small string helpers.
 *
 * A daemon cannot do anything useful after malloc fails; aborting with a
 * message is clearer than a NULL check at every call site.  _dup/_new return
 * owned memory that the caller frees with free().
 */
#ifndef LOGFLEET_MEM_H
#define LOGFLEET_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copies src into dst of size n, always NUL-terminated; returns strlen(src). */
size_t strlcpy_(char *dst, const char *src, size_t n);

#endif
