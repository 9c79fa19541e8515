/* main.c — logfleetctl: parse options, load the config, dispatch to a subcommand.
 *
 *   logfleetctl [-c FILE] [--print-config] [<command> [args]]
 * Exit status: 0 ok, 1 the command failed, 2 bad arguments or a bad config.
 */
#include "common/config.h"
#include "ops/ctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct opts {
    const char *conf; /* -c FILE, else $LOGFLEET_CONF; NULL: environment only */
    bool print_config;
};

static struct ctl_command *commands; /* sorted by name */

void ctl_register(struct ctl_command *c)
{
    struct ctl_command **p = &commands;
    while (*p && strcmp((*p)->name, c->name) < 0) p = &(*p)->next;
    c->next = *p;
    *p = c;
}

static int cmd_config_doc(const struct lf_config *c, int argc, char **argv)
{
    (void)c, (void)argv;
    if (argc != 1) return 2;
    return config_doc_markdown(stdout) ? 1 : 0;
}

CTL_COMMAND(config_doc, "config-doc", false, cmd_config_doc,
            "print the configuration reference (Markdown)")

static void usage(FILE *f)
{
    fprintf(f, "usage: logfleetctl [-c logfleet.conf] [--print-config] <command> [args]\n"
               "  -c, --config FILE  config file (default $LOGFLEET_CONF; none: environment only)\n"
               "  --print-config     print the configuration as loaded (secrets as \"***\")\n"
               "commands:\n");
    for (const struct ctl_command *c = commands; c; c = c->next)
        fprintf(f, "  %-18s %s\n", c->name, c->help);
}

static const struct ctl_command *find_command(const char *name)
{
    for (const struct ctl_command *c = commands; c; c = c->next)
        if (!strcmp(c->name, name)) return c;
    return NULL;
}

/* 0 ok, 1 after --help, 2 on a bad option. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"print-config", no_argument, NULL, 'p'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *env = getenv("LOGFLEET_CONF");
    o->conf = env && *env ? env : NULL;
    for (int ch; (ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1;) {
        if (ch == 'c') o->conf = optarg;
        else if (ch == 'p') o->print_config = true;
        else return ch == 'h' ? 1 : 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    bool has_cmd = optind < argc;
    const struct ctl_command *cmd = has_cmd ? find_command(argv[optind]) : NULL;
    if (rc == 0 && has_cmd && !cmd) fprintf(stderr, "logfleetctl: unknown command \"%s\"\n", argv[optind]);
    if (rc == 0 && ((has_cmd && !cmd) || has_cmd == o.print_config)) rc = 2;
    if (rc) {
        usage(rc == 1 ? stdout : stderr);
        return rc == 1 ? 0 : 2;
    }
    struct lf_config cfg = {0};
    struct err e = {0};
    if ((o.print_config || cmd->needs_config) && config_load(o.conf, &cfg, &e)) {
        fprintf(stderr, "logfleetctl: %s\n", e.msg);
        return 2;
    }
    log_set_level(cfg.log_level);
    if (o.print_config) rc = config_print(stdout, &cfg) ? 1 : 0;
    else rc = cmd->run(&cfg, argc - optind, argv + optind);
    if (rc == 2) usage(stderr);
    config_free(&cfg);
    return rc;
}
