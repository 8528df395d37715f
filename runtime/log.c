/* Levelled logging (see log.h). The level is read once from WANRT_LOG unless set explicitly. */
#include "runtime/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int current_level = -1;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
_Static_assert(sizeof(level_names) / sizeof(level_names[0]) == WR_LOG_LEVEL_COUNT,
               "level_names must cover every level");

static void init_from_env(void)
{
    const char *env = getenv("WANRT_LOG");
    current_level = WR_LOG_INFO;
    if (!env)
        return;
    for (int i = 0; i < WR_LOG_LEVEL_COUNT; i++)
        if (strcmp(env, level_names[i]) == 0)
            current_level = i;
}

void wr_log_set_level(wr_log_level level) { current_level = (int)level; }

wr_log_level wr_log_get_level(void)
{
    if (current_level < 0)
        init_from_env();
    return (wr_log_level)current_level;
}

void wr_log(wr_log_level level, const char *fmt, ...)
{
    if ((int)level > (int)wr_log_get_level())
        return;
    va_list ap;
    fprintf(stderr, "wanrt %s: ", level_names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
