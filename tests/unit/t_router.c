/* t_router.c — the router's pure parts: the lineage splice, object keys,
 * routing decisions for every reason, dead-letter lines, the safe-checkpoint
 * tracker, the restart skip index and the staged gzip buffer. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/safe.h"
#include "common/buf.h"
#include "common/config.h"
#include "sinks/buffer.h"
#include "sinks/deadletter.h"
#include "sinks/gz.h"
#include "sinks/keys.h"
#include "sinks/ledger.h"
#include "worker/router_route.h"
#include "tests/t.h"

#define ARRIVAL INT64_C(1795392000000) /* 2026-11-23T00:00:00Z */

#define CONF                                                                           \
    "coord = { dsn = \"host=/tmp dbname=c\"; };\n"                                     \
    "s3 = { bucket = \"logs\"; };\n"                                                   \
    "kinesis = { stream = \"s\"; };\n"                                                 \
    "router = { max_record_bytes = 4096; max_depth = 8; retention_days = 2;"           \
    " future_skew_s = 3600; };\n"                                                      \
    "types = ( { name = \"login\"; columns = [\"ts:timestamp:required\","              \
    " \"player_id:varchar(32):required\", \"level:int\", \"xp:bigint\","               \
    " \"score:double\", \"vip:boolean\", \"extra:text\"]; },\n"                        \
    " { name = \"chat\"; } );\n"

struct fix {
    struct lf_config c;
    struct router_rules *rules;
    struct router_scratch *s;
};

static void fix_open(struct fix *f)
{
    struct err e = {0};
    ASSERT_OK(config_load_string(CONF, "t.conf", &f->c, &e), e);
    ASSERT_OK(router_rules_new(&f->c, &f->rules, &e), e);
    f->s = router_scratch_new(f->rules);
}

static void fix_close(struct fix *f)
{
    router_scratch_free(f->s);
    router_rules_free(f->rules);
    config_free(&f->c);
}

static struct router_route route(struct fix *f, const char *rec)
{
    struct router_route rt;
    router_route(f->rules, f->s, rec, strlen(rec), ARRIVAL, &rt);
    return rt;
}

static char *splice(const char *rec, const char *shard, const char *seq, int64_t sub,
                    int64_t arrival)
{
    struct fix f;
    fix_open(&f);
    struct router_route rt = route(&f, rec);
    struct buf sh, out;
    buf_init(&sh, 256);
    buf_init(&out, 1 << 16);
    router_json_escape(&sh, shard, strlen(shard));
    struct router_lineage l = {sh.data, sh.len, seq, sub, arrival, 0};
    EXPECT_EQ_INT(rt.reason, ROUTER_OK);
    EXPECT_EQ_INT(router_splice(&out, rec, strlen(rec), &rt, &l), 0);
    buf_free(&sh);
    fix_close(&f);
    return buf_steal(&out, NULL);
}

TEST(router_splice_lineage_exact)
{
    char *s = splice("{\"type\":\"chat\",\"a\":1}", "shardId-000000000001", "4959", 2, 1795392000123);
    EXPECT_EQ_STR(s, "{\"type\":\"chat\",\"a\":1,\"_shard\":\"shardId-000000000001\",\"_seq\":\"4959\","
                     "\"_subseq\":2,\"_arrival\":1795392000123}\n");
    free(s);
    /* whitespace around the object; the trailing part is dropped, inner newlines become spaces */
    s = splice("  {\"type\" :\n\"chat\" ,\r\n\"b\":[1, 2] }  \n", "s-0", "1", 0, 5);
    EXPECT_EQ_STR(s, "  {\"type\" : \"chat\" ,  \"b\":[1, 2] ,\"_shard\":\"s-0\",\"_seq\":\"1\","
                     "\"_subseq\":0,\"_arrival\":5}\n");
    free(s);
    /* a shard id that needs JSON escaping */
    s = splice("{\"type\":\"chat\"}", "we\"ird\\", "77", 3, 9);
    EXPECT_EQ_STR(s, "{\"type\":\"chat\",\"_shard\":\"we\\\"ird\\\\\",\"_seq\":\"77\",\"_subseq\":3,"
                     "\"_arrival\":9}\n");
    free(s);
}

TEST(router_splice_numbers_exact)
{
    static const int64_t v[] = {0, 9, 10, 99, 100, 101, 999, 1000, 12345, 1795392000123,
                                -1, -10, -100, -1795392000123, INT64_MAX, INT64_MIN};
    struct router_route rt = {.reason = ROUTER_OK, .close_off = 1, .empty = 1};
    struct buf out;
    buf_init(&out, 1024);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct router_lineage l = {"s", 1, "1", v[i], v[sizeof v / sizeof v[0] - 1 - i], 1};
        char want[256];
        snprintf(want, sizeof want, "{\"_shard\":\"s\",\"_seq\":\"1\",\"_subseq\":%" PRId64
                 ",\"_arrival\":%" PRId64 "}\n", l.subseq, l.arrival_ms);
        buf_reset(&out);
        EXPECT_EQ_INT(router_splice(&out, "{}", 2, &rt, &l), 0);
        EXPECT_EQ_STR(out.data, want);
    }
    buf_free(&out);
}

TEST(router_splice_empty_object_has_no_leading_comma)
{
    struct router_route rt = {.reason = ROUTER_OK, .close_off = 1, .empty = 1};
    struct router_lineage l = {"s", 1, "12", 0, 3, 0};
    struct buf out;
    buf_init(&out, 1024);
    EXPECT_EQ_INT(router_splice(&out, "{}", 2, &rt, &l), 0);
    EXPECT_EQ_STR(out.data, "{\"_shard\":\"s\",\"_seq\":\"12\",\"_subseq\":0,\"_arrival\":3}\n");
    /* the same bytes through the scanner say empty = 1 */
    struct fix f;
    fix_open(&f);
    struct router_route r2 = route(&f, "{ }");
    EXPECT_EQ_INT(r2.reason, ROUTER_NO_TYPE); /* {} has no type: a dead letter, never spliced */
    fix_close(&f);
    buf_free(&out);
}

TEST(router_keys_object_and_dead_letter)
{
    struct buf k;
    buf_init(&k, 1024);
    int32_t day = keys_day_of_ms(ARRIVAL + 5 * 3600000 + 1);
    struct keys_object o = {.s3_prefix = "prod/", .prefix = "objects/", .type = "login",
                            .first_event_ms = ARRIVAL + 5 * 3600000 + 1, .day = day,
                            .shard = "shardId-000000000007", .first_seq = "49590338", .first_sub = 3};
    EXPECT_EQ_INT(keys_object(&k, &o), 0);
    EXPECT_EQ_STR(k.data, "prod/objects/login/2026/11/23/05/shardId-000000000007-49590338-3.json.gz");
    o.attempt = 2;
    keys_object(&k, &o);
    EXPECT_EQ_STR(k.data, "prod/objects/login/2026/11/23/05/shardId-000000000007-49590338-3-r2.json.gz");
    struct keys_object d = {.s3_prefix = "", .prefix = "dead/", .day = keys_day_of_ms(ARRIVAL - 1),
                            .first_event_ms = ARRIVAL - 1, .shard = "topic/0 x", .first_seq = "5"};
    keys_object(&k, &d);
    EXPECT_EQ_STR(k.data, "dead/2026/11/22/topic~2F0~20x-5-0.json.gz");
    buf_free(&k);
}

TEST(router_keys_calendar)
{
    char t[11];
    keys_day_text(0, t);
    EXPECT_EQ_STR(t, "1970-01-01");
    keys_day_text(keys_day_of_ms(ARRIVAL), t);
    EXPECT_EQ_STR(t, "2026-11-23");
    keys_day_text(keys_day_of_ms(-1), t);
    EXPECT_EQ_STR(t, "1969-12-31");
    keys_day_text(keys_day_of_ms(INT64_C(951782400000)), t); /* 2000-02-29 */
    EXPECT_EQ_STR(t, "2000-02-29");
    int32_t d;
    EXPECT_EQ_INT(keys_day_parse("2000-02-29", &d), 0);
    EXPECT_EQ_INT(d, keys_day_of_ms(INT64_C(951782400000)));
    EXPECT_EQ_INT(keys_day_parse("2026-13-01", &d), -1);
    EXPECT_EQ_INT(keys_day_parse("2026-1-01", &d), -1);
    EXPECT_EQ_INT(keys_hour_of_ms(ARRIVAL - 1), 23);
    EXPECT_EQ_INT(keys_hour_of_ms(-1), 23);
}

struct want_reason {
    const char *rec;
    int reason;
};

TEST(router_route_reasons)
{
    static const struct want_reason cases[] = {
        {"{\"type\":\"chat\",\"ts\":\"2026-11-22T10:00:00Z\"}", ROUTER_OK},
        {"{\"type\":\"chat\"}", ROUTER_OK}, /* no time: arrival */
        {"{\"type\":\"chat\",\"ts\":null}", ROUTER_OK},
        {"not json", ROUTER_NOT_JSON},
        {"", ROUTER_NOT_JSON},
        {"   ", ROUTER_NOT_JSON},
        {"\xf3\x89\x9a\xc2\x0a\x03" "abc", ROUTER_NOT_JSON}, /* a KPL aggregate's magic */
        {"\x01{}", ROUTER_NOT_JSON},
        {"[1,2]", ROUTER_NOT_OBJECT},
        {"\"type\"", ROUTER_NOT_OBJECT},
        {"{\"type\":\"chat\",\"x\":\"\xc0\xaf\"}", ROUTER_BAD_UTF8},
        {"{\"type\":\"chat\",\"x\":\"\\q\"}", ROUTER_BAD_ESCAPE},
        {"{\"type\":\"chat\",\"x\":\"\\u0000\"}", ROUTER_NUL_BYTE},
        {"{\"type\":\"chat\",\"x\":1e999}", ROUTER_NUMBER_RANGE},
        {"{\"type\":\"chat\",\"x\":[[[[[[[[1]]]]]]]]}", ROUTER_TOO_DEEP},
        {"{\"type\":\"chat\"} x", ROUTER_TRAILING_DATA},
        {"{\"type\":\"chat\"", ROUTER_TRUNCATED},
        {"{\"ts\":1}", ROUTER_NO_TYPE},
        {"{\"type\":null}", ROUTER_NO_TYPE},
        {"{\"type\":7}", ROUTER_BAD_TYPE_NAME},
        {"{\"type\":\"login; DROP TABLE x\"}", ROUTER_BAD_TYPE_NAME},
        {"{\"type\":\"Login\"}", ROUTER_BAD_TYPE_NAME},
        {"{\"type\":\"\"}", ROUTER_BAD_TYPE_NAME},
        {"{\"type\":\"purchase\"}", ROUTER_UNKNOWN_TYPE},
        {"{\"type\":\"chat\",\"ts\":\"yesterday\"}", ROUTER_BAD_TIME},
        {"{\"type\":\"chat\",\"ts\":\"2026-11-20T23:59:59Z\"}", ROUTER_OUT_OF_WINDOW},
        {"{\"type\":\"chat\",\"ts\":\"2026-11-23T01:00:01Z\"}", ROUTER_OUT_OF_WINDOW},
        {"{\"type\":\"chat\",\"ts\":\"2026-11-23T01:00:00Z\"}", ROUTER_OK},
        {"{\"type\":\"login\",\"ts\":\"2026-11-22T01:00:00Z\",\"player_id\":\"p\"}", ROUTER_OK},
        {"{\"type\":\"login\",\"ts\":1795300000,\"player_id\":\"p\",\"level\":3,\"xp\":9007199254740993,"
         "\"score\":1.5e3,\"vip\":true,\"extra\":{\"a\":[1]}}", ROUTER_OK},
        {"{\"type\":\"login\",\"player_id\":\"p\"}", ROUTER_SCHEMA_MISMATCH}, /* ts required */
        {"{\"type\":\"login\",\"ts\":\"2026-11-22T01:00:00Z\"}", ROUTER_SCHEMA_MISMATCH},
        {"{\"type\":\"login\",\"ts\":\"2026-11-22T01:00:00Z\",\"player_id\":null}", ROUTER_SCHEMA_MISMATCH},
        {"{\"type\":\"login\",\"ts\":\"2026-11-22T01:00:00Z\",\"player_id\":5}", ROUTER_SCHEMA_MISMATCH},
        {"{\"type\":\"login\",\"ts\":\"2026-11-22T01:00:00Z\",\"player_id\":\"p\",\"level\":1.5}",
         ROUTER_SCHEMA_MISMATCH},
        {"{\"type\":\"login\",\"ts\":\"2026-11-22T01:00:00Z\",\"player_id\":\"p\",\"level\":3000000000}",
         ROUTER_SCHEMA_MISMATCH},
        {"{\"type\":\"login\",\"ts\":\"2026-11-22T01:00:00Z\",\"player_id\":\"p\",\"score\":\"1\"}",
         ROUTER_SCHEMA_MISMATCH},
        {"{\"type\":\"login\",\"ts\":\"2026-11-22T01:00:00Z\",\"player_id\":\"p\",\"vip\":1}",
         ROUTER_SCHEMA_MISMATCH},
        {"{\"type\":\"login\",\"ts\":\"2026-11-22T01:00:00Z\",\"player_id\":\"p\",\"level\":null}",
         ROUTER_OK},
    };
    struct fix f;
    fix_open(&f);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct router_route rt = route(&f, cases[i].rec);
        if (rt.reason != cases[i].reason)
            fprintf(stderr, "  case %zu: %s\n", i, cases[i].rec);
        EXPECT_EQ_STR(router_reason_name(rt.reason), router_reason_name(cases[i].reason));
        if (rt.reason) {
            EXPECT_EQ_INT(rt.type, -1);
            EXPECT_EQ_INT(rt.day, keys_day_of_ms(ARRIVAL)); /* dead letters: arrival day */
        }
    }
    /* larger than max_record_bytes */
    char big[5000];
    memset(big, ' ', sizeof big);
    memcpy(big, "{\"type\":\"chat\"}", 15);
    struct router_route rt;
    router_route(f.rules, f.s, big, sizeof big, ARRIVAL, &rt);
    EXPECT_EQ_INT(rt.reason, ROUTER_TOO_LARGE);
    fix_close(&f);
}

/* int and bigint columns: exactly the literals a PostgreSQL/Redshift column
 * of that type takes (the router's own digit loop, no strtoll). */
TEST(router_route_integer_column_bounds)
{
    /* integers outside int64 never reach the columns: the scanner rejects
     * them as jansson does (number_range) */
    enum { OK = ROUTER_OK, SCHEMA = ROUTER_SCHEMA_MISMATCH, RANGE = ROUTER_NUMBER_RANGE };
    static const struct {
        const char *level, *xp;
        int reason;
    } cases[] = {
        {"2147483647", "9223372036854775807", OK},
        {"-2147483648", "-9223372036854775808", OK},
        {"0", "-0", OK},
        {"-0", "0", OK},
        {"7", "1234567890123456789", OK},
        {"2147483648", "0", SCHEMA},
        {"-2147483649", "0", SCHEMA},
        {"9223372036854775807", "0", SCHEMA},
        {"-9223372036854775808", "0", SCHEMA},
        {"0", "9223372036854775808", RANGE},
        {"0", "-9223372036854775809", RANGE},
        {"0", "99999999999999999999", RANGE}, /* 20 digits */
        {"1.0", "0", SCHEMA},
        {"0", "1e3", SCHEMA},
        {"0", "1E3", SCHEMA},
        {"0", "-1.5", SCHEMA},
        {"0", "9223372036854775807.0", SCHEMA},
    };
    struct fix f;
    fix_open(&f);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rec[256];
        snprintf(rec, sizeof rec,
                 "{\"type\":\"login\",\"ts\":\"2026-11-22T01:00:00Z\",\"player_id\":\"p\","
                 "\"level\":%s,\"xp\":%s}", cases[i].level, cases[i].xp);
        struct router_route rt = route(&f, rec);
        if (rt.reason != cases[i].reason) fprintf(stderr, "  case %zu: %s\n", i, rec);
        EXPECT_EQ_STR(router_reason_name(rt.reason), router_reason_name(cases[i].reason));
    }
    fix_close(&f);
}

TEST(router_route_type_day_and_escaped_fields)
{
    struct fix f;
    fix_open(&f);
    struct router_route rt = route(&f, "{\"t\\u0079pe\":\"ch\\u0061t\",\"ts\":\"2026-11-22T22:30:00+01:00\"}");
    EXPECT_EQ_INT(rt.reason, ROUTER_OK);
    EXPECT_EQ_STR(router_rules_type_name(f.rules, (size_t)rt.type), "chat");
    EXPECT_EQ_INT(rt.event_ms, ARRIVAL - 150 * 60000); /* 21:30Z */
    EXPECT_EQ_INT(rt.day, keys_day_of_ms(ARRIVAL) - 1);
    rt = route(&f, "{\"type\":\"chat\"}");
    EXPECT_EQ_INT(rt.event_ms, ARRIVAL);
    EXPECT_EQ_INT(rt.day, keys_day_of_ms(ARRIVAL));
    fix_close(&f);
}

TEST(router_deadletter_line_exact)
{
    static const char *const b64[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                         {"foobar", "Zm9vYmFy"}};
    struct buf b;
    buf_init(&b, 1 << 16);
    for (size_t i = 0; i < sizeof b64 / sizeof b64[0]; i++) {
        buf_reset(&b);
        deadletter_b64(&b, b64[i][0], strlen(b64[i][0]));
        EXPECT_EQ_STR(b.data, b64[i][1]);
    }
    buf_reset(&b);
    EXPECT_EQ_INT(deadletter_line(&b, "unknown_type", "sh\"1", "4959", 2, 1795392000123, "\xff{", 2), 0);
    EXPECT_EQ_STR(b.data, "{\"reason\":\"unknown_type\",\"shard\":\"sh\\\"1\",\"seq\":\"4959\",\"subseq\":2,"
                          "\"arrival\":1795392000123,\"data_b64\":\"/3s=\"}\n");
    EXPECT_TRUE(b.len <= deadletter_line_max(4, 4, 2));
    /* a full buffer leaves it unchanged */
    struct buf small;
    buf_init(&small, 40);
    buf_puts(&small, "x");
    EXPECT_EQ_INT(deadletter_line(&small, "not_json", "s", "1", 0, 0, "abcdefgh", 8), -E2BIG);
    EXPECT_EQ_STR(small.data, "x");
    buf_free(&small);
    buf_free(&b);
}

TEST(router_safe_checkpoint_out_of_order)
{
    struct ckpt_safe *s = ckpt_safe_new();
    const char *seq;
    int64_t sub;
    EXPECT_TRUE(!ckpt_safe_peek(s, &seq, &sub));
    /* batch 1: records 10..19, objects A (first 10) and B (first 12) */
    uint64_t a = ckpt_safe_open(s, "10", 0);
    uint64_t b = ckpt_safe_open(s, "12", 0);
    ckpt_safe_batch_end(s, "19", 0);
    /* batch 2: records 20..29, object C opened at its last record 29 */
    uint64_t c = ckpt_safe_open(s, "29", 0);
    ckpt_safe_batch_end(s, "29", 0);
    EXPECT_TRUE(!ckpt_safe_peek(s, &seq, &sub)); /* A is outstanding: nothing is safe */
    ckpt_safe_done(s, b);                         /* B first: A still holds the line */
    EXPECT_TRUE(!ckpt_safe_peek(s, &seq, &sub));
    EXPECT_EQ_INT(ckpt_safe_outstanding(s), 2);
    ckpt_safe_done(s, a);                         /* now C (first 29) is the smallest */
    EXPECT_TRUE(ckpt_safe_peek(s, &seq, &sub));
    EXPECT_EQ_STR(seq, "19"); /* the end 29 is not strictly below C's first record */
    ckpt_safe_take(s);
    EXPECT_TRUE(!ckpt_safe_peek(s, &seq, &sub));
    ckpt_safe_done(s, c);
    ckpt_safe_done(s, c); /* repeated: ignored */
    EXPECT_TRUE(ckpt_safe_peek(s, &seq, &sub));
    EXPECT_EQ_STR(seq, "29");
    ckpt_safe_take(s);
    /* nothing outstanding: every batch end is safe, sub-sequence numbers count */
    ckpt_safe_batch_end(s, "30", 1);
    ckpt_safe_batch_end(s, "30", 4);
    EXPECT_TRUE(ckpt_safe_peek(s, &seq, &sub));
    EXPECT_EQ_STR(seq, "30");
    EXPECT_EQ_INT(sub, 4);
    ckpt_safe_take(s);
    /* an object starting inside an aggregate: (31,2); ends (31,1) safe, (31,3) not */
    uint64_t d = ckpt_safe_open(s, "31", 2);
    ckpt_safe_batch_end(s, "31", 1);
    ckpt_safe_batch_end(s, "31", 3);
    EXPECT_TRUE(ckpt_safe_peek(s, &seq, &sub));
    EXPECT_EQ_INT(sub, 1);
    ckpt_safe_take(s);
    /* many objects completing in reverse order (the ring grows and wraps) */
    uint64_t ids[100];
    char q[16];
    for (int i = 0; i < 100; i++) {
        snprintf(q, sizeof q, "%d", 100 + i);
        ids[i] = ckpt_safe_open(s, q, 0);
        ckpt_safe_batch_end(s, q, 0);
    }
    for (int i = 99; i >= 1; i--) ckpt_safe_done(s, ids[i]);
    ckpt_safe_done(s, d);
    EXPECT_TRUE(ckpt_safe_peek(s, &seq, &sub));
    EXPECT_EQ_STR(seq, "31"); /* object 100 holds everything from 100 on */
    ckpt_safe_take(s);
    ckpt_safe_done(s, ids[0]);
    EXPECT_EQ_INT(ckpt_safe_outstanding(s), 0);
    EXPECT_TRUE(ckpt_safe_peek(s, &seq, &sub));
    EXPECT_EQ_STR(seq, "199");
    ckpt_safe_free(s);
}

static int kind_of(void *ctx, const struct ledger_span *s)
{
    (void)ctx;
    if (s->dead) return -1;
    return strcmp(s->log_type, "login") == 0 ? 0 : strcmp(s->log_type, "chat") == 0 ? 1 : -2;
}

TEST(router_skip_ranges)
{
    struct ledger_span v[] = {
        {"login", 100, false, "10", 0, "20", 3, },
        {"login", 100, false, "30", 0, "40", 0, },
        {"login", 101, false, "15", 0, "16", 0, },
        {"chat", 100, false, "12", 0, "50", 0, },
        {"_dead", 100, true, "11", 0, "11", 0, },
        {"gone", 100, false, "1", 0, "99", 0, },   /* an unconfigured type: ignored */
    };
    struct ledger_skip *s = ledger_skip_new(v, 6, kind_of, NULL);
    EXPECT_TRUE(!ledger_skip_empty(s));
    EXPECT_TRUE(!ledger_skip_contains(s, 0, 100, "9", 0));
    EXPECT_TRUE(ledger_skip_contains(s, 0, 100, "10", 0));
    EXPECT_TRUE(ledger_skip_contains(s, -1, 100, "11", 0));
    EXPECT_TRUE(!ledger_skip_contains(s, -1, 101, "11", 1));
    EXPECT_TRUE(ledger_skip_contains(s, 1, 100, "12", 0));
    EXPECT_TRUE(ledger_skip_contains(s, 0, 101, "15", 5));
    EXPECT_TRUE(ledger_skip_contains(s, 0, 100, "20", 3));
    EXPECT_TRUE(!ledger_skip_contains(s, 0, 100, "20", 4)); /* past the range by sub-sequence */
    EXPECT_TRUE(!ledger_skip_contains(s, 0, 101, "17", 0));
    EXPECT_TRUE(!ledger_skip_contains(s, 0, 100, "25", 0)); /* between two ranges */
    EXPECT_TRUE(ledger_skip_contains(s, 0, 100, "40", 0));
    EXPECT_TRUE(!ledger_skip_contains(s, 2, 100, "41", 0)); /* a kind with no span */
    EXPECT_TRUE(!ledger_skip_passed(s, "49", 0));
    EXPECT_TRUE(ledger_skip_contains(s, 1, 100, "50", 0));
    EXPECT_TRUE(ledger_skip_passed(s, "50", 0)); /* "gone" (to 99) was left out */
    EXPECT_TRUE(!ledger_skip_contains(s, 1, 100, "51", 0));
    ledger_skip_free(s);
    s = ledger_skip_new(v, 0, kind_of, NULL);
    EXPECT_TRUE(ledger_skip_empty(s));
    ledger_skip_free(s);
}

TEST(router_buffer_stages_one_gzip_member)
{
    struct buffer_pool pool;
    struct err e = {0};
    ASSERT_OK(buffer_pool_init(&pool, 1, 2, &e), e);
    EXPECT_NE_INT(buffer_pool_init(&(struct buffer_pool){0}, 9, 2, &e), 0);
    struct buffer *b = buffer_new(&pool, 4096, 512, 1 << 20, 32768);
    struct buf want, body, got;
    buf_init(&want, 1 << 20);
    buf_init(&got, 1 << 20);
    for (int round = 0; round < 3; round++) {
        buf_reset(&want);
        EXPECT_EQ_INT(buffer_start(b, 3, 20000, "100", 0, 5, 7), 0);
        int lines = round == 1 ? 3 : 2000; /* round 1: sealed before the stage ever fills */
        for (int i = 0; i < lines; i++) {
            char line[64], seq[16];
            int n = snprintf(line, sizeof line, "{\"i\":%d,\"r\":%d}\n", i, round);
            snprintf(seq, sizeof seq, "%d", 100 + i);
            buf_append(buffer_stage(b), line, (size_t)n);
            buf_append(&want, line, (size_t)n);
            EXPECT_EQ_INT(buffer_added(b, seq, 1, (size_t)n), 0);
        }
        EXPECT_EQ_INT(b->records, lines);
        EXPECT_EQ_INT(b->raw_bytes, want.len);
        EXPECT_EQ_STR(b->first_seq, "100");
        EXPECT_EQ_INT(b->last_sub, 1);
        EXPECT_TRUE((b->gz != NULL) == (round != 1));
        ASSERT_OK(buffer_seal(b, &body), e);
        EXPECT_TRUE(b->gz == NULL && b->records == 0);
        buf_reset(&got);
        EXPECT_OK(gz_inflate_all(body.data, body.len, &got, &e), e);
        EXPECT_EQ_INT(got.len, want.len);
        EXPECT_TRUE(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
        EXPECT_TRUE(body.len > 18 && (unsigned char)body.data[0] == 0x1f);
        buf_free(&body);
    }
    EXPECT_EQ_INT(buffer_added(b, "1234567890123456789012345678901234567890123456789012345678901234"
                                  "5678901234567890123456789012345678901234567890123456789012345678",
                               0, 1),
                  -EINVAL);
    buffer_discard(b);
    buffer_free(b);
    buffer_pool_free(&pool);
    buf_free(&want);
    buf_free(&got);
}
