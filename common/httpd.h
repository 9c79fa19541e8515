/* httpd.h — the ops HTTP endpoint: /healthz, /readyz and /metrics.
 *
 * Serves on exactly the configured address (default 127.0.0.1:9400; port 0
 * picks a free port, httpd_port reports it) from libmicrohttpd's internal
 * thread, at most 64 connections with a 10 s idle timeout.
 *   GET /healthz  200 "ok"            while the process runs
 *   GET /readyz   200 "ready", or 503 "not ready: <reason>"
 *   GET /metrics  200 metrics_render() as Prometheus text 0.0.4
 * HEAD is accepted too; other methods get 405, other paths 404.
 * Readiness starts as "not ready: starting"; set it with httpd_set_ready
 * (any thread), or install a callback that the HTTP thread calls per request.
 * Built without libmicrohttpd (no HAVE_MHD), httpd_new fails with -ENOTSUP.
 */
#ifndef LOGFLEET_HTTPD_H
#define LOGFLEET_HTTPD_H

#include <stddef.h>
#include <sys/socket.h>

#include "common/err.h"

#define HTTPD_DEFAULT_LISTEN "127.0.0.1:9400"

struct httpd_opts {
    const char *listen;   /* "ip:port" or "[ipv6]:port", numeric; NULL = default */
};

struct httpd;

/* Returns 1 when ready; otherwise 0 and a reason in reason[0..n).  Called on
 * the HTTP thread, so it must be thread-safe and must not block. */
typedef int (*httpd_ready_fn)(void *arg, char *reason, size_t n);

/* Binds, listens and starts serving.  -EINVAL for a malformed address,
 * -errno from socket/bind/listen (ERR_RETRY for EADDRINUSE). */
int httpd_new(const struct httpd_opts *o, struct httpd **out, struct err *e);
/* Stops serving and closes the socket; waits for the HTTP thread.  NULL-safe. */
void httpd_free(struct httpd *h);
/* The bound port (the real one when 0 was configured). */
int httpd_port(const struct httpd *h);
/* Sets the readiness flag; reason (copied) is shown when not ready. */
void httpd_set_ready(struct httpd *h, int ready, const char *reason);
/* Installs a readiness callback that overrides the flag; fn NULL removes it. */
void httpd_set_ready_fn(struct httpd *h, httpd_ready_fn fn, void *arg);

/* Parses "ip:port" / "[ipv6]:port" into a socket address (exposed for tests
 * and config validation).  0 or -EINVAL. */
int httpd_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, struct err *e);

#endif
