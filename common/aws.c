/* aws.c — requests, SigV4 through libcurl 7.88, retries and classification.
 *
 * One attempt = curl_easy_reset on the client's handle (connections and DNS
 * cache survive a reset) + every option set afresh, so nothing leaks from one
 * request into the next.  The retry loop, the classification of each failure
 * and the error text all live in aws_request.  See aws.h for the contract and
 * shared/reference/redshift-s3.md §4 for why the 7.88 rules are what they are.
 */
#include "common/aws.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#ifdef HAVE_ISAL
#include <isa-l/crc.h>
#else
#include <zlib.h>
#endif

#include "common/log.h"
#include "common/mem.h"

#define RESP_MAX ((size_t)64 << 20) /* GetRecords answers up to 10 MB */
#define SUB "aws"

struct aws_client {
    CURL *h;                     /* reused: keep-alive connections */
    char *service, *region, *endpoint;
    char sigv4[160];             /* "aws:amz:<region>:<service>" */
    struct aws_creds_provider *creds;
    long connect_timeout_ms, timeout_ms, retry_base_ms, retry_cap_ms;
    int max_attempts;
    atomic_ullong retries;       /* read by metrics from any thread */
    char curl_err[CURL_ERROR_SIZE];
};

/* What one attempt produced, before classification. */
struct attempt {
    CURLcode cc;
    long status;
    int sent;                    /* the request left us (reply may be lost) */
    int too_big;                 /* response passed RESP_MAX */
    char err_type[128];          /* x-amzn-ErrorType header */
};

/* ---- global init -------------------------------------------------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CURLcode g_init_rc;

static void global_init_once(void) { g_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

int aws_global_init(struct err *e)
{
    pthread_once(&g_once, global_init_once);
    if (g_init_rc != CURLE_OK)
        return err_set(e, -EIO, ERR_PERMANENT, "curl_global_init: %s",
                       curl_easy_strerror(g_init_rc));
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

int aws_uri_encode(struct buf *b, const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        int rc;
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' ||
            (keep_slash && ch == '/')) {
            rc = buf_append(b, &s[i], 1);
        } else {
            char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = buf_append(b, esc, 3);
        }
        if (rc) return rc;
    }
    return 0;
}

void aws_sha256_hex(const void *data, size_t n, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data ? data : (const void *)"", n, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = 0;
}

void aws_crc32_base64(const void *data, size_t n, char out[16])
{
    const unsigned char *p = data ? data : (const unsigned char *)"";
#ifdef HAVE_ISAL
    uint32_t crc = crc32_gzip_refl(0, p, (uint64_t)n); /* PCLMUL: ~15x zlib's */
#else
    uint32_t crc = 0;
    for (size_t off = 0; off < n;) { /* zlib takes a uInt length */
        uInt k = n - off > (1u << 30) ? 1u << 30 : (uInt)(n - off);
        crc = (uint32_t)crc32(crc, p + off, k);
        off += k;
    }
#endif
    unsigned char be[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16),
                           (unsigned char)(crc >> 8), (unsigned char)crc};
    EVP_EncodeBlock((unsigned char *)out, be, 4);
}

/* xorshift64*, one state per thread, seeded on first use. */
static uint64_t rng_next(void)
{
    static _Thread_local uint64_t s;
    if (!s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&s ^
            ((uint64_t)getpid() << 40);
        if (!s) s = 0x9e3779b97f4a7c15ull;
    }
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545f4914f6cdd1dull;
}

long aws_backoff_ms(int attempt, long base_ms, long cap_ms)
{
    if (base_ms <= 0 || cap_ms <= 0) return 0;
    long ceil = base_ms;
    for (int i = 0; i < attempt && ceil < cap_ms; i++)
        ceil = ceil > cap_ms / 2 ? cap_ms : ceil * 2;
    if (ceil > cap_ms) ceil = cap_ms;
    return (long)(rng_next() % ((uint64_t)ceil + 1));
}

/* Error codes that mean "slow down / try again", whatever the status. */
static int code_is_retryable(const char *code)
{
    static const char *const retry[] = {
        "RequestTimeout", "ThrottlingException", "Throttling", "ThrottledException",
        "ProvisionedThroughputExceededException", "LimitExceededException", "SlowDown",
        "RequestLimitExceeded", "RequestThrottled", "RequestThrottledException",
        "TooManyRequestsException", "BandwidthLimitExceeded", "KMSThrottlingException",
        "ConditionalRequestConflict", "OperationAborted", "InternalError", "InternalFailure",
        "ServiceUnavailable", "PriorRequestNotComplete",
    };
    if (!code || !*code) return 0;
    for (size_t i = 0; i < sizeof retry / sizeof retry[0]; i++)
        if (!strcmp(code, retry[i])) return 1;
    return 0;
}

enum err_class aws_classify_http(long status, const char *code)
{
    if ((status >= 200 && status < 300) || status == 304 || status == 412) return ERR_NONE;
    if (code_is_retryable(code)) return ERR_RETRY;
    switch (status) {
    case 408: case 429: case 500: case 502: case 503: case 504:
        return ERR_RETRY;
    }
    if (status >= 500 && status != 501 && status != 505) return ERR_RETRY;
    return ERR_PERMANENT;
}

/* Transport failures worth another try; anything else (bad URL, TLS
 * verification, out of memory...) will fail the same way again. */
static int curl_is_transient(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT: case CURLE_SEND_ERROR: case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE: case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2: case CURLE_HTTP2_STREAM: case CURLE_WEIRD_SERVER_REPLY:
        return 1;
    default:
        return 0;
    }
}

/* ---- client ------------------------------------------------------------- */

static char *default_endpoint(const char *service, const char *region)
{
    return xasprintf("https://%s.%s.amazonaws.com", service, region);
}

int aws_client_new(const struct aws_client_opts *o, struct aws_client **out, struct err *e)
{
    *out = NULL;
    if (!o || !o->service || !*o->service || !o->region || !*o->region || !o->creds)
        return err_set(e, -EINVAL, ERR_PERMANENT,
                       "aws client: service, region and creds are required");
    int rc = aws_global_init(e);
    if (rc) return rc;
    struct aws_client *c = xcalloc(1, sizeof *c);
    c->h = curl_easy_init();
    if (!c->h) {
        free(c);
        return err_set(e, -ENOMEM, ERR_PERMANENT, "aws client: curl_easy_init failed");
    }
    c->service = xstrdup(o->service);
    c->region = xstrdup(o->region);
    c->endpoint = o->endpoint && *o->endpoint ? xstrdup(o->endpoint)
                                              : default_endpoint(o->service, o->region);
    size_t n = strlen(c->endpoint);
    while (n > 0 && c->endpoint[n - 1] == '/') c->endpoint[--n] = 0;
    snprintf(c->sigv4, sizeof c->sigv4, "aws:amz:%s:%s", c->region, c->service);
    c->creds = o->creds;
    c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 3000;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    c->max_attempts = o->max_attempts > 0 ? o->max_attempts : 5;
    c->retry_base_ms = o->retry_base_ms > 0 ? o->retry_base_ms : 100;
    c->retry_cap_ms = o->retry_cap_ms > 0 ? o->retry_cap_ms : 20000;
    *out = c;
    return 0;
}

void aws_client_free(struct aws_client *c)
{
    if (!c) return;
    curl_easy_cleanup(c->h);
    free(c->service);
    free(c->region);
    free(c->endpoint);
    free(c);
}

const char *aws_client_endpoint(const struct aws_client *c) { return c->endpoint; }
const char *aws_client_region(const struct aws_client *c) { return c->region; }
unsigned long long aws_client_retries(const struct aws_client *c)
{
    return atomic_load(&((struct aws_client *)c)->retries);
}

void aws_resp_init(struct aws_resp *r)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->body, RESP_MAX);
    r->content_length = -1;
}

void aws_resp_free(struct aws_resp *r)
{
    if (r) buf_free(&r->body);
}

/* ---- one attempt -------------------------------------------------------- */

struct cb_ctx {
    struct aws_resp *r;
    struct attempt *a;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct cb_ctx *x = arg;
    if (buf_append(&x->r->body, p, sz * n)) {
        x->a->too_big = 1;
        return 0;
    }
    return sz * n;
}

/* Copies a header value (trimmed) into dst if line starts with name ':'. */
static int header_value(const char *line, size_t len, const char *name, char *dst, size_t cap)
{
    size_t nl = strlen(name);
    if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl)) return 0;
    const char *v = line + nl + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && isspace((unsigned char)end[-1])) end--;
    size_t vl = (size_t)(end - v) < cap - 1 ? (size_t)(end - v) : cap - 1;
    memcpy(dst, v, vl);
    dst[vl] = 0;
    return 1;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct cb_ctx *x = arg;
    size_t len = sz * n;
    char num[32];
    if (len >= 5 && !strncmp(p, "HTTP/", 5)) { /* a new response (e.g. after 100) */
        x->r->etag[0] = x->r->request_id[0] = x->a->err_type[0] = 0;
        x->r->content_length = -1;
        return len;
    }
    if (header_value(p, len, "ETag", x->r->etag, sizeof x->r->etag)) return len;
    if (header_value(p, len, "x-amz-request-id", x->r->request_id, sizeof x->r->request_id))
        return len;
    if (header_value(p, len, "x-amzn-RequestId", x->r->request_id, sizeof x->r->request_id))
        return len;
    if (header_value(p, len, "x-amzn-ErrorType", x->a->err_type, sizeof x->a->err_type))
        return len;
    if (header_value(p, len, "Content-Length", num, sizeof num)) {
        char *end;
        errno = 0;
        long long v = strtoll(num, &end, 10);
        if (!errno && end != num && !*end && v >= 0) x->r->content_length = v;
    }
    return len;
}

static int has_header(const struct aws_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (!strcasecmp(req->headers[i].name, name)) return 1;
    return 0;
}

static int bad_header_text(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

/* Checks the request before anything is sent. */
static int req_validate(const struct aws_req *req, struct err *e)
{
    static const char *const methods[] = {"GET", "PUT", "POST", "HEAD", "DELETE"};
    int ok = 0;
    for (size_t i = 0; req->method && i < 5; i++) ok |= !strcmp(req->method, methods[i]);
    if (!ok) return err_set(e, -EINVAL, ERR_PERMANENT, "aws: unsupported method %s",
                            req->method ? req->method : "(null)");
    if (!req->path || req->path[0] != '/' || strpbrk(req->path, " ?#\r\n"))
        return err_set(e, -EINVAL, ERR_PERMANENT, "aws: path must start with '/' and be encoded");
    if (req->query && strpbrk(req->query, " #\r\n"))
        return err_set(e, -EINVAL, ERR_PERMANENT, "aws: query must be canonical and encoded");
    if (req->body_len && !req->body)
        return err_set(e, -EINVAL, ERR_PERMANENT, "aws: body_len without body");
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct aws_header *h = &req->headers[i];
        /* An empty value makes curl drop the header but 7.88 still signs it. */
        if (!h->name || !*h->name || strpbrk(h->name, ": \r\n") || !h->value || !*h->value ||
            bad_header_text(h->value))
            return err_set(e, -EINVAL, ERR_PERMANENT, "aws: bad header %s",
                           h->name ? h->name : "(null)");
    }
    return 0;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value)
{
    char *line = xasprintf("%s: %s", name, value);
    struct curl_slist *n = curl_slist_append(l, line);
    free(line);
    if (!n) {
        log_error(SUB, "out of memory building headers");
        abort();
    }
    return n;
}

static struct curl_slist *build_headers(const struct aws_req *req, const struct aws_creds *cr)
{
    struct curl_slist *l = NULL;
    if (!has_header(req, "x-amz-content-sha256")) {
        /* 7.88 signs an upload as an empty body unless told the hash. */
        char hex[65];
        aws_sha256_hex(req->body, req->body_len, hex);
        l = add_header(l, "x-amz-content-sha256", hex);
    }
    if (cr->token[0]) l = add_header(l, "x-amz-security-token", cr->token);
    int has_body_method = !strcmp(req->method, "PUT") || !strcmp(req->method, "POST");
    if (has_body_method && !has_header(req, "Content-Type"))
        /* else curl sends (and signs) application/x-www-form-urlencoded */
        l = add_header(l, "Content-Type", "application/octet-stream");
    for (size_t i = 0; i < req->n_headers; i++)
        l = add_header(l, req->headers[i].name, req->headers[i].value);
    return l;
}

static void set_method(CURL *h, const struct aws_req *req)
{
    const char *m = req->method;
    if (!strcmp(m, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(m, "POST") || !strcmp(m, "PUT")) {
        /* PUT as a custom-method POST: curl knows the body up front, sends
         * Content-Length, and only adds Expect: 100-continue past 1 MB. */
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        if (!strcmp(m, "PUT")) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (!strcmp(m, "DELETE")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
}

static void run_attempt(struct aws_client *c, const struct aws_req *req,
                        const struct aws_creds *cr, int fresh, struct aws_resp *r,
                        struct attempt *a)
{
    CURL *h = c->h;
    struct cb_ctx x = {r, a};
    memset(a, 0, sizeof *a);
    buf_reset(&r->body);
    r->etag[0] = r->request_id[0] = 0;
    r->content_length = -1;
    r->status = 0;

    char *url = xasprintf("%s%s%s%s", c->endpoint, req->path,
                          req->query && *req->query ? "?" : "", req->query ? req->query : "");
    struct curl_slist *hdrs = build_headers(req, cr);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "logfleet");
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
    /* USERNAME/PASSWORD, not USERPWD: a ':' in a secret must not split it. */
    curl_easy_setopt(h, CURLOPT_USERNAME, cr->access_key);
    curl_easy_setopt(h, CURLOPT_PASSWORD, cr->secret_key);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    if (fresh) {
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(h, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    }
    set_method(h, req);
    c->curl_err[0] = 0;

    a->cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
    long req_size = 0;
    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &req_size);
    a->sent = req_size > 0;
    r->status = a->status;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    free(url);
}

/* ---- error text --------------------------------------------------------- */

/* Copies the text between <tag> and </tag> into dst. */
static void xml_text(const char *body, const char *tag, char *dst, size_t cap)
{
    char open[32], close[32];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *s = strstr(body, open);
    if (!s) return;
    s += strlen(open);
    const char *end = strstr(s, close);
    if (!end) return;
    size_t n = (size_t)(end - s) < cap - 1 ? (size_t)(end - s) : cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

static void json_error(const struct buf *b, char *code, size_t ccap, char *msg, size_t mcap)
{
    json_t *j = json_loadb(b->data, b->len, 0, NULL);
    if (!j) return;
    const char *t = json_string_value(json_object_get(j, "__type"));
    if (!t) t = json_string_value(json_object_get(j, "code"));
    if (t) {
        const char *hash = strrchr(t, '#');
        strlcpy_(code, hash ? hash + 1 : t, ccap);
    }
    const char *m = json_string_value(json_object_get(j, "message"));
    if (!m) m = json_string_value(json_object_get(j, "Message"));
    if (m) strlcpy_(msg, m, mcap);
    json_decref(j);
}

/* Finds the AWS error code and message of a failed response. */
static void parse_error(const struct buf *b, const char *err_type, char *code, size_t ccap,
                        char *msg, size_t mcap)
{
    code[0] = msg[0] = 0;
    if (b->data && b->len) {
        const char *p = b->data;
        while (isspace((unsigned char)*p)) p++;
        if (*p == '{') {
            json_error(b, code, ccap, msg, mcap);
        } else if (*p == '<') {
            xml_text(b->data, "Code", code, ccap);
            xml_text(b->data, "Message", msg, mcap);
        }
    }
    if (!code[0] && err_type && err_type[0]) { /* "Type:http://internal..." */
        size_t n = strcspn(err_type, ":");
        if (n >= ccap) n = ccap - 1;
        memcpy(code, err_type, n);
        code[n] = 0;
    }
    for (char *s = msg; *s; s++)
        if (*s == '\n' || *s == '\r') *s = ' ';
}

static int http_errno(long status)
{
    if (status == 404) return -ENOENT;
    if (status == 401 || status == 403) return -EACCES;
    return -EIO;
}

/* ---- the request loop --------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

/* Sets e for a failed attempt and returns its class. */
static enum err_class classify(struct aws_client *c, const struct aws_req *req,
                               const struct aws_resp *r, const struct attempt *a, struct err *e)
{
    if (a->too_big) {
        err_set(e, -E2BIG, ERR_PERMANENT, "%s %s %s: response larger than %zu bytes",
                c->service, req->method, req->path, RESP_MAX);
        return ERR_PERMANENT;
    }
    if (a->cc != CURLE_OK) {
        enum err_class cls = curl_is_transient(a->cc) ? ERR_RETRY : ERR_PERMANENT;
        if (cls == ERR_RETRY && !req->idempotent && a->sent && a->cc != CURLE_COULDNT_CONNECT &&
            a->cc != CURLE_COULDNT_RESOLVE_HOST)
            cls = ERR_UNKNOWN_OUTCOME;
        err_set(e, a->cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO, cls,
                "%s %s %s: %s (curl %d)%s", c->service, req->method, req->path,
                c->curl_err[0] ? c->curl_err : curl_easy_strerror(a->cc), (int)a->cc,
                cls == ERR_UNKNOWN_OUTCOME ? ", request sent, reply lost" : "");
        e->http_status = 0;
        return cls;
    }
    char code[128], msg[160];
    parse_error(&r->body, a->err_type, code, sizeof code, msg, sizeof msg);
    enum err_class cls = aws_classify_http(a->status, code);
    if (cls == ERR_NONE) return cls;
    err_set(e, cls == ERR_RETRY ? -EAGAIN : http_errno(a->status), cls, "%s %s %s: %ld%s%s%s%s",
            c->service, req->method, req->path, a->status, code[0] ? " " : "", code,
            msg[0] ? ": " : "", msg);
    e->http_status = (int)a->status;
    return cls;
}

int aws_request(struct aws_client *c, const struct aws_req *req, struct aws_resp *r,
                struct err *e)
{
    struct err tmp;
    if (!e) e = &tmp;
    int rc = req_validate(req, e);
    if (rc) return rc;
    int fresh = 0;
    for (int attempt = 1;; attempt++) {
        struct aws_creds cr;
        rc = aws_creds_get(c->creds, &cr, e);
        if (rc) return rc;
        struct attempt a;
        run_attempt(c, req, &cr, fresh, r, &a);
        explicit_bzero(&cr, sizeof cr);
        r->attempts = attempt;
        enum err_class cls = classify(c, req, r, &a, e);
        if (cls == ERR_NONE) {
            e->http_status = (int)a.status;
            return 0;
        }
        if (cls != ERR_RETRY) return e->code;
        if (attempt >= c->max_attempts) {
            size_t n = strlen(e->msg);
            if (n < sizeof e->msg - 1)
                snprintf(e->msg + n, sizeof e->msg - n, " (after %d attempts)", attempt);
            return e->code;
        }
        long wait = aws_backoff_ms(attempt - 1, c->retry_base_ms, c->retry_cap_ms);
        atomic_fetch_add(&c->retries, 1);
        log_warn(SUB, "retry service=%s method=%s attempt=%d/%d status=%ld curl=%d "
                 "backoff_ms=%ld err=\"%s\"",
                 c->service, req->method, attempt, c->max_attempts, a.status, (int)a.cc, wait,
                 e->msg);
        fresh = a.cc != CURLE_OK; /* a new connection after a transport failure */
        sleep_ms(wait);
    }
}
