/* t_lease.c — lease/ against PostgreSQL: migrations, balancing, failover,
 * fencing and the zombie guard. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lease/lease.h"
#include "lease/registry.h"
#include "lease/schema.h"
#include "tests/integ/t_lease_fix.h"
#include "tests/t.h"

ITEST_T(lease_migrate_concurrent_and_idempotent, 60)
{
    /* Fresh schema name, migrated by several processes released at once. */
    const char *s = lt_schema();
    lt_drop();
    enum { NKIDS = 6 };
    int go[2];
    ASSERT_TRUE(pipe(go) == 0);
    pid_t kids[NKIDS];
    for (int i = 0; i < NKIDS; i++) {
        kids[i] = fork();
        ASSERT_TRUE(kids[i] >= 0);
        if (kids[i] == 0) {
            close(go[1]);
            char b;
            if (read(go[0], &b, 1) < 0) _exit(3); /* EOF when the parent closes */
            struct err e = {0};
            int rc = lease_migrate(t_env("COORD_DSN"), s, &e);
            if (rc) fprintf(stderr, "  child %d: %s\n", i, e.msg);
            _exit(rc ? 1 : 0);
        }
    }
    close(go[0]);
    lt_sleep_ms(100); /* all children blocked on the pipe */
    close(go[1]);
    for (int i = 0; i < NKIDS; i++) {
        int st = 0;
        waitpid(kids[i], &st, 0);
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    struct err e = {0};
    EXPECT_OK(lease_migrate(t_env("COORD_DSN"), s, &e), e); /* and once more: a no-op */
    int latest = lease_schema_latest();
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.schema_migrations"), latest);
    EXPECT_EQ_INT(lt_qi("SELECT count(DISTINCT version) FROM @.schema_migrations"), latest);
    EXPECT_EQ_INT(lt_qi("SELECT max(version) FROM @.schema_migrations"), latest);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM information_schema.tables WHERE table_schema = '%s'"
                        " AND table_name IN ('leases', 'workers', 'schema_migrations')", s),
                  3);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM pg_indexes WHERE schemaname = '%s'"
                        " AND indexname = 'leases_owner_idx'", s),
                  1);
    EXPECT_EQ_INT(lease_migrate(t_env("COORD_DSN"), "Bad-Name", &e), -22);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    lt_drop();
}

/* Checks that HELD sets are disjoint and agree with the table. */
static void check_single_owner(struct lease_coord **cs, int n)
{
    char seen[64][16];
    int nseen = 0;
    for (int i = 0; i < n; i++) {
        struct lease_info *v;
        size_t k;
        lease_held_snapshot(cs[i], &v, &k);
        for (size_t j = 0; j < k; j++) {
            if (v[j].state != LEASE_HELD) continue;
            for (int q = 0; q < nseen; q++)
                if (!strcmp(seen[q], v[j].key)) T_REPORT_("lease %s held twice", v[j].key);
            if (nseen < 64) snprintf(seen[nseen++], sizeof seen[0], "%s", v[j].key);
            char *owner = lt_q("SELECT lease_owner FROM @.leases WHERE lease_key = '%s'", v[j].key);
            EXPECT_EQ_STR(owner, lease_coord_worker_id(cs[i]));
            free(owner);
        }
        lease_info_free(v, k);
    }
}

ITEST_T(lease_three_workers_settle_3_3_2, 60)
{
    lt_schema();
    lt_leases(8);
    struct lease_coord *cs[3] = {
        lt_coord(&(struct lt_opts){.worker = "w-a"}),
        lt_coord(&(struct lt_opts){.worker = "w-b"}),
        lt_coord(&(struct lt_opts){.worker = "w-c"}),
    };
    struct err e = {0};
    int settled_at = -1;
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < 3; i++) EXPECT_OK(lease_take(cs[i], &e), e);
        for (int i = 0; i < 3; i++) EXPECT_OK(lease_renew(cs[i], &e), e);
        check_single_owner(cs, 3);
        int n[3];
        for (int i = 0; i < 3; i++) n[i] = lt_count(cs[i], LEASE_HELD);
        int big = (n[0] == 3) + (n[1] == 3) + (n[2] == 3), small = (n[0] == 2) + (n[1] == 2) + (n[2] == 2);
        if (big == 2 && small == 1) {
            if (settled_at < 0) settled_at = round;
        } else if (settled_at >= 0) {
            T_REPORT_("round %d: unsettled again %d/%d/%d", round, n[0], n[1], n[2]);
        }
        EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_owner IS NOT NULL"),
                      n[0] + n[1] + n[2]);
        lt_sleep_ms(50);
    }
    EXPECT_TRUE(settled_at >= 0 && settled_at <= 2);
    /* settling moved no lease twice */
    EXPECT_EQ_INT(lt_qi("SELECT max(owner_switches) FROM @.leases"), 1);
    for (int i = 0; i < 3; i++) lease_coord_free(cs[i]);
    lt_drop();
}

/* The doomed worker: takes all 8 leases, checkpoints them, then renews
 * until it is killed. */
static void doomed_worker(int to_parent)
{
    struct lease_coord *k = lt_coord(&(struct lt_opts){.worker = "w-doomed", .duration_ms = 1200});
    struct err e = {0};
    if (lease_take(k, &e) || lt_count(k, LEASE_HELD) != 8) _exit(3);
    struct lease_info *v;
    size_t n;
    lease_held_snapshot(k, &v, &n);
    for (size_t i = 0; i < n; i++) {
        char seq[32];
        snprintf(seq, sizeof seq, "4242%s", v[i].key + strlen("shard-"));
        if (lease_checkpoint(k, v[i].key, v[i].token, seq, 7, &e)) _exit(4);
    }
    lease_info_free(v, n);
    char b = 'h';
    if (write(to_parent, &b, 1) != 1) _exit(5);
    for (;;) {
        lease_renew(k, &e);
        lt_sleep_ms(150);
    }
}

ITEST_T(lease_failover_after_expiry_not_before, 60)
{
    lt_schema();
    lt_leases(8);
    int up[2];
    ASSERT_TRUE(pipe(up) == 0);
    pid_t kid = fork();
    ASSERT_TRUE(kid >= 0);
    if (kid == 0) doomed_worker(up[1]);
    char b;
    ASSERT_TRUE(read(up[0], &b, 1) == 1 && b == 'h');
    const int64_t dur = 1200;
    /* B may not steal: it can only get leases that expire */
    struct lease_coord *B =
        lt_coord(&(struct lt_opts){.worker = "w-b", .duration_ms = dur, .max_steal = -1});
    struct err e = {0};
    for (int i = 0; i < 5; i++) { /* both live: B observes the other renewing */
        EXPECT_OK(lease_take(B, &e), e);
        EXPECT_OK(lease_renew(B, &e), e);
        lt_sleep_ms(150);
    }
    EXPECT_EQ_INT(lt_count(B, -1), 0);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_owner = 'w-doomed'"), 8);
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    int64_t t_kill = lt_now_ms(), t_taken = -1;
    bool checked_half = false;
    while (lt_now_ms() - t_kill < 4 * dur) {
        EXPECT_OK(lease_renew(B, &e), e);
        EXPECT_OK(lease_take(B, &e), e);
        int64_t since = lt_now_ms() - t_kill;
        int held = lt_count(B, LEASE_HELD);
        if (since >= dur / 2 && !checked_half) {
            checked_half = true;
            EXPECT_EQ_INT(held, 0); /* not taken at 0.5 x duration */
            EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_owner = 'w-doomed'"), 8);
        }
        if (held > 0 && t_taken < 0) t_taken = since;
        if (held == 8) break;
        lt_sleep_ms(100);
    }
    EXPECT_TRUE(checked_half);
    EXPECT_EQ_INT(lt_count(B, LEASE_HELD), 8);
    /* the doomed worker's last renew was at most ~150 ms before the kill */
    EXPECT_GE_INT(t_taken, dur - 200);
    /* its checkpoints survived the move */
    struct lease_info *v;
    size_t n;
    lease_held_snapshot(B, &v, &n);
    for (size_t i = 0; i < n; i++) {
        EXPECT_EQ_INT(strncmp(v[i].checkpoint, "4242", 4), 0);
        EXPECT_EQ_STR(v[i].checkpoint + 4, v[i].key + strlen("shard-"));
        EXPECT_EQ_INT(v[i].checkpoint_sub, 7);
    }
    lease_info_free(v, n);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE owner_switches = 1"
                        " AND checkpoint LIKE '4242%%' AND lease_owner = 'w-b'"), 8);
    lease_coord_free(B);
    lt_drop();
}

ITEST_T(lease_fencing_after_steal, 60)
{
    lt_schema();
    lt_leases(2);
    struct err e = {0};
    struct lease_coord *A = lt_coord(&(struct lt_opts){.worker = "w-a"});
    ASSERT_OK(lease_take(A, &e), e);
    ASSERT_TRUE(lt_count(A, LEASE_HELD) == 2);
    EXPECT_OK(lease_checkpoint(A, "shard-000", NULL, "100", 0, &e), e);
    EXPECT_OK(lease_checkpoint(A, "shard-001", NULL, "100", 0, &e), e);
    struct lease_coord *B = lt_coord(&(struct lt_opts){.worker = "w-b"});
    ASSERT_OK(lease_take(B, &e), e); /* A has 2 > target 1: B steals one */
    ASSERT_TRUE(lt_count(B, LEASE_HELD) == 1);
    struct lease_info *v;
    size_t n;
    lease_held_snapshot(B, &v, &n);
    char stolen[32], kept[32];
    snprintf(stolen, sizeof stolen, "%s", v[0].key);
    snprintf(kept, sizeof kept, "%s", strcmp(stolen, "shard-000") ? "shard-000" : "shard-001");
    lease_info_free(v, n);
    long long ctr = lt_qi("SELECT lease_counter FROM @.leases WHERE lease_key = '%s'", stolen);

    EXPECT_EQ_INT(lease_checkpoint(A, stolen, NULL, "200", 0, &e), LEASE_E_LOST);
    EXPECT_EQ_INT(e.code, LEASE_E_LOST);
    char *cp = lt_q("SELECT checkpoint || '/' || lease_owner FROM @.leases WHERE lease_key = '%s'", stolen);
    EXPECT_EQ_STR(cp, "100/w-b");
    free(cp);
    EXPECT_EQ_INT(lt_qi("SELECT lease_counter FROM @.leases WHERE lease_key = '%s'", stolen), ctr);
    EXPECT_EQ_INT(lt_state(A, stolen), -1); /* dropped, and reported */
    char keys[128];
    EXPECT_EQ_INT(lt_events(A, LEASE_EV_LOST, keys, sizeof keys), 1);
    EXPECT_EQ_STR(keys, stolen);
    EXPECT_OK(lease_checkpoint(A, kept, NULL, "300", 0, &e), e);

    /* the concurrency token fences an earlier tenure of the same lease */
    char tok[33];
    lt_token(B, stolen, tok);
    EXPECT_EQ_INT(lease_checkpoint(B, stolen, "0123456789abcdef0123456789abcdef", "250", 0, &e),
                  LEASE_E_LOST);
    EXPECT_OK(lease_checkpoint(B, stolen, tok, "250", 0, &e), e);
    EXPECT_EQ_INT(lease_checkpoint(B, stolen, tok, "25x", 0, &e), LEASE_E_INVAL);
    lease_coord_free(A);
    lease_coord_free(B);
    lt_drop();
}

ITEST_T(lease_zombie_guard_refuses_expired_renew, 60)
{
    lt_schema();
    lt_leases(2);
    struct err e = {0};
    const int64_t dur = 800;
    struct lease_coord *A = lt_coord(&(struct lt_opts){.worker = "w-a", .duration_ms = dur});
    ASSERT_OK(lease_take(A, &e), e);
    ASSERT_TRUE(lt_count(A, LEASE_HELD) == 2);
    lt_events(A, LEASE_EV_ACQUIRED, NULL, 0);
    lt_sleep_ms(dur / 2);
    EXPECT_OK(lease_renew(A, &e), e); /* in time: renewed */
    EXPECT_EQ_INT(lt_count(A, LEASE_HELD), 2);
    long long before = lt_qi("SELECT sum(lease_counter) FROM @.leases");
    lt_sleep_ms(dur + 150); /* a long pause: both leases expired locally */
    EXPECT_EQ_INT(lease_checkpoint(A, "shard-000", NULL, "5", 0, &e), LEASE_E_LOST);
    EXPECT_OK(lease_renew(A, &e), e);
    EXPECT_EQ_INT(lt_count(A, -1), 0);
    EXPECT_EQ_INT(lt_events(A, LEASE_EV_LOST, NULL, 0), 2);
    /* nothing was written: the rows still name A, counters untouched */
    EXPECT_EQ_INT(lt_qi("SELECT sum(lease_counter) FROM @.leases"), before);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE lease_owner = 'w-a'"), 2);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE checkpoint = '5'"), 0);
    lease_coord_free(A);
    lt_drop();
}

ITEST_T(lease_renew_adopts_own_lost_write, 60)
{
    lt_schema();
    lt_leases(1);
    struct err e = {0};
    struct lease_coord *A = lt_coord(&(struct lt_opts){.worker = "w-a"});
    ASSERT_OK(lease_take(A, &e), e);
    long long c0 = lt_qi("SELECT lease_counter FROM @.leases");
    /* as if A's last write committed but its reply was lost */
    free(lt_q("UPDATE @.leases SET lease_counter = lease_counter + 1"));
    EXPECT_OK(lease_renew(A, &e), e);
    EXPECT_EQ_INT(lt_count(A, LEASE_HELD), 1);
    EXPECT_EQ_INT(lt_qi("SELECT lease_counter FROM @.leases"), c0 + 2);
    free(lt_q("UPDATE @.leases SET lease_counter = lease_counter + 1"));
    EXPECT_OK(lease_checkpoint(A, "shard-000", NULL, "77", 0, &e), e);
    EXPECT_EQ_INT(lt_qi("SELECT lease_counter FROM @.leases"), c0 + 4);
    /* a jump of two is someone else's write: lost */
    free(lt_q("UPDATE @.leases SET lease_counter = lease_counter + 2"));
    EXPECT_OK(lease_renew(A, &e), e);
    EXPECT_EQ_INT(lt_count(A, -1), 0);
    EXPECT_EQ_INT(lt_events(A, LEASE_EV_LOST, NULL, 0), 1);
    lease_coord_free(A);
    lt_drop();
}

ITEST_T(lease_renew_heartbeats_and_throughput, 60)
{
    lt_schema();
    lt_leases(1);
    struct err e = {0};
    struct lease_coord *A = lt_coord(&(struct lt_opts){.worker = "w-a"});
    ASSERT_OK(lease_take(A, &e), e);
    free(lt_q("UPDATE @.workers SET heartbeat_at = now() - interval '1 hour'"));
    lease_add_bytes(A, "shard-000", 200 * 1024);
    lt_sleep_ms(200);
    EXPECT_OK(lease_renew(A, &e), e);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.workers WHERE heartbeat_at > now() - interval '10 s'"
                        " AND leases_held = 1"), 1);
    EXPECT_GE_INT(lt_qi("SELECT throughput_kbps FROM @.leases"), 100);
    struct lease_worker_row *w;
    size_t n;
    ASSERT_OK(lease_workers_list(t_env("COORD_DSN"), lt_schema_name(), LT_APP, &w, &n, &e), e);
    ASSERT_TRUE(n == 1);
    EXPECT_EQ_STR(w[0].worker_id, "w-a");
    EXPECT_EQ_INT(w[0].leases_held, 1);
    EXPECT_TRUE(!w[0].draining);
    EXPECT_CONTAINS(w[0].heartbeat_at, "Z");
    lease_worker_rows_free(w, n);
    EXPECT_OK(lease_worker_deregister(A, &e), e);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.workers"), 0);
    lease_coord_free(A);
    lt_drop();
}

struct ckpt_arg {
    struct lease_coord *c;
    char key[16];
    int ok, fail;
};

static void *checkpointer(void *p)
{
    struct ckpt_arg *a = p;
    struct err e = {0};
    for (int i = 1; i <= 40; i++) {
        char seq[24];
        snprintf(seq, sizeof seq, "%d", 1000 + i);
        if (lease_checkpoint(a->c, a->key, NULL, seq, i, &e) == 0) a->ok++;
        else a->fail++;
    }
    return NULL;
}

ITEST_T(lease_checkpoints_from_threads_during_renew, 60)
{
    lt_schema();
    lt_leases(4);
    struct err e = {0};
    struct lease_coord *A = lt_coord(&(struct lt_opts){.worker = "w-a"});
    ASSERT_OK(lease_take(A, &e), e);
    ASSERT_TRUE(lt_count(A, LEASE_HELD) == 4);
    long long c0 = lt_qi("SELECT sum(lease_counter) FROM @.leases");
    struct ckpt_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct ckpt_arg){.c = A};
        snprintf(a[i].key, sizeof a[i].key, "shard-%03d", i);
        pthread_create(&th[i], NULL, checkpointer, &a[i]);
    }
    int renews = 0;
    for (int i = 0; i < 20; i++, renews++) { /* the coordinator thread meanwhile */
        EXPECT_OK(lease_renew(A, &e), e);
        EXPECT_OK(lease_take(A, &e), e);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        EXPECT_EQ_INT(a[i].ok, 40);
        EXPECT_EQ_INT(a[i].fail, 0);
    }
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM @.leases WHERE checkpoint = '1040'"
                        " AND checkpoint_sub = 40 AND lease_owner = 'w-a'"), 4);
    /* every renew and checkpoint moved each counter exactly once */
    EXPECT_EQ_INT(lt_qi("SELECT sum(lease_counter) FROM @.leases"), c0 + 4 * (40 + renews));
    lease_coord_free(A);
    lt_drop();
}
