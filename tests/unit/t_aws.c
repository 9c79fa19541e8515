/* t_aws.c — the AWS client: helpers, SigV4 (reference vectors and captured
 * requests re-verified independently of curl), retries and classification.
 * Everything runs against fakehttp on 127.0.0.1. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/aws.h"
#include "common/log.h"
#include "common/mem.h"
#include "tests/integ/fakehttp.h"
#include "tests/t.h"
#include "tests/unit/aws_fixture.h"
#include "tests/unit/sigv4_ref.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- helpers ------------------------------------------------------------ */

static void expect_encoded(const char *in, int keep_slash, const char *want)
{
    struct buf b;
    buf_init(&b, 1024);
    EXPECT_EQ_INT(aws_uri_encode(&b, in, strlen(in), keep_slash), 0);
    EXPECT_EQ_STR(b.data ? b.data : "", want);
    buf_free(&b);
}

TEST(aws_uri_encode_rfc3986)
{
    expect_encoded("dt=2026-11-21/p+q é.gz", 1, "dt%3D2026-11-21/p%2Bq%20%C3%A9.gz");
    expect_encoded("dt=2026-11-21/p+q é.gz", 0, "dt%3D2026-11-21%2Fp%2Bq%20%C3%A9.gz");
    expect_encoded("AZaz09-_.~", 0, "AZaz09-_.~");
    expect_encoded("a*b'c(d)!e:f@g,h;i$j&k#l?m%n", 1,
                   "a%2Ab%27c%28d%29%21e%3Af%40g%2Ch%3Bi%24j%26k%23l%3Fm%25n");
    expect_encoded("", 0, "");
    struct buf b;
    buf_init(&b, 5);
    EXPECT_EQ_INT(aws_uri_encode(&b, "a b", 3, 0), 0);
    EXPECT_EQ_INT(aws_uri_encode(&b, "é", 2, 0), -E2BIG); /* bounded */
    buf_free(&b);
}

TEST(aws_sha256_hex_known)
{
    char h[65];
    aws_sha256_hex("", 0, h);
    EXPECT_EQ_STR(h, EMPTY_SHA);
    aws_sha256_hex(NULL, 0, h);
    EXPECT_EQ_STR(h, EMPTY_SHA);
    aws_sha256_hex("abc", 3, h);
    EXPECT_EQ_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(aws_crc32_base64_known)
{
    char c[16];
    aws_crc32_base64("123456789", 9, c); /* the CRC-32 check value cbf43926 */
    EXPECT_EQ_STR(c, "y/Q5Jg==");
    aws_crc32_base64(NULL, 0, c);
    EXPECT_EQ_STR(c, "AAAAAA==");
    /* a long buffer: against a bitwise CRC-32 */
    size_t n = 300000;
    unsigned char *b = malloc(n);
    ASSERT_TRUE(b != NULL);
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        b[i] = (unsigned char)(i * 131 + (i >> 9));
        crc ^= b[i];
        for (int k = 0; k < 8; k++) crc = crc & 1 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
    }
    crc = ~crc;
    unsigned char be[4] = {crc >> 24, (crc >> 16) & 255, (crc >> 8) & 255, crc & 255};
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char want[9] = {b64[be[0] >> 2], b64[((be[0] & 3) << 4) | (be[1] >> 4)],
                    b64[((be[1] & 15) << 2) | (be[2] >> 6)], b64[be[2] & 63], b64[be[3] >> 2],
                    b64[(be[3] & 3) << 4], '=', '=', 0};
    aws_crc32_base64(b, n, c);
    EXPECT_EQ_STR(c, want);
    free(b);
}

TEST(aws_backoff_full_jitter_bounds)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        long ceil = 100L << attempt;
        if (ceil > 2000) ceil = 2000;
        long lo = ceil, hi = 0;
        for (int i = 0; i < 2000; i++) {
            long v = aws_backoff_ms(attempt, 100, 2000);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        EXPECT_GE_INT(lo, 0);
        EXPECT_LE_INT(hi, ceil);
        EXPECT_GE_INT(hi, ceil / 2); /* spread over the range, not stuck low */
        EXPECT_LE_INT(lo, ceil / 2);
    }
    for (int i = 0; i < 100; i++) EXPECT_LE_INT(aws_backoff_ms(62, 100, 20000), 20000);
    EXPECT_LE_INT(aws_backoff_ms(1000, 1L << 40, 30000), 30000); /* no overflow */
    EXPECT_EQ_INT(aws_backoff_ms(3, 0, 1000), 0);
}

TEST(aws_classify_table)
{
    static const struct {
        long status;
        const char *code;
        enum err_class want;
    } t[] = {
        {200, NULL, ERR_NONE}, {204, "", ERR_NONE}, {304, NULL, ERR_NONE}, {412, NULL, ERR_NONE},
        {500, "InternalError", ERR_RETRY}, {502, NULL, ERR_RETRY}, {503, "SlowDown", ERR_RETRY},
        {504, NULL, ERR_RETRY}, {408, NULL, ERR_RETRY}, {429, NULL, ERR_RETRY},
        {400, "RequestTimeout", ERR_RETRY}, {400, "ThrottlingException", ERR_RETRY},
        {400, "ProvisionedThroughputExceededException", ERR_RETRY},
        {400, "LimitExceededException", ERR_RETRY}, {400, "RequestLimitExceeded", ERR_RETRY},
        {409, "ConditionalRequestConflict", ERR_RETRY},
        {403, "AccessDenied", ERR_PERMANENT}, {403, "SignatureDoesNotMatch", ERR_PERMANENT},
        {404, "NoSuchKey", ERR_PERMANENT}, {404, "NoSuchBucket", ERR_PERMANENT},
        {400, "ResourceNotFoundException", ERR_PERMANENT}, {400, "InvalidArgument", ERR_PERMANENT},
        {400, "ValidationException", ERR_PERMANENT}, {400, NULL, ERR_PERMANENT},
        {409, "BucketAlreadyExists", ERR_PERMANENT}, {501, "NotImplemented", ERR_PERMANENT},
        {301, "PermanentRedirect", ERR_PERMANENT}, {405, NULL, ERR_PERMANENT},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        enum err_class got = aws_classify_http(t[i].status, t[i].code);
        if (got != t[i].want)
            T_REPORT_("classify(%ld, %s) = %s, want %s", t[i].status,
                      t[i].code ? t[i].code : "NULL", err_class_name(got),
                      err_class_name(t[i].want));
    }
}

/* ---- the reference signer against AWS's published vectors --------------- */

struct vec {
    const char *name, *method, *path, *query;
    struct sigv4_ref_hdr h[4];
    size_t nh;
    const char *secret, *date, *service, *want;
};

TEST(aws_sigv4_ref_vectors)
{
    static const struct vec v[] = {
        {"get-vanilla", "GET", "/", NULL,
         {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2, SECRET,
         "20150830T123600Z", "service",
         "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
        {"post-vanilla", "POST", "/", NULL,
         {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2, SECRET,
         "20150830T123600Z", "service",
         "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
        {"get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1",
         {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2, SECRET,
         "20150830T123600Z", "service",
         "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
        {"post-header-value-case", "POST", "/", NULL,
         {{"Host", "example.amazonaws.com"}, {"My-Header1", "VALUE1"},
          {"X-Amz-Date", "20150830T123600Z"}}, 3, SECRET, "20150830T123600Z", "service",
         "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
        {"get-header-value-trim", "GET", "/", NULL,
         {{"Host", "example.amazonaws.com"}, {"My-Header1", " value1"},
          {"My-Header2", "\"a   b   c\""}, {"X-Amz-Date", "20150830T123600Z"}}, 4, SECRET,
         "20150830T123600Z", "service",
         "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
        {"get-unreserved", "GET",
         "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", NULL,
         {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, 2, SECRET,
         "20150830T123600Z", "service",
         "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
        /* S3 API reference, "Example: GET Object" (signed payload). */
        {"s3-get-object", "GET", "/test.txt", NULL,
         {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"},
          {"x-amz-content-sha256", EMPTY_SHA}, {"x-amz-date", "20130524T000000Z"}}, 4,
         "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524T000000Z", "s3",
         "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct sigv4_ref_req r = {.method = v[i].method, .path = v[i].path,
                                  .query = v[i].query, .headers = v[i].h,
                                  .n_headers = v[i].nh, .amz_date = v[i].date,
                                  .region = "us-east-1", .service = v[i].service,
                                  .secret = v[i].secret};
        char sig[65];
        EXPECT_EQ_INT(sigv4_ref_sign(&r, sig, NULL, NULL, NULL), 0);
        if (strcmp(sig, v[i].want)) T_REPORT_("%s: got %s want %s", v[i].name, sig, v[i].want);
    }
}

TEST(aws_sigv4_ref_canonical_forms)
{
    /* get-vanilla's published canonical request and string to sign. */
    struct sigv4_ref_hdr h[] = {{"Host", "example.amazonaws.com"},
                                {"X-Amz-Date", "20150830T123600Z"}};
    struct sigv4_ref_req r = {.method = "GET", .path = "/", .headers = h, .n_headers = 2,
                              .amz_date = "20150830T123600Z", .region = "us-east-1",
                              .service = "service", .secret = SECRET};
    struct buf creq, sts;
    buf_init(&creq, 4096);
    buf_init(&sts, 4096);
    char sig[65], list[512];
    EXPECT_EQ_INT(sigv4_ref_sign(&r, sig, &creq, &sts, list), 0);
    EXPECT_EQ_STR(creq.data, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
                             "\nhost;x-amz-date\n" EMPTY_SHA);
    EXPECT_EQ_STR(sts.data, "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
                            "aws4_request\n"
                            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
    EXPECT_EQ_STR(list, "host;x-amz-date");
    /* A signed header that was never sent is an error (curl #11664's shape). */
    r.signed_headers = "expect;host;x-amz-date";
    EXPECT_EQ_INT(sigv4_ref_sign(&r, sig, NULL, NULL, NULL), -1);
    buf_free(&creq);
    buf_free(&sts);
}

/* ---- a client against fakehttp ------------------------------------------ */

struct fx {
    struct fakehttp *f;
    struct aws_creds_provider *p;
    struct aws_client *c;
};

static void fx_open_ex(struct fx *x, const char *service, int max_attempts, const char *token,
                       long timeout_ms)
{
    struct err e = {0};
    aws_fx_env_reset();
    log_set_level(LOG_ERROR);
    x->f = fakehttp_start();
    ASSERT_TRUE(x->f);
    struct aws_creds_opts co = {.access_key = AKID, .secret_key = SECRET,
                                .session_token = token};
    ASSERT_OK(aws_creds_provider_new(&co, &x->p, &e), e);
    struct aws_client_opts o = {.service = service, .region = "us-east-1",
                                .endpoint = fakehttp_url(x->f), .creds = x->p,
                                .max_attempts = max_attempts, .retry_base_ms = 5,
                                .retry_cap_ms = 20, .timeout_ms = timeout_ms};
    ASSERT_OK(aws_client_new(&o, &x->c, &e), e);
}

static void fx_open(struct fx *x, const char *service, int max_attempts, const char *token)
{
    fx_open_ex(x, service, max_attempts, token, 0);
}

static void fx_close(struct fx *x)
{
    aws_client_free(x->c);
    aws_creds_provider_free(x->p);
    fakehttp_free(x->f);
}

static void expect_sig_ok(struct fx *x, size_t i, const char *service)
{
    char why[4096];
    const struct fakehttp_req *q = fakehttp_req_at(x->f, i);
    ASSERT_TRUE(q);
    int m = aws_fx_verify_sig(q, AKID, "us-east-1", service, SECRET, why, sizeof why);
    if (m != 1) T_REPORT_("request %zu (%s %s): signature %d: %s", i, q->method, q->target, m, why);
    m = aws_fx_verify_sig(q, AKID, "us-east-1", service, "not-the-secret", why, sizeof why);
    if (m != 0) T_REPORT_("request %zu: a wrong secret verified (%d)", i, m);
    char hex[65];
    aws_sha256_hex(q->body, q->body_len, hex);
    EXPECT_EQ_STR(fakehttp_header(q, "x-amz-content-sha256"), hex);
}

/* The SignedHeaders of request i include name. */
static void expect_signed(struct fx *x, size_t i, const char *name)
{
    const char *auth = fakehttp_header(fakehttp_req_at(x->f, i), "authorization");
    char want[128];
    snprintf(want, sizeof want, ";%s;", name);
    const char *sh = auth ? strstr(auth, "SignedHeaders=") : NULL;
    char list[600];
    snprintf(list, sizeof list, ";%.*s;", sh ? (int)strcspn(sh + 14, ",") : 0, sh ? sh + 14 : "");
    EXPECT_CONTAINS(list, want);
}

TEST(aws_sigv4_captured_s3_requests)
{
    struct fx x;
    fx_open(&x, "s3", 1, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    char body[3000];
    for (size_t i = 0; i < sizeof body; i++) body[i] = (char)(i * 7); /* NULs included */
    struct aws_header ph[] = {{"Content-Type", "application/gzip"}, {"If-None-Match", "*"}};
    struct aws_req put = {.method = "PUT", .path = "/logs-bucket/dt%3D2026-11-21/p%2Bq%20%C3%A9.gz",
                          .headers = ph, .n_headers = 2, .body = body, .body_len = sizeof body,
                          .idempotent = 1};
    for (int i = 0; i < 5; i++) fakehttp_push(x.f, 200, "ETag: \"e1\"\r\n", "");
    EXPECT_OK(aws_request(x.c, &put, &r, &e), e);
    struct aws_req list = {.method = "GET", .path = "/logs-bucket",
                           .query = "list-type=2&prefix=a%2Fb", .idempotent = 1};
    EXPECT_OK(aws_request(x.c, &list, &r, &e), e);
    struct aws_req head = {.method = "HEAD", .path = "/logs-bucket/k%3Dv%2Bw", .idempotent = 1};
    EXPECT_OK(aws_request(x.c, &head, &r, &e), e);
    struct aws_req del = {.method = "DELETE", .path = "/logs-bucket/a.gz", .idempotent = 1};
    EXPECT_OK(aws_request(x.c, &del, &r, &e), e);
    struct aws_req mpu = {.method = "POST", .path = "/logs-bucket/big.gz", .query = "uploads="};
    EXPECT_OK(aws_request(x.c, &mpu, &r, &e), e);
    ASSERT_TRUE(fakehttp_count(x.f) == 5);
    static const char *const methods[] = {"PUT", "GET", "HEAD", "DELETE", "POST"};
    for (size_t i = 0; i < 5; i++) {
        EXPECT_EQ_STR(fakehttp_req_at(x.f, i)->method, methods[i]);
        expect_sig_ok(&x, i, "s3");
        expect_signed(&x, i, "host");
        expect_signed(&x, i, "x-amz-date");
        expect_signed(&x, i, "x-amz-content-sha256");
        EXPECT_TRUE(fakehttp_header(fakehttp_req_at(x.f, i), "x-amz-security-token") == NULL);
    }
    const struct fakehttp_req *q = fakehttp_req_at(x.f, 0);
    EXPECT_EQ_STR(q->path, "/logs-bucket/dt%3D2026-11-21/p%2Bq%20%C3%A9.gz");
    EXPECT_EQ_INT(q->body_len, sizeof body);
    EXPECT_TRUE(memcmp(q->body, body, sizeof body) == 0);
    expect_signed(&x, 0, "content-type");
    expect_signed(&x, 0, "if-none-match");
    EXPECT_EQ_STR(fakehttp_header(q, "content-type"), "application/gzip");
    EXPECT_TRUE(fakehttp_header(q, "expect") == NULL); /* small bodies: no 100-continue */
    EXPECT_EQ_STR(fakehttp_req_at(x.f, 1)->query, "list-type=2&prefix=a%2Fb");
    EXPECT_EQ_STR(fakehttp_header(fakehttp_req_at(x.f, 1), "x-amz-content-sha256"), EMPTY_SHA);
    EXPECT_EQ_STR(fakehttp_req_at(x.f, 4)->query, "uploads=");
    EXPECT_EQ_STR(fakehttp_header(fakehttp_req_at(x.f, 4), "content-type"),
                  "application/octet-stream");
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_sigv4_captured_json_post_with_token)
{
    struct fx x;
    const char *tok = "FQoGZXIvYXdzEJr//////////wEaDK+token/with=chars";
    fx_open(&x, "kinesis", 1, tok);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    const char *json = "{\"StreamName\":\"logs\",\"Limit\":10000}";
    struct aws_header h[] = {{"Content-Type", "application/x-amz-json-1.1"},
                             {"X-Amz-Target", "Kinesis_20131202.DescribeStream"}};
    struct aws_req req = {.method = "POST", .path = "/", .headers = h, .n_headers = 2,
                          .body = json, .body_len = strlen(json)};
    fakehttp_push(x.f, 200, "x-amzn-RequestId: rid-1\r\n", "{\"StreamDescription\":{}}");
    ASSERT_OK(aws_request(x.c, &req, &r, &e), e);
    EXPECT_EQ_STR(r.body.data, "{\"StreamDescription\":{}}");
    EXPECT_EQ_STR(r.request_id, "rid-1");
    const struct fakehttp_req *q = fakehttp_req_at(x.f, 0);
    EXPECT_EQ_STR(q->body, json);
    EXPECT_EQ_STR(fakehttp_header(q, "x-amz-security-token"), tok);
    expect_sig_ok(&x, 0, "kinesis");
    expect_signed(&x, 0, "x-amz-security-token");
    expect_signed(&x, 0, "x-amz-target");
    expect_signed(&x, 0, "content-type");
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_sigv4_captured_large_put_expect_continue)
{
    struct fx x;
    fx_open(&x, "s3", 1, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    size_t n = (size_t)2 << 20;
    char *body = xmalloc(n);
    for (size_t i = 0; i < n; i++) body[i] = (char)(i % 251);
    struct aws_req put = {.method = "PUT", .path = "/logs-bucket/big.bin", .body = body,
                          .body_len = n, .idempotent = 1};
    fakehttp_push(x.f, 200, "ETag: \"big\"\r\n", "");
    ASSERT_OK(aws_request(x.c, &put, &r, &e), e);
    EXPECT_EQ_STR(r.etag, "\"big\"");
    const struct fakehttp_req *q = fakehttp_req_at(x.f, 0);
    EXPECT_EQ_INT(q->body_len, n);
    EXPECT_TRUE(memcmp(q->body, body, n) == 0);
    expect_sig_ok(&x, 0, "s3");
    free(body);
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_sigv4_secret_with_colon)
{
    struct err e = {0};
    aws_fx_env_reset();
    log_set_level(LOG_ERROR);
    struct fakehttp *f = fakehttp_start();
    ASSERT_TRUE(f);
    struct aws_creds_provider *p;
    struct aws_client *c;
    struct aws_creds_opts co = {.access_key = AKID, .secret_key = "abc:def/ghi"};
    ASSERT_OK(aws_creds_provider_new(&co, &p, &e), e);
    struct aws_client_opts o = {.service = "s3", .region = "eu-west-1",
                                .endpoint = fakehttp_url(f), .creds = p, .max_attempts = 1};
    ASSERT_OK(aws_client_new(&o, &c, &e), e);
    struct aws_resp r;
    aws_resp_init(&r);
    struct aws_req req = {.method = "GET", .path = "/b/k", .idempotent = 1};
    fakehttp_push(f, 200, NULL, "x");
    ASSERT_OK(aws_request(c, &req, &r, &e), e);
    char why[4096];
    EXPECT_EQ_INT(aws_fx_verify_sig(fakehttp_req_at(f, 0), AKID, "eu-west-1", "s3", "abc:def/ghi",
                                    why, sizeof why), 1);
    aws_resp_free(&r);
    aws_client_free(c);
    aws_creds_provider_free(p);
    fakehttp_free(f);
}

/* ---- responses, retries, classification -------------------------------- */

TEST(aws_response_fields)
{
    struct fx x;
    fx_open(&x, "s3", 1, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    fakehttp_push(x.f, 200, "ETag: \"9b2cf535f27731c974343645a3985328\"\r\n"
                            "x-amz-request-id: 4442587FB7D0A2F9\r\n", "hello");
    fakehttp_push(x.f, 200, "Content-Length: 1234\r\n", NULL);
    struct aws_req get = {.method = "GET", .path = "/b/k", .idempotent = 1};
    ASSERT_OK(aws_request(x.c, &get, &r, &e), e);
    EXPECT_EQ_INT(r.status, 200);
    EXPECT_EQ_STR(r.body.data, "hello");
    EXPECT_EQ_INT(r.content_length, 5);
    EXPECT_EQ_STR(r.etag, "\"9b2cf535f27731c974343645a3985328\"");
    EXPECT_EQ_STR(r.request_id, "4442587FB7D0A2F9");
    EXPECT_EQ_INT(r.attempts, 1);
    struct aws_req head = {.method = "HEAD", .path = "/b/k", .idempotent = 1};
    ASSERT_OK(aws_request(x.c, &head, &r, &e), e);
    EXPECT_EQ_INT(r.content_length, 1234);
    EXPECT_EQ_INT(r.body.len, 0);
    EXPECT_EQ_STR(r.etag, ""); /* nothing left over from the previous answer */
    /* Both went over one kept-alive connection. */
    EXPECT_EQ_INT(fakehttp_req_at(x.f, 1)->conn_id, fakehttp_req_at(x.f, 0)->conn_id);
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_retry_500_503_then_ok)
{
    struct fx x;
    fx_open(&x, "s3", 5, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    fakehttp_push(x.f, 500, NULL, "<Error><Code>InternalError</Code></Error>");
    fakehttp_push(x.f, 503, NULL, "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code>"
                                  "<Message>Please reduce your request rate.</Message></Error>");
    fakehttp_push(x.f, 200, "ETag: \"ok\"\r\n", "");
    struct aws_req put = {.method = "PUT", .path = "/b/a.gz", .body = "x", .body_len = 1,
                          .idempotent = 1};
    ASSERT_OK(aws_request(x.c, &put, &r, &e), e);
    EXPECT_EQ_INT(r.attempts, 3);
    EXPECT_EQ_INT(r.status, 200);
    EXPECT_EQ_STR(r.etag, "\"ok\"");
    EXPECT_EQ_INT(fakehttp_count(x.f), 3);
    EXPECT_EQ_INT(aws_client_retries(x.c), 2);
    for (size_t i = 0; i < 3; i++) expect_sig_ok(&x, i, "s3");
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_retry_json_throttling)
{
    struct fx x;
    fx_open(&x, "kinesis", 3, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    fakehttp_push(x.f, 400, NULL,
                  "{\"__type\":\"com.amazon.coral.availability#ThrottlingException\","
                  "\"message\":\"Rate exceeded\"}");
    fakehttp_push(x.f, 200, NULL, "{}");
    struct aws_header h[] = {{"Content-Type", "application/x-amz-json-1.1"}};
    struct aws_req req = {.method = "POST", .path = "/", .headers = h, .n_headers = 1,
                          .body = "{}", .body_len = 2};
    ASSERT_OK(aws_request(x.c, &req, &r, &e), e);
    EXPECT_EQ_INT(r.attempts, 2);
    EXPECT_EQ_INT(fakehttp_count(x.f), 2);
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_permanent_403_no_retry)
{
    struct fx x;
    fx_open(&x, "s3", 5, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    fakehttp_push(x.f, 403, NULL,
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch"
                  "</Code><Message>The request signature we calculated does not match the "
                  "signature you provided.</Message>"
                  "<StringToSign>AWS4-HMAC-SHA256\n...</StringToSign>"
                  "</Error>");
    struct aws_req put = {.method = "PUT", .path = "/logs/a.gz", .body = "x", .body_len = 1,
                          .idempotent = 1};
    int rc = aws_request(x.c, &put, &r, &e);
    EXPECT_EQ_INT(rc, -EACCES);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_EQ_INT(e.http_status, 403);
    EXPECT_EQ_STR(e.msg, "s3 PUT /logs/a.gz: 403 SignatureDoesNotMatch: The request signature we "
                         "calculated does not match the signature you provided.");
    EXPECT_EQ_INT(fakehttp_count(x.f), 1);
    EXPECT_EQ_INT(aws_client_retries(x.c), 0);
    EXPECT_TRUE(strstr(e.msg, SECRET) == NULL);
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_permanent_404_and_json_not_found)
{
    struct fx x;
    fx_open(&x, "kinesis", 5, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    fakehttp_push(x.f, 404, NULL, NULL);
    struct aws_req head = {.method = "HEAD", .path = "/b/missing", .idempotent = 1};
    EXPECT_EQ_INT(aws_request(x.c, &head, &r, &e), -ENOENT);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_EQ_STR(e.msg, "kinesis HEAD /b/missing: 404");
    fakehttp_push(x.f, 400, "x-amzn-ErrorType: ResourceNotFoundException:http://internal/\r\n",
                  "{\"__type\":\"ResourceNotFoundException\",\"message\":\"Stream logs under "
                  "account 000000000000 not found.\"}");
    struct aws_req post = {.method = "POST", .path = "/", .body = "{}", .body_len = 2};
    EXPECT_EQ_INT(aws_request(x.c, &post, &r, &e), -EIO);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_EQ_STR(e.msg, "kinesis POST /: 400 ResourceNotFoundException: Stream logs under account "
                         "000000000000 not found.");
    /* The code from x-amzn-ErrorType when the body has none. */
    fakehttp_push(x.f, 400, "x-amzn-ErrorType: ValidationException:http://internal/\r\n", "");
    EXPECT_EQ_INT(aws_request(x.c, &post, &r, &e), -EIO);
    EXPECT_EQ_STR(e.msg, "kinesis POST /: 400 ValidationException");
    EXPECT_EQ_INT(fakehttp_count(x.f), 3);
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_retry_exhausted_is_retry_class)
{
    struct fx x;
    fx_open(&x, "s3", 3, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    for (int i = 0; i < 3; i++)
        fakehttp_push(x.f, 503, NULL,
                      "<Error><Code>SlowDown</Code><Message>Reduce</Message></Error>");
    struct aws_req get = {.method = "GET", .path = "/b/k", .idempotent = 1};
    EXPECT_EQ_INT(aws_request(x.c, &get, &r, &e), -EAGAIN);
    EXPECT_EQ_INT(e.cls, ERR_RETRY);
    EXPECT_EQ_INT(e.http_status, 503);
    EXPECT_EQ_STR(e.msg, "s3 GET /b/k: 503 SlowDown: Reduce (after 3 attempts)");
    EXPECT_EQ_INT(r.attempts, 3);
    EXPECT_EQ_INT(fakehttp_count(x.f), 3);
    EXPECT_EQ_INT(aws_client_retries(x.c), 2);
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_conditional_304_412_409)
{
    struct fx x;
    fx_open(&x, "s3", 3, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    struct aws_header h[] = {{"If-None-Match", "*"}};
    struct aws_req put = {.method = "PUT", .path = "/b/k", .headers = h, .n_headers = 1,
                          .body = "x", .body_len = 1, .idempotent = 1};
    fakehttp_push(x.f, 412, NULL, "<Error><Code>PreconditionFailed</Code></Error>");
    EXPECT_OK(aws_request(x.c, &put, &r, &e), e);
    EXPECT_EQ_INT(r.status, 412);
    fakehttp_push(x.f, 304, NULL, NULL);
    EXPECT_OK(aws_request(x.c, &put, &r, &e), e);
    EXPECT_EQ_INT(r.status, 304);
    fakehttp_push(x.f, 409, NULL, "<Error><Code>ConditionalRequestConflict</Code></Error>");
    fakehttp_push(x.f, 200, NULL, NULL);
    EXPECT_OK(aws_request(x.c, &put, &r, &e), e);
    EXPECT_EQ_INT(r.status, 200);
    EXPECT_EQ_INT(r.attempts, 2);
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_lost_reply_non_idempotent_unknown_outcome)
{
    struct fx x;
    fx_open(&x, "kinesis", 5, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    fakehttp_push_close(x.f);
    fakehttp_push(x.f, 200, NULL, "{}"); /* must not be reached */
    struct aws_req req = {.method = "POST", .path = "/", .body = "{\"Records\":[]}",
                          .body_len = 14, .idempotent = 0};
    EXPECT_NE_INT(aws_request(x.c, &req, &r, &e), 0);
    EXPECT_EQ_INT(e.cls, ERR_UNKNOWN_OUTCOME);
    EXPECT_EQ_INT(e.http_status, 0);
    EXPECT_CONTAINS(e.msg, "kinesis POST /: ");
    EXPECT_CONTAINS(e.msg, "reply lost");
    EXPECT_EQ_INT(fakehttp_count(x.f), 1);
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_lost_reply_idempotent_retried_on_fresh_connection)
{
    struct fx x;
    fx_open(&x, "s3", 5, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    fakehttp_push_close(x.f);
    fakehttp_push(x.f, 200, NULL, "data");
    struct aws_req get = {.method = "GET", .path = "/b/k", .idempotent = 1};
    ASSERT_OK(aws_request(x.c, &get, &r, &e), e);
    EXPECT_EQ_STR(r.body.data, "data");
    EXPECT_EQ_INT(r.attempts, 2);
    EXPECT_EQ_INT(fakehttp_count(x.f), 2);
    EXPECT_NE_INT(fakehttp_req_at(x.f, 1)->conn_id, fakehttp_req_at(x.f, 0)->conn_id);
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_timeout_after_send)
{
    struct fx x;
    fx_open_ex(&x, "s3", 3, NULL, 300);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    struct fakehttp_reply slow = {200, NULL, "late", FAKEHTTP_STRLEN, FAKEHTTP_REPLY, 800, 0};
    /* Non-idempotent: the server got it, the reply never came in time. */
    fakehttp_push_reply(x.f, &slow);
    struct aws_req post = {.method = "POST", .path = "/b/k", .query = "uploads="};
    EXPECT_EQ_INT(aws_request(x.c, &post, &r, &e), -ETIMEDOUT);
    EXPECT_EQ_INT(e.cls, ERR_UNKNOWN_OUTCOME);
    EXPECT_EQ_INT(fakehttp_count(x.f), 1);
    /* Idempotent: retried (on a fresh connection) and served. */
    fakehttp_push_reply(x.f, &slow);
    fakehttp_push(x.f, 200, NULL, "fast");
    struct aws_req get = {.method = "GET", .path = "/b/k", .idempotent = 1};
    ASSERT_OK(aws_request(x.c, &get, &r, &e), e);
    EXPECT_EQ_STR(r.body.data, "fast");
    EXPECT_EQ_INT(r.attempts, 2);
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_connect_refused_is_retry_even_for_post)
{
    struct err e = {0};
    aws_fx_env_reset();
    log_set_level(LOG_ERROR);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", aws_fx_closed_port());
    struct aws_creds_provider *p;
    struct aws_client *c;
    struct aws_creds_opts co = {.access_key = AKID, .secret_key = SECRET};
    ASSERT_OK(aws_creds_provider_new(&co, &p, &e), e);
    struct aws_client_opts o = {.service = "kinesis", .region = "us-east-1", .endpoint = url,
                                .creds = p, .max_attempts = 2, .retry_base_ms = 1};
    ASSERT_OK(aws_client_new(&o, &c, &e), e);
    struct aws_resp r;
    aws_resp_init(&r);
    struct aws_req post = {.method = "POST", .path = "/", .body = "{}", .body_len = 2};
    EXPECT_NE_INT(aws_request(c, &post, &r, &e), 0);
    EXPECT_EQ_INT(e.cls, ERR_RETRY); /* never sent: safe to try again */
    EXPECT_EQ_INT(r.attempts, 2);
    EXPECT_CONTAINS(e.msg, "(after 2 attempts)");
    EXPECT_EQ_INT(aws_client_retries(c), 1);
    aws_resp_free(&r);
    aws_client_free(c);
    aws_creds_provider_free(p);
}

TEST(aws_request_rejects_bad_input)
{
    struct fx x;
    fx_open(&x, "s3", 1, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    struct aws_header empty[] = {{"Expect", ""}};
    struct aws_req bad[] = {
        {.method = "PATCH", .path = "/x"},
        {.method = "GET", .path = "x"},
        {.method = "GET", .path = "/a b"},
        {.method = "GET", .path = "/a", .query = "x=1\r\nEvil: 1"},
        {.method = "GET", .path = "/a", .headers = empty, .n_headers = 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT_EQ_INT(aws_request(x.c, &bad[i], &r, &e), -EINVAL);
        EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    }
    EXPECT_EQ_INT(fakehttp_count(x.f), 0);
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_caller_content_sha256_replaces_ours)
{
    struct fx x;
    fx_open(&x, "s3", 1, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    struct aws_header h[] = {{"x-amz-content-sha256", "UNSIGNED-PAYLOAD"}};
    struct aws_req put = {.method = "PUT", .path = "/b/k", .headers = h, .n_headers = 1,
                          .body = "payload", .body_len = 7, .idempotent = 1};
    fakehttp_push(x.f, 200, NULL, NULL);
    ASSERT_OK(aws_request(x.c, &put, &r, &e), e);
    const struct fakehttp_req *q = fakehttp_req_at(x.f, 0);
    int n = 0;
    for (size_t i = 0; i < q->n_headers; i++)
        n += !strcasecmp(q->headers[i].name, "x-amz-content-sha256");
    EXPECT_EQ_INT(n, 1);
    EXPECT_EQ_STR(fakehttp_header(q, "x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
    char why[4096];
    int m = aws_fx_verify_sig(q, AKID, "us-east-1", "s3", SECRET, why, sizeof why);
    if (m != 1) T_REPORT_("signature %d: %s", m, why);
    aws_resp_free(&r);
    fx_close(&x);
}

TEST(aws_server_gone_after_success_is_retry_for_post)
{
    struct fx x;
    fx_open(&x, "kinesis", 2, NULL);
    struct err e = {0};
    struct aws_resp r;
    aws_resp_init(&r);
    struct aws_req post = {.method = "POST", .path = "/", .body = "{}", .body_len = 2};
    fakehttp_push(x.f, 200, NULL, "{}");
    ASSERT_OK(aws_request(x.c, &post, &r, &e), e);
    fakehttp_free(x.f); /* the port now refuses: nothing of the next POST is sent */
    x.f = NULL;
    EXPECT_NE_INT(aws_request(x.c, &post, &r, &e), 0);
    EXPECT_EQ_INT(e.cls, ERR_RETRY);
    EXPECT_EQ_INT(r.attempts, 2);
    aws_resp_free(&r);
    fx_close(&x);
}
