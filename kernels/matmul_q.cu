/* y = epilogue(x W^T · w_scale) with quantised activations on the tensor cores (issue #7), the
 * weight read in its file format (never dequantised to global memory; gpu-design.md "Memory").
 * Entry points:
 *   mmq_quant_i8       (x, xq, dx, M, K): per row m and 32-column block b, dx[m][b] = max|x| / 127
 *                      and xq[m][k] = rint(x / dx) as int8 (1 / dx precomputed: the arithmetic of
 *                      runtime/cpu/matmul_q8.c quantize_x); a block holding a NaN gets dx = NaN
 *                      (its row of y becomes NaN, as in the fp32 matmul). K % 32 == 0.
 *                      128 threads, one 32-block each; grid ceil(M * K / 32 / 128)
 *   matmul_q8_0_i8_mma (xq, dx, w, bias, y, M, N, K, w_row_bytes, w_scale, gate, gate_stride): Q8_0 weights (ggml
 *                      block_q8_0) × the int8 codes, mma.m16n8k32 s8·s8→s32 per 32-wide K block;
 *                      each block's exact s32 partial s gives acc = fma(float(s) · dx, dw, acc), blocks
 *                      ascending: the CPU twin's arithmetic (kernel_vnni) operation for operation,
 *                      then v = acc · w_scale and the epilogue. sm_80+
 *   mmq_quant_f8       (x, xq, sx, M, K, Kp): per row m, sx[m] = max|x| / 448 and xq[m][k] =
 *                      e4m3(x · (448 / max|x|)) (round to nearest even, saturating); row pitch Kp
 *                      (K rounded up to 32), the pad written as 0; NaN in the row -> sx = NaN.
 *                      128 threads per row; grid M
 *   matmul_f8_e4m3_mma (xq, sx, w, bias, y, M, N, K, Kp, w_row_bytes, w_scale, gate, gate_stride): fp8 e4m3 weights
 *                      (w_scale the per-tensor scale) × the e4m3 codes, mma.m16n8k32 e4m3 with fp32
 *                      accumulation over all of K, then v = acc · sx[m] · w_scale and the epilogue. sm_89+
 * The two mma kernels: 128 threads (4 warps, each a 32x32 sub-tile of the 64x64 output tile),
 * grid (ceil(N / 64), ceil(M / 64)); each shared-memory stage holds QSB = 4 k steps of 32 (one
 * barrier pair per 128 of K) as 8-bit codes with a 144-byte row pitch (the fragment words of rows
 * g = 0..7 fall in banks 4g + t: conflict-free). M, N, K are arguments: one module serves every
 * Wan 2.2 linear layer.
 * CPU twins: runtime/cpu/matmul_qact.c (portable loops, the emulated summation order: the
 * emulator matches both to the bit) and, for int8, the AVX512-VNNI route runtime/cpu/matmul_q8.c
 * (WANRT_Q8_ACT=int8). Tests: tests/gpu/test_matmul_q.c.
 * Defines: HAS_BIAS, EPI, GATE: the epilogue (kernels/mm_epilogue.cuh): + bias, then an activation
 * or the gated residual y[m][n] += v · gate (y read and rewritten in place); the quantisers take
 * none of them. */
#include "kernels/common.cuh"
#include "kernels/ptx.cuh"
#include "kernels/quant_blocks.h"
#include "kernels/mm_epilogue.cuh"

#define QBM 64
#define QBN 64
#define QBK 32              /* one mma k step = one Q8_0 block */
#define QSB 4               /* k steps per shared-memory stage */
#define QSK (QSB * QBK)     /* codes per row per stage */
#define QP (QSK + 16)       /* bytes per shared row: fragment words of rows g = 0..7 in banks 4g + t */
static_assert(QBK == QK8_0, "one Q8_0 block per k step");
static_assert(QBM * QSK % (16 * 128) == 0, "the code tiles are whole 16-byte rounds of 128 threads");

extern "C" __global__ void __launch_bounds__(128) mmq_quant_i8(const float *__restrict__ x, int8_t *__restrict__ xq,
                                                              float *__restrict__ dx, int M, int K)
{
    int nb = K / QBK;
    long long i = (long long)blockIdx.x * 128 + threadIdx.x;
    if (i >= (long long)M * nb)
        return;
    const float *src = x + (size_t)i * QBK; /* row i / nb, block i % nb: rows are contiguous */
    float v[QBK];
#pragma unroll
    for (int e = 0; e < QBK; e += 4) {
        float4 q = *(const float4 *)(src + e);
        v[e] = q.x, v[e + 1] = q.y, v[e + 2] = q.z, v[e + 3] = q.w;
    }
    float amax = 0.0f;
    bool nan = false;
#pragma unroll
    for (int e = 0; e < QBK; e++) {
        amax = fmaxf(amax, fabsf(v[e]));
        nan |= v[e] != v[e];
    }
    float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
    uint32_t words[QBK / 4];
#pragma unroll
    for (int e = 0; e < QBK; e += 4) {
        uint32_t wd = 0;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int c = nan ? 0 : __float2int_rn(v[e + j] * id);
            wd |= (uint32_t)(uint8_t)(int8_t)c << (8 * j);
        }
        words[e / 4] = wd;
    }
    uint4 *dst = (uint4 *)(xq + (size_t)i * QBK);
    dst[0] = uint4{words[0], words[1], words[2], words[3]};
    dst[1] = uint4{words[4], words[5], words[6], words[7]};
    dx[i] = nan ? __int_as_float(0x7fc00000) : d;
}

/* The A fragment (rows r0 + g, r0 + g + 8; k 4t.., 4t + 16..) and the two B fragments of n-tile
 * rows n0 + g from codes in shared memory ([row][k], QP pitch), at column k0. */
__device__ __forceinline__ void mmq_frag_a(uint32_t a[4], const int8_t (*As)[QP], int r0, int k0, int g, int t)
{
    a[0] = *(const uint32_t *)&As[r0 + g][k0 + 4 * t];
    a[1] = *(const uint32_t *)&As[r0 + g + 8][k0 + 4 * t];
    a[2] = *(const uint32_t *)&As[r0 + g][k0 + 4 * t + 16];
    a[3] = *(const uint32_t *)&As[r0 + g + 8][k0 + 4 * t + 16];
}

__device__ __forceinline__ void mmq_frag_b(uint32_t b[2], const int8_t (*Bs)[QP], int n0, int k0, int g, int t)
{
    b[0] = *(const uint32_t *)&Bs[n0 + g][k0 + 4 * t];
    b[1] = *(const uint32_t *)&Bs[n0 + g][k0 + 4 * t + 16];
}

/* 64 rows x QSK codes of a row-major int8 matrix (pitch `pitch` bytes, 16-byte aligned rows) from
 * column k0 into shared memory; rows past `rows` and 16-byte chunks at or past `cols` are 0.
 * 128 threads, 16 bytes each per round. */
__device__ __forceinline__ void mmq_load_codes(int8_t (*S)[QP], const int8_t *src, long long pitch, int r0, int rows,
                                               int k0, int cols)
{
#pragma unroll
    for (int i = 0; i < QBM * QSK / 16 / 128; i++) {
        int e = threadIdx.x + 128 * i, r = e / (QSK / 16), c = 16 * (e % (QSK / 16));
        uint4 v = {0u, 0u, 0u, 0u};
        if (r0 + r < rows && k0 + c < cols)
            v = *(const uint4 *)(src + (size_t)(r0 + r) * pitch + k0 + c);
        *(uint4 *)&S[r][c] = v;
    }
}

/* y tile store: acc (the C fragment layout of kernels/ptx.cuh) times the row's and the tensor's
 * scale, then the epilogue (bias, activation or gated residual). row_scale NULL: 1. */
__device__ __forceinline__ void mmq_store(float acc[2][4][4], const float *__restrict__ row_scale,
                                          const float *__restrict__ bias, float *__restrict__ y, int M, int N,
                                          int m0, int n0, float w_scale, const float *__restrict__ gate,
                                          long long gate_stride)
{
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, wm = warp / 2, wn = warp % 2;
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int m = m0 + wm * 32 + mi * 16 + mma_c_row(lane, e);
                int n = n0 + wn * 32 + ni * 8 + mma_c_col(lane, e);
                if (m >= M || n >= N)
                    continue;
                float v = acc[mi][ni][e];
                if (row_scale)
                    v *= row_scale[m];
                v *= w_scale;
                mm_epilogue(y, bias, gate, gate_stride, N, m, n, v);
            }
}

extern "C" __global__ void __launch_bounds__(128) matmul_q8_0_i8_mma(const int8_t *__restrict__ xq,
                                                                    const float *__restrict__ dx,
                                                                    const void *__restrict__ w,
                                                                    const float *__restrict__ bias,
                                                                    float *__restrict__ y, int M, int N, int K,
                                                                    long long w_row_bytes, float w_scale,
                                                                    const float *__restrict__ gate,
                                                                    long long gate_stride)
{
    __shared__ __align__(16) int8_t As[QBM][QP]; /* [m][k] activation codes */
    __shared__ __align__(16) int8_t Bs[QBN][QP]; /* [n][k] weight codes: the "col" operand */
    __shared__ float Dx[QSB][QBM], Dw[QSB][QBN];
    const unsigned char *wb = (const unsigned char *)w;
    int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, wm = warp / 2, wn = warp % 2, g = lane / 4, t = lane % 4;
    int m0 = blockIdx.y * QBM, n0 = blockIdx.x * QBN, nb = K / QBK;
    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                acc[i][j][e] = 0.0f;
    const int zero[4] = {0, 0, 0, 0};

    for (int kb0 = 0; kb0 < nb; kb0 += QSB) {
        mmq_load_codes(As, xq, K, m0, M, kb0 * QBK, K);
        /* the stage's QSB weight blocks of a row are 17 * QSB contiguous 2-byte words (d, then 16
         * pairs of codes; blocks are only 2-byte aligned); blocks past nb and rows past N read 0 */
        for (int e = tid; e < QBN * QSB * 17; e += 128) {
            int r = e / (QSB * 17), j = e % (QSB * 17), sb = j / 17, c = j % 17, n = n0 + r;
            uint16_t v = 0;
            if (n < N && kb0 + sb < nb)
                v = ((const uint16_t *)(wb + (size_t)n * w_row_bytes + (size_t)kb0 * sizeof(block_q8_0)))[j];
            if (c == 0)
                Dw[sb][r] = wr_f16_bits_to_f32(v);
            else
                ((uint16_t *)&Bs[r][sb * QBK])[c - 1] = v;
        }
        for (int e = tid; e < QSB * QBM; e += 128) {
            int sb = e / QBM, r = e % QBM, m = m0 + r;
            Dx[sb][r] = m < M && kb0 + sb < nb ? dx[(size_t)m * nb + kb0 + sb] : 0.0f;
        }
        __syncthreads();
#pragma unroll 1 /* unrolled: 168 registers at sm_80 instead of ~100 */
        for (int sb = 0; sb < QSB; sb++) {
            uint32_t a[2][4], b[4][2];
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
                mmq_frag_a(a[mi], As, wm * 32 + mi * 16, sb * QBK, g, t);
#pragma unroll
            for (int ni = 0; ni < 4; ni++)
                mmq_frag_b(b[ni], Bs, wn * 32 + ni * 8, sb * QBK, g, t);
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++) {
                    int s[4];
                    mma_m16n8k32_s8s8s32(s, a[mi], b[ni], zero);
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        float sx = (float)s[e] * Dx[sb][wm * 32 + mi * 16 + mma_c_row(lane, e)];
                        acc[mi][ni][e] = fmaf(sx, Dw[sb][wn * 32 + ni * 8 + mma_c_col(lane, e)], acc[mi][ni][e]);
                    }
                }
        }
        __syncthreads();
    }
    mmq_store(acc, NULL, bias, y, M, N, m0, n0, w_scale, gate, gate_stride);
}
/* ---- fp8 e4m3 ----------------------------------------------------------------------------- */

extern "C" __global__ void __launch_bounds__(128) mmq_quant_f8(const float *__restrict__ x, uint8_t *__restrict__ xq,
                                                              float *__restrict__ sx, int M, int K, int Kp)
{
    __shared__ float red[4];
    __shared__ int any_nan;
    int m = blockIdx.x;
    const float *row = x + (size_t)m * K;
    if (threadIdx.x == 0)
        any_nan = 0;
    __syncthreads();
    float amax = 0.0f;
    bool nan = false;
    for (int k = threadIdx.x; k < K; k += 128) {
        float v = row[k];
        amax = fmaxf(amax, fabsf(v));
        nan |= v != v;
    }
    if (nan)
        any_nan = 1; /* benign race: every writer stores 1 */
    amax = wr_block128_max(amax, red);
    float mul = amax > 0.0f ? 448.0f / amax : 0.0f;
    for (int k = threadIdx.x; k < Kp; k += 128)
        xq[(size_t)m * Kp + k] = k < K ? wr_f32_to_e4m3_bits(row[k] * mul) : 0;
    if (threadIdx.x == 0)
        sx[m] = any_nan ? __int_as_float(0x7fc00000) : amax / 448.0f;
}

extern "C" __global__ void __launch_bounds__(128) matmul_f8_e4m3_mma(const uint8_t *__restrict__ xq,
                                                                    const float *__restrict__ sx,
                                                                    const void *__restrict__ w,
                                                                    const float *__restrict__ bias,
                                                                    float *__restrict__ y, int M, int N, int K, int Kp,
                                                                    long long w_row_bytes, float w_scale,
                                                                    const float *__restrict__ gate,
                                                                    long long gate_stride)
{
    __shared__ __align__(16) int8_t As[QBM][QP];
    __shared__ __align__(16) int8_t Bs[QBN][QP];
    const unsigned char *wb = (const unsigned char *)w;
    int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, wm = warp / 2, wn = warp % 2, g = lane / 4, t = lane % 4;
    int m0 = blockIdx.y * QBM, n0 = blockIdx.x * QBN;
    /* 16-byte chunks, wholly inside K or past it, from 16-byte aligned rows */
    bool wvec = w_row_bytes % 16 == 0 && K % 16 == 0 && (size_t)w % 16 == 0;
    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                acc[i][j][e] = 0.0f;

    for (int k0 = 0; k0 < Kp; k0 += QSK) {
        mmq_load_codes(As, (const int8_t *)xq, Kp, m0, M, k0, Kp);
        if (wvec) {
            mmq_load_codes(Bs, (const int8_t *)wb, w_row_bytes, n0, N, k0, K);
        } else {
            for (int e = tid; e < QBN * QSK; e += 128) {
                int r = e / QSK, c = e % QSK, n = n0 + r, k = k0 + c;
                Bs[r][c] = (int8_t)(n < N && k < K ? wb[(size_t)n * w_row_bytes + k] : 0);
            }
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < QSK; kk += QBK) {
            uint32_t a[2][4], b[4][2];
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
                mmq_frag_a(a[mi], As, wm * 32 + mi * 16, kk, g, t);
#pragma unroll
            for (int ni = 0; ni < 4; ni++)
                mmq_frag_b(b[ni], Bs, wn * 32 + ni * 8, kk, g, t);
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++)
                    mma_m16n8k32_e4m3e4m3f32(acc[mi][ni], a[mi], b[ni], acc[mi][ni]);
        }
        __syncthreads();
    }
    mmq_store(acc, sx, bias, y, M, N, m0, n0, w_scale, gate, gate_stride);
}
