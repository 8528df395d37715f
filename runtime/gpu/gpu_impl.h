/* Internals shared by runtime/gpu/gpu.c (the dispatching front end) and the two device
 * implementations gpu_emu.c and gpu_cuda.c. Not for op launchers: they use gpu.h. */
#ifndef WR_GPU_IMPL_H
#define WR_GPU_IMPL_H

#include "runtime/gpu/gpu.h"
#include "runtime/gpu/gpu_memstat.h"

typedef enum wr_copy_kind { WR_COPY_H2D, WR_COPY_D2H, WR_COPY_D2D } wr_copy_kind;

/* One implementation of the device API. Streams, events and graphs are the implementation's
 * own structs behind the opaque gpu.h types. */
typedef struct wr_gpu_vt {
    void (*close)(wr_gpu *g);
    wr_status (*mem_info)(wr_gpu *g, size_t *free_bytes, size_t *total_bytes);
    wr_status (*alloc)(wr_gpu *g, size_t bytes, void **dptr);
    wr_status (*free)(wr_gpu *g, void *dptr);
    wr_status (*host_alloc)(wr_gpu *g, size_t bytes, void **hptr);
    wr_status (*host_free)(wr_gpu *g, void *hptr);
    wr_status (*copy)(wr_gpu *g, wr_copy_kind kind, void *dst, const void *src, size_t bytes, wr_gpu_stream *s);
    wr_status (*memset)(wr_gpu *g, void *dst, int byte, size_t bytes, wr_gpu_stream *s);
    wr_status (*stream_create)(wr_gpu *g, wr_gpu_stream **s);
    wr_status (*stream_destroy)(wr_gpu *g, wr_gpu_stream *s);
    wr_status (*stream_sync)(wr_gpu *g, wr_gpu_stream *s);
    wr_status (*sync)(wr_gpu *g);
    wr_status (*event_create)(wr_gpu *g, wr_gpu_event **e);
    wr_status (*event_destroy)(wr_gpu *g, wr_gpu_event *e);
    wr_status (*event_record)(wr_gpu *g, wr_gpu_event *e, wr_gpu_stream *s);
    wr_status (*stream_wait_event)(wr_gpu *g, wr_gpu_stream *s, wr_gpu_event *e);
    wr_status (*event_sync)(wr_gpu *g, wr_gpu_event *e);
    wr_status (*event_elapsed_ms)(wr_gpu *g, wr_gpu_event *a, wr_gpu_event *b, float *ms);
    /* A module for spec at arch (all of its entry points); *mod is the implementation's handle. */
    wr_status (*module_load)(wr_gpu *g, const wr_kspec *spec, int arch, void **mod);
    void (*module_unload)(wr_gpu *g, void *mod);
    wr_status (*func_get)(wr_gpu *g, void *mod, const char *entry, const char *what, void **handle);
    wr_status (*launch)(wr_gpu *g, wr_gpu_func *fn, wr_dim3 grid, wr_dim3 block, size_t smem, wr_gpu_stream *s,
                        void **args);
    wr_status (*graph_begin)(wr_gpu *g, wr_gpu_stream *s);
    wr_status (*graph_end)(wr_gpu *g, wr_gpu_stream *s, wr_gpu_graph **graph);
    wr_status (*graph_launch)(wr_gpu *g, wr_gpu_graph *graph, wr_gpu_stream *s);
    void (*graph_free)(wr_gpu *g, wr_gpu_graph *graph);
} wr_gpu_vt;

struct wr_gpu_func {
    char entry[WR_KSPEC_NAME];
    char what[1024];  /* wr_kspec_str of the request, for messages */
    void *handle;     /* CUfunction, or the emulator's entry trampoline */
    void *mod;        /* the module it came from */
    uint64_t launches;
    struct wr_gpu_func *next;
};

typedef struct wr_gpu_module {
    wr_kspec spec; /* entry cleared: a module serves every entry of (file, defines, arch) */
    void *handle;
    struct wr_gpu_module *next;
} wr_gpu_module;

struct wr_gpu {
    const wr_gpu_vt *vt;
    wr_gpu_kind kind;
    wr_gpu_options opts;
    int arch;
    bool sync_each_launch; /* WANRT_SYNC=1 */
    char name[256];
    wr_gpu_module *modules;
    wr_gpu_func *funcs;
    void *impl; /* the implementation's state */
    wr_gpu_memstat mem;
    wr_gpu_stream *capture; /* while recording: the stream work addressed to NULL goes to */
    wr_gpu_stream *capture_stream; /* created on first use, kept */
};

wr_status wr_gpu_emu_open(wr_gpu *g);
wr_status wr_gpu_cuda_open(wr_gpu *g);

#endif
