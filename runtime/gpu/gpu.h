/* The device API: one small interface over a real CUDA device (gpu_cuda.c: driver API + NVRTC,
 * opened with dlopen) and the emulator (gpu_emu.c: host memory, kernels built by the host C++
 * compiler and run block by block with threads as fibers). Op launchers (runtime/gpu/<op>.c)
 * use only this header, so every launcher runs unchanged on both.
 *
 * Conventions:
 *   - Device pointers are `void *` (a CUdeviceptr on CUDA, a host address on the emulator), so a
 *     wr_tensor can describe device memory.
 *   - Copies and launches are asynchronous on a stream (NULL = the device's default stream) on
 *     CUDA; the emulator runs them at once, in order, which is one legal schedule.
 *   - Kernels are requested only through a wr_kspec (runtime/gpu/jit.h).
 *   - Every call returns wr_status; driver failures name the statement and the driver's error.
 *   - WANRT_SYNC=1 synchronises and checks after every launch so an async fault names its kernel. */
#ifndef WR_GPU_H
#define WR_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"
#include "runtime/gpu/jit.h"

typedef enum wr_gpu_kind {
    WR_GPU_EMU,  /* the CPU emulator */
    WR_GPU_CUDA, /* a CUDA device through the driver API */
    WR_GPU_KIND_COUNT
} wr_gpu_kind;

typedef struct wr_gpu wr_gpu;
typedef struct wr_gpu_stream wr_gpu_stream;
typedef struct wr_gpu_event wr_gpu_event;
typedef struct wr_gpu_func wr_gpu_func; /* a kernel entry point; owned by its wr_gpu */
typedef struct wr_gpu_graph wr_gpu_graph;

typedef struct wr_dim3 {
    unsigned x, y, z;
} wr_dim3;

static inline wr_dim3 wr_dim3_make(unsigned x, unsigned y, unsigned z)
{
    wr_dim3 d = {x, y, z};
    return d;
}

typedef struct wr_gpu_options {
    int ordinal;       /* CUDA device index (default 0) */
    int arch;          /* emulator: the __CUDA_ARCH__/10 it reports and compiles for (default 80) */
    bool emu_debug;    /* emulator: permute fiber order between barriers, poison new memory and
                        * dynamic shared memory, guard pages after allocations (also WANRT_EMU_DEBUG=1) */
    uint64_t emu_seed; /* emulator debug: seed of the fiber-order permutation */
} wr_gpu_options;

/* Parses "cpu" | "emu" | "cuda". Returns false for anything else ("cpu" is not a wr_gpu_kind:
 * *is_cpu is set instead). */
bool wr_gpu_kind_parse(const char *name, wr_gpu_kind *kind, bool *is_cpu);
const char *wr_gpu_kind_name(wr_gpu_kind kind);

/* The device choice of a run: `arg` (the --device value) when non-NULL, else $WANRT_DEVICE, else
 * "cpu". Sets *is_cpu for the CPU backend (then *out is NULL), else opens the emulator or CUDA
 * device. An unknown name is WR_E_ARG naming where it came from. */
wr_status wr_gpu_select(const char *arg, const wr_gpu_options *opts, bool *is_cpu, wr_gpu **out);

/* Logs (info) how many kernel modules this process compiled and loaded from the disk cache. */
void wr_gpu_report_jit(void);

/* Opens a device. opts may be NULL. CUDA without a driver fails with WR_E_DEVICE and a message
 * saying which library was missing. */
wr_status wr_gpu_open(wr_gpu **out, wr_gpu_kind kind, const wr_gpu_options *opts);
void wr_gpu_close(wr_gpu *g); /* accepts NULL */

wr_gpu_kind wr_gpu_get_kind(const wr_gpu *g);
const char *wr_gpu_name(const wr_gpu *g); /* "emu (sm_80)" or the device name */
int wr_gpu_arch(const wr_gpu *g);         /* compute capability x10, e.g. 90 */
wr_status wr_gpu_mem_info(wr_gpu *g, size_t *free_bytes, size_t *total_bytes);

/* ---- memory ------------------------------------------------------------------------------- */
wr_status wr_gpu_alloc(wr_gpu *g, size_t bytes, void **dptr); /* 256-byte aligned */
wr_status wr_gpu_free(wr_gpu *g, void *dptr);                 /* NULL is a no-op; checks guards on emu */
/* Bytes allocated through wr_gpu_alloc: now, and the most at any time since wr_gpu_open. */
size_t wr_gpu_mem_in_use(const wr_gpu *g);
size_t wr_gpu_mem_peak(const wr_gpu *g);
void wr_gpu_mem_peak_reset(wr_gpu *g); /* the peak restarts from what is in use now (per-stage peaks) */
wr_status wr_gpu_host_alloc(wr_gpu *g, size_t bytes, void **hptr); /* pinned host memory */
wr_status wr_gpu_host_free(wr_gpu *g, void *hptr);

wr_status wr_gpu_copy_h2d(wr_gpu *g, void *dst, const void *src, size_t bytes, wr_gpu_stream *s);
wr_status wr_gpu_copy_d2h(wr_gpu *g, void *dst, const void *src, size_t bytes, wr_gpu_stream *s);
wr_status wr_gpu_copy_d2d(wr_gpu *g, void *dst, const void *src, size_t bytes, wr_gpu_stream *s);
wr_status wr_gpu_memset(wr_gpu *g, void *dst, int byte, size_t bytes, wr_gpu_stream *s);

/* ---- streams and events -------------------------------------------------------------------- */
wr_status wr_gpu_stream_create(wr_gpu *g, wr_gpu_stream **s);
wr_status wr_gpu_stream_destroy(wr_gpu *g, wr_gpu_stream *s); /* NULL is a no-op */
wr_status wr_gpu_stream_sync(wr_gpu *g, wr_gpu_stream *s);
wr_status wr_gpu_sync(wr_gpu *g); /* the whole device */

wr_status wr_gpu_event_create(wr_gpu *g, wr_gpu_event **e);
wr_status wr_gpu_event_destroy(wr_gpu *g, wr_gpu_event *e);
wr_status wr_gpu_event_record(wr_gpu *g, wr_gpu_event *e, wr_gpu_stream *s);
wr_status wr_gpu_stream_wait_event(wr_gpu *g, wr_gpu_stream *s, wr_gpu_event *e);
wr_status wr_gpu_event_sync(wr_gpu *g, wr_gpu_event *e);
wr_status wr_gpu_event_elapsed_ms(wr_gpu *g, wr_gpu_event *start, wr_gpu_event *end, float *ms);

/* ---- kernels ------------------------------------------------------------------------------- */
/* Compiles (or loads from the disk cache) the module of spec for this device and returns its
 * entry point. spec->arch == 0 means the device's arch. Modules are kept until wr_gpu_close. */
wr_status wr_gpu_jit(wr_gpu *g, const wr_kspec *spec, wr_gpu_func **fn);

/* Launches fn. args[i] points at the value of parameter i, as for cuLaunchKernel. */
wr_status wr_gpu_launch(wr_gpu *g, wr_gpu_func *fn, wr_dim3 grid, wr_dim3 block, size_t smem_bytes,
                        wr_gpu_stream *s, void **args);
const char *wr_gpu_func_name(const wr_gpu_func *fn); /* "kernels/x.cu:entry[DEFINES]" */
/* Launch calls of entry `entry` on this device so far (tests use it to prove a kernel ran); a
 * launch captured into a graph counts once, its replays do not. */
uint64_t wr_gpu_launch_count(const wr_gpu *g, const char *entry);

/* ---- graphs: capture the work issued on a stream, replay it with one call ------------------ */
wr_status wr_gpu_graph_begin(wr_gpu *g, wr_gpu_stream *s);
wr_status wr_gpu_graph_end(wr_gpu *g, wr_gpu_stream *s, wr_gpu_graph **graph);
wr_status wr_gpu_graph_launch(wr_gpu *g, wr_gpu_graph *graph, wr_gpu_stream *s);
void wr_gpu_graph_free(wr_gpu *g, wr_gpu_graph *graph); /* accepts NULL */

/* Recording: between begin and end, work addressed to the default stream (NULL) is captured
 * into a graph on a capture stream instead of running, so code written for the default stream
 * (the op launchers) is recorded unchanged. Allocations, host copies and synchronisation fail
 * while recording (WR_E_UNSUPPORTED naming them): they cannot be replayed. */
wr_status wr_gpu_record_begin(wr_gpu *g);
wr_status wr_gpu_record_end(wr_gpu *g, wr_gpu_graph **graph);
bool wr_gpu_recording(const wr_gpu *g);

#endif
