/* y = epilogue(x W^T · w_scale) with the weight kept in its file format and dequantised tile by
 * tile in shared memory (never a dequantised copy in global memory; gpu-design.md "Memory").
 * Entry points (same parameters):
 *   matmul_f32_w      fp32 FMA: 256 threads, each a 4x4 sub-tile
 *   matmul_bf16_mma   tensor cores (sm_80+): x and the dequantised weight rounded to bf16 in
 *                     shared memory, mma.m16n8k16 with fp32 accumulation; 128 threads, each warp a
 *                     32x32 sub-tile fed by ldmatrix
 *   (x, w, bias, y, M, N, K, w_row_bytes, w_scale, gate, gate_stride)
 *     x     [M][K] f32, rows contiguous
 *     w     [N][K] in WTYPE, row n at w + n * w_row_bytes (a PyTorch Linear weight, ne = {K, N})
 *     bias  [N] f32 (HAS_BIAS=1)
 *     y     [M][N] f32 (must not alias x); the residual, read and rewritten, when EPI = 3
 *     w_scale  per-tensor dequantisation scale (fp8 "scaled" weights; 1 otherwise)
 *     gate, gate_stride  EPI = 3 with GATE 1 or 2 (kernels/mm_epilogue.cuh)
 * Defines:
 *   WTYPE    0 f32, 1 bf16, 2 fp8 e4m3fn, 3 Q8_0 (ggml block_q8_0: f16 d + 32 int8; K % 32 == 0)
 *   HAS_BIAS, EPI, GATE  the epilogue (kernels/mm_epilogue.cuh): bias, then an activation or the
 *            gated residual y += v · gate
 *   BM, BN   output tile (64), BK the k step (32); 256 threads, each a 4x4 sub-tile
 * Arithmetic: matmul_f32_w: fp32 products and sums, k ascending within a tile (the CPU twin sums
 * in the same precision but a different order: compare by normalised error). matmul_bf16_mma:
 * products of bf16-rounded operands (exact in fp32), fp32 sums in the tensor core's order. Then
 * v = acc · w_scale and the epilogue, rounded as its CPU twin (runtime/cpu/matmul_epilogue.c).
 * CPU twin: runtime/cpu/matmul.c (torch.nn.functional.linear); tests: tests/gpu/test_ops.c,
 * tests/gpu/test_matmul_epilogue.c. */
#include "kernels/common.cuh"
#include "kernels/ptx.cuh"
#include "kernels/quant_blocks.h"
#include "kernels/mm_epilogue.cuh"

#ifndef WTYPE
#define WTYPE 0
#endif
#define BM 64
#define BN 64
#define BK 32
#define TM 4
#define TN 4
static_assert(WTYPE >= 0 && WTYPE <= 3, "WTYPE is 0 f32, 1 bf16, 2 e4m3, 3 q8_0");
static_assert((BM / TM) * (BN / TN) == 256, "256 threads cover the tile");
static_assert(WTYPE != 3 || BK == QK8_0, "a Q8_0 block spans one k step");

/* W[n][k] as float; the caller checks n < N and k < K */
__device__ __forceinline__ float mm_load_w(const unsigned char *w, long long row_bytes, int n, int k)
{
    const unsigned char *row = w + (size_t)n * row_bytes;
#if WTYPE == 0
    return ((const float *)row)[k];
#elif WTYPE == 1
    return wr_bf16_bits_to_f32(((const uint16_t *)row)[k]);
#elif WTYPE == 2
    __nv_fp8_e4m3 q;
    q.__x = row[k];
    return (float)q;
#else
    const block_q8_0 *blk = (const block_q8_0 *)row + k / QK8_0;
    return wr_f16_bits_to_f32(blk->d) * (float)blk->qs[k % QK8_0];
#endif
}

extern "C" __global__ void __launch_bounds__(256) matmul_f32_w(const float *__restrict__ x, const void *__restrict__ w,
                                                              const float *__restrict__ bias, float *__restrict__ y,
                                                              int M, int N, int K, long long w_row_bytes,
                                                              float w_scale, const float *__restrict__ gate,
                                                              long long gate_stride)
{
    __shared__ float Xs[BK][BM + 1]; /* k-major so the compute loop reads rows */
    __shared__ float Ws[BK][BN + 1];
    const unsigned char *wb = (const unsigned char *)w;
    int tid = threadIdx.x;
    int tx = tid % (BN / TN), ty = tid / (BN / TN);
    int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++)
            acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += BK) {
        /* load: 64 x 32 elements of each operand, 8 per thread; out-of-range elements are 0 */
        for (int e = tid; e < BM * BK; e += 256) {
            int r = e / BK, c = e % BK;
            int m = m0 + r, k = k0 + c;
            Xs[c][r] = m < M && k < K ? x[(size_t)m * K + k] : 0.0f;
        }
        for (int e = tid; e < BN * BK; e += 256) {
            int r = e / BK, c = e % BK;
            int n = n0 + r, k = k0 + c;
            Ws[c][r] = n < N && k < K ? mm_load_w(wb, w_row_bytes, n, k) : 0.0f;
        }
        __syncthreads();
        /* compute */
#pragma unroll 4
        for (int kk = 0; kk < BK; kk++) {
            float a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; i++)
                a[i] = Xs[kk][ty * TM + i];
#pragma unroll
            for (int j = 0; j < TN; j++)
                b[j] = Ws[kk][tx * TN + j];
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++)
                    acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
    /* epilogue: scale, then bias and the activation or gated residual (kernels/mm_epilogue.cuh) */
#pragma unroll
    for (int i = 0; i < TM; i++) {
        int m = m0 + ty * TM + i;
        if (m >= M)
            continue;
#pragma unroll
        for (int j = 0; j < TN; j++) {
            int n = n0 + tx * TN + j;
            if (n < N)
                mm_epilogue(y, bias, gate, gate_stride, N, m, n, acc[i][j] * w_scale);
        }
    }
}

/* ---- tensor-core variant ------------------------------------------------------------------- */

#define MMA_PAD 8 /* bf16 elements of padding per shared row: rows stay 16-byte aligned and
                     the 8 rows an ldmatrix reads fall in different banks */

extern "C" __global__ void __launch_bounds__(128) matmul_bf16_mma(const float *__restrict__ x, const void *__restrict__ w,
                                                                 const float *__restrict__ bias, float *__restrict__ y,
                                                                 int M, int N, int K, long long w_row_bytes,
                                                                 float w_scale, const float *__restrict__ gate,
                                                                 long long gate_stride)
{
    __shared__ __align__(16) uint16_t As[BM][BK + MMA_PAD]; /* [m][k] bf16 bits */
    __shared__ __align__(16) uint16_t Bs[BN][BK + MMA_PAD]; /* [n][k]: the "col" operand */
    const unsigned char *wb = (const unsigned char *)w;
    int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    int wm = warp / 2, wn = warp % 2; /* the warp's 32x32 sub-tile */
    int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                acc[i][j][e] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += BK) {
        /* load: round to bf16 into shared memory, zeros out of range */
        for (int e = tid; e < BM * BK; e += 128) {
            int r = e / BK, c = e % BK, m = m0 + r, k = k0 + c;
            As[r][c] = wr_f32_to_bf16_bits(m < M && k < K ? x[(size_t)m * K + k] : 0.0f);
        }
        for (int e = tid; e < BN * BK; e += 128) {
            int r = e / BK, c = e % BK, n = n0 + r, k = k0 + c;
            Bs[r][c] = wr_f32_to_bf16_bits(n < N && k < K ? mm_load_w(wb, w_row_bytes, n, k) : 0.0f);
        }
        __syncthreads();
        /* compute: two k16 steps, 2 x 4 mma per step per warp */
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            uint32_t a[2][4], b[4][2];
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
                ldmatrix_x4(a[mi], &As[wm * 32 + mi * 16 + lane % 16][kk + 8 * (lane / 16)]);
#pragma unroll
            for (int nj = 0; nj < 2; nj++) {
                uint32_t r[4]; /* n-tiles 2nj and 2nj+1: (n 0-7, k lo), (n 0-7, k hi), (n 8-15, ...) */
                ldmatrix_x4(r, &Bs[wn * 32 + nj * 16 + (lane / 16) * 8 + lane % 8][kk + 8 * ((lane / 8) % 2)]);
                b[2 * nj][0] = r[0];
                b[2 * nj][1] = r[1];
                b[2 * nj + 1][0] = r[2];
                b[2 * nj + 1][1] = r[3];
            }
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++)
                    mma_m16n8k16_bf16bf16f32(acc[mi][ni], a[mi], b[ni], acc[mi][ni]);
        }
        __syncthreads();
    }
    /* epilogue: the C fragment layout (kernels/ptx.cuh) to rows and columns */
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int m = m0 + wm * 32 + mi * 16 + mma_c_row(lane, e);
                int n = n0 + wn * 32 + ni * 8 + mma_c_col(lane, e);
                if (m < M && n < N)
                    mm_epilogue(y, bias, gate, gate_stride, N, m, n, acc[mi][ni][e] * w_scale);
            }
}
