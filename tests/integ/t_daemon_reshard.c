/* t_daemon_reshard.c — SplitShard and MergeShards while two logfleetd
 * workers consume (kinesalite): a child shard starts only after each of its
 * parents has been read to its end and checkpointed at SHARD_END, so per
 * partition key the records reach the processors in the order they were
 * put, across the split and the merge. */
#include "tests/integ/t_aws_fix.h"
#include "tests/integ/t_daemon_fix.h"
#include "tests/integ/t_lease_fix.h"
#include "tests/t.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static void wait_open(struct df *f, int open)
{
    struct kin_stream_summary s = {0};
    struct err e;
    for (int i = 0; i < 600; i++) {
        err_clear(&e);
        if (kin_describe_stream_summary(f->k, f->stream, &s, &e) == 0 && !strcmp(s.status, "ACTIVE") &&
            s.open_shards == open)
            return;
        df_sleep_ms(50);
    }
    T_REPORT_("stream %s: %s with %d open shards, want ACTIVE with %d", f->stream, s.status,
              s.open_shards, open);
    exit(1);
}

static void list(struct df *f, struct kin_shard_list *l)
{
    struct err e;
    err_clear(&e);
    ASSERT_OK(kin_list_shards(f->k, f->stream, 0, l, &e), e);
}

/* Each child's first initialize comes after every parent's SHARD_END. */
static void check_gating(const struct df_out *o, const struct kin_shard_list *l)
{
    int children = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct kin_shard *s = &l->v[i];
        if (!s->parent[0]) continue;
        char init[200];
        snprintf(init, sizeof init, "E initialize %s ", s->id);
        const char *ci = strstr(o->text, init);
        ASSERT_TRUE(ci != NULL);
        children++;
        const char *parents[2] = {s->parent, s->adjacent_parent};
        for (int p = 0; p < 2; p++) {
            if (!parents[p][0]) continue;
            char end[200];
            snprintf(end, sizeof end, "E shardEnded %s ok\n", parents[p]);
            const char *pe = strstr(o->text, end);
            EXPECT_TRUE(pe != NULL && pe < ci);
        }
    }
    EXPECT_EQ_INT(children, 3); /* two from the split, one from the merge */
}

/* Per key, the payload counters arrive in put order. */
static void check_order(const struct df_out *o)
{
    int next[64] = {0};
    for (size_t i = 0; i < o->n; i++) {
        int key, n;
        ASSERT_TRUE(sscanf(o->r[i].data, "%d:%d", &key, &n) == 2 && key >= 0 && key < 64);
        if (n != next[key]) T_REPORT_("key %d: got %d, want %d (line %zu)", key, n, next[key], i);
        next[key] = n + 1;
    }
}

ITEST_T(daemon_split_and_merge_keep_per_key_order, 90)
{
    struct df f;
    df_open(&f, "reshard", 2);
    /* 10 records a call, at most 5 calls a second: the parents still have
     * a backlog when the children get their first records */
    const char *props = df_props(&f, "app.properties", df_python_app(), "maxRecords = 10\n");
    df_start(&f, "w1", props, NULL, NULL);
    df_start(&f, "w2", props, NULL, NULL);
    df_put_records(&f, 300, 16);
    for (int64_t end = df_now_ms() + 20000;; df_sleep_ms(50)) { /* consumption under way */
        struct df_out o;
        df_read(&f, &o);
        size_t n = o.n;
        df_out_free(&o);
        ASSERT_TRUE(df_now_ms() < end);
        if (n >= 20) break;
    }

    struct kin_shard_list l;
    list(&f, &l);
    char parent[KIN_SHARD_ID_MAX], mid[48];
    strlcpy_(parent, l.v[0].id, sizeof parent);
    unsigned __int128 a = af_u128(l.v[0].hash_start), b = af_u128(l.v[0].hash_end);
    af_u128_fmt(a + (b - a) / 2 + 1, mid, sizeof mid);
    kin_shard_list_free(&l);
    struct err e;
    err_clear(&e);
    ASSERT_OK(kin_split_shard(f.k, f.stream, parent, mid, &e), e);
    wait_open(&f, 3);
    df_put_records(&f, 100, 16);

    list(&f, &l);
    const char *kids[2] = {NULL, NULL};
    for (size_t i = 0; i < l.n; i++)
        if (!strcmp(l.v[i].parent, parent)) kids[kids[0] ? 1 : 0] = l.v[i].id;
    ASSERT_TRUE(kids[0] && kids[1]);
    ASSERT_OK(kin_merge_shards(f.k, f.stream, kids[0], kids[1], &e), e);
    kin_shard_list_free(&l);
    wait_open(&f, 2);
    df_put_records(&f, 100, 16);
    ASSERT_TRUE(df_wait_all(&f, 45000));

    struct df_out o;
    df_read(&f, &o);
    size_t dup = 0;
    for (size_t i = 0; i < f.nput; i++) dup += df_count(&o, &f.put[i]) != 1;
    EXPECT_EQ_INT(dup, 0);
    check_order(&o);
    list(&f, &l);
    EXPECT_EQ_INT(l.n, 5);
    check_gating(&o, &l);
    /* finished parents: at SHARD_END, or already cleaned up */
    for (size_t i = 0; i < l.n; i++) {
        if (!l.v[i].seq_end[0]) continue;
        char *cp = df_checkpoint(&f, l.v[i].id);
        EXPECT_TRUE(!strcmp(cp, "") || !strcmp(cp, "SHARD_END"));
        free(cp);
    }
    kin_shard_list_free(&l);
    df_out_free(&o);
    df_close(&f);
}
