/* err.h — the caller-owned error detail every fallible function fills.
 *
 * Functions return int: 0 ok, negative on failure, and describe the failure
 * in a struct err the caller passed in (never both log and return).
 * The class says how to handle an external failure, in one place:
 * ERR_RETRY (safe to try again), ERR_PERMANENT (will not succeed as is),
 * ERR_UNKNOWN_OUTCOME (a request may or may not have taken effect, e.g. a
 * lost reply to a PUT or COMMIT: only an idempotent retry is safe).
 */
#ifndef LOGFLEET_ERR_H
#define LOGFLEET_ERR_H

enum err_class {
    ERR_NONE = 0,
    ERR_RETRY,
    ERR_PERMANENT,
    ERR_UNKNOWN_OUTCOME,
};

struct err {
    int code;              /* negative errno-style or module code */
    enum err_class cls;
    int http_status;       /* for AWS failures; 0 otherwise */
    char msg[256];
};

/* Fills e (if not NULL) and returns code, so "return err_set(e, ...)" reads. */
int err_set(struct err *e, int code, enum err_class cls, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void err_clear(struct err *e);
const char *err_class_name(enum err_class c);

#endif
