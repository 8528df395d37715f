/* The device API front end (gpu.h): argument checks, the per-device module and function cache,
 * launch counters and WANRT_SYNC, then dispatch to the emulator or CUDA implementation. */
#include "runtime/gpu/gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/gpu/gpu_impl.h"
#include "runtime/log.h"

static const char *const kind_names[WR_GPU_KIND_COUNT] = {"emu", "cuda"};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == WR_GPU_KIND_COUNT, "kind_names");

bool wr_gpu_kind_parse(const char *name, wr_gpu_kind *kind, bool *is_cpu)
{
    *is_cpu = false;
    if (strcmp(name, "cpu") == 0) {
        *is_cpu = true;
        return true;
    }
    for (int k = 0; k < WR_GPU_KIND_COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0) {
            *kind = (wr_gpu_kind)k;
            return true;
        }
    return false;
}

const char *wr_gpu_kind_name(wr_gpu_kind kind)
{
    return (unsigned)kind < WR_GPU_KIND_COUNT ? kind_names[kind] : "?";
}

wr_status wr_gpu_select(const char *arg, const wr_gpu_options *opts, bool *is_cpu, wr_gpu **out)
{
    *out = NULL;
    const char *from = "--device";
    const char *name = arg;
    if (!name || !*name) {
        name = getenv("WANRT_DEVICE");
        from = "WANRT_DEVICE";
    }
    if (!name || !*name) {
        *is_cpu = true;
        return WR_OK;
    }
    wr_gpu_kind kind;
    if (!wr_gpu_kind_parse(name, &kind, is_cpu))
        return wr_fail(WR_E_ARG, "%s: unknown device '%s' (cpu, emu or cuda)", from, name);
    if (*is_cpu)
        return WR_OK;
    return wr_gpu_open(out, kind, opts);
}

void wr_gpu_report_jit(void)
{
    wr_jit_stats st = wr_jit_get_stats();
    wr_log_info("kernels: %u compiled, %u loaded from the cache", st.compiled, st.cached);
}

wr_status wr_gpu_open(wr_gpu **out, wr_gpu_kind kind, const wr_gpu_options *opts)
{
    *out = NULL;
    wr_gpu *g = calloc(1, sizeof *g);
    if (!g)
        return wr_fail(WR_E_OOM, "device: out of memory");
    if (opts)
        g->opts = *opts;
    if (g->opts.arch == 0)
        g->opts.arch = 80;
    g->kind = kind;
    const char *sync = getenv("WANRT_SYNC");
    g->sync_each_launch = sync && strcmp(sync, "1") == 0;
    wr_status st;
    switch (kind) {
    case WR_GPU_EMU:
        st = wr_gpu_emu_open(g);
        break;
    case WR_GPU_CUDA:
        st = wr_gpu_cuda_open(g);
        break;
    default:
        st = wr_fail(WR_E_ARG, "device: unknown kind %d", (int)kind);
    }
    if (st != WR_OK) {
        free(g);
        return st;
    }
    *out = g;
    return WR_OK;
}

void wr_gpu_close(wr_gpu *g)
{
    if (!g)
        return;
    for (wr_gpu_func *f = g->funcs, *n; f; f = n) {
        n = f->next;
        free(f);
    }
    for (wr_gpu_module *m = g->modules, *n; m; m = n) {
        n = m->next;
        g->vt->module_unload(g, m->handle);
        free(m);
    }
    if (g->capture_stream)
        g->vt->stream_destroy(g, g->capture_stream);
    g->vt->close(g);
    wr_gpu_memstat_free(&g->mem);
    free(g);
}

wr_gpu_kind wr_gpu_get_kind(const wr_gpu *g) { return g->kind; }
const char *wr_gpu_name(const wr_gpu *g) { return g->name; }
int wr_gpu_arch(const wr_gpu *g) { return g->arch; }

wr_status wr_gpu_mem_info(wr_gpu *g, size_t *free_bytes, size_t *total_bytes)
{
    return g->vt->mem_info(g, free_bytes, total_bytes);
}

/* Work addressed to the default stream goes to the capture stream while recording. */
static wr_gpu_stream *route(const wr_gpu *g, wr_gpu_stream *s) { return s ? s : g->capture; }

static wr_status not_while_recording(const wr_gpu *g, const char *what)
{
    return g->capture ? wr_fail(WR_E_UNSUPPORTED, "device: %s inside a recording (an op that allocates or "
                                "synchronises cannot be replayed)", what)
                      : WR_OK;
}

wr_status wr_gpu_alloc(wr_gpu *g, size_t bytes, void **dptr)
{
    WR_TRY(not_while_recording(g, "an allocation"));
    WR_TRY(g->vt->alloc(g, bytes, dptr));
    wr_gpu_memstat_add(&g->mem, *dptr, bytes);
    return WR_OK;
}

wr_status wr_gpu_free(wr_gpu *g, void *dptr)
{
    wr_gpu_memstat_remove(&g->mem, dptr);
    return dptr ? g->vt->free(g, dptr) : WR_OK;
}

size_t wr_gpu_mem_peak(const wr_gpu *g) { return g->mem.peak; }
size_t wr_gpu_mem_in_use(const wr_gpu *g) { return g->mem.in_use; }
void wr_gpu_mem_peak_reset(wr_gpu *g) { g->mem.peak = g->mem.in_use; }
wr_status wr_gpu_host_alloc(wr_gpu *g, size_t bytes, void **hptr) { return g->vt->host_alloc(g, bytes, hptr); }
wr_status wr_gpu_host_free(wr_gpu *g, void *hptr) { return hptr ? g->vt->host_free(g, hptr) : WR_OK; }

wr_status wr_gpu_copy_h2d(wr_gpu *g, void *dst, const void *src, size_t bytes, wr_gpu_stream *s)
{
    if (!s)
        WR_TRY(not_while_recording(g, "a copy from host memory"));
    return bytes ? g->vt->copy(g, WR_COPY_H2D, dst, src, bytes, s) : WR_OK;
}
wr_status wr_gpu_copy_d2h(wr_gpu *g, void *dst, const void *src, size_t bytes, wr_gpu_stream *s)
{
    if (!s)
        WR_TRY(not_while_recording(g, "a copy to host memory"));
    return bytes ? g->vt->copy(g, WR_COPY_D2H, dst, src, bytes, s) : WR_OK;
}
wr_status wr_gpu_copy_d2d(wr_gpu *g, void *dst, const void *src, size_t bytes, wr_gpu_stream *s)
{
    return bytes ? g->vt->copy(g, WR_COPY_D2D, dst, src, bytes, route(g, s)) : WR_OK;
}
wr_status wr_gpu_memset(wr_gpu *g, void *dst, int byte, size_t bytes, wr_gpu_stream *s)
{
    return bytes ? g->vt->memset(g, dst, byte, bytes, route(g, s)) : WR_OK;
}

wr_status wr_gpu_stream_create(wr_gpu *g, wr_gpu_stream **s) { return g->vt->stream_create(g, s); }
wr_status wr_gpu_stream_destroy(wr_gpu *g, wr_gpu_stream *s) { return s ? g->vt->stream_destroy(g, s) : WR_OK; }
wr_status wr_gpu_stream_sync(wr_gpu *g, wr_gpu_stream *s)
{
    if (!s)
        WR_TRY(not_while_recording(g, "a synchronisation"));
    return g->vt->stream_sync(g, s);
}
wr_status wr_gpu_sync(wr_gpu *g)
{
    WR_TRY(not_while_recording(g, "a synchronisation"));
    return g->vt->sync(g);
}
wr_status wr_gpu_event_create(wr_gpu *g, wr_gpu_event **e) { return g->vt->event_create(g, e); }
wr_status wr_gpu_event_destroy(wr_gpu *g, wr_gpu_event *e) { return e ? g->vt->event_destroy(g, e) : WR_OK; }
wr_status wr_gpu_event_record(wr_gpu *g, wr_gpu_event *e, wr_gpu_stream *s)
{
    return g->vt->event_record(g, e, route(g, s));
}
wr_status wr_gpu_stream_wait_event(wr_gpu *g, wr_gpu_stream *s, wr_gpu_event *e)
{
    return g->vt->stream_wait_event(g, route(g, s), e);
}
wr_status wr_gpu_event_sync(wr_gpu *g, wr_gpu_event *e) { return g->vt->event_sync(g, e); }
wr_status wr_gpu_event_elapsed_ms(wr_gpu *g, wr_gpu_event *a, wr_gpu_event *b, float *ms)
{
    return g->vt->event_elapsed_ms(g, a, b, ms);
}

/* ---- kernels -------------------------------------------------------------------------------- */

static bool same_module(const wr_kspec *a, const wr_kspec *b)
{
    if (strcmp(a->file, b->file) != 0 || a->arch != b->arch || a->n_defines != b->n_defines)
        return false;
    for (int i = 0; i < a->n_defines; i++)
        if (strcmp(a->defines[i].name, b->defines[i].name) != 0 || strcmp(a->defines[i].value, b->defines[i].value) != 0)
            return false;
    return true;
}

wr_status wr_gpu_jit(wr_gpu *g, const wr_kspec *spec, wr_gpu_func **fn)
{
    wr_kspec key = *spec;
    if (key.arch == 0)
        key.arch = g->arch;
    key.entry[0] = 0;
    wr_gpu_module *m = g->modules;
    while (m && !same_module(&m->spec, &key))
        m = m->next;
    for (wr_gpu_func *f = g->funcs; m && f; f = f->next)
        if (f->mod == m && strcmp(f->entry, spec->entry) == 0) {
            *fn = f;
            return WR_OK;
        }
    wr_kspec full = key;
    snprintf(full.entry, sizeof full.entry, "%s", spec->entry);
    if (!m) {
        m = calloc(1, sizeof *m);
        if (!m)
            return wr_fail(WR_E_OOM, "device: out of memory");
        m->spec = key;
        wr_status st = g->vt->module_load(g, &full, key.arch, &m->handle);
        if (st != WR_OK) {
            free(m);
            return st;
        }
        m->next = g->modules;
        g->modules = m;
    }
    wr_gpu_func *f = calloc(1, sizeof *f);
    if (!f)
        return wr_fail(WR_E_OOM, "device: out of memory");
    snprintf(f->entry, sizeof f->entry, "%s", spec->entry);
    wr_kspec_str(&full, f->what, sizeof f->what);
    f->mod = m;
    wr_status st = g->vt->func_get(g, m->handle, f->entry, f->what, &f->handle);
    if (st != WR_OK) {
        free(f);
        return st;
    }
    f->next = g->funcs;
    g->funcs = f;
    *fn = f;
    return WR_OK;
}

wr_status wr_gpu_launch(wr_gpu *g, wr_gpu_func *fn, wr_dim3 grid, wr_dim3 block, size_t smem_bytes,
                        wr_gpu_stream *s, void **args)
{
    if (grid.x == 0 || grid.y == 0 || grid.z == 0)
        return WR_OK; /* an empty problem: nothing to run */
    uint64_t threads = (uint64_t)block.x * block.y * block.z;
    if (threads == 0 || threads > 1024 || block.z > 64 || grid.y > 65535 || grid.z > 65535)
        return wr_fail(WR_E_ARG, "launch %s: invalid grid (%u,%u,%u) / block (%u,%u,%u)", fn->what, grid.x, grid.y,
                       grid.z, block.x, block.y, block.z);
    fn->launches++;
    WR_TRY(g->vt->launch(g, fn, grid, block, smem_bytes, route(g, s), args));
    if (g->sync_each_launch && !g->capture) {
        wr_status st = g->vt->sync(g);
        if (st != WR_OK) {
            char prev[2048];
            snprintf(prev, sizeof prev, "%s", wr_last_error());
            return wr_fail(st, "WANRT_SYNC: kernel %s failed: %s", fn->what, prev);
        }
    }
    return WR_OK;
}

const char *wr_gpu_func_name(const wr_gpu_func *fn) { return fn->what; }

uint64_t wr_gpu_launch_count(const wr_gpu *g, const char *entry)
{
    uint64_t n = 0;
    for (const wr_gpu_func *f = g->funcs; f; f = f->next)
        if (strcmp(f->entry, entry) == 0)
            n += f->launches;
    return n;
}

wr_status wr_gpu_graph_begin(wr_gpu *g, wr_gpu_stream *s) { return g->vt->graph_begin(g, s); }
wr_status wr_gpu_graph_end(wr_gpu *g, wr_gpu_stream *s, wr_gpu_graph **graph) { return g->vt->graph_end(g, s, graph); }
wr_status wr_gpu_graph_launch(wr_gpu *g, wr_gpu_graph *graph, wr_gpu_stream *s)
{
    return g->vt->graph_launch(g, graph, s);
}
wr_status wr_gpu_record_begin(wr_gpu *g)
{
    if (g->capture)
        return wr_fail(WR_E_ARG, "device: already recording");
    if (!g->capture_stream)
        WR_TRY(wr_gpu_stream_create(g, &g->capture_stream));
    WR_TRY(wr_gpu_graph_begin(g, g->capture_stream));
    g->capture = g->capture_stream;
    return WR_OK;
}

wr_status wr_gpu_record_end(wr_gpu *g, wr_gpu_graph **graph)
{
    if (!g->capture)
        return wr_fail(WR_E_ARG, "device: not recording");
    g->capture = NULL;
    return wr_gpu_graph_end(g, g->capture_stream, graph);
}

bool wr_gpu_recording(const wr_gpu *g) { return g->capture != NULL; }

void wr_gpu_graph_free(wr_gpu *g, wr_gpu_graph *graph)
{
    if (graph)
        g->vt->graph_free(g, graph);
}
