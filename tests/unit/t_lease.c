/* t_lease.c — lease/ pure parts: identifiers, taker arithmetic, text[]
 * codec, advisory keys, and the shard-sync plan on KCL's documented example. */
#include <string.h>

#include "common/buf.h"
#include "lease/schema.h"
#include "lease/shardsync.h"
#include "lease/sql.h"
#include "lease/taker.h"
#include "tests/t.h"

TEST(lease_ident_validation)
{
    EXPECT_TRUE(lease_ident_valid("logfleet"));
    EXPECT_TRUE(lease_ident_valid("_x9_"));
    EXPECT_TRUE(!lease_ident_valid(""));
    EXPECT_TRUE(!lease_ident_valid("9abc"));
    EXPECT_TRUE(!lease_ident_valid("Logfleet"));
    EXPECT_TRUE(!lease_ident_valid("a-b"));
    EXPECT_TRUE(!lease_ident_valid("a;drop"));
    EXPECT_TRUE(!lease_ident_valid(NULL));
    char name[80];
    memset(name, 'a', 63);
    name[63] = 0;
    EXPECT_TRUE(lease_ident_valid(name));
    name[63] = 'a';
    name[64] = 0;
    EXPECT_TRUE(!lease_ident_valid(name));
}

TEST(lease_target_and_steal_counts)
{
    EXPECT_EQ_INT(lease_target(8, 3, 0), 3);
    EXPECT_EQ_INT(lease_target(8, 4, 0), 2);
    EXPECT_EQ_INT(lease_target(2, 3, 0), 1);
    EXPECT_EQ_INT(lease_target(3, 3, 0), 1);
    EXPECT_EQ_INT(lease_target(0, 1, 0), 1);
    EXPECT_EQ_INT(lease_target(10, 1, 4), 4);
    EXPECT_EQ_INT(lease_target(10, 0, 0), 10);
    /* above target: min(needed, count - target), capped */
    EXPECT_EQ_INT(lease_steal_count(4, 2, 2, 1), 1);
    EXPECT_EQ_INT(lease_steal_count(4, 2, 2, 5), 2);
    EXPECT_EQ_INT(lease_steal_count(5, 2, 1, 5), 1);
    /* at target: one, only when we need more than one */
    EXPECT_EQ_INT(lease_steal_count(3, 3, 1, 5), 0);
    EXPECT_EQ_INT(lease_steal_count(3, 3, 2, 5), 1);
    EXPECT_EQ_INT(lease_steal_count(2, 3, 2, 5), 0);
    EXPECT_EQ_INT(lease_steal_count(9, 2, 0, 5), 0);
    EXPECT_EQ_INT(lease_steal_count(9, 2, 3, -1), 0);
}

TEST(lease_sql_array_roundtrip)
{
    const char *v[] = {"shardId-000000000001", "a \"q\" b", "back\\slash", "", "x,y{}"};
    struct buf b;
    buf_init(&b, 4096);
    lease_sql_array(&b, v, 5);
    char **out;
    size_t n;
    ASSERT_TRUE(lease_sql_parse_array(b.data, &out, &n) == 0);
    EXPECT_EQ_INT(n, 5);
    for (size_t i = 0; i < n && i < 5; i++) EXPECT_EQ_STR(out[i], v[i]);
    lease_sql_strv_free(out, n);
    /* PostgreSQL's own output form: unquoted where it can */
    ASSERT_TRUE(lease_sql_parse_array("{a,\"b c\",NULL}", &out, &n) == 0);
    EXPECT_EQ_INT(n, 3);
    EXPECT_EQ_STR(out[1], "b c");
    EXPECT_EQ_STR(out[2], "");
    lease_sql_strv_free(out, n);
    ASSERT_TRUE(lease_sql_parse_array("{}", &out, &n) == 0);
    EXPECT_EQ_INT(n, 0);
    EXPECT_TRUE(lease_sql_parse_array("{\"open", &out, &n) < 0);
    EXPECT_TRUE(lease_sql_parse_array("a,b", &out, &n) < 0);
    buf_reset(&b);
    const char *w[] = {"a", NULL};
    lease_sql_array(&b, w, 2);
    EXPECT_EQ_STR(b.data, "{\"a\",NULL}");
    buf_free(&b);
}

TEST(lease_lock_keys_differ)
{
    char a[24], b[24], c[24];
    lease_sql_lock_key("shardsync", "logfleet", "app", a);
    lease_sql_lock_key("shardsync", "logfleet", "app2", b);
    lease_sql_lock_key("shardsync", "logfleeta", "pp", c);
    EXPECT_TRUE(strcmp(a, b) != 0);
    EXPECT_TRUE(strcmp(a, c) != 0);
    lease_sql_lock_key("shardsync", "logfleet", "app", b);
    EXPECT_EQ_STR(a, b);
}

/* KCL docs/lease-lifecycle.md example:
 *   0 1 2 3 4   5      (0-3 and 5 closed)
 *   \ / \ / |   |
 *    6   7  4   5      (6, 7 closed)
 *     \ /   |  / \
 *      8    4 9   10   (open)                                           */
static const struct lease_shard kcl_graph[] = {
    {"s0", NULL, NULL, "0", "9", true},  {"s1", NULL, NULL, "10", "19", true},
    {"s2", NULL, NULL, "20", "29", true}, {"s3", NULL, NULL, "30", "39", true},
    {"s4", NULL, NULL, "40", "49", false}, {"s5", NULL, NULL, "50", "59", true},
    {"s6", "s0", "s1", "0", "19", true},  {"s7", "s2", "s3", "20", "39", true},
    {"s8", "s6", "s7", "0", "39", false}, {"s9", "s5", NULL, "50", "54", false},
    {"s10", "s5", NULL, "55", "59", false},
};
#define KCL_N (sizeof kcl_graph / sizeof *kcl_graph)

/* Renders a plan as "key@checkpoint(parents) ..." in plan order. */
static void render(const struct lease_new *v, size_t n, char *out, size_t cap)
{
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s@%s(%s%s%s)", i ? " " : "", v[i].key, v[i].checkpoint,
                 v[i].nparents ? v[i].parents[0] : "", v[i].nparents > 1 ? "," : "",
                 v[i].nparents > 1 ? v[i].parents[1] : "");
    }
}

static void plan(char *const *ex, size_t nex, const char *pos, char *out, size_t cap)
{
    struct lease_new *v;
    size_t n;
    struct err e = {0};
    EXPECT_OK(lease_sync_plan(kcl_graph, KCL_N, ex, nex, pos, &v, &n, &e), e);
    render(v, n, out, cap);
    free(v);
}

TEST(lease_sync_plan_kcl_example)
{
    char got[1024];
    char *const leased[] = {"s4", "s5", "s7"}; /* sorted */
    /* TRIM_HORIZON: the unleased ancestors of 8 from the oldest (0, 1, 6),
     * and the children of leased shards (8 under 7; 9, 10 under 5) at
     * TRIM_HORIZON. */
    plan(leased, 3, "TRIM_HORIZON", got, sizeof got);
    EXPECT_EQ_STR(got, "s0@TRIM_HORIZON() s1@TRIM_HORIZON() s6@TRIM_HORIZON(s0,s1) "
                       "s8@TRIM_HORIZON(s6,s7) s9@TRIM_HORIZON(s5) s10@TRIM_HORIZON(s5)");
    plan(leased, 3, "AT_TIMESTAMP", got, sizeof got);
    EXPECT_EQ_STR(got, "s0@AT_TIMESTAMP() s1@AT_TIMESTAMP() s6@AT_TIMESTAMP(s0,s1) "
                       "s8@TRIM_HORIZON(s6,s7) s9@TRIM_HORIZON(s5) s10@TRIM_HORIZON(s5)");
    /* LATEST: no closed ancestors; descendants of leased shards still from
     * TRIM_HORIZON so nothing between parent and child is skipped. */
    plan(leased, 3, "LATEST", got, sizeof got);
    EXPECT_EQ_STR(got, "s8@TRIM_HORIZON(s6,s7) s9@TRIM_HORIZON(s5) s10@TRIM_HORIZON(s5)");
    /* Fresh table. */
    plan(NULL, 0, "LATEST", got, sizeof got);
    EXPECT_EQ_STR(got, "s4@LATEST() s8@LATEST(s6,s7) s9@LATEST(s5) s10@LATEST(s5)");
    plan(NULL, 0, "TRIM_HORIZON", got, sizeof got);
    EXPECT_EQ_STR(got, "s0@TRIM_HORIZON() s1@TRIM_HORIZON() s2@TRIM_HORIZON() s3@TRIM_HORIZON() "
                       "s4@TRIM_HORIZON() s5@TRIM_HORIZON() s6@TRIM_HORIZON(s0,s1) "
                       "s7@TRIM_HORIZON(s2,s3) s8@TRIM_HORIZON(s6,s7) s9@TRIM_HORIZON(s5) "
                       "s10@TRIM_HORIZON(s5)");
    /* Everything leased: nothing to do. */
    char *const all[] = {"s0", "s1", "s10", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"};
    plan(all, 11, "TRIM_HORIZON", got, sizeof got);
    EXPECT_EQ_STR(got, "");
}

TEST(lease_sync_plan_rejects_bad_input)
{
    struct lease_new *v;
    size_t n;
    struct err e = {0};
    EXPECT_EQ_INT(lease_sync_plan(kcl_graph, KCL_N, NULL, 0, "EARLIEST", &v, &n, &e), LEASE_E_INVAL);
    struct lease_shard bad[] = {{"s0", NULL, NULL, "12x", "20", false}};
    EXPECT_EQ_INT(lease_sync_plan(bad, 1, NULL, 0, "LATEST", &v, &n, &e), LEASE_E_INVAL);
    struct lease_shard noid[] = {{"", NULL, NULL, NULL, NULL, false}};
    EXPECT_EQ_INT(lease_sync_plan(noid, 1, NULL, 0, "LATEST", &v, &n, &e), LEASE_E_INVAL);
    /* a parent cycle in bad input terminates */
    struct lease_shard cyc[] = {{"a", "b", NULL, NULL, NULL, true}, {"b", "a", NULL, NULL, NULL, false}};
    EXPECT_OK(lease_sync_plan(cyc, 2, NULL, 0, "TRIM_HORIZON", &v, &n, &e), e);
    EXPECT_EQ_INT(n, 2);
    free(v);
}
