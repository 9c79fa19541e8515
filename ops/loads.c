/* loads.c — `logfleetctl loads`: the load queue of the app, and requeueing
 * failed loads.  The queries live in sinks/loader.h (loader_list,
 * loader_requeue); this file parses arguments and prints.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ctl.h"
#include "ops/ctlutil.h"
#include "sinks/loader.h"

static const char usage[] =
    "usage: logfleetctl loads [--failed] [--json]\n"
    "       logfleetctl loads retry <manifest_id>|--all [--backend NAME]\n"
    "  lists loads (manifest x backend): state, attempts, next attempt, last error;\n"
    "  `retry` requeues failed loads (pending, attempts 0, next attempt now)\n";

static json_t *row_json(const struct loader_row *w)
{
    json_t *o = json_object();
    json_object_set_new(o, "manifest_id", json_integer(w->manifest_id));
    json_object_set_new(o, "manifest", json_string(w->manifest_key));
    json_object_set_new(o, "type", json_string(w->log_type));
    json_object_set_new(o, "day", json_string(w->day));
    json_object_set_new(o, "backend", json_string(w->backend));
    json_object_set_new(o, "state", json_string(w->state));
    json_object_set_new(o, "attempts", json_integer(w->attempts));
    json_object_set_new(o, "next_attempt_at", json_string(w->next_attempt_at));
    json_object_set_new(o, "rows_loaded",
                        w->rows_loaded < 0 ? json_null() : json_integer(w->rows_loaded));
    json_object_set_new(o, "last_error", w->last_error ? json_string(w->last_error) : json_null());
    return o;
}

static int print_rows(const struct loader_row *v, size_t n, bool json)
{
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(a, row_json(&v[i]));
        int rc = json_dumpf(a, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(a);
        fputc('\n', stdout);
        return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
    }
    struct ctl_table t;
    ctl_table_init(&t, 8);
    const char *head[] = {"MANIFEST_ID", "BACKEND", "STATE", "ATTEMPTS", "NEXT_ATTEMPT",
                          "ROWS", "MANIFEST", "LAST_ERROR"};
    ctl_table_add(&t, head);
    for (size_t i = 0; i < n; i++) {
        char id[24], att[16], rows[24];
        snprintf(id, sizeof id, "%" PRId64, v[i].manifest_id);
        snprintf(att, sizeof att, "%d", v[i].attempts);
        snprintf(rows, sizeof rows, "%" PRId64, v[i].rows_loaded);
        const char *row[] = {id, v[i].backend, v[i].state, att, v[i].next_attempt_at,
                             v[i].rows_loaded < 0 ? NULL : rows, v[i].manifest_key,
                             v[i].last_error};
        ctl_table_add(&t, row);
    }
    ctl_table_print(stdout, &t);
    ctl_table_free(&t);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_list(const struct lf_config *c, int argc, char **argv)
{
    static const struct option lo[] = {{"failed", no_argument, NULL, 'f'},
                                       {"json", no_argument, NULL, 'j'},
                                       {NULL, 0, NULL, 0}};
    bool failed = false, json = false;
    ctl_getopt_reset();
    for (int ch; (ch = getopt_long(argc, argv, "+:", lo, NULL)) != -1;) {
        if (ch == 'f') failed = true;
        else if (ch == 'j') json = true;
        else return ctl_bad_option(usage, ch, argv);
    }
    if (optind < argc)
        return ctl_usage_error("loads", usage, "unexpected argument \"%s\"", argv[optind]);
    struct loader_row *v;
    size_t n;
    struct err e = {0};
    if (loader_list(c, failed, &v, &n, &e)) {
        fprintf(stderr, "logfleetctl loads: %s\n", e.msg);
        return 1;
    }
    int rc = print_rows(v, n, json);
    loader_rows_free(v, n);
    return rc;
}

static int cmd_retry(const struct lf_config *c, int argc, char **argv)
{
    static const struct option lo[] = {{"all", no_argument, NULL, 'a'},
                                       {"backend", required_argument, NULL, 'b'},
                                       {NULL, 0, NULL, 0}};
    bool all = false;
    const char *backend = NULL;
    ctl_getopt_reset();
    for (int ch; (ch = getopt_long(argc, argv, "+:", lo, NULL)) != -1;) {
        if (ch == 'a') all = true;
        else if (ch == 'b') backend = optarg;
        else return ctl_bad_option(usage, ch, argv);
    }
    int64_t id = -1;
    if (all == (optind < argc) || argc - optind > 1)
        return ctl_usage_error("loads retry", usage, "give one manifest id or --all");
    if (!all && ctl_parse_i64(argv[optind], 1, INT64_MAX, &id))
        return ctl_usage_error("loads retry", usage, "bad manifest id \"%s\"", argv[optind]);
    int n = 0;
    struct err e = {0};
    if (loader_requeue(c, id, backend, &n, &e)) {
        fprintf(stderr, "logfleetctl loads retry: %s\n", e.msg);
        return 1;
    }
    printf("requeued %d load%s\n", n, n == 1 ? "" : "s");
    if (n == 0 && !all) {
        fprintf(stderr, "logfleetctl loads retry: no failed load of manifest %" PRId64 "\n", id);
        return 1;
    }
    return 0;
}

static int cmd_loads(const struct lf_config *c, int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "retry") == 0) return cmd_retry(c, argc - 1, argv + 1);
    return cmd_list(c, argc, argv);
}

CTL_COMMAND(loads, "loads", true, cmd_loads, "list loads; `loads retry` requeues failed ones")
