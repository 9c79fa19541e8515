/* t_daemon_kcl.c — KCL MultiLangDaemon apps run unchanged under logfleetd:
 * a processor on the real aws-kcl npm package and one written against the
 * protocol alone receive every record of the stream, and their checkpoints
 * land in the lease table. */
#include "tests/integ/t_daemon_fix.h"
#include "tests/integ/t_lease_fix.h"
#include "tests/t.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* The last record put to shard (puts are sequential, so the newest). */
static const struct df_put *last_put(const struct df *f, const char *shard)
{
    const struct df_put *last = NULL;
    for (size_t i = 0; i < f->nput; i++)
        if (!strcmp(f->put[i].shard, shard)) last = &f->put[i];
    return last;
}

/* Every record delivered exactly once, every shard checkpointed at its
 * last record, both leases held by w1. */
static void check_app_run(struct df *f)
{
    ASSERT_TRUE(df_wait_all(f, 30000));
    struct df_out o;
    df_read(f, &o);
    for (size_t i = 0; i < f->nput; i++) EXPECT_EQ_INT(df_count(&o, &f->put[i]), 1);
    EXPECT_EQ_INT(o.n, f->nput);
    EXPECT_EQ_INT(df_lines(&o, "E initialize "), 2);
    df_out_free(&o);
    const char *shards[2] = {f->put[0].shard, NULL};
    for (size_t i = 0; i < f->nput && !shards[1]; i++)
        if (strcmp(f->put[i].shard, shards[0])) shards[1] = f->put[i].shard;
    ASSERT_TRUE(shards[1] != NULL);
    for (int s = 0; s < 2; s++) {
        const struct df_put *last = last_put(f, shards[s]);
        char *cp = NULL;
        for (int64_t end = df_now_ms() + 10000; df_now_ms() < end; df_sleep_ms(100)) {
            free(cp);
            cp = df_checkpoint(f, shards[s]);
            if (!strcmp(cp, last->seq)) break;
        }
        EXPECT_EQ_STR(cp, last->seq);
        free(cp);
    }
    EXPECT_EQ_INT(df_owned(f, "w1"), 2);
}

ITEST_T(daemon_node_aws_kcl_app_gets_every_record, 60)
{
    struct df f;
    df_open(&f, "node", 2);
    df_put_records(&f, 200, 8);
    const char *props = df_props(&f, "app.properties", df_node_app(), NULL);
    int w = df_start(&f, "w1", props, NULL, NULL);
    check_app_run(&f);
    /* the ops endpoint: ready, and the records counted */
    char *body;
    EXPECT_EQ_INT(df_http_get(&f, w, "/readyz", &body), 200);
    EXPECT_EQ_STR(body, "ready\n");
    free(body);
    EXPECT_EQ_INT(df_http_get(&f, w, "/metrics", &body), 200);
    EXPECT_CONTAINS(body, "\nlogfleet_consumer_records_total 200\n");
    EXPECT_CONTAINS(body, "\nlogfleet_leases_held 2\n");
    EXPECT_CONTAINS(body, "\nlogfleet_consumer_millis_behind_latest{shard=\"shardId-000000000000\"} ");
    free(body);
    df_signal(&f, w, SIGTERM);
    EXPECT_EQ_INT(df_wait_exit(&f, w, 20000), 0);
    EXPECT_EQ_INT(df_owned(&f, NULL), 2); /* released */
    df_close(&f);
}

/* executableName = "python3 app.py" with app.py next to the .properties
 * file, logfleetd started in "/": the child runs in the file's directory. */
ITEST_T(daemon_python_protocol_app_gets_every_record, 60)
{
    struct df f;
    df_open(&f, "py", 2);
    char *src = xasprintf("%s/tests/data/kcl/app.py", df_root());
    char *cmd = xasprintf("cp %s %s/app.py", src, f.dir);
    ASSERT_TRUE(system(cmd) == 0);
    df_put_records(&f, 200, 8);
    const char *props = df_props(&f, "app.properties", "python3 app.py", NULL);
    int w = df_start(&f, "w1", props, NULL, "/");
    check_app_run(&f);
    df_signal(&f, w, SIGTERM);
    EXPECT_EQ_INT(df_wait_exit(&f, w, 20000), 0);
    free(src);
    free(cmd);
    df_close(&f);
}
