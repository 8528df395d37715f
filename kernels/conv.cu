/* 3-D convolution (conv2d is KT = 1) as an implicit GEMM: y[o][p] = sum_k w[o][k] * patch[k][p]
 * + bias[o], k = (c, dt, dy, dx) in the weight's [O][C][KT][KH][KW] order and p an output pixel of
 * one output frame. The patch matrix is never materialised: each k step gathers its [BK][BM]
 * slice from the input into shared memory (zeros where the window leaves the padded input) and
 * dequantises the [BK][BN] weight slice next to it (gpu-design.md "Memory").
 * Entry points (same parameters):
 *   conv3d_f32        fp32 FMA: 256 threads, each a TM x TN sub-tile, k step 16
 *   conv3d_bf16_mma   tensor cores (sm_80+): patch and weight slices rounded to bf16 in shared
 *                     memory, mma.m16n8k16 with fp32 accumulation; 128 threads, each warp a
 *                     32x32 sub-tile fed by ldmatrix, k step 32
 *   (x, w, bias, y, C, T, H, W, O, To, Ho, Wo, st, sh, sw, pt, ph, pw)
 *     x     [C][T][H][W] f32
 *     w     [O][C*KT*KH*KW] in WTYPE (a PyTorch Conv3d/Conv2d weight, contiguous)
 *     bias  [O] f32 or NULL
 *     y     [O][To][Ho][Wo] f32 (must not alias x)
 *     st, sh, sw  strides; pt front (causal) time padding, ph top, pw left padding (bottom/right
 *                 padding only enlarges To/Ho/Wo, which the launcher computed)
 *   Grid (ceil(O / BN), ceil(Ho*Wo / BM), To).
 * Defines:
 *   KT, KH, KW  kernel extent (1..7)
 *   WTYPE       0 f32, 1 bf16, 2 f16
 * Arithmetic: conv3d_f32: fp32 products and sums, k ascending, bias added last (the CPU twin's
 * order; on the GPU products and sums may fuse into FMAs). conv3d_bf16_mma: products of
 * bf16-rounded operands (exact in fp32), fp32 sums in the tensor core's order, bias last.
 * CPU twin: runtime/cpu/conv.c (cpu_conv3d). */
#include "kernels/common.cuh"
#include "kernels/ptx.cuh"

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

/* The geometry of one output frame and the pixel a thread gathers for. */
struct conv_pix {
    int t_base, y_base, x_base; /* window origin in the unpadded input */
    bool valid;
};

__device__ __forceinline__ conv_pix conv_pixel(int p, int P, int Wo, int ot, int st, int sh, int sw, int pt, int ph,
                                               int pw)
{
    conv_pix q;
    q.valid = p < P;
    int oy = q.valid ? p / Wo : 0, ox = q.valid ? p % Wo : 0;
    q.t_base = ot * st - pt, q.y_base = oy * sh - ph, q.x_base = ox * sw - pw;
    return q;
}

/* patch[k][p]: the input value tap k of pixel q sees (0 outside the input or past K) */
__device__ __forceinline__ float conv_gather(const float *x, conv_pix q, int k, int K, int T, int H, int W)
{
    if (!q.valid || k >= K)
        return 0.0f;
    int ch = k / TAPS, tap = k % TAPS;
    int t = q.t_base + tap / (KH * KW), yy = q.y_base + (tap / KW) % KH, xx = q.x_base + tap % KW;
    if (t < 0 || t >= T || yy < 0 || yy >= H || xx < 0 || xx >= W)
        return 0.0f;
    return x[((long long)ch * T + t) * ((long long)H * W) + (long long)yy * W + xx];
}

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
    const conv_pix q = conv_pixel(p0 + gr, P, Wo, ot, st, sh, sw, pt, ph, pw);
    const long long wrow = (long long)K;

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++)
            acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += BK) {
        /* load: gather the patch slice; out-of-window taps and k >= K are 0 */
#pragma unroll
        for (int c = gc; c < BK; c += 256 / BM)
            Ps[c][gr] = conv_gather(x, q, k0 + c, K, T, H, W);
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

/* ---- tensor-core variant ------------------------------------------------------------------- */

#define MMA_BK 32
#define MMA_PAD 8 /* bf16 elements of padding per shared row: rows stay 16-byte aligned and
                     the 8 rows an ldmatrix reads fall in different banks */
static_assert(128 % BM == 0, "each of the 128 threads gathers for one fixed pixel");

extern "C" __global__ void __launch_bounds__(128)
    conv3d_bf16_mma(const float *__restrict__ x, const void *__restrict__ w, const float *__restrict__ bias,
                    float *__restrict__ y, int C, int T, int H, int W, int O, int To, int Ho, int Wo, int st, int sh,
                    int sw, int pt, int ph, int pw)
{
    __shared__ __align__(16) uint16_t As[BM][MMA_BK + MMA_PAD]; /* [pixel][k] bf16 bits */
    __shared__ __align__(16) uint16_t Bs[BN][MMA_BK + MMA_PAD]; /* [channel][k]: the "col" operand */
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const int wm = warp / 2, wn = warp % 2; /* the warp's 32x32 sub-tile */
    const int P = Ho * Wo, K = C * TAPS;
    const int p0 = blockIdx.y * BM, n0 = blockIdx.x * BN, ot = blockIdx.z;
    const int gr = tid % BM, gc = tid / BM;
    const conv_pix q = conv_pixel(p0 + gr, P, Wo, ot, st, sh, sw, pt, ph, pw);
    const long long wrow = (long long)K;
    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                acc[i][j][e] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += MMA_BK) {
        /* load: gather and round to bf16 into shared memory */
#pragma unroll 1 /* unrolled, the gathers' index arithmetic spilled on sm_80 (3x3x3) */
        for (int c = gc; c < MMA_BK; c += 128 / BM)
            As[gr][c] = wr_f32_to_bf16_bits(conv_gather(x, q, k0 + c, K, T, H, W));
        {
            const int c = tid % MMA_BK, k = k0 + c; /* adjacent threads: adjacent k of one weight row */
#pragma unroll 4
            for (int r = tid / MMA_BK; r < BN; r += 128 / MMA_BK) {
                int n = n0 + r;
                Bs[r][c] = wr_f32_to_bf16_bits(n < O && k < K ? conv_load_w(w, (long long)n * wrow + k) : 0.0f);
            }
        }
        __syncthreads();
        /* compute: two k16 steps, 2 x 4 mma per step per warp */
#pragma unroll
        for (int kk = 0; kk < MMA_BK; kk += 16) {
            uint32_t a[2][4], b[4][2];
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
                ldmatrix_x4(a[mi], &As[wm * 32 + mi * 16 + lane % 16][kk + 8 * (lane / 16)]);
#pragma unroll
            for (int nj = 0; nj < 2; nj++) {
                uint32_t r[4]; /* n-tiles 2nj and 2nj+1: (n 0-7, k lo), (n 0-7, k hi), (n 8-15, ...) */
                ldmatrix_x4(r, &Bs[wn * 32 + nj * 16 + (lane / 16) * 8 + lane % 8][kk + 8 * ((lane / 8) % 2)]);
                b[2 * nj][0] = r[0];
                b[2 * nj][1] = r[1];
                b[2 * nj + 1][0] = r[2];
                b[2 * nj + 1][1] = r[3];
            }
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++)
                    mma_m16n8k16_bf16bf16f32(acc[mi][ni], a[mi], b[ni], acc[mi][ni]);
        }
        __syncthreads();
    }
    /* epilogue: the C fragment layout (kernels/ptx.cuh) to pixels (rows) and channels (columns) */
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int p = p0 + wm * 32 + mi * 16 + mma_c_row(lane, e);
                int n = n0 + wn * 32 + ni * 8 + mma_c_col(lane, e);
                if (p >= P || n >= O)
                    continue;
                float v = acc[mi][ni][e];
                if (bias)
                    v += bias[n];
                y[((long long)n * To + ot) * P + p] = v;
            }
}
