/* drain.c — `logfleetctl drain WORKER`: ask a worker to hand all its leases
 * off (before scale-in).
 *
 * Sets the worker's draining flag in the registry (lease/registry.h); the
 * daemon sees it at its next renew, stops taking leases and hands each one
 * off after checkpointing.  --wait SECS then polls the lease table until the
 * worker owns no lease (for an autoscaling lifecycle hook); --cancel clears
 * the flag again.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lease/lease.h"
#include "lease/registry.h"
#include "ops/ctl.h"
#include "ops/ctlutil.h"

static const char usage[] =
    "usage: logfleetctl drain [--wait SECS] [--cancel] WORKER\n"
    "  sets WORKER's draining flag: it hands all its leases off and takes no more\n"
    "  --wait SECS  then wait until WORKER owns no lease (exit 1 on timeout)\n"
    "  --cancel     clear the flag instead\n";

/* Leases of app owned by worker, or -1 with e filled. */
static long owned(const struct lf_config *c, const char *worker, struct err *e)
{
    struct lease_row *v;
    size_t n;
    if (lease_list(c->coord.dsn, c->coord.schema, c->app, &v, &n, e)) return -1;
    long k = 0;
    for (size_t i = 0; i < n; i++) k += v[i].owner && !strcmp(v[i].owner, worker);
    lease_rows_free(v, n);
    return k;
}

static int wait_empty(const struct lf_config *c, const char *worker, int64_t secs)
{
    int64_t deadline = ctl_mono_ms() + secs * 1000;
    struct err e = {0};
    for (;;) {
        long k = owned(c, worker, &e);
        if (k < 0) {
            fprintf(stderr, "logfleetctl drain: %s\n", e.msg);
            return 1;
        }
        if (k == 0) {
            printf("worker %s holds no lease\n", worker);
            return 0;
        }
        if (ctl_mono_ms() >= deadline) {
            fprintf(stderr, "logfleetctl drain: worker %s still owns %ld lease(s) after %lld s\n",
                    worker, k, (long long)secs);
            return 1;
        }
        nanosleep(&(struct timespec){0, 250 * 1000 * 1000}, NULL);
    }
}

static int cmd_drain(const struct lf_config *c, int argc, char **argv)
{
    static const struct option lo[] = {{"wait", required_argument, NULL, 'w'},
                                       {"cancel", no_argument, NULL, 'x'},
                                       {NULL, 0, NULL, 0}};
    int64_t wait_s = -1;
    bool cancel = false;
    ctl_getopt_reset();
    for (int ch; (ch = getopt_long(argc, argv, "+:", lo, NULL)) != -1;) {
        if (ch == 'w' && ctl_parse_i64(optarg, 0, 86400, &wait_s))
            return ctl_usage_error(argv[0], usage,
                                   "--wait: expected seconds in [0, 86400], got \"%s\"", optarg);
        else if (ch == 'x')
            cancel = true;
        else if (ch != 'w')
            return ctl_bad_option(usage, ch, argv);
    }
    if (optind + 1 != argc)
        return ctl_usage_error(argv[0], usage, "%s",
                               optind == argc ? "WORKER missing" : "too many arguments");
    if (cancel && wait_s >= 0)
        return ctl_usage_error(argv[0], usage, "--wait and --cancel exclude each other");
    const char *worker = argv[optind];
    struct err e = {0};
    if (lease_worker_set_draining(c->coord.dsn, c->coord.schema, c->app, worker, !cancel, &e)) {
        fprintf(stderr, "logfleetctl drain: %s\n", e.msg);
        return 1;
    }
    printf("worker %s: draining %s\n", worker, cancel ? "cancelled" : "requested");
    return wait_s >= 0 ? wait_empty(c, worker, wait_s) : 0;
}

CTL_COMMAND(drain, "drain", true, cmd_drain, "hand a worker's leases off (before scale-in)")
