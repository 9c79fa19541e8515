/* log.c — structured stderr logging. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_level_current = LOG_INFO;

static const char *names[] = {"debug", "info", "warn", "error", "off"};

void log_set_level(enum log_level l)
{
    log_level_current = (int)l;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i <= LOG_OFF; i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}

/* Splits fmt output into msg="first word(s) before a key=" and the fields. */
void log_write(enum log_level l, const char *sub, const char *fmt, ...)
{
    char body[1536], line[2048], ts[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);

    /* msg is the text up to the first " key=" field, or all of it */
    size_t mlen = strlen(body);
    for (char *p = body; (p = strchr(p, ' ')) != NULL; p++) {
        char *eq = strchr(p + 1, '=');
        char *sp = strchr(p + 1, ' ');
        if (eq && (!sp || eq < sp)) {
            mlen = (size_t)(p - body);
            break;
        }
    }
    int n = snprintf(line, sizeof line, "ts=%s.%03dZ level=%s sub=%s pid=%d msg=\"%.*s\"%s\n",
                     ts, (int)(tv.tv_usec / 1000), names[l], sub, (int)getpid(),
                     (int)mlen, body, body + mlen);
    if (n < 0) return;
    if ((size_t)n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
