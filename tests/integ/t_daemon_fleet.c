/* t_daemon_fleet.c — several logfleetd workers sharing one stream: they
 * balance the leases, a killed worker's shards move on and resume at their
 * checkpoints with nothing skipped, and a joining worker takes its share by
 * graceful handoff without any record delivered twice. */
#include "tests/integ/t_daemon_fix.h"
#include "tests/integ/t_lease_fix.h"
#include "tests/t.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Waits until the workers own exactly want[] leases (any order) and none is
 * unowned.  Returns the time it took, or -1. */
static int64_t wait_balance(struct df *f, const char *const *names, int n, const int *want,
                            int64_t ms)
{
    int64_t t0 = df_now_ms();
    int w[DF_MAX_WORKERS], sorted_want[DF_MAX_WORKERS];
    memcpy(sorted_want, want, (size_t)n * sizeof *want);
    qsort(sorted_want, (size_t)n, sizeof *sorted_want, cmp_int);
    for (;;) {
        for (int i = 0; i < n; i++) w[i] = df_owned(f, names[i]);
        qsort(w, (size_t)n, sizeof *w, cmp_int);
        /* settled: the counts, nothing unowned, and no graceful handoff in
         * flight (lease_owner already names a handoff's new owner while the
         * old one still processes and checkpoints the shard) */
        if (!memcmp(w, sorted_want, (size_t)n * sizeof *w) && df_owned(f, NULL) == 0 &&
            df_handoffs_pending(f) == 0)
            return df_now_ms() - t0;
        if (df_now_ms() - t0 > ms) {
            fprintf(stderr, "  balance not reached:");
            for (int i = 0; i < n; i++) fprintf(stderr, " %s=%d", names[i], df_owned(f, names[i]));
            fprintf(stderr, " unowned=%d handoffs=%d\n", df_owned(f, NULL), df_handoffs_pending(f));
            return -1;
        }
        df_sleep_ms(200);
    }
}

/* Splits s in place at spaces into at most max words; returns the count. */
static int split_words(char *s, char **w, int max)
{
    int n = 0;
    while (*s && n < max) {
        while (*s == ' ') *s++ = 0;
        if (!*s) break;
        w[n++] = s;
        while (*s && *s != ' ') s++;
    }
    return n;
}

/* Keys of the leases owner holds, space separated (new string). */
static char *owned_keys(struct df *f, const char *owner)
{
    return lt_q("SELECT coalesce(string_agg(lease_key, ' ' ORDER BY lease_key), '') FROM @.leases"
                " WHERE app = '%s' AND lease_owner = '%s'", f->app, owner);
}

/* The text after the last line starting with prefix (NULL if none). */
static const char *after_last(const char *text, const char *prefix)
{
    const char *hit = NULL;
    size_t n = strlen(prefix);
    for (const char *l = text; l && *l;) {
        if (!strncmp(l, prefix, n)) hit = l;
        l = strchr(l, '\n');
        if (l) l++;
    }
    return hit;
}

/* The first line at or after offset from that starts with prefix (NULL if none). */
static const char *first_from(const char *text, size_t from, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *l = text + from; l && *l;) {
        if (!strncmp(l, prefix, n) && (l == text || l[-1] == '\n')) return l;
        l = strchr(l, '\n');
        if (l) l++;
    }
    return NULL;
}

/* After the kill (output offset mark): the first processor of shard that
 * another worker initialized started at the checkpoint the dead worker
 * left, and the first record it got comes after it.  (Later processors of
 * the shard may start further on: balancing can move it again.)  A shard
 * that got no new record may have its lease moved before the new owner's
 * child has written its initialize line (a python start under ASan on a
 * loaded machine), so the output is read again for up to 15 s. */
static void check_resumed(struct df *f, size_t mark, const char *shard, const char *checkpoint)
{
    char prefix[200], want[400];
    snprintf(prefix, sizeof prefix, "E initialize %s ", shard);
    struct df_out out;
    const char *init = NULL;
    for (int64_t t0 = df_now_ms();; df_sleep_ms(200)) {
        df_read(f, &out);
        init = first_from(out.text, mark, prefix);
        if (init || df_now_ms() - t0 > 15000) break;
        df_out_free(&out);
    }
    if (!init) df_out_free(&out);
    ASSERT_TRUE(init != NULL);
    snprintf(want, sizeof want, "%s%s ", prefix, checkpoint);
    EXPECT_TRUE(!strncmp(init, want, strlen(want)));
    snprintf(prefix, sizeof prefix, "\nR %s ", shard);
    const char *rec = strstr(init, prefix);
    char seq[KIN_SEQ_MAX];
    if (rec) { /* else nothing new for this shard */
        ASSERT_TRUE(sscanf(rec + strlen(prefix), "%129s", seq) == 1);
        EXPECT_TRUE(strlen(seq) > strlen(checkpoint) ||
                    (strlen(seq) == strlen(checkpoint) && strcmp(seq, checkpoint) > 0));
    }
    df_out_free(&out);
}

ITEST_T(daemon_three_workers_balance_and_survive_kill9, 90)
{
    struct df f;
    df_open(&f, "kill", 8);
    const char *props = df_props(&f, "app.properties", df_python_app(), "maxLeasesToStealAtOneTime = 2\n");
    const char *names[] = {"w1", "w2", "w3"};
    for (int i = 0; i < 3; i++) df_start(&f, names[i], props, NULL, NULL);
    const int want[] = {3, 3, 2};
    ASSERT_TRUE(wait_balance(&f, names, 3, want, 45000) >= 0);
    df_put_records(&f, 300, 16);
    ASSERT_TRUE(df_wait_all(&f, 20000));

    /* kill the worker with 3 leases; note the checkpoints it left */
    int victim = df_owned(&f, "w1") == 3 ? 0 : 1;
    char *keys = owned_keys(&f, names[victim]);
    struct df_out o;
    df_read(&f, &o);
    size_t mark = strlen(o.text); /* output before the kill */
    df_out_free(&o);
    df_signal(&f, victim, SIGKILL);
    df_wait_exit(&f, victim, 5000);
    int64_t killed = df_now_ms();
    char *cps[3] = {0}, *shards[3] = {0};
    int ns = split_words(keys, shards, 3);
    for (int i = 0; i < ns; i++) cps[i] = df_checkpoint(&f, shards[i]);
    EXPECT_EQ_INT(ns, 3);
    df_put_records(&f, 300, 16);

    /* Its shards move once a taker scan sees their counters unchanged for
     * longer than the failover time: the first scan after the kill may
     * still see the last renewal, so that is up to two taker intervals
     * (2 x 2 x (2000 + 25) ms, +10% jitter) after the kill, plus a renew
     * round for the taker's own bookkeeping. */
    const char *alive[] = {names[victim == 0 ? 1 : 0], "w3"};
    const int want2[] = {4, 4};
    ASSERT_TRUE(wait_balance(&f, alive, 2, want2, 30000) >= 0);
    int64_t moved_ms = df_now_ms() - killed;
    fprintf(stderr, "  leases moved %lld ms after kill -9\n", (long long)moved_ms);
    EXPECT_LE_INT(moved_ms, 2 * 2 * 2025 * 11 / 10 + 3500);

    /* nothing skipped, and each moved shard resumed at its checkpoint */
    ASSERT_TRUE(df_wait_all(&f, 30000));
    df_read(&f, &o);
    for (size_t i = 0; i < f.nput; i++) EXPECT_GE_INT(df_count(&o, &f.put[i]), 1);
    df_out_free(&o);
    for (int i = 0; i < ns; i++) {
        check_resumed(&f, mark, shards[i], cps[i]);
        free(cps[i]);
    }
    free(keys);
    df_close(&f);
}

/* Puts a few records every ~100 ms for ms. */
static void trickle(struct df *f, int64_t ms)
{
    for (int64_t end = df_now_ms() + ms; df_now_ms() < end; df_sleep_ms(100)) df_put_records(f, 8, 16);
}

ITEST_T(daemon_joining_worker_takes_share_by_handoff_without_duplicates, 90)
{
    struct df f;
    df_open(&f, "join", 8);
    const char *props = df_props(&f, "app.properties", df_node_app(), NULL);
    const char *names[] = {"w1", "w2", "w3", "w4"};
    for (int i = 0; i < 3; i++) df_start(&f, names[i], props, NULL, NULL);
    const int want3[] = {3, 3, 2};
    ASSERT_TRUE(wait_balance(&f, names, 3, want3, 45000) >= 0);
    trickle(&f, 1000);

    df_start(&f, "w4", props, NULL, NULL);
    const int want4[] = {2, 2, 2, 2};
    int64_t t0 = df_now_ms(), took = -1;
    while (took < 0 && df_now_ms() - t0 < 40000) {
        trickle(&f, 500);
        if (df_owned(&f, "w4") == 2) took = wait_balance(&f, names, 4, want4, 0);
    }
    ASSERT_TRUE(took >= 0 || wait_balance(&f, names, 4, want4, 0) >= 0);
    trickle(&f, 1000);
    ASSERT_TRUE(df_wait_all(&f, 20000));

    struct df_out o;
    df_read(&f, &o);
    size_t dup = 0;
    for (size_t i = 0; i < f.nput; i++) {
        int c = df_count(&o, &f.put[i]);
        EXPECT_GE_INT(c, 1);
        dup += c > 1;
    }
    EXPECT_EQ_INT(dup, 0);
    EXPECT_EQ_INT(o.n, f.nput);
    /* w4's leases came by graceful handoff: the old owner's child was asked
     * to shut down and checkpointed before w4's child started */
    char *keys = owned_keys(&f, "w4"), *w4[2];
    ASSERT_TRUE(split_words(keys, w4, 2) == 2);
    for (int i = 0; i < 2; i++) {
        char init[200], shut[200];
        snprintf(init, sizeof init, "E initialize %s ", w4[i]);
        snprintf(shut, sizeof shut, "E shutdownRequested %s ok", w4[i]);
        const char *a = after_last(o.text, shut), *b = after_last(o.text, init);
        EXPECT_TRUE(a != NULL && b != NULL && a < b);
    }
    free(keys);
    fprintf(stderr, "  %zu records, %d handoffs\n", f.nput, df_lines(&o, "E shutdownRequested "));
    df_out_free(&o);
    df_close(&f);
}
