/* t_aws_creds.c — the credentials chain: config keys, environment, shared
 * files + profiles, ECS container endpoint and EC2 IMDSv2 (both served by
 * fakehttp on 127.0.0.1), refresh of temporary keys, the "nothing found"
 * text.  aws_fx_env_reset() keeps the host's AWS settings and 169.254.169.254
 * out of every test. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/aws.h"
#include "common/log.h"
#include "tests/integ/fakehttp.h"
#include "tests/t.h"
#include "tests/unit/aws_fixture.h"

static void quiet(void)
{
    aws_fx_env_reset();
    log_set_level(LOG_OFF);
}

/* ISO-8601 UTC for now + secs. */
static void iso_in(long secs, char out[32])
{
    time_t t = time(NULL) + secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void expect_creds(struct aws_creds_provider *p, const char *ak, const char *sk,
                         const char *tok, const char *source)
{
    struct aws_creds c;
    struct err e = {0};
    ASSERT_OK(aws_creds_get(p, &c, &e), e);
    EXPECT_EQ_STR(c.access_key, ak);
    EXPECT_EQ_STR(c.secret_key, sk);
    EXPECT_EQ_STR(c.token, tok);
    EXPECT_EQ_STR(c.source, source);
}

TEST(aws_creds_config_keys_first)
{
    quiet();
    setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
    struct aws_creds_opts o = {.access_key = "AKCFG", .secret_key = "SKCFG"};
    struct aws_creds_provider *p;
    struct err e = {0};
    ASSERT_OK(aws_creds_provider_new(&o, &p, &e), e);
    expect_creds(p, "AKCFG", "SKCFG", "", "config");
    aws_creds_provider_free(p);
    struct aws_creds_opts half = {.access_key = "AKCFG"};
    EXPECT_EQ_INT(aws_creds_provider_new(&half, &p, &e), -EINVAL);
    EXPECT_CONTAINS(e.msg, "only one of access and secret key");
}

TEST(aws_creds_env_with_session_token_signs_it)
{
    quiet();
    setenv("AWS_ACCESS_KEY_ID", "ASIAENVEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env/secret+key", 1);
    setenv("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLETOKEN==", 1);
    struct aws_creds_provider *p;
    struct err e = {0};
    ASSERT_OK(aws_creds_provider_new(NULL, &p, &e), e);
    expect_creds(p, "ASIAENVEXAMPLE", "env/secret+key", "IQoJb3JpZ2luX2VjEXAMPLETOKEN==", "env");

    struct fakehttp *f = fakehttp_start();
    ASSERT_TRUE(f);
    struct aws_client *c;
    struct aws_client_opts o = {.service = "s3", .region = "us-east-1",
                                .endpoint = fakehttp_url(f), .creds = p, .max_attempts = 1};
    ASSERT_OK(aws_client_new(&o, &c, &e), e);
    struct aws_resp r;
    aws_resp_init(&r);
    struct aws_req get = {.method = "GET", .path = "/b/k", .idempotent = 1};
    fakehttp_push(f, 200, NULL, "x");
    ASSERT_OK(aws_request(c, &get, &r, &e), e);
    const struct fakehttp_req *q = fakehttp_req_at(f, 0);
    EXPECT_EQ_STR(fakehttp_header(q, "x-amz-security-token"), "IQoJb3JpZ2luX2VjEXAMPLETOKEN==");
    char why[4096];
    int m = aws_fx_verify_sig(q, "ASIAENVEXAMPLE", "us-east-1", "s3", "env/secret+key", why,
                              sizeof why);
    if (m != 1) T_REPORT_("signature: %s", why);
    EXPECT_CONTAINS(fakehttp_header(q, "authorization"), "x-amz-security-token");
    aws_resp_free(&r);
    aws_client_free(c);
    fakehttp_free(f);
    aws_creds_provider_free(p);
}

static const char *creds_file_text =
    "# shared credentials\n"
    "[default]\n"
    "aws_access_key_id = AKDEFAULT\n"
    "aws_secret_access_key = SKDEFAULT\n"
    "\n"
    "; a comment\n"
    "[prod]\n"
    "  \n"
    "aws_access_key_id=AKPROD   \n"
    "\taws_secret_access_key = ignored-continuation-line\n"
    "aws_secret_access_key   =   SK/PROD+x   # inline comment\n"
    "aws_session_token = TOKPROD\n"
    "region = eu-west-1\n"
    "[other]\n"
    "aws_access_key_id = AKOTHER\n";

static const char *config_file_text =
    "[default]\n"
    "region = us-east-1\n"
    "[profile  staging ]\n"
    "aws_access_key_id = AKSTAGING\n"
    "aws_secret_access_key = SKSTAGING\n"
    "s3 =\n"
    "  max_concurrent_requests = 20\n"
    "[profile roleonly]\n"
    "role_arn = arn:aws:iam::123456789012:role/x\n";

static void write_files(void)
{
    setenv("AWS_SHARED_CREDENTIALS_FILE", aws_fx_write("credentials", creds_file_text), 1);
    setenv("AWS_CONFIG_FILE", aws_fx_write("config", config_file_text), 1);
}

TEST(aws_creds_shared_files_and_profiles)
{
    quiet();
    write_files();
    struct aws_creds_provider *p;
    struct err e = {0};
    ASSERT_OK(aws_creds_provider_new(NULL, &p, &e), e);
    expect_creds(p, "AKDEFAULT", "SKDEFAULT", "", "profile:default");
    aws_creds_provider_free(p);

    struct aws_creds_opts o = {.profile = "prod"};
    ASSERT_OK(aws_creds_provider_new(&o, &p, &e), e);
    expect_creds(p, "AKPROD", "SK/PROD+x", "TOKPROD", "profile:prod");
    aws_creds_provider_free(p);

    setenv("AWS_PROFILE", "staging", 1); /* only in the config file */
    ASSERT_OK(aws_creds_provider_new(NULL, &p, &e), e);
    expect_creds(p, "AKSTAGING", "SKSTAGING", "", "profile:staging");
    aws_creds_provider_free(p);

    /* Explicit file paths in opts win over the environment. */
    const char *c2 = aws_fx_write("c2", "[prod]\naws_access_key_id=A2\n"
                                        "aws_secret_access_key=S2\n");
    struct aws_creds_opts o2 = {.profile = "prod", .credentials_file = c2,
                                .config_file = "/nonexistent/config"};
    ASSERT_OK(aws_creds_provider_new(&o2, &p, &e), e);
    expect_creds(p, "A2", "S2", "", "profile:prod");
    aws_creds_provider_free(p);
}

TEST(aws_creds_profile_errors)
{
    quiet();
    write_files();
    struct aws_creds_provider *p = NULL;
    struct err e = {0};
    struct aws_creds_opts o = {.profile = "nosuch"};
    EXPECT_EQ_INT(aws_creds_provider_new(&o, &p, &e), -ENOENT);
    EXPECT_TRUE(p == NULL);
    EXPECT_CONTAINS(e.msg, "AWS profile nosuch not found in ");
    EXPECT_CONTAINS(e.msg, "/credentials or ");
    /* A profile that exists without keys (role_arn) goes on down the chain. */
    struct aws_creds_opts o2 = {.profile = "roleonly"};
    EXPECT_EQ_INT(aws_creds_provider_new(&o2, &p, &e), -ENOENT);
    EXPECT_CONTAINS(e.msg, "no AWS credentials: tried config, env, profile roleonly in ");
}

TEST(aws_creds_env_beats_files)
{
    quiet();
    write_files();
    setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
    setenv("AWS_PROFILE", "prod", 1);
    struct aws_creds_provider *p;
    struct err e = {0};
    ASSERT_OK(aws_creds_provider_new(NULL, &p, &e), e);
    expect_creds(p, "AKENV", "SKENV", "", "env");
    aws_creds_provider_free(p);
    /* Half an environment pair is no pair: the files are used. */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    ASSERT_OK(aws_creds_provider_new(NULL, &p, &e), e);
    expect_creds(p, "AKPROD", "SK/PROD+x", "TOKPROD", "profile:prod");
    aws_creds_provider_free(p);
}

TEST(aws_creds_nothing_found_says_what_was_tried)
{
    quiet();
    struct aws_creds_provider *p = NULL;
    struct err e = {0};
    EXPECT_EQ_INT(aws_creds_provider_new(NULL, &p, &e), -ENOENT);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    char want[512];
    snprintf(want, sizeof want,
             "no AWS credentials: tried config, env, profile default in %s/none-credentials and "
             "%s/none-config, ecs (not configured), imds (disabled)",
             t_tmpdir(), t_tmpdir());
    EXPECT_EQ_STR(e.msg, want);
    /* IMDS enabled but unreachable: the reason is in the text. */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", aws_fx_closed_port());
    struct aws_creds_opts o = {.imds_endpoint = url, .timeout_ms = 300};
    unsetenv("AWS_EC2_METADATA_DISABLED");
    EXPECT_EQ_INT(aws_creds_provider_new(&o, &p, &e), -ENOENT);
    EXPECT_CONTAINS(e.msg, "ecs (not configured), imds (imds http://127.0.0.1:");
}

/* ---- ECS ---------------------------------------------------------------- */

static char ecs_body[512];

static void ecs_body_set(long expires_in)
{
    char exp[32];
    iso_in(expires_in, exp);
    snprintf(ecs_body, sizeof ecs_body,
             "{\"AccessKeyId\":\"ASIAECS\",\"SecretAccessKey\":\"ecs/secret\","
             "\"Token\":\"ECSTOKEN\",\"Expiration\":\"%s\",\"RoleArn\":\"arn:x\"}", exp);
}

TEST(aws_creds_ecs_full_uri_with_token)
{
    quiet();
    struct fakehttp *f = fakehttp_start();
    ASSERT_TRUE(f);
    char uri[128];
    snprintf(uri, sizeof uri, "%s/v2/credentials/abc", fakehttp_url(f));
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic c2VjcmV0", 1);
    ecs_body_set(3600);
    fakehttp_push(f, 200, "Content-Type: application/json\r\n", ecs_body);
    struct aws_creds_provider *p;
    struct err e = {0};
    ASSERT_OK(aws_creds_provider_new(NULL, &p, &e), e);
    expect_creds(p, "ASIAECS", "ecs/secret", "ECSTOKEN", "ecs");
    struct aws_creds c;
    ASSERT_OK(aws_creds_get(p, &c, &e), e);
    EXPECT_GE_INT(c.expires - time(NULL), 3590);
    EXPECT_LE_INT(c.expires - time(NULL), 3600);
    ASSERT_TRUE(fakehttp_count(f) == 1); /* not due: no second fetch */
    const struct fakehttp_req *q = fakehttp_req_at(f, 0);
    EXPECT_EQ_STR(q->method, "GET");
    EXPECT_EQ_STR(q->path, "/v2/credentials/abc");
    EXPECT_EQ_STR(fakehttp_header(q, "authorization"), "Basic c2VjcmV0");
    aws_creds_provider_free(p);
    fakehttp_free(f);
}

TEST(aws_creds_ecs_relative_uri_and_token_file)
{
    quiet();
    struct fakehttp *f = fakehttp_start();
    ASSERT_TRUE(f);
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/rel", 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "from-variable", 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", aws_fx_write("ecs-token", "from-file\n"), 1);
    ecs_body_set(3600);
    fakehttp_push(f, 200, NULL, ecs_body);
    struct aws_creds_opts o = {.ecs_endpoint = fakehttp_url(f)};
    struct aws_creds_provider *p;
    struct err e = {0};
    ASSERT_OK(aws_creds_provider_new(&o, &p, &e), e);
    expect_creds(p, "ASIAECS", "ecs/secret", "ECSTOKEN", "ecs");
    const struct fakehttp_req *q = fakehttp_req_at(f, 0);
    ASSERT_TRUE(q);
    EXPECT_EQ_STR(q->path, "/v2/credentials/rel");
    EXPECT_EQ_STR(fakehttp_header(q, "authorization"), "from-file");
    aws_creds_provider_free(p);
    fakehttp_free(f);
}

TEST(aws_creds_ecs_failures)
{
    quiet();
    struct aws_creds_provider *p = NULL;
    struct err e = {0};
    /* Plain http to a non-loopback host is refused before any traffic. */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.11.12.13/creds", 1);
    EXPECT_EQ_INT(aws_creds_provider_new(NULL, &p, &e), -EINVAL);
    EXPECT_CONTAINS(e.msg, "must be https or a loopback host");
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1.evil.example/creds", 1);
    EXPECT_EQ_INT(aws_creds_provider_new(NULL, &p, &e), -EINVAL);
    /* A configured endpoint that fails is an error, not a fall-through. */
    struct fakehttp *f = fakehttp_start();
    ASSERT_TRUE(f);
    char uri[128];
    snprintf(uri, sizeof uri, "%s/creds", fakehttp_url(f));
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
    fakehttp_push(f, 403, NULL, "denied");
    EXPECT_EQ_INT(aws_creds_provider_new(NULL, &p, &e), -EIO);
    char want[256];
    snprintf(want, sizeof want, "ecs credentials from %s: HTTP 403", uri);
    EXPECT_EQ_STR(e.msg, want);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_TRUE(p == NULL);
    fakehttp_free(f);
}

/* ---- IMDSv2 ------------------------------------------------------------- */

struct imds {
    long expires_in;             /* Expiration = now + this */
    int fail;                    /* answer 500 to everything */
    int fetches;                 /* credential documents served */
    char body[512];
};

static void imds_handler(const struct fakehttp_req *q, struct fakehttp_reply *rep, void *arg)
{
    struct imds *m = arg;
    static const char role_path[] = "/latest/meta-data/iam/security-credentials/";
    const char *tok = fakehttp_header(q, "x-aws-ec2-metadata-token");
    rep->status = 200;
    rep->body_len = FAKEHTTP_STRLEN;
    if (m->fail) {
        rep->status = 500;
        rep->body = "boom";
    } else if (!strcmp(q->method, "PUT") && !strcmp(q->path, "/latest/api/token")) {
        const char *ttl = fakehttp_header(q, "x-aws-ec2-metadata-token-ttl-seconds");
        rep->status = ttl && !strcmp(ttl, "21600") ? 200 : 400;
        rep->body = "IMDSTOKEN-1";
    } else if (!tok || strcmp(tok, "IMDSTOKEN-1")) {
        rep->status = 401;
        rep->body = "";
    } else if (!strcmp(q->path, role_path)) {
        rep->body = "logfleet-role\n";
    } else if (!strncmp(q->path, role_path, sizeof role_path - 1) &&
               !strcmp(q->path + sizeof role_path - 1, "logfleet-role")) {
        char exp[32];
        iso_in(m->expires_in, exp);
        m->fetches++;
        snprintf(m->body, sizeof m->body,
                 "{\"Code\":\"Success\",\"LastUpdated\":\"2026-11-21T00:00:00Z\",\"Type\":"
                 "\"AWS-HMAC\",\"AccessKeyId\":\"ASIAIMDS%d\",\"SecretAccessKey\":\"imds/secret\","
                 "\"Token\":\"IMDSSESSION\",\"Expiration\":\"%s\"}", m->fetches, exp);
        rep->body = m->body;
    } else {
        rep->status = 404;
        rep->body = "";
    }
}

TEST(aws_creds_imdsv2_and_refresh)
{
    quiet();
    struct fakehttp *f = fakehttp_start();
    ASSERT_TRUE(f);
    struct imds m = {.expires_in = 10};
    fakehttp_set_handler(f, imds_handler, &m);
    struct aws_creds_opts o = {.imds_endpoint = fakehttp_url(f), .refresh_before_s = 300};
    unsetenv("AWS_EC2_METADATA_DISABLED");
    struct aws_creds_provider *p;
    struct err e = {0};
    ASSERT_OK(aws_creds_provider_new(&o, &p, &e), e);
    ASSERT_TRUE(fakehttp_count(f) == 3);
    const struct fakehttp_req *q0 = fakehttp_req_at(f, 0), *q1 = fakehttp_req_at(f, 1),
                              *q2 = fakehttp_req_at(f, 2);
    EXPECT_EQ_STR(q0->method, "PUT");
    EXPECT_EQ_STR(q0->path, "/latest/api/token");
    EXPECT_EQ_STR(fakehttp_header(q0, "X-aws-ec2-metadata-token-ttl-seconds"), "21600");
    EXPECT_EQ_STR(q1->method, "GET");
    EXPECT_EQ_STR(q1->path, "/latest/meta-data/iam/security-credentials/");
    EXPECT_EQ_STR(fakehttp_header(q1, "X-aws-ec2-metadata-token"), "IMDSTOKEN-1");
    EXPECT_EQ_STR(q2->path, "/latest/meta-data/iam/security-credentials/logfleet-role");
    EXPECT_EQ_STR(fakehttp_header(q2, "X-aws-ec2-metadata-token"), "IMDSTOKEN-1");
    EXPECT_EQ_INT(m.fetches, 1);
    /* Expiring within refresh_before_s: every get fetches again. */
    expect_creds(p, "ASIAIMDS2", "imds/secret", "IMDSSESSION", "imds");
    expect_creds(p, "ASIAIMDS3", "imds/secret", "IMDSSESSION", "imds");
    EXPECT_EQ_INT(m.fetches, 3);
    EXPECT_EQ_INT(fakehttp_count(f), 9);
    /* Fresh keys for an hour: no more fetches. */
    m.expires_in = 3600;
    expect_creds(p, "ASIAIMDS4", "imds/secret", "IMDSSESSION", "imds");
    expect_creds(p, "ASIAIMDS4", "imds/secret", "IMDSSESSION", "imds");
    EXPECT_EQ_INT(m.fetches, 4);
    aws_creds_provider_free(p);
    fakehttp_free(f);
}

TEST(aws_creds_refresh_failure_keeps_valid_keys)
{
    quiet();
    struct fakehttp *f = fakehttp_start();
    ASSERT_TRUE(f);
    struct imds m = {.expires_in = 2};
    fakehttp_set_handler(f, imds_handler, &m);
    struct aws_creds_opts o = {.imds_endpoint = fakehttp_url(f), .refresh_before_s = 300,
                               .timeout_ms = 500};
    unsetenv("AWS_EC2_METADATA_DISABLED");
    struct aws_creds_provider *p;
    struct err e = {0};
    ASSERT_OK(aws_creds_provider_new(&o, &p, &e), e);
    m.fail = 1;
    /* Refresh fails, the old keys are still valid for ~2 s: keep them. */
    expect_creds(p, "ASIAIMDS1", "imds/secret", "IMDSSESSION", "imds");
    size_t n = fakehttp_count(f);
    EXPECT_GE_INT(n, 4);
    /* Within the back-off after a failure, no new attempt. */
    expect_creds(p, "ASIAIMDS1", "imds/secret", "IMDSSESSION", "imds");
    EXPECT_EQ_INT(fakehttp_count(f), n);
    sleep(3);
    /* Expired and the source still fails: an error, RETRY class. */
    struct aws_creds c;
    EXPECT_NE_INT(aws_creds_get(p, &c, &e), 0);
    EXPECT_EQ_INT(e.cls, ERR_RETRY);
    EXPECT_CONTAINS(e.msg, "imds");
    /* The source recovers: fresh keys. */
    m.fail = 0;
    m.expires_in = 3600;
    expect_creds(p, "ASIAIMDS2", "imds/secret", "IMDSSESSION", "imds");
    aws_creds_provider_free(p);
    fakehttp_free(f);
}

TEST(aws_creds_imds_disabled_by_env_and_opts)
{
    quiet();
    struct fakehttp *f = fakehttp_start();
    ASSERT_TRUE(f);
    struct imds m = {.expires_in = 3600};
    fakehttp_set_handler(f, imds_handler, &m);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fakehttp_url(f), 1);
    struct aws_creds_provider *p = NULL;
    struct err e = {0};
    EXPECT_EQ_INT(aws_creds_provider_new(NULL, &p, &e), -ENOENT); /* env says disabled */
    setenv("AWS_EC2_METADATA_DISABLED", "false", 1);
    struct aws_creds_opts off = {.imds_disabled = 1};
    EXPECT_EQ_INT(aws_creds_provider_new(&off, &p, &e), -ENOENT);
    EXPECT_CONTAINS(e.msg, "imds (disabled)");
    EXPECT_EQ_INT(fakehttp_count(f), 0);
    /* Endpoint from the environment. */
    ASSERT_OK(aws_creds_provider_new(NULL, &p, &e), e);
    expect_creds(p, "ASIAIMDS1", "imds/secret", "IMDSSESSION", "imds");
    EXPECT_EQ_INT(fakehttp_count(f), 3);
    aws_creds_provider_free(p);
    fakehttp_free(f);
}

/* ---- threads: one client each, one shared provider ---------------------- */

struct worker {
    struct aws_creds_provider *p;
    const char *url;
    int ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct err e = {0};
    struct aws_client *c;
    struct aws_client_opts o = {.service = "s3", .region = "us-east-1", .endpoint = w->url,
                                .creds = w->p, .max_attempts = 1};
    if (aws_client_new(&o, &c, &e)) return NULL;
    struct aws_resp r;
    aws_resp_init(&r);
    struct aws_req get = {.method = "GET", .path = "/b/obj", .idempotent = 1};
    for (int i = 0; i < 10; i++) w->ok += aws_request(c, &get, &r, &e) == 0 && r.status == 200;
    aws_resp_free(&r);
    aws_client_free(c);
    return NULL;
}

/* Serves IMDS (keys that are always due for refresh) and GET /b/obj, which
 * must carry the session token of some IMDS answer. */
static void mixed_handler(const struct fakehttp_req *q, struct fakehttp_reply *rep, void *arg)
{
    if (strcmp(q->path, "/b/obj")) {
        imds_handler(q, rep, arg);
        return;
    }
    const char *tok = fakehttp_header(q, "x-amz-security-token");
    const char *auth = fakehttp_header(q, "authorization");
    int good = tok && !strcmp(tok, "IMDSSESSION") && auth &&
               strstr(auth, "Credential=ASIAIMDS");
    rep->status = good ? 200 : 403;
    rep->body = good ? "obj" : "<Error><Code>AccessDenied</Code></Error>";
    rep->body_len = FAKEHTTP_STRLEN;
}

TEST(aws_creds_shared_provider_across_threads)
{
    quiet();
    struct fakehttp *f = fakehttp_start();
    ASSERT_TRUE(f);
    struct imds m = {.expires_in = 10};
    fakehttp_set_handler(f, mixed_handler, &m);
    unsetenv("AWS_EC2_METADATA_DISABLED");
    struct aws_creds_opts o = {.imds_endpoint = fakehttp_url(f), .refresh_before_s = 300};
    struct aws_creds_provider *p;
    struct err e = {0};
    ASSERT_OK(aws_creds_provider_new(&o, &p, &e), e);
    struct worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){p, fakehttp_url(f), 0};
        ASSERT_TRUE(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) EXPECT_EQ_INT(w[i].ok, 10);
    EXPECT_EQ_INT(m.fetches, 41); /* one at start, then one per request */
    aws_creds_provider_free(p);
    fakehttp_free(f);
}
