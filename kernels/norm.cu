/* Row normalisation with optional affine and DiT modulation, one block per row.
 * Entry point:
 *   norm_f32(x, y, w, b, shift, scale, cols, mod_div, eps)
 *     x, y   [rows][cols] f32 (y may alias x)
 *     w, b   [cols] affine weight / bias (AFFINE=1; b unused by RMS)
 *     shift, scale  [rows / mod_div][cols] (MOD=1): y = n * (1 + scale) + shift  (Wan2.2 modulate)
 *   LayerNorm: n = (x - mean) / sqrt(var + eps), var biased (torch.nn.LayerNorm)
 *   RMSNorm:   n = x / sqrt(mean(x^2) + eps)                 (Wan's WanRMSNorm)
 * Defines: NORM (0 layer, 1 rms), AFFINE (0/1), MOD (0/1), BLOCK (threads per row: 64..1024,
 * power of two). Statistics are two-pass in fp32 (mean first, then centred squares).
 * CPU twin: the loops in tests/gpu/test_ops.c until runtime/cpu/norm.c lands. */
#include "kernels/common.cuh"

#ifndef NORM
#define NORM 0
#endif
#ifndef AFFINE
#define AFFINE 0
#endif
#ifndef MOD
#define MOD 0
#endif
#ifndef BLOCK
#define BLOCK 256
#endif
static_assert(NORM == 0 || NORM == 1, "NORM is 0 (layer) or 1 (rms)");
static_assert(AFFINE == 0 || AFFINE == 1, "AFFINE is 0 or 1");
static_assert(MOD == 0 || MOD == 1, "MOD is 0 or 1");
static_assert(BLOCK >= 64 && BLOCK <= 1024 && (BLOCK & (BLOCK - 1)) == 0, "BLOCK is a power of two in 64..1024");

/* sum over the block; every thread gets the result */
__device__ __forceinline__ float norm_block_sum(float v, float *red)
{
    v = wr_warp_sum(v);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads(); /* red may still be read from the previous call */
    if (lane == 0)
        red[warp] = v;
    __syncthreads();
    v = lane < BLOCK / 32 ? red[lane] : 0.0f;
    return wr_warp_sum(v);
}

extern "C" __global__ void __launch_bounds__(BLOCK) norm_f32(const float *x, float *y, const float *w, const float *b,
                                                            const float *shift, const float *scale, int cols,
                                                            int mod_div, float eps)
{
    __shared__ float red[32];
    const float *xr = x + (size_t)blockIdx.x * cols;
    float *yr = y + (size_t)blockIdx.x * cols;
#if NORM == 0
    float s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += BLOCK)
        s += xr[c];
    float mean = norm_block_sum(s, red) / (float)cols;
    float q = 0.0f;
    for (int c = threadIdx.x; c < cols; c += BLOCK) {
        float d = xr[c] - mean;
        q += d * d;
    }
#else
    const float mean = 0.0f;
    float q = 0.0f;
    for (int c = threadIdx.x; c < cols; c += BLOCK)
        q += xr[c] * xr[c];
#endif
    float inv = 1.0f / sqrtf(norm_block_sum(q, red) / (float)cols + eps);
#if MOD
    const float *sh = shift + (size_t)(blockIdx.x / mod_div) * cols;
    const float *sc = scale + (size_t)(blockIdx.x / mod_div) * cols;
#endif
    for (int c = threadIdx.x; c < cols; c += BLOCK) {
        float v = (xr[c] - mean) * inv;
#if AFFINE
        v *= w[c];
#if NORM == 0
        v += b[c];
#endif
#endif
#if MOD
        v = v * (1.0f + sc[c]) + sh[c];
#endif
        yr[c] = v;
    }
    (void)w, (void)b, (void)shift, (void)scale, (void)mod_div;
}
