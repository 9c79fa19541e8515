/* main.c — logfleetd: parse arguments, load the config, wire modules, run.
 *
 *   logfleetd [-c FILE] [--properties APP.properties] [--print-config]
 * With --properties (or the file as the one positional argument, as the
 * Java MultiLangDaemon takes it) logfleetd runs that KCL MultiLangDaemon
 * app: one child process per held shard (worker/kclapp.h).
 * Exit status: 0 clean shutdown, 1 failure (or the shutdown grace ran
 * out), 2 bad arguments or a bad config.
 */
#include "common/config.h"
#include "common/log.h"
#include "worker/daemon.h"
#include "worker/kclapp.h"
#include "worker/pipeline.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

struct opts {
    const char *conf;  /* -c FILE, else $LOGFLEET_CONF; NULL: environment only */
    const char *props; /* --properties FILE: a KCL MultiLangDaemon app */
    bool print_config;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: logfleetd [-c logfleet.conf] [--properties app.properties] [--print-config]\n"
               "  -c, --config FILE      config file (default $LOGFLEET_CONF; none: environment only)\n"
               "  -p, --properties FILE  run a KCL MultiLangDaemon app (its .properties file):\n"
               "                         one executableName child per held shard\n"
               "  --print-config         print the configuration as loaded (secrets as \"***\") "
               "and exit\n");
}

/* 0 ok, 1 after --help, 2 on a bad argument. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"properties", required_argument, NULL, 'p'},
                                             {"print-config", no_argument, NULL, 'P'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *env = getenv("LOGFLEET_CONF");
    o->conf = env && *env ? env : NULL;
    for (int ch; (ch = getopt_long(argc, argv, "c:p:h", longopts, NULL)) != -1;) {
        if (ch == 'c') o->conf = optarg;
        else if (ch == 'p') o->props = optarg;
        else if (ch == 'P') o->print_config = true;
        else return ch == 'h' ? 1 : 2;
    }
    if (optind + 1 == argc && !o->props) o->props = argv[optind++];
    return optind < argc ? 2 : 0;
}

/* Picks the record processor: a KCL app, else the built-in router path. */
static int wire_processor(const struct opts *o, const struct lf_config *cfg, struct daemon_cfg *dc,
                          struct kclapp **app, struct pipeline **pl)
{
    struct err e = {0};
    if (o->props) {
        if (kclapp_load(o->props, app, &e) < 0) {
            fprintf(stderr, "logfleetd: %s\n", e.msg);
            return 2;
        }
        kclapp_apply(*app, dc);
        return 0;
    }
    if (cfg->n_types == 0) {
        fprintf(stderr, "logfleetd: no record processor configured: list log `types` in the "
                        "config for the built-in router, or pass --properties app.properties "
                        "to run a KCL MultiLangDaemon app\n");
        return 2;
    }
    if (o->print_config) return 0;
    if (pipeline_start(cfg, dc->lease.worker_id, pl, &e) < 0) {
        fprintf(stderr, "logfleetd: %s\n", e.msg);
        return 1;
    }
    dc->consumer.factory = pipeline_factory(*pl);
    dc->processor_desc = "router";
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc) {
        usage(rc == 1 ? stdout : stderr);
        return rc == 1 ? 0 : 2;
    }
    struct lf_config cfg;
    struct err e = {0};
    if (config_load(o.conf, &cfg, &e)) {
        fprintf(stderr, "logfleetd: %s\n", e.msg);
        return 2;
    }
    log_set_level(cfg.log_level);
    daemon_block_signals(); /* before the pipeline starts its threads */
    struct daemon_cfg dc;
    struct kclapp *app = NULL;
    struct pipeline *pl = NULL;
    daemon_cfg_init(&dc, &cfg);
    rc = o.props || !o.print_config ? wire_processor(&o, &cfg, &dc, &app, &pl) : 0;
    if (rc == 0 && o.print_config) {
        rc = config_print(stdout, &cfg) ? 1 : 0;
        if (app) kclapp_print(stdout, app);
    } else if (rc == 0) {
        rc = daemon_run(&dc, &e);
        if (rc < 0) log_error("main", "not started err=\"%s\"", e.msg);
        rc = rc < 0 ? 1 : rc;
    }
    pipeline_stop(pl, rc == 0);
    kclapp_free(app);
    config_free(&cfg);
    return rc;
}
