/* t_metrics.c — registry rules and the exact Prometheus text. */
#include "common/buf.h"
#include "common/metrics.h"
#include "tests/t.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>

static char *render(void)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    EXPECT_EQ_INT(metrics_render(&b), 0);
    return buf_steal(&b, NULL);
}

TEST(metrics_render_exact_text)
{
    const char *dl_help = "Records sent to the dead-letter prefix.";
    struct metrics_counter *a = metrics_counter("logfleet_dead_letters_total", dl_help, "reason=not_json");
    struct metrics_counter *b = metrics_counter("logfleet_dead_letters_total", dl_help, "reason=unknown_type");
    struct metrics_gauge *g = metrics_gauge("logfleet_leases_held", "Leases this worker holds.", NULL);
    static const double up_b[] = {0.05, 0.1, 0.5, 1};
    struct metrics_histogram *h = metrics_histogram("logfleet_upload_seconds", "S3 upload latency.",
                                                    "backend=s3", up_b, 4);
    static const double small_b[] = {1, 2};
    struct metrics_histogram *h2 = metrics_histogram("a_small", "Bounds are inclusive.", NULL, small_b, 2);
    ASSERT_TRUE(a && b && g && h && h2);
    metrics_counter_add(a, 3);
    metrics_counter_inc(b);
    metrics_gauge_set(g, 7);
    metrics_gauge_add(g, -0.5);
    metrics_histogram_observe(h, 0.25);
    metrics_histogram_observe(h, 0.0625);
    metrics_histogram_observe(h, 0.5);
    metrics_histogram_observe(h, 3);
    metrics_histogram_observe(h2, 1);
    metrics_histogram_observe(h2, 2.5);
    char *got = render();
    EXPECT_EQ_STR(got,
                  "# HELP a_small Bounds are inclusive.\n"
                  "# TYPE a_small histogram\n"
                  "a_small_bucket{le=\"1\"} 1\n"
                  "a_small_bucket{le=\"2\"} 1\n"
                  "a_small_bucket{le=\"+Inf\"} 2\n"
                  "a_small_sum 3.5\n"
                  "a_small_count 2\n"
                  "# HELP logfleet_dead_letters_total Records sent to the dead-letter prefix.\n"
                  "# TYPE logfleet_dead_letters_total counter\n"
                  "logfleet_dead_letters_total{reason=\"not_json\"} 3\n"
                  "logfleet_dead_letters_total{reason=\"unknown_type\"} 1\n"
                  "# HELP logfleet_leases_held Leases this worker holds.\n"
                  "# TYPE logfleet_leases_held gauge\n"
                  "logfleet_leases_held 6.5\n"
                  "# HELP logfleet_upload_seconds S3 upload latency.\n"
                  "# TYPE logfleet_upload_seconds histogram\n"
                  "logfleet_upload_seconds_bucket{backend=\"s3\",le=\"0.05\"} 0\n"
                  "logfleet_upload_seconds_bucket{backend=\"s3\",le=\"0.1\"} 1\n"
                  "logfleet_upload_seconds_bucket{backend=\"s3\",le=\"0.5\"} 3\n"
                  "logfleet_upload_seconds_bucket{backend=\"s3\",le=\"1\"} 3\n"
                  "logfleet_upload_seconds_bucket{backend=\"s3\",le=\"+Inf\"} 4\n"
                  "logfleet_upload_seconds_sum{backend=\"s3\"} 3.8125\n"
                  "logfleet_upload_seconds_count{backend=\"s3\"} 4\n");
    free(got);
    metrics_reset();
    got = render();
    EXPECT_EQ_STR(got, "");
    free(got);
}

TEST(metrics_registration_is_idempotent_and_label_order_free)
{
    struct metrics_counter *a = metrics_counter("x_total", "X.", "type=login,reason=not_json");
    struct metrics_counter *b = metrics_counter("x_total", "X.", "reason=not_json,type=login");
    struct metrics_counter *c = metrics_counter("x_total", "X.", "reason=too_large,type=login");
    ASSERT_TRUE(a != NULL && c != NULL);
    EXPECT_TRUE(a == b);
    EXPECT_TRUE(a != c);
    EXPECT_TRUE(metrics_counter("x_total", "X.", NULL) != a);
    EXPECT_TRUE(metrics_counter("x_total", "X.", "") == metrics_counter("x_total", "X.", NULL));
    metrics_counter_inc(a);
    metrics_counter_inc(b);
    EXPECT_EQ_INT(metrics_counter_get(a), 2);
    char *got = render();
    EXPECT_EQ_STR(got, "# HELP x_total X.\n# TYPE x_total counter\n"
                       "x_total 0\n"
                       "x_total{reason=\"not_json\",type=\"login\"} 2\n"
                       "x_total{reason=\"too_large\",type=\"login\"} 0\n");
    free(got);
}

TEST(metrics_rejects_invalid_and_conflicting_registrations)
{
    static const double bk[] = {1, 2}, other[] = {1, 3}, unsorted[] = {2, 1};
    double inf[] = {1, INFINITY};
    EXPECT_TRUE(metrics_name_valid("logfleet_x:y_1"));
    EXPECT_TRUE(metrics_name_valid(":a"));
    EXPECT_TRUE(!metrics_name_valid("1abc"));
    EXPECT_TRUE(!metrics_name_valid("a-b"));
    EXPECT_TRUE(!metrics_name_valid(""));
    EXPECT_TRUE(!metrics_name_valid(NULL));
    EXPECT_TRUE(metrics_counter("bad name", "h", NULL) == NULL);
    EXPECT_TRUE(metrics_counter("ok_total", NULL, NULL) == NULL);
    EXPECT_TRUE(metrics_counter("ok_total", "h", "noequals") == NULL);
    EXPECT_TRUE(metrics_counter("ok_total", "h", "1x=a") == NULL);
    EXPECT_TRUE(metrics_counter("ok_total", "h", "__x=a") == NULL);
    EXPECT_TRUE(metrics_counter("ok_total", "h", "a:b=a") == NULL);
    EXPECT_TRUE(metrics_counter("ok_total", "h", "a=1,a=2") == NULL);
    EXPECT_TRUE(metrics_counter("ok_total", "h", "a=1") != NULL);
    EXPECT_TRUE(metrics_gauge("ok_total", "h", NULL) == NULL);           /* kind clash */
    EXPECT_TRUE(metrics_counter("ok_total", "other help", NULL) == NULL); /* help clash */
    EXPECT_TRUE(metrics_histogram("lat", "h", "le=x", bk, 2) == NULL);
    EXPECT_TRUE(metrics_histogram("lat", "h", NULL, unsorted, 2) == NULL);
    EXPECT_TRUE(metrics_histogram("lat", "h", NULL, inf, 2) == NULL);
    EXPECT_TRUE(metrics_histogram("lat", "h", NULL, bk, 0) == NULL);
    EXPECT_TRUE(metrics_histogram("lat", "h", "a=1", bk, 2) != NULL);
    EXPECT_TRUE(metrics_histogram("lat", "h", "a=2", other, 2) == NULL); /* bucket clash */
    EXPECT_TRUE(metrics_counter("lat_count", "h", NULL) == NULL);        /* suffix clash */
    EXPECT_TRUE(metrics_gauge("lat_bucket", "h", NULL) == NULL);
    /* The verbs take NULL as a no-op. */
    metrics_counter_inc(NULL);
    metrics_counter_add(NULL, 5);
    metrics_gauge_set(NULL, 1);
    metrics_gauge_add(NULL, 1);
    metrics_histogram_observe(NULL, 1);
    EXPECT_EQ_INT(metrics_counter_get(NULL), 0);
    char *got = render();
    EXPECT_EQ_STR(got, "# HELP lat h\n# TYPE lat histogram\n"
                       "lat_bucket{a=\"1\",le=\"1\"} 0\n"
                       "lat_bucket{a=\"1\",le=\"2\"} 0\n"
                       "lat_bucket{a=\"1\",le=\"+Inf\"} 0\n"
                       "lat_sum{a=\"1\"} 0\n"
                       "lat_count{a=\"1\"} 0\n"
                       "# HELP ok_total h\n# TYPE ok_total counter\n"
                       "ok_total{a=\"1\"} 0\n");
    free(got);
}

TEST(metrics_escapes_help_and_label_values_and_formats_floats)
{
    struct metrics_gauge *g = metrics_gauge("g", "line one\nback\\slash \"q\"", "path=C:\\x\"y\"");
    ASSERT_TRUE(g != NULL);
    metrics_gauge_set(g, 0.1);
    char *got = render();
    EXPECT_EQ_STR(got, "# HELP g line one\\nback\\\\slash \"q\"\n# TYPE g gauge\n"
                       "g{path=\"C:\\\\x\\\"y\\\"\"} 0.1\n");
    free(got);
    struct { double v; const char *want; } cases[] = {
        {1e6, "g{path=\"C:\\\\x\\\"y\\\"\"} 1000000\n"},
        {1e21, "} 1e+21\n"},
        {-2.5, "} -2.5\n"},
        {1.0 / 3, "} 0.3333333333333333\n"},
        {INFINITY, "} +Inf\n"},
        {-INFINITY, "} -Inf\n"},
        {NAN, "} NaN\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        metrics_gauge_set(g, cases[i].v);
        got = render();
        EXPECT_CONTAINS(got, cases[i].want);
        free(got);
    }
}

TEST(metrics_render_respects_buffer_max)
{
    metrics_counter_inc(metrics_counter("c_total", "A counter with a long enough help text.", NULL));
    struct buf b;
    buf_init(&b, 32);
    EXPECT_EQ_INT(metrics_render(&b), -E2BIG);
    EXPECT_LE_INT(b.len, 32);
    buf_free(&b);
}

#define THREADS 4
#define PER_THREAD 100000

static void *hammer(void *arg)
{
    (void)arg;
    static const double bk[] = {0.5, 1.5};
    /* Each thread registers for itself: all must get the same series. */
    struct metrics_counter *c = metrics_counter("hits_total", "Hits.", "src=test");
    struct metrics_gauge *g = metrics_gauge("inflight", "In flight.", NULL);
    struct metrics_histogram *h = metrics_histogram("sizes", "Sizes.", NULL, bk, 2);
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_counter_inc(c);
        metrics_gauge_add(g, 1);
        metrics_histogram_observe(h, i % 3);   /* 0, 1, 2 */
    }
    return c;
}

TEST(metrics_concurrent_updates_are_exact)
{
    pthread_t t[THREADS];
    void *ret[THREADS];
    for (int i = 0; i < THREADS; i++) ASSERT_TRUE(pthread_create(&t[i], NULL, hammer, NULL) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], &ret[i]);
    for (int i = 1; i < THREADS; i++) EXPECT_TRUE(ret[i] == ret[0]);
    EXPECT_EQ_INT(metrics_counter_get(ret[0]), THREADS * PER_THREAD);
    /* Per thread: 33334 zeros, 33333 ones, 33333 twos; sum 99999. */
    char *got = render();
    EXPECT_EQ_STR(got, "# HELP hits_total Hits.\n# TYPE hits_total counter\n"
                       "hits_total{src=\"test\"} 400000\n"
                       "# HELP inflight In flight.\n# TYPE inflight gauge\n"
                       "inflight 400000\n"
                       "# HELP sizes Sizes.\n# TYPE sizes histogram\n"
                       "sizes_bucket{le=\"0.5\"} 133336\n"
                       "sizes_bucket{le=\"1.5\"} 266668\n"
                       "sizes_bucket{le=\"+Inf\"} 400000\n"
                       "sizes_sum 399996\n"
                       "sizes_count 400000\n");
    free(got);
}
