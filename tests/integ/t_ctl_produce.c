/* t_ctl_produce.c — `logfleetctl produce` end to end: NDJSON on stdout,
 * records put to a fresh kinesalite stream and read back (plain, KPL
 * aggregates, a replayed file), and its argument checking. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/mem.h"
#include "tests/integ/t_ctl_fix.h"
#include "tests/t.h"
#include "worker/kpl.h"
#include "worker/loggen.h"

/* A generated record is {"ts":"<24 chars>", then the rest: the rest is what
 * a seed determines. */
#define TS_PREFIX "{\"ts\":\""
#define REST_AT 32

struct view {
    const char *p;
    size_t n;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Event time of a generated record in epoch ms, or -1. */
static int64_t record_ts(const char *p, size_t n)
{
    if (n < REST_AT || memcmp(p, TS_PREFIX, 7) || p[31] != '"' || p[30] != 'Z') return -1;
    char ts[25];
    memcpy(ts, p + 7, 24);
    ts[24] = 0;
    struct tm tm = {0};
    char *end = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || *end != '.') return -1;
    return (int64_t)timegm(&tm) * 1000 + strtol(end + 1, NULL, 10);
}

static struct view rest_of(const char *p, size_t n)
{
    if (record_ts(p, n) < 0) return (struct view){"", 0};
    return (struct view){p + REST_AT, n - REST_AT};
}

static int cmp_view(const void *a, const void *b)
{
    const struct view *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* The first n records of seed, minus their event time (buf owns the bytes). */
static struct view *expected_rests(uint64_t seed, size_t n, struct buf *all)
{
    struct loggen *g = loggen_new(seed);
    buf_init(all, 64u << 20);
    size_t *off = xcalloc(n + 1, sizeof *off);
    for (size_t i = 0; i < n; i++) {
        off[i] = all->len;
        ASSERT_TRUE(loggen_record(g, 0, all) >= 0);
    }
    off[n] = all->len;
    struct view *v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = rest_of(all->data + off[i], off[i + 1] - off[i]);
    free(off);
    loggen_free(g);
    return v;
}

/* got and want as multisets: the number of positions that differ after sorting. */
static size_t multiset_diff(struct view *got, struct view *want, size_t n)
{
    qsort(got, n, sizeof *got, cmp_view);
    qsort(want, n, sizeof *want, cmp_view);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += cmp_view(&got[i], &want[i]) != 0;
    return bad;
}

/* The "player_id" value of a record into out, or "". */
static void player_id(const char *p, size_t n, char out[64])
{
    out[0] = 0;
    const char *k = memmem(p, n, "\"player_id\":\"", 13);
    if (!k) return;
    k += 13;
    size_t len = strcspn(k, "\"");
    if (len < 64) {
        memcpy(out, k, len);
        out[len] = 0;
    }
}

static int type_of(json_t *o)
{
    const char *t = json_string_value(json_object_get(o, "type"));
    for (int i = 0; t && i < LOGGEN_NTYPES; i++)
        if (!strcmp(t, loggen_type_name(i))) return i;
    return -1;
}

ITEST_T(ctl_produce_stdout_ndjson_of_30_types, 60)
{
    struct ctl_result r;
    int64_t t0 = now_ms();
    ctl_run(&r, NULL, "produce", "--stdout", "--count", "10000", "--seed", "7", NULL);
    int64_t t1 = now_ms();
    EXPECT_EQ_INT(r.status, 0);
    EXPECT_CONTAINS(r.err, "produced 10000 records");
    EXPECT_CONTAINS(r.err, "to stdout");
    int seen[LOGGEN_NTYPES] = {0};
    size_t lines = 0, bytes = 0, bad_json = 0, bad_ts = 0;
    for (char *p = r.out, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        ASSERT_TRUE(nl != NULL); /* every line ends with a newline */
        size_t n = (size_t)(nl - p);
        json_t *o = json_loadb(p, n, 0, NULL);
        int t = o ? type_of(o) : -1;
        if (t < 0)
            bad_json++;
        else
            seen[t]++;
        int64_t ts = record_ts(p, n);
        if (ts < t0 - 1000 || ts > t1 + 1000) bad_ts++;
        json_decref(o);
        lines++;
        bytes += n;
    }
    EXPECT_EQ_INT(lines, 10000);
    EXPECT_EQ_INT(bad_json, 0);
    EXPECT_EQ_INT(bad_ts, 0);
    EXPECT_GE_INT(bytes / lines, 900);
    EXPECT_LE_INT(bytes / lines, 1100);
    for (int i = 0; i < LOGGEN_NTYPES; i++)
        if (!seen[i]) T_REPORT_("type %s never produced", loggen_type_name(i));

    /* The seed decides everything but the event time. */
    struct buf all;
    struct view *want = expected_rests(7, 3, &all);
    char *p = r.out;
    for (int i = 0; i < 3; i++) {
        char *nl = strchr(p, '\n');
        struct view got = rest_of(p, (size_t)(nl - p));
        EXPECT_TRUE(cmp_view(&got, &want[i]) == 0);
        p = nl + 1;
    }
    free(want);
    buf_free(&all);
    ctl_result_free(&r);

    /* --types restricts, rare types included. */
    ctl_run(&r, NULL, "produce", "--stdout", "--count", "300", "--types", "iap_refund,guild_leave",
            NULL);
    EXPECT_EQ_INT(r.status, 0);
    int two[2] = {0}, other = 0;
    for (char *q = r.out, *nl; *q && (nl = strchr(q, '\n')); q = nl + 1) {
        json_t *o = json_loadb(q, (size_t)(nl - q), 0, NULL);
        const char *t = o ? json_string_value(json_object_get(o, "type")) : NULL;
        if (t && !strcmp(t, "iap_refund"))
            two[0]++;
        else if (t && !strcmp(t, "guild_leave"))
            two[1]++;
        else
            other++;
        json_decref(o);
    }
    EXPECT_EQ_INT(two[0] + two[1], 300);
    EXPECT_EQ_INT(other, 0);
    EXPECT_GE_INT(two[0], 1);
    EXPECT_GE_INT(two[1], 1);
    ctl_result_free(&r);

    /* --rate paces: 100 records at 200/s take about half a second. */
    int64_t t2 = now_ms();
    ctl_run(&r, NULL, "produce", "--stdout", "--count", "100", "--rate", "200", NULL);
    EXPECT_EQ_INT(r.status, 0);
    EXPECT_CONTAINS(r.err, "produced 100 records");
    EXPECT_GE_INT(now_ms() - t2, 450);
    EXPECT_LE_INT(now_ms() - t2, 10000);
    ctl_result_free(&r);
}

ITEST_T(ctl_produce_puts_every_record, 60)
{
    struct ctl_stream s;
    ctl_stream_new(&s, 2);
    struct ctl_result r;
    ctl_run(&r, NULL, "produce", "--count", "1000", "--seed", "11", NULL);
    EXPECT_EQ_INT(r.status, 0);
    EXPECT_CONTAINS(r.err, "produced 1000 records");
    EXPECT_CONTAINS(r.err, s.name);
    struct ctl_rec *v;
    size_t n = ctl_read_all(&s, &v);
    EXPECT_EQ_INT(n, 1000);
    if (n == 1000) {
        struct buf all;
        struct view *want = expected_rests(11, n, &all);
        struct view *got = xcalloc(n, sizeof *got);
        size_t bad_pk = 0, on_first = 0;
        for (size_t i = 0; i < n; i++) {
            got[i] = rest_of(v[i].data, v[i].len);
            char pid[64];
            player_id(v[i].data, v[i].len, pid);
            bad_pk += strcmp(pid, v[i].pk) != 0;
            on_first += !strcmp(v[i].shard, v[0].shard);
        }
        EXPECT_EQ_INT(multiset_diff(got, want, n), 0);
        EXPECT_EQ_INT(bad_pk, 0);     /* the partition key is the player id */
        EXPECT_LE_INT(on_first, 999); /* both shards got records */
        free(got);
        free(want);
        buf_free(&all);
    }
    ctl_recs_free(v, n);
    ctl_result_free(&r);
    ctl_stream_free(&s);
}

ITEST_T(ctl_produce_kpl_aggregates_deaggregate_to_the_records, 60)
{
    struct ctl_stream s;
    ctl_stream_new(&s, 2);
    struct ctl_result r;
    ctl_run(&r, NULL, "produce", "--kpl", "--count", "1000", "--seed", "12", NULL);
    EXPECT_EQ_INT(r.status, 0);
    EXPECT_CONTAINS(r.err, "produced 1000 records");
    EXPECT_CONTAINS(r.err, "KPL aggregates");
    struct ctl_rec *v;
    size_t n = ctl_read_all(&s, &v);
    EXPECT_GE_INT(n, 10);  /* at most 100 records per aggregate */
    EXPECT_LE_INT(n, 100); /* ~50 KiB of ~1 KB records each */
    struct buf copy;
    buf_init(&copy, 64u << 20);
    size_t users = 0, bad_pk = 0, not_agg = 0, cap = 2048, *off = xcalloc(cap, sizeof *off),
           *len = xcalloc(cap, sizeof *len);
    for (size_t i = 0; i < n; i++) {
        struct kpl_result k = {0};
        struct err e = {0};
        if (!kpl_is_aggregated(v[i].data, v[i].len) ||
            kpl_deaggregate(v[i].data, v[i].len, &k, &e)) {
            not_agg++;
            continue;
        }
        EXPECT_LE_INT(k.n, 100);
        EXPECT_LE_INT(v[i].len, 60 * 1024);
        for (size_t j = 0; j < k.n && users < cap; j++, users++) {
            bad_pk += strcmp(k.recs[j].partition_key, v[i].pk) != 0;
            off[users] = copy.len;
            len[users] = k.recs[j].len;
            buf_append(&copy, k.recs[j].data, k.recs[j].len);
        }
        kpl_result_free(&k);
    }
    EXPECT_EQ_INT(not_agg, 0);
    EXPECT_EQ_INT(bad_pk, 0); /* one partition key per aggregate */
    EXPECT_EQ_INT(users, 1000);
    if (users == 1000) {
        struct buf all;
        struct view *want = expected_rests(12, users, &all);
        struct view *got = xcalloc(users, sizeof *got);
        for (size_t i = 0; i < users; i++) got[i] = rest_of(copy.data + off[i], len[i]);
        EXPECT_EQ_INT(multiset_diff(got, want, users), 0);
        free(got);
        free(want);
        buf_free(&all);
    }
    free(off);
    free(len);
    buf_free(&copy);
    ctl_recs_free(v, n);
    ctl_result_free(&r);
    ctl_stream_free(&s);
}

ITEST_T(ctl_produce_file_replays_exactly, 60)
{
    struct ctl_stream s;
    ctl_stream_new(&s, 1); /* one shard, one put thread: the order is the file's */
    char path[512];
    snprintf(path, sizeof path, "%s/replay.ndjson", t_tmpdir());
    struct buf big;
    buf_init(&big, 1 << 20);
    buf_puts(&big, "{\"type\":\"blob\",\"pad\":\"");
    for (int i = 0; i < 200000; i++) buf_append(&big, "abcdefghij" + i % 10, 1);
    buf_puts(&big, "\"}");
    const char *want[] = {"{\"type\":\"login\",\"player_id\":\"p1\",\"n\":1}",
                          "{\"type\":\"chat\",\"msg\":\"h\xc3\xa9llo \xf0\x9f\x91\x8d\"}",
                          "not json at all",
                          big.data,
                          "  {\"spaced\": true}  ",
                          "{\"player_id\":\"has\\\"quote\"}",
                          "{\"last\":\"no newline\"}"};
    FILE *f = fopen(path, "wb");
    ASSERT_TRUE(f != NULL);
    fprintf(f, "%s\n\n%s\r\n%s\n%s\n\n\n%s\n%s\n%s", want[0], want[1], want[2], want[3], want[4],
            want[5], want[6]);
    fclose(f);

    struct ctl_result r;
    ctl_run(&r, NULL, "produce", "--file", path, "--threads", "1", NULL);
    EXPECT_EQ_INT(r.status, 0);
    EXPECT_CONTAINS(r.err, "produced 7 records");
    ctl_result_free(&r);
    ctl_run(&r, path, "produce", "--file", "-", "--count", "2", NULL); /* stdin, first 2 */
    EXPECT_EQ_INT(r.status, 0);
    EXPECT_CONTAINS(r.err, "produced 2 records");
    ctl_result_free(&r);

    struct ctl_rec *v;
    size_t n = ctl_read_all(&s, &v);
    EXPECT_EQ_INT(n, 9);
    for (size_t i = 0; i < n && i < 9; i++) {
        const char *w = want[i < 7 ? i : i - 7];
        EXPECT_EQ_INT(v[i].len, strlen(w));
        EXPECT_TRUE(v[i].len == strlen(w) && !memcmp(v[i].data, w, v[i].len));
    }
    if (n >= 6) {
        EXPECT_EQ_STR(v[0].pk, "p1");
        EXPECT_EQ_INT(strlen(v[5].pk), 32); /* an escaped player id: a random key */
    }
    ctl_recs_free(v, n);
    buf_free(&big);
    ctl_stream_free(&s);
}

ITEST_T(ctl_produce_bad_arguments_exit_2, 30)
{
    static const struct {
        const char *a[4];
        const char *reason;
    } cases[] = {
        {{"--count", "-1"}, "--count"},
        {{"--rate", "x"}, "--rate"},
        {{"--rate", "-5"}, "--rate"},
        {{"--bogus"}, "unknown option --bogus"},
        {{"--count"}, "needs a value"},
        {{"--batch", "501"}, "--batch"},
        {{"--threads", "0"}, "--threads"},
        {{"--types", "login,nope"}, "--types"},
        {{"--kpl", "--stdout"}, "exclude"},
        {{"--file", "x", "--types", "login"}, "--types"},
        {{"--stdout", "extra"}, "unexpected argument"},
        {{"--key", "shard"}, "--key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ctl_result r;
        const char *const *a = cases[i].a;
        ctl_run(&r, NULL, "produce", a[0], a[1], a[2], a[3], NULL);
        if (r.status != 2 || !strstr(r.err, cases[i].reason) ||
            !strstr(r.err, "usage: logfleetctl produce") || r.out_len)
            T_REPORT_("case %zu (%s): exit %d, stdout %zu bytes, stderr:\n%s", i, a[0], r.status,
                      r.out_len, r.err);
        ctl_result_free(&r);
    }
}
