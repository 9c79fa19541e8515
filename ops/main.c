/* main.c — logfleetctl: parse options, load the config, dispatch to a subcommand.
 *
 *   logfleetctl [-c FILE] [--print-config] [<command> [args]]
 * Exit status: 0 ok, 1 the command failed, 2 bad arguments or a bad config.
 */
#include "common/config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct opts {
    const char *conf; /* -c FILE, else $LOGFLEET_CONF; NULL: environment only */
    bool print_config;
};

/* A subcommand: run gets argv from the command's name on; 2 = usage error. */
struct command {
    const char *name;
    bool needs_config;
    int (*run)(const struct lf_config *c, int argc, char **argv);
    const char *help;
};

static int cmd_config_doc(const struct lf_config *c, int argc, char **argv)
{
    (void)c, (void)argv;
    if (argc != 1) return 2;
    return config_doc_markdown(stdout) ? 1 : 0;
}

static const struct command commands[] = {
    {"config-doc", false, cmd_config_doc, "print the configuration reference (Markdown)"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: logfleetctl [-c logfleet.conf] [--print-config] <command> [args]\n"
               "  -c, --config FILE  config file (default $LOGFLEET_CONF; none: environment only)\n"
               "  --print-config     print the configuration as loaded (secrets as \"***\")\n"
               "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-18s %s\n", commands[i].name, commands[i].help);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
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
    const struct command *cmd = has_cmd ? find_command(argv[optind]) : NULL;
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
