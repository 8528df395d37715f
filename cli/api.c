/* The public API (include/wanrt.h) over the command table: a job collects the argv the command
 * line would have and runs the command in this process. */
#include "include/wanrt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "runtime/err.h"
#include "runtime/gpu/backend_gpu.h"
#include "runtime/interrupt.h"
#include "runtime/threadpool.h"

_Static_assert((int)WANRT_E_INTERRUPTED == (int)WR_E_INTERRUPTED && (int)WANRT_E_ARG == (int)WR_E_ARG &&
                   (int)WANRT_E_IO == (int)WR_E_IO,
               "wanrt_status mirrors wr_status");

#define JOB_MAX_ARGS 512

struct wanrt_job {
    const cli_command *cmd;
    char *argv[JOB_MAX_ARGS + 1];
    int argc;
    const char *out; /* "out" is passed last as -o */
};

const char *wanrt_version(void) { return "wanrt 0.1"; }
const char *wanrt_last_error(void) { return wr_last_error(); }
void wanrt_interrupt(void) { wr_interrupt_raise(); }

static wanrt_status fail(wanrt_status st, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    wr_fail((wr_status)st, "%s", msg);
    return st;
}

wanrt_status wanrt_set_device(const char *device)
{
    return (wanrt_status)wr_backend_choose(device);
}

wanrt_status wanrt_set_threads(int threads)
{
    if (threads < 1 || threads > 256)
        return fail(WANRT_E_ARG, "threads %d: give 1 to 256", threads);
    return (wanrt_status)wr_threads_set(threads);
}

static wanrt_status push(wanrt_job *j, const char *text)
{
    if (j->argc == JOB_MAX_ARGS)
        return fail(WANRT_E_ARG, "%s: too many settings for one job", j->cmd->name);
    if (!(j->argv[j->argc] = strdup(text)))
        return fail(WANRT_E_OOM, "%s: out of memory", j->cmd->name);
    j->argc++;
    return WANRT_OK;
}

wanrt_status wanrt_job_new(const char *command, wanrt_job **out)
{
    const cli_command *c = command ? cli_command_find(command) : NULL;
    if (!c)
        return fail(WANRT_E_ARG, "unknown job '%s' (the commands of `wanrt --help`)", command ? command : "(null)");
    wanrt_job *j = calloc(1, sizeof *j);
    if (!j)
        return fail(WANRT_E_OOM, "out of memory");
    j->cmd = c;
    wanrt_status st = push(j, c->name);
    if (st != WANRT_OK) {
        free(j);
        return st;
    }
    *out = j;
    return WANRT_OK;
}

wanrt_status wanrt_job_set(wanrt_job *j, const char *key, const char *value)
{
    if (!key || !*key || key[0] == '-' || !value)
        return fail(WANRT_E_ARG, "job setting '%s': a key without dashes and a value", key ? key : "(null)");
    if (!strcmp(key, "out") || !strcmp(key, "o")) {
        free((void *)j->out);
        j->out = strdup(value);
        return j->out ? WANRT_OK : fail(WANRT_E_OOM, "out of memory");
    }
    if (!strcmp(value, "false"))
        return WANRT_OK;
    char flag[128];
    if (snprintf(flag, sizeof flag, "--%s", key) >= (int)sizeof flag)
        return fail(WANRT_E_ARG, "job setting '%s': key too long", key);
    wanrt_status st = push(j, flag);
    return st != WANRT_OK || !strcmp(value, "true") ? st : push(j, value);
}

wanrt_status wanrt_job_arg(wanrt_job *j, const char *value)
{
    if (!value)
        return fail(WANRT_E_ARG, "%s: a NULL argument", j->cmd->name);
    return push(j, value);
}

wanrt_status wanrt_job_run(wanrt_job *j)
{
    char *argv[JOB_MAX_ARGS + 3];
    int argc = 0;
    for (int i = 0; i < j->argc; i++)
        argv[argc++] = j->argv[i];
    if (j->out) {
        argv[argc++] = "-o";
        argv[argc++] = (char *)j->out;
    }
    argv[argc] = NULL;
    wr_clear_error();
    wr_interrupt_clear();
    int rc = j->cmd->run(argc, argv);
    if (rc == 0)
        return WANRT_OK;
    if (rc == 130)
        return WANRT_E_INTERRUPTED;
    if (!*wr_last_error())
        wr_fail(WR_E_ARG, "%s: the job failed with exit code %d (its settings were refused; see stderr)",
                j->cmd->name, rc);
    return WANRT_E_FAILED;
}

void wanrt_job_free(wanrt_job *j)
{
    if (!j)
        return;
    for (int i = 0; i < j->argc; i++)
        free(j->argv[i]);
    free((void *)j->out);
    free(j);
}
