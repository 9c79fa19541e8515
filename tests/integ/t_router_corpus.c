/* t_router_corpus.c — the bad-input corpus (tests/data/router/) through a
 * router processor: every bad record lands in a dead-letter object with its
 * reason and its exact bytes, while the good records around it are routed. */
#include <dirent.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/s3.h"
#include "sinks/gz.h"
#include "worker/loggen.h"
#include "worker/router.h"
#include "tests/integ/t_router_fix.h"
#include "tests/t.h"

#define ARRIVAL INT64_C(1795392000000) /* 2026-11-23T00:00:00Z */

static int reason_of(const char *name)
{
    for (int i = 0; i < ROUTER_REASON_COUNT; i++)
        if (strcmp(router_reason_name(i), name) == 0) return i;
    return -2;
}

static int type_of(const char *name)
{
    for (int i = 0; i < LOGGEN_NTYPES; i++)
        if (strcmp(loggen_type_name(i), name) == 0) return i;
    return -2;
}

/* The file's bytes with "@TS@" replaced by an event time an hour before arrival. */
static void load_record(const char *path, struct buf *out)
{
    struct buf raw;
    struct err e = {0};
    buf_init(&raw, 1 << 20);
    ASSERT_OK(buf_read_file(&raw, path, &e), e);
    char ts[25];
    loggen_iso8601(ARRIVAL - 3600000, ts);
    buf_reset(out);
    for (size_t i = 0; i < raw.len;) {
        if (raw.len - i >= 4 && memcmp(raw.data + i, "@TS@", 4) == 0) {
            buf_append(out, ts, 24);
            i += 4;
        } else {
            buf_append(out, raw.data + i, 1);
            i++;
        }
    }
    buf_free(&raw);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Corpus file names, sorted. */
static char **corpus(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    ASSERT_TRUE(d != NULL);
    char **v = NULL;
    *n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (de->d_name[0] == '.' || !strchr(de->d_name, '.') || !strcmp(de->d_name, "README")) continue;
        v = xrealloc(v, (*n + 1) * sizeof *v);
        v[(*n)++] = xstrdup(de->d_name);
    }
    closedir(d);
    qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

/* Expected reason of a corpus file: the name up to the first '.'. */
static struct rt_expect expect_of(const char *name, const char *bytes, size_t len)
{
    char r[64];
    snprintf(r, sizeof r, "%.*s", (int)strcspn(name, "."), name);
    struct rt_expect w = {-1, reason_of(r)};
    if (strcmp(r, "ok") == 0) {
        json_t *j = json_loadb(bytes, len, 0, NULL);
        w.type = type_of(json_string_value(json_object_get(j, "type")));
        w.reason = 0;
        json_decref(j);
    }
    return w;
}

/* Reads the dead-letter objects of the ledger and checks every line's
 * bytes against the feed; returns the lines checked. */
static size_t check_dead_bytes(const struct rt_env *env, const struct rt_feed *f)
{
    struct err e = {0};
    struct aws_creds_provider *cp;
    struct aws_creds_opts co = {.access_key = t_env("AWS_ACCESS_KEY_ID"),
                                .secret_key = t_env("AWS_SECRET_ACCESS_KEY"), .imds_disabled = 1};
    ASSERT_OK(aws_creds_provider_new(&co, &cp, &e), e);
    struct aws_client_opts o = {.service = "s3", .region = t_env("AWS_REGION"),
                                .endpoint = t_env("S3_ENDPOINT"), .creds = cp};
    struct s3 *s3;
    ASSERT_OK(s3_new(&o, t_env("BUCKET"), &s3, &e), e);
    PGconn *pg = PQconnectdb(t_env("COORD_DSN"));
    char *sql = xasprintf("SELECT key FROM %s.objects WHERE dead ORDER BY key", env->schema);
    PGresult *res = PQexec(pg, sql);
    free(sql);
    size_t checked = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        struct buf gz, raw;
        buf_init(&gz, 1 << 28);
        buf_init(&raw, 1 << 28);
        EXPECT_OK(s3_get(s3, PQgetvalue(res, i, 0), &gz, &e), e);
        EXPECT_OK(gz_inflate_all(gz.data, gz.len, &raw, &e), e);
        for (char *line = raw.data, *nl; line && (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
            json_t *j = json_loadb(line, (size_t)(nl - line), 0, NULL);
            const char *seq = json_string_value(json_object_get(j, "seq"));
            const char *b64 = json_string_value(json_object_get(j, "data_b64"));
            size_t k = 0;
            while (seq && k < f->n && strcmp(f->recs[k].seq, seq) != 0) k++;
            EXPECT_TRUE(seq && b64 && k < f->n);
            if (seq && b64 && k < f->n) {
                size_t bl = strlen(b64);
                unsigned char *dec = xmalloc(bl / 4 * 3 + 4);
                int dl = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)bl);
                dl -= bl >= 1 && b64[bl - 1] == '=';
                dl -= bl >= 2 && b64[bl - 2] == '=';
                EXPECT_EQ_INT(dl, (long long)f->recs[k].len);
                EXPECT_TRUE(dl >= 0 && (size_t)dl == f->recs[k].len &&
                            memcmp(dec, f->data + f->recs[k].off, f->recs[k].len) == 0);
                EXPECT_EQ_INT(json_integer_value(json_object_get(j, "arrival")),
                              f->recs[k].arrival_ms);
                free(dec);
                checked++;
            }
            json_decref(j);
        }
        buf_free(&gz);
        buf_free(&raw);
    }
    PQclear(res);
    PQfinish(pg);
    s3_free(s3);
    aws_creds_provider_free(cp);
    return checked;
}

ITEST_T(router_bad_input_corpus, 300)
{
    log_set_level(LOG_ERROR);
    const char *shards[] = {"shardId-000000000009"};
    struct rt_env env;
    rt_setup(&env, NULL, shards, 1);
    const char *root = getenv("LOGFLEET_ROOT");
    char *dir = xasprintf("%s/tests/data/router", root && *root ? root : ".");
    size_t nfiles;
    char **files = corpus(dir, &nfiles);
    ASSERT_TRUE(nfiles >= 30);

    struct rt_feed f;
    rt_feed_begin(&f, shards[0]);
    struct loggen *g = loggen_new(99);
    struct buf rec;
    buf_init(&rec, 1 << 22);
    uint64_t want_reason[ROUTER_REASON_COUNT] = {0};
    int64_t arrival = ARRIVAL;
    for (size_t i = 0; i < nfiles + 2; i++) {
        struct rt_expect w;
        if (i < nfiles) { /* a corpus file */
            char *path = xasprintf("%s/%s", dir, files[i]);
            load_record(path, &rec);
            free(path);
            w = expect_of(files[i], rec.data, rec.len);
            ASSERT_TRUE(w.reason >= 0 && (w.reason > 0 || w.type >= 0));
        } else if (i == nfiles) { /* 1 MiB + 1 byte: larger than router.max_record_bytes */
            buf_reset(&rec);
            buf_puts(&rec, "{\"type\":\"chat\",\"pad\":\"");
            while (rec.len < 1048577 - 2) buf_append(&rec, "x", 1);
            buf_puts(&rec, "\"}");
            w = (struct rt_expect){-1, ROUTER_TOO_LARGE};
        } else { /* nested 100 deep: deeper than router.max_depth (64) */
            buf_reset(&rec);
            buf_puts(&rec, "{\"type\":\"chat\",\"a\":");
            for (int d = 0; d < 100; d++) buf_append(&rec, "[", 1);
            for (int d = 0; d < 100; d++) buf_append(&rec, "]", 1);
            buf_puts(&rec, "}");
            w = (struct rt_expect){-1, ROUTER_TOO_DEEP};
        }
        if (w.type < 0) want_reason[w.reason]++;
        rt_feed_add(&f, rec.data, rec.len, arrival++, w);
        for (int k = 0; k < 3; k++) { /* good records go on around the bad one */
            buf_reset(&rec);
            struct rt_expect gw = {loggen_record(g, arrival - 5000, &rec), 0};
            rt_feed_add(&f, rec.data, rec.len, arrival++, gw);
        }
    }
    loggen_free(g);
    buf_free(&rec);

    struct router *r;
    struct err e = {0};
    ASSERT_OK(router_new(&env.cfg, RT_WORKER, &r, &e), e);
    struct rt_feed *feeds[] = {&f};
    struct rt_run run;
    rt_run_shards(&env, r, feeds, 1, &run, 7, 0);
    struct router_stats st;
    router_stats(r, &st);
    router_free(r);
    EXPECT_EQ_INT(run.rc, 0);
    EXPECT_EQ_INT(st.records_in, f.n);
    for (int i = 1; i < ROUTER_REASON_COUNT; i++) {
        if (st.dead_by_reason[i] != want_reason[i])
            fprintf(stderr, "  reason %s\n", router_reason_name(i));
        EXPECT_EQ_INT(st.dead_by_reason[i], want_reason[i]);
    }

    struct rt_read rd;
    rt_read_ledgered(&env, &rd);
    EXPECT_EQ_INT(rt_check_exactly_once(&rd, feeds, 1), 0); /* reasons and types checked */
    EXPECT_EQ_INT(rd.bad_lines, 0);
    EXPECT_EQ_INT(rd.count_mismatch, 0);
    EXPECT_GE_INT(rd.dead_objects, 1);
    rt_read_free(&rd);
    size_t dead = 0;
    for (int i = 1; i < ROUTER_REASON_COUNT; i++) dead += want_reason[i];
    EXPECT_EQ_INT(check_dead_bytes(&env, &f), dead);
    for (int i = 1; i < ROUTER_REASON_COUNT; i++)
        EXPECT_EQ_INT(rt_qi(&env, "SELECT coalesce(sum(records), 0) FROM @.dead_letters"
                                  " WHERE app = '%s' AND reason = '%s'",
                            env.app, router_reason_name(i)),
                      want_reason[i]);
    /* the SQL-carrying type names did nothing to the ledger */
    EXPECT_EQ_INT(rt_qi(&env, "SELECT count(*) FROM @.objects WHERE log_type !~ '^[a-z_][a-z0-9_]*$'"), 0);
    for (size_t i = 0; i < nfiles; i++) free(files[i]);
    free(files);
    free(dir);
    rt_feed_free(&f);
    rt_teardown(&env);
}
