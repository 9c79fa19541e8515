/* t_scan.c — the record scanner, case by case: extraction, splice offsets,
 * every rejection reason, the jansson-compatible edges, and event time. */
#include "worker/scan.h"
#include "tests/t.h"

#include <stdio.h>
#include <string.h>

#define H_1024 /* 2^1024 - 2^970: where a double rounds to infinity */             \
    "17976931348623158079372897140530341507993413271003782693617377898044496829"   \
    "27647509466490179775872070963302864166928879109465555478519404026306574886"   \
    "71505820681908902000708383676273854845817711531764475730270069855571366959"   \
    "62284291481986083493647529271907416844436551070434271155969950809304288017"   \
    "7904174497792"

static char scratch[1 << 16];

/* Scans s (length n, or strlen when n < 0) with fields type/ts and depth d
 * (0 = default); returns the rc. */
static int scan_n(const char *s, long n, struct scan_field *f, size_t nf, struct scan_result *r,
                  int depth)
{
    struct scan_opts o = {.max_depth = depth, .scratch = scratch, .scratch_len = sizeof scratch};
    return scan_record(s, n < 0 ? strlen(s) : (size_t)n, f, nf, r, &o);
}

static int scan_s(const char *s)
{
    struct scan_result r;
    return scan_n(s, -1, NULL, 0, &r, 0);
}

static int scan_d(const char *s, int depth)
{
    struct scan_result r;
    return scan_n(s, -1, NULL, 0, &r, depth);
}

/* The field's value as a NUL-terminated string (static storage). */
static const char *val(const struct scan_field *f)
{
    static char b[4][256];
    static int k;
    char *o = b[k++ & 3];
    if (!f->val) return "(null)";
    size_t n = f->val_len < 255 ? f->val_len : 255;
    memcpy(o, f->val, n);
    o[n] = 0;
    return o;
}

TEST(scan_extracts_type_ts_and_close)
{
    const char *rec = "{\"ts\":\"2026-11-22T01:02:03.456Z\",\"type\":\"login\",\"n\":{\"type\":\"x\"}}";
    struct scan_field f[3] = {{"type", 4, 0, 0, 0}, {"ts", 2, 0, 0, 0}, {"absent", 6, 0, 0, 0}};
    struct scan_result r;
    EXPECT_EQ_INT(scan_n(rec, -1, f, 3, &r, 0), 0);
    EXPECT_EQ_INT(f[0].type, SCAN_T_STRING);
    EXPECT_EQ_STR(val(&f[0]), "login");
    EXPECT_TRUE(f[0].val > rec && f[0].val < rec + strlen(rec)); /* no copy */
    EXPECT_EQ_STR(val(&f[1]), "2026-11-22T01:02:03.456Z");
    EXPECT_EQ_INT(f[2].type, SCAN_T_MISSING);
    EXPECT_TRUE(f[2].val == NULL);
    EXPECT_EQ_INT(r.close_off, strlen(rec) - 1);
    EXPECT_EQ_INT(r.empty, 0);
    EXPECT_EQ_INT(r.members, 3);
}

TEST(scan_empty_object_and_whitespace)
{
    struct scan_result r;
    EXPECT_EQ_INT(scan_n("{}", -1, NULL, 0, &r, 0), 0);
    EXPECT_EQ_INT(r.empty, 1);
    EXPECT_EQ_INT(r.close_off, 1);
    EXPECT_EQ_INT(scan_n(" \t\r\n{ } \n", -1, NULL, 0, &r, 0), 0);
    EXPECT_EQ_INT(r.close_off, 6);
    EXPECT_EQ_INT(r.empty, 1);
    EXPECT_EQ_INT(scan_n("{ \"a\" : [ 1 , 2 ] , \"b\" : { } }\r\n", -1, NULL, 0, &r, 0), 0);
    EXPECT_EQ_INT(r.close_off, 30);
    EXPECT_EQ_INT(r.empty, 0);
    EXPECT_EQ_INT(r.members, 2);
}

TEST(scan_splice_before_close)
{
    /* what the router does with close_off / empty */
    const char *recs[] = {"{\"a\":1} ", "{ }"};
    const char *want[] = {"{\"a\":1,\"_seq\":\"7\"}", "{ \"_seq\":\"7\"}"};
    for (int i = 0; i < 2; i++) {
        struct scan_result r;
        ASSERT_TRUE(scan_n(recs[i], -1, NULL, 0, &r, 0) == 0);
        char out[64];
        int n = snprintf(out, sizeof out, "%.*s%s\"_seq\":\"7\"}", (int)r.close_off, recs[i],
                         r.empty ? "" : ",");
        EXPECT_TRUE(n > 0);
        EXPECT_EQ_STR(out, want[i]);
    }
}

TEST(scan_decodes_escapes)
{
    const char *rec = "{\"t\\u0079pe\":\"lo\\u0067in\\n\\\"q\\\"\\/\",\"ts\":\"\\ud83d\\ude00\\u00e9\"}";
    struct scan_field f[2] = {{"type", 4, 0, 0, 0}, {"ts", 2, 0, 0, 0}};
    struct scan_result r;
    EXPECT_EQ_INT(scan_n(rec, -1, f, 2, &r, 0), 0);
    EXPECT_EQ_STR(val(&f[0]), "login\n\"q\"/");
    EXPECT_TRUE(f[0].val >= scratch && f[0].val < scratch + sizeof scratch);
    EXPECT_EQ_STR(val(&f[1]), "\xF0\x9F\x98\x80\xC3\xA9");
    /* scratch of exactly n bytes is enough even with keys and values escaped */
    char small[64];
    struct scan_opts o = {.scratch = small, .scratch_len = strlen(rec)};
    EXPECT_EQ_INT(scan_record(rec, strlen(rec), f, 2, &r, &o), 0);
    EXPECT_EQ_STR(val(&f[0]), "login\n\"q\"/");
}

TEST(scan_duplicate_keys_last_wins)
{
    struct scan_field f[1] = {{"type", 4, 0, 0, 0}};
    struct scan_result r;
    EXPECT_EQ_INT(scan_n("{\"type\":\"a\",\"x\":1,\"type\":\"b\"}", -1, f, 1, &r, 0), 0);
    EXPECT_EQ_STR(val(&f[0]), "b");
    EXPECT_EQ_INT(r.members, 3);
    EXPECT_EQ_INT(scan_n("{\"type\":\"a\\u0041\",\"t\\u0079pe\":[1,{}]}", -1, f, 1, &r, 0), 0);
    EXPECT_EQ_INT(f[0].type, SCAN_T_ARRAY);
    EXPECT_EQ_STR(val(&f[0]), "[1,{}]");
    EXPECT_EQ_INT(scan_n("{\"type\":{\"a\":[]},\"type\":7}", -1, f, 1, &r, 0), 0);
    EXPECT_EQ_INT(f[0].type, SCAN_T_NUMBER);
    EXPECT_EQ_STR(val(&f[0]), "7");
}

TEST(scan_key_index_matches_linear_lookup)
{
    /* 120 keys (many share a length, so hash slots collide), one listed twice */
    static char names[120][16];
    struct scan_field f[121], g[121];
    for (int i = 0; i < 120; i++) {
        snprintf(names[i], sizeof names[i], "k%03d", i);
        f[i] = (struct scan_field){names[i], strlen(names[i]), 0, 0, 0};
    }
    f[120] = (struct scan_field){"k007", 4, 0, 0, 0};
    memcpy(g, f, sizeof g);
    struct scan_keys *keys = scan_keys_new(f, 121);
    const char *rec = "{\"k\\u0030\\u00307\":\"esc\",\"k119\":[1],\"zz\":1,\"k000\":null,"
                      "\"\":2,\"k00\":3,\"k0000\":4,\"k050\":{\"k051\":5}}";
    struct scan_result r1, r2;
    char s2[256];
    struct scan_opts o1 = {.scratch = scratch, .scratch_len = sizeof scratch};
    struct scan_opts o2 = {.scratch = s2, .scratch_len = sizeof s2, .keys = keys};
    EXPECT_EQ_INT(scan_record(rec, strlen(rec), f, 121, &r1, &o1), 0);
    EXPECT_EQ_INT(scan_record(rec, strlen(rec), g, 121, &r2, &o2), 0);
    for (int i = 0; i < 121; i++) {
        EXPECT_EQ_INT(g[i].type, f[i].type);
        EXPECT_EQ_INT(g[i].val_len, f[i].val_len);
        if (f[i].val_len) EXPECT_TRUE(memcmp(g[i].val, f[i].val, f[i].val_len) == 0);
    }
    EXPECT_EQ_STR(val(&g[7]), "esc");       /* the key spelled with \\u escapes */
    EXPECT_EQ_INT(g[120].type, SCAN_T_MISSING); /* a duplicate resolves to its first index */
    EXPECT_EQ_INT(g[119].type, SCAN_T_ARRAY);
    EXPECT_EQ_INT(g[0].type, SCAN_T_NULL);
    EXPECT_EQ_INT(g[50].type, SCAN_T_OBJECT);
    EXPECT_EQ_INT(g[51].type, SCAN_T_MISSING); /* nested keys are not top-level */
    EXPECT_EQ_INT(r2.members, 8);
    scan_keys_free(keys);
    /* an index over no keys at all */
    keys = scan_keys_new(NULL, 0);
    o2.keys = keys;
    EXPECT_EQ_INT(scan_record("{\"a\":1}", 7, NULL, 0, &r2, &o2), 0);
    scan_keys_free(keys);
}

/* Scans recs in order through one key index and one memo, and each alone
 * without either; every verdict, error offset, result and field must be the
 * same.  Returns the number of records that differed. */
static int memo_run(const char *const *recs, size_t nrec)
{
    static const struct scan_field want[] = {
        {"type", 4, 0, 0, 0}, {"ts", 2, 0, 0, 0}, {"k_30_bytes_long_key_name_abcde", 30, 0, 0, 0},
        {"k_31_bytes_long_key_name_abcdef", 31, 0, 0, 0}, {"\xc3\xa9", 2, 0, 0, 0},
    };
    enum { NW = sizeof want / sizeof want[0] };
    struct scan_keys *keys = scan_keys_new(want, NW);
    struct scan_key_memo *memo = scan_key_memo_new();
    static char s2[1 << 16];
    int bad = 0;
    for (size_t i = 0; i < nrec; i++) {
        struct scan_field f[NW], g[NW];
        memcpy(f, want, sizeof f), memcpy(g, want, sizeof g);
        struct scan_result r1, r2;
        struct scan_opts o1 = {.scratch = scratch, .scratch_len = sizeof scratch};
        struct scan_opts o2 = {.scratch = s2, .scratch_len = sizeof s2, .keys = keys, .memo = memo};
        size_t n = strlen(recs[i]);
        int rc1 = scan_record(recs[i], n, f, NW, &r1, &o1);
        int rc2 = scan_record(recs[i], n, g, NW, &r2, &o2);
        int same = rc1 == rc2 && r1.reason == r2.reason && r1.err_off == r2.err_off &&
                   r1.close_off == r2.close_off && r1.members == r2.members &&
                   r1.empty == r2.empty && r1.raw_newline == r2.raw_newline;
        for (int k = 0; same && k < NW; k++)
            same = f[k].type == g[k].type && f[k].val_len == g[k].val_len &&
                   (!f[k].val_len || memcmp(f[k].val, g[k].val, f[k].val_len) == 0);
        if (!same) {
            fprintf(stderr, "  memo differs on record %zu: %s (rc %d/%d at %zu/%zu)\n", i, recs[i],
                    rc1, rc2, r1.err_off, r2.err_off);
            bad++;
        }
    }
    scan_key_memo_free(memo);
    scan_keys_free(keys);
    return bad;
}

TEST(scan_key_memo_gives_the_same_results)
{
    static const char *const recs[] = {
        "{\"type\":\"a\",\"ts\":1}",
        "{\"type\":\"b\",\"ts\":2}",                /* both keys remembered */
        "{\"type\":\"c\",\"tz\":3}",                /* the 2nd ordinal differs */
        "{\"typ\":1,\"ts\":4}",                      /* a prefix of the memo's key */
        "{\"types\":1}",                             /* the memo's key is a prefix */
        "{\"type",                                    /* cut inside the remembered key */
        "{\"type\"",                                  /* cut right after it */
        "{\"type\":\"d\"",                             /* cut after the value */
        "{\"t\\u0079pe\":\"e\"}",                     /* escaped: never remembered */
        "{\"t\\u0079pe\":\"f\"}",
        "{\"type\":\"g\"}",
        "{\"x\":{\"type\":\"h\"},\"ts\":5}",          /* ordinal 1 nested */
        "{\"x\":1,\"type\":\"i\",\"ts\":6}",          /* ... then top-level */
        "{\"x\":{\"type\":\"j\"},\"ts\":7}",          /* ... then nested again */
        "{\"\xc3\xa9\":\"k\",\"\xc3\xa9\":\"l\"}",      /* UTF-8 key, duplicate: last wins */
        "{\"\xc3\xa9\":\"m\",\"\xc3\":1}",              /* a cut UTF-8 sequence */
        "{\"\xc3\xa9\":\"n\",\"\xc3\xa9\x80\":1}",
        "{\"k_30_bytes_long_key_name_abcde\":1,\"k_31_bytes_long_key_name_abcdef\":2}",
        "{\"k_30_bytes_long_key_name_abcde\":3,\"k_31_bytes_long_key_name_abcdef\":4}",
        "{\"k_30_bytes_long_key_name_abcdeX\":5,\"k_31_bytes_long_key_name_abcdef\":6}",
        "{\"k_30_bytes_long_key_name_abcd\":7}",
        "{\"k_15_chars_abcd\":1,\"k_16_chars_abcde\":2}", /* key + quote: 16 and 17 bytes */
        "{\"k_15_chars_abcd\":3,\"k_16_chars_abcde\":4}",
        "{\"k_15_chars_abcX\":5,\"k_16_chars_abcdX\":6}",
        "{\"k_15_chars_abcd\":7,\"k_16_chars_abcdef\":8}",
        "{\"k_15_chars_abcde\":9,\"k_16_chars_abcde\":10}",
        "{\"\":1,\"\":2}",                              /* empty keys */
        "{\"\":3,\"a\x01\":4}",                         /* a control byte in a key */
        "{\"\":5,\"a\":4",
        "{\"type\" : \"o\" , \"ts\"\t:\n8 }",           /* whitespace around */
        "{\"type\":\"p\",\"ts\":9,\"ts\":10}",
        "[{\"type\":\"q\"}]",                          /* not an object */
    };
    EXPECT_EQ_INT(memo_run(recs, sizeof recs / sizeof recs[0]), 0);
    /* more keys than the memo remembers, twice */
    char big[8192];
    size_t k = 0;
    big[k++] = '{';
    for (int i = 0; i < 300; i++) k += (size_t)snprintf(big + k, sizeof big - k, "%s\"k%d\":%d", i ? "," : "", i, i);
    k += (size_t)snprintf(big + k, sizeof big - k, ",\"type\":\"late\"}");
    const char *two[] = {big, big};
    EXPECT_EQ_INT(memo_run(two, 2), 0);
}

TEST(scan_raw_newline_only_before_the_close)
{
    struct scan_result r;
    EXPECT_EQ_INT(scan_n("{\"a\":1}", -1, NULL, 0, &r, 0), 0);
    EXPECT_EQ_INT(r.raw_newline, 0);
    EXPECT_EQ_INT(scan_n("{\"a\":\"x\\ny\"}\n", -1, NULL, 0, &r, 0), 0); /* escaped, trailing */
    EXPECT_EQ_INT(r.raw_newline, 0);
    EXPECT_EQ_INT(scan_n(" \t{\"a\" : 1 }  \r\n", -1, NULL, 0, &r, 0), 0);
    EXPECT_EQ_INT(r.raw_newline, 0);
    EXPECT_EQ_INT(scan_n("{\"a\":1,\n\"b\":2}", -1, NULL, 0, &r, 0), 0);
    EXPECT_EQ_INT(r.raw_newline, 1);
    EXPECT_EQ_INT(scan_n("\r{\"a\":1}", -1, NULL, 0, &r, 0), 0);
    EXPECT_EQ_INT(r.raw_newline, 1);
    EXPECT_EQ_INT(scan_n("{\"a\":[1,\r2]}", -1, NULL, 0, &r, 0), 0);
    EXPECT_EQ_INT(r.raw_newline, 1);
}

TEST(scan_reports_value_types)
{
    const char *rec = "{\"n\":-1.5e3,\"t\":true,\"f\":false,\"z\":null,\"o\":{ \"a\" : [ ] },"
                      "\"a\":[\"}\"],\"e\":\"\",\"\":0}";
    struct scan_field f[8] = {{"n", 1, 0, 0, 0}, {"t", 1, 0, 0, 0}, {"f", 1, 0, 0, 0},
                              {"z", 1, 0, 0, 0}, {"o", 1, 0, 0, 0}, {"a", 1, 0, 0, 0},
                              {"e", 1, 0, 0, 0}, {"", 0, 0, 0, 0}};
    struct scan_result r;
    EXPECT_EQ_INT(scan_n(rec, -1, f, 8, &r, 0), 0);
    int want_t[8] = {SCAN_T_NUMBER, SCAN_T_TRUE, SCAN_T_FALSE, SCAN_T_NULL,
                     SCAN_T_OBJECT, SCAN_T_ARRAY, SCAN_T_STRING, SCAN_T_NUMBER};
    const char *want_v[8] = {"-1.5e3", "true", "false", "null", "{ \"a\" : [ ] }",
                             "[\"}\"]", "", "0"};
    for (int i = 0; i < 8; i++) {
        EXPECT_EQ_INT(f[i].type, want_t[i]);
        EXPECT_EQ_STR(val(&f[i]), want_v[i]);
    }
}

struct reject {
    const char *in;
    int len; /* -1: strlen */
    int reason;
};

TEST(scan_rejects_with_reasons)
{
    static const struct reject cases[] = {
        {"", -1, SCAN_E_TRUNCATED},
        {"   ", -1, SCAN_E_TRUNCATED},
        {"[]", -1, SCAN_E_NOT_OBJECT},
        {"\"x\"", -1, SCAN_E_NOT_OBJECT},
        {" 12 ", -1, SCAN_E_NOT_OBJECT},
        {"null", -1, SCAN_E_NOT_OBJECT},
        {"[1,}", -1, SCAN_E_NOT_JSON},
        {"{} {}", -1, SCAN_E_TRAILING},
        {"{}x", -1, SCAN_E_TRAILING},
        {"{}\n{\"a\":1}", -1, SCAN_E_TRAILING},
        {"{\"a\":1,}", -1, SCAN_E_NOT_JSON},
        {"{,}", -1, SCAN_E_NOT_JSON},
        {"{\"a\" 1}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":1 \"b\":2}", -1, SCAN_E_NOT_JSON},
        {"{'a':1}", -1, SCAN_E_NOT_JSON},
        {"{a:1}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":[1,]}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":[1 2]}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":1]", -1, SCAN_E_NOT_JSON},
        {"{\"a\":[1}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":1", -1, SCAN_E_TRUNCATED},
        {"{\"a\":", -1, SCAN_E_TRUNCATED},
        {"{\"a\"", -1, SCAN_E_TRUNCATED},
        {"{\"a", -1, SCAN_E_TRUNCATED},
        {"{\"a\":[", -1, SCAN_E_TRUNCATED},
        {"{\"a\":tru", -1, SCAN_E_TRUNCATED},
        {"{\"a\":tru}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":True}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":nul}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":truex}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":NaN}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":Infinity}", -1, SCAN_E_NOT_JSON},
        /* numbers */
        {"{\"a\":01}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":-01}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":1.}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":.5}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":-}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":+1}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":1e}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":1e+}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":1.5.2}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":0x10}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":1e400}", -1, SCAN_E_NUMBER_RANGE},
        {"{\"a\":-1e400}", -1, SCAN_E_NUMBER_RANGE},
        {"{\"a\":1e99999999999999999999}", -1, SCAN_E_NUMBER_RANGE},
        {"{\"a\":1.7976931348623159e308}", -1, SCAN_E_NUMBER_RANGE},
        {"{\"a\":" H_1024 ".0}", -1, SCAN_E_NUMBER_RANGE},
        {"{\"a\":9223372036854775808}", -1, SCAN_E_NUMBER_RANGE},
        {"{\"a\":-9223372036854775809}", -1, SCAN_E_NUMBER_RANGE},
        {"{\"a\":123456789012345678901234567890}", -1, SCAN_E_NUMBER_RANGE},
        /* strings */
        {"{\"a\":\"\x01\"}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":\"\t\"}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":\"\n\"}", -1, SCAN_E_NOT_JSON},
        {"{\"a\":\"x\\q\"}", -1, SCAN_E_BAD_ESCAPE},
        {"{\"a\":\"\\U0041\"}", -1, SCAN_E_BAD_ESCAPE},
        {"{\"a\":\"\\u12G4\"}", -1, SCAN_E_BAD_ESCAPE},
        {"{\"a\":\"\\u12\"}", -1, SCAN_E_BAD_ESCAPE},
        {"{\"a\":\"\\ud800\"}", -1, SCAN_E_BAD_ESCAPE},
        {"{\"a\":\"\\udc00\\ud800\"}", -1, SCAN_E_BAD_ESCAPE},
        {"{\"a\":\"\\ud800\\u0041\"}", -1, SCAN_E_BAD_ESCAPE},
        {"{\"a\":\"\\ud800\\ud800\"}", -1, SCAN_E_BAD_ESCAPE},
        {"{\"a\":\"\\ud800x\"}", -1, SCAN_E_BAD_ESCAPE},
        {"{\"\\udfff\":1}", -1, SCAN_E_BAD_ESCAPE},
        {"{\"a\":\"\\u", -1, SCAN_E_TRUNCATED},
        {"{\"a\":\"\\ud800\\u", -1, SCAN_E_TRUNCATED},
        /* NUL */
        {"{\"a\":\"x\0y\"}", 11, SCAN_E_NUL},
        {"{\"a\":1}\0", 8, SCAN_E_NUL},
        {"{\"a\":\0}", 7, SCAN_E_NUL},
        {"{\"a\":\"\\u0000\"}", -1, SCAN_E_NUL},
        {"{\"\\u0000\":1}", -1, SCAN_E_NUL},
        /* UTF-8 */
        {"{\"a\":\"\xC0\xAF\"}", -1, SCAN_E_BAD_UTF8},          /* overlong '/' */
        {"{\"a\":\"\xC1\xBF\"}", -1, SCAN_E_BAD_UTF8},
        {"{\"a\":\"\xE0\x80\xAF\"}", -1, SCAN_E_BAD_UTF8},      /* overlong 3-byte */
        {"{\"a\":\"\xF0\x80\x80\xAF\"}", -1, SCAN_E_BAD_UTF8},  /* overlong 4-byte */
        {"{\"a\":\"\xED\xA0\x80\"}", -1, SCAN_E_BAD_UTF8},      /* U+D800 */
        {"{\"a\":\"\xED\xBF\xBF\"}", -1, SCAN_E_BAD_UTF8},      /* U+DFFF */
        {"{\"a\":\"\xF4\x90\x80\x80\"}", -1, SCAN_E_BAD_UTF8},  /* U+110000 */
        {"{\"a\":\"\xF5\x80\x80\x80\"}", -1, SCAN_E_BAD_UTF8},
        {"{\"a\":\"\xFF\"}", -1, SCAN_E_BAD_UTF8},
        {"{\"a\":\"\x80\"}", -1, SCAN_E_BAD_UTF8},              /* lone continuation */
        {"{\"a\":\"\xE3\x81\"}", -1, SCAN_E_BAD_UTF8},          /* cut by the quote */
        {"{\"a\":\"\xE3\x81", -1, SCAN_E_TRUNCATED},            /* cut by the end */
        {"{\"\xC3\":1}", -1, SCAN_E_BAD_UTF8},
        {"{\"a\":1,\xFF}", -1, SCAN_E_BAD_UTF8},
        {"\xEF\xBB\xBF{}", -1, SCAN_E_NOT_JSON},                /* BOM */
        {"\f{}", -1, SCAN_E_NOT_JSON},
        {"{}\v", -1, SCAN_E_TRAILING},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct scan_result r;
        int rc = scan_n(cases[i].in, cases[i].len, NULL, 0, &r, 0);
        if (rc != -cases[i].reason)
            fprintf(stderr, "  case %zu \"%s\": got %s, want %s\n", i, cases[i].in,
                    scan_reason_name(rc), scan_reason_name(cases[i].reason));
        EXPECT_EQ_INT(rc, -cases[i].reason);
        EXPECT_EQ_INT(r.reason, cases[i].reason);
    }
}

TEST(scan_accepts_edges)
{
    static const char *ok[] = {
        "{\"a\":-0}", "{\"a\":-0.0e-0}", "{\"a\":0}", "{\"a\":1E+2}", "{\"a\":1e-400}",
        "{\"a\":9223372036854775807}", "{\"a\":-9223372036854775808}",
        "{\"a\":1.7976931348623157e308}", "{\"a\":1.7976931348623158e308}",
        "{\"a\":-1.7976931348623157e308}", "{\"a\":0.000000000000000000001e329}",
        "{\"a\":" H_1024 "e-1}", "{\"a\":0.00000000000000000000000000000000000000000000001}",
        "{\"a\":\"\xF0\x9F\x98\x80\"}", "{\"a\":\"\xF4\x8F\xBF\xBF\"}", "{\"a\":\"\xEF\xBF\xBF\"}",
        "{\"a\":\"\xE0\xA0\x80\xC2\x80\"}", "{\"a\":\"\\uFFFF\\uDBFF\\uDFFF\\/\\b\\f\\r\\t\"}",
        "{\"a\":\"\x7F\"}", "{\"a\":[[],{},[{}],\"\",true,false,null]}", "{\"\":\"\"}",
        "{\"a\":1,\"a\":2}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int rc = scan_s(ok[i]);
        if (rc) fprintf(stderr, "  \"%s\": %s\n", ok[i], scan_reason_name(rc));
        EXPECT_EQ_INT(rc, 0);
    }
}

/* {"a": + k '[' + inner + k ']' + } */
static char *nested(int k, const char *inner)
{
    size_t n = strlen(inner);
    char *s = malloc(2 * (size_t)k + n + 16);
    size_t o = 0;
    memcpy(s, "{\"a\":", 5), o = 5;
    memset(s + o, '[', (size_t)k), o += (size_t)k;
    memcpy(s + o, inner, n), o += n;
    memset(s + o, ']', (size_t)k), o += (size_t)k;
    s[o++] = '}', s[o] = 0;
    return s;
}

TEST(scan_depth_counts_like_jansson)
{
    /* every value counts: object 1, "a" value 2, ... */
    EXPECT_EQ_INT(scan_d("{\"a\":[1]}", 3), 0);
    EXPECT_EQ_INT(scan_d("{\"a\":[[1]]}", 3), -SCAN_E_TOO_DEEP);
    EXPECT_EQ_INT(scan_d("{\"a\":[[]]}", 3), 0); /* an empty container holds no value */
    EXPECT_EQ_INT(scan_d("{\"a\":{\"b\":{}}}", 3), 0);
    EXPECT_EQ_INT(scan_d("{\"a\":{\"b\":{\"c\":1}}}", 3), -SCAN_E_TOO_DEEP);
    EXPECT_EQ_INT(scan_d("{}", 1), 0);
    EXPECT_EQ_INT(scan_d("{\"a\":1}", 1), -SCAN_E_TOO_DEEP);
    char *s = nested(62, "1"); /* 1 is at depth 64 */
    EXPECT_EQ_INT(scan_s(s), 0);
    free(s);
    s = nested(63, "1");
    EXPECT_EQ_INT(scan_s(s), -SCAN_E_TOO_DEEP);
    free(s);
    s = nested(2046, "1"); /* jansson's JSON_PARSER_MAX_DEPTH is 2048 */
    EXPECT_EQ_INT(scan_d(s, 2048), 0);
    free(s);
    s = nested(2047, "1");
    EXPECT_EQ_INT(scan_d(s, 2048), -SCAN_E_TOO_DEEP);
    free(s);
    s = nested(1000000, ""); /* no C stack is used per level */
    EXPECT_EQ_INT(scan_d(s, SCAN_MAX_DEPTH), -SCAN_E_TOO_DEEP);
    free(s);
}

TEST(scan_limits_and_arguments)
{
    struct scan_result r;
    struct scan_opts o = {.max_size = 10};
    EXPECT_EQ_INT(scan_record("{\"a\":\"12\"}", 10, NULL, 0, &r, &o), 0);
    EXPECT_EQ_INT(scan_record("{\"a\":\"123\"}", 11, NULL, 0, &r, &o), -SCAN_E_TOO_LARGE);
    EXPECT_EQ_STR(scan_reason_name(r.reason), "too_large");
    struct scan_field f = {"a", 1, 0, 0, 0};
    EXPECT_EQ_INT(scan_record("{}", 2, &f, 1, &r, NULL), -SCAN_E_ARG); /* no scratch */
    char sc[1];
    o = (struct scan_opts){.scratch = sc, .scratch_len = 1};
    EXPECT_EQ_INT(scan_record("{}", 2, &f, 1, &r, &o), -SCAN_E_ARG); /* scratch < n */
    o = (struct scan_opts){.max_depth = SCAN_MAX_DEPTH + 1};
    EXPECT_EQ_INT(scan_record("{}", 2, NULL, 0, &r, &o), -SCAN_E_ARG);
    EXPECT_EQ_INT(scan_record("{}", 2, NULL, 0, &r, NULL), 0);
}

TEST(scan_error_offsets_and_names)
{
    struct scan_result r;
    EXPECT_EQ_INT(scan_n("{\"a\":1,\"b\":x}", -1, NULL, 0, &r, 0), -SCAN_E_NOT_JSON);
    EXPECT_EQ_INT(r.err_off, 11);
    EXPECT_EQ_INT(scan_n("{\"a\":\"ok\xFF\"}", -1, NULL, 0, &r, 0), -SCAN_E_BAD_UTF8);
    EXPECT_EQ_INT(r.err_off, 8);
    EXPECT_EQ_STR(scan_reason_name(-SCAN_E_NOT_JSON), "not_json");
    EXPECT_EQ_STR(scan_reason_name(SCAN_E_NOT_OBJECT), "not_object");
    EXPECT_EQ_STR(scan_reason_name(SCAN_E_BAD_UTF8), "bad_utf8");
    EXPECT_EQ_STR(scan_reason_name(SCAN_E_TOO_DEEP), "too_deep");
    EXPECT_EQ_STR(scan_reason_name(SCAN_E_TRAILING), "trailing_data");
    EXPECT_EQ_STR(scan_reason_name(0), "ok");
    EXPECT_EQ_STR(scan_reason_name(999), "unknown");
    for (int i = 1; i < SCAN_E_COUNT_; i++) { /* dead-letter prefixes: [a-z0-9_]+ */
        const char *n = scan_reason_name(i);
        EXPECT_TRUE(n && n[0] && strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(n));
    }
}

/* ---- event time ---- */

struct tcase {
    int type;
    const char *v;
    int rc;
    int64_t ms;
};

TEST(scan_time_parses_iso_and_epoch)
{
    static const struct tcase c[] = {
        {SCAN_T_STRING, "2026-11-22T01:02:03.456Z", 0, INT64_C(1795309323456)},
        {SCAN_T_STRING, "2026-11-22t01:02:03.456z", 0, INT64_C(1795309323456)},
        {SCAN_T_STRING, "2026-11-22 01:02:03.456789+00:00", 0, INT64_C(1795309323456)},
        {SCAN_T_STRING, "2026-11-22T01:02:03,4567Z", 0, INT64_C(1795309323456)},
        {SCAN_T_STRING, "2026-11-22T01:02:03.456+01:00", 0, INT64_C(1795305723456)},
        {SCAN_T_STRING, "2026-11-22T01:02:03.456+0100", 0, INT64_C(1795305723456)},
        {SCAN_T_STRING, "2026-11-22T01:02:03.456+01", 0, INT64_C(1795305723456)},
        {SCAN_T_STRING, "2026-11-22T01:02:03-05:30", 0, INT64_C(1795329123000)},
        {SCAN_T_STRING, "2026-11-22T01:02:03.4Z", 0, INT64_C(1795309323400)},
        {SCAN_T_STRING, "2026-11-22T01:02Z", 0, INT64_C(1795309320000)},
        {SCAN_T_STRING, "2026-11-22T01:02:03", 0, INT64_C(1795309323000)}, /* no zone: UTC */
        {SCAN_T_STRING, "2026-11-22", 0, INT64_C(1795305600000)},
        {SCAN_T_STRING, "2024-02-29T12:00:00Z", 0, INT64_C(1709208000000)},
        {SCAN_T_STRING, "2000-03-01T00:00:00Z", 0, INT64_C(951868800000)},
        {SCAN_T_STRING, "1969-12-31T23:59:59.999Z", 0, -1},
        {SCAN_T_STRING, "9999-12-31T23:59:59.999Z", 0, INT64_C(253402300799999)},
        {SCAN_T_STRING, "0001-01-01T00:00:00Z", 0, INT64_C(-62135596800000)},
        {SCAN_T_STRING, "2026-11-21T23:59:60Z", 0, INT64_C(1795305599999)}, /* leap second */
        {SCAN_T_NUMBER, "1795309323", 0, INT64_C(1795309323000)},
        {SCAN_T_NUMBER, "1795309323.4567", 0, INT64_C(1795309323456)},
        {SCAN_T_NUMBER, "1795309323456", 0, INT64_C(1795309323456)},
        {SCAN_T_NUMBER, "1795309323456.9", 0, INT64_C(1795309323456)},
        {SCAN_T_NUMBER, "1.795309323456e9", 0, INT64_C(1795309323456)},
        {SCAN_T_NUMBER, "1.795309323456E+12", 0, INT64_C(1795309323456)},
        {SCAN_T_NUMBER, "17953093234560e-1", 0, INT64_C(1795309323456)},
        {SCAN_T_NUMBER, "100000000000", 0, INT64_C(100000000000000)}, /* 1e11: seconds */
        {SCAN_T_NUMBER, "100000000001", 0, INT64_C(100000000001)},    /* above: ms */
        {SCAN_T_NUMBER, "0", 0, 0},
        {SCAN_T_NUMBER, "5e-4", 0, 0},
        {SCAN_T_NUMBER, "5e-3", 0, 5},
        {SCAN_T_STRING, "1795309323", 0, INT64_C(1795309323000)},
        {SCAN_T_STRING, "1795309323456", 0, INT64_C(1795309323456)},
        {SCAN_T_STRING, "1795309323.5", 0, INT64_C(1795309323500)},
        /* rejected */
        /* MISSING has val NULL: no pointer arithmetic on it (clang UBSan in the
         * fuzz target flagged NULL + 0; gcc does not check that) */
        {SCAN_T_MISSING, NULL, -SCAN_E_NO_TIME, 0},
        {SCAN_T_NULL, "null", -SCAN_E_NO_TIME, 0},
        {SCAN_T_TRUE, "true", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_OBJECT, "{}", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_NUMBER, "-1", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_NUMBER, "253402300800000", -SCAN_E_BAD_TIME, 0}, /* after year 9999 */
        {SCAN_T_NUMBER, "1e300", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_NUMBER, "99999999999999999999999", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "1.2.3", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "1e9", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "-1795309323", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-13-01T00:00:00Z", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-02-29T00:00:00Z", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "1900-02-29", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-04-31", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-11-00", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-11-22T24:00:00Z", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-11-22T01:60:00Z", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-11-22T01:02:61Z", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-11-22T01:02:03.Z", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-11-22T01:02:03ZZ", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-11-22T01:02:03+24:00", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-11-22T01:02:03+01:", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-11-22T01:02:03+1", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-11-22T1:02:03Z", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-11-22T", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026-11-22Z", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "26-11-22", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "2026/11/22", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "yesterday", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, " 2026-11-22", -SCAN_E_BAD_TIME, 0},
        {SCAN_T_STRING, "9999-12-31T23:59:59.999+00:00", 0, INT64_C(253402300799999)},
        {SCAN_T_STRING, "9999-12-31T23:59:59-01:00", -SCAN_E_BAD_TIME, 0}, /* year 10000 UTC */
        {SCAN_T_STRING, "0000-01-01T00:00:00Z", 0, INT64_C(-62167219200000)},
        {SCAN_T_STRING, "0000-01-01T00:30:00+01:00", -SCAN_E_BAD_TIME, 0}, /* year -1 UTC */
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int64_t ms = 12345;
        int rc = scan_time_ms(c[i].type, c[i].v, c[i].v ? strlen(c[i].v) : 0, &ms);
        if (rc != c[i].rc || (rc == 0 && ms != c[i].ms))
            fprintf(stderr, "  case %zu \"%s\": rc=%d ms=%lld\n", i, c[i].v ? c[i].v : "", rc,
                    (long long)ms);
        EXPECT_EQ_INT(rc, c[i].rc);
        if (c[i].rc == 0) EXPECT_EQ_INT(ms, c[i].ms);
    }
}

TEST(scan_time_from_extracted_field)
{
    const char *rec = "{\"ts\":\"2026-11-22T01:02:03.456\\u005a\",\"type\":\"x\"}";
    struct scan_field f = {"ts", 2, 0, 0, 0};
    struct scan_result r;
    int64_t ms = 0;
    ASSERT_TRUE(scan_n(rec, -1, &f, 1, &r, 0) == 0);
    EXPECT_EQ_INT(scan_time_ms(f.type, f.val, f.val_len, &ms), 0);
    EXPECT_EQ_INT(ms, INT64_C(1795309323456));
}
