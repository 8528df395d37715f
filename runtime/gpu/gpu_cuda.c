/* The CUDA device: the device API (gpu.h) over the CUDA driver API, with kernels compiled by
 * NVRTC (runtime/gpu/jit_cache.c) and cuBLASLt available for the matmul launchers. libcuda,
 * NVRTC and cuBLASLt are opened with dlopen at run time: the build has no CUDA link dependency
 * and `--device cuda` on a machine without a driver fails with a clear message.
 * The few driver types and constants used are declared here (values from cuda.h, CUDA 12/13),
 * so this file builds without the CUDA headers. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/gpu/gpu_impl.h"
#include "runtime/log.h"

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef struct CUgraph_st *CUgraph;
typedef struct CUgraphExec_st *CUgraphExec;

enum {
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
    CU_STREAM_NON_BLOCKING = 1,
    CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1,
};

typedef struct cu_api {
    void *lib;
    CUresult (*Init)(unsigned);
    CUresult (*GetErrorName)(CUresult, const char **);
    CUresult (*GetErrorString)(CUresult, const char **);
    CUresult (*DeviceGetCount)(int *);
    CUresult (*DeviceGet)(CUdevice *, int);
    CUresult (*DeviceGetName)(char *, int, CUdevice);
    CUresult (*DeviceGetAttribute)(int *, int, CUdevice);
    CUresult (*DevicePrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*DevicePrimaryCtxRelease)(CUdevice);
    CUresult (*CtxSetCurrent)(CUcontext);
    CUresult (*CtxSynchronize)(void);
    CUresult (*MemGetInfo)(size_t *, size_t *);
    CUresult (*MemAlloc)(CUdeviceptr *, size_t);
    CUresult (*MemFree)(CUdeviceptr);
    CUresult (*MemAllocHost)(void **, size_t);
    CUresult (*MemFreeHost)(void *);
    CUresult (*MemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
    CUresult (*MemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
    CUresult (*MemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
    CUresult (*MemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
    CUresult (*StreamCreate)(CUstream *, unsigned);
    CUresult (*StreamDestroy)(CUstream);
    CUresult (*StreamSynchronize)(CUstream);
    CUresult (*StreamWaitEvent)(CUstream, CUevent, unsigned);
    CUresult (*EventCreate)(CUevent *, unsigned);
    CUresult (*EventDestroy)(CUevent);
    CUresult (*EventRecord)(CUevent, CUstream);
    CUresult (*EventSynchronize)(CUevent);
    CUresult (*EventElapsedTime)(float *, CUevent, CUevent);
    CUresult (*ModuleLoadData)(CUmodule *, const void *);
    CUresult (*ModuleUnload)(CUmodule);
    CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
    CUresult (*FuncSetAttribute)(CUfunction, int, int);
    CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             CUstream, void **, void **);
    CUresult (*StreamBeginCapture)(CUstream, int);
    CUresult (*StreamEndCapture)(CUstream, CUgraph *);
    CUresult (*GraphInstantiateWithFlags)(CUgraphExec *, CUgraph, unsigned long long);
    CUresult (*GraphLaunch)(CUgraphExec, CUstream);
    CUresult (*GraphExecDestroy)(CUgraphExec);
    CUresult (*GraphDestroy)(CUgraph);
} cu_api;

typedef struct cu_dev {
    cu_api api;
    CUdevice device;
    CUcontext ctx;
    void *cublaslt_lib;    /* libcublasLt, when present */
    void *cublaslt_handle; /* cublasLtHandle_t */
} cu_dev;

struct wr_gpu_stream {
    CUstream s;
};
struct wr_gpu_event {
    CUevent e;
};
struct wr_gpu_graph {
    CUgraph graph;
    CUgraphExec exec;
};

static cu_dev *dev(wr_gpu *g) { return g->impl; }

/* A driver call that failed: WR_E_DEVICE with the statement, function and the driver's error
 * name and text (STYLE.md 9.3). */
static wr_status cu_fail(const cu_api *api, CUresult r, const char *stmt, const char *func, const char *file, int line)
{
    const char *name = "?", *text = "?";
    if (api->GetErrorName)
        api->GetErrorName(r, &name);
    if (api->GetErrorString)
        api->GetErrorString(r, &text);
    return wr_fail_at(file, line, WR_E_DEVICE, "%s: CUDA call `%s` failed: %s (%s)", func, stmt, name, text);
}

#define WR_CU_TRY(expr)                                                           \
    do {                                                                          \
        CUresult wr_cu_r_ = (expr);                                               \
        if (wr_cu_r_ != 0)                                                        \
            return cu_fail(&dev(g)->api, wr_cu_r_, #expr, __func__, __FILE__, __LINE__); \
    } while (0)

#define API (dev(g)->api)
#define STREAM(s) ((s) ? (s)->s : (CUstream)0)

static wr_status load_api(cu_api *a)
{
    const char *names[] = {"libcuda.so.1", "libcuda.so"};
    for (size_t i = 0; !a->lib && i < 2; i++)
        a->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!a->lib)
        return wr_fail(WR_E_DEVICE,
                       "--device cuda: the CUDA driver (libcuda.so.1) is not installed or not on the loader path "
                       "(%s); use --device cpu, or --device emu to run the GPU kernels in the emulator",
                       dlerror());
#define SYM(field, name)                                                                          \
    do {                                                                                          \
        *(void **)&a->field = dlsym(a->lib, name);                                                \
        if (!a->field)                                                                            \
            return wr_fail(WR_E_DEVICE, "libcuda.so.1: symbol %s missing (driver too old?)", name); \
    } while (0)
    SYM(Init, "cuInit");
    SYM(GetErrorName, "cuGetErrorName");
    SYM(GetErrorString, "cuGetErrorString");
    SYM(DeviceGetCount, "cuDeviceGetCount");
    SYM(DeviceGet, "cuDeviceGet");
    SYM(DeviceGetName, "cuDeviceGetName");
    SYM(DeviceGetAttribute, "cuDeviceGetAttribute");
    SYM(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    SYM(DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
    SYM(CtxSetCurrent, "cuCtxSetCurrent");
    SYM(CtxSynchronize, "cuCtxSynchronize");
    SYM(MemGetInfo, "cuMemGetInfo_v2");
    SYM(MemAlloc, "cuMemAlloc_v2");
    SYM(MemFree, "cuMemFree_v2");
    SYM(MemAllocHost, "cuMemAllocHost_v2");
    SYM(MemFreeHost, "cuMemFreeHost");
    SYM(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
    SYM(MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
    SYM(MemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2");
    SYM(MemsetD8Async, "cuMemsetD8Async");
    SYM(StreamCreate, "cuStreamCreate");
    SYM(StreamDestroy, "cuStreamDestroy_v2");
    SYM(StreamSynchronize, "cuStreamSynchronize");
    SYM(StreamWaitEvent, "cuStreamWaitEvent");
    SYM(EventCreate, "cuEventCreate");
    SYM(EventDestroy, "cuEventDestroy_v2");
    SYM(EventRecord, "cuEventRecord");
    SYM(EventSynchronize, "cuEventSynchronize");
    SYM(EventElapsedTime, "cuEventElapsedTime");
    SYM(ModuleLoadData, "cuModuleLoadData");
    SYM(ModuleUnload, "cuModuleUnload");
    SYM(ModuleGetFunction, "cuModuleGetFunction");
    SYM(FuncSetAttribute, "cuFuncSetAttribute");
    SYM(LaunchKernel, "cuLaunchKernel");
    SYM(StreamBeginCapture, "cuStreamBeginCapture_v2");
    SYM(StreamEndCapture, "cuStreamEndCapture");
    SYM(GraphInstantiateWithFlags, "cuGraphInstantiateWithFlags");
    SYM(GraphLaunch, "cuGraphLaunch");
    SYM(GraphExecDestroy, "cuGraphExecDestroy");
    SYM(GraphDestroy, "cuGraphDestroy");
#undef SYM
    return WR_OK;
}

/* ---- memory, copies ----------------------------------------------------------------------------- */

static wr_status cu_mem_info(wr_gpu *g, size_t *f, size_t *t)
{
    WR_CU_TRY(API.MemGetInfo(f, t));
    return WR_OK;
}

static wr_status cu_alloc(wr_gpu *g, size_t bytes, void **dptr)
{
    CUdeviceptr p = 0;
    CUresult r = API.MemAlloc(&p, bytes ? bytes : 1);
    if (r != 0) {
        size_t f = 0, t = 0;
        API.MemGetInfo(&f, &t);
        return wr_fail(WR_E_OOM, "cuda: cannot allocate %zu bytes of device memory (%zu of %zu free)", bytes, f, t);
    }
    *dptr = (void *)(uintptr_t)p;
    return WR_OK;
}

static wr_status cu_free(wr_gpu *g, void *dptr)
{
    WR_CU_TRY(API.MemFree((CUdeviceptr)(uintptr_t)dptr));
    return WR_OK;
}

static wr_status cu_host_alloc(wr_gpu *g, size_t bytes, void **hptr)
{
    WR_CU_TRY(API.MemAllocHost(hptr, bytes ? bytes : 1));
    return WR_OK;
}

static wr_status cu_host_free(wr_gpu *g, void *hptr)
{
    WR_CU_TRY(API.MemFreeHost(hptr));
    return WR_OK;
}

static wr_status cu_copy(wr_gpu *g, wr_copy_kind kind, void *dst, const void *src, size_t bytes, wr_gpu_stream *s)
{
    switch (kind) {
    case WR_COPY_H2D:
        WR_CU_TRY(API.MemcpyHtoDAsync((CUdeviceptr)(uintptr_t)dst, src, bytes, STREAM(s)));
        break;
    case WR_COPY_D2H:
        WR_CU_TRY(API.MemcpyDtoHAsync(dst, (CUdeviceptr)(uintptr_t)src, bytes, STREAM(s)));
        break;
    case WR_COPY_D2D:
        WR_CU_TRY(API.MemcpyDtoDAsync((CUdeviceptr)(uintptr_t)dst, (CUdeviceptr)(uintptr_t)src, bytes, STREAM(s)));
        break;
    }
    return WR_OK;
}

static wr_status cu_memset(wr_gpu *g, void *dst, int byte, size_t bytes, wr_gpu_stream *s)
{
    WR_CU_TRY(API.MemsetD8Async((CUdeviceptr)(uintptr_t)dst, (unsigned char)byte, bytes, STREAM(s)));
    return WR_OK;
}

/* ---- streams, events, graphs --------------------------------------------------------------------- */

static wr_status cu_stream_create(wr_gpu *g, wr_gpu_stream **s)
{
    *s = calloc(1, sizeof **s);
    if (!*s)
        return wr_fail(WR_E_OOM, "cuda: out of memory");
    CUresult r = API.StreamCreate(&(*s)->s, CU_STREAM_NON_BLOCKING);
    if (r != 0) {
        free(*s);
        *s = NULL;
        return cu_fail(&API, r, "cuStreamCreate", __func__, __FILE__, __LINE__);
    }
    return WR_OK;
}

static wr_status cu_stream_destroy(wr_gpu *g, wr_gpu_stream *s)
{
    CUresult r = API.StreamDestroy(s->s);
    free(s);
    return r ? cu_fail(&API, r, "cuStreamDestroy", __func__, __FILE__, __LINE__) : WR_OK;
}

static wr_status cu_stream_sync(wr_gpu *g, wr_gpu_stream *s)
{
    WR_CU_TRY(API.StreamSynchronize(STREAM(s)));
    return WR_OK;
}

static wr_status cu_sync(wr_gpu *g)
{
    WR_CU_TRY(API.CtxSynchronize());
    return WR_OK;
}

static wr_status cu_event_create(wr_gpu *g, wr_gpu_event **e)
{
    *e = calloc(1, sizeof **e);
    if (!*e)
        return wr_fail(WR_E_OOM, "cuda: out of memory");
    CUresult r = API.EventCreate(&(*e)->e, 0);
    if (r != 0) {
        free(*e);
        *e = NULL;
        return cu_fail(&API, r, "cuEventCreate", __func__, __FILE__, __LINE__);
    }
    return WR_OK;
}

static wr_status cu_event_destroy(wr_gpu *g, wr_gpu_event *e)
{
    CUresult r = API.EventDestroy(e->e);
    free(e);
    return r ? cu_fail(&API, r, "cuEventDestroy", __func__, __FILE__, __LINE__) : WR_OK;
}

static wr_status cu_event_record(wr_gpu *g, wr_gpu_event *e, wr_gpu_stream *s)
{
    WR_CU_TRY(API.EventRecord(e->e, STREAM(s)));
    return WR_OK;
}

static wr_status cu_stream_wait_event(wr_gpu *g, wr_gpu_stream *s, wr_gpu_event *e)
{
    WR_CU_TRY(API.StreamWaitEvent(STREAM(s), e->e, 0));
    return WR_OK;
}

static wr_status cu_event_sync(wr_gpu *g, wr_gpu_event *e)
{
    WR_CU_TRY(API.EventSynchronize(e->e));
    return WR_OK;
}

static wr_status cu_event_elapsed(wr_gpu *g, wr_gpu_event *a, wr_gpu_event *b, float *ms)
{
    WR_CU_TRY(API.EventElapsedTime(ms, a->e, b->e));
    return WR_OK;
}

static wr_status cu_graph_begin(wr_gpu *g, wr_gpu_stream *s)
{
    if (!s)
        return wr_fail(WR_E_ARG, "cuda: graph capture needs a created stream, not the default stream");
    WR_CU_TRY(API.StreamBeginCapture(s->s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
    return WR_OK;
}

static wr_status cu_graph_end(wr_gpu *g, wr_gpu_stream *s, wr_gpu_graph **graph)
{
    wr_gpu_graph *gr = calloc(1, sizeof *gr);
    if (!gr)
        return wr_fail(WR_E_OOM, "cuda: out of memory");
    CUresult r = API.StreamEndCapture(s->s, &gr->graph);
    if (r == 0)
        r = API.GraphInstantiateWithFlags(&gr->exec, gr->graph, 0);
    if (r != 0) {
        if (gr->graph)
            API.GraphDestroy(gr->graph);
        free(gr);
        return cu_fail(&API, r, "cuStreamEndCapture/cuGraphInstantiate", __func__, __FILE__, __LINE__);
    }
    *graph = gr;
    return WR_OK;
}

static wr_status cu_graph_launch(wr_gpu *g, wr_gpu_graph *graph, wr_gpu_stream *s)
{
    WR_CU_TRY(API.GraphLaunch(graph->exec, STREAM(s)));
    return WR_OK;
}

static void cu_graph_free(wr_gpu *g, wr_gpu_graph *graph)
{
    API.GraphExecDestroy(graph->exec);
    API.GraphDestroy(graph->graph);
    free(graph);
}

/* ---- modules and launches ------------------------------------------------------------------------ */

static wr_status cu_module_load(wr_gpu *g, const wr_kspec *spec, int arch, void **mod)
{
    void *cubin = NULL;
    size_t size = 0;
    char *info = NULL;
    WR_TRY(wr_jit_cubin(spec, arch, &cubin, &size, &info));
    CUmodule m = NULL;
    CUresult r = API.ModuleLoadData(&m, cubin);
    free(cubin);
    free(info);
    if (r != 0)
        return cu_fail(&API, r, spec->file, __func__, __FILE__, __LINE__);
    *mod = m;
    return WR_OK;
}

static void cu_module_unload(wr_gpu *g, void *mod) { API.ModuleUnload(mod); }

static wr_status cu_func_get(wr_gpu *g, void *mod, const char *entry, const char *what, void **handle)
{
    CUfunction f = NULL;
    CUresult r = API.ModuleGetFunction(&f, mod, entry);
    if (r != 0)
        return wr_fail(WR_E_ARG, "cuda: %s: no kernel entry point '%s'", what, entry);
    *handle = f;
    return WR_OK;
}

static wr_status cu_launch(wr_gpu *g, wr_gpu_func *fn, wr_dim3 grid, wr_dim3 block, size_t smem, wr_gpu_stream *s,
                           void **args)
{
    if (smem > 48 * 1024)
        WR_CU_TRY(API.FuncSetAttribute(fn->handle, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)smem));
    CUresult r = API.LaunchKernel(fn->handle, grid.x, grid.y, grid.z, block.x, block.y, block.z, (unsigned)smem,
                                  STREAM(s), args, NULL);
    if (r != 0) {
        const char *name = "?";
        API.GetErrorName(r, &name);
        return wr_fail(WR_E_DEVICE, "cuda: launch of %s grid (%u,%u,%u) block (%u,%u,%u) smem %zu failed: %s", fn->what,
                       grid.x, grid.y, grid.z, block.x, block.y, block.z, smem, name);
    }
    return WR_OK;
}

static void cu_close(wr_gpu *g)
{
    cu_dev *d = dev(g);
    if (d->cublaslt_handle) {
        int (*destroy)(void *);
        *(void **)&destroy = dlsym(d->cublaslt_lib, "cublasLtDestroy");
        if (destroy)
            destroy(d->cublaslt_handle);
    }
    if (d->cublaslt_lib)
        dlclose(d->cublaslt_lib);
    if (d->ctx)
        d->api.DevicePrimaryCtxRelease(d->device);
    /* libcuda stays loaded: unloading a driver library mid-process is not supported by it */
    free(d);
}

static const wr_gpu_vt cuda_vt = {
    .close = cu_close,
    .mem_info = cu_mem_info,
    .alloc = cu_alloc,
    .free = cu_free,
    .host_alloc = cu_host_alloc,
    .host_free = cu_host_free,
    .copy = cu_copy,
    .memset = cu_memset,
    .stream_create = cu_stream_create,
    .stream_destroy = cu_stream_destroy,
    .stream_sync = cu_stream_sync,
    .sync = cu_sync,
    .event_create = cu_event_create,
    .event_destroy = cu_event_destroy,
    .event_record = cu_event_record,
    .stream_wait_event = cu_stream_wait_event,
    .event_sync = cu_event_sync,
    .event_elapsed_ms = cu_event_elapsed,
    .module_load = cu_module_load,
    .module_unload = cu_module_unload,
    .func_get = cu_func_get,
    .launch = cu_launch,
    .graph_begin = cu_graph_begin,
    .graph_end = cu_graph_end,
    .graph_launch = cu_graph_launch,
    .graph_free = cu_graph_free,
};

/* cuBLASLt is optional: launchers that use it check wr_gpu_name / fall back to our kernels. */
static void load_cublaslt(cu_dev *d)
{
    const char *names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
    for (size_t i = 0; !d->cublaslt_lib && i < 3; i++)
        d->cublaslt_lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!d->cublaslt_lib)
        return;
    int (*create)(void **);
    *(void **)&create = dlsym(d->cublaslt_lib, "cublasLtCreate");
    if (!create || create(&d->cublaslt_handle) != 0) {
        d->cublaslt_handle = NULL;
        wr_log_warn("cuda: cuBLASLt found but cublasLtCreate failed; using wanrt's own matmul kernels");
    }
}

wr_status wr_gpu_cuda_open(wr_gpu *g)
{
    cu_dev *d = calloc(1, sizeof *d);
    if (!d)
        return wr_fail(WR_E_OOM, "cuda: out of memory");
    g->impl = d;
    wr_status st = load_api(&d->api);
    if (st != WR_OK)
        goto fail;
    CUresult r = d->api.Init(0);
    int count = 0;
    if (r == 0)
        r = d->api.DeviceGetCount(&count);
    if (r != 0 || count == 0) {
        const char *name = "no device";
        if (r != 0)
            d->api.GetErrorName(r, &name);
        st = wr_fail(WR_E_DEVICE, "--device cuda: the CUDA driver found no usable GPU (%s)", name);
        goto fail;
    }
    if (g->opts.ordinal < 0 || g->opts.ordinal >= count) {
        st = wr_fail(WR_E_ARG, "--device cuda: device %d requested, %d present", g->opts.ordinal, count);
        goto fail;
    }
    int major = 0, minor = 0;
    char name[200] = "";
#define TRY_GOTO(expr)                                                         \
    do {                                                                       \
        CUresult rr_ = (expr);                                                 \
        if (rr_ != 0) {                                                        \
            st = cu_fail(&d->api, rr_, #expr, __func__, __FILE__, __LINE__);   \
            goto fail;                                                         \
        }                                                                      \
    } while (0)
    TRY_GOTO(d->api.DeviceGet(&d->device, g->opts.ordinal));
    TRY_GOTO(d->api.DeviceGetName(name, sizeof name, d->device));
    TRY_GOTO(d->api.DeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d->device));
    TRY_GOTO(d->api.DeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d->device));
    TRY_GOTO(d->api.DevicePrimaryCtxRetain(&d->ctx, d->device));
    TRY_GOTO(d->api.CtxSetCurrent(d->ctx));
#undef TRY_GOTO
    g->arch = major * 10 + minor;
    load_cublaslt(d);
    g->vt = &cuda_vt;
    snprintf(g->name, sizeof g->name, "%s (sm_%d%s)", name, g->arch, d->cublaslt_handle ? ", cuBLASLt" : "");
    return WR_OK;
fail:
    if (d->ctx)
        d->api.DevicePrimaryCtxRelease(d->device);
    free(d);
    g->impl = NULL;
    return st;
}
