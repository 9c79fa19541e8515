/* fuzz_router.c — libFuzzer target: the router's routing decision and what
 * it writes for a record (worker/router_route.c, sinks/deadletter.c).
 *
 * Build and run (~30 s, from the repo root):
 *   mkdir -p build/fuzz/corpus_router
 *   for f in tests/data/router/[a-z]?*.json; do (printf '\0\0\1\232\260\0\0\0'; cat "$f") \
 *       > build/fuzz/corpus_router/"${f##*[/]}"; done
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=undefined tests/fuzz/fuzz_router.c worker/router_route.c \
 *       worker/scan.c sinks/keys.c sinks/deadletter.c common/config.c common/buf.c \
 *       common/mem.c common/err.c -ljansson -lm -o build/fuzz/fuzz_router
 *   build/fuzz/fuzz_router -max_total_time=30 -max_len=8192 \
 *       -artifact_prefix=build/fuzz/ build/fuzz/corpus_router
 *
 * The first 8 input bytes pick the arrival time (within years 1971-2100),
 * the rest is the record.  Invariants, any failure aborts:
 *  - a routed record is JSON jansson accepts, its type is a configured one
 *    whose required columns are present, its event time is inside the
 *    window and its day is that time's day;
 *  - the spliced line is exactly one line, parses as a JSON object holding
 *    the record's members plus _shard/_seq/_subseq/_arrival with our values;
 *  - a dead letter has a reason, the arrival day, and its line parses with
 *    data_b64 decoding back to the record's exact bytes.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/config.h"
#include "sinks/deadletter.h"
#include "sinks/keys.h"
#include "worker/router_route.h"

#define CHECK(c)                                                           \
    do {                                                                   \
        if (!(c)) {                                                        \
            fprintf(stderr, "fuzz_router: %s:%d: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                       \
        }                                                                  \
    } while (0)

static struct router_rules *rules;
static struct router_scratch *scratch;

static char *cols_login[] = {"ts:timestamp:required", "player_id:varchar(32):required",
                             "level:int", "xp:bigint", "score:double", "vip:boolean", "extra:text"};
static char *cols_chat[] = {"chat:text:required", "n:int"};

static void setup(void)
{
    static struct lf_type types[] = {
        {"login", 7, cols_login}, {"chat", 2, cols_chat}, {"a_b_9", 0, NULL}};
    static struct lf_config c;
    c.router.type_field = "type";
    c.router.time_field = "ts";
    c.router.max_record_bytes = 4096;
    c.router.max_depth = 16;
    c.router.retention_days = 30;
    c.router.future_skew_s = 86400;
    c.n_types = 3;
    c.types = types;
    struct err e;
    if (router_rules_new(&c, &rules, &e)) abort();
    scratch = router_scratch_new(rules);
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decodes padded base64 into out (capacity n + 3); returns the length. */
static size_t unb64(const char *s, unsigned char *out)
{
    size_t len = strlen(s), w = 0;
    CHECK(len % 4 == 0);
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) v[k] = s[i + k] == '=' ? 0 : b64val(s[i + k]);
        for (int k = 0; k < 4; k++) CHECK(v[k] >= 0);
        unsigned x = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        out[w++] = (unsigned char)(x >> 16);
        if (s[i + 2] != '=') out[w++] = (unsigned char)(x >> 8);
        if (s[i + 3] != '=') out[w++] = (unsigned char)x;
    }
    return w;
}

static void check_routed(const char *p, size_t n, int64_t arrival, const struct router_route *rt)
{
    CHECK(rt->type >= 0 && (size_t)rt->type < router_rules_ntypes(rules));
    CHECK(rt->day == keys_day_of_ms(rt->event_ms));
    CHECK(rt->event_ms >= arrival - INT64_C(30) * 86400000 && rt->event_ms <= arrival + 86400000);
    json_t *orig = json_loadb(p, n, 0, NULL);
    CHECK(orig && json_is_object(orig));
    const char *type = json_string_value(json_object_get(orig, "type"));
    CHECK(type && strcmp(type, router_rules_type_name(rules, (size_t)rt->type)) == 0);
    struct buf out;
    buf_init(&out, n + 4096);
    static const char shard_json[] = "sh\\\"1"; /* the id sh"1, JSON-escaped */
    struct router_lineage l = {shard_json, sizeof shard_json - 1, "123456789", 7, arrival, 9};
    CHECK(router_splice(&out, p, n, rt, &l) == 0);
    CHECK(out.len >= 2 && out.data[out.len - 1] == '\n' && out.data[out.len - 2] == '}');
    CHECK(memchr(out.data, '\n', out.len - 1) == NULL && memchr(out.data, '\r', out.len) == NULL);
    json_t *line = json_loadb(out.data, out.len, 0, NULL);
    CHECK(line && json_is_object(line));
    CHECK(json_object_size(line) == json_object_size(orig) + 4 ||
          json_object_get(orig, "_shard") || json_object_get(orig, "_seq") ||
          json_object_get(orig, "_subseq") || json_object_get(orig, "_arrival"));
    const char *k;
    json_t *val;
    json_object_foreach(orig, k, val) {
        if (k[0] == '_') continue; /* a record's own lineage-named members are overridden */
        CHECK(json_equal(val, json_object_get(line, k)));
    }
    CHECK(strcmp(json_string_value(json_object_get(line, "_shard")), "sh\"1") == 0);
    CHECK(strcmp(json_string_value(json_object_get(line, "_seq")), "123456789") == 0);
    CHECK(json_integer_value(json_object_get(line, "_subseq")) == 7);
    CHECK(json_integer_value(json_object_get(line, "_arrival")) == arrival);
    json_decref(line);
    json_decref(orig);
    buf_free(&out);
}

static void check_dead(const char *p, size_t n, int64_t arrival, const struct router_route *rt)
{
    CHECK(rt->reason > 0 && rt->reason < ROUTER_REASON_COUNT && rt->type == -1);
    CHECK(rt->day == keys_day_of_ms(arrival));
    struct buf out;
    buf_init(&out, deadletter_line_max(4, 3, n) + 1);
    CHECK(deadletter_line(&out, router_reason_name(rt->reason), "s\n1", "123", 0, arrival, p, n) == 0);
    CHECK(out.len <= deadletter_line_max(4, 3, n));
    CHECK(memchr(out.data, '\n', out.len - 1) == NULL);
    json_t *j = json_loadb(out.data, out.len, 0, NULL);
    CHECK(j);
    CHECK(strcmp(json_string_value(json_object_get(j, "reason")), router_reason_name(rt->reason)) == 0);
    CHECK(strcmp(json_string_value(json_object_get(j, "shard")), "s\n1") == 0);
    unsigned char *dec = malloc(n + 4);
    size_t dl = unb64(json_string_value(json_object_get(j, "data_b64")), dec);
    CHECK(dl == n && memcmp(dec, p, n) == 0);
    free(dec);
    json_decref(j);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rules) setup();
    uint64_t a = 0;
    for (size_t i = 0; i < 8 && i < size; i++) a = a << 8 | data[i];
    int64_t arrival = INT64_C(31536000000) + (int64_t)(a % UINT64_C(4070908800000));
    const char *p = size > 8 ? (const char *)data + 8 : "";
    size_t n = size > 8 ? size - 8 : 0;
    struct router_route rt;
    router_route(rules, scratch, p, n, arrival, &rt);
    if (rt.reason == ROUTER_OK) check_routed(p, n, arrival, &rt);
    else check_dead(p, n, arrival, &rt);
    return 0;
}
