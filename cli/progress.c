/* See progress.h. */
#include "cli/progress.h"

#include "runtime/gpu/backend_gpu.h"
#include "runtime/gpu/gpu.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void cli_progress_init(cli_progress *p, FILE *out)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    const char *term = getenv("TERM");
    p->tty = isatty(fileno(out)) && term && strcmp(term, "dumb") != 0;
}

static cli_progress_stage *find_stage(cli_progress *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->stages[i].name, name))
            return &p->stages[i];
    if (p->n == CLI_PROGRESS_MAX_STAGES)
        return &p->stages[p->n - 1]; /* more stages than rows: fold the extras into the last */
    cli_progress_stage *s = &p->stages[p->n++];
    snprintf(s->name, sizeof s->name, "%s", name);
    return s;
}

static void format_duration(double s, char *buf, size_t n)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void close_bar(cli_progress *p)
{
    if (p->bar_open)
        fputc('\n', p->out);
    p->bar_open = 0;
}

static void draw(cli_progress *p, const cli_progress_stage *s, double seconds, double last_unit)
{
    double per = s->steps ? s->seconds / s->steps : 0;
    char eta[32];
    format_duration(per * (s->total - s->steps), eta, sizeof eta);
    if (!p->tty) {
        if (s->steps == 0)
            fprintf(p->out, "[%7.1fs] %s ...\n", seconds, s->name);
        else if (s->total > 1)
            fprintf(p->out, "[%7.1fs] %s step %d/%d (%.2f s/it, ETA %s)\n", seconds, s->name, s->steps, s->total,
                    last_unit, eta);
        else
            fprintf(p->out, "[%7.1fs] %s done (%.2f s)\n", seconds, s->name, last_unit);
        fflush(p->out);
        return;
    }
    enum { WIDTH = 24 };
    int fill = s->total > 0 ? s->steps * WIDTH / s->total : 0;
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[WIDTH] = '\0';
    fprintf(p->out, "\r%-13s [%s] %3d/%-3d", s->name, bar, s->steps, s->total);
    if (s->steps > 0)
        fprintf(p->out, " %7.2f s/it  ETA %s", last_unit, eta);
    fprintf(p->out, "\033[K");
    p->bar_open = 1;
    if (s->steps >= s->total)
        close_bar(p);
    fflush(p->out);
}

void cli_progress_event(void *ctx, const char *stage, int step, int total, double seconds)
{
    cli_progress *p = ctx;
    cli_progress_stage *s = find_stage(p, stage);
    if (seconds < p->prev) /* a new job (the next extend segment) restarts its clock */
        p->prev = 0;
    double unit = seconds - p->prev;
    if (step > 0)
        s->seconds += unit;
    if (p->bar_open && strcmp(p->stages[p->n - 1].name, stage) != 0)
        close_bar(p);
    s->steps = step;
    s->total = total;
    p->prev = seconds;
    draw(p, s, seconds, unit);
}

double cli_peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_maxrss * 1024.0; /* Linux reports KiB */
}

void cli_progress_summary(cli_progress *p)
{
    close_bar(p);
    double total = 0;
    fprintf(p->out, "%-14s %10s %7s %10s\n", "stage", "seconds", "steps", "s/step");
    for (int i = 0; i < p->n; i++) {
        const cli_progress_stage *s = &p->stages[i];
        total += s->seconds;
        if (s->total > 1)
            fprintf(p->out, "%-14s %10.2f %7d %10.2f\n", s->name, s->seconds, s->steps,
                    s->steps ? s->seconds / s->steps : 0.0);
        else
            fprintf(p->out, "%-14s %10.2f\n", s->name, s->seconds);
    }
    fprintf(p->out, "%-14s %10.2f\n", "total", total);
    fprintf(p->out, "peak host memory: %.1f MiB (resident)\n", cli_peak_rss_bytes() / (1024.0 * 1024.0));
    wr_gpu *g = wr_backend_gpu_device();
    if (g) /* the emulator's device memory is host memory, counted as a device's would be */
        fprintf(p->out, "peak device memory: %.1f MiB (allocated by wanrt on %s)\n",
                (double)wr_gpu_mem_peak(g) / (1024.0 * 1024.0), wr_gpu_name(g));
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_unit_progress_start(cli_unit_progress *p, FILE *out, const char *stage)
{
    cli_progress_init(&p->bar, out);
    p->stage = stage;
    p->t0 = seconds_now();
}

void cli_unit_progress_event(void *ctx, int done, int total)
{
    cli_unit_progress *p = ctx;
    cli_progress_event(&p->bar, p->stage, done, total > 0 ? total : done + 1, seconds_now() - p->t0);
}
