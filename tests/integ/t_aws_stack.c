/* t_aws_stack.c — aws_request against the local stack's SigV4-verifying
 * proxies (S3_ENDPOINT, KINESIS_ENDPOINT): an independent verifier accepts
 * what libcurl 7.88 signed for us — an awkward key (= + space UTF-8), a
 * canonical ListObjectsV2 query, a session token, a JSON POST — and rejects a
 * wrong secret as a PERMANENT failure after one attempt. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/aws.h"
#include "common/log.h"
#include "common/mem.h"
#include "tests/t.h"

struct stk {
    struct aws_creds_provider *p;
    struct aws_client *c;
};

static void stk_open(struct stk *s, const char *service, const char *endpoint,
                     const char *secret, const char *token)
{
    struct err e = {0};
    log_set_level(LOG_ERROR);
    struct aws_creds_opts co = {.access_key = t_env("AWS_ACCESS_KEY_ID"),
                                .secret_key = secret ? secret : t_env("AWS_SECRET_ACCESS_KEY"),
                                .session_token = token, .imds_disabled = 1};
    ASSERT_OK(aws_creds_provider_new(&co, &s->p, &e), e);
    struct aws_client_opts o = {.service = service, .region = t_env("AWS_REGION"),
                                .endpoint = endpoint, .creds = s->p, .max_attempts = 3,
                                .retry_base_ms = 10};
    ASSERT_OK(aws_client_new(&o, &s->c, &e), e);
}

static void stk_close(struct stk *s)
{
    aws_client_free(s->c);
    aws_creds_provider_free(s->p);
}

/* "/<bucket>/<encoded key>" */
static char *obj_path(const char *key)
{
    struct buf b;
    buf_init(&b, 4096);
    buf_printf(&b, "/%s/", t_env("BUCKET"));
    aws_uri_encode(&b, key, strlen(key), 1);
    return buf_steal(&b, NULL);
}

ITEST_T(aws_stack_s3_signed_requests_verify, 60)
{
    struct stk s;
    stk_open(&s, "s3", t_env("S3_ENDPOINT"), NULL, "FwoGZXIvYXdzEXAMPLE/session+token=");
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    char key[128];
    snprintf(key, sizeof key, "aws-test-%d/dt=2026-11-21/p+q é.gz", (int)getpid());
    char *path = obj_path(key);
    size_t n = 1500000; /* past 1 MB: curl adds its (unsigned) Expect: 100-continue */
    char *body = xmalloc(n);
    for (size_t i = 0; i < n; i++) body[i] = (char)((i * 31) ^ (i >> 7));
    struct aws_header ct[] = {{"Content-Type", "application/gzip"}};
    struct aws_req put = {.method = "PUT", .path = path, .headers = ct, .n_headers = 1,
                          .body = body, .body_len = n, .idempotent = 1};
    ASSERT_OK(aws_request(s.c, &put, &r, &e), e);
    EXPECT_EQ_INT(r.status, 200);
    EXPECT_TRUE(r.etag[0] == '"');
    EXPECT_EQ_INT(r.attempts, 1);

    struct aws_req get = {.method = "GET", .path = path, .idempotent = 1};
    ASSERT_OK(aws_request(s.c, &get, &r, &e), e);
    EXPECT_EQ_INT(r.body.len, n);
    EXPECT_TRUE(r.body.len == n && memcmp(r.body.data, body, n) == 0);
    struct aws_req head = {.method = "HEAD", .path = path, .idempotent = 1};
    ASSERT_OK(aws_request(s.c, &head, &r, &e), e);
    EXPECT_EQ_INT(r.content_length, n);

    /* ListObjectsV2 with an already-canonical query (sorted, %2F). */
    struct buf q;
    buf_init(&q, 1024);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "aws-test-%d/dt=2026-11-21/", (int)getpid());
    buf_puts(&q, "list-type=2&prefix=");
    aws_uri_encode(&q, prefix, strlen(prefix), 0);
    char bucket_path[128];
    snprintf(bucket_path, sizeof bucket_path, "/%s", t_env("BUCKET"));
    struct aws_req list = {.method = "GET", .path = bucket_path, .query = q.data, .idempotent = 1};
    ASSERT_OK(aws_request(s.c, &list, &r, &e), e);
    char want[200];
    snprintf(want, sizeof want, "<Key>%s</Key>", key);
    EXPECT_CONTAINS(r.body.data, want);

    struct aws_req del = {.method = "DELETE", .path = path, .idempotent = 1};
    ASSERT_OK(aws_request(s.c, &del, &r, &e), e);
    EXPECT_EQ_INT(aws_request(s.c, &get, &r, &e), -ENOENT);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_CONTAINS(e.msg, ": 404 NoSuchKey");
    EXPECT_EQ_INT(aws_client_retries(s.c), 0);
    stk_close(&s);

    /* The same request with a wrong secret: 403, never retried. */
    stk_open(&s, "s3", t_env("S3_ENDPOINT"), "not-the-secret", NULL);
    EXPECT_EQ_INT(aws_request(s.c, &head, &r, &e), -EACCES);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_EQ_INT(r.attempts, 1);
    EXPECT_EQ_INT(aws_request(s.c, &put, &r, &e), -EACCES);
    EXPECT_CONTAINS(e.msg, ": 403 SignatureDoesNotMatch");
    EXPECT_EQ_INT(r.attempts, 1);
    stk_close(&s);
    buf_free(&q);
    free(body);
    free(path);
    aws_resp_free(&r);
}

ITEST_T(aws_stack_kinesis_json_post_verifies, 60)
{
    struct stk s;
    stk_open(&s, "kinesis", t_env("KINESIS_ENDPOINT"), NULL, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    char json[128];
    snprintf(json, sizeof json, "{\"StreamName\":\"%s\"}", t_env("STREAM"));
    struct aws_header h[] = {{"Content-Type", "application/x-amz-json-1.1"},
                             {"X-Amz-Target", "Kinesis_20131202.DescribeStreamSummary"}};
    struct aws_req req = {.method = "POST", .path = "/", .headers = h, .n_headers = 2,
                          .body = json, .body_len = strlen(json), .idempotent = 1};
    ASSERT_OK(aws_request(s.c, &req, &r, &e), e);
    EXPECT_CONTAINS(r.body.data, "\"OpenShardCount\":4");
    /* A stream that does not exist: 400 ResourceNotFoundException, permanent. */
    struct aws_req missing = req;
    missing.body = "{\"StreamName\":\"no-such-stream\"}";
    missing.body_len = strlen(missing.body);
    EXPECT_NE_INT(aws_request(s.c, &missing, &r, &e), 0);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_CONTAINS(e.msg, "kinesis POST /: 400 ResourceNotFoundException");
    stk_close(&s);

    stk_open(&s, "kinesis", t_env("KINESIS_ENDPOINT"), "not-the-secret", NULL);
    EXPECT_NE_INT(aws_request(s.c, &req, &r, &e), 0);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_CONTAINS(e.msg, "InvalidSignatureException");
    EXPECT_EQ_INT(r.attempts, 1);
    stk_close(&s);
    aws_resp_free(&r);
}
