/* cuBLASLt GEMMs on a CUDA wr_gpu: the vendor reference the kernel benchmarks (bench/kernels/)
 * compare our matmul kernels with. libcublasLt is opened with dlopen, like libcuda and NVRTC, so
 * nothing links against CUDA; a machine without it gets WR_E_DEVICE saying so.
 *
 * The product is wanrt's matmul convention, row-major with the weight in file layout:
 *   y[M][N] = (x[M][K] · x_scale) · (w[N][K] · w_scale)ᵀ        (torch.nn.functional.linear)
 * which is, in cuBLAS's column-major terms, D (N×M, ld N) = op(A = w: K×N, ld K)ᵀ · (B = x: K×M,
 * ld K) — the "TN" layout that cuBLASLt's fp8 kernels require.
 *   WR_CUBLASLT_BF16  x, w bf16; fp32 accumulation (CUBLAS_COMPUTE_32F); y f32 or bf16. sm_80+
 *   WR_CUBLASLT_FP8   x, w e4m3 with one f32 scale each per tensor (device pointers,
 *                     CUBLASLT_MATMUL_DESC_{B,A}_SCALE_POINTER); fp32 accumulation; y f32 or bf16;
 *                     K, N and M multiples of 16 (cuBLASLt's fp8 alignment rule). sm_89+
 * The algorithm is cuBLASLt's first heuristic choice for the problem within the workspace, looked
 * up once per (op, M, N, K, y dtype, fast_accum, which scales are given) and kept. Work is issued on the default stream
 * (the wr_gpu_stream handle of gpu_cuda.c is private to that file; a non-NULL stream is refused
 * until it exposes the CUstream). */
#ifndef WR_CUBLASLT_H
#define WR_CUBLASLT_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/dtype.h"
#include "runtime/gpu/gpu.h"

typedef struct wr_cublaslt wr_cublaslt;

typedef enum wr_cublaslt_op {
    WR_CUBLASLT_BF16, /* bf16 × bf16 → fp32 accumulation */
    WR_CUBLASLT_FP8,  /* e4m3 × e4m3 with per-tensor scales → fp32 accumulation */
    WR_CUBLASLT_OP_COUNT
} wr_cublaslt_op;

typedef struct wr_cublaslt_gemm {
    wr_cublaslt_op op;
    int64_t M, N, K;
    const void *x;      /* device [M][K], bf16 or e4m3 */
    const void *w;      /* device [N][K], same dtype as x */
    void *y;            /* device [M][N], y_dtype */
    wr_dtype y_dtype;   /* WR_DTYPE_F32 or WR_DTYPE_BF16 */
    const float *x_scale, *w_scale; /* FP8: device pointers to one float each (NULL = 1); BF16: unused */
    bool fast_accum;    /* FP8: CUBLASLT_MATMUL_DESC_FAST_ACCUM (no periodic promotion of partial sums) */
} wr_cublaslt_gemm;

/* Opens libcublasLt (libcublasLt.so.13, .12, or .so), creates a handle and a device workspace of
 * workspace_bytes (0: 32 MiB, NVIDIA's recommendation for Hopper). g must be a CUDA device:
 * the emulator is WR_E_UNSUPPORTED, a missing library WR_E_DEVICE naming the file. */
wr_status wr_cublaslt_open(wr_gpu *g, size_t workspace_bytes, wr_cublaslt **out);
void wr_cublaslt_close(wr_cublaslt *lt); /* accepts NULL */

/* "cuBLASLt 13.0.0" (from cublasLtGetVersion). */
const char *wr_cublaslt_version(const wr_cublaslt *lt);

/* Whether op runs on this device (BF16: sm_80+, FP8: sm_89+). */
bool wr_cublaslt_supports(const wr_cublaslt *lt, wr_cublaslt_op op);

/* Issues y = x wᵀ (see the file head) on the default stream; s must be NULL. The first call for a
 * problem asks the heuristic (no device work); an unsupported combination is WR_E_UNSUPPORTED with
 * cuBLASLt's status name. Asynchronous, like a kernel launch. */
wr_status wr_cublaslt_matmul(wr_cublaslt *lt, const wr_cublaslt_gemm *p, wr_gpu_stream *s);

#endif
