/* Internal to the GPU backend (runtime/gpu/backend_gpu*.c): the open device and its arithmetic
 * choices, staging of host operands, CPU fallbacks on device operands, and the attention-family
 * ops (backend_gpu_attention.c) the backend table in backend_gpu.c lists. */
#ifndef WR_BACKEND_GPU_INTERNAL_H
#define WR_BACKEND_GPU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/backend.h"
#include "runtime/gpu/gpu_ops.h"

extern wr_gpu *gpu_dev;                 /* the open device */
extern wr_gpu_matmul_precision gpu_prec; /* WANRT_GPU_PRECISION: fp32 or bf16 tensor cores */
/* WANRT_GPU_PRECISION=int8: Q8_0 matmuls take int8 activations; =fp8: F8_E4M3FN ones take e4m3
 * activations as well (wr_gpu_matmul_q); everything else keeps gpu_prec. */
extern bool gpu_act_i8, gpu_act_f8;

#define CHECK(expr)                                                                        \
    do {                                                                                   \
        wr_status st_ = (expr);                                                            \
        WR_ASSERT(st_ == WR_OK, "%s backend: %s", wr_gpu_kind_name(wr_gpu_get_kind(gpu_dev)), \
                  wr_last_error());                                                        \
    } while (0)

/* ---- staging (backend_gpu_stage.c) ----------------------------------------------------------- */

typedef struct stage {
    wr_tensor t;           /* what the launcher sees: contiguous, data on the device */
    const wr_tensor *orig; /* the caller's tensor */
    void *packed;          /* host copy when orig has strided rows */
    void *dev;             /* device copy (cuda) */
    size_t bytes;
} stage;

/* The bytes from a tensor's first to one past its last element (views included). */
size_t gpu_extent(const wr_tensor *t);
/* Operands in device memory (buffers, placed weights) are used in place; host tensors are staged
 * (copied to the device on CUDA, packed when strided) and, for outputs, copied back. */
void gpu_stage_in(stage *s, const wr_tensor *t, bool upload);
void gpu_stage_out(stage *s, bool download);
/* Ends an op: waits when it staged anything (its host copies are freed right after). */
void gpu_finish(void);

/* A host view of an operand for an op computed by the CPU backend: device-resident tensors
 * (buffers) are copied to the host and, for outputs, back; host tensors are used as they are. */
typedef struct mirror {
    wr_tensor t;
    const wr_tensor *orig;
    void *host;
} mirror;
void gpu_mirror_in(mirror *m, const wr_tensor *t, bool read);
void gpu_mirror_out(mirror *m, bool write_back);

typedef enum fallback_kind {
    FB_MATMUL,
    FB_ATTENTION,
    FB_TIMESTEP,
    FB_ATTENTION_BIAS,
    FB_ATTENTION_SAGE,
    FB_CONV3D,
    FB_CONV_TRANSPOSE,
    FB_COUNT
} fallback_kind;
/* One warning per kind of fallback and run. */
void gpu_note_fallback(fallback_kind kind, const char *what);

/* ---- attention family (backend_gpu_attention.c) --------------------------------------------- */

void gpu_rope_wan(wr_tensor *x, int grid_f, int grid_h, int grid_w);
void gpu_attention(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len, float scale,
                   wr_tensor *out);
void gpu_attention_sage(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len, float scale,
                        wr_tensor *out);
void gpu_self_attention_sage_fused(const wr_tensor *q_raw, const wr_tensor *k_raw, const wr_tensor *v,
                                   const wr_tensor *norm_q, const wr_tensor *norm_k, float eps, int grid_f, int grid_h,
                                   int grid_w, float scale, wr_tensor *out);
void gpu_attention_bias(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, const wr_tensor *bias,
                        const int32_t *key_mask, float scale, wr_tensor *out);
/* Frees the device tables the attention ops keep (RoPE tables, sage workspace). */
void gpu_rope_cache_drop(void);
void gpu_sage_cache_drop(void);

#endif
