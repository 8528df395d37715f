/* Small helpers shared by the subcommands: reporting a failed wr_status and argument parsing. */
#ifndef WR_CLI_UTIL_H
#define WR_CLI_UTIL_H

#include <stdbool.h>

#include "runtime/err.h"

/* Prints "wanrt <cmd>: <status>: <message>" to stderr and returns the process exit code (1). */
int cli_report(const char *cmd, wr_status st);

/* Strict number parsing for flags: false (with a message naming the flag) on junk or range. */
bool cli_parse_int(const char *flag, const char *text, long long min, long long max, long long *out);
bool cli_parse_float(const char *flag, const char *text, double *out);

#endif
