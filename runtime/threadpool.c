/* Process-wide worker pool (see threadpool.h): one job at a time, chunks claimed from an
 * atomic counter so uneven chunk costs balance themselves. */
#include "runtime/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_THREADS 256

typedef struct pool {
    int n_threads; /* including the caller */
    pthread_t workers[MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t wake, idle;
    uint64_t generation;
    int running; /* workers still on the current job */
    int quit;
    /* the current job */
    wr_parallel_fn fn;
    void *ctx;
    int64_t n, chunk;
    atomic_llong next;
} pool;

static pool the_pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
                        .idle = PTHREAD_COND_INITIALIZER};
static int requested_threads = 0;
static int started = 0;
static _Thread_local int inside_job = 0;
static pthread_mutex_t job_mu = PTHREAD_MUTEX_INITIALIZER;

static void run_chunks(pool *p, int thread)
{
    inside_job = 1;
    for (;;) {
        int64_t b = atomic_fetch_add(&p->next, p->chunk);
        if (b >= p->n)
            break;
        int64_t e = b + p->chunk < p->n ? b + p->chunk : p->n;
        p->fn(p->ctx, b, e, thread);
    }
    inside_job = 0;
}

static void *worker(void *arg)
{
    int index = (int)(intptr_t)arg;
    pool *p = &the_pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        run_chunks(p, index);
        pthread_mutex_lock(&p->mu);
        if (--p->running == 0)
            pthread_cond_signal(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int default_threads(void)
{
    const char *env = getenv("WANRT_THREADS");
    if (env && atoi(env) > 0)
        return atoi(env);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void start(void)
{
    pool *p = &the_pool;
    int n = requested_threads > 0 ? requested_threads : default_threads();
    if (n > MAX_THREADS)
        n = MAX_THREADS;
    p->quit = 0;
    p->n_threads = 1;
    for (int i = 1; i < n; i++) {
        if (pthread_create(&p->workers[i], NULL, worker, (void *)(intptr_t)i) != 0)
            break; /* fewer threads still compute the right result */
        p->n_threads++;
    }
    started = 1;
}

void wr_threads_shutdown(void)
{
    pool *p = &the_pool;
    if (!started)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++)
        pthread_join(p->workers[i], NULL);
    started = 0;
}

wr_status wr_threads_set(int n)
{
    if (n > MAX_THREADS)
        return wr_fail(WR_E_ARG, "--threads %d: at most %d threads", n, MAX_THREADS);
    wr_threads_shutdown();
    requested_threads = n;
    return WR_OK;
}

int wr_threads_count(void)
{
    if (!started)
        start();
    return the_pool.n_threads;
}

void wr_parallel_for(int64_t n, int64_t grain, wr_parallel_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    if (inside_job || n <= grain || wr_threads_count() == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    pool *p = &the_pool;
    pthread_mutex_lock(&job_mu);
    int64_t chunks = p->n_threads * 4;
    int64_t chunk = (n + chunks - 1) / chunks;
    if (chunk < grain)
        chunk = grain;
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->chunk = chunk;
    atomic_store(&p->next, 0);
    p->running = p->n_threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_chunks(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->running > 0)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&job_mu);
}
