/* httpd.c — /healthz, /readyz, /metrics over libmicrohttpd.
 *
 * We open the listening socket ourselves (precise bind errors, the real port
 * from getsockname) and hand it to MHD, which closes it on stop.
 * Locking: h->mu guards ready, reason, fn and arg; the rest is set before
 * the daemon starts and read-only after.
 */
#include "common/httpd.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if HAVE_MHD
#include <microhttpd.h>
#endif

#define METRICS_MAX_BYTES (16u << 20)

struct httpd {
    void *mhd;                /* struct MHD_Daemon * */
    int port;
    pthread_mutex_t mu;
    int ready;
    char reason[200];
    httpd_ready_fn fn;
    void *arg;
};

int httpd_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, struct err *e)
{
    char host[64];
    const char *colon = s ? strrchr(s, ':') : NULL, *h = s;
    size_t hlen = colon ? (size_t)(colon - s) : 0;
    if (colon && s[0] == '[' && hlen >= 2 && s[hlen - 1] == ']') h = s + 1, hlen -= 2;
    if (!colon || hlen == 0 || hlen >= sizeof host || !colon[1] || strlen(colon + 1) > 5 ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return err_set(e, -EINVAL, ERR_PERMANENT, "httpd: listen \"%s\" is not ip:port", s ? s : "");
    memcpy(host, h, hlen);
    host[hlen] = 0;
    long port = strtol(colon + 1, NULL, 10);
    if (port > 65535) return err_set(e, -EINVAL, ERR_PERMANENT, "httpd: port %ld out of range", port);
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (h == s && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
    } else if (h != s && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
    } else {
        return err_set(e, -EINVAL, ERR_PERMANENT, "httpd: \"%s\" is not a numeric address", host);
    }
    return 0;
}

void httpd_set_ready(struct httpd *h, int ready, const char *reason)
{
    pthread_mutex_lock(&h->mu);
    h->ready = ready;
    strlcpy_(h->reason, reason ? reason : "", sizeof h->reason);
    pthread_mutex_unlock(&h->mu);
}

void httpd_set_ready_fn(struct httpd *h, httpd_ready_fn fn, void *arg)
{
    pthread_mutex_lock(&h->mu);
    h->fn = fn;
    h->arg = arg;
    pthread_mutex_unlock(&h->mu);
}

int httpd_port(const struct httpd *h)
{
    return h->port;
}

/* Opens, binds and listens; returns the fd or a negative errno. */
static int listen_on(const char *addr, int *port, struct err *e)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = httpd_parse_listen(addr, &ss, &len, e);
    if (rc) return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return err_set(e, -errno, ERR_PERMANENT, "httpd: socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 64) != 0) {
        int en = errno;
        close(fd);
        return err_set(e, -en, en == EADDRINUSE ? ERR_RETRY : ERR_PERMANENT,
                       "httpd: cannot listen on %s: %s", addr, strerror(en));
    }
    len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                          : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

#if HAVE_MHD

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char m[256];
    vsnprintf(m, sizeof m, fmt, ap);
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == '\r')) m[--n] = 0;
    log_warn("httpd", "libmicrohttpd msg=\"%s\"", m);
}

/* Queues a response whose body is malloc'ed text (MHD frees it). */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body, size_t len,
                             const char *ctype)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    return reply(c, status, xstrdup(text), strlen(text), "text/plain; charset=utf-8");
}

static enum MHD_Result serve_readyz(struct httpd *h, struct MHD_Connection *c)
{
    char reason[200];
    pthread_mutex_lock(&h->mu);
    httpd_ready_fn fn = h->fn;
    void *arg = h->arg;
    int ready = h->ready;
    strlcpy_(reason, h->reason, sizeof reason);
    pthread_mutex_unlock(&h->mu);
    if (fn) {
        reason[0] = 0;
        ready = fn(arg, reason, sizeof reason);
        reason[sizeof reason - 1] = 0;
    }
    if (ready) return reply_text(c, MHD_HTTP_OK, "ready\n");
    char *body = xasprintf("not ready: %s\n", reason[0] ? reason : "unknown");
    return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, body, strlen(body), "text/plain; charset=utf-8");
}

static enum MHD_Result serve_metrics(struct MHD_Connection *c)
{
    struct buf b;
    buf_init(&b, METRICS_MAX_BYTES);
    if (metrics_render(&b) != 0) {
        buf_free(&b);
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics too large\n");
    }
    size_t len;
    char *body = buf_steal(&b, &len);
    return reply(c, MHD_HTTP_OK, body, len, METRICS_CONTENT_TYPE);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **state)
{
    (void)version, (void)upload, (void)upload_len, (void)state;
    struct httpd *h = cls;
    int known = !strcmp(url, "/healthz") || !strcmp(url, "/readyz") || !strcmp(url, "/metrics");
    if (!known) return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (!strcmp(url, "/healthz")) return reply_text(c, MHD_HTTP_OK, "ok\n");
    if (!strcmp(url, "/readyz")) return serve_readyz(h, c);
    return serve_metrics(c);
}

static int start(struct httpd *h, int fd, struct err *e)
{
    h->mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                              handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                              MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                              MHD_OPTION_END);
    if (!h->mhd) return err_set(e, -EIO, ERR_PERMANENT, "httpd: libmicrohttpd failed to start");
    return 0;
}

static void stop(struct httpd *h)
{
    if (h->mhd) MHD_stop_daemon(h->mhd);   /* closes the listening socket */
}

#else

static int start(struct httpd *h, int fd, struct err *e)
{
    (void)h, (void)fd;
    return err_set(e, -ENOTSUP, ERR_PERMANENT, "httpd: built without libmicrohttpd");
}

static void stop(struct httpd *h)
{
    (void)h;
}

#endif

int httpd_new(const struct httpd_opts *o, struct httpd **out, struct err *e)
{
    *out = NULL;
    const char *addr = o && o->listen ? o->listen : HTTPD_DEFAULT_LISTEN;
    struct httpd *h = xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    strlcpy_(h->reason, "starting", sizeof h->reason);
    int fd = listen_on(addr, &h->port, e);
    int rc = fd < 0 ? fd : start(h, fd, e);
    if (rc != 0) {
        /* After a failed MHD start the fd is not closed here: MHD may have
         * closed it already, and a double close could hit another thread's
         * fd.  Leaking one fd on that (startup-only) path is the lesser harm. */
        if (fd >= 0 && rc == -ENOTSUP) close(fd);
        pthread_mutex_destroy(&h->mu);
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void httpd_free(struct httpd *h)
{
    if (!h) return;
    stop(h);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
