/* err.c — struct err helpers. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct err *e, int code, enum err_class cls, const char *fmt, ...)
{
    if (!e) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    e->cls = cls;
    return code;
}

void err_clear(struct err *e)
{
    if (e) memset(e, 0, sizeof *e);
}

const char *err_class_name(enum err_class c)
{
    switch (c) {
    case ERR_NONE: return "none";
    case ERR_RETRY: return "retry";
    case ERR_PERMANENT: return "permanent";
    case ERR_UNKNOWN_OUTCOME: return "unknown_outcome";
    }
    return "?";
}
