/* t_pipeline.c — the whole path through real programs: logfleetctl produce
 * → Kinesis (4 shards) → two logfleetd workers (router, manifest builder,
 * loaders) → S3 objects → manifests → warehouses wh_a and wh_b.
 *
 * PIPELINE_RECORDS (default 20000; the figure is 1000000) records of
 * the 30 sample types.  Proves: every record is in exactly one archive
 * object, under its type's prefix; each warehouse holds exactly the records
 * produced per type (no duplicate lineage), through the views; SIGTERM
 * shuts both workers down with exit 0.
 */
#include "common/aws.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/mem.h"
#include "common/s3.h"
#include "sinks/gz.h"
#include "tests/integ/t_ctl_fix.h"
#include "tests/t.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define NTYPES_MAX 64

struct pl {
    char tag[40];
    char schema[48];        /* coordination and warehouse schema */
    char prefix[64];        /* S3 prefix */
    pid_t w[2];
    long records;
    char types[NTYPES_MAX][64];
    long want[NTYPES_MAX];  /* records produced per type */
    int ntypes;
};

static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : def;
}

/* Isolates this test: its own app, schemas, S3 prefix; short intervals. */
static void pl_env(struct pl *p)
{
    ctl_unique("pl", p->tag);
    snprintf(p->schema, sizeof p->schema, "%s", p->tag);
    snprintf(p->prefix, sizeof p->prefix, "%s/", p->tag);
    setenv("LOGFLEET_APP", p->tag, 1);
    setenv("LOGFLEET_COORD_SCHEMA", p->schema, 1);
    setenv("LOGFLEET_S3_PREFIX", p->prefix, 1);
    char *b = xasprintf("( { name = \"wh_a\"; dialect = \"postgres\"; dsn = \"%s\"; schema = \"%s\"; },"
                        "  { name = \"wh_b\"; dialect = \"postgres\"; dsn = \"%s\"; schema = \"%s\"; } )",
                        t_env("WH_A_DSN"), p->schema, t_env("WH_B_DSN"), p->schema);
    setenv("LOGFLEET_BACKENDS", b, 1);
    free(b);
    setenv("LOGFLEET_ROUTER_BUFFER_AGE_MS", "1000", 1);
    setenv("LOGFLEET_MANIFEST_INTERVAL_MS", "1000", 1);
    setenv("LOGFLEET_LOADER_POLL_MS", "200", 1);
    setenv("LOGFLEET_LOADER_RETRY_BASE_MS", "200", 1);
    setenv("LOGFLEET_LEASE_DURATION_MS", "3000", 1);
    setenv("LOGFLEET_LEASE_SHARD_SYNC_MS", "1000", 1);
    setenv("LOGFLEET_KINESIS_IDLE_BETWEEN_READS_MS", "100", 1);
}

static pid_t start_worker(const char *id)
{
    char *bin = xasprintf("%s/logfleetd", t_env("LOGFLEET_BIN"));
    char *log = xasprintf("%s/%s.log", t_tmpdir(), id);
    setenv("LOGFLEET_WORKER_ID", id, 1);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *argv[] = {bin, NULL};
    pid_t pid = 0;
    ASSERT_TRUE(posix_spawn(&pid, bin, &fa, NULL, argv, environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
    free(bin);
    free(log);
    return pid;
}

static int stop_worker(pid_t pid)
{
    kill(pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

/* What produce --stdout with the same seed generates: records per type. */
static void count_produced(struct pl *p, const char *seed)
{
    struct ctl_result r;
    char count[32];
    snprintf(count, sizeof count, "%ld", p->records);
    ctl_run(&r, NULL, "produce", "--stdout", "--seed", seed, "--count", count, NULL);
    ASSERT_TRUE(r.status == 0);
    for (char *l = r.out; l && *l;) {
        char *nl = strchr(l, '\n'), *t = strstr(l, "\"type\":\"");
        ASSERT_TRUE(t != NULL && (!nl || t < nl));
        t += 8;
        size_t n = strcspn(t, "\"");
        int i = 0;
        while (i < p->ntypes && (strlen(p->types[i]) != n || strncmp(p->types[i], t, n))) i++;
        if (i == p->ntypes) {
            ASSERT_TRUE(p->ntypes < NTYPES_MAX && n < 64);
            memcpy(p->types[i], t, n);
            p->types[i][n] = 0;
            p->ntypes++;
        }
        p->want[i]++;
        l = nl ? nl + 1 : NULL;
    }
    ctl_result_free(&r);
}

static long q_long(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    long v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return v;
}

/* Rows of one type's view; -1 while the view does not exist yet. */
static long view_rows(PGconn *c, const struct pl *p, const char *type, bool distinct)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             distinct ? "SELECT count(DISTINCT (_shard, _seq, _subseq)) FROM %s.%s"
                      : "SELECT count(*) FROM %s.%s",
             p->schema, type);
    return q_long(c, sql);
}

static long wh_total(PGconn *c, const struct pl *p)
{
    long sum = 0;
    for (int i = 0; i < p->ntypes; i++) {
        long n = view_rows(c, p, p->types[i], false);
        sum += n > 0 ? n : 0;
    }
    return sum;
}

struct seen {
    char **keys;
    size_t n, cap;
    size_t wrong_prefix;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads one archive object: every line's lineage, and its type vs the key. */
static void read_object(struct s3 *s3, const char *key, struct seen *sn, const struct pl *p)
{
    struct buf raw, txt;
    struct err e = {0};
    buf_init(&raw, 256u << 20);
    buf_init(&txt, 1u << 30);
    ASSERT_OK(s3_get(s3, key, &raw, &e), e);
    ASSERT_OK(gz_inflate_all(raw.data, raw.len, &txt, &e), e);
    const char *type_dir = key + strlen(p->prefix) + strlen("objects/");
    size_t tlen = strcspn(type_dir, "/");
    for (char *l = txt.data; l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl) *nl = 0;
        char *t = strstr(l, "\"type\":\""), *sh = strstr(l, "\"_shard\":\""),
             *sq = strstr(l, "\"_seq\":\""), *sb = strstr(l, "\"_subseq\":");
        ASSERT_TRUE(t && sh && sq && sb);
        if (strncmp(t + 8, type_dir, tlen) || t[8 + tlen] != '"') sn->wrong_prefix++;
        if (sn->n == sn->cap) {
            sn->cap = sn->cap ? sn->cap * 2 : 4096;
            sn->keys = xrealloc(sn->keys, sn->cap * sizeof *sn->keys);
        }
        sn->keys[sn->n++] = xasprintf("%.*s/%.*s/%ld", (int)strcspn(sh + 10, "\""), sh + 10,
                                      (int)strcspn(sq + 8, "\""), sq + 8, strtol(sb + 10, NULL, 10));
        l = nl ? nl + 1 : NULL;
    }
    buf_free(&raw);
    buf_free(&txt);
}

static int collect_key(void *ctx, const struct s3_object *o)
{
    struct buf *keys = ctx;
    return buf_printf(keys, "%s\n", o->key);
}

/* Every archive object read back: each record exactly once. */
static void check_s3(const struct pl *p)
{
    struct aws_creds_opts co = {.imds_disabled = 1};
    struct aws_creds_provider *cp;
    struct err e = {0};
    ASSERT_OK(aws_creds_provider_new(&co, &cp, &e), e);
    struct aws_client_opts o = {.region = t_env("AWS_REGION"), .endpoint = t_env("S3_ENDPOINT"), .creds = cp};
    struct s3 *s3;
    ASSERT_OK(s3_new(&o, t_env("BUCKET"), &s3, &e), e);
    struct buf keys;
    buf_init(&keys, 64u << 20);
    char *pre = xasprintf("%sobjects/", p->prefix);
    struct s3_list_opts lo = {.prefix = pre};
    ASSERT_OK(s3_list(s3, &lo, collect_key, &keys, &e), e);
    struct seen sn = {0};
    size_t objects = 0;
    for (char *k = keys.data; k && *k; objects++) {
        char *nl = strchr(k, '\n');
        *nl = 0;
        read_object(s3, k, &sn, p);
        k = nl + 1;
    }
    qsort(sn.keys, sn.n, sizeof *sn.keys, cmp_str);
    size_t dups = 0;
    for (size_t i = 1; i < sn.n; i++) dups += !strcmp(sn.keys[i - 1], sn.keys[i]);
    fprintf(stderr, "  s3: %zu objects, %zu records, %zu duplicates, %zu under a wrong type prefix\n",
            objects, sn.n, dups, sn.wrong_prefix);
    EXPECT_EQ_INT(sn.n, p->records);
    EXPECT_EQ_INT(dups, 0);
    EXPECT_EQ_INT(sn.wrong_prefix, 0);
    for (size_t i = 0; i < sn.n; i++) free(sn.keys[i]);
    free(sn.keys);
    free(pre);
    buf_free(&keys);
    s3_free(s3);
    aws_creds_provider_free(cp);
}

ITEST_T(pipeline_produce_to_both_warehouses_exactly_once, 900)
{
    struct pl p = {0};
    p.records = env_long("PIPELINE_RECORDS", 20000);
    pl_env(&p);
    struct ctl_stream st;
    ctl_stream_new(&st, 4);
    count_produced(&p, "4242");
    EXPECT_EQ_INT(p.ntypes, 30);

    p.w[0] = start_worker("w1");
    p.w[1] = start_worker("w2");
    char count[32];
    snprintf(count, sizeof count, "%ld", p.records);
    struct ctl_result r;
    ctl_run(&r, NULL, "produce", "--seed", "4242", "--count", count, NULL);
    ASSERT_TRUE(r.status == 0);
    ctl_result_free(&r);

    PGconn *a = PQconnectdb(t_env("WH_A_DSN")), *b = PQconnectdb(t_env("WH_B_DSN"));
    ASSERT_TRUE(PQstatus(a) == CONNECTION_OK && PQstatus(b) == CONNECTION_OK);
    /* at least 500 records/s end to end: the Kinesis stand-in serves ~4-5k */
    int64_t t0 = clock_mono_ms(), deadline = t0 + 60000 + p.records * 2;
    long ra = 0, rb = 0;
    while ((ra < p.records || rb < p.records) && clock_mono_ms() < deadline) {
        usleep(500000);
        ra = wh_total(a, &p);
        rb = wh_total(b, &p);
    }
    fprintf(stderr, "  %ld records landed in wh_a (%ld) and wh_b (%ld) in %.1f s\n", p.records, ra,
            rb, (clock_mono_ms() - t0) / 1000.0);
    for (int i = 0; i < p.ntypes; i++) {
        EXPECT_EQ_INT(view_rows(a, &p, p.types[i], false), p.want[i]);
        EXPECT_EQ_INT(view_rows(b, &p, p.types[i], false), p.want[i]);
        EXPECT_EQ_INT(view_rows(a, &p, p.types[i], true), p.want[i]);
        EXPECT_EQ_INT(view_rows(b, &p, p.types[i], true), p.want[i]);
    }
    check_s3(&p);
    EXPECT_EQ_INT(stop_worker(p.w[0]), 0);
    EXPECT_EQ_INT(stop_worker(p.w[1]), 0);
    if (t_failed()) {
        char *cmd = xasprintf("tail -n 30 %s/w1.log %s/w2.log >&2", t_tmpdir(), t_tmpdir());
        if (system(cmd)) {}
        free(cmd);
    }
    PQfinish(a);
    PQfinish(b);
    ctl_stream_free(&st);
}
