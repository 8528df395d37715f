/* The emulator device: the device API (gpu.h) over host memory, with kernels built by the host
 * C++ compiler (runtime/gpu/jit_emu.c) and run by the fiber scheduler (emu_sched.c).
 *
 * Memory (emu_mem.c): every allocation carries guard zones of 0xa5 bytes before and after it; they are
 * checked after every launch and at free, and a damaged zone fails the launch naming the kernel
 * and the allocation. Debug mode (options.emu_debug or WANRT_EMU_DEBUG=1) also fills new memory
 * with 0xff bytes (NaN in every float format) and places each allocation's end against an
 * inaccessible page, so reading past it faults with the kernel's name.
 * The default stream executes work at once. Copies issued on a created stream run as late as the
 * API allows: when an event recorded after them is waited on or synchronised, or their stream or
 * the device synchronises, or their stream launches a kernel. That is a legal schedule too, and
 * the one that exposes a missing event wait (e.g. block swap's copy stream): the consumer reads
 * the old bytes. Graph capture records the work issued on a stream and replays it. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/gpu/emu_internal.h"

typedef enum { NODE_LAUNCH, NODE_COPY, NODE_MEMSET } node_kind;

typedef struct emu_node {
    node_kind kind;
    emu_launch launch;            /* NODE_LAUNCH: args point into arg_bytes */
    void *arg_ptrs[WR_EMU_MAX_ARGS];
    unsigned short arg_off[WR_EMU_MAX_ARGS]; /* where argument i sits in arg_bytes */
    unsigned char arg_bytes[WR_EMU_MAX_ARGS * 16];
    wr_gpu_func *fn;
    void *dst;
    const void *src;
    int byte;
    size_t bytes;
} emu_node;

struct wr_gpu_graph {
    emu_node *nodes;
    int n, cap;
};

typedef struct lazy_copy {
    void *dst;
    const void *src;
    size_t bytes;
} lazy_copy;

struct wr_gpu_stream {
    wr_gpu_graph *capture; /* non-NULL while capturing */
    lazy_copy *pending;    /* copies not yet run, oldest first from `done` */
    size_t issued, done, cap;
    struct wr_gpu_stream *next; /* the device's list of created streams */
};

struct wr_gpu_event {
    double t_ms;
    wr_gpu_stream *stream; /* recorded on a created stream: its copies up to seq come first */
    size_t seq;
};

typedef struct emu_dev {
    wr_emu_rt rt;
    emu_mem mem;
    bool debug;
    uint64_t launches;
    pthread_mutex_t lock;
    wr_gpu_stream *streams;
} emu_dev;

static emu_dev *dev(wr_gpu *g) { return g->impl; }

/* ---- host memory ---------------------------------------------------------------------------- */

static wr_status emu_host_alloc(wr_gpu *g, size_t bytes, void **hptr)
{
    (void)g;
    *hptr = aligned_alloc(256, (bytes + 255) & ~(size_t)255);
    return *hptr ? WR_OK : wr_fail(WR_E_OOM, "emu: cannot allocate %zu bytes of host memory", bytes);
}

static wr_status emu_host_free(wr_gpu *g, void *hptr)
{
    (void)g;
    free(hptr);
    return WR_OK;
}

static wr_status emu_mem_info(wr_gpu *g, size_t *free_bytes, size_t *total_bytes)
{
    (void)g;
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    *total_bytes = (size_t)sysconf(_SC_PHYS_PAGES) * pg;
    *free_bytes = (size_t)sysconf(_SC_AVPHYS_PAGES) * pg;
    return WR_OK;
}
/* ---- graphs: capture records nodes ------------------------------------------------------------ */

static emu_node *graph_add(wr_gpu_graph *gr)
{
    if (gr->n == gr->cap) {
        int cap = gr->cap ? gr->cap * 2 : 16;
        emu_node *n = realloc(gr->nodes, (size_t)cap * sizeof *n);
        if (!n)
            return NULL;
        gr->nodes = n;
        gr->cap = cap;
    }
    emu_node *node = &gr->nodes[gr->n++];
    memset(node, 0, sizeof *node);
    return node;
}

/* Runs the copies of s issued before position upto. */
static void lazy_run(wr_gpu_stream *s, size_t upto)
{
    for (; s && s->done < upto && s->done < s->issued; s->done++) {
        lazy_copy *c = &s->pending[s->done % s->cap];
        memmove(c->dst, c->src, c->bytes);
    }
}

static void lazy_run_all(wr_gpu *g)
{
    for (wr_gpu_stream *s = dev(g)->streams; s; s = s->next)
        lazy_run(s, s->issued);
}

static wr_status lazy_push(wr_gpu_stream *s, void *dst, const void *src, size_t bytes)
{
    if (s->issued - s->done == s->cap) { /* ring full: grow, keeping the order */
        size_t cap = s->cap ? 2 * s->cap : 16;
        lazy_copy *n = malloc(cap * sizeof *n);
        if (!n)
            return wr_fail(WR_E_OOM, "emu: out of memory");
        for (size_t i = s->done; i < s->issued; i++)
            n[i % cap] = s->pending[i % s->cap];
        free(s->pending);
        s->pending = n, s->cap = cap;
    }
    s->pending[s->issued++ % s->cap] = (lazy_copy){dst, src, bytes};
    return WR_OK;
}

static wr_status emu_copy(wr_gpu *g, wr_copy_kind kind, void *dst, const void *src, size_t bytes, wr_gpu_stream *s)
{
    (void)g;
    (void)kind;
    if (s && !s->capture)
        return lazy_push(s, dst, src, bytes);
    if (s && s->capture) {
        emu_node *n = graph_add(s->capture);
        if (!n)
            return wr_fail(WR_E_OOM, "emu: out of memory");
        n->kind = NODE_COPY;
        n->dst = dst;
        n->src = src;
        n->bytes = bytes;
        return WR_OK;
    }
    memmove(dst, src, bytes);
    return WR_OK;
}

static wr_status emu_memset(wr_gpu *g, void *dst, int byte, size_t bytes, wr_gpu_stream *s)
{
    (void)g;
    if (s && s->capture) {
        emu_node *n = graph_add(s->capture);
        if (!n)
            return wr_fail(WR_E_OOM, "emu: out of memory");
        n->kind = NODE_MEMSET;
        n->dst = dst;
        n->byte = byte;
        n->bytes = bytes;
        return WR_OK;
    }
    lazy_run(s, s ? s->issued : 0);
    memset(dst, byte, bytes);
    return WR_OK;
}

static wr_status emu_graph_begin(wr_gpu *g, wr_gpu_stream *s)
{
    (void)g;
    if (!s)
        return wr_fail(WR_E_ARG, "emu: graph capture needs a created stream, not the default stream");
    if (s->capture)
        return wr_fail(WR_E_ARG, "emu: the stream is already capturing");
    s->capture = calloc(1, sizeof *s->capture);
    return s->capture ? WR_OK : wr_fail(WR_E_OOM, "emu: out of memory");
}

static wr_status emu_graph_end(wr_gpu *g, wr_gpu_stream *s, wr_gpu_graph **graph)
{
    (void)g;
    if (!s || !s->capture)
        return wr_fail(WR_E_ARG, "emu: graph end on a stream that is not capturing");
    *graph = s->capture;
    s->capture = NULL;
    return WR_OK;
}

static void emu_graph_free(wr_gpu *g, wr_gpu_graph *graph)
{
    (void)g;
    free(graph->nodes);
    free(graph);
}

/* ---- streams and events ----------------------------------------------------------------------- */

static wr_status emu_stream_create(wr_gpu *g, wr_gpu_stream **s)
{
    *s = calloc(1, sizeof **s);
    if (!*s)
        return wr_fail(WR_E_OOM, "emu: out of memory");
    (*s)->next = dev(g)->streams;
    dev(g)->streams = *s;
    return WR_OK;
}

static wr_status emu_stream_destroy(wr_gpu *g, wr_gpu_stream *s)
{
    lazy_run(s, s->issued); /* destroying a stream does not cancel its work */
    for (wr_gpu_stream **p = &dev(g)->streams; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    if (s->capture)
        emu_graph_free(g, s->capture);
    free(s->pending);
    free(s);
    return WR_OK;
}

static wr_status emu_stream_sync(wr_gpu *g, wr_gpu_stream *s)
{
    if (s)
        lazy_run(s, s->issued);
    else
        lazy_run_all(g); /* the legacy default stream waits for the others */
    return WR_OK;
}

static wr_status emu_sync(wr_gpu *g)
{
    lazy_run_all(g);
    return emu_mem_check(&dev(g)->mem, "a kernel or copy");
}

static wr_status emu_event_create(wr_gpu *g, wr_gpu_event **e)
{
    (void)g;
    *e = calloc(1, sizeof **e);
    return *e ? WR_OK : wr_fail(WR_E_OOM, "emu: out of memory");
}

static wr_status emu_event_destroy(wr_gpu *g, wr_gpu_event *e)
{
    (void)g;
    free(e);
    return WR_OK;
}

static wr_status emu_event_record(wr_gpu *g, wr_gpu_event *e, wr_gpu_stream *s)
{
    (void)g;
    e->stream = s && !s->capture ? s : NULL;
    e->seq = s ? s->issued : 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    e->t_ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
    return WR_OK;
}

static wr_status emu_stream_wait_event(wr_gpu *g, wr_gpu_stream *s, wr_gpu_event *e)
{
    (void)g;
    (void)s;
    lazy_run(e->stream, e->seq); /* the rest already ran in issue order */
    return WR_OK;
}

static wr_status emu_event_sync(wr_gpu *g, wr_gpu_event *e)
{
    (void)g;
    lazy_run(e->stream, e->seq);
    return WR_OK;
}

static wr_status emu_event_elapsed_ms(wr_gpu *g, wr_gpu_event *a, wr_gpu_event *b, float *ms)
{
    (void)g;
    *ms = (float)(b->t_ms - a->t_ms);
    return WR_OK;
}

/* ---- modules and launches --------------------------------------------------------------------- */

static wr_status emu_module_load(wr_gpu *g, const wr_kspec *spec, int arch, void **mod)
{
    char path[1200];
    WR_TRY(wr_jit_emu(spec, arch, path, sizeof path));
    emu_module *m = calloc(1, sizeof *m);
    if (!m)
        return wr_fail(WR_E_OOM, "emu: out of memory");
    m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!m->dl) {
        free(m);
        return wr_fail(WR_E_JIT, "emu: cannot load the kernel module %s built from %s: %s", path, spec->file, dlerror());
    }
    wr_emu_bind_fn bind;
    *(void **)&bind = dlsym(m->dl, "wr_emu_bind");
    *(void **)&m->fill_dyn_smem = dlsym(m->dl, "wr_emu_fill_dyn_smem");
    if (!bind) {
        dlclose(m->dl);
        free(m);
        return wr_fail(WR_E_JIT, "emu: %s (from %s) lacks wr_emu_bind", path, spec->file);
    }
    bind(&dev(g)->rt);
    *mod = m;
    return WR_OK;
}

static void emu_module_unload(wr_gpu *g, void *mod)
{
    (void)g;
    emu_module *m = mod;
    dlclose(m->dl);
    free(m);
}

static wr_status emu_func_get(wr_gpu *g, void *mod, const char *entry, const char *what, void **handle)
{
    (void)g;
    emu_module *m = mod;
    for (int i = 0; i < m->n_funcs; i++)
        if (strcmp(m->funcs[i].entry, entry) == 0) {
            *handle = &m->funcs[i];
            return WR_OK;
        }
    if (m->n_funcs == 64)
        return wr_fail(WR_E_ARG, "emu: %s: more than 64 entry points in one module", what);
    emu_func *f = &m->funcs[m->n_funcs];
    char sym[WR_KSPEC_NAME + 32];
    snprintf(sym, sizeof sym, "wr_emu_entry_%s", entry);
    *(void **)&f->run = dlsym(m->dl, sym);
    snprintf(sym, sizeof sym, "wr_emu_args_%s", entry);
    wr_emu_args_fn args;
    *(void **)&args = dlsym(m->dl, sym);
    if (!f->run || !args)
        return wr_fail(WR_E_ARG, "emu: %s: no kernel entry point '%s' (extern \"C\" __global__ void %s(...))", what,
                       entry, entry);
    f->n_args = args(f->arg_size, WR_EMU_MAX_ARGS);
    if (f->n_args > WR_EMU_MAX_ARGS)
        return wr_fail(WR_E_ARG, "emu: %s: more than %d parameters", what, WR_EMU_MAX_ARGS);
    snprintf(f->entry, sizeof f->entry, "%s", entry);
    m->n_funcs++;
    *handle = f;
    return WR_OK;
}

static wr_status run_launch(wr_gpu *g, const emu_launch *l)
{
    emu_dev *d = dev(g);
    pthread_mutex_lock(&d->lock);
    wr_status st = emu_run(&d->rt, l);
    if (st == WR_OK) {
        char who[1100];
        snprintf(who, sizeof who, "kernel %s", l->what);
        st = emu_mem_check(&d->mem, who);
    }
    pthread_mutex_unlock(&d->lock);
    return st;
}

static wr_status emu_launch_fn(wr_gpu *g, wr_gpu_func *fn, wr_dim3 grid, wr_dim3 block, size_t smem,
                               wr_gpu_stream *s, void **args)
{
    emu_dev *d = dev(g);
    emu_func *ef = fn->handle;
    emu_launch l = {.what = fn->what,
                    .fn = ef,
                    .mod = ((wr_gpu_module *)fn->mod)->handle,
                    .grid = grid,
                    .block = block,
                    .smem = smem,
                    .args = args,
                    .debug = d->debug,
                    .seed = g->opts.emu_seed + ++d->launches};
    if (s && !s->capture)
        lazy_run(s, s->issued); /* a stream's kernels follow its copies */
    if (s && s->capture) {
        emu_node *n = graph_add(s->capture);
        if (!n)
            return wr_fail(WR_E_OOM, "emu: out of memory");
        n->kind = NODE_LAUNCH;
        n->fn = fn;
        n->launch = l;
        size_t off = 0;
        for (int i = 0; i < ef->n_args; i++) {
            size_t sz = ef->arg_size[i], al = sz >= 8 ? 8 : sz;
            off = (off + al - 1) / al * al;
            if (off + sz > sizeof n->arg_bytes)
                return wr_fail(WR_E_ARG, "emu: %s: parameters too large to capture", fn->what);
            memcpy(n->arg_bytes + off, args[i], sz);
            n->arg_off[i] = (unsigned short)off;
            off += sz;
        }
        return WR_OK;
    }
    return run_launch(g, &l);
}

static wr_status emu_graph_launch(wr_gpu *g, wr_gpu_graph *graph, wr_gpu_stream *s)
{
    if (s && s->capture)
        return wr_fail(WR_E_UNSUPPORTED, "emu: launching a graph inside a capture");
    lazy_run(s, s ? s->issued : 0);
    for (int i = 0; i < graph->n; i++) {
        emu_node *n = &graph->nodes[i];
        switch (n->kind) {
        case NODE_LAUNCH:
            for (int a = 0; a < n->launch.fn->n_args; a++) /* the nodes array moves as it grows */
                n->arg_ptrs[a] = n->arg_bytes + n->arg_off[a];
            n->launch.args = n->arg_ptrs;
            WR_TRY(run_launch(g, &n->launch));
            break;
        case NODE_COPY:
            memmove(n->dst, n->src, n->bytes);
            break;
        case NODE_MEMSET:
            memset(n->dst, n->byte, n->bytes);
            break;
        }
    }
    return WR_OK;
}

static void emu_close(wr_gpu *g)
{
    emu_dev *d = dev(g);
    emu_mem_release_all(&d->mem);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static wr_status emu_alloc_mem(wr_gpu *g, size_t bytes, void **dptr) { return emu_mem_alloc(&dev(g)->mem, bytes, dptr); }
static wr_status emu_free_mem(wr_gpu *g, void *dptr) { return emu_mem_free(&dev(g)->mem, dptr); }

static const wr_gpu_vt emu_vt = {
    .close = emu_close,
    .mem_info = emu_mem_info,
    .alloc = emu_alloc_mem,
    .free = emu_free_mem,
    .host_alloc = emu_host_alloc,
    .host_free = emu_host_free,
    .copy = emu_copy,
    .memset = emu_memset,
    .stream_create = emu_stream_create,
    .stream_destroy = emu_stream_destroy,
    .stream_sync = emu_stream_sync,
    .sync = emu_sync,
    .event_create = emu_event_create,
    .event_destroy = emu_event_destroy,
    .event_record = emu_event_record,
    .stream_wait_event = emu_stream_wait_event,
    .event_sync = emu_event_sync,
    .event_elapsed_ms = emu_event_elapsed_ms,
    .module_load = emu_module_load,
    .module_unload = emu_module_unload,
    .func_get = emu_func_get,
    .launch = emu_launch_fn,
    .graph_begin = emu_graph_begin,
    .graph_end = emu_graph_end,
    .graph_launch = emu_graph_launch,
    .graph_free = emu_graph_free,
};

wr_status wr_gpu_emu_open(wr_gpu *g)
{
    emu_dev *d = calloc(1, sizeof *d);
    if (!d)
        return wr_fail(WR_E_OOM, "emu: out of memory");
    const char *dbg = getenv("WANRT_EMU_DEBUG");
    d->debug = g->opts.emu_debug || (dbg && strcmp(dbg, "1") == 0);
    d->mem.debug = d->debug;
    pthread_mutex_init(&d->lock, NULL);
    g->impl = d;
    g->vt = &emu_vt;
    g->arch = g->opts.arch;
    snprintf(g->name, sizeof g->name, "emu (sm_%d%s)", g->arch, d->debug ? ", debug" : "");
    return WR_OK;
}
