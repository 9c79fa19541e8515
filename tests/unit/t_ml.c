/* t_ml.c — the multilang processor driving real children: a Python child
 * written against the protocol alone (tests/data/ml/proc.py) and a Node
 * child on the real aws-kcl API (tests/data/ml/kcl_app.js).  Needs python3
 * and node on PATH and node_modules/aws-kcl under the repo root (found from
 * $LOGFLEET_ROOT, else upwards from the test binary, else the cwd). */
#include "common/log.h"
#include "common/mem.h"
#include "worker/multilang.h"
#include "tests/t.h"
#include "tests/unit/t_files.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* 56-digit sequence numbers, strictly increasing. */
#define S0 "49590338271490256608559692538361571095921575989136588800"
#define S1 "49590338271490256608559692538361571095921575989136588801"
#define S2 "49590338271490256608559692538361571095921575989136588802"
#define S3 "49590338271490256608559692538361571095921575989136588803"
#define S4 "49590338271490256608559692538361571095921575989136588804"
#define S9 "49590338271490256608559692538361571095921575989136588899"

static const char *repo_root(void)
{
    static char root[PATH_MAX];
    if (!root[0]) t_root_find("tests/data/ml/proc.py", root, sizeof root);
    return root;
}

static char *tmp_path(const char *name)
{
    return xasprintf("%s/%s", t_tmpdir(), name);
}

/* The n-th (0-based) line of text, as a new string. */
static char *nth_line(const char *text, int n)
{
    for (; n > 0 && text; n--) {
        text = strchr(text, '\n');
        if (text) text++;
    }
    if (!text || !*text) return xstrdup("(no such line)");
    const char *end = strchr(text, '\n');
    return xstrndup(text, end ? (size_t)(end - text) : strlen(text));
}

static int fd_count(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static int64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* No live process (zombies aside: init reaps orphans when it gets to them)
 * is left in process group pgid. */
static int no_children_left(void)
{
    return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

static int group_gone(pid_t pgid)
{
    if (kill(-pgid, 0) < 0 && errno == ESRCH) return 1;
    DIR *d = opendir("/proc");
    int alive = 0;
    for (struct dirent *de; d && (de = readdir(d)) != NULL;) {
        char path[300], st[512];
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(st, 1, sizeof st - 1, f);
        fclose(f);
        st[n] = '\0';
        char *rp = strrchr(st, ')'), state;
        int ppid, pgrp;
        if (rp && sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
            state != 'Z' && state != 'X')
            alive++;
    }
    if (d) closedir(d);
    return alive == 0;
}

/* A checkpointer that records every call and answers t->result. */
struct tcp {
    struct checkpointer cp;
    enum ckpt_result result;
    int n;
    char seq[16][80];
    int64_t sub[16];
};

static enum ckpt_result tcp_checkpoint(struct checkpointer *c, const char *seq, int64_t sub)
{
    struct tcp *t = c->ctx;
    if (t->n < 16) {
        strlcpy_(t->seq[t->n], seq ? seq : "(null)", sizeof t->seq[0]);
        t->sub[t->n] = sub;
    }
    t->n++;
    return t->result;
}

static const struct checkpointer_ops tcp_ops = {tcp_checkpoint};

static void tcp_init(struct tcp *t)
{
    memset(t, 0, sizeof *t);
    t->cp.ops = &tcp_ops;
    t->cp.ctx = t;
}

static const char *py_argv[4];
static const char *node_argv[4];

static struct ml_opts py_opts(void)
{
    static char *script;
    if (!script) script = xasprintf("%s/tests/data/ml/proc.py", repo_root());
    py_argv[0] = "python3";
    py_argv[1] = script;
    struct ml_opts o = {.argv = py_argv, .shard_id = "shardId-000000000001",
                        .action_timeout_ms = 20000, .shutdown_timeout_ms = 5000,
                        .kill_grace_ms = 1000, .cancel_fd = -1};
    return o;
}

static struct proc_record rec(const void *data, size_t len, const char *seq, int64_t sub)
{
    return (struct proc_record){data, len, "pk", seq, sub, 1717000000000 + sub};
}

static struct proc_batch batch(const struct proc_record *r, size_t n)
{
    return (struct proc_batch){r, n, 0};
}

static char *hex(const unsigned char *d, size_t n)
{
    char *s = xmalloc(n * 2 + 1);
    for (size_t i = 0; i < n; i++) snprintf(s + 2 * i, 3, "%02x", d[i]);
    s[n * 2] = '\0';
    return s;
}

TEST(ml_python_lifecycle_batches_then_shard_end)
{
    int fds0 = fd_count();
    char *out = tmp_path("out"), *echo = tmp_path("echo");
    setenv("ML_OUT", out, 1);
    setenv("ML_ECHO", echo, 1);
    struct ml_opts o = py_opts();
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    ASSERT_OK(ml_processor_new(&o, &p, &e), e);
    ASSERT_OK(p.ops->initialize(&p, "shardId-000000000001", "TRIM_HORIZON", 0, &e), e);
    pid_t pid = ml_processor_pid(&p);
    EXPECT_TRUE(pid > 0);
    EXPECT_EQ_INT(getpgid(pid), pid); /* its own process group */

    static const unsigned char bin[] = {0, '\n', 0xff, '\r', '"', 0x80, 'a', 0, '\\'};
    struct proc_record b1[] = {rec(bin, sizeof bin, S1, 0), rec("", 0, S2, 0), rec(NULL, 0, S3, 0)};
    struct proc_batch pb = batch(b1, 3);
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    /* a KPL aggregate, de-aggregated: one seq, sub-sequences 0..2 */
    struct proc_record b2[] = {rec("x", 1, S4, 0), rec("y", 1, S4, 1), rec("z", 1, S4, 2)};
    pb = batch(b2, 3);
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    /* one 1 MiB record: a ~1.4 MB line */
    size_t big_n = 1 << 20;
    unsigned char *big = xmalloc(big_n);
    for (size_t i = 0; i < big_n; i++) big[i] = (unsigned char)(i * 2654435761u >> 13);
    struct proc_record b3[] = {rec(big, big_n, S9, 0)};
    pb = batch(b3, 1);
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    EXPECT_OK(p.ops->shard_ended(&p, &cp.cp, &e), e);
    EXPECT_EQ_INT(ml_processor_pid(&p), 0);
    EXPECT_TRUE(group_gone(pid));
    processor_free(&p);
    EXPECT_EQ_INT(fd_count(), fds0);
    EXPECT_TRUE(no_children_left()); /* reaped: no zombie */

    /* every record's bytes arrived intact */
    char *got = t_slurp(out), *bighex = hex(big, big_n);
    char *want = xasprintf(S1 " 0 000aff0d228061005c\n" S2 " 0 \n" S3 " 0 null\n" S4 " 0 78\n" S4
                     " 1 79\n" S4 " 2 7a\n" S9 " 0 %s\n", bighex);
    EXPECT_TRUE(strcmp(got, want) == 0);
    if (strcmp(got, want) != 0) fprintf(stderr, "  data file differs (%zu vs %zu bytes)\n", strlen(got), strlen(want));
    /* checkpoints: each batch at its last record, then SHARD_END */
    EXPECT_EQ_INT(cp.n, 4);
    EXPECT_EQ_STR(cp.seq[0], S3);
    EXPECT_EQ_STR(cp.seq[1], S4);
    EXPECT_EQ_INT(cp.sub[1], 2);
    EXPECT_EQ_STR(cp.seq[2], S9);
    EXPECT_EQ_STR(cp.seq[3], "SHARD_END");
    EXPECT_EQ_INT(cp.sub[3], 0);
    /* the exact lines the daemon wrote */
    char *lines = t_slurp(echo);
    char *l0 = nth_line(lines, 0), *l1 = nth_line(lines, 1), *l2 = nth_line(lines, 2);
    EXPECT_EQ_STR(l0, "{\"action\":\"initialize\",\"shardId\":\"shardId-000000000001\","
                      "\"sequenceNumber\":\"TRIM_HORIZON\",\"subSequenceNumber\":0}");
    EXPECT_EQ_STR(l1, "{\"action\":\"processRecords\",\"records\":["
                      "{\"data\":\"AAr/DSKAYQBc\",\"partitionKey\":\"pk\",\"sequenceNumber\":\"" S1 "\","
                      "\"approximateArrivalTimestamp\":1717000000000,\"subSequenceNumber\":0,\"action\":\"record\"},"
                      "{\"data\":\"\",\"partitionKey\":\"pk\",\"sequenceNumber\":\"" S2 "\","
                      "\"approximateArrivalTimestamp\":1717000000000,\"subSequenceNumber\":0,\"action\":\"record\"},"
                      "{\"data\":null,\"partitionKey\":\"pk\",\"sequenceNumber\":\"" S3 "\","
                      "\"approximateArrivalTimestamp\":1717000000000,\"subSequenceNumber\":0,\"action\":\"record\"}],"
                      "\"millisBehindLatest\":0}");
    EXPECT_EQ_STR(l2, "{\"action\":\"checkpoint\",\"sequenceNumber\":\"" S3 "\",\"subSequenceNumber\":0,\"error\":null}");
    char *shard_end = nth_line(lines, 7), *reply = nth_line(lines, 8);
    EXPECT_EQ_STR(shard_end, "{\"action\":\"shardEnded\"}");
    EXPECT_EQ_STR(reply, "{\"action\":\"checkpoint\",\"sequenceNumber\":null,\"subSequenceNumber\":null,\"error\":null}");
    free(big), free(bighex), free(got), free(want), free(lines), free(l0), free(l1), free(l2);
    free(shard_end), free(reply), free(out), free(echo);
}

/* Starts proc.py with the current environment and initializes it. */
static void start_py(struct processor *p, struct ml_opts *o, const char *seq)
{
    struct err e = {0};
    ASSERT_OK(ml_processor_new(o, p, &e), e);
    ASSERT_OK(p->ops->initialize(p, "shardId-000000000001", seq, 0, &e), e);
}

TEST(ml_python_shutdown_requested_then_lease_lost)
{
    char *echo = tmp_path("echo");
    setenv("ML_ECHO", echo, 1);
    setenv("ML_SCRIPT", "{\"processRecords\":[]}", 1); /* no checkpoint in batches */
    struct ml_opts o = py_opts();
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    start_py(&p, &o, S0);
    pid_t pid = ml_processor_pid(&p);
    struct proc_record b[] = {rec("a", 1, S1, 0), rec("b", 1, S2, 0)};
    struct proc_batch pb = {b, 2, -1};
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    EXPECT_EQ_INT(cp.n, 0);
    /* null checkpoint: the largest delivered reaches the checkpointer */
    EXPECT_OK(p.ops->shutdown_requested(&p, &cp.cp, &e), e);
    EXPECT_EQ_INT(cp.n, 1);
    EXPECT_EQ_STR(cp.seq[0], S2);
    EXPECT_EQ_INT(cp.sub[0], 0);
    EXPECT_TRUE(ml_processor_pid(&p) == pid); /* the child stays for leaseLost */
    EXPECT_OK(p.ops->lease_lost(&p, &e), e);
    EXPECT_TRUE(group_gone(pid));
    /* after the end every call is refused */
    EXPECT_TRUE(p.ops->process_records(&p, &pb, &cp.cp, &e) < 0);
    EXPECT_CONTAINS(e.msg, "already shut down");
    processor_free(&p);
    char *lines = t_slurp(echo);
    char *l0 = nth_line(lines, 0), *l1 = nth_line(lines, 1), *l2 = nth_line(lines, 2),
         *l3 = nth_line(lines, 3), *l4 = nth_line(lines, 4), *l5 = nth_line(lines, 5);
    EXPECT_EQ_STR(l0, "{\"action\":\"initialize\",\"shardId\":\"shardId-000000000001\","
                      "\"sequenceNumber\":\"" S0 "\",\"subSequenceNumber\":0}");
    EXPECT_CONTAINS(l1, "],\"millisBehindLatest\":null}");
    EXPECT_EQ_STR(l2, "{\"action\":\"shutdownRequested\"}");
    EXPECT_EQ_STR(l3, "{\"action\":\"checkpoint\",\"sequenceNumber\":null,\"subSequenceNumber\":null,\"error\":null}");
    EXPECT_EQ_STR(l4, "{\"action\":\"leaseLost\"}");
    EXPECT_EQ_STR(l5, "(no such line)");
    free(lines), free(l0), free(l1), free(l2), free(l3), free(l4), free(l5), free(echo);
}

TEST(ml_pinned_checkpoint_replies_and_garbage)
{
    char *echo = tmp_path("echo");
    setenv("ML_ECHO", echo, 1);
    setenv("ML_GARBAGE", "1", 1);
    setenv("ML_SCRIPT",
           "{\"initialize\":[{\"sequenceNumber\":null}],"
           "\"processRecords\":[{\"sequenceNumber\":\"" S9 "\",\"subSequenceNumber\":0},"
           "{\"sequenceNumber\":null},{\"sequenceNumber\":\"" S1 "\"},"
           "{\"sequenceNumber\":\"" S2 "\",\"subSequenceNumber\":-1},{\"sequenceNumber\":\"12ab\"},"
           "{\"sequenceNumber\":\"" S2 "\",\"subSequenceNumber\":1}],"
           "\"leaseLost\":[{\"sequenceNumber\":null}]}", 1);
    struct ml_opts o = py_opts();
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    log_set_level(LOG_WARN); /* the skipped lines are logged at info */
    start_py(&p, &o, "TRIM_HORIZON");
    struct proc_record b[] = {rec("a", 1, S1, 0), rec("b", 1, S2, 0), rec("c", 1, S2, 1)};
    b[1].partition_key = "q\"b\\c\n\t\x01\x7f/\xc3\xa9\xff\xe2\x82";
    struct proc_batch pb = batch(b, 3);
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    EXPECT_OK(p.ops->lease_lost(&p, &e), e);
    processor_free(&p);
    /* only the null request reached the store, at the largest delivered */
    EXPECT_EQ_INT(cp.n, 1);
    EXPECT_EQ_STR(cp.seq[0], S2);
    EXPECT_EQ_INT(cp.sub[0], 1);
    char *lines = t_slurp(echo);
    const char *want[] = {
        "{\"action\":\"initialize\",\"shardId\":\"shardId-000000000001\",\"sequenceNumber\":\"TRIM_HORIZON\","
        "\"subSequenceNumber\":0}",
        "{\"action\":\"checkpoint\",\"sequenceNumber\":null,\"subSequenceNumber\":null,\"error\":\"InvalidStateException\"}",
        NULL, /* processRecords */
        "{\"action\":\"checkpoint\",\"sequenceNumber\":\"" S9 "\",\"subSequenceNumber\":0,\"error\":\"IllegalArgumentException\"}",
        "{\"action\":\"checkpoint\",\"sequenceNumber\":null,\"subSequenceNumber\":null,\"error\":null}",
        "{\"action\":\"checkpoint\",\"sequenceNumber\":\"" S1 "\",\"subSequenceNumber\":null,\"error\":\"IllegalArgumentException\"}",
        "{\"action\":\"checkpoint\",\"sequenceNumber\":\"" S2 "\",\"subSequenceNumber\":-1,\"error\":\"IllegalArgumentException\"}",
        "{\"action\":\"checkpoint\",\"sequenceNumber\":\"12ab\",\"subSequenceNumber\":null,\"error\":\"IllegalArgumentException\"}",
        /* repeating the current checkpoint: accepted, nothing written */
        "{\"action\":\"checkpoint\",\"sequenceNumber\":\"" S2 "\",\"subSequenceNumber\":1,\"error\":null}",
        "{\"action\":\"leaseLost\"}",
        "{\"action\":\"checkpoint\",\"sequenceNumber\":null,\"subSequenceNumber\":null,\"error\":\"InvalidStateException\"}",
        "(no such line)",
    };
    for (int i = 0; i < (int)(sizeof want / sizeof *want); i++) {
        char *l = nth_line(lines, i);
        if (want[i]) EXPECT_EQ_STR(l, want[i]);
        else EXPECT_CONTAINS(l, "\"partitionKey\":\"q\\\"b\\\\c\\n\\t\\u0001\x7f/\xc3\xa9\\uFFFD\\uFFFD\\uFFFD\",");
        free(l);
    }
    free(lines), free(echo);
}

TEST(ml_checkpointer_errors_reach_the_child)
{
    char *echo = tmp_path("echo");
    setenv("ML_ECHO", echo, 1);
    struct ml_opts o = py_opts();
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    cp.result = CKPT_SHUTDOWN;
    start_py(&p, &o, "LATEST");
    struct proc_record b[] = {rec("a", 1, S1, 0)};
    struct proc_batch pb = batch(b, 1);
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    cp.result = CKPT_THROTTLING;
    EXPECT_OK(p.ops->shutdown_requested(&p, &cp.cp, &e), e);
    /* the failed write did not advance the last checkpoint: retried */
    EXPECT_EQ_INT(cp.n, 2);
    EXPECT_EQ_STR(cp.seq[0], S1);
    EXPECT_EQ_STR(cp.seq[1], S1);
    processor_free(&p); /* destroy without leaseLost: stdin closed, child exits */
    char *lines = t_slurp(echo);
    char *l2 = nth_line(lines, 2), *l4 = nth_line(lines, 4);
    EXPECT_EQ_STR(l2, "{\"action\":\"checkpoint\",\"sequenceNumber\":\"" S1 "\",\"subSequenceNumber\":0,"
                      "\"error\":\"ShutdownException\"}");
    EXPECT_EQ_STR(l4, "{\"action\":\"checkpoint\",\"sequenceNumber\":null,\"subSequenceNumber\":null,"
                      "\"error\":\"ThrottlingException\"}");
    free(lines), free(l2), free(l4), free(echo);
}

TEST(ml_empty_batches)
{
    char *echo = tmp_path("echo");
    setenv("ML_ECHO", echo, 1);
    struct ml_opts o = py_opts();
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    struct proc_batch empty = {NULL, 0, 5};
    start_py(&p, &o, "TRIM_HORIZON");
    EXPECT_OK(p.ops->process_records(&p, &empty, &cp.cp, &e), e); /* not sent */
    processor_free(&p);
    o.call_empty = true;
    start_py(&p, &o, "TRIM_HORIZON");
    EXPECT_OK(p.ops->process_records(&p, &empty, &cp.cp, &e), e);
    processor_free(&p);
    EXPECT_EQ_INT(cp.n, 0);
    char *lines = t_slurp(echo);
    char *l1 = nth_line(lines, 1), *l2 = nth_line(lines, 2);
    EXPECT_CONTAINS(l1, "{\"action\":\"initialize\"");
    EXPECT_EQ_STR(l2, "{\"action\":\"processRecords\",\"records\":[],\"millisBehindLatest\":5}");
    free(lines), free(l1), free(l2), free(echo);
}

TEST(ml_hung_child_is_killed_after_action_timeout)
{
    setenv("ML_HANG_AT", "2", 1);
    struct ml_opts o = py_opts();
    o.action_timeout_ms = 500;
    o.init_timeout_ms = 30000; /* python start-up under a loaded CI machine is not what is tested */
    o.kill_grace_ms = 500;
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    int fds0 = fd_count();
    start_py(&p, &o, "TRIM_HORIZON");
    pid_t pid = ml_processor_pid(&p);
    struct proc_record b[] = {rec("a", 1, S1, 0)};
    struct proc_batch pb = batch(b, 1);
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    b[0] = rec("b", 1, S2, 0);
    int64_t t0 = ms_now();
    EXPECT_EQ_INT(p.ops->process_records(&p, &pb, &cp.cp, &e), -ETIMEDOUT);
    int64_t took = ms_now() - t0;
    EXPECT_GE_INT(took, 490);
    EXPECT_LE_INT(took, 500 + 500 + 700);
    EXPECT_EQ_INT(e.cls, ERR_RETRY);
    EXPECT_CONTAINS(e.msg, "shard shardId-000000000001: processRecords: no status within 500 ms; "
                           "child killed by signal 15 (TERM)");
    EXPECT_TRUE(group_gone(pid));
    EXPECT_EQ_INT(ml_processor_pid(&p), 0);
    EXPECT_TRUE(p.ops->process_records(&p, &pb, &cp.cp, &e) < 0);
    EXPECT_CONTAINS(e.msg, "failed earlier");
    EXPECT_EQ_INT(e.cls, ERR_RETRY);
    processor_free(&p);
    EXPECT_EQ_INT(fd_count(), fds0);
    EXPECT_TRUE(no_children_left());
}

TEST(ml_child_exiting_mid_batch_fails_the_call)
{
    setenv("ML_EXIT_AT", "1", 1);
    struct ml_opts o = py_opts();
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    log_set_level(LOG_OFF);
    start_py(&p, &o, "TRIM_HORIZON");
    pid_t pid = ml_processor_pid(&p);
    struct proc_record b[] = {rec("a", 1, S1, 0)};
    struct proc_batch pb = batch(b, 1);
    int64_t t0 = ms_now();
    EXPECT_EQ_INT(p.ops->process_records(&p, &pb, &cp.cp, &e), -EPIPE);
    EXPECT_LE_INT(ms_now() - t0, 1500);
    EXPECT_EQ_INT(e.cls, ERR_RETRY);
    EXPECT_CONTAINS(e.msg, "processRecords: child closed stdout before its status; child exited with status 3; "
                           "last stderr: \"exiting mid-batch on purpose\"");
    EXPECT_TRUE(group_gone(pid));
    EXPECT_TRUE(no_children_left());
    EXPECT_EQ_INT(cp.n, 0);
    processor_free(&p);
}

TEST(ml_wrong_status_fails_the_call)
{
    setenv("ML_STATUS", "{\"processRecords\":\"initialize\"}", 1);
    struct ml_opts o = py_opts();
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    start_py(&p, &o, "TRIM_HORIZON");
    pid_t pid = ml_processor_pid(&p);
    struct proc_record b[] = {rec("a", 1, S1, 0)};
    struct proc_batch pb = batch(b, 1);
    EXPECT_EQ_INT(p.ops->process_records(&p, &pb, &cp.cp, &e), -EPROTO);
    EXPECT_CONTAINS(e.msg, "processRecords: child answered status for initialize");
    EXPECT_TRUE(group_gone(pid));
    processor_free(&p);
}

TEST(ml_closed_stdin_gives_epipe_not_sigpipe)
{
    setenv("ML_CLOSE_STDIN_AFTER_INIT", "1", 1);
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill this test */
    struct ml_opts o = py_opts();
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    start_py(&p, &o, "TRIM_HORIZON");
    pid_t pid = ml_processor_pid(&p);
    size_t n = 1 << 20;
    char *big = xcalloc(1, n);
    struct proc_record b[] = {rec(big, n, S1, 0)};
    struct proc_batch pb = batch(b, 1);
    EXPECT_EQ_INT(p.ops->process_records(&p, &pb, &cp.cp, &e), -EPIPE);
    EXPECT_CONTAINS(e.msg, "processRecords: writing to child: Broken pipe");
    EXPECT_TRUE(group_gone(pid));
    processor_free(&p);
    free(big);
}

TEST(ml_exec_failure_is_an_error)
{
    const char *argv[] = {"/nonexistent/logfleet-child", "x", NULL};
    struct ml_opts o = {.argv = argv, .cancel_fd = -1};
    struct processor p;
    struct err e = {0};
    int fds0 = fd_count();
    ASSERT_OK(ml_processor_new(&o, &p, &e), e);
    EXPECT_TRUE(p.ops->initialize(&p, "shardId-7", "LATEST", 0, &e) < 0);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_EQ_STR(e.msg, "shard shardId-7: cannot start \"/nonexistent/logfleet-child\": No such file or directory");
    EXPECT_OK(p.ops->lease_lost(&p, &e) < 0 ? 0 : -1, e); /* refused: it failed */
    processor_free(&p);
    o.cwd = "/nonexistent-dir";
    argv[0] = "true";
    ASSERT_OK(ml_processor_new(&o, &p, &e), e);
    EXPECT_TRUE(p.ops->initialize(&p, "shardId-7", "LATEST", 0, &e) < 0);
    EXPECT_CONTAINS(e.msg, "in /nonexistent-dir");
    processor_free(&p);
    /* not executable */
    char *js = xasprintf("%s/tests/data/ml/kcl_app.js", repo_root());
    argv[0] = js;
    o.cwd = NULL;
    ASSERT_OK(ml_processor_new(&o, &p, &e), e);
    EXPECT_TRUE(p.ops->initialize(&p, "shardId-7", "LATEST", 0, &e) < 0);
    EXPECT_CONTAINS(e.msg, "kcl_app.js\": Permission denied");
    processor_free(&p);
    argv[0] = "true";
    free(js);
    EXPECT_EQ_INT(fd_count(), fds0);
    /* a lease lost before initialize: no child at all */
    ASSERT_OK(ml_processor_new(&o, &p, &e), e);
    EXPECT_OK(p.ops->lease_lost(&p, &e), e);
    processor_free(&p);
}

TEST(ml_child_ignoring_eof_and_sigterm_is_killed)
{
    setenv("ML_IGNORE_EOF", "1", 1);
    setenv("ML_IGNORE_TERM", "1", 1);
    setenv("ML_GRANDCHILD", "1", 1);
    char *pidfile = tmp_path("gpid");
    setenv("ML_PIDFILE", pidfile, 1);
    struct ml_opts o = py_opts();
    o.shutdown_timeout_ms = 300;
    o.kill_grace_ms = 300;
    struct processor p;
    struct err e = {0};
    start_py(&p, &o, "TRIM_HORIZON");
    pid_t pid = ml_processor_pid(&p);
    char *gp = t_slurp(pidfile);
    pid_t gpid = (pid_t)strtol(gp, NULL, 10);
    EXPECT_TRUE(gpid > 0);
    EXPECT_EQ_INT(getpgid(gpid), pid); /* the grandchild shares the child's group */
    int64_t t0 = ms_now();
    EXPECT_OK(p.ops->lease_lost(&p, &e), e); /* the status came: not an error */
    int64_t took = ms_now() - t0;
    EXPECT_GE_INT(took, 590);
    EXPECT_LE_INT(took, 2500);
    EXPECT_TRUE(group_gone(pid));
    /* the grandchild was killed with the group (maybe a zombie of init) */
    char stat_path[64], *stat;
    snprintf(stat_path, sizeof stat_path, "/proc/%d/stat", (int)gpid);
    stat = t_slurp(stat_path);
    char *state = strrchr(stat, ')');
    EXPECT_TRUE(!*stat || (state && state[1] == ' ' && (state[2] == 'Z' || state[2] == 'X')));
    processor_free(&p);
    free(gp), free(stat), free(pidfile);
}

TEST(ml_stderr_is_drained)
{
    setenv("ML_STDERR_BYTES", "400000", 1); /* > a pipe buffer, per batch */
    struct ml_opts o = py_opts();
    o.action_timeout_ms = 10000;
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    log_set_level(LOG_OFF);
    start_py(&p, &o, "TRIM_HORIZON");
    struct proc_record b[] = {rec("a", 1, S1, 0)};
    struct proc_batch pb = batch(b, 1);
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    b[0] = rec("b", 1, S2, 0);
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    EXPECT_EQ_INT(cp.n, 2);
    EXPECT_OK(p.ops->lease_lost(&p, &e), e);
    processor_free(&p);
}

TEST(ml_cancel_fd_aborts_the_action)
{
    setenv("ML_HANG_AT", "1", 1);
    int pfd[2];
    ASSERT_TRUE(pipe(pfd) == 0);
    struct ml_opts o = py_opts();
    o.action_timeout_ms = 0; /* no timeout: only the cancel fd ends the wait */
    o.cancel_fd = pfd[0];
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    start_py(&p, &o, "TRIM_HORIZON");
    pid_t pid = ml_processor_pid(&p);
    ASSERT_TRUE(write(pfd[1], "x", 1) == 1);
    struct proc_record b[] = {rec("a", 1, S1, 0)};
    struct proc_batch pb = batch(b, 1);
    EXPECT_EQ_INT(p.ops->process_records(&p, &pb, &cp.cp, &e), -ECANCELED);
    EXPECT_CONTAINS(e.msg, "processRecords: cancelled");
    EXPECT_TRUE(group_gone(pid));
    processor_free(&p);
    close(pfd[0]);
    close(pfd[1]);
}

/* ---- the Node child on the real aws-kcl library -------------------------- */

static struct ml_opts node_opts(void)
{
    static char *script;
    if (!script) script = xasprintf("%s/tests/data/ml/kcl_app.js", repo_root());
    node_argv[0] = "node";
    node_argv[1] = script;
    struct ml_opts o = {.argv = node_argv, .shard_id = "shardId-000000000002",
                        .action_timeout_ms = 20000, .shutdown_timeout_ms = 5000,
                        .kill_grace_ms = 1000, .cancel_fd = -1};
    return o;
}

TEST(ml_node_aws_kcl_app)
{
    char *lib = xasprintf("%s/node_modules/aws-kcl/index.js", repo_root());
    if (access(lib, R_OK) != 0) {
        fprintf(stderr, "  %s missing: npm install (package.json) first\n", lib);
        t_fail();
        return;
    }
    char *out = tmp_path("out");
    setenv("ML_OUT", out, 1);
    int fds0 = fd_count();
    struct ml_opts o = node_opts();
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    /* 1: batches, then the shard ends */
    ASSERT_OK(ml_processor_new(&o, &p, &e), e);
    ASSERT_OK(p.ops->initialize(&p, "shardId-000000000002", "TRIM_HORIZON", 0, &e), e);
    pid_t pid = ml_processor_pid(&p);
    static const unsigned char bin[] = {0, 1, '\n', 0xfe};
    struct proc_record b1[] = {rec(bin, sizeof bin, S1, 0), rec("hello", 5, S2, 0)};
    struct proc_batch pb = batch(b1, 2);
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    struct proc_record b2[] = {rec("k0", 2, S3, 0), rec("k1", 2, S3, 1)};
    pb = batch(b2, 2);
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    EXPECT_OK(p.ops->shard_ended(&p, &cp.cp, &e), e);
    EXPECT_TRUE(group_gone(pid));
    processor_free(&p);
    /* 2: graceful shutdown, then the lease goes */
    ASSERT_OK(ml_processor_new(&o, &p, &e), e);
    ASSERT_OK(p.ops->initialize(&p, "shardId-000000000002", S3, 1, &e), e);
    struct proc_record b3[] = {rec("z", 1, S4, 0)};
    pb = batch(b3, 1);
    cp.result = CKPT_SHUTDOWN;
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    cp.result = CKPT_OK;
    EXPECT_OK(p.ops->shutdown_requested(&p, &cp.cp, &e), e);
    EXPECT_OK(p.ops->lease_lost(&p, &e), e);
    processor_free(&p);
    EXPECT_EQ_INT(fd_count(), fds0);

    /* Node sends {"action":"checkpoint","sequenceNumber":...} only */
    EXPECT_EQ_INT(cp.n, 5);
    EXPECT_EQ_STR(cp.seq[0], S2);
    EXPECT_EQ_STR(cp.seq[1], S3);
    EXPECT_EQ_INT(cp.sub[1], 0);
    EXPECT_EQ_STR(cp.seq[2], "SHARD_END");
    EXPECT_EQ_STR(cp.seq[3], S4);
    EXPECT_EQ_STR(cp.seq[4], S4);
    char *got = t_slurp(out);
    EXPECT_EQ_STR(got, "initialize shardId-000000000002 TRIM_HORIZON\n"
                       S1 " 0 00010afe\n" S2 " 0 68656c6c6f\n"
                       "checkpoint " S2 " ok\n"
                       S3 " 0 6b30\n" S3 " 1 6b31\n"
                       "checkpoint " S3 " ok\n"
                       "shardEnded checkpoint ok\n"
                       "initialize shardId-000000000002 " S3 "\n"
                       S4 " 0 7a\n"
                       "checkpoint " S4 " ShutdownException\n"
                       "shutdownRequested checkpoint ok\n"
                       "leaseLost\n");
    free(got), free(out), free(lib);
}

TEST(ml_bare_cr_line_endings)
{
    /* BufferedReader semantics: a lone \r ends a line too */
    setenv("ML_EOL", "\r", 1);
    struct ml_opts o = py_opts();
    o.action_timeout_ms = 5000;
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    start_py(&p, &o, "TRIM_HORIZON");
    struct proc_record b[] = {rec("a", 1, S1, 0)};
    struct proc_batch pb = batch(b, 1);
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    EXPECT_OK(p.ops->shard_ended(&p, &cp.cp, &e), e);
    EXPECT_EQ_INT(cp.n, 2);
    processor_free(&p);
    setenv("ML_EOL", "\r\n", 1);
    tcp_init(&cp);
    start_py(&p, &o, "TRIM_HORIZON");
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    EXPECT_OK(p.ops->shard_ended(&p, &cp.cp, &e), e);
    EXPECT_EQ_INT(cp.n, 2);
    processor_free(&p);
}

TEST(ml_shard_end_without_checkpoint_is_an_error)
{
    setenv("ML_SCRIPT", "{\"shardEnded\":[]}", 1);
    struct ml_opts o = py_opts();
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    start_py(&p, &o, S0);
    pid_t pid = ml_processor_pid(&p);
    struct proc_record b[] = {rec("a", 1, S1, 0)};
    struct proc_batch pb = batch(b, 1);
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    EXPECT_EQ_INT(p.ops->shard_ended(&p, &cp.cp, &e), -EPROTO);
    EXPECT_EQ_STR(e.msg, "shard shardId-000000000001: the child did not checkpoint at SHARD_END during shardEnded");
    EXPECT_EQ_INT(e.cls, ERR_RETRY);
    EXPECT_TRUE(group_gone(pid)); /* it still ended cleanly */
    EXPECT_EQ_INT(cp.n, 1);
    processor_free(&p);
}

TEST(ml_line_limits)
{
    setenv("ML_GARBAGE", "1", 1); /* includes a 300 KB line, dropped unparsed */
    struct ml_opts o = py_opts();
    o.max_line = 100000;
    struct processor p;
    struct err e = {0};
    struct tcp cp;
    tcp_init(&cp);
    log_set_level(LOG_WARN);
    start_py(&p, &o, "TRIM_HORIZON");
    pid_t pid = ml_processor_pid(&p);
    char *big = xcalloc(1, 80000); /* ~107 KB of base64: over the limit */
    struct proc_record b[] = {rec(big, 80000, S1, 0)};
    struct proc_batch pb = batch(b, 1);
    EXPECT_EQ_INT(p.ops->process_records(&p, &pb, &cp.cp, &e), -E2BIG);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_CONTAINS(e.msg, "processRecords line for 1 records exceeds 100000 bytes");
    EXPECT_EQ_INT(ml_processor_pid(&p), pid); /* the child is untouched */
    b[0] = rec(big, 1000, S1, 0);
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    b[0] = rec(big, 1000, S2, 0);
    EXPECT_OK(p.ops->process_records(&p, &pb, &cp.cp, &e), e);
    EXPECT_EQ_INT(cp.n, 2);
    EXPECT_EQ_STR(cp.seq[1], S2);
    EXPECT_OK(p.ops->shard_ended(&p, &cp.cp, &e), e);
    processor_free(&p);
    free(big);
}
