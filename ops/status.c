/* status.c — `logfleetctl status`: one look at the app's health.
 *
 * Leases per worker and the registry (lease/registry.h), leases without an
 * owner, a checkpoint lag summary, and — when migration 2's tables exist —
 * the object ledger, manifests, loads per backend and state, and dead
 * letters per reason.  Everything is gathered into one JSON document first;
 * --json prints it, otherwise it is rendered as text.
 *
 * Lag of a lease = the age (now - ApproximateArrivalTimestamp) of the first
 * record after its checkpoint, 0 when there is none; MillisBehindLatest
 * counts too where the server reports it.  It costs a GetShardIterator and
 * a GetRecords (limit 1) per unfinished lease; --no-lag skips Kinesis.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kinesis.h"
#include "common/mem.h"
#include "common/pg.h"
#include "lease/registry.h"
#include "ops/ctl.h"
#include "ops/ctlutil.h"

static const char usage[] =
    "usage: logfleetctl status [--json] [--no-lag]\n"
    "  leases per worker, leases without an owner, checkpoint lag (from Kinesis),\n"
    "  objects / manifests / loads per state and dead letters per reason\n"
    "  --json    print one JSON document\n"
    "  --no-lag  do not ask Kinesis for the lag\n";

static bool is_digits(const char *s) { return *s && strspn(s, "0123456789") == strlen(s); }

/* ---- leases and workers ------------------------------------------------------- */

static json_t *worker_entry(json_t *workers, const char *id)
{
    json_t *w = json_object_get(workers, id);
    if (!w) {
        w = json_pack("{s:s, s:i, s:b, s:n, s:b}", "worker_id", id, "leases", 0, "registered", 0,
                      "heartbeat_age_ms", "draining", 0);
        json_object_set_new(workers, id, w);
    }
    return w;
}

static json_t *leases_json(const struct lease_row *l, size_t nl, json_t *unowned)
{
    size_t owned = 0, finished = 0;
    for (size_t i = 0; i < nl; i++) {
        bool done = !strcmp(l[i].checkpoint, "SHARD_END");
        finished += done;
        owned += l[i].owner != NULL;
        if (!l[i].owner && !done) json_array_append_new(unowned, json_string(l[i].key));
    }
    return json_pack("{s:I, s:I, s:I, s:I}", "total", (json_int_t)nl, "owned", (json_int_t)owned,
                     "unowned", (json_int_t)json_array_size(unowned), "finished",
                     (json_int_t)finished);
}

static int cmp_worker(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "worker_id"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "worker_id"));
    return strcmp(x, y);
}

/* Registry rows and lease owners, one entry per worker, sorted by id. */
static json_t *workers_json(const struct lease_worker_row *w, size_t nw, const struct lease_row *l,
                            size_t nl)
{
    json_t *by_id = json_object();
    int64_t now = ctl_now_ms();
    for (size_t i = 0; i < nw; i++) {
        json_t *o = worker_entry(by_id, w[i].worker_id);
        int64_t t;
        json_object_set_new(o, "registered", json_true());
        if (ctl_iso8601_ms(w[i].heartbeat_at, &t) == 0)
            json_object_set_new(o, "heartbeat_age_ms", json_integer(now > t ? now - t : 0));
        json_object_set_new(o, "draining", json_boolean(w[i].draining));
    }
    for (size_t i = 0; i < nl; i++) {
        if (!l[i].owner) continue;
        json_t *o = worker_entry(by_id, l[i].owner);
        json_object_set_new(o, "leases",
                            json_integer(json_integer_value(json_object_get(o, "leases")) + 1));
    }
    size_t n = json_object_size(by_id), i = 0;
    json_t **v = xcalloc(n ? n : 1, sizeof *v), *arr = json_array(), *o;
    const char *k;
    json_object_foreach(by_id, k, o) v[i++] = o;
    qsort(v, n, sizeof *v, cmp_worker);
    for (i = 0; i < n; i++) json_array_append(arr, v[i]);
    free(v);
    json_decref(by_id);
    return arr;
}

/* ---- lag ------------------------------------------------------------------------ */

/* Lag of one lease in ms into *lag; -1 with e filled on a Kinesis error. */
static int lease_lag(struct kin *k, const struct lf_config *c, const struct lease_row *l,
                     int64_t *lag, struct err *e)
{
    struct kin_iter_from from = {KIN_TRIM_HORIZON, NULL, 0};
    if (is_digits(l->checkpoint))
        from = (struct kin_iter_from){KIN_AFTER_SEQUENCE_NUMBER, l->checkpoint, 0};
    else if (!strcmp(l->checkpoint, "AT_TIMESTAMP"))
        from = (struct kin_iter_from){KIN_AT_TIMESTAMP, NULL, (double)c->kinesis.initial_timestamp};
    char *it = NULL;
    if (kin_get_shard_iterator(k, c->kinesis.stream, l->key, &from, &it, e)) return -1;
    *lag = 0;
    /* An empty page does not prove the shard is read to its tip: a few more. */
    for (int round = 0; it && round < 5; round++) {
        struct kin_records r;
        if (kin_get_records(k, it, 1, &r, e)) {
            free(it);
            return -1;
        }
        free(it);
        it = r.next_iterator ? xstrdup(r.next_iterator) : NULL;
        if (r.millis_behind > *lag) *lag = r.millis_behind;
        bool got = r.n > 0, behind = r.millis_behind > 0;
        if (got && r.v[0].arrival_ms >= 0 && ctl_now_ms() - r.v[0].arrival_ms > *lag)
            *lag = ctl_now_ms() - r.v[0].arrival_ms;
        kin_records_free(&r);
        if (got || !behind) break;
    }
    free(it);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static json_t *lag_summary(json_t *shards, int64_t *v, size_t n, size_t errors)
{
    qsort(v, n, sizeof *v, cmp_i64);
    size_t behind = 0;
    for (size_t i = 0; i < n; i++) behind += v[i] > 0;
    return json_pack("{s:o, s:o, s:o, s:I, s:I, s:I}", "shards", shards, "max_ms",
                     n ? json_integer(v[n - 1]) : json_null(), "median_ms",
                     n ? json_integer(v[n / 2]) : json_null(), "behind", (json_int_t)behind,
                     "caught_up", (json_int_t)(n - behind), "errors", (json_int_t)errors);
}

static json_t *lag_json(const struct lf_config *c, const struct lease_row *l, size_t nl)
{
    struct aws_creds_provider *cp = NULL;
    struct kin *k = NULL;
    struct err e = {0};
    if (ctl_creds_new(c, &cp, &e) || ctl_kin_new(c, cp, &k, &e)) {
        aws_creds_provider_free(cp);
        return json_pack("{s:s}", "error", e.msg);
    }
    json_t *shards = json_array();
    int64_t *v = xcalloc(nl ? nl : 1, sizeof *v);
    size_t n = 0, errors = 0;
    for (size_t i = 0; i < nl; i++) {
        if (!strcmp(l[i].checkpoint, "SHARD_END") || !strcmp(l[i].checkpoint, "LATEST")) continue;
        int64_t lag;
        json_t *o = json_pack("{s:s, s:s}", "key", l[i].key, "checkpoint", l[i].checkpoint);
        if (lease_lag(k, c, &l[i], &lag, &e)) {
            json_object_set_new(o, "error", json_string(e.msg));
            errors++;
        } else {
            json_object_set_new(o, "lag_ms", json_integer(lag));
            v[n++] = lag;
        }
        json_array_append_new(shards, o);
    }
    json_t *sum = lag_summary(shards, v, n, errors);
    free(v);
    kin_free(k);
    aws_creds_provider_free(cp);
    return sum;
}

/* ---- ledger ------------------------------------------------------------------------ */

/* Rows of sql ($1 = app) as {col0: col1 (integer)}; NULL on error. */
static json_t *counts(PGconn *pg, const char *sql, const char *app, struct err *e)
{
    PGresult *r;
    const char *p[] = {app};
    if (pg_execp(pg, sql, 1, p, &r, e)) return NULL;
    json_t *o = json_object();
    for (int i = 0; i < PQntuples(r); i++)
        json_object_set_new(o, PQgetvalue(r, i, 0),
                            json_integer(strtoll(PQgetvalue(r, i, 1), NULL, 10)));
    PQclear(r);
    return o;
}

/* Loads per backend and state: {backend: {state: n}}. */
static json_t *loads(PGconn *pg, const char *schema, const char *app, struct err *e)
{
    char *sql = xasprintf("SELECT l.backend, l.state, count(*) FROM %s.loads l"
                          " JOIN %s.manifests m USING (manifest_id) WHERE m.app = $1"
                          " GROUP BY 1, 2 ORDER BY 1, 2",
                          schema, schema);
    PGresult *r;
    const char *p[] = {app};
    int rc = pg_execp(pg, sql, 1, p, &r, e);
    free(sql);
    if (rc) return NULL;
    json_t *o = json_object();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *b = json_object_get(o, PQgetvalue(r, i, 0));
        if (!b) json_object_set_new(o, PQgetvalue(r, i, 0), b = json_object());
        json_object_set_new(b, PQgetvalue(r, i, 1),
                            json_integer(strtoll(PQgetvalue(r, i, 2), NULL, 10)));
    }
    PQclear(r);
    return o;
}

static int have_ledger(PGconn *pg, const char *schema, bool *yes, struct err *e)
{
    char *sql = xasprintf("SELECT to_regclass('%s.objects') IS NOT NULL AND"
                          " to_regclass('%s.manifests') IS NOT NULL AND"
                          " to_regclass('%s.loads') IS NOT NULL AND"
                          " to_regclass('%s.dead_letters') IS NOT NULL",
                          schema, schema, schema, schema);
    PGresult *r;
    int rc = pg_execp(pg, sql, 0, NULL, &r, e);
    free(sql);
    if (rc) return -1;
    *yes = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return 0;
}

static json_t *ledger_parts(PGconn *pg, const char *s, const char *app, struct err *e)
{
    char *q_obj = xasprintf("SELECT CASE WHEN dead THEN 'dead' WHEN manifest_id IS NULL"
                            " THEN 'pending' ELSE 'manifested' END, count(*) FROM %s.objects"
                            " WHERE app = $1 GROUP BY 1",
                            s);
    char *q_man = xasprintf("SELECT 'manifests', count(*) FROM %s.manifests WHERE app = $1", s);
    char *q_dl = xasprintf("SELECT reason, records FROM %s.dead_letters WHERE app = $1"
                           " ORDER BY reason",
                           s);
    json_t *parts[4] = {counts(pg, q_obj, app, e), NULL, NULL, NULL};
    if (parts[0]) parts[1] = counts(pg, q_man, app, e);
    if (parts[1]) parts[2] = loads(pg, s, app, e);
    if (parts[2]) parts[3] = counts(pg, q_dl, app, e);
    json_t *o = NULL;
    if (parts[3]) {
        static const char *const st[] = {"pending", "manifested", "dead"};
        for (size_t i = 0; i < 3; i++)
            if (!json_object_get(parts[0], st[i]))
                json_object_set_new(parts[0], st[i], json_integer(0));
        o = json_pack("{s:o, s:O, s:o, s:o}", "objects", parts[0], "manifests",
                      json_object_get(parts[1], "manifests"), "loads", parts[2], "dead_letters",
                      parts[3]);
        json_decref(parts[1]);
    } else {
        for (int i = 0; i < 4; i++) json_decref(parts[i]);
    }
    free(q_obj);
    free(q_man);
    free(q_dl);
    return o;
}

/* The ledger's counts; json null when the tables do not exist; NULL on error. */
static json_t *ledger_json(const struct lf_config *c, struct err *e)
{
    PGconn *pg;
    if (pg_connect(c->coord.dsn, 10, &pg, e)) return NULL;
    bool yes = false;
    json_t *o = NULL;
    if (have_ledger(pg, c->coord.schema, &yes, e) == 0)
        o = yes ? ledger_parts(pg, c->coord.schema, c->app, e) : json_null();
    PQfinish(pg);
    return o;
}

/* ---- text ---------------------------------------------------------------------------- */

static json_int_t geti(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void print_workers(const json_t *workers)
{
    struct ctl_table t;
    ctl_table_init(&t, 4);
    const char *head[] = {"WORKER", "LEASES", "HEARTBEAT_AGE", "DRAINING"};
    ctl_table_add(&t, head);
    size_t i;
    json_t *w;
    json_array_foreach(workers, i, w)
    {
        char n[24], age[32];
        snprintf(n, sizeof n, "%" JSON_INTEGER_FORMAT, geti(w, "leases"));
        json_t *a = json_object_get(w, "heartbeat_age_ms");
        if (json_is_integer(a))
            snprintf(age, sizeof age, "%.1fs", (double)json_integer_value(a) / 1000);
        else
            snprintf(age, sizeof age, "not registered");
        const char *row[] = {json_string_value(json_object_get(w, "worker_id")), n, age,
                             json_is_true(json_object_get(w, "draining")) ? "yes" : "no"};
        ctl_table_add(&t, row);
    }
    ctl_table_print(stdout, &t);
    ctl_table_free(&t);
}

static void print_lag(const json_t *lag)
{
    if (!lag) return;
    const json_t *err = json_object_get(lag, "error");
    if (err) {
        printf("lag: unavailable: %s\n", json_string_value(err));
        return;
    }
    json_t *max = json_object_get(lag, "max_ms");
    if (!json_is_integer(max) && geti(lag, "errors"))
        printf("lag: unknown");
    else if (!json_is_integer(max))
        printf("lag: no unfinished leases");
    else
        printf("lag: max %.1f s, median %.1f s; %" JSON_INTEGER_FORMAT
               " behind, %" JSON_INTEGER_FORMAT " caught up",
               (double)json_integer_value(max) / 1000, (double)geti(lag, "median_ms") / 1000,
               geti(lag, "behind"), geti(lag, "caught_up"));
    if (geti(lag, "errors")) printf(", %" JSON_INTEGER_FORMAT " unreadable", geti(lag, "errors"));
    putchar('\n');
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(lag, "shards"), i, s)
    {
        json_t *e = json_object_get(s, "error");
        if (e)
            printf("  %s: %s\n", json_string_value(json_object_get(s, "key")),
                   json_string_value(e));
        else if (geti(s, "lag_ms") > 0)
            printf("  %s: %.1f s behind\n", json_string_value(json_object_get(s, "key")),
                   (double)geti(s, "lag_ms") / 1000);
    }
}

static void print_counts(const char *title, const json_t *o)
{
    printf("%s:", title);
    const char *k;
    json_t *v;
    int n = 0;
    json_object_foreach((json_t *)o, k, v)
        printf("%s %s %" JSON_INTEGER_FORMAT, n++ ? "," : "", k, json_integer_value(v));
    printf("%s\n", n ? "" : " none");
}

static void print_ledger(const json_t *l)
{
    if (json_is_null(l)) {
        printf("ledger: no tables yet (run logfleetctl init)\n");
        return;
    }
    print_counts("objects", json_object_get(l, "objects"));
    printf("manifests: %" JSON_INTEGER_FORMAT "\n", geti(l, "manifests"));
    const char *k;
    json_t *v;
    json_t *ld = json_object_get(l, "loads");
    if (!json_object_size(ld)) printf("loads: none\n");
    json_object_foreach(ld, k, v)
    {
        char title[160];
        snprintf(title, sizeof title, "loads %s", k);
        print_counts(title, v);
    }
    print_counts("dead letters", json_object_get(l, "dead_letters"));
}

static void print_text(const json_t *doc)
{
    const json_t *ls = json_object_get(doc, "leases");
    printf("app %s, schema %s\n", json_string_value(json_object_get(doc, "app")),
           json_string_value(json_object_get(doc, "schema")));
    printf("leases: %" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT " owned, %" JSON_INTEGER_FORMAT
           " unowned, %" JSON_INTEGER_FORMAT " finished)\n",
           geti(ls, "total"), geti(ls, "owned"), geti(ls, "unowned"), geti(ls, "finished"));
    print_workers(json_object_get(doc, "workers"));
    const json_t *un = json_object_get(doc, "unowned");
    if (json_array_size(un)) {
        printf("without owner:");
        size_t i;
        json_t *k;
        json_array_foreach(un, i, k) printf(" %s", json_string_value(k));
        putchar('\n');
    }
    print_lag(json_object_get(doc, "lag"));
    print_ledger(json_object_get(doc, "ledger"));
}

/* ---- the command ------------------------------------------------------------------------- */

static json_t *gather(const struct lf_config *c, bool lag, struct err *e)
{
    struct lease_worker_row *w = NULL;
    struct lease_row *l = NULL;
    size_t nw = 0, nl = 0;
    if (lease_workers_list(c->coord.dsn, c->coord.schema, c->app, &w, &nw, e) ||
        lease_list(c->coord.dsn, c->coord.schema, c->app, &l, &nl, e)) {
        lease_worker_rows_free(w, nw);
        return NULL;
    }
    json_t *ledger = ledger_json(c, e);
    json_t *doc = NULL;
    if (ledger) {
        json_t *unowned = json_array();
        doc = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "app", c->app, "schema",
                        c->coord.schema, "leases", leases_json(l, nl, unowned), "workers",
                        workers_json(w, nw, l, nl), "unowned", unowned, "lag",
                        lag ? lag_json(c, l, nl) : json_null(), "ledger", ledger);
    }
    lease_worker_rows_free(w, nw);
    lease_rows_free(l, nl);
    return doc;
}

static int cmd_status(const struct lf_config *c, int argc, char **argv)
{
    static const struct option lo[] = {
        {"json", no_argument, NULL, 'j'}, {"no-lag", no_argument, NULL, 'n'}, {NULL, 0, NULL, 0}};
    bool json = false, lag = true;
    ctl_getopt_reset();
    for (int ch; (ch = getopt_long(argc, argv, "+:", lo, NULL)) != -1;) {
        if (ch == 'j')
            json = true;
        else if (ch == 'n')
            lag = false;
        else
            return ctl_bad_option(usage, ch, argv);
    }
    if (optind < argc)
        return ctl_usage_error(argv[0], usage, "unexpected argument \"%s\"", argv[optind]);
    struct err e = {0};
    json_t *doc = gather(c, lag, &e);
    if (!doc) {
        fprintf(stderr, "logfleetctl status: %s\n", e.msg);
        return 1;
    }
    int rc = 0;
    if (json) {
        rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) ? 1 : 0;
        putchar('\n');
    } else {
        print_text(doc);
    }
    json_decref(doc);
    return fflush(stdout) ? 1 : rc;
}

CTL_COMMAND(status, "status", true, cmd_status,
            "leases per worker, unowned shards, lag, ledger and load counts (--json)")
