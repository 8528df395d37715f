/* Shared CLI helpers (see cli_util.h). */
#include "cli/cli_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int cli_report(const char *cmd, wr_status st)
{
    fprintf(stderr, "wanrt %s: %s: %s\n", cmd, wr_status_name(st), wr_last_error());
    return 1;
}

bool cli_parse_int(const char *flag, const char *text, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end) {
        fprintf(stderr, "wanrt: %s expects an integer, got '%s'\n", flag, text);
        return false;
    }
    if (v < min || v > max) {
        fprintf(stderr, "wanrt: %s must be in [%lld, %lld], got %lld\n", flag, min, max, v);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_float(const char *flag, const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v)) {
        fprintf(stderr, "wanrt: %s expects a finite number, got '%s'\n", flag, text);
        return false;
    }
    *out = v;
    return true;
}
