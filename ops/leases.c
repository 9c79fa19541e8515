/* leases.c — `logfleetctl leases` and `logfleetctl workers`: the lease table
 * and the worker registry of the configured app, as a table or JSON.
 *
 * Both read through lease/registry.h (one short-lived connection each).
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "lease/registry.h"
#include "ops/ctl.h"
#include "ops/ctlutil.h"

static const char leases_usage[] =
    "usage: logfleetctl leases [--json]\n"
    "  the lease table of the app: key, owner, counter, checkpoint, parents,\n"
    "  checkpoint_owner (a handoff in progress)\n";
static const char workers_usage[] =
    "usage: logfleetctl workers [--json]\n"
    "  the worker registry of the app: heartbeat age, leases held (as the worker\n"
    "  reports) and owned (in the lease table), draining flag\n";

/* Parses [--json]; 0 ok, 2 usage error. */
static int parse_json_flag(int argc, char **argv, const char *usage, bool *json)
{
    static const struct option lo[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    ctl_getopt_reset();
    *json = false;
    for (int ch; (ch = getopt_long(argc, argv, "+:", lo, NULL)) != -1;) {
        if (ch != 'j') return ctl_bad_option(usage, ch, argv);
        *json = true;
    }
    if (optind < argc)
        return ctl_usage_error(argv[0], usage, "unexpected argument \"%s\"", argv[optind]);
    return 0;
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(v[i]));
    return a;
}

static int print_json(json_t *j)
{
    int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (rc == 0) fputc('\n', stdout);
    return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
}

static json_t *lease_json(const struct lease_row *l)
{
    json_t *o = json_object();
    json_object_set_new(o, "key", json_string(l->key));
    json_object_set_new(o, "owner", str_or_null(l->owner));
    json_object_set_new(o, "counter", json_integer(l->counter));
    json_object_set_new(o, "checkpoint", json_string(l->checkpoint));
    json_object_set_new(o, "checkpoint_sub", json_integer(l->checkpoint_sub));
    json_object_set_new(o, "parents", strv_json(l->parents, l->nparents));
    json_object_set_new(o, "children", strv_json(l->children, l->nchildren));
    json_object_set_new(o, "checkpoint_owner", str_or_null(l->checkpoint_owner));
    json_object_set_new(o, "owner_switches", json_integer(l->owner_switches));
    json_object_set_new(o, "throughput_kbps", json_real(l->throughput_kbps));
    json_object_set_new(o, "updated_at", json_string(l->updated_at));
    return o;
}

/* "a,b" or NULL when empty; into b (reset first). */
static const char *joined(struct buf *b, char *const *v, size_t n)
{
    buf_reset(b);
    for (size_t i = 0; i < n; i++) {
        if (i) buf_puts(b, ",");
        buf_puts(b, v[i]);
    }
    return n ? b->data : NULL;
}

static void print_leases(const struct lease_row *v, size_t n)
{
    struct ctl_table t;
    ctl_table_init(&t, 6);
    const char *head[] = {"KEY", "OWNER", "COUNTER", "CHECKPOINT", "PARENTS", "CHECKPOINT_OWNER"};
    ctl_table_add(&t, head);
    struct buf par, cp;
    buf_init(&par, 1 << 16);
    buf_init(&cp, 1 << 10);
    for (size_t i = 0; i < n; i++) {
        char counter[24];
        snprintf(counter, sizeof counter, "%" PRId64, v[i].counter);
        buf_reset(&cp);
        buf_puts(&cp, v[i].checkpoint);
        if (v[i].checkpoint_sub) buf_printf(&cp, "/%" PRId64, v[i].checkpoint_sub);
        const char *row[] = {v[i].key,
                             v[i].owner,
                             counter,
                             cp.data,
                             joined(&par, v[i].parents, v[i].nparents),
                             v[i].checkpoint_owner};
        ctl_table_add(&t, row);
    }
    ctl_table_print(stdout, &t);
    ctl_table_free(&t);
    buf_free(&par);
    buf_free(&cp);
}

static int cmd_leases(const struct lf_config *c, int argc, char **argv)
{
    bool json;
    int rc = parse_json_flag(argc, argv, leases_usage, &json);
    if (rc) return rc;
    struct lease_row *v;
    size_t n;
    struct err e = {0};
    if (lease_list(c->coord.dsn, c->coord.schema, c->app, &v, &n, &e)) {
        fprintf(stderr, "logfleetctl leases: %s\n", e.msg);
        return 1;
    }
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(a, lease_json(&v[i]));
        rc = print_json(a);
    } else {
        print_leases(v, n);
    }
    lease_rows_free(v, n);
    return rc;
}

CTL_COMMAND(leases, "leases", true, cmd_leases, "list the app's leases (--json)")

/* ---- workers -------------------------------------------------------------- */

static int64_t heartbeat_age_ms(const struct lease_worker_row *w, int64_t now)
{
    int64_t t;
    if (ctl_iso8601_ms(w->heartbeat_at, &t)) return -1;
    return now > t ? now - t : 0; /* clamp a small clock skew to 0 */
}

static size_t owned_by(const struct lease_row *l, size_t n, const char *worker)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += l[i].owner && !strcmp(l[i].owner, worker);
    return k;
}

static void print_workers(const struct lease_worker_row *w, size_t nw, const struct lease_row *l,
                          size_t nl, int64_t now)
{
    struct ctl_table t;
    ctl_table_init(&t, 6);
    const char *head[] = {"WORKER",       "HEARTBEAT_AGE", "LEASES_HELD",
                          "LEASES_OWNED", "DRAINING",      "STARTED_AT"};
    ctl_table_add(&t, head);
    for (size_t i = 0; i < nw; i++) {
        char age[32], held[16], owned[24];
        int64_t a = heartbeat_age_ms(&w[i], now);
        if (a < 0)
            snprintf(age, sizeof age, "?");
        else
            snprintf(age, sizeof age, "%.1fs", (double)a / 1000);
        snprintf(held, sizeof held, "%d", w[i].leases_held);
        snprintf(owned, sizeof owned, "%zu", owned_by(l, nl, w[i].worker_id));
        const char *row[] = {w[i].worker_id, age, held, owned, w[i].draining ? "yes" : "no",
                             w[i].started_at};
        ctl_table_add(&t, row);
    }
    ctl_table_print(stdout, &t);
    ctl_table_free(&t);
}

static json_t *worker_json(const struct lease_worker_row *w, const struct lease_row *l, size_t nl,
                           int64_t now)
{
    json_t *o = json_object();
    int64_t a = heartbeat_age_ms(w, now);
    json_object_set_new(o, "worker_id", json_string(w->worker_id));
    json_object_set_new(o, "started_at", json_string(w->started_at));
    json_object_set_new(o, "heartbeat_at", json_string(w->heartbeat_at));
    json_object_set_new(o, "heartbeat_age_ms", a < 0 ? json_null() : json_integer(a));
    json_object_set_new(o, "leases_held", json_integer(w->leases_held));
    json_object_set_new(o, "leases_owned", json_integer((json_int_t)owned_by(l, nl, w->worker_id)));
    json_object_set_new(o, "draining", json_boolean(w->draining));
    return o;
}

static int cmd_workers(const struct lf_config *c, int argc, char **argv)
{
    bool json;
    int rc = parse_json_flag(argc, argv, workers_usage, &json);
    if (rc) return rc;
    struct lease_worker_row *w = NULL;
    struct lease_row *l = NULL;
    size_t nw = 0, nl = 0;
    struct err e = {0};
    if (lease_workers_list(c->coord.dsn, c->coord.schema, c->app, &w, &nw, &e) ||
        lease_list(c->coord.dsn, c->coord.schema, c->app, &l, &nl, &e)) {
        fprintf(stderr, "logfleetctl workers: %s\n", e.msg);
        lease_worker_rows_free(w, nw);
        return 1;
    }
    int64_t now = ctl_now_ms();
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < nw; i++) json_array_append_new(a, worker_json(&w[i], l, nl, now));
        rc = print_json(a);
    } else {
        print_workers(w, nw, l, nl, now);
    }
    lease_worker_rows_free(w, nw);
    lease_rows_free(l, nl);
    return rc;
}

CTL_COMMAND(workers, "workers", true, cmd_workers, "list the app's workers (--json)")
