/* aws.h — a small AWS REST/JSON client over libcurl with CURLOPT_AWS_SIGV4.
 *
 * struct aws_client owns one curl easy handle (connections are reused) and is
 * used by one thread at a time; make one per thread.  It signs every request
 * with libcurl's SigV4 (7.88 rules: we set x-amz-content-sha256 ourselves,
 * send paths and query strings already canonical, never send an empty
 * "Expect:"), takes credentials from a shared struct aws_creds_provider
 * (thread-safe), and retries RETRY-class failures with capped exponential
 * backoff and full jitter.  Every failure is classified in err->cls:
 *   ERR_RETRY           throttling, 5xx, timeouts, connection failures
 *                       (returned only after the attempts are used up)
 *   ERR_PERMANENT       4xx that a retry cannot fix (403, 404, 400 ...)
 *   ERR_UNKNOWN_OUTCOME a non-idempotent request whose reply was lost
 * err->http_status holds the last HTTP status (0 for transport errors).
 */
#ifndef LOGFLEET_AWS_H
#define LOGFLEET_AWS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/buf.h"
#include "common/err.h"

/* ---- credentials -------------------------------------------------------- */

struct aws_creds {
    char access_key[128];
    char secret_key[128];
    char token[2048];  /* session token, "" if none */
    time_t expires;    /* wall-clock expiry, 0 = static */
    char source[32];   /* "env", "config", "profile:<name>", "ecs", "imds" */
};

/* Where the chain looks.  NULL fields fall back to the AWS CLI's environment
 * variables and defaults (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE,
 * AWS_CONFIG_FILE, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI /
 * AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE], AWS_EC2_METADATA_SERVICE_ENDPOINT,
 * AWS_EC2_METADATA_DISABLED). */
struct aws_creds_opts {
    const char *access_key;       /* static keys from config (e.g. the stack) */
    const char *secret_key;
    const char *session_token;
    const char *profile;
    const char *credentials_file;
    const char *config_file;
    const char *ecs_endpoint;     /* overrides http://169.254.170.2 */
    const char *imds_endpoint;    /* overrides http://169.254.169.254 */
    int imds_disabled;
    long timeout_ms;              /* per metadata request; default 1000 */
    long refresh_before_s;        /* refresh this long before expiry; default 300 */
};

struct aws_creds_provider;

/* Chain order, as the AWS CLI: config-given static keys, environment,
 * shared credentials/config file + profile, ECS container endpoint, EC2
 * IMDSv2.  The first source that yields keys wins; temporary credentials
 * are refreshed from the same source before they expire. */
int aws_creds_provider_new(const struct aws_creds_opts *o, struct aws_creds_provider **out,
                           struct err *e);
void aws_creds_provider_free(struct aws_creds_provider *p);
/* aws_creds_provider_new resolves the chain at once: with no source it
 * fails (ERR_PERMANENT) naming each source tried; a configured container
 * endpoint that fails is an error, not a fall-through to IMDS.
 * aws_creds_get copies the current credentials into *out, refreshing if due
 * (under the provider's mutex; a failed refresh of still-valid keys keeps
 * them and logs a warning, retried at most every 10 s; once they expired the
 * error is ERR_RETRY).  Thread-safe. */
int aws_creds_get(struct aws_creds_provider *p, struct aws_creds *out, struct err *e);

/* ---- requests ----------------------------------------------------------- */

struct aws_client_opts {
    const char *service;          /* "s3", "kinesis" (signing name) */
    const char *region;           /* e.g. "us-east-1" */
    const char *endpoint;         /* "http://127.0.0.1:4567"; NULL = AWS default */
    struct aws_creds_provider *creds; /* borrowed, must outlive the client */
    long connect_timeout_ms;      /* default 3000 */
    long timeout_ms;              /* whole request, default 30000 */
    int max_attempts;             /* default 5 */
    long retry_base_ms;           /* default 100 */
    long retry_cap_ms;            /* default 20000 */
};

struct aws_header {
    const char *name;
    const char *value;
};

struct aws_req {
    const char *method;           /* GET PUT POST HEAD DELETE */
    const char *path;             /* already URI-encoded, starts with '/' */
    const char *query;            /* canonical: sorted, RFC 3986, "k=" for empty; or NULL */
    const struct aws_header *headers; /* extra headers, signed; n_headers of them;
                                       * non-empty values.  An x-amz-content-sha256
                                       * here (e.g. UNSIGNED-PAYLOAD) replaces the
                                       * body hash otherwise always sent */
    size_t n_headers;
    const void *body;
    size_t body_len;
    int idempotent;               /* 1: a lost reply may be retried blindly */
};

struct aws_resp {
    long status;
    struct buf body;              /* owned; aws_resp_free releases */
    char etag[128];               /* ETag header, quotes kept */
    char request_id[128];         /* x-amz-request-id / x-amzn-RequestId */
    long long content_length;     /* -1 if absent */
    int attempts;                 /* how many tries it took */
};

struct aws_client;

/* Initialises libcurl once per process (pthread_once).  aws_client_new and
 * aws_creds_provider_new call it; main() may call it before starting threads. */
int aws_global_init(struct err *e);

int aws_client_new(const struct aws_client_opts *o, struct aws_client **out, struct err *e);
void aws_client_free(struct aws_client *c);
const char *aws_client_endpoint(const struct aws_client *c);
const char *aws_client_region(const struct aws_client *c);
/* Retries this client has made so far (a metric; readable from any thread). */
unsigned long long aws_client_retries(const struct aws_client *c);

void aws_resp_init(struct aws_resp *r);
void aws_resp_free(struct aws_resp *r);

/* Sends req, retrying per the client's policy.  Returns 0 for a 2xx answer
 * (and for 304/412 when the caller asked with If-None-Match: the status is in
 * r->status), negative otherwise with e filled and classified.  The response
 * body of a failed request is parsed for an AWS error code (XML <Code> or
 * JSON __type), which appears in e->msg, e.g.
 *   s3 PUT /logs/a.gz: 403 SignatureDoesNotMatch: The request signature ...
 * e->code: -ENOENT for 404, -EACCES for 401/403, -EAGAIN for RETRY-class
 * HTTP answers, -ETIMEDOUT/-EIO for transport failures, -EINVAL for a bad
 * req, -E2BIG for a response over 64 MiB.  r->body keeps the body of the
 * last attempt (also of an error).  Default Content-Type for PUT/POST is
 * application/octet-stream.  Note: libcurl itself re-sends a request once
 * when a *reused* connection dies before any byte of the answer arrived. */
int aws_request(struct aws_client *c, const struct aws_req *req, struct aws_resp *r,
                struct err *e);

/* ---- helpers ------------------------------------------------------------ */

/* RFC 3986 percent-encoding into b: everything but A-Za-z0-9-_.~ (and '/'
 * when keep_slash) becomes %XX with uppercase hex. */
int aws_uri_encode(struct buf *b, const char *s, size_t n, int keep_slash);
/* Lowercase hex SHA-256 of data into out[65]. */
void aws_sha256_hex(const void *data, size_t n, char out[65]);
/* Base64 of the big-endian CRC-32 (gzip's polynomial) of data into out[16],
 * as S3's x-amz-checksum-crc32 header carries it ("123456789" ->
 * "y/Q5Jg=="). */
void aws_crc32_base64(const void *data, size_t n, char out[16]);
/* Full-jitter backoff for attempt n (0-based): rand(0, min(cap, base*2^n)). */
long aws_backoff_ms(int attempt, long base_ms, long cap_ms);
/* Classifies an HTTP status + AWS error code into RETRY / PERMANENT. */
enum err_class aws_classify_http(long status, const char *code);

#endif
