/* main.c — logfleetctl: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: logfleetctl [-c logfleet.conf] <command> [args]\n");
}

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "config-doc")) {
        printf("# logfleet configuration\n");
        return 0;
    }
    usage(stderr);
    return 2;
}
