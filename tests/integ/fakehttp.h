/* fakehttp.h — a scripted HTTP/1.1 server on 127.0.0.1 for tests.
 *
 *   struct fakehttp *f = fakehttp_start();          // own thread, ephemeral port
 *   fakehttp_push(f, 500, NULL, "<Error><Code>InternalError</Code></Error>");
 *   fakehttp_push(f, 200, "ETag: \"abc\"\r\n", "");  // replies are served in order
 *   fakehttp_push_close(f);                         // read a request, close, no reply
 *   ... point the client at fakehttp_url(f) ...
 *   const struct fakehttp_req *r = fakehttp_req_at(f, 0);   // what was received
 *   fakehttp_header(r, "authorization");
 *   fakehttp_free(f);
 *
 * When the queue is empty the handler (fakehttp_set_handler) answers; with
 * neither, the answer is 501 "fakehttp: no reply scripted".  Keep-alive
 * connections, several at once, Expect: 100-continue and chunked request
 * bodies are supported.  Records and replies are owned by the server and live
 * until fakehttp_free.  All functions are thread-safe.  Test code only.
 */
#ifndef LOGFLEET_FAKEHTTP_H
#define LOGFLEET_FAKEHTTP_H

#include <stddef.h>

enum fakehttp_action {
    FAKEHTTP_REPLY = 0, /* send the reply */
    FAKEHTTP_CLOSE,     /* read the whole request, then close without a reply */
};

struct fakehttp_reply {
    int status;
    const char *headers;         /* extra lines, each ending "\r\n"; NULL = none */
    const void *body;            /* NULL = empty */
    size_t body_len;             /* FAKEHTTP_STRLEN: strlen(body) */
    enum fakehttp_action action;
    long delay_ms;               /* wait this long before acting (e.g. > client timeout) */
    int close_after;             /* close the connection after replying */
};
#define FAKEHTTP_STRLEN ((size_t)-1)

struct fakehttp_hdr {
    char *name;                  /* as sent */
    char *value;                 /* trimmed */
};

struct fakehttp_req {
    char method[16];
    char *target;                /* "/path?query" exactly as sent */
    char *path;                  /* before '?' */
    char *query;                 /* after '?', "" if none */
    struct fakehttp_hdr *headers;
    size_t n_headers;
    char *body;                  /* NUL-terminated, chunked bodies decoded */
    size_t body_len;
    int conn_id;                 /* 1, 2, ... per accepted connection */
};

/* Called on the server thread for a request when the queue is empty; *rep
 * comes preset to the 501 default.  The pointers it puts in *rep must stay
 * valid until the next request.  A delay_ms holds only that connection. */
typedef void (*fakehttp_handler)(const struct fakehttp_req *req, struct fakehttp_reply *rep,
                                 void *arg);

/* Returns NULL (and prints why) if the socket or thread cannot be made. */
struct fakehttp *fakehttp_start(void);
void fakehttp_free(struct fakehttp *f);
const char *fakehttp_url(const struct fakehttp *f);   /* "http://127.0.0.1:<port>" */
int fakehttp_port(const struct fakehttp *f);

/* Queues a reply (strings are copied); body NULL = empty. */
void fakehttp_push(struct fakehttp *f, int status, const char *headers, const char *body);
void fakehttp_push_reply(struct fakehttp *f, const struct fakehttp_reply *rep);
void fakehttp_push_close(struct fakehttp *f);
void fakehttp_set_handler(struct fakehttp *f, fakehttp_handler fn, void *arg);

size_t fakehttp_count(struct fakehttp *f);
/* Waits until at least n requests were received; 0 ok, -1 on timeout. */
int fakehttp_wait(struct fakehttp *f, size_t n, long timeout_ms);
/* The i-th request received (borrowed, valid until fakehttp_free), or NULL. */
const struct fakehttp_req *fakehttp_req_at(struct fakehttp *f, size_t i);
/* Case-insensitive header lookup; NULL if absent. */
const char *fakehttp_header(const struct fakehttp_req *r, const char *name);

#endif
