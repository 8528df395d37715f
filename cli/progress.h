/* Progress for long commands: on a terminal one redrawn bar per stage (steps, s/it, ETA), plain
 * lines otherwise (logs, CI); at the end a timing table per stage and the peak host memory. */
#ifndef WR_CLI_PROGRESS_H
#define WR_CLI_PROGRESS_H

#include <stdio.h>

#define CLI_PROGRESS_MAX_STAGES 16

typedef struct cli_progress_stage {
    char name[24];
    double seconds; /* time spent in the stage so far */
    int steps, total;
} cli_progress_stage;

typedef struct cli_progress {
    FILE *out;
    int tty;
    double prev; /* time of the previous event */
    int bar_open;
    cli_progress_stage stages[CLI_PROGRESS_MAX_STAGES];
    int n;
} cli_progress;

/* Draws on out (stderr in the commands); bars only when it is a terminal and TERM is not dumb. */
void cli_progress_init(cli_progress *p, FILE *out);

/* A wan22_progress_fn (ctx = the cli_progress): step 0 starts a stage, step k of total ends unit
 * k; seconds since the job began. A stage seen again (denoise after a preview) accumulates. */
void cli_progress_event(void *ctx, const char *stage, int step, int total, double seconds);

/* Progress counted in units (frame pairs, batches) by a callback with no clock of its own. */
typedef struct cli_unit_progress {
    cli_progress bar;
    const char *stage;
    double t0;
} cli_unit_progress;

void cli_unit_progress_start(cli_unit_progress *p, FILE *out, const char *stage);
/* A (ctx, done, total) callback; total −1 when unknown. */
void cli_unit_progress_event(void *ctx, int done, int total);

/* The per-stage table, the total and the peak resident memory of the process. */
void cli_progress_summary(cli_progress *p);

/* The process's peak resident set size in bytes (getrusage). */
double cli_peak_rss_bytes(void);

#endif
