/* NVRTC, opened with dlopen at run time (no link-time dependency). Search order: $WANRT_NVRTC
 * (a file), libnvrtc.so / .so.13 / .so.12 on the loader path, $CUDA_HOME/lib64,
 * /usr/local/cuda/lib64. The CUDA headers NVRTC needs (cuda_bf16.h ...) come from
 * $CUDA_HOME/include, /usr/local/cuda/include or ../include beside the library. */
#ifndef WR_NVRTC_H
#define WR_NVRTC_H

#include <stddef.h>

#include "runtime/err.h"

typedef struct _nvrtcProgram *wr_nvrtc_program;

typedef struct wr_nvrtc {
    int major, minor;      /* NVRTC version */
    char lib_path[512];    /* the library that was opened */
    char include_dir[512]; /* folder holding cuda_bf16.h */
    const char *(*GetErrorString)(int result);
    int (*CreateProgram)(wr_nvrtc_program *prog, const char *src, const char *name, int num_headers,
                         const char *const *headers, const char *const *include_names);
    int (*DestroyProgram)(wr_nvrtc_program *prog);
    int (*CompileProgram)(wr_nvrtc_program prog, int num_options, const char *const *options);
    int (*GetProgramLogSize)(wr_nvrtc_program prog, size_t *size);
    int (*GetProgramLog)(wr_nvrtc_program prog, char *log);
    int (*GetCUBINSize)(wr_nvrtc_program prog, size_t *size);
    int (*GetCUBIN)(wr_nvrtc_program prog, char *cubin);
} wr_nvrtc;

/* The loaded library (once per process). Fails with WR_E_JIT naming what was tried. */
wr_status wr_nvrtc_get(const wr_nvrtc **out);

/* An NVRTC call that failed becomes WR_E_JIT with the statement and NVRTC's error string
 * (STYLE.md 9.3). For functions returning wr_status. */
#define WR_NVRTC_TRY(nv, expr)                                                                    \
    do {                                                                                          \
        int wr_nv_r_ = (expr);                                                                    \
        if (wr_nv_r_ != 0)                                                                        \
            return wr_fail(WR_E_JIT, "%s: NVRTC call `%s` failed: %s", __func__, #expr,           \
                           (nv)->GetErrorString(wr_nv_r_));                                       \
    } while (0)

#endif
