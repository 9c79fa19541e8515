/* ctl.h — how a logfleetctl subcommand plugs in.
 *
 * Each ops/<command>.c defines its run function and registers it with
 *   CTL_COMMAND(rotate, "rotate", true, cmd_rotate, "create/expire day tables");
 * ops/main.c parses the global options, loads the config when the command
 * needs one, and calls run(cfg, argc, argv) with argv[0] = the command name.
 * run returns 0 ok, 1 failed, 2 usage error (main then prints the usage).
 * Registration runs before main (constructors); single-threaded.
 */
#ifndef LOGFLEET_CTL_H
#define LOGFLEET_CTL_H

#include <stdbool.h>

#include "common/config.h"

struct ctl_command {
    const char *name;
    bool needs_config;
    int (*run)(const struct lf_config *c, int argc, char **argv);
    const char *help;
    struct ctl_command *next;
};

void ctl_register(struct ctl_command *c);

#define CTL_COMMAND(id, name, needs_config, fn, help)                        \
    static struct ctl_command ctl_cmd_##id = {name, needs_config, fn, help, 0}; \
    __attribute__((constructor)) static void ctl_reg_##id(void)              \
    {                                                                        \
        ctl_register(&ctl_cmd_##id);                                         \
    }

#endif
