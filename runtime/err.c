/* Thread-local error slot behind wr_fail (see err.h). */
#include "runtime/err.h"

#include <stdarg.h>
#include <string.h>

static _Thread_local char last_message[2048];
static _Thread_local char last_site[256];

static const char *const status_names[] = {
    [WR_OK] = "ok",
    [WR_E_IO] = "I/O error",
    [WR_E_FORMAT] = "format error",
    [WR_E_UNSUPPORTED] = "unsupported",
    [WR_E_OOM] = "out of memory",
    [WR_E_DEVICE] = "device error",
    [WR_E_JIT] = "JIT error",
    [WR_E_ARG] = "invalid argument",
    [WR_E_INTERRUPTED] = "interrupted",
};
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) == WR_STATUS_COUNT,
               "status_names must cover every wr_status");

const char *wr_status_name(wr_status s)
{
    if ((unsigned)s >= WR_STATUS_COUNT)
        return "unknown status";
    return status_names[s];
}

wr_status wr_fail_at(const char *file, int line, wr_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    snprintf(last_site, sizeof last_site, "%s:%d", file, line);
    return status;
}

const char *wr_last_error(void) { return last_message; }
const char *wr_last_error_site(void) { return last_site; }

void wr_clear_error(void)
{
    last_message[0] = '\0';
    last_site[0] = '\0';
}

void wr_abort_at(const char *file, int line, const char *func, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "wanrt: internal error at %s:%d in %s: ", file, line, func);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
