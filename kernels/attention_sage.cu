/* Sage-style quantised attention (SageAttention 1/2, Zhang et al.; non-causal, as Wan's
 * attention): INT8 Q·Kᵀ on the tensor cores, fp32 online softmax in the log2 domain, P·V in fp16
 * with fp32 accumulators. The quantisation contract (K smoothing, block scales, codes) is
 * kernels/sage_layout.h. CPU twin: runtime/cpu/attention_sage.c (same block structure and
 * summation order as the emulated mma, so the emulator matches it to the bit).
 * Entry points (q, k, v, o are [B][T][NH][HD] f32; codes int8 in the same layout; B = gridDim.z):
 *   sage_k_mean        (k, mean, Tk, NH): mean[b][h][d] = (sum over the Tk keys, in order) / Tk
 *                      block HD threads, grid (NH, B)
 *   sage_quant_i8      (x, mean, x8, scales, T, NH, rows, extra): x8 = codes of x − mean (mean
 *                      [B][NH][HD] or NULL) per block of `rows` tokens, scales [B][NH][ceil(T/rows)]
 *                      = amax / 127 · extra; block 128 threads, grid (ceil(T / rows), NH, B)
 *   attn_qk_i8_pv_f16  (q8, qs, k8, ks, v, o, Tq, Tk, NH): o = softmax(Q Kᵀ) V with Q = q8 · qs
 *                      (qs carries softmax scale · log2e, rows of SAGE_Q_ROWS), K = k8 · ks
 *                      (SAGE_K_ROWS keys per scale); each warp owns 16 query rows, keys stream in
 *                      tiles of SAGE_K_ROWS through shared memory (V rounded to fp16 there).
 *                      block 32 * WARPS threads, grid (ceil(Tq / (16 WARPS)), NH, B); sm_80+
 * Defines: HD (head dim: 64 or 128), WARPS (warps per block, 4). */
#include "kernels/common.cuh"
#include "kernels/ptx.cuh"
#include "kernels/sage_layout.h"

#ifndef HD
#define HD 128
#endif
#ifndef WARPS
#define WARPS 4
#endif
static_assert(HD == 64 || HD == 128, "HD is 64 or 128");
static_assert(WARPS >= 1 && WARPS <= 8, "WARPS is 1..8");
static_assert(SAGE_Q_ROWS == 16, "one Q scale per warp's 16 rows");
static_assert(SAGE_K_ROWS % 16 == 0, "key tiles are whole k16 steps of P·V");

#define SKT SAGE_K_ROWS /* keys per tile = keys per K scale */
#define KP (HD + 16)    /* int8 row pitch (bytes): 16-byte aligned, rows g at banks 4g + t */
#define VP (HD + 8)     /* fp16 row pitch: 16-byte aligned rows, conflict-free ldmatrix */

extern "C" __global__ void __launch_bounds__(HD) sage_k_mean(const float *__restrict__ k, float *__restrict__ mean,
                                                            int Tk, int NH)
{
    int d = threadIdx.x, h = blockIdx.x, b = blockIdx.y;
    float s = 0.0f;
    for (int j = 0; j < Tk; j++)
        s += k[(((size_t)b * Tk + j) * NH + h) * HD + d];
    mean[((size_t)b * NH + h) * HD + d] = s / (float)Tk;
}

extern "C" __global__ void __launch_bounds__(128) sage_quant_i8(const float *__restrict__ x,
                                                               const float *__restrict__ mean,
                                                               int8_t *__restrict__ x8, float *__restrict__ scales,
                                                               int T, int NH, int rows, float extra)
{
    __shared__ float red[4];
    int h = blockIdx.y, b = blockIdx.z, t0 = blockIdx.x * rows;
    int n = min(rows, T - t0) * HD;
    const float *mu = mean ? mean + ((size_t)b * NH + h) * HD : nullptr;
    float amax = 0.0f;
    for (int e = threadIdx.x; e < n; e += 128) {
        int r = e / HD, d = e % HD;
        float val = x[(((size_t)b * T + t0 + r) * NH + h) * HD + d] - (mu ? mu[d] : 0.0f);
        amax = fmaxf(amax, fabsf(val));
    }
    amax = wr_warp_max(amax);
    if (threadIdx.x % 32 == 0)
        red[threadIdx.x / 32] = amax;
    __syncthreads();
    amax = fmaxf(fmaxf(red[0], red[1]), fmaxf(red[2], red[3]));
    float mul = sage_code_mul(amax);
    for (int e = threadIdx.x; e < n; e += 128) {
        int r = e / HD, d = e % HD;
        size_t at = (((size_t)b * T + t0 + r) * NH + h) * HD + d;
        x8[at] = (int8_t)sage_code(x[at] - (mu ? mu[d] : 0.0f), mul);
    }
    if (threadIdx.x == 0)
        scales[sage_scale_index(b, h, t0, NH, T, rows)] = sage_stored_scale(amax, extra);
}

__device__ __forceinline__ uint32_t sage_pack_f16(float lo, float hi)
{
    return (uint32_t)wr_f32_to_f16_bits(lo) | ((uint32_t)wr_f32_to_f16_bits(hi) << 16);
}

extern "C" __global__ void __launch_bounds__(32 * WARPS, 1) attn_qk_i8_pv_f16(const int8_t *__restrict__ q8,
                                                                          const float *__restrict__ qs,
                                                                          const int8_t *__restrict__ k8,
                                                                          const float *__restrict__ ks,
                                                                          const float *__restrict__ v,
                                                                          float *__restrict__ o, int Tq, int Tk, int NH)
{
    __shared__ __align__(16) int8_t Ks[SKT][KP];
    __shared__ __align__(16) uint16_t Vs[SKT][VP];
    int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    int h = blockIdx.y, b = blockIdx.z, row0 = (blockIdx.x * WARPS + warp) * 16;

    /* load: this warp's Q codes straight into A fragments (zeros past Tq) and its scale */
    uint32_t qf[HD / 32][4];
#pragma unroll
    for (int kk = 0; kk < HD / 32; kk++)
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int row = row0 + g + ((r & 1) ? 8 : 0), col = kk * 32 + 4 * t + ((r & 2) ? 16 : 0);
            qf[kk][r] = row < Tq ? *(const uint32_t *)(q8 + (((size_t)b * Tq + row) * NH + h) * HD + col) : 0u;
        }
    float qsc = row0 < Tq ? qs[sage_scale_index(b, h, row0, NH, Tq, SAGE_Q_ROWS)] : 0.0f;

    float acc[HD / 8][4]; /* O: 16 rows x HD as HD/8 C fragments */
#pragma unroll
    for (int i = 0; i < HD / 8; i++)
#pragma unroll
        for (int e = 0; e < 4; e++)
            acc[i][e] = 0.0f;
    float m[2] = {WR_NEG_INF, WR_NEG_INF}; /* running max (log2 domain) of rows g and g+8 */
    float l[2] = {0.0f, 0.0f};             /* this lane's part of the running sums */

    for (int j0 = 0; j0 < Tk; j0 += SKT) {
        __syncthreads(); /* the previous tile is no longer read */
        for (int e = tid; e < SKT * HD / 4; e += 32 * WARPS) {
            int j = e / (HD / 4), c = (e % (HD / 4)) * 4;
            *(uint32_t *)&Ks[j][c] =
                j0 + j < Tk ? *(const uint32_t *)(k8 + (((size_t)b * Tk + j0 + j) * NH + h) * HD + c) : 0u;
        }
        for (int e = tid; e < SKT * HD; e += 32 * WARPS) {
            int j = e / HD, d = e % HD;
            Vs[j][d] = wr_f32_to_f16_bits(j0 + j < Tk ? v[(((size_t)b * Tk + j0 + j) * NH + h) * HD + d] : 0.0f);
        }
        __syncthreads();
        /* S = Q Kᵀ in int32 (exact), then dequantised: 16 x SKT as SKT/8 C fragments */
        int si[SKT / 8][4];
#pragma unroll
        for (int ni = 0; ni < SKT / 8; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                si[ni][e] = 0;
#pragma unroll
        for (int kk = 0; kk < HD / 32; kk++)
#pragma unroll
            for (int ni = 0; ni < SKT / 8; ni++) {
                const int8_t *kr = &Ks[ni * 8 + g][kk * 32 + 4 * t];
                uint32_t bf[2] = {*(const uint32_t *)kr, *(const uint32_t *)(kr + 16)};
                mma_m16n8k32_s8s8s32(si[ni], qf[kk], bf, si[ni]);
            }
        float sc = qsc * ks[sage_scale_index(b, h, j0, NH, Tk, SKT)];
        float s[SKT / 8][4];
        float mx[2] = {WR_NEG_INF, WR_NEG_INF};
#pragma unroll
        for (int ni = 0; ni < SKT / 8; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = j0 + ni * 8 + 2 * t + (e & 1);
                s[ni][e] = key < Tk ? (float)si[ni][e] * sc : WR_NEG_INF;
                mx[e / 2] = fmaxf(mx[e / 2], s[ni][e]);
            }
        /* online softmax per row (a row's values sit in the 4 lanes of a group) */
        float corr[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(WR_FULL_MASK, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(WR_FULL_MASK, mx[r], 2));
            float m_new = fmaxf(m[r], mx[r]);
            corr[r] = exp2f(m[r] - m_new); /* 0 on the first tile */
            m[r] = m_new;
            l[r] *= corr[r];
        }
#pragma unroll
        for (int ni = 0; ni < SKT / 8; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                s[ni][e] = exp2f(s[ni][e] - m[e / 2]); /* 0 for masked keys */
                l[e / 2] += s[ni][e];
            }
#pragma unroll
        for (int i = 0; i < HD / 8; i++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                acc[i][e] *= corr[e / 2];
        /* O += P V in fp16 with fp32 accumulation: P's C fragments are A fragments of k16 steps
         * over the keys; V through ldmatrix.trans ([key][hd] rows -> the "col" operand) */
#pragma unroll
        for (int kq = 0; kq < SKT / 16; kq++) {
            uint32_t pa[4] = {sage_pack_f16(s[2 * kq][0], s[2 * kq][1]), sage_pack_f16(s[2 * kq][2], s[2 * kq][3]),
                              sage_pack_f16(s[2 * kq + 1][0], s[2 * kq + 1][1]),
                              sage_pack_f16(s[2 * kq + 1][2], s[2 * kq + 1][3])};
#pragma unroll
            for (int nd = 0; nd < HD / 16; nd++) {
                uint32_t r[4];
                ldmatrix_x4_trans(r, &Vs[kq * 16 + ((lane / 8) % 2) * 8 + lane % 8][nd * 16 + (lane / 16) * 8]);
                uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
                mma_m16n8k16_f16f16f32(acc[2 * nd], pa, b0, acc[2 * nd]);
                mma_m16n8k16_f16f16f32(acc[2 * nd + 1], pa, b1, acc[2 * nd + 1]);
            }
        }
    }
    /* finish the row sums across the group's 4 lanes, normalise, store */
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(WR_FULL_MASK, l[r], 1);
        l[r] += __shfl_xor_sync(WR_FULL_MASK, l[r], 2);
    }
#pragma unroll
    for (int i = 0; i < HD / 8; i++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int tq = row0 + g + (e >= 2 ? 8 : 0);
            if (tq < Tq)
                o[(((size_t)b * Tq + tq) * NH + h) * HD + i * 8 + 2 * t + (e & 1)] = acc[i][e] / l[e / 2];
        }
}
