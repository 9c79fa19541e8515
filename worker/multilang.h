/* multilang.h — the "multilang" record processor: one child process per
 * shard speaking the KCL MultiLangDaemon protocol (reference/kcl.md §A).
 *
 * Each processor runs its own child (argv from the space-split
 * executableName) in its own process group, with pipes on stdin, stdout and
 * stderr.  Every call writes one JSON line and reads the child's lines until
 * the matching status, answering checkpoint requests in between through the
 * struct checkpointer the caller passed (validated first by a
 * checkpoint/tracker, as KCL's ShardRecordProcessorCheckpointer).  stderr is
 * drained (each line logged at error) whenever the processor waits on the
 * child, i.e. during every call; between calls a child that fills the stderr
 * pipe just pauses until the next one.  Unlike the Java daemon, a child
 * that hangs past the action timeout, exits, or breaks the protocol fails
 * only its own call: the child's process group is killed and reaped and the
 * call returns an ERR_RETRY error; the shard consumer then destroys the
 * processor and starts a new one from the last checkpoint.
 *
 * Threading: a processor is used by one thread at a time (the shard
 * consumer's).  Nothing here blocks without a deadline except waiting for a
 * status when action_timeout_ms is 0 (KCL's "no timeout"; see cancel_fd).
 * SIGPIPE is blocked in the calling thread around writes to the child, so a
 * dead child cannot kill the daemon; the process-wide disposition is left
 * alone.
 */
#ifndef LOGFLEET_MULTILANG_H
#define LOGFLEET_MULTILANG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "worker/processor.h"

struct ml_opts {
    const char *const *argv;     /* program and arguments, NULL-terminated; a bare
                                  * name is looked up on PATH */
    const char *cwd;             /* child's working directory; NULL: inherit */
    const char *shard_id;        /* for logs until initialize names it; may be NULL */
    int64_t action_timeout_ms;   /* per action, from sending it to its status;
                                  * 0: wait forever (timeoutInSeconds * 1000) */
    int64_t init_timeout_ms;     /* initialize only, if > 0; else action_timeout_ms */
    int64_t shutdown_timeout_ms; /* after closing stdin, wait this long for the
                                  * child to exit before SIGTERM; 0: 10000 */
    int64_t kill_grace_ms;       /* SIGTERM to SIGKILL; 0: 2000 */
    bool call_empty;             /* callProcessRecordsEvenForEmptyRecordList */
    size_t max_line;             /* longest line either way; 0: 64 MiB */
    int cancel_fd;               /* > 0: while readable (never read here, e.g. an
                                  * eventfd the consumer sets when it must stop),
                                  * the action in progress fails with -ECANCELED
                                  * and the child is killed; 0 or -1: none */
};

/* Fills *out; the child starts at initialize.  Copies everything in *o.
 * Errors from the ops: ERR_RETRY when the child failed (timeout -ETIMEDOUT,
 * exit or crash -EPIPE, protocol -EPROTO, cancel -ECANCELED; the child is
 * gone and every later call fails: destroy and start over from the last
 * checkpoint), ERR_PERMANENT for a child that cannot start (exec failure) or
 * a batch whose line exceeds max_line (-E2BIG; the child is untouched).
 * shard_ended also fails (ERR_RETRY, -EPROTO) when the child answered
 * without checkpointing SHARD_END, as KCL's shutdown task does. */
int ml_processor_new(const struct ml_opts *o, struct processor *out, struct err *e);
/* The running child's pid (= its process group id), or 0. */
pid_t ml_processor_pid(const struct processor *p);

/* ---- the child's lines (exposed for the fuzz target and tests) ---------- */

enum ml_msg_type {
    ML_MSG_STATUS = 1,
    ML_MSG_CHECKPOINT,
    ML_MSG_OTHER,                /* a known action the daemon ignores */
};

struct ml_msg {
    enum ml_msg_type type;
    char action[24];
    char *response_for;          /* status: NULL if missing or null */
    char *seq;                   /* checkpoint: NULL if missing or null */
    bool has_sub;                /* checkpoint: subSequenceNumber given */
    int64_t sub;
};

/* Parses one line (without its terminator).  0: a protocol message in *out
 * (free with ml_msg_free); -1: not one (not JSON, not an object, unknown
 * action, or a field of the wrong type): the caller skips the line. */
int ml_parse_line(const char *line, size_t n, struct ml_msg *out);
void ml_msg_free(struct ml_msg *m);

#endif
