/* t_httpd.c — the ops endpoint over real loopback HTTP (libcurl). */
#include "common/buf.h"
#include "common/httpd.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "tests/t.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

struct fetch {
    long status;
    char body[4096];
    size_t len;
    char ctype[128];
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    struct fetch *f = ud;
    size_t k = sz * n, room = sizeof f->body - 1 - f->len;
    memcpy(f->body + f->len, p, k < room ? k : room);
    f->len += k < room ? k : room;
    f->body[f->len] = 0;
    return k;
}

/* Fetches http://127.0.0.1:port/path; returns the curl code. */
static int fetch(int port, const char *method, const char *path, struct fetch *f)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    memset(f, 0, sizeof *f);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) strlcpy_(f->ctype, ct, sizeof f->ctype);
    curl_easy_cleanup(c);
    return (int)rc;
}

static int not_ready_cb(void *arg, char *reason, size_t n)
{
    snprintf(reason, n, "%s", (const char *)arg);
    return 0;
}

static int ready_cb(void *arg, char *reason, size_t n)
{
    (void)arg, (void)reason, (void)n;
    return 1;
}

TEST(httpd_serves_health_ready_and_metrics)
{
    struct metrics_counter *c = metrics_counter("logfleet_test_total", "A test counter.", "k=v");
    metrics_counter_add(c, 42);
    struct httpd *h;
    struct err e = {0};
    struct httpd_opts o = {"127.0.0.1:0"};
    ASSERT_OK(httpd_new(&o, &h, &e), e);
    int port = httpd_port(h);
    EXPECT_TRUE(port > 0 && port < 65536);
    struct fetch f;

    ASSERT_TRUE(fetch(port, "GET", "/healthz", &f) == 0);
    EXPECT_EQ_INT(f.status, 200);
    EXPECT_EQ_STR(f.body, "ok\n");

    ASSERT_TRUE(fetch(port, "GET", "/readyz", &f) == 0);
    EXPECT_EQ_INT(f.status, 503);
    EXPECT_EQ_STR(f.body, "not ready: starting\n");
    httpd_set_ready(h, 0, "no leases yet");
    fetch(port, "GET", "/readyz", &f);
    EXPECT_EQ_INT(f.status, 503);
    EXPECT_EQ_STR(f.body, "not ready: no leases yet\n");
    httpd_set_ready(h, 1, NULL);
    fetch(port, "GET", "/readyz", &f);
    EXPECT_EQ_INT(f.status, 200);
    EXPECT_EQ_STR(f.body, "ready\n");
    /* A callback overrides the flag; removing it restores the flag. */
    httpd_set_ready_fn(h, not_ready_cb, "draining");
    fetch(port, "GET", "/readyz", &f);
    EXPECT_EQ_INT(f.status, 503);
    EXPECT_EQ_STR(f.body, "not ready: draining\n");
    httpd_set_ready_fn(h, ready_cb, NULL);
    fetch(port, "GET", "/readyz", &f);
    EXPECT_EQ_INT(f.status, 200);
    httpd_set_ready(h, 0, "stopping");
    httpd_set_ready_fn(h, NULL, NULL);
    fetch(port, "GET", "/readyz", &f);
    EXPECT_EQ_STR(f.body, "not ready: stopping\n");

    ASSERT_TRUE(fetch(port, "GET", "/metrics", &f) == 0);
    EXPECT_EQ_INT(f.status, 200);
    EXPECT_EQ_STR(f.ctype, "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ_STR(f.body, "# HELP logfleet_test_total A test counter.\n"
                          "# TYPE logfleet_test_total counter\n"
                          "logfleet_test_total{k=\"v\"} 42\n");

    fetch(port, "GET", "/nope", &f);
    EXPECT_EQ_INT(f.status, 404);
    fetch(port, "GET", "/healthz/x", &f);
    EXPECT_EQ_INT(f.status, 404);
    fetch(port, "POST", "/healthz", &f);
    EXPECT_EQ_INT(f.status, 405);
    EXPECT_EQ_INT(fetch(port, "HEAD", "/healthz", &f), 0);
    EXPECT_EQ_INT(f.status, 200);

    httpd_free(h);
    /* The socket is closed: nothing listens there any more. */
    EXPECT_NE_INT(fetch(port, "GET", "/healthz", &f), 0);
    httpd_free(NULL);
}

TEST(httpd_bind_errors_and_address_parsing)
{
    struct httpd *h1, *h2;
    struct err e = {0};
    struct httpd_opts o = {"127.0.0.1:0"};
    ASSERT_OK(httpd_new(&o, &h1, &e), e);
    char busy[64];
    snprintf(busy, sizeof busy, "127.0.0.1:%d", httpd_port(h1));
    struct httpd_opts o2 = {busy};
    EXPECT_EQ_INT(httpd_new(&o2, &h2, &e), -EADDRINUSE);
    EXPECT_TRUE(h2 == NULL);
    EXPECT_EQ_STR(err_class_name(e.cls), "retry");
    EXPECT_CONTAINS(e.msg, "cannot listen on 127.0.0.1:");
    httpd_free(h1);

    const char *bad[] = {"", "127.0.0.1", "127.0.0.1:", "localhost:80", "127.0.0.1:65536",
                         "127.0.0.1:80x", "::1:80", "[::1:80", "1.2.3:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct httpd_opts ob = {bad[i]};
        h2 = (struct httpd *)&e;
        EXPECT_EQ_INT(httpd_new(&ob, &h2, &e), -EINVAL);
        EXPECT_TRUE(h2 == NULL);
    }
    struct sockaddr_storage ss;
    socklen_t len;
    ASSERT_OK(httpd_parse_listen("[::1]:9400", &ss, &len, &e), e);
    EXPECT_EQ_INT(ss.ss_family, AF_INET6);
    EXPECT_EQ_INT(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 9400);
    ASSERT_OK(httpd_parse_listen(HTTPD_DEFAULT_LISTEN, &ss, &len, &e), e);
    EXPECT_EQ_INT(ss.ss_family, AF_INET);
    EXPECT_EQ_INT(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), 0x7f000001);
    EXPECT_EQ_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9400);
}
