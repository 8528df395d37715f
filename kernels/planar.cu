/* Planar image glue of RIFE on f32 images [planes][H][W] (grid-stride loops, one output element
 * per thread step). Products and sums are written with __fmul_rn / __fadd_rn so NVRTC's default
 * FMA contraction cannot change the rounding: the results equal the CPU twins bit for bit, except
 * mask_blend's expf (CUDA's expf is within 2 ulp of glibc's; the emulator uses glibc's).
 * Entry points:
 *   scalar_f32(x, y, n, a, b)                         y[i] = f(x[i]) per OP; y may alias x
 *   channel_scale_add_f32(x, scale, r, y, planes, pl) y = x · scale[c] + r   (RIFE ResConv)
 *   pixel_shuffle_f32(x, y, planes, ih, iw, s)        y[c](s·h + i, s·w + j) = x[c·s² + i·s + j](h, w)
 *   mask_blend_f32(x0, x1, mask, y, planes, pl)       a = 1 / (1 + expf(−m)); y = x0·a + x1·(1 − a)
 * Defines:
 *   OP   scalar_f32 only, runtime/ops.h wr_scalar_op order: 0 x·a, 1 x/a, 2 LeakyReLU(a),
 *        3 clamp to [a, b] (NaN becomes a, −0 stays −0), 4 fill with a (x not read)
 * CPU twins: runtime/cpu/planar.c (cpu_scalar, cpu_channel_scale_add, cpu_pixel_shuffle,
 * cpu_mask_blend). */
#include "kernels/common.cuh"

#ifndef OP
#define OP 0
#endif
static_assert(OP >= 0 && OP <= 4, "OP is 0..4 (wr_scalar_op)");

extern "C" __global__ void scalar_f32(const float *x, float *y, long long n, float a, float b)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
#if OP == 0
        y[i] = __fmul_rn(x[i], a);
#elif OP == 1
        y[i] = x[i] / a;
#elif OP == 2
        float v = x[i];
        y[i] = v >= 0.0f ? v : __fmul_rn(a, v);
#elif OP == 3
        float v = x[i] >= a ? x[i] : a; /* comparisons, not fmaxf/fminf: the sign of a zero is kept */
        y[i] = v <= b ? v : b;
#else
        (void)x, (void)b;
        y[i] = a;
#endif
    }
}

extern "C" __global__ void channel_scale_add_f32(const float *x, const float *scale, const float *r, float *y,
                                                 int planes, long long pl)
{
    const long long n = (long long)planes * pl;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = __fadd_rn(__fmul_rn(x[i], scale[i / pl]), r[i]);
}

extern "C" __global__ void pixel_shuffle_f32(const float *__restrict__ x, float *__restrict__ y, int planes, int ih,
                                             int iw, int s)
{
    const int oh = ih * s, ow = iw * s;
    const long long n = (long long)planes * oh * ow;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        int ox = (int)(i % ow), oy = (int)(i / ow % oh), c = (int)(i / ((long long)oh * ow));
        int src_plane = (c * s + oy % s) * s + ox % s;
        y[i] = x[((long long)src_plane * ih + oy / s) * iw + ox / s];
    }
}

extern "C" __global__ void mask_blend_f32(const float *x0, const float *x1, const float *__restrict__ mask, float *y,
                                          int planes, long long pl)
{
    for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < pl; p += (long long)gridDim.x * blockDim.x) {
        float a = 1.0f / (1.0f + expf(-mask[p]));
        for (int c = 0; c < planes; c++) {
            long long i = (long long)c * pl + p;
            y[i] = __fadd_rn(__fmul_rn(x0[i], a), __fmul_rn(x1[i], 1.0f - a));
        }
    }
}
