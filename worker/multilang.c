/* multilang.c — one MultiLangDaemon child per shard (see multilang.h and
 * reference/kcl.md §A).  Single-threaded: poll() multiplexes the child's
 * stdin (when output is pending), stdout, stderr and the cancel fd, always
 * with a deadline except a status wait with no action timeout. */
#include "worker/multilang.h"
#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/seq.h"
#include "checkpoint/tracker.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"

extern char **environ;

#define DEF_MAX_LINE ((size_t)64 << 20)
#define DEF_SHUTDOWN_MS 10000
#define DEF_GRACE_MS 2000
#define REAP_AFTER_KILL_MS 5000
#define READ_CHUNK 65536
#define ERR_LINE_MAX 8192    /* longer stderr lines are logged in pieces */
#define TICK_MS 10           /* poll step while waiting for an exit */
#define EXIT_WAIT_MS 200     /* after a broken pipe: time to exit by itself */

/* ---- time --------------------------------------------------------------- */

/* poll() timeout until deadline (-1: none). */
static int poll_ms(int64_t deadline)
{
    if (deadline < 0) return -1;
    int64_t left = deadline - clock_mono_ms();
    return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* ---- line splitting: \n, \r\n and \r end a line (BufferedReader) ------- */

struct lines {
    struct buf b;       /* unconsumed bytes are b.data[start .. b.len) */
    size_t start;
    size_t max;         /* longest line kept */
    bool split_long;    /* emit over-long lines in pieces (else drop them) */
    bool skip_lf;       /* the last line ended in \r; a next \n belongs to it */
    bool dropping;      /* inside a dropped over-long line */
    bool eof;
    size_t dropped;     /* over-long lines dropped since last looked at */
};

static void lines_init(struct lines *l, size_t max, bool split_long)
{
    memset(l, 0, sizeof *l);
    buf_init(&l->b, max + READ_CHUNK);
    l->max = max;
    l->split_long = split_long;
}

/* Takes the next line out of l (NUL-terminated in place); at EOF a last
 * unterminated line too.  Returns 1 with *line, *n set, else 0. */
static int lines_next(struct lines *l, const char **line, size_t *n)
{
    for (;;) {
        char *p = l->b.data + l->start;
        size_t avail = l->b.len - l->start, i = 0;
        if (!avail) return 0;
        if (l->skip_lf) {
            l->skip_lf = false;
            if (*p == '\n') { l->start++; continue; }
        }
        while (i < avail && p[i] != '\n' && p[i] != '\r') i++;
        if (i == avail && !l->eof && !(l->split_long && avail >= l->max)) return 0;
        l->start += i < avail ? i + 1 : i;
        if (i < avail) {
            l->skip_lf = p[i] == '\r';
            p[i] = '\0';
        }
        if (l->dropping) {
            l->dropping = i == avail && !l->eof;
            continue;
        }
        *line = p;
        *n = i;
        return 1;
    }
}

/* One read(2) into l.  Returns >0 bytes, 0 at EOF (or a read error, which
 * ends the stream as in Java), -1 when nothing is available now. */
static ssize_t lines_read(struct lines *l, int fd)
{
    size_t pending = l->b.len - l->start;
    if (l->start) {
        memmove(l->b.data, l->b.data + l->start, pending);
        l->b.len = pending;
        l->start = 0;
    }
    if (!l->split_long && pending >= l->max && !memchr(l->b.data, '\n', pending) &&
        !memchr(l->b.data, '\r', pending)) {
        l->b.len = 0; /* an over-long partial line: drop it up to its end */
        l->dropped += !l->dropping;
        l->dropping = true;
    }
    char *w = buf_reserve(&l->b, READ_CHUNK);
    if (!w) { /* unconsumed lines fill the buffer: drop them, stay bounded */
        l->b.len = 0;
        l->dropped++;
        l->dropping = true;
        w = buf_reserve(&l->b, READ_CHUNK);
    }
    ssize_t r = read(fd, w, READ_CHUNK);
    if (r > 0) {
        l->b.len += (size_t)r;
        l->b.data[l->b.len] = '\0';
        return r;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return -1;
    l->eof = true;
    return 0;
}

/* ---- the processor ------------------------------------------------------ */

enum ml_state { ML_NEW, ML_READY, ML_DONE, ML_FAILED };

struct ml {
    char **argv, *cwd, *shard;
    int64_t action_timeout_ms, init_timeout_ms, shutdown_timeout_ms, kill_grace_ms;
    bool call_empty;
    size_t max_line;
    int cancel_fd;

    enum ml_state state;
    pid_t pid;              /* child = its process group; 0 when none */
    bool exited;            /* the child has exited (maybe not reaped yet) */
    char exit_desc[64];     /* "exited with status 3", "killed by signal 9 (KILL)" */
    int in_fd, out_fd, err_fd;
    struct lines out, err;
    struct buf w;           /* bytes for the child's stdin; w_off of them written */
    size_t w_off;
    struct ckpt_tracker tr;
    char last_stderr[120];  /* for error messages */
};

/* One request/response exchange with the child. */
struct action {
    const char *name;
    struct checkpointer *cp; /* NULL: checkpoint requests get InvalidStateException */
    int64_t timeout_ms;      /* 0: none */
    int64_t deadline;        /* -1: none */
    bool got_status;
};

/* Copies s into dst as a log-safe quoted value body (no quotes, no control
 * bytes), truncated with "..." */
static const char *log_safe(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) { /* room: \xNN, "...", NUL */
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { dst[o++] = '\\'; dst[o++] = (char)c; }
        else if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
        else dst[o++] = (char)c;
        if (i + 1 < n && o + 8 >= cap) { memcpy(dst + o, "...", 3); o += 3; }
    }
    dst[o] = '\0';
    return dst;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void on_stderr_line(struct ml *m, const char *line, size_t n)
{
    char q[1024];
    log_safe(q, sizeof q, line, n);
    log_error("ml", "child stderr shard=%s pid=%d line=\"%s\"", m->shard, (int)m->pid, q);
    if (n) log_safe(m->last_stderr, sizeof m->last_stderr, line, n);
}

/* Reads what stderr has now and logs each line at error. */
static void drain_stderr(struct ml *m)
{
    const char *line;
    size_t n;
    while (m->err_fd >= 0) {
        ssize_t r = lines_read(&m->err, m->err_fd);
        while (lines_next(&m->err, &line, &n)) on_stderr_line(m, line, n);
        if (r == 0) close_fd(&m->err_fd);
        if (r <= 0) break;
    }
}

/* Outside an action (shutdown, failure): consume stdout and log it. */
static void drain_stdout(struct ml *m)
{
    const char *line;
    size_t n;
    char q[1024];
    ssize_t r = m->out_fd >= 0 ? lines_read(&m->out, m->out_fd) : -1;
    while (lines_next(&m->out, &line, &n))
        if (n) log_info("ml", "child stdout after last action shard=%s line=\"%s\"", m->shard,
                        log_safe(q, sizeof q, line, n));
    if (r == 0) close_fd(&m->out_fd);
}

/* Waits up to ms for stdout/stderr data (or just sleeps) and drains it. */
static void pump(struct ml *m, int ms)
{
    struct pollfd pf[2];
    int np = 0;
    if (m->out_fd >= 0) pf[np++] = (struct pollfd){.fd = m->out_fd, .events = POLLIN};
    if (m->err_fd >= 0) pf[np++] = (struct pollfd){.fd = m->err_fd, .events = POLLIN};
    if (poll(pf, (nfds_t)np, ms) <= 0) return;
    drain_stdout(m);
    drain_stderr(m);
}

static void describe_exit(struct ml *m, const siginfo_t *si)
{
    if (si->si_code == CLD_EXITED)
        snprintf(m->exit_desc, sizeof m->exit_desc, "exited with status %d", si->si_status);
    else
        snprintf(m->exit_desc, sizeof m->exit_desc, "killed by signal %d (%s)", si->si_status,
                 sigabbrev_np(si->si_status) ? sigabbrev_np(si->si_status) : "?");
}

/* Has the child exited?  Leaves it unreaped, so that its pid (and so its
 * process group id) cannot be reused before reap() signals the group. */
static bool child_exited(struct ml *m)
{
    if (m->exited) return true;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)m->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
        if (errno == EINTR) return false;
        snprintf(m->exit_desc, sizeof m->exit_desc, "exit status unknown (%s)", strerror(errno));
        return m->exited = true; /* ECHILD: reaped elsewhere */
    }
    if (si.si_pid == 0) return false;
    describe_exit(m, &si);
    return m->exited = true;
}

static bool wait_exit(struct ml *m, int64_t deadline)
{
    while (!child_exited(m)) {
        int left = poll_ms(deadline);
        if (left == 0) return false;
        pump(m, left < TICK_MS ? left : TICK_MS);
    }
    return true;
}

/* The child has exited: kill whatever is left in its process group, reap
 * it, close the pipes. */
static void reap(struct ml *m)
{
    if (kill(-m->pid, SIGKILL) == 0)
        log_debug("ml", "killed leftovers in process group shard=%s pgid=%d", m->shard, (int)m->pid);
    int st;
    while (waitpid(m->pid, &st, 0) < 0 && errno == EINTR) {}
    log_info("ml", "child ended shard=%s pid=%d how=\"%s\"", m->shard, (int)m->pid, m->exit_desc);
    drain_stderr(m);
    close_fd(&m->in_fd);
    close_fd(&m->out_fd);
    close_fd(&m->err_fd);
    m->pid = 0;
}

/* Waits up to wait_ms for the child to exit by itself, then SIGTERM to its
 * process group, kill_grace_ms, SIGKILL; reaps it. */
static void kill_child(struct ml *m, int64_t wait_ms)
{
    if (!m->pid) return;
    close_fd(&m->in_fd);
    if (!wait_exit(m, clock_mono_ms() + wait_ms)) {
        kill(-m->pid, SIGTERM);
        if (!wait_exit(m, clock_mono_ms() + m->kill_grace_ms)) {
            kill(-m->pid, SIGKILL);
            if (!wait_exit(m, clock_mono_ms() + REAP_AFTER_KILL_MS)) {
                log_error("ml", "child survives SIGKILL shard=%s pid=%d", m->shard, (int)m->pid);
                return;
            }
        }
    }
    reap(m);
}

/* Clean end (kcl.md §A.7 rule 2): close stdin, drain stdout/stderr, wait. */
static void stop_child(struct ml *m)
{
    if (!m->pid) return;
    close_fd(&m->in_fd);
    int64_t deadline = clock_mono_ms() + m->shutdown_timeout_ms;
    /* until EOF on both, or the child is gone (a leftover in its group may
     * hold the pipes; reap() kills it) */
    while ((m->out_fd >= 0 || m->err_fd >= 0) && poll_ms(deadline) > 0 && !child_exited(m))
        pump(m, poll_ms(deadline) < 100 ? poll_ms(deadline) : 100);
    pump(m, 0);
    if (!wait_exit(m, deadline))
        log_warn("ml", "child did not exit after stdin closed shard=%s pid=%d waited_ms=%" PRId64,
                 m->shard, (int)m->pid, m->shutdown_timeout_ms);
    kill_child(m, 0);
}

/* Fails the action: kills the child (after wait_ms for it to exit by
 * itself) and fills e with an ERR_RETRY error. */
static int fail(struct ml *m, struct err *e, int code, int64_t wait_ms, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(struct ml *m, struct err *e, int code, int64_t wait_ms, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int had_child = m->pid != 0;
    kill_child(m, wait_ms);
    m->state = ML_FAILED;
    return err_set(e, code, ERR_RETRY, "shard %s: %s%s%s%s%s%s", m->shard, what,
                   had_child ? "; child " : "", had_child ? m->exit_desc : "",
                   m->last_stderr[0] ? "; last stderr: \"" : "", m->last_stderr,
                   m->last_stderr[0] ? "\"" : "");
}

/* ---- writing to the child ----------------------------------------------- */

/* write(2) with SIGPIPE blocked in this thread; a SIGPIPE it raised is
 * consumed, so only EPIPE remains. */
static ssize_t write_nosigpipe(int fd, const void *p, size_t n)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t w = write(fd, p, n);
    int saved = errno;
    if (w < 0 && saved == EPIPE && !sigismember(&old, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return w;
}

/* Writes what the pipe takes now.  0 (maybe partial), or -errno. */
static int flush_out(struct ml *m)
{
    while (m->w_off < m->w.len) {
        ssize_t n = write_nosigpipe(m->in_fd, m->w.data + m->w_off, m->w.len - m->w_off);
        if (n > 0) m->w_off += (size_t)n;
        else if (n < 0 && errno == EINTR) continue;
        else if (n < 0 && errno == EAGAIN) return 0;
        else return n < 0 ? -errno : -EIO;
    }
    buf_reset(&m->w);
    m->w_off = 0;
    return 0;
}

/* JSON writer over a bounded buf; after the first failure it does nothing
 * and the caller sees err. */
struct jw {
    struct buf *b;
    int err;
};

static void jw_raw(struct jw *j, const char *s, size_t n)
{
    if (!j->err) j->err = buf_append(j->b, s, n);
}

static void jw_lit(struct jw *j, const char *s) { jw_raw(j, s, strlen(s)); }

static void jw_int(struct jw *j, int64_t v)
{
    char t[24];
    jw_raw(j, t, (size_t)snprintf(t, sizeof t, "%" PRId64, v));
}

/* Length of the valid UTF-8 sequence at s, or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0];
#define CONT(x) (((x) & 0xC0) == 0x80)
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return CONT(s[1]) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi && CONT(s[2]) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi && CONT(s[2]) && CONT(s[3]) ? 4 : 0;
    }
    return 0;
#undef CONT
}

/* A JSON string as Jackson writes it: ", \ and control bytes escaped (\n
 * style where one exists, else \u00XX), UTF-8 kept; invalid UTF-8 bytes
 * become U+FFFD so the child always gets valid UTF-8.  NULL: null. */
static void jw_str(struct jw *j, const char *s)
{
    if (!s) { jw_lit(j, "null"); return; }
    static const char hex[] = "0123456789ABCDEF";
    jw_raw(j, "\"", 1);
    const unsigned char *p = (const unsigned char *)s, *run = p;
    while (*p) {
        size_t n = utf8_seq(p);
        if (n && *p >= 0x20 && *p != '"' && *p != '\\') { p += n; continue; }
        jw_raw(j, (const char *)run, (size_t)(p - run));
        char esc[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
        const char *short_esc = *p == '"' ? "\\\"" : *p == '\\' ? "\\\\" : *p == '\n' ? "\\n"
                              : *p == '\r' ? "\\r" : *p == '\t' ? "\\t" : *p == '\b' ? "\\b"
                              : *p == '\f' ? "\\f" : NULL;
        if (!n) jw_lit(j, "\\uFFFD");
        else jw_lit(j, short_esc ? short_esc : esc);
        run = ++p;
    }
    jw_raw(j, (const char *)run, (size_t)(p - run));
    jw_raw(j, "\"", 1);
}

/* Standard base64 (RFC 4648 "+/", padded, no line breaks) in quotes. */
static void jw_b64(struct jw *j, const unsigned char *d, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (j->err) return;
    if (n > (SIZE_MAX / 4) * 3 - 3) { j->err = -E2BIG; return; }
    size_t out = (n + 2) / 3 * 4;
    char *w = buf_reserve(j->b, out + 2);
    if (!w) { j->err = -E2BIG; return; }
    *w++ = '"';
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *w++ = a[v >> 18]; *w++ = a[(v >> 12) & 63]; *w++ = a[(v >> 6) & 63]; *w++ = a[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
        *w++ = a[v >> 18];
        *w++ = a[(v >> 12) & 63];
        *w++ = i + 1 < n ? a[(v >> 6) & 63] : '=';
        *w++ = '=';
    }
    *w++ = '"';
    j->b->len += out + 2;
    j->b->data[j->b->len] = '\0';
}

/* Field order follows the Java message classes as Jackson writes them:
 * the type id "action" first, then the declared fields; a record's "action"
 * is a getter, so it comes last. */
static void jw_record(struct jw *j, const struct proc_record *r)
{
    jw_lit(j, "{\"data\":");
    if (r->data) jw_b64(j, r->data, r->len);
    else jw_lit(j, "null");
    jw_lit(j, ",\"partitionKey\":");
    jw_str(j, r->partition_key);
    jw_lit(j, ",\"sequenceNumber\":");
    jw_str(j, r->seq);
    jw_lit(j, ",\"approximateArrivalTimestamp\":");
    jw_int(j, r->arrival_ms);
    jw_lit(j, ",\"subSequenceNumber\":");
    jw_int(j, r->subseq);
    jw_lit(j, ",\"action\":\"record\"}");
}

/* ---- reading the child -------------------------------------------------- */

static const char *const known_actions[] = {
    "checkpoint", "initialize", "processRecords", "shutdown", "status",
    "shutdownRequested", "leaseLost", "shardEnded",
};

/* A JSON string, null/absent (NULL) or, as Jackson coerces, an integer. */
static int opt_text(json_t *v, char **out)
{
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) {
        *out = xstrndup(json_string_value(v), json_string_length(v));
        return 0;
    }
    if (json_is_integer(v)) {
        *out = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 0;
    }
    return -1;
}

/* An integer, null/absent, or (Jackson coercion) a string holding one. */
static int opt_int(json_t *v, bool *has, int64_t *out)
{
    *has = false;
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return *has = true, 0;
    }
    if (!json_is_string(v)) return -1;
    const char *s = json_string_value(v);
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || (s[0] != '-' && (s[0] < '0' || s[0] > '9'))) return -1;
    *out = x;
    return *has = true, 0;
}

static int parse_fields(json_t *j, struct ml_msg *out)
{
    if (!strcmp(out->action, "status")) {
        out->type = ML_MSG_STATUS;
        json_t *rf = json_object_get(j, "responseFor");
        if (rf && !json_is_null(rf) && !json_is_string(rf)) return -1;
        if (json_is_string(rf)) out->response_for = xstrdup(json_string_value(rf));
        return 0;
    }
    if (!strcmp(out->action, "checkpoint")) {
        out->type = ML_MSG_CHECKPOINT;
        /* The outdated Javadoc's {"checkpoint": seq}: Java skips it (unknown
         * property); reading it as null would checkpoint past what the child
         * asked for, so it is skipped here too. */
        if (json_object_get(j, "checkpoint") && !json_object_get(j, "sequenceNumber")) return -1;
        if (opt_text(json_object_get(j, "sequenceNumber"), &out->seq) < 0) return -1;
        return opt_int(json_object_get(j, "subSequenceNumber"), &out->has_sub, &out->sub);
    }
    out->type = ML_MSG_OTHER;
    return 0;
}

int ml_parse_line(const char *line, size_t n, struct ml_msg *out)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *j = json_loadb(line, n, 0, &je);
    json_t *a = json_is_object(j) ? json_object_get(j, "action") : NULL;
    int rc = -1;
    for (size_t i = 0; a && json_is_string(a) && i < sizeof known_actions / sizeof *known_actions; i++)
        if (!strcmp(json_string_value(a), known_actions[i])) {
            strlcpy_(out->action, known_actions[i], sizeof out->action);
            rc = parse_fields(j, out);
            break;
        }
    json_decref(j);
    if (rc < 0) ml_msg_free(out);
    return rc;
}

void ml_msg_free(struct ml_msg *m)
{
    if (!m) return;
    free(m->response_for);
    free(m->seq);
    memset(m, 0, sizeof *m);
}

/* ---- one action --------------------------------------------------------- */

/* A checkpoint request (kcl.md §A.6): validate, checkpoint, reply with the
 * request's own values and the outcome's exception name. */
static int on_checkpoint(struct ml *m, struct action *a, const struct ml_msg *msg, struct err *e)
{
    enum ckpt_result r = CKPT_INVALID_STATE;
    struct ckpt_target tg = {0};
    if (a->cp) {
        r = ckpt_tracker_resolve(&m->tr, msg->seq, msg->has_sub ? msg->sub : 0, &tg);
        if (r == CKPT_OK && tg.write) {
            r = a->cp->ops->checkpoint(a->cp, tg.seq, tg.sub);
            if (r == CKPT_OK) ckpt_tracker_advanced(&m->tr, &tg);
        }
    }
    /* debug on success, as KCL; a refused checkpoint is worth an info line */
    if (r == CKPT_OK || log_level_current <= LOG_DEBUG)
        log_debug("ml", "checkpoint shard=%s during=%s seq=%s sub=%" PRId64 " stored=%s result=ok",
                  m->shard, a->name, msg->seq ? msg->seq : "null", msg->has_sub ? msg->sub : 0,
                  tg.write ? tg.seq : "-");
    else
        log_info("ml", "checkpoint refused shard=%s during=%s seq=%s sub=%" PRId64 " error=%s",
                 m->shard, a->name, msg->seq ? msg->seq : "null", msg->has_sub ? msg->sub : 0,
                 ckpt_result_name(r));
    struct jw j = {&m->w, 0};
    jw_lit(&j, "{\"action\":\"checkpoint\",\"sequenceNumber\":");
    jw_str(&j, msg->seq);
    jw_lit(&j, ",\"subSequenceNumber\":");
    if (msg->has_sub) jw_int(&j, msg->sub);
    else jw_lit(&j, "null");
    jw_lit(&j, ",\"error\":");
    jw_str(&j, r == CKPT_OK ? NULL : ckpt_result_name(r));
    jw_lit(&j, "}\n");
    if (j.err) return fail(m, e, -E2BIG, 0, "%s: checkpoint reply too large", a->name);
    int rc = flush_out(m);
    if (rc < 0)
        return fail(m, e, rc, EXIT_WAIT_MS, "%s: writing checkpoint reply: %s", a->name,
                    strerror(-rc));
    return 0;
}

/* One line from the child's stdout during action a. */
static int on_line(struct ml *m, struct action *a, const char *line, size_t n, struct err *e)
{
    struct ml_msg msg;
    char q[1024];
    if (n == 0) return 0;
    if (ml_parse_line(line, n, &msg) < 0) {
        log_info("ml", "skipping unexpected line on STDOUT shard=%s line=\"%s\"", m->shard,
                 log_safe(q, sizeof q, line, n));
        return 0;
    }
    int rc = 0;
    if (msg.type == ML_MSG_STATUS) {
        if (msg.response_for && !strcmp(msg.response_for, a->name)) a->got_status = true;
        else rc = fail(m, e, -EPROTO, 0, "%s: child answered status for %s", a->name,
                       msg.response_for ? msg.response_for : "(none)");
    } else if (msg.type == ML_MSG_CHECKPOINT) {
        rc = on_checkpoint(m, a, &msg, e);
    } else {
        log_info("ml", "ignoring message from child shard=%s action=%s during=%s", m->shard,
                 msg.action, a->name);
    }
    ml_msg_free(&msg);
    return rc;
}

/* Handles the lines buffered so far; 1 once the status came. */
static int take_lines(struct ml *m, struct action *a, struct err *e)
{
    const char *line;
    size_t n;
    while (!a->got_status && lines_next(&m->out, &line, &n)) {
        int rc = on_line(m, a, line, n, e);
        if (rc < 0) return rc;
    }
    return a->got_status;
}

static int poll_child(struct ml *m, struct action *a, struct err *e)
{
    struct pollfd pf[4];
    int np = 0, ii = -1, io = -1, ie = -1, ic = -1;
    if (m->w_off < m->w.len) ii = np, pf[np++] = (struct pollfd){.fd = m->in_fd, .events = POLLOUT};
    if (!m->out.eof) io = np, pf[np++] = (struct pollfd){.fd = m->out_fd, .events = POLLIN};
    if (m->err_fd >= 0) ie = np, pf[np++] = (struct pollfd){.fd = m->err_fd, .events = POLLIN};
    if (m->cancel_fd > 0) ic = np, pf[np++] = (struct pollfd){.fd = m->cancel_fd, .events = POLLIN};
    int tmo = poll_ms(a->deadline);
    if (tmo == 0)
        return fail(m, e, -ETIMEDOUT, 0, "%s: no status within %" PRId64 " ms", a->name, a->timeout_ms);
    int r = poll(pf, (nfds_t)np, tmo);
    if (r < 0 && errno != EINTR) return fail(m, e, -errno, 0, "%s: poll: %s", a->name, strerror(errno));
    if (r <= 0) return 0;
    if (ic >= 0 && pf[ic].revents) return fail(m, e, -ECANCELED, 0, "%s: cancelled", a->name);
    if (ii >= 0 && pf[ii].revents) {
        int rc = flush_out(m);
        if (rc < 0)
            return fail(m, e, rc, EXIT_WAIT_MS, "%s: writing to child: %s", a->name, strerror(-rc));
    }
    if (ie >= 0 && pf[ie].revents) drain_stderr(m);
    if (io >= 0 && pf[io].revents) lines_read(&m->out, m->out_fd);
    if (m->out.dropped) {
        log_info("ml", "skipping unexpected line on STDOUT shard=%s reason=\"longer than %zu bytes\"",
                 m->shard, m->max_line);
        m->out.dropped = 0;
    }
    return 0;
}

/* Sends m->w (the action's message) and reads until a's status. */
static int run_action(struct ml *m, struct action *a, struct err *e)
{
    a->deadline = a->timeout_ms > 0 ? clock_mono_ms() + a->timeout_ms : -1;
    a->got_status = false;
    int rc = flush_out(m);
    if (rc < 0) return fail(m, e, rc, EXIT_WAIT_MS, "%s: writing to child: %s", a->name, strerror(-rc));
    for (;;) {
        rc = take_lines(m, a, e);
        if (rc < 0) return rc;
        if (rc > 0 && m->w_off == m->w.len) return 0;
        if (rc == 0 && m->out.eof)
            return fail(m, e, -EPIPE, m->kill_grace_ms, "%s: child closed stdout before its status",
                        a->name);
        rc = poll_child(m, a, e);
        if (rc < 0) return rc;
    }
}

/* ---- processor ops ------------------------------------------------------ */

static int move_above_stdio(int fd)
{
    if (fd > 2) return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return n;
}

static int make_pipe(int p[2])
{
    if (pipe2(p, O_CLOEXEC) < 0) return -errno;
    p[0] = move_above_stdio(p[0]);
    p[1] = move_above_stdio(p[1]);
    return p[0] < 0 || p[1] < 0 ? -EMFILE : 0;
}

static int start_child(struct ml *m, int in[2], int out[2], int er[2], pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t all, none;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, er[1], 2);
    if (m->cwd) posix_spawn_file_actions_addchdir_np(&fa, m->cwd);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&at);
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&at, &all); /* e.g. SIGPIPE if the daemon ignores it */
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setpgroup(&at, 0);        /* its own process group */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETSIGMASK);
    int r = posix_spawnp(pid, m->argv[0], &fa, &at, m->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return r;
}

/* Like execvp's search, before spawning: a clear error for a missing
 * program or cwd even where posix_spawn cannot report exec failures
 * (then the child would only exit 127).  0 or -errno. */
static int check_program(const struct ml *m)
{
    struct stat st;
    if (m->cwd && (stat(m->cwd, &st) < 0 || !S_ISDIR(st.st_mode))) return -ENOENT;
    const char *prog = m->argv[0], *path = getenv("PATH");
    int rc = -ENOENT;
    if (strchr(prog, '/')) path = "";
    else if (!path) path = "/bin:/usr/bin";
    for (const char *dir = path;; dir++) {
        const char *end = strchrnul(dir, ':');
        char *cand = strchr(prog, '/') ? xstrdup(prog) : xasprintf("%.*s%s%s", (int)(end - dir), dir,
                                                                   end > dir ? "/" : "", prog);
        char *full = cand[0] == '/' || !m->cwd ? xstrdup(cand) : xasprintf("%s/%s", m->cwd, cand);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
            rc = access(full, X_OK) == 0 ? 0 : -EACCES;
        free(cand);
        free(full);
        if (rc == 0 || !*end) return rc;
        dir = end;
    }
}

static int spawn(struct ml *m, struct err *e)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1}, rc;
    pid_t pid;
    if ((rc = make_pipe(in)) < 0 || (rc = make_pipe(out)) < 0 || (rc = make_pipe(er)) < 0) {
        rc = err_set(e, rc, ERR_RETRY, "shard %s: pipe: %s", m->shard, strerror(-rc));
        goto out;
    }
    int r = -check_program(m);
    if (r == 0) r = start_child(m, in, out, er, &pid);
    if (r != 0) {
        rc = err_set(e, -r, ERR_PERMANENT, "shard %s: cannot start \"%s\"%s%s: %s", m->shard,
                     m->argv[0], m->cwd ? " in " : "", m->cwd ? m->cwd : "", strerror(r));
        goto out;
    }
    setpgid(pid, pid); /* already done in the child; closes any race */
    m->pid = pid;
    m->exited = false;
    strlcpy_(m->exit_desc, "still running", sizeof m->exit_desc);
    m->in_fd = in[1], in[1] = -1;
    m->out_fd = out[0], out[0] = -1;
    m->err_fd = er[0], er[0] = -1;
    fcntl(m->in_fd, F_SETFL, O_NONBLOCK);
    fcntl(m->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(m->err_fd, F_SETFL, O_NONBLOCK);
    log_info("ml", "child started shard=%s pid=%d cmd=%s", m->shard, (int)pid, m->argv[0]);
out:
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&out[i]);
        close_fd(&er[i]);
    }
    return rc;
}

static int not_ready(struct ml *m, const char *what, struct err *e)
{
    static const char *const names[] = {"not initialized", "ready", "already shut down",
                                        "failed earlier"};
    return err_set(e, -EINVAL, m->state == ML_FAILED ? ERR_RETRY : ERR_PERMANENT,
                   "shard %s: %s: processor %s", m->shard, what, names[m->state]);
}

static int ml_initialize(struct processor *p, const char *shard_id, const char *seq, int64_t subseq,
                         struct err *e)
{
    struct ml *m = p->impl;
    if (m->state != ML_NEW) return not_ready(m, "initialize", e);
    free(m->shard);
    m->shard = xstrdup(shard_id ? shard_id : "-");
    int rc = spawn(m, e);
    if (rc < 0) {
        m->state = ML_FAILED;
        return rc;
    }
    m->state = ML_READY;
    ckpt_tracker_free(&m->tr);
    ckpt_tracker_init(&m->tr, seq, subseq);
    struct jw j = {&m->w, 0};
    jw_lit(&j, "{\"action\":\"initialize\",\"shardId\":");
    jw_str(&j, shard_id);
    jw_lit(&j, ",\"sequenceNumber\":");
    jw_str(&j, seq);
    jw_lit(&j, ",\"subSequenceNumber\":");
    if (seq) jw_int(&j, subseq);
    else jw_lit(&j, "null");
    jw_lit(&j, "}\n");
    struct action a = {"initialize", NULL,
                       m->init_timeout_ms > 0 ? m->init_timeout_ms : m->action_timeout_ms, -1, false};
    return run_action(m, &a, e);
}

/* Builds the processRecords line into m->w; -E2BIG if over max_line. */
static int build_records(struct ml *m, const struct proc_batch *b)
{
    struct jw j = {&m->w, 0};
    jw_lit(&j, "{\"action\":\"processRecords\",\"records\":[");
    for (size_t i = 0; i < b->n && !j.err; i++) {
        if (i) jw_raw(&j, ",", 1);
        jw_record(&j, &b->recs[i]);
    }
    jw_lit(&j, "],\"millisBehindLatest\":");
    if (b->millis_behind >= 0) jw_int(&j, b->millis_behind);
    else jw_lit(&j, "null");
    jw_lit(&j, "}\n");
    if (j.err) {
        buf_reset(&m->w);
        m->w_off = 0;
    }
    return j.err;
}

static int ml_process_records(struct processor *p, const struct proc_batch *b,
                              struct checkpointer *cp, struct err *e)
{
    struct ml *m = p->impl;
    if (m->state != ML_READY) return not_ready(m, "processRecords", e);
    if (b->n == 0 && !m->call_empty) return 0;
    for (size_t i = 0; i < b->n; i++)
        if (!ckpt_seq_is_digits(b->recs[i].seq) || b->recs[i].subseq < 0)
            return err_set(e, -EINVAL, ERR_PERMANENT, "shard %s: record %zu: bad sequence number",
                           m->shard, i);
    if (build_records(m, b) < 0)
        return err_set(e, -E2BIG, ERR_PERMANENT,
                       "shard %s: processRecords line for %zu records exceeds %zu bytes", m->shard,
                       b->n, m->max_line);
    for (size_t i = 0; i < b->n; i++) ckpt_tracker_delivered(&m->tr, b->recs[i].seq, b->recs[i].subseq);
    struct action a = {"processRecords", cp, m->action_timeout_ms, -1, false};
    return run_action(m, &a, e);
}

/* A lifecycle message with no fields. */
static int lifecycle(struct ml *m, const char *action, struct checkpointer *cp, struct err *e)
{
    struct jw j = {&m->w, 0};
    jw_lit(&j, "{\"action\":\"");
    jw_lit(&j, action);
    jw_lit(&j, "\"}\n");
    struct action a = {action, cp, m->action_timeout_ms, -1, false};
    return run_action(m, &a, e);
}

static int ml_lease_lost(struct processor *p, struct err *e)
{
    struct ml *m = p->impl;
    if (m->state == ML_NEW) { /* lost before initialize: no child to tell */
        m->state = ML_DONE;
        return 0;
    }
    if (m->state != ML_READY) return not_ready(m, "leaseLost", e);
    int rc = lifecycle(m, "leaseLost", NULL, e);
    if (rc < 0) return rc;
    stop_child(m);
    m->state = ML_DONE;
    return 0;
}

static int ml_shard_ended(struct processor *p, struct checkpointer *cp, struct err *e)
{
    struct ml *m = p->impl;
    if (m->state != ML_READY) return not_ready(m, "shardEnded", e);
    ckpt_tracker_shard_end(&m->tr);
    int rc = lifecycle(m, "shardEnded", cp, e);
    if (rc < 0) return rc;
    stop_child(m);
    m->state = ML_DONE;
    if (!m->tr.last || strcmp(m->tr.last, CKPT_SEQ_SHARD_END) != 0)
        return err_set(e, -EPROTO, ERR_RETRY,
                       "shard %s: the child did not checkpoint at SHARD_END during shardEnded",
                       m->shard);
    return 0;
}

static int ml_shutdown_requested(struct processor *p, struct checkpointer *cp, struct err *e)
{
    struct ml *m = p->impl;
    if (m->state != ML_READY) return not_ready(m, "shutdownRequested", e);
    return lifecycle(m, "shutdownRequested", cp, e);
}

static void ml_destroy(struct processor *p)
{
    struct ml *m = p->impl;
    if (!m) return;
    stop_child(m);
    buf_free(&m->out.b);
    buf_free(&m->err.b);
    buf_free(&m->w);
    ckpt_tracker_free(&m->tr);
    for (char **a = m->argv; a && *a; a++) free(*a);
    free(m->argv);
    free(m->cwd);
    free(m->shard);
    free(m);
    p->impl = NULL;
}

static const struct processor_ops ml_ops = {
    .name = "multilang",
    .initialize = ml_initialize,
    .process_records = ml_process_records,
    .lease_lost = ml_lease_lost,
    .shard_ended = ml_shard_ended,
    .shutdown_requested = ml_shutdown_requested,
    .destroy = ml_destroy,
};

int ml_processor_new(const struct ml_opts *o, struct processor *out, struct err *e)
{
    if (!o->argv || !o->argv[0] || !o->argv[0][0])
        return err_set(e, -EINVAL, ERR_PERMANENT, "multilang: empty command");
    struct ml *m = xcalloc(1, sizeof *m);
    size_t n = 0;
    while (o->argv[n]) n++;
    m->argv = xcalloc(n + 1, sizeof *m->argv);
    for (size_t i = 0; i < n; i++) m->argv[i] = xstrdup(o->argv[i]);
    m->cwd = o->cwd ? xstrdup(o->cwd) : NULL;
    m->shard = xstrdup(o->shard_id ? o->shard_id : "-");
    m->action_timeout_ms = o->action_timeout_ms > 0 ? o->action_timeout_ms : 0;
    m->init_timeout_ms = o->init_timeout_ms > 0 ? o->init_timeout_ms : 0;
    m->shutdown_timeout_ms = o->shutdown_timeout_ms > 0 ? o->shutdown_timeout_ms : DEF_SHUTDOWN_MS;
    m->kill_grace_ms = o->kill_grace_ms > 0 ? o->kill_grace_ms : DEF_GRACE_MS;
    m->call_empty = o->call_empty;
    m->max_line = o->max_line ? o->max_line : DEF_MAX_LINE;
    m->cancel_fd = o->cancel_fd;
    m->in_fd = m->out_fd = m->err_fd = -1;
    lines_init(&m->out, m->max_line, false);
    lines_init(&m->err, ERR_LINE_MAX, true);
    buf_init(&m->w, m->max_line);
    out->ops = &ml_ops;
    out->impl = m;
    return 0;
}

pid_t ml_processor_pid(const struct processor *p)
{
    const struct ml *m = p ? p->impl : NULL;
    return m ? m->pid : 0;
}
