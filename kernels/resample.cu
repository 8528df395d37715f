/* Resampling of planar f32 images [planes][H][W], one thread per output pixel (grid-stride),
 * looping over the planes so the coordinates are computed once.
 * Entry points:
 *   resize_bilinear_f32(x, y, planes, ih, iw, oh, ow, f)
 *       y [planes][oh][ow] = bilinear resize of x [planes][ih][iw] by factor f
 *       (F.interpolate(scale_factor=f, mode="bilinear", align_corners=False), no antialias):
 *       source coordinate max((d + 0.5) / f - 0.5, 0) in float64, as PyTorch's scale path, then
 *       fp32 lerps (the CPU twin's order)
 *   warp_f32(x, flow, y, planes, h, w)
 *       RIFE's backward warp: y[c](px, py) = x[c] sampled bilinearly at (px + u, py + v) clamped
 *       to [0, w-1] x [0, h-1] (grid_sample(bilinear, border, align_corners=True));
 *       flow [2][h][w] (u plane, then v); y must not alias x or flow
 * Defines: none.
 * CPU twins: runtime/cpu/resample.c (cpu_resize_bilinear, cpu_warp). */
#include "kernels/common.cuh"

extern "C" __global__ void __launch_bounds__(256) resize_bilinear_f32(const float *__restrict__ x,
                                                                     float *__restrict__ y, int planes, int ih,
                                                                     int iw, int oh, int ow, double f)
{
    const long long n = (long long)oh * ow, in_plane = (long long)ih * iw;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        int oy = (int)(i / ow), ox = (int)(i % ow);
        double sy = fmax(((double)oy + 0.5) / f - 0.5, 0.0), sx = fmax(((double)ox + 0.5) / f - 0.5, 0.0);
        int y0 = (int)sy, y1 = y0 + 1 < ih ? y0 + 1 : ih - 1;
        int x0 = (int)sx, x1 = x0 + 1 < iw ? x0 + 1 : iw - 1;
        float ly = (float)(sy - (double)y0), lx = (float)(sx - (double)x0);
        for (int c = 0; c < planes; c++) {
            const float *p = x + (long long)c * in_plane;
            float top = (1.0f - lx) * p[(long long)y0 * iw + x0] + lx * p[(long long)y0 * iw + x1];
            float bot = (1.0f - lx) * p[(long long)y1 * iw + x0] + lx * p[(long long)y1 * iw + x1];
            y[(long long)c * n + i] = (1.0f - ly) * top + ly * bot;
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) warp_f32(const float *__restrict__ x, const float *__restrict__ flow,
                                                          float *__restrict__ y, int planes, int h, int w)
{
    const long long n = (long long)h * w;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        int py = (int)(i / w), px = (int)(i % w);
        float sx = fminf(fmaxf((float)px + flow[i], 0.0f), (float)(w - 1));
        float sy = fminf(fmaxf((float)py + flow[n + i], 0.0f), (float)(h - 1));
        int x0 = (int)floorf(sx), y0 = (int)floorf(sy);
        float lx = sx - (float)x0, ly = sy - (float)y0;
        int x1 = x0 + 1, y1 = y0 + 1;
        for (int c = 0; c < planes; c++) {
            const float *p = x + (long long)c * n;
            float a = p[(long long)y0 * w + x0];
            float b = x1 < w ? p[(long long)y0 * w + x1] : 0.0f;
            float cc = y1 < h ? p[(long long)y1 * w + x0] : 0.0f;
            float d = x1 < w && y1 < h ? p[(long long)y1 * w + x1] : 0.0f;
            y[(long long)c * n + i] = (1 - lx) * (1 - ly) * a + lx * (1 - ly) * b + (1 - lx) * ly * cc + lx * ly * d;
        }
    }
}
