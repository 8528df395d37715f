/* wanrt: the reference command line. Dispatches to one function per subcommand. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "runtime/gpu/backend_gpu.h"


static void usage(FILE *out)
{
    fprintf(out, "usage: wanrt COMMAND [ARGS...]\n\ncommands:\n");
    for (const cli_command *c = cli_commands; c->name; c++)
        fprintf(out, "  %-14s %s\n", c->name, c->summary);
    fprintf(out, "\n'wanrt COMMAND --help' describes a command.\n");
    fprintf(out, "Every command takes --device cpu|emu|cuda (default: $WANRT_DEVICE, else cpu).\n");
}

/* Removes a global "--device X" / "--device=X" from argv and selects that backend (or the one
 * WANRT_DEVICE names). Returns false after printing the error. */
static bool take_device(int *argc, char **argv)
{
    const char *dev = NULL;
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < *argc) {
            dev = argv[++i];
            continue;
        }
        if (strncmp(argv[i], "--device=", 9) == 0) {
            dev = argv[i] + 9;
            continue;
        }
        argv[out++] = argv[i];
    }
    *argc = out;
    if (wr_backend_choose(dev) != WR_OK) {
        fprintf(stderr, "wanrt: %s\n", wr_last_error());
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    const cli_command *c = cli_command_find(argv[1]);
    if (c) {
        if (!take_device(&argc, argv))
            return 2;
        int rc = c->run(argc - 1, argv + 1);
        if (wr_backend_gpu_device())
            wr_gpu_report_jit();
        wr_backend_gpu_close();
        return rc;
    }
    fprintf(stderr, "wanrt: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
