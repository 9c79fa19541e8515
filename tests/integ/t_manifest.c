/* t_manifest.c — the manifest builder against the stack: ledgered objects
 * become exact Redshift manifests in S3, each object in exactly one, with
 * one load per backend that takes the type; concurrent builders (threads
 * and the builder thread) never share an object. */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "common/mem.h"
#include "sinks/manifest.h"
#include "tests/integ/t_loader_fix.h"
#include "tests/t.h"

/* Checks every manifest of the app against S3 and the ledger; returns the
 * number of object entries seen (each object must appear exactly once). */
static long long check_manifests(struct lf_fix *f, bool heads)
{
    char *sql = xasprintf("SELECT manifest_id, key, objects, log_type, day - DATE '1970-01-01'"
                          " FROM %s.manifests WHERE app = '%s' ORDER BY manifest_id",
                          f->coord_schema, f->app);
    PGresult *m = PQexec(f->coord, sql);
    free(sql);
    ASSERT_TRUE(PQresultStatus(m) == PGRES_TUPLES_OK);
    long long entries = 0;
    struct buf body;
    buf_init(&body, 1 << 24);
    for (int i = 0; i < PQntuples(m); i++) {
        const char *id = PQgetvalue(m, i, 0), *key = PQgetvalue(m, i, 1);
        struct err e = {0};
        ASSERT_OK(s3_get(f->s3.s3, key, &body, &e), e);
        /* exactly what manifest_json writes for the ledgered objects, in order */
        char *q = xasprintf("SELECT key, bytes FROM %s.objects WHERE manifest_id = %s"
                            " ORDER BY object_id", f->coord_schema, id);
        PGresult *o = PQexec(f->coord, q);
        free(q);
        size_t n = (size_t)PQntuples(o);
        EXPECT_EQ_INT(n, strtol(PQgetvalue(m, i, 2), NULL, 10));
        struct manifest_entry *v = xcalloc(n + 1, sizeof *v);
        for (size_t k = 0; k < n; k++) {
            v[k].key = PQgetvalue(o, (int)k, 0);
            v[k].bytes = strtoll(PQgetvalue(o, (int)k, 1), NULL, 10);
        }
        struct buf want;
        buf_init(&want, 1 << 24);
        manifest_json(&want, "logs", v, n, NULL);
        EXPECT_EQ_STR(body.data, want.data);
        buf_free(&want);
        /* and as JSON: url, mandatory, content_length = the real size in S3 */
        json_error_t je;
        json_t *doc = json_loadb(body.data, body.len, 0, &je);
        json_t *ents = json_object_get(doc, "entries");
        EXPECT_EQ_INT(json_array_size(ents), n);
        for (size_t k = 0; heads && k < json_array_size(ents); k++) {
            json_t *en = json_array_get(ents, k);
            const char *url = json_string_value(json_object_get(en, "url"));
            EXPECT_TRUE(json_is_true(json_object_get(en, "mandatory")));
            ASSERT_TRUE(url && strncmp(url, "s3://logs/", 10) == 0);
            struct s3_head_result h;
            ASSERT_OK(s3_head(f->s3.s3, url + 10, &h, &e), e);
            EXPECT_TRUE(h.exists);
            EXPECT_EQ_INT(json_integer_value(json_object_get(json_object_get(en, "meta"),
                                                             "content_length")),
                          h.size);
        }
        entries += (long long)n;
        json_decref(doc);
        free(v);
        PQclear(o);
        /* the key: <prefix>manifests/<type>/<yyyy>/<mm>/<dd>/<type>-<yyyymmdd>-<id>.manifest */
        char want_key[512];
        manifest_key(want_key, sizeof want_key, &f->cfg, "manifests/", PQgetvalue(m, i, 3),
                     (int)strtol(PQgetvalue(m, i, 4), NULL, 10), strtoll(id, NULL, 10), NULL);
        EXPECT_EQ_STR(key, want_key);
    }
    buf_free(&body);
    PQclear(m);
    return entries;
}

ITEST_T(manifest_build_exact, 120)
{
    struct lf_fix f;
    struct lf_opts o = {.max_objects = 4, .b_types = "\"login\", \"chat\""};
    lf_open(&f, &o);
    /* 7 objects of login/day0 -> 4 + 3; 2 of battle/day1 -> 2; 1 of chat/day0 */
    for (int i = 0; i < 7; i++) lf_put_object(&f, 0, 0, i % 2 ? "shard-1" : "shard-0", 20, 100 + i);
    for (int i = 0; i < 2; i++) lf_put_object(&f, 1, 1, "shard-0", 15, 200 + i);
    lf_put_object(&f, 2, 0, "shard-1", 10, 300);
    char dead_key[512];
    int64_t dead = lf_ledger_only(&f, 0, 0, "shard-9", 5, dead_key, sizeof dead_key);
    free(lf_q(f.coord, "UPDATE @C.objects SET dead = true WHERE object_id = %lld", (long long)dead));

    struct manifest_result r = {0};
    struct err e = {0};
    ASSERT_OK(manifest_build_once(&f.cfg, &r, &e), e);
    EXPECT_EQ_INT(r.manifests, 4);
    EXPECT_EQ_INT(r.objects, 10);
    EXPECT_EQ_INT(r.records, 7 * 20 + 2 * 15 + 10);
    EXPECT_EQ_INT(lf_qi(f.coord, "SELECT count(*) FROM @C.objects WHERE manifest_id IS NULL"), 1);
    EXPECT_EQ_INT(lf_qi(f.coord, "SELECT count(*) FROM @C.objects WHERE dead AND manifest_id IS NOT NULL"), 0);
    EXPECT_EQ_INT(check_manifests(&f, true), 10);
    /* loads: wh_a takes every type, wh_b only login and chat */
    EXPECT_EQ_INT(lf_loads(&f, "wh_a", "pending"), 4);
    EXPECT_EQ_INT(lf_loads(&f, "wh_b", "pending"), 3);
    /* a second pass finds nothing new */
    struct manifest_result r2 = {0};
    ASSERT_OK(manifest_build_once(&f.cfg, &r2, &e), e);
    EXPECT_EQ_INT(r2.manifests, 0);
    lf_close(&f);
}

struct conc {
    struct lf_fix *f;
    _Atomic int producing;
    _Atomic int manifests;
    int errors;
};

static void *producer(void *arg)
{
    struct conc *c = arg;
    for (int i = 0; i < 60; i++) {
        char key[512];
        lf_ledger_only(c->f, i % 3, i % 2, i % 2 ? "shard-a" : "shard-b", 3, key, sizeof key);
    }
    c->producing = 0;
    return NULL;
}

static void *builder(void *arg)
{
    struct conc *c = arg;
    do {
        struct manifest_result r = {0};
        struct err e = {0};
        if (manifest_build_once(&c->f->cfg, &r, &e)) {
            fprintf(stderr, "  build: %s\n", e.msg);
            c->errors++;
        }
        c->manifests += r.manifests;
    } while (c->producing);
    return NULL;
}

ITEST_T(manifest_concurrent_builders, 180)
{
    struct lf_fix f;
    struct lf_opts o = {.max_objects = 3, .interval_ms = 100};
    lf_open(&f, &o);
    struct conc c = {.f = &f, .producing = 1};
    struct manifest_builder *mb;
    struct err e = {0};
    ASSERT_OK(manifest_builder_start(&f.cfg, &mb, &e), e);
    pthread_t p, b1, b2;
    pthread_create(&p, NULL, producer, &c);
    pthread_create(&b1, NULL, builder, &c);
    pthread_create(&b2, NULL, builder, &c);
    pthread_join(p, NULL);
    pthread_join(b1, NULL);
    pthread_join(b2, NULL);
    lf_sleep_ms(300);
    struct manifest_result bt;
    manifest_builder_stats(mb, &bt);
    manifest_builder_stop(mb);
    struct manifest_result r = {0};
    ASSERT_OK(manifest_build_once(&f.cfg, &r, &e), e);
    EXPECT_EQ_INT(c.errors, 0);
    EXPECT_EQ_INT(lf_qi(f.coord, "SELECT count(*) FROM @C.objects WHERE manifest_id IS NULL"), 0);
    /* every object in exactly one manifest, and each manifest's JSON lists
     * exactly its ledgered objects */
    EXPECT_EQ_INT(check_manifests(&f, false), 60);
    EXPECT_EQ_INT(lf_qi(f.coord, "SELECT sum(objects) FROM @C.manifests"), 60);
    EXPECT_EQ_INT(lf_qi(f.coord, "SELECT count(*) FROM @C.manifests WHERE objects > 3"), 0);
    /* what the builders say they built is what the ledger holds */
    EXPECT_EQ_INT(c.manifests + bt.manifests + r.manifests,
                  lf_qi(f.coord, "SELECT count(*) FROM @C.manifests"));
    EXPECT_GE_INT(lf_qi(f.coord, "SELECT count(*) FROM @C.manifests"), 20);
    lf_close(&f);
}
