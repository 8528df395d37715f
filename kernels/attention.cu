/* Flash-style attention (non-causal, as in Wan's self and cross attention): each warp owns one
 * query row and streams the keys/values in tiles of 32 through shared memory with the online
 * softmax (running max m, running sum l, rescaled accumulator), so the T x T score matrix is
 * never stored (Dao et al., FlashAttention, Alg. 1).
 * Entry point:
 *   attn_f32(q, k, v, o, Tq, Tk, NH, scale)
 *     q, o  [B][Tq][NH][HD] f32;  k, v  [B][Tk][NH][HD] f32 (contiguous; B = gridDim.z)
 *     o = softmax(scale * q k^T) v per head   (torch scaled_dot_product_attention)
 *   grid (ceil(Tq / WARPS), NH, B), block 32 * WARPS threads
 * Defines: HD (head dim: 64 or 128; a multiple of 32), WARPS (query rows per block, 4).
 * In a tile, lane j scores key j; the probabilities go through shared memory so each lane then
 * accumulates its HD/32 output dims over the tile's 32 keys.
 * CPU twin: tests/gpu/test_ops.c until runtime/cpu/attention.c lands. */
#include "kernels/common.cuh"

#ifndef HD
#define HD 128
#endif
#ifndef WARPS
#define WARPS 4
#endif
#define KT 32 /* keys per tile */
static_assert(HD % 32 == 0 && HD >= 32 && HD <= 256, "HD is a multiple of 32 up to 256");
static_assert(WARPS >= 1 && WARPS <= 8, "WARPS is 1..8");

extern "C" __global__ void __launch_bounds__(32 * WARPS) attn_f32(const float *__restrict__ q, const float *__restrict__ k,
                                                                 const float *__restrict__ v, float *__restrict__ o,
                                                                 int Tq, int Tk, int NH, float scale)
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
