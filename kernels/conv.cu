/* 3-D convolution (conv2d is KT = 1) as an implicit GEMM: y[o][p] = sum_k w[o][k] * patch[k][p]
 * + bias[o], k = (c, dt, dy, dx) in the weight's [O][C][KT][KH][KW] order and p an output pixel of
 * one output frame. The patch matrix is never materialised: each k step gathers its [BK][BM]
 * slice from the input into shared memory (zeros where the window leaves the padded input) and
 * dequantises the [BK][BN] weight slice next to it (gpu-design.md "Memory").
 * Entry point:
 *   conv3d_f32(x, w, bias, y, C, T, H, W, O, To, Ho, Wo, st, sh, sw, pt, ph, pw)
 *     x     [C][T][H][W] f32
 *     w     [O][C*KT*KH*KW] in WTYPE (a PyTorch Conv3d/Conv2d weight, contiguous)
 *     bias  [O] f32 or NULL
 *     y     [O][To][Ho][Wo] f32 (must not alias x)
 *     st, sh, sw  strides; pt front (causal) time padding, ph top, pw left padding (bottom/right
 *                 padding only enlarges To/Ho/Wo, which the launcher computed)
 *   Grid (ceil(O / BN), ceil(Ho*Wo / BM), To), 256 threads, each a TM x TN sub-tile.
 * Defines:
 *   KT, KH, KW  kernel extent (1..7)
 *   WTYPE       0 f32, 1 bf16, 2 f16
 * Arithmetic: fp32 products and sums, k ascending, bias added last (the CPU twin's order; on the
 * GPU products and sums may fuse into FMAs).
 * CPU twin: runtime/cpu/conv.c (cpu_conv3d). */
#include "kernels/common.cuh"

#ifndef KT
#define KT 1
#endif
#ifndef KH
#define KH 3
#endif
#ifndef KW
#define KW 3
#endif
#ifndef WTYPE
#define WTYPE 0
#endif
#define BM 64 /* output pixels per tile */
#define BN 64 /* output channels per tile */
#define BK 16
#define TM 4
#define TN 4
#define TAPS (KT * KH * KW)
static_assert(KT >= 1 && KT <= 7 && KH >= 1 && KH <= 7 && KW >= 1 && KW <= 7, "kernel extents are 1..7");
static_assert(WTYPE >= 0 && WTYPE <= 2, "WTYPE is 0 f32, 1 bf16, 2 f16");
static_assert((BM / TM) * (BN / TN) == 256, "256 threads cover the tile");
static_assert(256 % BM == 0, "each thread gathers for one fixed pixel of the tile");

__device__ __forceinline__ float conv_load_w(const void *w, long long i)
{
#if WTYPE == 0
    return ((const float *)w)[i];
#elif WTYPE == 1
    return wr_bf16_bits_to_f32(((const uint16_t *)w)[i]);
#else
    return wr_f16_bits_to_f32(((const uint16_t *)w)[i]);
#endif
}

extern "C" __global__ void __launch_bounds__(256)
    conv3d_f32(const float *__restrict__ x, const void *__restrict__ w, const float *__restrict__ bias,
               float *__restrict__ y, int C, int T, int H, int W, int O, int To, int Ho, int Wo, int st, int sh,
               int sw, int pt, int ph, int pw)
{
    __shared__ float Ps[BK][BM + 1]; /* patch slice, k-major */
    __shared__ float Ws[BK][BN + 1]; /* weight slice, k-major */
    const int tid = threadIdx.x;
    const int ty = tid % (BM / TM), tx = tid / (BM / TM); /* adjacent threads: adjacent pixels */
    const int P = Ho * Wo, K = C * TAPS;
    const int p0 = blockIdx.y * BM, n0 = blockIdx.x * BN, ot = blockIdx.z;

    /* the pixel this thread gathers for (fixed: BM divides the 256-thread stride) */
    const int gr = tid % BM, gc = tid / BM;
    const int gp = p0 + gr;
    const bool gvalid = gp < P;
    const int goy = gvalid ? gp / Wo : 0, gox = gvalid ? gp % Wo : 0;
    const int t_base = ot * st - pt, y_base = goy * sh - ph, x_base = gox * sw - pw;
    const long long plane = (long long)H * W, wrow = (long long)K;

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++)
            acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += BK) {
        /* load: gather the patch slice; out-of-window taps and k >= K are 0 */
#pragma unroll
        for (int c = gc; c < BK; c += 256 / BM) {
            int k = k0 + c;
            float v = 0.0f;
            if (gvalid && k < K) {
                int ch = k / TAPS, tap = k % TAPS;
                int t = t_base + tap / (KH * KW), yy = y_base + (tap / KW) % KH, xx = x_base + tap % KW;
                if (t >= 0 && t < T && yy >= 0 && yy < H && xx >= 0 && xx < W)
                    v = x[((long long)ch * T + t) * plane + (long long)yy * W + xx];
            }
            Ps[c][gr] = v;
        }
        for (int e = tid; e < BN * BK; e += 256) {
            int r = e / BK, c = e % BK;
            int n = n0 + r, k = k0 + c;
            Ws[c][r] = n < O && k < K ? conv_load_w(w, (long long)n * wrow + k) : 0.0f;
        }
        __syncthreads();
        /* compute */
#pragma unroll 4
        for (int kk = 0; kk < BK; kk++) {
            float a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; i++)
                a[i] = Ps[kk][ty + i * (BM / TM)];
#pragma unroll
            for (int j = 0; j < TN; j++)
                b[j] = Ws[kk][tx * TN + j];
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++)
                    acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
    /* epilogue: bias, store y[o][ot][p] (adjacent threads in ty write adjacent pixels) */
#pragma unroll
    for (int i = 0; i < TM; i++) {
        int p = p0 + ty + i * (BM / TM);
        if (p >= P)
            continue;
#pragma unroll
        for (int j = 0; j < TN; j++) {
            int n = n0 + tx * TN + j;
            if (n >= O)
                continue;
            float v = acc[i][j];
            if (bias)
                v += bias[n];
            y[((long long)n * To + ot) * P + p] = v;
        }
    }
}
