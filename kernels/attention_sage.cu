/* Sage-style quantised attention (SageAttention 1/2, Zhang et al.; non-causal, as Wan's
 * attention): INT8 Q·Kᵀ on the tensor cores, fp32 online softmax in the log2 domain, P·V in fp16
 * (or e4m3 from sm_89) with fp32 accumulators. The quantisation contract (K smoothing, block scales, codes) is
 * kernels/sage_layout.h. CPU twin: runtime/cpu/attention_sage.c (same block structure and
 * summation order as the emulated mma, so the emulator matches it to the bit).
 * Entry points (q, k, v, o are [B][T][NH][HD] f32; codes int8 in the same layout; B = gridDim.z):
 *   sage_k_sum_chunks  (k, part, Tk, NH): part[b][h][c][d] = in-order sum of k over the keys of chunk c
 *                      (SAGE_SUM_CHUNK keys); block HD threads, grid (ceil(Tk / SAGE_SUM_CHUNK), NH, B)
 *   sage_k_mean        (part, mean, Tk, NH): mean[b][h][d] = (in-order sum of the chunk sums) / Tk
 *                      block HD threads, grid (NH, B)
 *   sage_quant_i8      (x, mean, x8, scales, T, NH, rows, extra): x8 = codes of x − mean (mean
 *                      [B][NH][HD] or NULL) per block of `rows` tokens, scales [B][NH][ceil(T/rows)]
 *                      = amax / 127 · extra; block 128 threads, grid (ceil(T / rows), NH, B)
 *   attn_qk_i8_pv_f16  (q8, qs, k8, ks, v, o, Tq, Tk, NH): o = softmax(Q Kᵀ) V with Q = q8 · qs
 *                      (qs carries softmax scale · log2e, rows of SAGE_Q_ROWS), K = k8 · ks
 *                      (SAGE_K_ROWS keys per scale); each warp owns 16 query rows, keys stream in
 *                      tiles of SAGE_K_ROWS through shared memory (V rounded to fp16 there).
 *                      block 32 * WARPS threads, grid (ceil(Tq / (16 WARPS)), NH, B); sm_80+
 *   sage_v_amax        (v, mean, amax, Tk, NH): amax[b][h][d] (f32 bits, zeroed before) = max |v − mean|
 *                      over the Tk keys by atomicMax (mean: V's, by the two K-mean kernels);
 *                      block HD threads, grid (ceil(Tk / SAGE_SUM_CHUNK), NH, B)
 *   sage_quant_v_f8    (v, mean, amax, v8, vscale, Tk, NH): e4m3 codes of v − mean with one scale per
 *                      channel (vscale [B][NH][HD] = amax / 448); block HD, grid as sage_v_amax
 *   attn_qk_i8_pv_f8   (q8, qs, k8, ks, v8, vscale, vmean, o, Tq, Tk, NH): attn_qk_i8_pv_f16 with P·V
 *                      in e4m3 (P · 448) and a two-level fp32 accumulation, V smoothed by its channel
 *                      mean, added back exactly at the end as the rows of P sum to 1
 *                      (SageAttention2 smooth_v); sm_89+
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
static_assert(SAGE_K_ROWS % 32 == 0, "key tiles are whole k16 (fp16) and k32 (e4m3) steps of P·V");

#define SKT SAGE_K_ROWS /* keys per tile = keys per K scale */
#define KP (HD + 16)    /* int8 row pitch (bytes): 16-byte aligned, rows g at banks 4g + t */
#define VP (HD + 8)     /* fp16 row pitch: 16-byte aligned rows, conflict-free ldmatrix */

extern "C" __global__ void __launch_bounds__(HD) sage_k_sum_chunks(const float *__restrict__ k,
                                                                  float *__restrict__ part, int Tk, int NH)
{
    int d = threadIdx.x, c = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    int j1 = min(Tk, (c + 1) * SAGE_SUM_CHUNK);
    float s = 0.0f;
#pragma unroll 8
    for (int j = c * SAGE_SUM_CHUNK; j < j1; j++)
        s += k[(((size_t)b * Tk + j) * NH + h) * HD + d];
    part[(((size_t)b * NH + h) * gridDim.x + c) * HD + d] = s;
}

extern "C" __global__ void __launch_bounds__(HD) sage_k_mean(const float *__restrict__ part, float *__restrict__ mean,
                                                            int Tk, int NH)
{
    int d = threadIdx.x, h = blockIdx.x, b = blockIdx.y, nc = sage_nblocks(Tk, SAGE_SUM_CHUNK);
    float s = 0.0f;
    for (int c = 0; c < nc; c++)
        s += part[(((size_t)b * NH + h) * nc + c) * HD + d];
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
    amax = wr_block128_max(amax, red);
    float mul = sage_code_mul(amax);
    for (int e = threadIdx.x; e < n; e += 128) {
        int r = e / HD, d = e % HD;
        size_t at = (((size_t)b * T + t0 + r) * NH + h) * HD + d;
        x8[at] = (int8_t)sage_code(x[at] - (mu ? mu[d] : 0.0f), mul);
    }
    if (threadIdx.x == 0)
        scales[sage_scale_index(b, h, t0, NH, T, rows)] = sage_stored_scale(amax, extra);
}

extern "C" __global__ void __launch_bounds__(HD) sage_v_amax(const float *__restrict__ v, const float *__restrict__ mean,
                                                            unsigned *__restrict__ amax, int Tk, int NH)
{
    int d = threadIdx.x, c = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    int j1 = min(Tk, (c + 1) * SAGE_SUM_CHUNK);
    float mu = mean[((size_t)b * NH + h) * HD + d], m = 0.0f;
#pragma unroll 8
    for (int j = c * SAGE_SUM_CHUNK; j < j1; j++)
        m = fmaxf(m, fabsf(v[(((size_t)b * Tk + j) * NH + h) * HD + d] - mu));
    atomicMax(&amax[((size_t)b * NH + h) * HD + d], __float_as_uint(m)); /* non-negative: ordered as ints */
}

extern "C" __global__ void __launch_bounds__(HD) sage_quant_v_f8(const float *__restrict__ v,
                                                                const float *__restrict__ mean,
                                                                const unsigned *__restrict__ amax,
                                                                uint8_t *__restrict__ v8, float *__restrict__ vscale,
                                                                int Tk, int NH)
{
    int d = threadIdx.x, c = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    float a = __uint_as_float(amax[((size_t)b * NH + h) * HD + d]), mul = sage_v_code_mul(a);
    float mu = mean[((size_t)b * NH + h) * HD + d];
    int j1 = min(Tk, (c + 1) * SAGE_SUM_CHUNK);
    for (int j = c * SAGE_SUM_CHUNK; j < j1; j++) {
        size_t at = (((size_t)b * Tk + j) * NH + h) * HD + d;
        v8[at] = wr_f32_to_e4m3_bits((v[at] - mu) * mul);
    }
    if (c == 0)
        vscale[((size_t)b * NH + h) * HD + d] = sage_v_stored_scale(a);
}

__device__ __forceinline__ uint32_t sage_pack_f16(float lo, float hi)
{
    return (uint32_t)wr_f32_to_f16_bits(lo) | ((uint32_t)wr_f32_to_f16_bits(hi) << 16);
}

__device__ __forceinline__ uint32_t sage_pack_e4m3(float a, float b, float c, float d)
{
    return (uint32_t)wr_f32_to_e4m3_bits(a) | ((uint32_t)wr_f32_to_e4m3_bits(b) << 8) |
           ((uint32_t)wr_f32_to_e4m3_bits(c) << 16) | ((uint32_t)wr_f32_to_e4m3_bits(d) << 24);
}

#define VTP (SKT + 16) /* fp8 Vᵀ row pitch (bytes): rows g at banks 20g + t mod 32, distinct */

/* The attention body. F8 = false: v f32, rounded to fp16 into Vs[key][dim], P·V by m16n8k16 f16.
 * F8 = true: v8 e4m3 codes (sage_quant_v_f8) into Vᵀ[dim][slot] (sage_f8_slot order), P·448 in
 * e4m3, P·V by m16n8k32 e4m3 into a per-tile fp32 accumulator added to the running one (the
 * two-level accumulation of SageAttention2: the fp8 mma's internal accumulator is narrower than
 * fp32 on sm_89/90, so it never carries more than one tile), output · vscale / 448. */
template <bool F8>
__device__ __forceinline__ void sage_attn_body(const int8_t *__restrict__ q8, const float *__restrict__ qs,
                                               const int8_t *__restrict__ k8, const float *__restrict__ ks,
                                               const void *__restrict__ vsrc, const float *__restrict__ vscale,
                                               const float *__restrict__ vmean, float *__restrict__ o, int Tq, int Tk,
                                               int NH)
{
    __shared__ __align__(16) int8_t Ks[SKT][KP];
    __shared__ __align__(16) uint8_t Vbuf[F8 ? HD * VTP : SKT * VP * 2];
    uint16_t(*Vs)[VP] = (uint16_t(*)[VP])Vbuf; /* F16: [key][dim] */
    uint8_t(*Vt)[VTP] = (uint8_t(*)[VTP])Vbuf; /* F8: [dim][slot] */
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
            size_t at = (((size_t)b * Tk + j0 + j) * NH + h) * HD + d;
            if (F8)
                Vt[d][(j & ~31) + sage_f8_slot(j & 31)] = j0 + j < Tk ? ((const uint8_t *)vsrc)[at] : (uint8_t)0;
            else
                Vs[j][d] = wr_f32_to_f16_bits(j0 + j < Tk ? ((const float *)vsrc)[at] : 0.0f);
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
                int key = j0 + ni * 8 + mma_c_col(lane, e);
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
        if (F8) {
            /* O += P V in e4m3: per 32-key chunk, A = P·448 in slot order (a[0]: row g slots
             * 4t..4t+3 = keys 2t, 2t+1, 8+2t, 9+2t; a[2]: the same + 16), B = Vᵀ rows */
            uint32_t pa[SKT / 32][4];
#pragma unroll
            for (int kc = 0; kc < SKT / 32; kc++) {
                const float(*c)[4] = &s[4 * kc];
                pa[kc][0] = sage_pack_e4m3(c[0][0] * SAGE_F8_MAX, c[0][1] * SAGE_F8_MAX, c[1][0] * SAGE_F8_MAX,
                                           c[1][1] * SAGE_F8_MAX);
                pa[kc][1] = sage_pack_e4m3(c[0][2] * SAGE_F8_MAX, c[0][3] * SAGE_F8_MAX, c[1][2] * SAGE_F8_MAX,
                                           c[1][3] * SAGE_F8_MAX);
                pa[kc][2] = sage_pack_e4m3(c[2][0] * SAGE_F8_MAX, c[2][1] * SAGE_F8_MAX, c[3][0] * SAGE_F8_MAX,
                                           c[3][1] * SAGE_F8_MAX);
                pa[kc][3] = sage_pack_e4m3(c[2][2] * SAGE_F8_MAX, c[2][3] * SAGE_F8_MAX, c[3][2] * SAGE_F8_MAX,
                                           c[3][3] * SAGE_F8_MAX);
            }
#pragma unroll
            for (int nd = 0; nd < HD / 8; nd++) {
                float tile[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
                for (int kc = 0; kc < SKT / 32; kc++) {
                    const uint8_t *vr = &Vt[nd * 8 + g][kc * 32 + 4 * t];
                    uint32_t bf[2] = {*(const uint32_t *)vr, *(const uint32_t *)(vr + 16)};
                    mma_m16n8k32_e4m3e4m3f32(tile, pa[kc], bf, tile);
                }
#pragma unroll
                for (int e = 0; e < 4; e++)
                    acc[nd][e] += tile[e];
            }
        } else {
            /* O += P V in fp16 with fp32 accumulation: P's C fragments are A fragments of k16
             * steps over the keys; V through ldmatrix.trans ([key][hd] rows -> the "col" operand) */
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
            int tq = row0 + mma_c_row(lane, e), d = i * 8 + mma_c_col(lane, e);
            if (tq < Tq) {
                float y = acc[i][e] / l[e / 2];
                if (F8)
                    y = y * (vscale[((size_t)b * NH + h) * HD + d] / SAGE_F8_MAX) + vmean[((size_t)b * NH + h) * HD + d];
                o[(((size_t)b * Tq + tq) * NH + h) * HD + d] = y;
            }
        }
}

extern "C" __global__ void __launch_bounds__(32 * WARPS, 1) attn_qk_i8_pv_f16(const int8_t *__restrict__ q8,
                                                                             const float *__restrict__ qs,
                                                                             const int8_t *__restrict__ k8,
                                                                             const float *__restrict__ ks,
                                                                             const float *__restrict__ v,
                                                                             float *__restrict__ o, int Tq, int Tk,
                                                                             int NH)
{
    sage_attn_body<false>(q8, qs, k8, ks, v, nullptr, nullptr, o, Tq, Tk, NH);
}

extern "C" __global__ void __launch_bounds__(32 * WARPS, 1) attn_qk_i8_pv_f8(const int8_t *__restrict__ q8,
                                                                            const float *__restrict__ qs,
                                                                            const int8_t *__restrict__ k8,
                                                                            const float *__restrict__ ks,
                                                                            const uint8_t *__restrict__ v8,
                                                                            const float *__restrict__ vscale,
                                                                            const float *__restrict__ vmean,
                                                                            float *__restrict__ o, int Tq, int Tk,
                                                                            int NH)
{
#if defined(WR_EMU) || __CUDA_ARCH__ >= 890
    sage_attn_body<true>(q8, qs, k8, ks, v8, vscale, vmean, o, Tq, Tk, NH);
#else
    (void)q8, (void)qs, (void)k8, (void)ks, (void)v8, (void)vscale, (void)vmean, (void)o, (void)Tq, (void)Tk, (void)NH;
    __trap(); /* the launcher picks the fp8 kernel from sm_89 only */
#endif
}
