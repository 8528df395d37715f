/* Rotary position embedding as Wan applies it (wan/modules/model.py rope_apply): the head dim is
 * read as HD/2 complex pairs (x[2i], x[2i+1]) and each pair is multiplied by the token's
 * e^(i theta) = (cos, sin):  y0 = x0 c - x1 s,  y1 = x0 s + x1 c.
 * Entry point:
 *   rope_f32(x, y, cos_t, sin_t, T, NH, HD)
 *     x, y   [B][T][NH][HD] f32, contiguous (y may alias x); B = gridDim.y
 *     cos_t, sin_t  [T][HD/2]: the per-token angles (built by the caller from the 3-D grid)
 * Defines: none. CPU twin: tests/gpu/test_ops.c until runtime/cpu/rope.c lands. The rotation
 * is rope_rotate (kernels/rope_wan.h), shared with the fused Sage preparation. */
#include "kernels/common.cuh"
#include "kernels/rope_wan.h"

extern "C" __global__ void rope_f32(const float *x, float *y, const float *cos_t, const float *sin_t, int T, int NH,
                                    int HD)
{
    long long pairs = (long long)T * NH * (HD / 2);
    const float *xb = x + (size_t)blockIdx.y * T * NH * HD;
    float *yb = y + (size_t)blockIdx.y * T * NH * HD;
    for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < pairs; p += (long long)gridDim.x * blockDim.x) {
        int i = (int)(p % (HD / 2));
        long long th = p / (HD / 2); /* t * NH + h */
        int t = (int)(th / NH);
        float c = cos_t[(size_t)t * (HD / 2) + i], s = sin_t[(size_t)t * (HD / 2) + i];
        float x0 = xb[th * HD + 2 * i], x1 = xb[th * HD + 2 * i + 1];
        yb[th * HD + 2 * i] = rope_rotate(x0, x1, c, s, 0);
        yb[th * HD + 2 * i + 1] = rope_rotate(x0, x1, c, s, 1);
    }
}
