/* t_ctl_ops.c — logfleetctl's ops commands against the local stack: init,
 * leases, workers, drain, status (each on a schema of its own) and reshard
 * (on a fresh kinesalite stream). */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "lease/lease.h"
#include "lease/schema.h"
#include "tests/integ/t_aws_fix.h"
#include "tests/integ/t_ctl_fix.h"
#include "tests/integ/t_lease_fix.h"
#include "tests/t.h"

/* Uses the fixture schema and app for every logfleetctl run of the test. */
static const char *use_fixture_schema(void)
{
    const char *s = lt_schema();
    setenv("LOGFLEET_COORD_SCHEMA", s, 1);
    setenv("LOGFLEET_APP", LT_APP, 1);
    return s;
}

static json_t *parse_out(const struct ctl_result *r)
{
    json_error_t je;
    json_t *j = json_loads(r->out, 0, &je);
    if (!j) T_REPORT_("not JSON (%s): %s", je.text, r->out);
    return j;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static long long jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* The element of array a whose field k equals v, or NULL. */
static json_t *find_by(json_t *a, const char *k, const char *v)
{
    size_t i;
    json_t *o;
    json_array_foreach(a, i, o) if (jstr(o, k) && !strcmp(jstr(o, k), v)) return o;
    return NULL;
}

ITEST_T(ctl_init_is_idempotent, 30)
{
    char schema[40];
    ctl_unique("ctl_init_", schema);
    setenv("LOGFLEET_COORD_SCHEMA", schema, 1);
    struct ctl_result r;
    ctl_run(&r, NULL, "init", NULL);
    EXPECT_EQ_INT(r.status, 0);
    char want[96];
    snprintf(want, sizeof want, "applied migration 1 to schema %s", schema);
    EXPECT_CONTAINS(r.out, want);
    EXPECT_CONTAINS(r.out, "applied migration 2");
    ctl_result_free(&r);
    ctl_run(&r, NULL, "init", NULL);
    EXPECT_EQ_INT(r.status, 0);
    EXPECT_CONTAINS(r.out, "up to date");
    EXPECT_TRUE(strstr(r.out, "applied") == NULL);
    ctl_result_free(&r);
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM %s.schema_migrations", schema),
                  lease_schema_latest());
    EXPECT_EQ_INT(lt_qi("SELECT count(*) FROM information_schema.tables WHERE table_schema = '%s'"
                        " AND table_name IN ('leases', 'workers', 'objects', 'manifests',"
                        " 'loads', 'dead_letters')",
                        schema),
                  6);
    ctl_run(&r, NULL, "init", "now", NULL);
    EXPECT_EQ_INT(r.status, 2);
    EXPECT_CONTAINS(r.err, "usage: logfleetctl init");
    ctl_result_free(&r);
    free(lt_q("DROP SCHEMA %s CASCADE", schema));
}

static void insert_leases(void)
{
    free(lt_q("INSERT INTO @.leases (app, lease_key, lease_owner, lease_counter, checkpoint,"
              " checkpoint_sub, parent_keys, checkpoint_owner) VALUES"
              " ('%s', 'shard-a', 'w1', 7, '4959033827149025660855969253836157', 2, '{}', NULL),"
              " ('%s', 'shard-b', NULL, 0, 'TRIM_HORIZON', 0, '{shard-x,shard-y}', NULL),"
              " ('%s', 'shard-c', 'w2', 3, 'SHARD_END', 0, '{}', 'w1'),"
              " ('other', 'shard-z', 'w9', 1, 'LATEST', 0, '{}', NULL)",
              LT_APP, LT_APP, LT_APP));
    free(lt_q("INSERT INTO @.workers (app, worker_id, heartbeat_at, leases_held, draining) VALUES"
              " ('%s', 'w1', now() - interval '5 seconds', 1, false),"
              " ('%s', 'w2', now(), 1, true), ('other', 'w9', now(), 1, false)",
              LT_APP, LT_APP));
}

static void check_leases_json(json_t *a)
{
    EXPECT_EQ_INT(json_array_size(a), 3); /* the other app's lease is not listed */
    json_t *l = json_array_get(a, 0);
    EXPECT_EQ_STR(jstr(l, "key"), "shard-a");
    EXPECT_EQ_STR(jstr(l, "owner"), "w1");
    EXPECT_EQ_INT(jint(l, "counter"), 7);
    EXPECT_EQ_STR(jstr(l, "checkpoint"), "4959033827149025660855969253836157");
    EXPECT_EQ_INT(jint(l, "checkpoint_sub"), 2);
    EXPECT_TRUE(json_is_null(json_object_get(l, "checkpoint_owner")));
    l = json_array_get(a, 1);
    EXPECT_EQ_STR(jstr(l, "key"), "shard-b");
    EXPECT_TRUE(json_is_null(json_object_get(l, "owner")));
    json_t *p = json_object_get(l, "parents");
    EXPECT_EQ_INT(json_array_size(p), 2);
    EXPECT_EQ_STR(json_string_value(json_array_get(p, 1)), "shard-y");
    l = json_array_get(a, 2);
    EXPECT_EQ_STR(jstr(l, "checkpoint_owner"), "w1");
    EXPECT_EQ_STR(jstr(l, "checkpoint"), "SHARD_END");
}

ITEST_T(ctl_leases_and_workers_list_the_app, 30)
{
    use_fixture_schema();
    insert_leases();
    struct ctl_result r;
    ctl_run(&r, NULL, "leases", "--json", NULL);
    EXPECT_EQ_INT(r.status, 0);
    json_t *j = parse_out(&r);
    if (j) check_leases_json(j);
    json_decref(j);
    ctl_result_free(&r);

    ctl_run(&r, NULL, "leases", NULL);
    EXPECT_EQ_INT(r.status, 0);
    EXPECT_TRUE(!strncmp(r.out, "KEY ", 4));
    EXPECT_CONTAINS(r.out, "4959033827149025660855969253836157/2");
    EXPECT_CONTAINS(r.out, "shard-x,shard-y");
    EXPECT_TRUE(strstr(r.out, "shard-z") == NULL);
    ctl_result_free(&r);

    ctl_run(&r, NULL, "workers", "--json", NULL);
    EXPECT_EQ_INT(r.status, 0);
    j = parse_out(&r);
    EXPECT_EQ_INT(json_array_size(j), 2);
    json_t *w1 = find_by(j, "worker_id", "w1"), *w2 = find_by(j, "worker_id", "w2");
    ASSERT_TRUE(w1 && w2);
    EXPECT_GE_INT(jint(w1, "heartbeat_age_ms"), 4000);
    EXPECT_LE_INT(jint(w1, "heartbeat_age_ms"), 60000);
    EXPECT_LE_INT(jint(w2, "heartbeat_age_ms"), 4000);
    EXPECT_EQ_INT(jint(w1, "leases_owned"), 1);
    EXPECT_EQ_INT(jint(w1, "leases_held"), 1);
    EXPECT_TRUE(json_is_false(json_object_get(w1, "draining")));
    EXPECT_TRUE(json_is_true(json_object_get(w2, "draining")));
    json_decref(j);
    ctl_result_free(&r);

    ctl_run(&r, NULL, "workers", NULL);
    EXPECT_EQ_INT(r.status, 0);
    EXPECT_CONTAINS(r.out, "HEARTBEAT_AGE");
    EXPECT_CONTAINS(r.out, "w2 ");
    EXPECT_TRUE(strstr(r.out, "w9") == NULL);
    ctl_result_free(&r);

    ctl_run(&r, NULL, "leases", "--yaml", NULL);
    EXPECT_EQ_INT(r.status, 2);
    EXPECT_CONTAINS(r.err, "unknown option --yaml");
    ctl_result_free(&r);
    lt_drop();
}

ITEST_T(ctl_drain_sets_the_flag_and_waits_for_the_handoff, 60)
{
    use_fixture_schema();
    lt_leases(2);
    struct err e = {0};
    struct lease_coord *c = lt_coord(&(struct lt_opts){.worker = "w-drain", .duration_ms = 10000});
    ASSERT_OK(lease_take(c, &e), e);
    ASSERT_TRUE(lt_count(c, LEASE_HELD) == 2);
    struct ctl_result r;
    ctl_run(&r, NULL, "drain", "w-drain", NULL);
    EXPECT_EQ_INT(r.status, 0);
    EXPECT_CONTAINS(r.out, "draining requested");
    ctl_result_free(&r);
    EXPECT_EQ_INT(lt_qi("SELECT draining::int FROM @.workers WHERE worker_id = 'w-drain'"), 1);

    /* The worker sees the flag at its next renew and starts handing off. */
    EXPECT_OK(lease_renew(c, &e), e);
    EXPECT_TRUE(lease_draining(c));
    EXPECT_EQ_INT(lt_count(c, LEASE_HANDOFF_REQUESTED), 2);
    ctl_run(&r, NULL, "drain", "--wait", "0", "w-drain", NULL);
    EXPECT_EQ_INT(r.status, 1);
    EXPECT_CONTAINS(r.err, "still owns 2 lease(s)");
    ctl_result_free(&r);
    EXPECT_OK(lease_handoff_complete(c, "shard-000", &e), e);
    EXPECT_OK(lease_handoff_complete(c, "shard-001", &e), e);
    ctl_run(&r, NULL, "drain", "--wait", "5", "w-drain", NULL);
    EXPECT_EQ_INT(r.status, 0);
    EXPECT_CONTAINS(r.out, "holds no lease");
    ctl_result_free(&r);

    ctl_run(&r, NULL, "drain", "--cancel", "w-drain", NULL);
    EXPECT_EQ_INT(r.status, 0);
    ctl_result_free(&r);
    EXPECT_EQ_INT(lt_qi("SELECT draining::int FROM @.workers WHERE worker_id = 'w-drain'"), 0);
    ctl_run(&r, NULL, "drain", "nosuch", NULL);
    EXPECT_EQ_INT(r.status, 1);
    EXPECT_CONTAINS(r.err, "no worker nosuch");
    ctl_result_free(&r);
    static const char *const bad[][3] = {{NULL}, {"a", "b"}, {"--wait", "x", "w"}, {"--now", "w"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ctl_run(&r, NULL, "drain", bad[i][0], bad[i][1], bad[i][2], NULL);
        if (r.status != 2 || !strstr(r.err, "usage: logfleetctl drain"))
            T_REPORT_("drain case %zu: exit %d: %s", i, r.status, r.err);
        ctl_result_free(&r);
    }
    lease_coord_free(c);
    lt_drop();
}

/* ---- status ------------------------------------------------------------------------------ */

static void insert_ledger(void)
{
    free(lt_q("INSERT INTO @.manifests (manifest_id, app, key, log_type, day, objects, records,"
              " bytes) VALUES (41, '%s', 'manifests/login/m1', 'login', '2026-11-22', 1, 10, 100)",
              LT_APP));
    free(lt_q("INSERT INTO @.objects (app, key, log_type, day, shard, first_seq, first_sub,"
              " last_seq, last_sub, records, bytes, raw_bytes, dead, worker_id, manifest_id)"
              " SELECT '%s', 'objects/' || k, 'login', '2026-11-22', 's', 1, 0, 2, 0, 10, 100,"
              " 1000, d, 'w1', m FROM (VALUES ('a', false, NULL::bigint), ('b', false, 41),"
              " ('c', true, NULL), ('d', false, NULL)) v(k, d, m)",
              LT_APP));
    free(lt_q("INSERT INTO @.loads (manifest_id, backend, state) VALUES (41, 'wh_a', 'done'),"
              " (41, 'wh_b', 'failed')"));
    free(lt_q("INSERT INTO @.dead_letters (app, reason, records) VALUES ('%s', 'not_json', 4),"
              " ('%s', 'unknown_type', 2), ('other', 'too_large', 9)",
              LT_APP, LT_APP));
}

/* Leases for the stream's two shards (one behind, one caught up), a
 * finished one, and the workers. */
static void insert_stream_leases(struct ctl_stream *s, char sh[2][KIN_SHARD_ID_MAX])
{
    struct ctl_rec *v;
    size_t n = ctl_read_all(s, &v);
    ASSERT_TRUE(n == 200);
    snprintf(sh[0], KIN_SHARD_ID_MAX, "%s", v[0].shard);
    snprintf(sh[1], KIN_SHARD_ID_MAX, "%s", v[n - 1].shard);
    ASSERT_TRUE(strcmp(sh[0], sh[1]) != 0);
    free(lt_q("INSERT INTO @.leases (app, lease_key, lease_owner, checkpoint) VALUES"
              " ('%s', '%s', 'w1', 'TRIM_HORIZON'), ('%s', '%s', NULL, '%s'),"
              " ('%s', 'shard-old', NULL, 'SHARD_END')",
              LT_APP, sh[0], LT_APP, sh[1], v[n - 1].seq, LT_APP));
    free(lt_q("INSERT INTO @.workers (app, worker_id, draining) VALUES ('%s', 'w1', false),"
              " ('%s', 'w3', true)",
              LT_APP, LT_APP));
    ctl_recs_free(v, n);
}

static void check_status_json(json_t *j, char sh[2][KIN_SHARD_ID_MAX])
{
    json_t *l = json_object_get(j, "leases");
    EXPECT_EQ_INT(jint(l, "total"), 3);
    EXPECT_EQ_INT(jint(l, "owned"), 1);
    EXPECT_EQ_INT(jint(l, "unowned"), 1);
    EXPECT_EQ_INT(jint(l, "finished"), 1);
    json_t *un = json_object_get(j, "unowned");
    EXPECT_EQ_INT(json_array_size(un), 1);
    EXPECT_EQ_STR(json_string_value(json_array_get(un, 0)), sh[1]);
    json_t *w = json_object_get(j, "workers");
    EXPECT_EQ_INT(json_array_size(w), 2);
    EXPECT_EQ_INT(jint(find_by(w, "worker_id", "w1"), "leases"), 1);
    EXPECT_TRUE(json_is_true(json_object_get(find_by(w, "worker_id", "w3"), "draining")));
    json_t *lag = json_object_get(j, "lag");
    EXPECT_EQ_INT(jint(lag, "behind"), 1);
    EXPECT_EQ_INT(jint(lag, "caught_up"), 1);
    EXPECT_EQ_INT(jint(lag, "errors"), 0);
    json_t *shards = json_object_get(lag, "shards");
    EXPECT_GE_INT(jint(find_by(shards, "key", sh[0]), "lag_ms"), 1);
    EXPECT_EQ_INT(jint(find_by(shards, "key", sh[1]), "lag_ms"), 0);
    json_t *led = json_object_get(j, "ledger");
    json_t *obj = json_object_get(led, "objects");
    EXPECT_EQ_INT(jint(obj, "pending"), 2);
    EXPECT_EQ_INT(jint(obj, "manifested"), 1);
    EXPECT_EQ_INT(jint(obj, "dead"), 1);
    EXPECT_EQ_INT(jint(led, "manifests"), 1);
    json_t *loads = json_object_get(led, "loads");
    EXPECT_EQ_INT(jint(json_object_get(loads, "wh_a"), "done"), 1);
    EXPECT_EQ_INT(jint(json_object_get(loads, "wh_b"), "failed"), 1);
    json_t *dl = json_object_get(led, "dead_letters");
    EXPECT_EQ_INT(json_object_size(dl), 2);
    EXPECT_EQ_INT(jint(dl, "not_json"), 4);
    EXPECT_EQ_INT(jint(dl, "unknown_type"), 2);
}

ITEST_T(ctl_status_reports_leases_lag_and_ledger, 60)
{
    struct ctl_stream s;
    ctl_stream_new(&s, 2);
    struct ctl_result r;
    ctl_run(&r, NULL, "produce", "--count", "200", "--key", "random", NULL);
    ASSERT_TRUE(r.status == 0);
    ctl_result_free(&r);
    use_fixture_schema();
    char sh[2][KIN_SHARD_ID_MAX];
    insert_stream_leases(&s, sh);
    insert_ledger();

    ctl_run(&r, NULL, "status", "--json", NULL);
    EXPECT_EQ_INT(r.status, 0);
    json_t *j = parse_out(&r);
    if (j) check_status_json(j, sh);
    json_decref(j);
    ctl_result_free(&r);

    ctl_run(&r, NULL, "status", NULL);
    EXPECT_EQ_INT(r.status, 0);
    char want[200];
    snprintf(want, sizeof want, "without owner: %s\n", sh[1]);
    EXPECT_CONTAINS(r.out, want);
    EXPECT_CONTAINS(r.out, "leases: 3 (1 owned, 1 unowned, 1 finished)");
    EXPECT_CONTAINS(r.out, "1 behind, 1 caught up");
    EXPECT_CONTAINS(r.out, "manifests: 1\n");
    EXPECT_CONTAINS(r.out, "dead letters: not_json 4, unknown_type 2\n");
    ctl_result_free(&r);

    ctl_run(&r, NULL, "status", "--json", "--no-lag", NULL);
    EXPECT_EQ_INT(r.status, 0);
    j = parse_out(&r);
    EXPECT_TRUE(j && json_is_null(json_object_get(j, "lag")));
    json_decref(j);
    ctl_result_free(&r);
    lt_drop();
    ctl_stream_free(&s);
}

/* ---- reshard ------------------------------------------------------------------------------ */

/* The open shards of the stream; *lo = the one starting lowest. */
static size_t open_shards(struct ctl_stream *s, struct kin_shard_list *l)
{
    struct err e = {0};
    ASSERT_OK(kin_list_shards(s->k, s->name, 0, l, &e), e);
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) n += l->v[i].seq_end[0] == 0;
    return n;
}

static const struct kin_shard *child_of(const struct kin_shard_list *l, const char *parent,
                                        const char *start)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].parent, parent) && !strcmp(l->v[i].hash_start, start)) return &l->v[i];
    return NULL;
}

ITEST_T(ctl_reshard_split_and_merge_change_the_shards, 60)
{
    struct ctl_stream s;
    ctl_stream_new(&s, 2);
    struct kin_shard_list l = {0};
    open_shards(&s, &l);
    ASSERT_TRUE(l.n == 2);
    struct kin_shard p = l.v[0], q = l.v[1];
    kin_shard_list_free(&l);
    char mid[48], want[256];
    af_u128_fmt((af_u128(p.hash_start) + af_u128(p.hash_end) + 1) / 2, mid, sizeof mid);

    struct ctl_result r;
    ctl_run(&r, NULL, "reshard", "split", p.id, NULL);
    EXPECT_EQ_INT(r.status, 0);
    snprintf(want, sizeof want, "split %s at %s\n", p.id, mid);
    EXPECT_CONTAINS(r.out, want);
    EXPECT_CONTAINS(r.out, "3 open shards");
    ctl_result_free(&r);
    EXPECT_EQ_INT(open_shards(&s, &l), 3);
    const struct kin_shard *lo = child_of(&l, p.id, p.hash_start), *hi = child_of(&l, p.id, mid);
    ASSERT_TRUE(lo && hi);
    EXPECT_EQ_STR(hi->hash_end, p.hash_end);
    char lo_end[48];
    af_u128_fmt(af_u128(mid) - 1, lo_end, sizeof lo_end);
    EXPECT_EQ_STR(lo->hash_end, lo_end);
    char a[KIN_SHARD_ID_MAX], b[KIN_SHARD_ID_MAX];
    snprintf(a, sizeof a, "%s", lo->id);
    snprintf(b, sizeof b, "%s", hi->id);
    kin_shard_list_free(&l);

    ctl_run(&r, NULL, "reshard", "merge", a, b, NULL);
    EXPECT_EQ_INT(r.status, 0);
    EXPECT_CONTAINS(r.out, "2 open shards");
    ctl_result_free(&r);
    EXPECT_EQ_INT(open_shards(&s, &l), 2);
    const struct kin_shard *m = child_of(&l, a, p.hash_start);
    ASSERT_TRUE(m != NULL);
    EXPECT_EQ_STR(m->adjacent_parent, b);
    EXPECT_EQ_STR(m->hash_end, p.hash_end);
    kin_shard_list_free(&l);

    /* An explicit split point. */
    char key[48];
    af_u128_fmt(af_u128(q.hash_start) + 12345, key, sizeof key);
    ctl_run(&r, NULL, "reshard", "split", q.id, key, NULL);
    EXPECT_EQ_INT(r.status, 0);
    ctl_result_free(&r);
    EXPECT_EQ_INT(open_shards(&s, &l), 3);
    EXPECT_TRUE(child_of(&l, q.id, key) != NULL);
    kin_shard_list_free(&l);

    ctl_run(&r, NULL, "reshard", "split", p.id, NULL); /* closed now */
    EXPECT_EQ_INT(r.status, 1);
    EXPECT_CONTAINS(r.err, "is closed");
    ctl_result_free(&r);
    static const char *const bad[][4] = {{NULL},
                                         {"frob"},
                                         {"split"},
                                         {"count", "x"},
                                         {"count", "0"},
                                         {"merge", "a"},
                                         {"split", "a", "12a"},
                                         {"split", "a", "1", "2"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ctl_run(&r, NULL, "reshard", bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
        if (r.status != 2 || !strstr(r.err, "usage: logfleetctl reshard"))
            T_REPORT_("reshard case %zu: exit %d: %s", i, r.status, r.err);
        ctl_result_free(&r);
    }
    ctl_stream_free(&s);
}
