/* t_scan_diff.c — the scanner against jansson 2.14 on a large generated corpus.
 *
 * Records: realistic game logs (worker/loggen), random JSON built to hit the
 * edges (escapes, surrogates, raw UTF-8, number limits, duplicate and
 * escaped keys, whitespace, 2048-deep nesting, non-object tops), and
 * mutations of both (bit flips, random bytes, truncation, insertions of
 * structural / invalid-UTF-8 / escape bytes, deletions, duplicated slices).
 * For each: same accept/reject as json_loadb(flags 0) with max_depth 2048;
 * for accepted records the same extracted values, close offset and
 * emptiness; at the default depth (64) the only extra rejection is too_deep.
 * SCAN_DIFF_SEED and SCAN_DIFF_N override the seed and the record count.
 */
#include "worker/loggen.h"
#include "worker/scan.h"
#include "common/buf.h"
#include "tests/t.h"

#include "tests/unit/t_scan_oracle.h"

#include <errno.h>

#if defined(__SANITIZE_ADDRESS__)
#define DIFF_N_DEFAULT 30000
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DIFF_N_DEFAULT 30000
#endif
#endif
#ifndef DIFF_N_DEFAULT
#define DIFF_N_DEFAULT 200000
#endif

struct rng {
    uint64_t s;
};

static uint64_t next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static unsigned rn(struct rng *r, unsigned n) { return (unsigned)(next(r) % n); }

/* ---- random JSON ---- */

static void app(struct buf *b, const char *s) { buf_puts(b, s); }
static void appn(struct buf *b, const char *s, size_t n) { buf_append(b, s, n); }

static void ws(struct rng *r, struct buf *b, int on)
{
    static const char *const w[] = {" ", "\n", "\t", "\r\n", "  "};
    if (on && rn(r, 3) == 0) app(b, w[rn(r, 5)]);
}

static void utf8(struct buf *b, unsigned cp)
{
    char t[4];
    size_t n;
    if (cp < 0x80) t[0] = (char)cp, n = 1;
    else if (cp < 0x800) t[0] = (char)(0xC0 | cp >> 6), t[1] = (char)(0x80 | (cp & 63)), n = 2;
    else if (cp < 0x10000)
        t[0] = (char)(0xE0 | cp >> 12), t[1] = (char)(0x80 | (cp >> 6 & 63)),
        t[2] = (char)(0x80 | (cp & 63)), n = 3;
    else
        t[0] = (char)(0xF0 | cp >> 18), t[1] = (char)(0x80 | (cp >> 12 & 63)),
        t[2] = (char)(0x80 | (cp >> 6 & 63)), t[3] = (char)(0x80 | (cp & 63)), n = 4;
    appn(b, t, n);
}

static unsigned random_cp(struct rng *r)
{
    for (;;) {
        unsigned k = rn(r, 4), cp;
        cp = k == 0 ? 0x20 + rn(r, 0x60) : k == 1 ? 0x80 + rn(r, 0x780)
           : k == 2 ? 0x800 + rn(r, 0xF800) : 0x10000 + rn(r, 0x100000);
        if (cp < 0xD800 || cp > 0xDFFF) return cp;
    }
}

static void string_body(struct rng *r, struct buf *b)
{
    static const char *const esc[] = {"\\n", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\r", "\\t",
                                      "\\u00e9", "\\uD83D\\uDE00", "\\u20AC", "\\uffff",
                                      "\\u0001", "\\u007F"};
    static const char *const words[] = {"login", "type", "ts", "battle", "x", "", "日本", "é"};
    unsigned n = rn(r, 6);
    for (unsigned i = 0; i < n; i++) {
        switch (rn(r, 4)) {
        case 0: app(b, esc[rn(r, sizeof esc / sizeof esc[0])]); break;
        case 1: utf8(b, random_cp(r)); break;
        case 2: {
            char t[7];
            unsigned cp = random_cp(r) & 0xFFFF;
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0x41;
            snprintf(t, sizeof t, "\\u%04X", cp);
            app(b, t);
            break;
        }
        default: app(b, words[rn(r, sizeof words / sizeof words[0])]);
        }
    }
}

static const char *const numbers[] = {
    "0", "-0", "1", "-1", "0.5", "-0.0e-0", "1e5", "1E+5", "1e-5", "123.456e-7",
    "123456789012345678", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "-9223372036854775809", "18446744073709551616", "1e308",
    "1e309", "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308",
    "-1.7976931348623159e308", "17976931348623158e292", "17976931348623159e292",
    "0.00000000000000000001e328", "0.0000000000000000000179769313486231581e328", "1e400",
    "1e-400", "4.9e-324", "2.5e-324", "1e-99999999999", "1e99999999999", "0e99999999",
    "123.456", "3.14159265358979323846264338327950288", "1.0", "100", "-1.5E-3",
};

static void value(struct rng *r, struct buf *b, int depth, int spaced);

static void key(struct rng *r, struct buf *b)
{
    static const char *const keys[] = {"type", "ts", "a", "", "t\\u0079pe", "\\u00e9", "\xC3\xA9",
                                       "typ", "typee", "TYPE", "ts ", "b", "\\u0074s", "c"};
    app(b, "\"");
    if (rn(r, 5)) app(b, keys[rn(r, sizeof keys / sizeof keys[0])]);
    else string_body(r, b);
    app(b, "\"");
}

static void object(struct rng *r, struct buf *b, int depth, int spaced)
{
    unsigned n = depth > 5 ? rn(r, 2) : rn(r, 8);
    app(b, "{");
    for (unsigned i = 0; i < n; i++) {
        if (i) ws(r, b, spaced), app(b, ",");
        ws(r, b, spaced), key(r, b), ws(r, b, spaced), app(b, ":"), ws(r, b, spaced);
        value(r, b, depth + 1, spaced);
        ws(r, b, spaced);
    }
    app(b, "}");
}

static void value(struct rng *r, struct buf *b, int depth, int spaced)
{
    unsigned k = rn(r, depth > 6 ? 5 : 7);
    switch (k) {
    case 0: app(b, "\""), string_body(r, b), app(b, "\""); break;
    case 1: {
        if (rn(r, 2)) {
            app(b, numbers[rn(r, sizeof numbers / sizeof numbers[0])]);
        } else {
            char t[48];
            uint64_t v = next(r);
            if (rn(r, 2)) snprintf(t, sizeof t, "%lld", (long long)(v >> rn(r, 64)));
            else snprintf(t, sizeof t, "%.17g", (double)(int64_t)v / (double)(1 + (v & 0xffff)));
            if (!strchr(t, 'n') && !strchr(t, 'i')) app(b, t); else app(b, "0");
        }
        break;
    }
    case 2: app(b, rn(r, 2) ? "true" : "false"); break;
    case 3: app(b, "null"); break;
    case 4: app(b, "\"\""); break;
    case 5: object(r, b, depth, spaced); break;
    default: {
        unsigned n = rn(r, 5);
        app(b, "[");
        for (unsigned i = 0; i < n; i++) {
            if (i) app(b, ",");
            ws(r, b, spaced), value(r, b, depth + 1, spaced), ws(r, b, spaced);
        }
        app(b, "]");
    }
    }
}

/* An object with a `total`-deep value (counting as jansson does). */
static void deep(struct rng *r, struct buf *b, int total)
{
    int k = total - 2; /* object + innermost value */
    app(b, "{\"type\":\"deep\",\"a\":");
    for (int i = 0; i < k; i++) app(b, i % 3 == 2 ? "{\"k\":" : "[");
    app(b, rn(r, 2) ? "1" : rn(r, 2) ? "[]" : "{}");
    for (int i = k - 1; i >= 0; i--) app(b, i % 3 == 2 ? "}" : "]");
    app(b, "}");
}

/* ---- mutations ---- */

static void mutate(struct rng *r, struct buf *b)
{
    static const char *const ins[] = {"\"", "\\", "{", "}", "[", "]", ",", ":", "0", "e", "-",
                                      ".", "\x00", "\x80", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                                      "\xFF", "\xE3\x81", "\\ud800", "\\udc00", "\\u0000",
                                      "\\ud83d\\ude00", "1e400", "00", " ", "\t", "\n", "\x01",
                                      "true", "nul", "\xEF\xBB\xBF", "\\x"};
    static const size_t ins_len[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 4, 1, 2,
                                     6, 6, 6, 12, 5, 2, 1, 1, 1, 1, 4, 3, 3, 2};
    unsigned nm = 1 + rn(r, 3);
    for (unsigned m = 0; m < nm && b->len; m++) {
        size_t at = rn(r, (unsigned)b->len);
        switch (rn(r, 6)) {
        case 0: b->data[at] ^= (char)(1u << rn(r, 8)); break;
        case 1: b->data[at] = (char)rn(r, 256); break;
        case 2: b->len = at, b->data[at] = 0; break;
        case 3: {
            unsigned i = rn(r, sizeof ins / sizeof ins[0]);
            struct buf t;
            buf_init(&t, b->max);
            appn(&t, b->data, at), appn(&t, ins[i], ins_len[i]);
            appn(&t, b->data + at, b->len - at);
            buf_free(b);
            *b = t;
            break;
        }
        case 4: memmove(b->data + at, b->data + at + 1, b->len - at), b->len--; break;
        default: {
            size_t n = rn(r, 16), end = at + n < b->len ? at + n : b->len;
            struct buf t;
            buf_init(&t, b->max);
            appn(&t, b->data, end), appn(&t, b->data + at, end - at);
            appn(&t, b->data + end, b->len - end);
            buf_free(b);
            *b = t;
        }
        }
    }
}

TEST(scan_differential_vs_jansson)
{
    const char *es = getenv("SCAN_DIFF_SEED"), *en = getenv("SCAN_DIFF_N");
    uint64_t seed = es ? strtoull(es, NULL, 0) : 20261122;
    size_t n = en ? strtoull(en, NULL, 0) : DIFF_N_DEFAULT;
    fprintf(stderr, "  seed=%llu records=%zu (SCAN_DIFF_SEED / SCAN_DIFF_N to change)\n",
            (unsigned long long)seed, n);
    struct rng r = {seed};
    struct loggen *g = loggen_new(seed);
    struct tally t = {0};
    static char scratch[1 << 20];
    struct buf b;
    buf_init(&b, 1 << 20);
    int64_t ts = INT64_C(1795305600000);
    size_t clean_logs = 0, bad_logs = 0;
    for (size_t i = 0; i < n && t.fails < 5; i++) {
        buf_reset(&b);
        unsigned kind = rn(&r, 100);
        if (kind < 45) {
            loggen_record(g, ts + (int64_t)rn(&r, 86400000), &b);
        } else if (kind < 97) {
            int top = rn(&r, 20);
            if (top == 0) value(&r, &b, 0, rn(&r, 4) == 0); /* any top-level value */
            else object(&r, &b, 0, rn(&r, 4) == 0);
        } else {
            deep(&r, &b, 2040 + (int)rn(&r, 16));
        }
        int mutated = rn(&r, 100) < 45;
        if (mutated) mutate(&r, &b);
        if (b.len > sizeof scratch) continue;
        size_t before = t.rejected;
        check(b.data, b.len, scratch, &t);
        if (kind < 45 && !mutated) {
            clean_logs++;
            if (t.rejected != before && bad_logs++ < 3) dump("generated log rejected", b.data, b.len);
        }
    }
    fprintf(stderr, "  %zu accepted, %zu rejected (%.1f MB):", t.accepted, t.rejected,
            t.bytes / 1e6);
    for (int i = 1; i < SCAN_E_COUNT_; i++)
        if (t.reasons[i]) fprintf(stderr, " %s=%zu", scan_reason_name(i), t.reasons[i]);
    fprintf(stderr, "; jansson NUL quirk=%zu\n", t.nul_quirk);
    EXPECT_EQ_INT(t.fails, 0);
    EXPECT_EQ_INT(bad_logs, 0); /* every unmutated generated log is valid */
    EXPECT_GE_INT(clean_logs, n / 5);
    /* the corpus must exercise both sides and the main reasons */
    EXPECT_GE_INT(t.accepted, n / 3);
    EXPECT_GE_INT(t.rejected, n / 5);
    EXPECT_GE_INT(t.reasons[SCAN_E_BAD_UTF8], 1);
    EXPECT_GE_INT(t.reasons[SCAN_E_NUMBER_RANGE], 1);
    EXPECT_GE_INT(t.reasons[SCAN_E_TOO_DEEP], 1);
    EXPECT_GE_INT(t.reasons[SCAN_E_BAD_ESCAPE], 1);
    EXPECT_GE_INT(t.reasons[SCAN_E_NUL], 1);
    buf_free(&b);
    loggen_free(g);
}

TEST(scan_loggen_records_are_valid_and_deterministic)
{
    struct loggen *a = loggen_new(7), *b = loggen_new(7);
    struct buf x, y;
    buf_init(&x, 1 << 20), buf_init(&y, 1 << 20);
    size_t seen[LOGGEN_NTYPES] = {0}, bytes = 0, n = 20000;
    static char scratch[1 << 16];
    for (size_t i = 0; i < n; i++) {
        int64_t ms = INT64_C(1795305600000) + (int64_t)i * 4321;
        buf_reset(&x), buf_reset(&y);
        int ta = loggen_record(a, ms, &x), tb = loggen_record(b, ms, &y);
        ASSERT_TRUE(ta >= 0 && ta < LOGGEN_NTYPES && ta == tb);
        ASSERT_TRUE(x.len == y.len && memcmp(x.data, y.data, x.len) == 0);
        seen[ta]++, bytes += x.len;
        struct scan_field f[2] = {{"type", 4, 0, 0, 0}, {"ts", 2, 0, 0, 0}};
        struct scan_result r;
        struct scan_opts o = {.scratch = scratch, .scratch_len = sizeof scratch};
        ASSERT_TRUE(scan_record(x.data, x.len, f, 2, &r, &o) == 0);
        EXPECT_TRUE(f[0].val_len == strlen(loggen_type_name(ta)) &&
                    memcmp(f[0].val, loggen_type_name(ta), f[0].val_len) == 0);
        int64_t back = 0;
        EXPECT_EQ_INT(scan_time_ms(f[1].type, f[1].val, f[1].val_len, &back), 0);
        EXPECT_EQ_INT(back, ms);
    }
    for (int i = 0; i < LOGGEN_NTYPES; i++) EXPECT_GE_INT(seen[i], 1);
    EXPECT_GE_INT(seen[3], seen[18] * 20); /* skewed: battle >> iap_refund */
    EXPECT_GE_INT(bytes / n, 800);
    EXPECT_LE_INT(bytes / n, 1200);
    EXPECT_TRUE(loggen_type_name(LOGGEN_NTYPES) == NULL && loggen_type_name(-1) == NULL);
    /* a full buffer leaves out unchanged */
    struct buf tiny;
    buf_init(&tiny, 100);
    buf_puts(&tiny, "keep");
    EXPECT_EQ_INT(loggen_record(a, 0, &tiny), -E2BIG);
    EXPECT_EQ_STR(tiny.data, "keep");
    buf_free(&tiny), buf_free(&x), buf_free(&y);
    loggen_free(a), loggen_free(b);
}

TEST(scan_iso8601_round_trip)
{
    static const int64_t ms[] = {0, -1, 1, 86399999, 86400000, INT64_C(951782400000),
                                 INT64_C(1795309323456), INT64_C(-62135596800000),
                                 INT64_C(-62167219200000), INT64_C(253402300799999)};
    char s[25];
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        int64_t back = 12345;
        loggen_iso8601(ms[i], s);
        EXPECT_EQ_INT(strlen(s), 24);
        EXPECT_EQ_INT(scan_time_ms(SCAN_T_STRING, s, 24, &back), 0);
        EXPECT_EQ_INT(back, ms[i]);
    }
    loggen_iso8601(INT64_C(1795309323456), s);
    EXPECT_EQ_STR(s, "2026-11-22T01:02:03.456Z");
    loggen_iso8601(-1, s);
    EXPECT_EQ_STR(s, "1969-12-31T23:59:59.999Z");
    /* every day boundary over 1968-2032, leap years included */
    for (int64_t d = -730; d < 22700; d++) {
        int64_t back = 0, m = d * 86400000 + 3723004;
        loggen_iso8601(m, s);
        if (scan_time_ms(SCAN_T_STRING, s, 24, &back) || back != m) {
            T_REPORT_("day %lld: %s -> %lld", (long long)d, s, (long long)back);
            break;
        }
    }
}
