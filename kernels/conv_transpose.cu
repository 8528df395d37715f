/* Transposed 2-D convolution (RIFE's ConvTranspose2d(k4, s2, p1) upsamplers) as a gather: one
 * thread per output element, summing the taps whose input pixel lands on it.
 * Entry point:
 *   conv_transpose2d_f32(x, w, bias, y, C, H, W, O, Ho, Wo)
 *     x     [C][H][W] f32
 *     w     [C][O][KH][KW] f32 (a PyTorch ConvTranspose2d weight)
 *     bias  [O] f32 or NULL
 *     y     [O][Ho][Wo] f32, Ho = (H - 1) * STRIDE - 2 * PAD + KH (Wo likewise); must not alias x
 *   output (oy, ox) gets x[c][iy][ix] * w[c][o][ky][kx] where oy = STRIDE * iy - PAD + ky
 * Defines: KH, KW (1..8), STRIDE (1..4), PAD (0 .. K - 1).
 * Arithmetic: fp32, starting from the bias, channel-major then ky, kx ascending (the CPU twin's
 * scatter order per output element). CPU twin: runtime/cpu/conv.c (cpu_conv_transpose2d). */
#include "kernels/common.cuh"

#ifndef KH
#define KH 4
#endif
#ifndef KW
#define KW 4
#endif
#ifndef STRIDE
#define STRIDE 2
#endif
#ifndef PAD
#define PAD 1
#endif
static_assert(KH >= 1 && KH <= 8 && KW >= 1 && KW <= 8, "KH, KW are 1..8");
static_assert(STRIDE >= 1 && STRIDE <= 4, "STRIDE is 1..4");
static_assert(PAD >= 0 && PAD < KH && PAD < KW, "PAD is 0 .. K - 1");

extern "C" __global__ void __launch_bounds__(256)
    conv_transpose2d_f32(const float *__restrict__ x, const float *__restrict__ w, const float *__restrict__ bias,
                         float *__restrict__ y, int C, int H, int W, int O, int Ho, int Wo)
{
    const long long plane = (long long)Ho * Wo, n = (long long)O * plane, in_plane = (long long)H * W;
    for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        int o = (int)(e / plane), oy = (int)((e % plane) / Wo), ox = (int)(e % Wo);
        float acc = bias ? bias[o] : 0.0f;
        for (int c = 0; c < C; c++) {
            const float *xp = x + (long long)c * in_plane, *wp = w + ((long long)c * O + o) * (KH * KW);
#pragma unroll
            for (int ky = 0; ky < KH; ky++) {
                int ty = oy + PAD - ky;
                if (ty < 0 || ty % STRIDE != 0 || ty / STRIDE >= H)
                    continue;
#pragma unroll
                for (int kx = 0; kx < KW; kx++) {
                    int tx = ox + PAD - kx;
                    if (tx < 0 || tx % STRIDE != 0 || tx / STRIDE >= W)
                        continue;
                    acc += wp[ky * KW + kx] * xp[(long long)(ty / STRIDE) * W + tx / STRIDE];
                }
            }
        }
        y[e] = acc;
    }
}
