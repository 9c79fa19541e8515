/* t_lease_handoff.c — graceful handoff (KCL 3.x B.7), its timeout, a dead
 * old owner, drain, release and the max_leases cap. */
#include <stdlib.h>
#include <string.h>

#include "lease/lease.h"
#include "lease/registry.h"
#include "tests/integ/t_lease_fix.h"
#include "tests/t.h"

/* Keys of c's snapshot in state st, space separated, sorted. */
static void keys_in(struct lease_coord *c, int st, char *out, size_t cap)
{
    struct lease_info *v;
    size_t n;
    lease_held_snapshot(c, &v, &n);
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if ((int)v[i].state != st) continue;
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s", len ? " " : "", v[i].key);
    }
    lease_info_free(v, n);
    lt_sort_words(out);
}

/* First word of a space separated list. */
static void first_key(const char *list, char out[32])
{
    size_t n = strcspn(list, " ");
    snprintf(out, 32, "%.*s", (int)(n < 31 ? n : 31), list);
}

ITEST_T(lease_graceful_handoff, 60)
{
    lt_schema();
    lt_leases(4);
    struct err e = {0};
    struct lease_coord *A = lt_coord(&(struct lt_opts){.worker = "w-a", .graceful = true});
    ASSERT_OK(lease_take(A, &e), e);
    ASSERT_TRUE(lt_count(A, LEASE_HELD) == 4);
    for (int i = 0; i < 4; i++) {
        char k[16];
        snprintf(k, sizeof k, "shard-%03d", i);
        EXPECT_OK(lease_checkpoint(A, k, NULL, "10", 0, &e), e);
    }
    long long sum0 = lt_qi("SELECT sum(lease_counter) FROM @.leases");
    struct lease_coord *B =
        lt_coord(&(struct lt_opts){.worker = "w-b", .graceful = true, .max_steal = 2});
    ASSERT_OK(lease_take(B, &e), e);
    /* B asked for two: the rows say "A checkpoints, then B", counters untouched */
    EXPECT_EQ_INT(lt_count(B, LEASE_PENDING_HANDOFF_IN), 2);
    EXPECT_EQ_INT(lt_count(B, LEASE_HELD), 0);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE checkpoint_owner = 'w-a'"
                        " AND lease_owner = 'w-b'"), 2);
    EXPECT_EQ_INT(lt_qi("SELECT sum(lease_counter) FROM @.leases"), sum0);
    char moving[128], k1[32];
    keys_in(B, LEASE_PENDING_HANDOFF_IN, moving, sizeof moving);
    first_key(moving, k1);

    /* B may not checkpoint while A still owns the checkpoint */
    EXPECT_EQ_INT(lease_checkpoint(B, k1, NULL, "99", 0, &e), LEASE_E_LOST);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE checkpoint = '99'"), 0);
    EXPECT_EQ_INT(lt_state(B, k1), LEASE_PENDING_HANDOFF_IN);

    /* A learns at its renew, keeps renewing all four, may still checkpoint */
    EXPECT_OK(lease_renew(A, &e), e);
    char asked[128];
    EXPECT_EQ_INT(lt_events(A, LEASE_EV_HANDOFF_REQUESTED, asked, sizeof asked), 2);
    EXPECT_EQ_STR(asked, moving);
    EXPECT_EQ_INT(lt_count(A, LEASE_HANDOFF_REQUESTED), 2);
    EXPECT_EQ_INT(lt_count(A, LEASE_HELD), 2);
    EXPECT_OK(lease_renew(A, &e), e);
    EXPECT_EQ_INT(lt_qi("SELECT sum(lease_counter) FROM @.leases"), sum0 + 8);
    EXPECT_EQ_INT(lt_count(A, -1), 4);
    EXPECT_OK(lease_checkpoint(A, k1, NULL, "20", 3, &e), e);
    EXPECT_OK(lease_renew(B, &e), e); /* still pending: A has not finished */
    EXPECT_EQ_INT(lt_count(B, LEASE_PENDING_HANDOFF_IN), 2);
    EXPECT_EQ_INT(lease_take(B, &e), 0); /* and the taker leaves them alone */
    EXPECT_EQ_INT(lt_count(B, -1), 2);

    /* A hands both over; B acquires them with A's checkpoint */
    char *rest = moving;
    for (int i = 0; i < 2; i++) {
        char k[32];
        first_key(rest, k);
        EXPECT_OK(lease_handoff_complete(A, k, &e), e);
        rest += strlen(k) + (rest[strlen(k)] == ' ');
    }
    EXPECT_EQ_INT(lt_events(A, LEASE_EV_HANDED_OFF, NULL, 0), 2);
    EXPECT_EQ_INT(lt_count(A, -1), 2);
    EXPECT_EQ_INT(lease_checkpoint(A, k1, NULL, "21", 0, &e), LEASE_E_LOST);
    EXPECT_OK(lease_renew(B, &e), e);
    char got[128];
    EXPECT_EQ_INT(lt_events(B, LEASE_EV_ACQUIRED, got, sizeof got), 2);
    EXPECT_EQ_STR(got, moving);
    EXPECT_EQ_INT(lt_count(B, LEASE_HELD), 2);
    struct lease_info *v;
    size_t n;
    lease_held_snapshot(B, &v, &n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].key, k1)) continue;
        EXPECT_EQ_STR(v[i].checkpoint, "20");
        EXPECT_EQ_INT(v[i].checkpoint_sub, 3);
    }
    lease_info_free(v, n);
    EXPECT_OK(lease_checkpoint(B, k1, NULL, "30", 0, &e), e);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE checkpoint_owner IS NOT NULL"), 0);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_owner = 'w-b'"), 2);
    EXPECT_EQ_INT(lt_qi("SELECT owner_switches FROM @.leases WHERE lease_key = '%s'", k1), 0);
    EXPECT_OK(lease_renew(A, &e), e); /* A keeps its two without loss */
    EXPECT_EQ_INT(lt_count(A, LEASE_HELD), 2);
    EXPECT_EQ_INT(lt_events(A, LEASE_EV_LOST, NULL, 0), 0);
    lease_coord_free(A);
    lease_coord_free(B);
    lt_drop();
}

ITEST_T(lease_handoff_timeout, 60)
{
    lt_schema();
    lt_leases(4);
    struct err e = {0};
    struct lease_coord *A = lt_coord(&(struct lt_opts){
        .worker = "w-a", .graceful = true, .duration_ms = 2000, .handoff_timeout_ms = 500});
    ASSERT_OK(lease_take(A, &e), e);
    struct lease_coord *B = lt_coord(&(struct lt_opts){
        .worker = "w-b", .graceful = true, .duration_ms = 2000, .max_steal = 2});
    ASSERT_OK(lease_take(B, &e), e);
    ASSERT_OK(lease_renew(A, &e), e);
    char asked[128], k1[32], k2[32];
    keys_in(A, LEASE_HANDOFF_REQUESTED, asked, sizeof asked);
    first_key(asked, k1);
    first_key(asked + strlen(k1) + 1, k2);
    ASSERT_TRUE(*k1 && *k2);
    lt_sleep_ms(300);
    EXPECT_OK(lease_renew(A, &e), e); /* before the timeout: nothing forced */
    EXPECT_EQ_INT(lt_count(A, LEASE_HANDOFF_REQUESTED), 2);
    lt_sleep_ms(300); /* now past handoff_timeout_ms, inside duration */
    /* the consumer finishing late still completes */
    EXPECT_OK(lease_handoff_complete(A, k1, &e), e);
    /* the other one the renewer hands over by itself */
    EXPECT_OK(lease_renew(A, &e), e);
    char done[128];
    EXPECT_EQ_INT(lt_events(A, LEASE_EV_HANDED_OFF, done, sizeof done), 2);
    EXPECT_EQ_INT(lt_count(A, -1), 2);
    EXPECT_EQ_INT(lease_handoff_complete(A, k2, &e), LEASE_E_LOST);
    EXPECT_OK(lease_renew(B, &e), e);
    EXPECT_EQ_INT(lt_count(B, LEASE_HELD), 2);
    EXPECT_EQ_INT(lt_state(B, k1), LEASE_HELD);
    EXPECT_EQ_INT(lt_state(B, k2), LEASE_HELD);
    lease_coord_free(A);
    lease_coord_free(B);
    lt_drop();
}

ITEST_T(lease_handoff_old_owner_dies, 60)
{
    lt_schema();
    lt_leases(2);
    struct err e = {0};
    const int64_t dur = 1000;
    struct lease_coord *A =
        lt_coord(&(struct lt_opts){.worker = "w-a", .graceful = true, .duration_ms = dur});
    ASSERT_OK(lease_take(A, &e), e);
    EXPECT_OK(lease_checkpoint(A, "shard-000", NULL, "500", 0, &e), e);
    EXPECT_OK(lease_checkpoint(A, "shard-001", NULL, "501", 0, &e), e);
    struct lease_coord *B =
        lt_coord(&(struct lt_opts){.worker = "w-b", .graceful = true, .duration_ms = dur});
    ASSERT_OK(lease_take(B, &e), e);
    ASSERT_TRUE(lt_count(B, LEASE_PENDING_HANDOFF_IN) == 1);
    /* A is dead from here on: it never renews again */
    int64_t t0 = lt_now_ms();
    bool checked_half = false;
    int64_t t_got = -1;
    while (lt_now_ms() - t0 < 4 * dur) {
        EXPECT_OK(lease_renew(B, &e), e);
        EXPECT_OK(lease_take(B, &e), e);
        int64_t since = lt_now_ms() - t0;
        if (since >= dur / 2 && !checked_half) {
            checked_half = true;
            EXPECT_EQ_INT(lt_count(B, LEASE_PENDING_HANDOFF_IN), 1);
            EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE checkpoint_owner = 'w-a'"), 1);
        }
        if (lt_count(B, LEASE_HELD) == 2) {
            t_got = since;
            break;
        }
        lt_sleep_ms(100);
    }
    EXPECT_TRUE(checked_half);
    EXPECT_GE_INT(t_got, dur);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_owner = 'w-b'"
                        " AND checkpoint_owner IS NULL AND checkpoint LIKE '50%%'"), 2);
    EXPECT_EQ_INT(lease_checkpoint(A, "shard-000", NULL, "600", 0, &e), LEASE_E_LOST);
    lease_coord_free(A);
    lease_coord_free(B);
    lt_drop();
}

ITEST_T(lease_max_leases_and_release, 60)
{
    lt_schema();
    lt_leases(6);
    struct err e = {0};
    struct lease_coord *A = lt_coord(&(struct lt_opts){.worker = "w-a", .max_leases = 2});
    ASSERT_OK(lease_take(A, &e), e);
    ASSERT_OK(lease_take(A, &e), e);
    EXPECT_EQ_INT(lt_count(A, LEASE_HELD), 2);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_owner IS NULL"), 4);
    char held[64], k[32];
    keys_in(A, LEASE_HELD, held, sizeof held);
    first_key(held, k);
    lt_events(A, LEASE_EV_ACQUIRED, NULL, 0);
    EXPECT_OK(lease_release(A, k, &e), e);
    EXPECT_EQ_INT(lt_events(A, LEASE_EV_RELEASED, NULL, 0), 1);
    char *owner = lt_q("SELECT coalesce(lease_owner, 'none') FROM @.leases WHERE lease_key = '%s'", k);
    EXPECT_EQ_STR(owner, "none");
    free(owner);
    EXPECT_EQ_INT(lease_checkpoint(A, k, NULL, "1", 0, &e), LEASE_E_LOST);
    EXPECT_EQ_INT(lease_release(A, k, &e), LEASE_E_LOST);
    EXPECT_EQ_INT(lt_count(A, LEASE_HELD), 1);
    /* a second worker takes what A may not */
    struct lease_coord *B = lt_coord(&(struct lt_opts){.worker = "w-b"});
    ASSERT_OK(lease_take(B, &e), e);
    EXPECT_EQ_INT(lt_count(B, LEASE_HELD), 3); /* target ceil(6/2) */
    EXPECT_OK(lease_release_all(B, &e), e);
    EXPECT_EQ_INT(lt_count(B, -1), 0);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_owner IS NULL"), 5);
    lease_coord_free(A);
    lease_coord_free(B);
    lt_drop();
}

ITEST_T(lease_drain_hands_everything_off, 60)
{
    lt_schema();
    lt_leases(4);
    struct err e = {0};
    struct lease_coord *A = lt_coord(&(struct lt_opts){.worker = "w-a", .graceful = true});
    struct lease_coord *B = lt_coord(&(struct lt_opts){.worker = "w-b", .graceful = true});
    ASSERT_OK(lease_take(A, &e), e);
    ASSERT_OK(lease_take(B, &e), e);
    ASSERT_TRUE(lt_count(A, LEASE_HELD) == 2 && lt_count(B, LEASE_HELD) == 2);
    lt_events(A, LEASE_EV_ACQUIRED, NULL, 0);
    /* `logfleetctl drain w-a`: A sees the flag at its next renew */
    EXPECT_EQ_INT(lease_worker_set_draining(t_env("COORD_DSN"), lt_schema_name(), LT_APP, "w-x",
                                            true, &e),
                  LEASE_E_NOTFOUND);
    ASSERT_OK(lease_worker_set_draining(t_env("COORD_DSN"), lt_schema_name(), LT_APP, "w-a", true, &e), e);
    EXPECT_OK(lease_renew(A, &e), e);
    EXPECT_TRUE(lease_draining(A));
    EXPECT_EQ_INT(lt_events(A, LEASE_EV_HANDOFF_REQUESTED, NULL, 0), 2);
    EXPECT_EQ_INT(lt_count(A, LEASE_HANDOFF_REQUESTED), 2);
    EXPECT_OK(lease_take(A, &e), e); /* takes nothing while draining */
    EXPECT_EQ_INT(lt_count(A, -1), 2);
    char held[64], k[32];
    keys_in(A, LEASE_HANDOFF_REQUESTED, held, sizeof held);
    for (int i = 0; i < 2; i++) {
        first_key(i ? held + strlen(k) + 1 : held, k);
        EXPECT_OK(lease_checkpoint(A, k, NULL, "900", 0, &e), e); /* the consumer's last one */
        EXPECT_OK(lease_handoff_complete(A, k, &e), e);
    }
    EXPECT_EQ_INT(lt_count(A, -1), 0);
    ASSERT_OK(lease_take(B, &e), e); /* a draining worker is not counted */
    EXPECT_EQ_INT(lt_count(B, LEASE_HELD), 4);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_owner = 'w-b'"
                        " AND checkpoint = '900'"), 2);

    struct lease_row *rows;
    size_t n;
    ASSERT_OK(lease_list(t_env("COORD_DSN"), lt_schema_name(), LT_APP, &rows, &n, &e), e);
    EXPECT_EQ_INT(n, 4);
    for (size_t i = 0; i < n; i++) EXPECT_EQ_STR(rows[i].owner, "w-b");
    if (n == 4) EXPECT_EQ_STR(rows[0].key, "shard-000");
    lease_rows_free(rows, n);
    struct lease_worker_row *w;
    ASSERT_OK(lease_workers_list(t_env("COORD_DSN"), lt_schema_name(), LT_APP, &w, &n, &e), e);
    EXPECT_EQ_INT(n, 2);
    if (n == 2) EXPECT_TRUE(w[0].draining && !w[1].draining);
    lease_worker_rows_free(w, n);

    /* SIGTERM path on B: drain in-process, then release what is left */
    EXPECT_OK(lease_drain(B, &e), e);
    EXPECT_EQ_INT(lt_count(B, LEASE_HANDOFF_REQUESTED), 4);
    EXPECT_OK(lease_release_all(B, &e), e);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_owner IS NULL"), 4);
    lease_coord_free(A);
    lease_coord_free(B);
    lt_drop();
}
