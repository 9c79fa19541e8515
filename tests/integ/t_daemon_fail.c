/* t_daemon_fail.c — a child that hangs or exits mid-batch costs only its own
 * shard: the other shards keep flowing, the shard's lease stays with the
 * worker, and a new child resumes from the last checkpoint (the batch in
 * flight is delivered again; nothing is lost). */
#include "tests/integ/t_daemon_fix.h"
#include "tests/integ/t_lease_fix.h"
#include "tests/t.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* Waits until a line starting with prefix is in the output. */
static bool wait_line(struct df *f, const char *prefix, int64_t ms)
{
    for (int64_t end = df_now_ms() + ms;; df_sleep_ms(50)) {
        struct df_out o;
        df_read(f, &o);
        int n = df_lines(&o, prefix);
        df_out_free(&o);
        if (n) return true;
        if (df_now_ms() > end) return false;
    }
}

/* Waits until puts [from, to) all appear. */
static bool wait_puts(struct df *f, size_t from, size_t to, int64_t ms)
{
    for (int64_t end = df_now_ms() + ms;; df_sleep_ms(50)) {
        struct df_out o;
        df_read(f, &o);
        size_t seen = 0;
        for (size_t i = from; i < to; i++) seen += df_count(&o, &f->put[i]) > 0;
        df_out_free(&o);
        if (seen == to - from) return true;
        if (df_now_ms() > end) return false;
    }
}

/* Lines "<what> <shard> ..." in the output. */
static int count_prefix(struct df *f, const char *what, const char *shard)
{
    char p[256];
    snprintf(p, sizeof p, "%s %s ", what, shard);
    struct df_out o;
    df_read(f, &o);
    int n = df_lines(&o, p);
    df_out_free(&o);
    return n;
}

/* Puts [first, first + 50) went to one shard in 10-record batches; the
 * child failed in its third batch: [first + 20, first + 30) came twice,
 * the rest once, and the new child started at the checkpoint of record
 * first + 19. */
static void check_redelivery(struct df *f, const struct df_out *o, size_t first, const char *shard)
{
    for (size_t i = first; i < first + 50; i++)
        EXPECT_EQ_INT(df_count(o, &f->put[i]), i >= first + 20 && i < first + 30 ? 2 : 1);
    char want[400];
    snprintf(want, sizeof want, "E initialize %s %s 0\n", shard, f->put[first + 19].seq);
    EXPECT_CONTAINS(o->text, want);
    EXPECT_EQ_INT(count_prefix(f, "E initialize", shard), 2);
}

ITEST_T(daemon_hung_or_crashed_child_affects_only_its_shard, 60)
{
    struct df f;
    df_open(&f, "fail", 3);
    struct kin_shard_list l;
    struct err e;
    err_clear(&e);
    ASSERT_OK(kin_list_shards(f.k, f.stream, 0, &l, &e), e);
    ASSERT_TRUE(l.n == 3);
    for (int s = 0; s < 3; s++) df_put_to_hash(&f, 50, s, l.v[s].hash_start);
    char *bad = xasprintf("KCL_BAD=%s:hang:3,%s:exit:3", l.v[0].id, l.v[1].id);
    char *dir = xasprintf("KCL_BAD_DIR=%s", f.dir);
    const char *env[] = {bad, dir, NULL};
    const char *props = df_props(&f, "app.properties", df_python_app(),
                                 "maxRecords = 10\ntimeoutInSeconds = 4\n");
    df_start(&f, "w1", props, env, NULL);

    /* while shard 0's child hangs, shard 2 keeps flowing */
    char hang[200];
    snprintf(hang, sizeof hang, "E hanging %s ", l.v[0].id);
    ASSERT_TRUE(wait_line(&f, hang, 20000));
    int64_t t_hang = df_now_ms();
    size_t before = f.nput;
    df_put_to_hash(&f, 10, 2, l.v[2].hash_start);
    EXPECT_TRUE(wait_puts(&f, before, f.nput, 3000));
    EXPECT_LE_INT(df_now_ms() - t_hang, 3500);
    EXPECT_EQ_INT(count_prefix(&f, "E initialize", l.v[0].id), 1); /* still stuck */

    /* the hung child is killed after timeoutInSeconds, a new one resumes */
    ASSERT_TRUE(df_wait_all(&f, 25000));
    struct df_out o;
    df_read(&f, &o);
    check_redelivery(&f, &o, 0, l.v[0].id);
    check_redelivery(&f, &o, 50, l.v[1].id);
    for (size_t i = 100; i < f.nput; i++) EXPECT_EQ_INT(df_count(&o, &f.put[i]), 1);
    EXPECT_EQ_INT(count_prefix(&f, "E initialize", l.v[2].id), 1);
    EXPECT_EQ_INT(df_owned(&f, "w1"), 3);
    df_out_free(&o);
    kin_shard_list_free(&l);
    free(bad);
    free(dir);
    df_close(&f);
}
