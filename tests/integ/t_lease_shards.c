/* t_lease_shards.c — shard sync, parent gating, shard end and cleanup. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lease/lease.h"
#include "lease/shardsync.h"
#include "tests/integ/t_lease_fix.h"
#include "tests/t.h"

/* A split P -> C1, C2 and a merge M1 + M2 -> M. */
static const struct lease_shard stream[] = {
    {"P", NULL, NULL, "0", "99", true},
    {"C1", "P", NULL, "0", "49", false},
    {"C2", "P", NULL, "50", "99", false},
    {"M1", NULL, NULL, "100", "149", true},
    {"M2", NULL, NULL, "150", "199", true},
    {"M", "M1", "M2", "100", "199", false},
};
#define NSTREAM (sizeof stream / sizeof *stream)

static char *row(const char *key)
{
    return lt_q("SELECT checkpoint || ' ' || array_to_string(parent_keys, ',') || ' '"
                " || array_to_string(child_keys, ',') || ' ' || coalesce(hash_start::text, '-')"
                " FROM @.leases WHERE lease_key = '%s'",
                key);
}

#define EXPECT_ROW(key, want)           \
    do {                                \
        char *r_ = row(key);            \
        EXPECT_EQ_STR(r_, want);        \
        free(r_);                       \
    } while (0)

static bool parents_done(struct lease_coord *c, const char *key)
{
    bool done = false;
    struct err e = {0};
    EXPECT_OK(lease_parents_done(c, key, &done, &e), e);
    return done;
}

ITEST_T(lease_sync_split_merge_and_gating, 60)
{
    lt_schema();
    struct err e = {0};
    struct lease_coord *A = lt_coord(&(struct lt_opts){.worker = "w-a"});
    size_t created = 0, deleted = 0;
    ASSERT_OK(lease_sync_shards(A, stream, NSTREAM, "TRIM_HORIZON", &created, &deleted, &e), e);
    EXPECT_EQ_INT(created, 6);
    EXPECT_ROW("P", "TRIM_HORIZON   0");
    EXPECT_ROW("C1", "TRIM_HORIZON P  0");
    EXPECT_ROW("C2", "TRIM_HORIZON P  50");
    EXPECT_ROW("M", "TRIM_HORIZON M1,M2  100");
    ASSERT_OK(lease_sync_shards(A, stream, NSTREAM, "TRIM_HORIZON", &created, &deleted, &e), e);
    EXPECT_EQ_INT(created, 0);

    EXPECT_TRUE(parents_done(A, "P"));
    EXPECT_TRUE(!parents_done(A, "C1"));
    EXPECT_TRUE(!parents_done(A, "M"));
    bool d;
    EXPECT_EQ_INT(lease_parents_done(A, "nope", &d, &e), LEASE_E_NOTFOUND);

    ASSERT_OK(lease_take(A, &e), e);
    ASSERT_TRUE(lt_count(A, LEASE_HELD) == 6);
    EXPECT_OK(lease_checkpoint(A, "P", NULL, "SHARD_END", 0, &e), e);
    EXPECT_TRUE(parents_done(A, "C1"));
    EXPECT_TRUE(parents_done(A, "C2"));
    EXPECT_OK(lease_checkpoint(A, "M1", NULL, "SHARD_END", 0, &e), e);
    EXPECT_TRUE(!parents_done(A, "M")); /* M2 not finished */
    free(lt_q("DELETE FROM @.leases WHERE lease_key = 'M2'"));
    EXPECT_TRUE(parents_done(A, "M")); /* a parent that is gone counts as done */
    lease_coord_free(A);
    lt_drop();
}

ITEST_T(lease_sync_latest_and_descendants, 60)
{
    lt_schema();
    struct err e = {0};
    struct lease_coord *A = lt_coord(&(struct lt_opts){.worker = "w-a"});
    size_t created = 0, deleted = 0;
    ASSERT_OK(lease_sync_shards(A, stream, NSTREAM, "LATEST", &created, &deleted, &e), e);
    EXPECT_EQ_INT(created, 3);
    EXPECT_ROW("C1", "LATEST P  0");
    EXPECT_ROW("M", "LATEST M1,M2  100");
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_key IN ('P', 'M1', 'M2')"), 0);
    /* C1 splits: its children descend from a leased shard -> TRIM_HORIZON */
    const struct lease_shard later[] = {
        {"C1", "P", NULL, "0", "49", true},
        {"G1", "C1", NULL, "0", "24", false},
        {"G2", "C1", NULL, "25", "49", false},
    };
    ASSERT_OK(lease_sync_shards(A, later, 3, "LATEST", &created, &deleted, &e), e);
    EXPECT_EQ_INT(created, 2);
    EXPECT_ROW("G1", "TRIM_HORIZON C1  0");
    EXPECT_ROW("G2", "TRIM_HORIZON C1  25");
    EXPECT_EQ_INT(lease_sync_shards(A, later, 3, "EARLIEST", NULL, NULL, &e), LEASE_E_INVAL);
    lease_coord_free(A);
    lt_drop();
}

struct sync_arg {
    struct lease_coord *c;
    size_t created;
    int rc;
};

static void *sync_thread(void *p)
{
    struct sync_arg *a = p;
    struct err e = {0};
    a->rc = lease_sync_shards(a->c, stream, NSTREAM, "TRIM_HORIZON", &a->created, NULL, &e);
    return NULL;
}

ITEST_T(lease_sync_concurrent_creates_once, 60)
{
    lt_schema();
    struct sync_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        char w[16];
        snprintf(w, sizeof w, "w-%d", i);
        a[i] = (struct sync_arg){lt_coord(&(struct lt_opts){.worker = w}), 0, -1};
    }
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, sync_thread, &a[i]);
    size_t total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        EXPECT_EQ_INT(a[i].rc, 0);
        total += a[i].created;
        lease_coord_free(a[i].c);
    }
    EXPECT_EQ_INT(total, 6); /* each lease created by exactly one sync */
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases"), 6);
    lt_drop();
}

ITEST_T(lease_shard_end_children_and_cleanup, 60)
{
    lt_schema();
    struct err e = {0};
    struct lease_coord *A = lt_coord(&(struct lt_opts){.worker = "w-a"});
    ASSERT_OK(lease_sync_shards(A, stream, NSTREAM, "TRIM_HORIZON", NULL, NULL, &e), e);
    ASSERT_OK(lease_take(A, &e), e);
    ASSERT_TRUE(lt_count(A, LEASE_HELD) == 6);
    long long ctr = lt_qi("SELECT lease_counter FROM @.leases WHERE lease_key = 'C1'");

    /* C1 splits into G1, G2 */
    const struct lease_shard kids[] = {
        {"G1", "C1", NULL, "0", "24", false},
        {"G2", "C1", NULL, "25", "49", false},
    };
    ASSERT_OK(lease_shard_ended(A, "C1", kids, 2, &e), e);
    EXPECT_ROW("G1", "TRIM_HORIZON C1  0");
    EXPECT_ROW("G2", "TRIM_HORIZON C1  25");
    EXPECT_ROW("C1", "TRIM_HORIZON P G1,G2 0"); /* child_keys recorded, fenced */
    EXPECT_EQ_INT(lt_qi("SELECT lease_counter FROM @.leases WHERE lease_key = 'C1'"), ctr + 1);
    ASSERT_OK(lease_shard_ended(A, "C1", kids, 2, &e), e); /* idempotent */
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_key LIKE 'G%%'"), 2);
    EXPECT_TRUE(!parents_done(A, "G1"));
    EXPECT_OK(lease_checkpoint(A, "C1", NULL, "SHARD_END", 0, &e), e);
    EXPECT_TRUE(parents_done(A, "G1"));

    /* a merge child whose other parent has no lease waits for that one */
    const struct lease_shard merged[] = {{"H", "C2", "Z9", "50", "99", false}};
    ASSERT_OK(lease_shard_ended(A, "C2", merged, 1, &e), e);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_key = 'H'"), 0);
    /* ... and is created when both parents exist */
    const struct lease_shard merged2[] = {{"H2", "C2", "M", "50", "199", false}};
    ASSERT_OK(lease_shard_ended(A, "C2", merged2, 1, &e), e);
    EXPECT_ROW("H2", "TRIM_HORIZON C2,M  50");

    /* cleanup: C1 goes only once both children have started */
    size_t del = 9;
    EXPECT_OK(lease_cleanup(A, &del, &e), e);
    EXPECT_EQ_INT(del, 0);
    ASSERT_OK(lease_take(A, &e), e); /* picks up G1, G2, H2 */
    EXPECT_OK(lease_checkpoint(A, "G1", NULL, "5", 0, &e), e);
    EXPECT_OK(lease_cleanup(A, &del, &e), e);
    EXPECT_EQ_INT(del, 0);
    EXPECT_OK(lease_checkpoint(A, "G2", NULL, "7", 0, &e), e);
    EXPECT_OK(lease_cleanup(A, &del, &e), e);
    EXPECT_EQ_INT(del, 1);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_key = 'C1'"), 0);
    EXPECT_EQ_INT(lt_state(A, "C1"), -1);

    /* P finished without recorded children: cleanup keeps it; a sync whose
     * shard list no longer has P removes it */
    EXPECT_OK(lease_checkpoint(A, "P", NULL, "SHARD_END", 0, &e), e);
    EXPECT_OK(lease_cleanup(A, &del, &e), e);
    EXPECT_EQ_INT(del, 0);
    const struct lease_shard now_listed[] = {
        {"C1", "P", NULL, "0", "49", true},      {"C2", "P", NULL, "50", "99", false},
        {"M1", NULL, NULL, "100", "149", true},  {"M2", NULL, NULL, "150", "199", true},
        {"M", "M1", "M2", "100", "199", false},  {"G1", "C1", NULL, "0", "24", false},
        {"G2", "C1", NULL, "25", "49", false},
    };
    size_t created = 9;
    EXPECT_OK(lease_sync_shards(A, now_listed, 7, "TRIM_HORIZON", &created, &del, &e), e);
    EXPECT_EQ_INT(created, 0); /* C1 is closed and its children have leases */
    EXPECT_EQ_INT(del, 1);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_key = 'P'"), 0);

    /* finished leases are not taken or counted by the taker */
    struct lease_coord *B = lt_coord(&(struct lt_opts){.worker = "w-b"});
    EXPECT_OK(lease_release(A, "M1", &e), e);
    free(lt_q("UPDATE @.leases SET checkpoint = 'SHARD_END' WHERE lease_key = 'M1'"));
    ASSERT_OK(lease_take(B, &e), e);
    EXPECT_EQ_INT(lt_state(B, "M1"), -1);
    lease_coord_free(A);
    lease_coord_free(B);
    lt_drop();
}
