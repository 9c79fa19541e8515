/* log.h — structured one-line logs on stderr.
 *
 *   log_info("lease", "taken shard=%s counter=%lld", id, n);
 * prints
 *   ts=2026-11-22T00:00:00.123Z level=info sub=lease pid=42 msg="taken" shard=... counter=...
 * The first word of fmt is the message; the rest should be key=value fields.
 * Arguments are not evaluated below the current level.  Thread-safe (one
 * write(2) per line).  Never pass secrets.
 */
#ifndef LOGFLEET_LOG_H
#define LOGFLEET_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

extern int log_level_current;

void log_set_level(enum log_level l);
/* Parses "debug|info|warn|error|off"; returns -1 if unknown. */
int log_level_parse(const char *s);
void log_write(enum log_level l, const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_AT_(l, sub, ...)                                      \
    do {                                                          \
        if ((l) >= log_level_current) log_write(l, sub, __VA_ARGS__); \
    } while (0)
#define log_debug(sub, ...) LOG_AT_(LOG_DEBUG, sub, __VA_ARGS__)
#define log_info(sub, ...) LOG_AT_(LOG_INFO, sub, __VA_ARGS__)
#define log_warn(sub, ...) LOG_AT_(LOG_WARN, sub, __VA_ARGS__)
#define log_error(sub, ...) LOG_AT_(LOG_ERROR, sub, __VA_ARGS__)

#endif
