/* The fused preparation of Sage attention's q and k for Wan's self-attention (the issue's
 * "quantisation kernel fused with RoPE and the q/k RMSNorm"): from the raw projections it writes
 * the int8 codes and block scales of kernels/sage_layout.h directly, with q/k RMSNorm (over the
 * whole model dim) and the 3-D RoPE applied per element on the fly (kernels/sage_prepare.h), so
 * no normed or rotated f32 q or k goes to global memory. K is smoothed by its mean taken after
 * norm and RoPE, which needs every token first: pass 1 (sage_prep_k_sum_chunks, then
 * kernels/attention_sage.cu's sage_k_mean) forms the mean in the same chunk order as
 * sage_k_sum_chunks; pass 2 (sage_prep_quant_i8) recomputes norm + RoPE and quantises.
 * CPU twin: runtime/cpu/sage_prepare.c (the same arithmetic in the same order: bit-exact on the
 * emulator). Entry points (x raw f32 [B][T][NH][HD], rows of D = NH·HD; B = last grid dim):
 *   sage_prep_rms_inv      (x, inv, D, eps): inv[b·T + t] = 1/rms of token row t (order in
 *                          sage_prepare.h); block SAGE_RMS_THREADS threads, grid (T, B)
 *   sage_prep_k_sum_chunks (k, inv, w, rope_tab, part, T, NH, gf, gh, gw): part[b][h][c][d] =
 *                          in-order sum over the SAGE_SUM_CHUNK tokens of chunk c of the normed,
 *                          rotated k; block HD threads, grid (ceil(T / SAGE_SUM_CHUNK), NH, B)
 *   sage_prep_quant_i8     (x, inv, w, rope_tab, mean, x8, scales, T, NH, rows, extra, gf, gh, gw):
 *                          sage_quant_i8 of the normed, rotated x (minus mean [B][NH][HD] or
 *                          NULL); block 128 threads, grid (ceil(T / rows), NH, B)
 * w: the RMSNorm weight f32 [D]; rope_tab: kernels/rope_wan.h's angle table of the (gf, gh, gw)
 * grid. Defines: HD (head dim: 128, the head dim Wan's RoPE split is defined for). */
#include "kernels/common.cuh"
#include "kernels/sage_prepare.h"

#ifndef HD
#define HD 128
#endif
static_assert(HD == ROPE_WAN_HD, "Wan's RoPE (22/21/21 pairs) is defined for head dim 128");
static_assert(SAGE_RMS_THREADS % 32 == 0 && SAGE_RMS_THREADS <= 1024, "whole warps, one block");

extern "C" __global__ void __launch_bounds__(SAGE_RMS_THREADS) sage_prep_rms_inv(const float *__restrict__ x,
                                                                                float *__restrict__ inv, int D,
                                                                                float eps)
{
    __shared__ float red[SAGE_RMS_THREADS / 32];
    size_t row = (size_t)blockIdx.y * gridDim.x + blockIdx.x;
    const float *xr = x + row * D;
    float s = 0.0f;
    for (int c = threadIdx.x; c < D; c += SAGE_RMS_THREADS)
        s += xr[c] * xr[c];
    s = wr_warp_sum(s);
    if (threadIdx.x % 32 == 0)
        red[threadIdx.x / 32] = s;
    __syncthreads();
    if (threadIdx.x < 32) {
        s = wr_warp_sum(threadIdx.x < SAGE_RMS_THREADS / 32 ? red[threadIdx.x] : 0.0f);
        if (threadIdx.x == 0)
            inv[row] = 1.0f / sqrtf(s / (float)D + eps);
    }
}

extern "C" __global__ void __launch_bounds__(HD) sage_prep_k_sum_chunks(
    const float *__restrict__ k, const float *__restrict__ inv, const float *__restrict__ w,
    const float *__restrict__ rope_tab, float *__restrict__ part, int T, int NH, int gf, int gh, int gw)
{
    int d = threadIdx.x, c = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    int j1 = min(T, (c + 1) * SAGE_SUM_CHUNK);
    float s = 0.0f;
    for (int j = c * SAGE_SUM_CHUNK; j < j1; j++) {
        size_t tok = (size_t)b * T + j;
        s += sage_prep_value(k + tok * NH * HD, w, inv[tok], rope_tab, j, h, d, gf, gh, gw);
    }
    part[(((size_t)b * NH + h) * gridDim.x + c) * HD + d] = s;
}

extern "C" __global__ void __launch_bounds__(128) sage_prep_quant_i8(
    const float *__restrict__ x, const float *__restrict__ inv, const float *__restrict__ w,
    const float *__restrict__ rope_tab, const float *__restrict__ mean, int8_t *__restrict__ x8,
    float *__restrict__ scales, int T, int NH, int rows, float extra, int gf, int gh, int gw)
{
    __shared__ float red[4];
    int h = blockIdx.y, b = blockIdx.z, t0 = blockIdx.x * rows;
    int n = min(rows, T - t0) * HD;
    const float *mu = mean ? mean + ((size_t)b * NH + h) * HD : nullptr;
    /* amax pass, then the code pass recomputes the values (cheaper than holding rows x HD) */
    float amax = 0.0f;
    for (int e = threadIdx.x; e < n; e += 128) {
        int r = e / HD, d = e % HD;
        size_t tok = (size_t)b * T + t0 + r;
        float val = sage_prep_value(x + tok * NH * HD, w, inv[tok], rope_tab, t0 + r, h, d, gf, gh, gw);
        amax = fmaxf(amax, fabsf(val - (mu ? mu[d] : 0.0f)));
    }
    amax = wr_block128_max(amax, red);
    float mul = sage_code_mul(amax);
    for (int e = threadIdx.x; e < n; e += 128) {
        int r = e / HD, d = e % HD;
        size_t tok = (size_t)b * T + t0 + r;
        float val = sage_prep_value(x + tok * NH * HD, w, inv[tok], rope_tab, t0 + r, h, d, gf, gh, gw);
        x8[(tok * NH + h) * HD + d] = (int8_t)sage_code(val - (mu ? mu[d] : 0.0f), mul);
    }
    if (threadIdx.x == 0)
        scales[sage_scale_index(b, h, t0, NH, T, rows)] = sage_stored_scale(amax, extra);
}
