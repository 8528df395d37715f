/* Volume ops of the Wan VAEs on f32 channel-major volumes [C][positions] (positions = T·H·W, or
 * [planes][H][W] for the upsample), grid-stride loops, one position or output element per thread
 * step. The norm reproduces its CPU twin's arithmetic exactly: the squares are summed in double
 * in channel order, sqrt and the reciprocal in double, the fp32 products written with __fmul_rn
 * so NVRTC's FMA contraction cannot change the rounding; only the SiLU's expf may differ on CUDA
 * (within 2 ulp of glibc's; the emulator uses glibc's, so it is bit-exact there).
 * Entry points:
 *   channel_rms_norm_f32(x, gamma, y, c, pos)   y[ch][p] = x[ch][p] / max(‖x[·][p]‖₂, 1e-12) · √C · gamma[ch],
 *                                               then SiLU when SILU (Wan's RMS_norm, channel_first);
 *                                               y may alias x
 *   upsample_nearest2x_f32(x, y, planes, ih, iw) y[c](oy, ox) = x[c](oy / 2, ox / 2)
 *   dup_up3d_f32(x, y, ci, ti, hi, wi, co, to, ft, fs, drop)
 *                                               Wan 2.2's DupUp3D: y[o](t, y, x) = x[c](tf / ft, y / fs, x / fs)
 *                                               with tf = t + drop, k = ((o·ft + tf % ft)·fs + y % fs)·fs + x % fs,
 *                                               c = k / (co·ft·fs² / ci)
 *   transpose_f32(x, y, rows, cols)             y[c][r] = x[r][c] (the attention block's channel-major
 *                                               <-> position-major glue); y must not alias x
 * Defines:
 *   SILU  channel_rms_norm_f32 only: 0 none, 1 y / (1 + expf(−y)) after the norm
 * CPU twins: runtime/cpu/volume.c (cpu_channel_rms_norm, cpu_upsample_nearest2x, cpu_dup_up3d,
 * cpu_transpose). */
#include "kernels/common.cuh"

#ifndef SILU
#define SILU 0
#endif
static_assert(SILU == 0 || SILU == 1, "SILU is 0 or 1");

extern "C" __global__ void channel_rms_norm_f32(const float *x, const float *__restrict__ gamma, float *y, int c,
                                                long long pos)
{
    const float scale = sqrtf((float)c);
    for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < pos; p += (long long)gridDim.x * blockDim.x) {
        double sq = 0.0;
        for (int ch = 0; ch < c; ch++) {
            double v = (double)x[(long long)ch * pos + p];
            sq = __dadd_rn(sq, __dmul_rn(v, v));
        }
        double nrm = sqrt(sq);
        float inv = (float)(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
        for (int ch = 0; ch < c; ch++) {
            long long i = (long long)ch * pos + p;
            float v = __fmul_rn(__fmul_rn(__fmul_rn(x[i], inv), scale), gamma[ch]);
#if SILU
            v = v / (1.0f + expf(-v));
#endif
            y[i] = v;
        }
    }
}

extern "C" __global__ void upsample_nearest2x_f32(const float *__restrict__ x, float *__restrict__ y, int planes,
                                                  int ih, int iw)
{
    const int oh = 2 * ih, ow = 2 * iw;
    const long long n = (long long)planes * oh * ow;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        int ox = (int)(i % ow), oy = (int)(i / ow % oh);
        long long c = i / ((long long)oh * ow);
        y[i] = x[(c * ih + oy / 2) * iw + ox / 2];
    }
}

extern "C" __global__ void transpose_f32(const float *__restrict__ x, float *__restrict__ y, int rows, int cols)
{
    const long long n = (long long)rows * cols;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        long long c = i / rows, r = i % rows; /* y is [cols][rows]: consecutive threads write consecutive y */
        y[i] = x[r * cols + c];
    }
}

extern "C" __global__ void dup_up3d_f32(const float *__restrict__ x, float *__restrict__ y, int ci, int ti, int hi,
                                        int wi, int co, int to, int ft, int fs, int drop)
{
    const int ho = hi * fs, wo = wi * fs, repeats = co * ft * fs * fs / ci;
    const long long n = (long long)co * to * ho * wo;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        int xx = (int)(i % wo), yy = (int)(i / wo % ho), t = (int)(i / ((long long)wo * ho) % to);
        int o = (int)(i / ((long long)wo * ho * to));
        int tf = t + drop, k = ((o * ft + tf % ft) * fs + yy % fs) * fs + xx % fs, c = k / repeats;
        y[i] = x[(((long long)c * ti + tf / ft) * hi + yy / fs) * wi + xx / fs];
    }
}
