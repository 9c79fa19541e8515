/* rotate.c — `logfleetctl rotate`: the daily day-table rotation (cron).
 * The work is sinks/rotate.h's rotate_run; this file parses arguments.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ops/ctl.h"
#include "ops/ctlutil.h"
#include "sinks/rotate.h"
#include "sinks/warehouse.h"

static const char usage[] =
    "usage: logfleetctl rotate [--date YYYY-MM-DD] [--dry-run] [--backend NAME]\n"
    "  for every backend and type: create day tables date .. date+tables.days_ahead,\n"
    "  replace the view over the retention window, drop expired tables.\n"
    "  --date: rotate as of that day (default: today, UTC); --dry-run: print the SQL\n";

static int cmd_rotate(const struct lf_config *c, int argc, char **argv)
{
    static const struct option lo[] = {{"date", required_argument, NULL, 'd'},
                                       {"dry-run", no_argument, NULL, 'n'},
                                       {"backend", required_argument, NULL, 'b'},
                                       {NULL, 0, NULL, 0}};
    struct rotate_opts o = {.date = wh_today(), .out = stdout};
    ctl_getopt_reset();
    for (int ch; (ch = getopt_long(argc, argv, "+:", lo, NULL)) != -1;) {
        if (ch == 'n') o.dry_run = true;
        else if (ch == 'b') o.backend = optarg;
        else if (ch != 'd') return ctl_bad_option(usage, ch, argv);
        else if (wh_day_parse(optarg, &o.date))
            return ctl_usage_error("rotate", usage, "bad date \"%s\" (want YYYY-MM-DD)", optarg);
    }
    if (optind < argc)
        return ctl_usage_error("rotate", usage, "unexpected argument \"%s\"", argv[optind]);
    struct rotate_result r;
    struct err e = {0};
    int rc = rotate_run(c, &o, &r, &e);
    if (rc) fprintf(stderr, "logfleetctl rotate: %s\n", e.msg);
    else if (!o.dry_run)
        printf("rotated: %d table(s) created, %d dropped, %d view(s) replaced%s\n",
               r.tables_created, r.tables_dropped, r.views_replaced,
               r.waited ? " (after waiting for another run)" : "");
    fflush(stdout);
    return rc ? 1 : 0;
}

CTL_COMMAND(rotate, "rotate", true, cmd_rotate, "create, publish and expire day tables")
