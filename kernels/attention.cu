/* Flash-style attention (non-causal, as in Wan's self and cross attention): each warp owns one
 * query row and streams the keys/values in tiles of 32 through shared memory with the online
 * softmax (running max m, running sum l, rescaled accumulator), so the T x T score matrix is
 * never stored (Dao et al., FlashAttention, Alg. 1).
 * Entry points (same parameters):
 *   attn_f32        fp32 throughout; block 32 * WARPS threads, grid (ceil(Tq / WARPS), NH, B)
 *   attn_bias_f32   attn_f32 plus T5's additive bias and key mask: (q, k, v, bias, key_mask, o, ...)
 *                   bias [NH][Tq][Tk] f32 or NULL, key_mask [Tk] int32 (0 = masked) or NULL
 *   attn_bf16_mma   tensor cores (sm_80+, FlashAttention-2 layout): each warp owns 16 query rows,
 *                   q/k/v and the probabilities rounded to bf16, fp32 scores, softmax statistics
 *                   and accumulators; block 32 * WARPS threads, grid (ceil(Tq / (16 WARPS)), NH, B)
 *   (q, k, v, o, Tq, Tk, NH, scale)
 *     q, o  [B][Tq][NH][HD] f32;  k, v  [B][Tk][NH][HD] f32 (contiguous; B = gridDim.z)
 *     o = softmax(scale * q k^T) v per head   (torch scaled_dot_product_attention)
 * Defines: HD (head dim: 64 or 128; a multiple of 32), WARPS (query rows per block, 4).
 * In a tile, lane j scores key j; the probabilities go through shared memory so each lane then
 * accumulates its HD/32 output dims over the tile's 32 keys.
 * CPU twin: tests/gpu/test_ops.c until runtime/cpu/attention.c lands. */
#include "kernels/common.cuh"
#include "kernels/ptx.cuh"

#ifndef HD
#define HD 128
#endif
#ifndef WARPS
#define WARPS 4
#endif
#define KT 32 /* keys per tile */
static_assert(HD % 32 == 0 && HD >= 32 && HD <= 256, "HD is a multiple of 32 up to 256");
static_assert(WARPS >= 1 && WARPS <= 8, "WARPS is 1..8");

/* The fp32 kernel body; BIAS adds T5's relative-position bias [NH][Tq][Tk] (or nothing when
 * bias is NULL) and masks keys with key_mask[j] == 0 by adding float's lowest value, as the CPU
 * twin (runtime/cpu/attention.c) and torch masked_fill(finfo.min) do. */
template <bool BIAS>
__device__ __forceinline__ void attn_f32_body(const float *__restrict__ q, const float *__restrict__ k,
                                              const float *__restrict__ v, const float *__restrict__ bias,
                                              const int *__restrict__ key_mask, float *__restrict__ o, int Tq,
                                              int Tk, int NH, float scale)
{
    __shared__ float Ks[KT][HD + 1];
    __shared__ float Vs[KT][HD];
    __shared__ float Qs[WARPS][HD];
    __shared__ float Ps[WARPS][KT];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int h = blockIdx.y, b = blockIdx.z;
    int t = blockIdx.x * WARPS + warp;
    bool active = t < Tq;
    size_t qrow = (((size_t)b * Tq + (active ? t : 0)) * NH + h) * HD;
    for (int d = lane; d < HD; d += 32)
        Qs[warp][d] = active ? q[qrow + d] * scale : 0.0f;
    float acc[HD / 32];
#pragma unroll
    for (int i = 0; i < HD / 32; i++)
        acc[i] = 0.0f;
    float m = WR_NEG_INF, l = 0.0f;

    for (int j0 = 0; j0 < Tk; j0 += KT) {
        /* load the K and V tiles (zeros past Tk) */
        __syncthreads();
        for (int e = threadIdx.x; e < KT * HD; e += 32 * WARPS) {
            int j = e / HD, d = e % HD;
            size_t row = (((size_t)b * Tk + j0 + j) * NH + h) * HD;
            bool in = j0 + j < Tk;
            Ks[j][d] = in ? k[row + d] : 0.0f;
            Vs[j][d] = in ? v[row + d] : 0.0f;
        }
        __syncthreads();
        /* scores: lane j against key j0 + j */
        float s = WR_NEG_INF;
        if (j0 + lane < Tk) {
            s = 0.0f;
#pragma unroll 8
            for (int d = 0; d < HD; d++)
                s += Qs[warp][d] * Ks[lane][d];
            if (BIAS) {
                int j = j0 + lane;
                if (key_mask && !key_mask[j])
                    s += -3.402823466e+38f; /* -FLT_MAX */
                else if (bias && active)
                    s += bias[((size_t)h * Tq + t) * Tk + j];
            }
        }
        float m_new = fmaxf(m, wr_warp_max(s));
        float p = j0 + lane < Tk ? expf(s - m_new) : 0.0f;
        float corr = expf(m - m_new); /* 0 on the first tile (m = -inf) */
        l = l * corr + wr_warp_sum(p);
        Ps[warp][lane] = p;
        __syncwarp();
#pragma unroll
        for (int i = 0; i < HD / 32; i++) {
            float a = acc[i] * corr;
            for (int j = 0; j < KT; j++)
                a += Ps[warp][j] * Vs[j][lane + 32 * i];
            acc[i] = a;
        }
        __syncwarp();
        m = m_new;
    }
    if (active)
#pragma unroll
        for (int i = 0; i < HD / 32; i++)
            o[qrow + lane + 32 * i] = acc[i] / l;
}

extern "C" __global__ void __launch_bounds__(32 * WARPS) attn_f32(const float *__restrict__ q, const float *__restrict__ k,
                                                                 const float *__restrict__ v, float *__restrict__ o,
                                                                 int Tq, int Tk, int NH, float scale)
{
    attn_f32_body<false>(q, k, v, nullptr, nullptr, o, Tq, Tk, NH, scale);
}

extern "C" __global__ void __launch_bounds__(32 * WARPS) attn_bias_f32(const float *__restrict__ q,
                                                                      const float *__restrict__ k,
                                                                      const float *__restrict__ v,
                                                                      const float *__restrict__ bias,
                                                                      const int *__restrict__ key_mask,
                                                                      float *__restrict__ o, int Tq, int Tk, int NH,
                                                                      float scale)
{
    attn_f32_body<true>(q, k, v, bias, key_mask, o, Tq, Tk, NH, scale);
}

/* ---- tensor-core variant --------------------------------------------------------------------- */

#define AP (HD + 8) /* shared row pitch in bf16: 16-byte aligned rows, conflict-free ldmatrix */

__device__ __forceinline__ uint32_t attn_pack_bf16(float lo, float hi)
{
    return (uint32_t)wr_f32_to_bf16_bits(lo) | ((uint32_t)wr_f32_to_bf16_bits(hi) << 16);
}

extern "C" __global__ void __launch_bounds__(32 * WARPS) attn_bf16_mma(const float *__restrict__ q,
                                                                      const float *__restrict__ k,
                                                                      const float *__restrict__ v,
                                                                      float *__restrict__ o, int Tq, int Tk, int NH,
                                                                      float scale)
{
    __shared__ __align__(16) uint16_t Qs[16 * WARPS][AP];
    __shared__ __align__(16) uint16_t Ks[KT][AP];
    __shared__ __align__(16) uint16_t Vs[KT][AP];
    int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    int h = blockIdx.y, b = blockIdx.z, t0 = blockIdx.x * 16 * WARPS;

    /* load: the block's query rows (zeros past Tq), rounded to bf16 */
    for (int e = tid; e < 16 * WARPS * HD; e += 32 * WARPS) {
        int r = e / HD, d = e % HD, tq = t0 + r;
        Qs[r][d] = wr_f32_to_bf16_bits(tq < Tq ? q[(((size_t)b * Tq + tq) * NH + h) * HD + d] : 0.0f);
    }
    __syncthreads();
    uint32_t qf[HD / 16][4]; /* A fragments of this warp's 16 rows, one per k16 step of HD */
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++)
        ldmatrix_x4(qf[kk], &Qs[warp * 16 + lane % 16][kk * 16 + 8 * (lane / 16)]);

    float acc[HD / 8][4]; /* O: 16 rows x HD as HD/8 C fragments */
#pragma unroll
    for (int i = 0; i < HD / 8; i++)
#pragma unroll
        for (int e = 0; e < 4; e++)
            acc[i][e] = 0.0f;
    float m[2] = {WR_NEG_INF, WR_NEG_INF}; /* running max of rows g and g+8 */
    float l[2] = {0.0f, 0.0f};             /* this lane's part of the running sums */

    for (int j0 = 0; j0 < Tk; j0 += KT) {
        __syncthreads(); /* the previous tile is no longer read */
        for (int e = tid; e < KT * HD; e += 32 * WARPS) {
            int j = e / HD, d = e % HD;
            size_t row = (((size_t)b * Tk + j0 + j) * NH + h) * HD;
            bool in = j0 + j < Tk;
            Ks[j][d] = wr_f32_to_bf16_bits(in ? k[row + d] : 0.0f);
            Vs[j][d] = wr_f32_to_bf16_bits(in ? v[row + d] : 0.0f);
        }
        __syncthreads();
        /* S = Q K^T: 16 x KT as KT/8 C fragments */
        float s[KT / 8][4];
#pragma unroll
        for (int ni = 0; ni < KT / 8; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                s[ni][e] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++)
#pragma unroll
            for (int nj = 0; nj < KT / 16; nj++) {
                uint32_t r[4];
                ldmatrix_x4(r, &Ks[nj * 16 + (lane / 16) * 8 + lane % 8][kk * 16 + 8 * ((lane / 8) % 2)]);
                uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
                mma_m16n8k16_bf16bf16f32(s[2 * nj], qf[kk], b0, s[2 * nj]);
                mma_m16n8k16_bf16bf16f32(s[2 * nj + 1], qf[kk], b1, s[2 * nj + 1]);
            }
        /* online softmax per row (a row's values sit in the 4 lanes of a group) */
        float mx[2] = {WR_NEG_INF, WR_NEG_INF};
#pragma unroll
        for (int ni = 0; ni < KT / 8; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = j0 + ni * 8 + 2 * t + (e & 1);
                s[ni][e] = key < Tk ? s[ni][e] * scale : WR_NEG_INF;
                mx[e / 2] = fmaxf(mx[e / 2], s[ni][e]);
            }
        float corr[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(WR_FULL_MASK, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(WR_FULL_MASK, mx[r], 2));
            float m_new = fmaxf(m[r], mx[r]);
            corr[r] = expf(m[r] - m_new); /* 0 on the first tile */
            m[r] = m_new;
            l[r] *= corr[r];
        }
#pragma unroll
        for (int ni = 0; ni < KT / 8; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                s[ni][e] = expf(s[ni][e] - m[e / 2]); /* 0 for masked keys */
                l[e / 2] += s[ni][e];
            }
#pragma unroll
        for (int i = 0; i < HD / 8; i++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                acc[i][e] *= corr[e / 2];
        /* O += P V: P's C fragments are A fragments of k16 steps over the keys; V through
         * ldmatrix.trans ([key][hd] rows -> the "col" operand) */
#pragma unroll
        for (int ks = 0; ks < KT / 16; ks++) {
            uint32_t pa[4] = {attn_pack_bf16(s[2 * ks][0], s[2 * ks][1]), attn_pack_bf16(s[2 * ks][2], s[2 * ks][3]),
                              attn_pack_bf16(s[2 * ks + 1][0], s[2 * ks + 1][1]),
                              attn_pack_bf16(s[2 * ks + 1][2], s[2 * ks + 1][3])};
#pragma unroll
            for (int nd = 0; nd < HD / 16; nd++) {
                uint32_t r[4];
                ldmatrix_x4_trans(r, &Vs[ks * 16 + ((lane / 8) % 2) * 8 + lane % 8][nd * 16 + (lane / 16) * 8]);
                uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
                mma_m16n8k16_bf16bf16f32(acc[2 * nd], pa, b0, acc[2 * nd]);
                mma_m16n8k16_bf16bf16f32(acc[2 * nd + 1], pa, b1, acc[2 * nd + 1]);
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
            int tq = t0 + warp * 16 + g + (e >= 2 ? 8 : 0);
            if (tq < Tq)
                o[(((size_t)b * Tq + tq) * NH + h) * HD + i * 8 + 2 * t + (e & 1)] = acc[i][e] / l[e / 2];
        }
}
