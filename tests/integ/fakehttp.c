/* fakehttp.c — the scripted loopback HTTP server (see fakehttp.h).
 *
 * One thread polls the listening socket, a wake-up pipe and up to MAXC
 * connections.  A request is complete when its headers and body (by
 * Content-Length or chunked) have arrived; it is then recorded, its reply is
 * chosen (queue, handler, or 501) and written.  f->mu guards the queue, the
 * handler and the records; the connections belong to the server thread.
 */
#include "tests/integ/fakehttp.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/mem.h"

#define MAXC 32
#define IN_MAX ((size_t)512 << 20)
#define HDR_MAX (64 * 1024)

struct conn {
    int fd, id;
    struct buf in;
    int continue_sent;
    /* A delayed reply: nothing more is read from in until it has gone. */
    int pending, pend_close;
    struct buf pend;
    struct timespec due;
};

struct qitem {
    struct fakehttp_reply rep;   /* headers/body point into the item's copies */
    char *headers;
    char *body;
    struct qitem *next;
};

struct fakehttp {
    int lfd, wake[2], port;
    char url[64];
    pthread_t th;
    pthread_mutex_t mu;          /* guards q*, fn, arg, reqs, n, cap */
    pthread_cond_t cv;           /* signalled on each new record */
    struct qitem *qhead, **qtail;
    fakehttp_handler fn;
    void *arg;
    struct fakehttp_req **reqs;
    size_t n, cap;
    struct conn conns[MAXC];     /* server thread only */
    int nconn, next_id;
};

/* ---- request parsing ---------------------------------------------------- */

static const char *hdr_find(char *hdrs, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    for (char *l = hdrs; l && *l;) {
        char *eol = strstr(l, "\r\n");
        if (!eol) break;
        if ((size_t)(eol - l) > nl && l[nl] == ':' && !strncasecmp(l, name, nl)) {
            char *v = l + nl + 1;
            while (*v == ' ' || *v == '\t') v++;
            char *e = eol;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
            *vlen = (size_t)(e - v);
            return v;
        }
        l = eol + 2;
    }
    return NULL;
}

/* Decodes a chunked body starting at p; returns bytes consumed or -1 if
 * incomplete, -2 if malformed. */
static long dechunk(const char *p, size_t len, struct buf *out)
{
    size_t i = 0;
    for (;;) {
        const char *eol = memmem(p + i, len - i, "\r\n", 2);
        if (!eol) return -1;
        char *end;
        unsigned long n = strtoul(p + i, &end, 16);
        if (end == p + i) return -2;
        i = (size_t)(eol - p) + 2;
        if (n == 0) { /* trailers until an empty line */
            for (;;) {
                const char *t = memmem(p + i, len - i, "\r\n", 2);
                if (!t) return -1;
                size_t tl = (size_t)(t - (p + i));
                i += tl + 2;
                if (tl == 0) return (long)i;
            }
        }
        if (len - i < n + 2) return -1;
        if (buf_append(out, p + i, n)) return -2;
        i += n + 2;
    }
}

static struct fakehttp_req *req_parse(char *head, const char *body, size_t body_len, int conn_id)
{
    struct fakehttp_req *r = xcalloc(1, sizeof *r);
    r->conn_id = conn_id;
    char *sp1 = strchr(head, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    char *eol = strstr(head, "\r\n");
    if (!sp1 || !sp2 || !eol || sp2 > eol) sp1 = sp2 = head; /* garbage: empty fields */
    snprintf(r->method, sizeof r->method, "%.*s", (int)(sp1 - head), head);
    r->target = xstrndup(sp1 + (sp1 != head), (size_t)(sp2 - sp1) - (sp1 != head));
    size_t q = strcspn(r->target, "?");
    r->path = xstrndup(r->target, q);
    r->query = xstrdup(r->target[q] ? r->target + q + 1 : "");
    size_t cap = 0;
    for (char *l = eol ? eol + 2 : head + strlen(head); *l;) {
        char *e = strstr(l, "\r\n"), *colon = memchr(l, ':', e ? (size_t)(e - l) : 0);
        if (!e) break;
        if (colon) {
            if (r->n_headers == cap) {
                cap = cap ? cap * 2 : 16;
                r->headers = xrealloc(r->headers, cap * sizeof *r->headers);
            }
            char *v = colon + 1, *ve = e;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            r->headers[r->n_headers].name = xstrndup(l, (size_t)(colon - l));
            r->headers[r->n_headers].value = xstrndup(v, (size_t)(ve - v));
            r->n_headers++;
        }
        l = e + 2;
    }
    r->body = xmalloc(body_len + 1);
    if (body_len) memcpy(r->body, body, body_len);
    r->body[body_len] = 0;
    r->body_len = body_len;
    return r;
}

static void req_free(struct fakehttp_req *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->target);
    free(r->path);
    free(r->query);
    free(r->body);
    free(r);
}

/* ---- replies ------------------------------------------------------------ */

static const char *reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return; /* the client went away; the next read notices */
        p += w;
        n -= (size_t)w;
    }
}

static void reply_format(const struct fakehttp_req *req, const struct fakehttp_reply *rep,
                         int close_conn, struct buf *out)
{
    size_t blen = !rep->body ? 0 : rep->body_len == FAKEHTTP_STRLEN ? strlen(rep->body)
                                                                    : rep->body_len;
    const char *h = rep->headers ? rep->headers : "";
    buf_printf(out, "HTTP/1.1 %d %s\r\n", rep->status, reason(rep->status));
    if (!strcasestr(h, "content-length:") && rep->status != 204 && rep->status != 304)
        buf_printf(out, "Content-Length: %zu\r\n", blen);
    buf_printf(out, "%s%s\r\n", h, close_conn ? "Connection: close\r\n" : "");
    int no_body = !strcmp(req->method, "HEAD") || rep->status == 204 || rep->status == 304;
    if (!no_body && blen) buf_append(out, rep->body, blen);
}

/* Pops the next scripted reply; *item must be freed by the caller. */
static void reply_choose(struct fakehttp *f, const struct fakehttp_req *req,
                         struct fakehttp_reply *rep, struct qitem **item)
{
    static const struct fakehttp_reply none = {
        501, NULL, "fakehttp: no reply scripted\n", FAKEHTTP_STRLEN, FAKEHTTP_REPLY, 0, 0};
    pthread_mutex_lock(&f->mu);
    *item = f->qhead;
    if (*item) {
        f->qhead = (*item)->next;
        if (!f->qhead) f->qtail = &f->qhead;
    }
    fakehttp_handler fn = f->fn;
    void *arg = f->arg;
    pthread_mutex_unlock(&f->mu);
    *rep = none;
    if (*item) *rep = (*item)->rep;
    else if (fn) fn(req, rep, arg);
}

/* ---- connections -------------------------------------------------------- */

static void conn_close(struct fakehttp *f, int i)
{
    close(f->conns[i].fd);
    buf_free(&f->conns[i].in);
    buf_free(&f->conns[i].pend);
    f->conns[i] = f->conns[--f->nconn];
}

static void record(struct fakehttp *f, struct fakehttp_req *r)
{
    pthread_mutex_lock(&f->mu);
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->reqs = xrealloc(f->reqs, f->cap * sizeof *f->reqs);
    }
    f->reqs[f->n++] = r;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static long ms_until(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
    return ms > 0 ? ms : 0;
}

/* Sends conn i's delayed reply; returns 1 if the connection is to be closed. */
static int flush_pending(struct fakehttp *f, int i)
{
    struct conn *c = &f->conns[i];
    if (c->pend.len) send_all(c->fd, c->pend.data, c->pend.len);
    buf_free(&c->pend);
    c->pending = 0;
    return c->pend_close;
}

/* Answers r on conn i, now or after the reply's delay (then c->pending);
 * returns 1 if the connection is to be closed now. */
static int serve(struct fakehttp *f, int i, const struct fakehttp_req *r, int client_close)
{
    struct conn *c = &f->conns[i];
    struct fakehttp_reply rep;
    struct qitem *item;
    reply_choose(f, r, &rep, &item);
    buf_init(&c->pend, IN_MAX);
    c->pend_close = client_close || rep.close_after || rep.action == FAKEHTTP_CLOSE;
    if (rep.action == FAKEHTTP_REPLY) reply_format(r, &rep, c->pend_close, &c->pend);
    if (item) {
        free(item->headers);
        free(item->body);
        free(item);
    }
    c->pending = 1;
    if (rep.delay_ms <= 0) return flush_pending(f, i);
    clock_gettime(CLOCK_MONOTONIC, &c->due);
    c->due.tv_sec += rep.delay_ms / 1000;
    c->due.tv_nsec += (rep.delay_ms % 1000) * 1000000L;
    if (c->due.tv_nsec >= 1000000000L) {
        c->due.tv_sec++;
        c->due.tv_nsec -= 1000000000L;
    }
    return 0;
}

/* Handles every complete request in conn i's input; returns 1 to close. */
static int conn_process(struct fakehttp *f, int i)
{
    struct conn *c = &f->conns[i];
    while (!c->pending) {
        char *d = c->in.data;
        char *hend = c->in.len ? memmem(d, c->in.len, "\r\n\r\n", 4) : NULL;
        if (!hend) return c->in.len > HDR_MAX;
        size_t hlen = (size_t)(hend - d) + 4, vl = 0;
        char saved = d[hlen];
        d[hlen] = 0; /* headers as a C string (restored below) */
        const char *te = hdr_find(d, "Transfer-Encoding", &vl);
        int chunked = te && vl >= 7 && !strncasecmp(te, "chunked", 7);
        const char *cl = hdr_find(d, "Content-Length", &vl);
        size_t need = cl ? strtoull(cl, NULL, 10) : 0;
        const char *ex = hdr_find(d, "Expect", &vl);
        int want_continue = ex && vl >= 12 && !strncasecmp(ex, "100-continue", 12);
        const char *cn = hdr_find(d, "Connection", &vl);
        int client_close = cn && vl >= 5 && !strncasecmp(cn, "close", 5);
        d[hlen] = saved;
        struct buf body;
        buf_init(&body, IN_MAX);
        long used;
        if (chunked) {
            used = dechunk(d + hlen, c->in.len - hlen, &body);
            if (used == -2) { buf_free(&body); return 1; }
        } else {
            used = c->in.len - hlen >= need ? (long)need : -1;
            if (used >= 0) buf_append(&body, d + hlen, need);
        }
        if (used < 0) {
            buf_free(&body);
            if (want_continue && !c->continue_sent) {
                send_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
                c->continue_sent = 1;
            }
            return 0;
        }
        d[hlen - 2] = 0;
        struct fakehttp_req *r = req_parse(d, body.data ? body.data : "", body.len, c->id);
        buf_free(&body);
        size_t total = hlen + (size_t)used;
        memmove(c->in.data, c->in.data + total, c->in.len - total);
        c->in.len -= total;
        c->in.data[c->in.len] = 0;
        c->continue_sent = 0;
        record(f, r);
        if (serve(f, i, r, client_close)) return 1;
    }
    return 0;
}

static void on_accept(struct fakehttp *f)
{
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0) return;
    if (f->nconn == MAXC) {
        close(fd);
        return;
    }
    struct conn *c = &f->conns[f->nconn++];
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->id = ++f->next_id;
    buf_init(&c->in, IN_MAX);
}

/* Reads from conn i; returns 1 if it was closed. */
static int on_readable(struct fakehttp *f, int i)
{
    char *w = buf_reserve(&f->conns[i].in, 65536);
    ssize_t n = w ? recv(f->conns[i].fd, w, 65536, 0) : -1;
    if (n < 0 && errno == EINTR) return 0;
    if (n <= 0) {
        conn_close(f, i);
        return 1;
    }
    f->conns[i].in.len += (size_t)n;
    f->conns[i].in.data[f->conns[i].in.len] = 0;
    if (conn_process(f, i)) {
        conn_close(f, i);
        return 1;
    }
    return 0;
}

/* Sends the delayed replies that are due; returns ms to the next one or -1. */
static int run_due(struct fakehttp *f)
{
    long next = -1;
    for (int i = f->nconn - 1; i >= 0; i--) {
        struct conn *c = &f->conns[i];
        if (!c->pending) continue;
        long ms = ms_until(&c->due);
        if (ms > 0) {
            next = next < 0 || ms < next ? ms : next;
        } else if (flush_pending(f, i) || conn_process(f, i)) {
            conn_close(f, i);
        } else if (f->conns[i].pending) {
            next = 0; /* a pipelined request got a delay of its own */
        }
    }
    return (int)next;
}

static void *server_main(void *arg)
{
    struct fakehttp *f = arg;
    struct pollfd p[MAXC + 2];
    for (;;) {
        int tmo = run_due(f), nc = f->nconn;
        p[0] = (struct pollfd){f->wake[0], POLLIN, 0};
        p[1] = (struct pollfd){f->lfd, POLLIN, 0};
        for (int i = 0; i < nc; i++) p[2 + i] = (struct pollfd){f->conns[i].fd, POLLIN, 0};
        if (poll(p, (nfds_t)nc + 2, tmo) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[0].revents) break;
        /* Back to front: conn_close moves the last connection into slot i. */
        for (int i = nc - 1; i >= 0; i--)
            if (p[2 + i].revents) on_readable(f, i);
        if (p[1].revents & POLLIN) on_accept(f);
    }
    while (f->nconn) conn_close(f, f->nconn - 1);
    return NULL;
}

/* ---- API ---------------------------------------------------------------- */

struct fakehttp *fakehttp_start(void)
{
    struct fakehttp *f = xcalloc(1, sizeof *f);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&a, sizeof a) < 0 ||
        listen(f->lfd, 64) < 0 || getsockname(f->lfd, (struct sockaddr *)&a, &al) < 0 ||
        pipe2(f->wake, O_CLOEXEC) < 0) {
        perror("fakehttp_start");
        if (f->lfd >= 0) close(f->lfd);
        free(f);
        return NULL;
    }
    f->port = ntohs(a.sin_port);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d", f->port);
    f->qtail = &f->qhead;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (pthread_create(&f->th, NULL, server_main, f)) {
        perror("fakehttp thread");
        close(f->lfd);
        close(f->wake[0]);
        close(f->wake[1]);
        free(f);
        return NULL;
    }
    return f;
}

void fakehttp_free(struct fakehttp *f)
{
    if (!f) return;
    while (write(f->wake[1], "x", 1) < 0 && errno == EINTR) {}
    pthread_join(f->th, NULL);
    close(f->lfd);
    close(f->wake[0]);
    close(f->wake[1]);
    for (struct qitem *q = f->qhead, *next; q; q = next) {
        next = q->next;
        free(q->headers);
        free(q->body);
        free(q);
    }
    for (size_t i = 0; i < f->n; i++) req_free(f->reqs[i]);
    free(f->reqs);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

const char *fakehttp_url(const struct fakehttp *f) { return f->url; }
int fakehttp_port(const struct fakehttp *f) { return f->port; }

void fakehttp_push_reply(struct fakehttp *f, const struct fakehttp_reply *rep)
{
    struct qitem *q = xcalloc(1, sizeof *q);
    q->rep = *rep;
    if (rep->headers) q->headers = xstrdup(rep->headers);
    size_t blen = !rep->body ? 0 : rep->body_len == FAKEHTTP_STRLEN ? strlen(rep->body)
                                                                    : rep->body_len;
    if (rep->body) {
        q->body = xmalloc(blen + 1);
        memcpy(q->body, rep->body, blen);
        q->body[blen] = 0;
    }
    q->rep.headers = q->headers;
    q->rep.body = q->body;
    q->rep.body_len = blen;
    pthread_mutex_lock(&f->mu);
    *f->qtail = q;
    f->qtail = &q->next;
    pthread_mutex_unlock(&f->mu);
}

void fakehttp_push(struct fakehttp *f, int status, const char *headers, const char *body)
{
    struct fakehttp_reply r = {status, headers, body, FAKEHTTP_STRLEN, FAKEHTTP_REPLY, 0, 0};
    fakehttp_push_reply(f, &r);
}

void fakehttp_push_close(struct fakehttp *f)
{
    struct fakehttp_reply r = {0, NULL, NULL, 0, FAKEHTTP_CLOSE, 0, 0};
    fakehttp_push_reply(f, &r);
}

void fakehttp_set_handler(struct fakehttp *f, fakehttp_handler fn, void *arg)
{
    pthread_mutex_lock(&f->mu);
    f->fn = fn;
    f->arg = arg;
    pthread_mutex_unlock(&f->mu);
}

size_t fakehttp_count(struct fakehttp *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->n;
    pthread_mutex_unlock(&f->mu);
    return n;
}

int fakehttp_wait(struct fakehttp *f, size_t n, long timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    while (f->n < n && rc == 0) rc = pthread_cond_timedwait(&f->cv, &f->mu, &dl);
    int ok = f->n >= n;
    pthread_mutex_unlock(&f->mu);
    return ok ? 0 : -1;
}

const struct fakehttp_req *fakehttp_req_at(struct fakehttp *f, size_t i)
{
    pthread_mutex_lock(&f->mu);
    const struct fakehttp_req *r = i < f->n ? f->reqs[i] : NULL;
    pthread_mutex_unlock(&f->mu);
    return r;
}

const char *fakehttp_header(const struct fakehttp_req *r, const char *name)
{
    if (!r) return NULL;
    for (size_t i = 0; i < r->n_headers; i++)
        if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
    return NULL;
}
