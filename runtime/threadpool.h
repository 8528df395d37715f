/* A persistent pool of worker threads for data-parallel loops (the CPU backend's threading).
 *
 * wr_parallel_for splits [0, n) into contiguous chunks of at least `grain` items, runs
 * fn(ctx, begin, end, thread) on the workers and the calling thread, and returns when all
 * chunks are done. Calls from inside a running loop run serially (no nested parallelism). */
#ifndef WR_THREADPOOL_H
#define WR_THREADPOOL_H

#include <stdint.h>

#include "runtime/err.h"

typedef void (*wr_parallel_fn)(void *ctx, int64_t begin, int64_t end, int thread);

/* Sets the thread count of the process-wide pool (before first use, or it is rebuilt):
 * n <= 0 means the number of online cores (or WANRT_THREADS when set). */
wr_status wr_threads_set(int n);
/* Threads the pool uses (1 = serial). */
int wr_threads_count(void);

void wr_parallel_for(int64_t n, int64_t grain, wr_parallel_fn fn, void *ctx);

/* Frees the pool's threads (tests and tools at exit; the pool restarts on next use). */
void wr_threads_shutdown(void);

#endif
