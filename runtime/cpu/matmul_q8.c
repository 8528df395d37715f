/* Q8_0 weights × int8-quantised activations on AVX512-VNNI (W8A8, what ggml's CPU backend does
 * for Q8_0): matmul_q8_0_i8_acc_i32.
 *
 * x is quantised per row and 32-column block like Q8_0 (d = max|x| / 127, q = round(x / d),
 * d kept in float32) and stored as q + 128 (vpdpbusd multiplies unsigned by signed bytes). Per
 * 32-block b and output (i, j):
 *   s_ij,b = Σ_k (qx_ik + 128) · qw_jk - 128 · Σ_k qw_jk      (exact int32: |s| < 2^21)
 *   y_ij  += float(s_ij,b) · dx_ib · dw_jb                    (float32, blocks in order)
 * The weight's codes and d are used exactly; the only approximation is the rounding of x to
 * 8 bits per block (relative error of a product ≤ 1/254 of the block's max |x|; measured on the
 * DiT golden case in tests/models/test_dit.c). Layout as in the float path (gemm.h) with 4-byte
 * k groups: x tile [kc/4][MR] words + [kc/32][MR] scales, weight panel [kc/4][32] words +
 * [kc/32][32] of d and of -128·Σqw (the int accumulator's start). MR = 6: 12 int32 and 12
 * float32 zmm accumulators. */
#include <math.h>
#include <string.h>

#include "kernels/quant_blocks.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/gemm.h"
#include "runtime/numeric.h"
#include "runtime/threadpool.h"

#define Q8_MR 6
#define Q8_KC 256 /* 8 blocks of 32 */
#define Q8_NC 256

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

typedef struct q8_ctx {
    const wr_tensor *x, *w;
    const float *bias;
    wr_act act;
    float scale;
    float *y;
    int64_t m, n, k, mtiles, mpad, mchunks, tiles_per_mchunk;
    size_t row_bytes;
    uint8_t *xq; /* K block k0: xq + k0 · mpad bytes, tile t at + t · MR · kc */
    float *dx;   /* K block k0: dx + k0 / 32 · mpad, tile t at + t · MR · kc / 32 */
    unsigned char *scratch; /* per thread: panels (int8 + d + comp) and an edge tile */
    size_t scratch_bytes;
} q8_ctx;

/* Per-block quantisation of one x row segment; the row's tail past K is never read. */
static void quantize_x(void *vctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    q8_ctx *c = vctx;
    for (int64_t t = begin; t < end; t++)
        for (int64_t k0 = 0; k0 < c->k; k0 += Q8_KC) {
            int64_t kc = c->k - k0 < Q8_KC ? c->k - k0 : Q8_KC;
            uint8_t *q = c->xq + k0 * c->mpad + t * Q8_MR * kc;
            float *d = c->dx + k0 / 32 * c->mpad + t * Q8_MR * (kc / 32);
            for (int r = 0; r < Q8_MR; r++) {
                int64_t row = t * Q8_MR + r;
                const float *src = row < c->m ? (const float *)wr_tensor_row(c->x, row) + k0 : NULL;
                for (int64_t b = 0; b < kc / 32; b++) {
                    float amax = 0.0f;
                    for (int e = 0; src && e < 32; e++)
                        amax = fmaxf(amax, fabsf(src[b * 32 + e]));
                    float db = amax / 127.0f, id = db > 0.0f ? 1.0f / db : 0.0f;
                    d[b * Q8_MR + r] = db;
                    for (int e = 0; e < 32; e++) {
                        int v = src ? (int)lrintf(src[b * 32 + e] * id) : 0;
                        q[(b * 8 + e / 4) * Q8_MR * 4 + r * 4 + e % 4] = (uint8_t)(v + 128);
                    }
                }
            }
        }
}

/* Weight rows [n0, n0 + 32) × columns [k0, k0 + kc) -> one panel. */
static void pack_panel(const q8_ctx *c, int64_t n0, int64_t k0, int64_t kc, unsigned char *panel)
{
    int32_t *wq = (int32_t *)panel;
    float *dw = (float *)(panel + kc * GEMM_NR);
    int32_t *comp = (int32_t *)(dw + kc / 32 * GEMM_NR);
    for (int j = 0; j < GEMM_NR; j++) {
        int64_t row = n0 + j;
        const block_q8_0 *blk = row < c->n ? (const block_q8_0 *)((const unsigned char *)c->w->data +
                                                                  (size_t)row * c->row_bytes) + k0 / 32
                                           : NULL;
        for (int64_t b = 0; b < kc / 32; b++) {
            int sum = 0;
            for (int g = 0; g < 8; g++) {
                int32_t word = 0;
                if (blk) {
                    memcpy(&word, blk[b].qs + 4 * g, 4);
                    for (int e = 0; e < 4; e++)
                        sum += blk[b].qs[4 * g + e];
                }
                wq[(b * 8 + g) * GEMM_NR + j] = word;
            }
            dw[b * GEMM_NR + j] = blk ? wr_f16_to_f32(blk[b].d) : 0.0f;
            comp[b * GEMM_NR + j] = -128 * sum;
        }
    }
}

/* c (+)= the MR × 32 tile over kc / 32 blocks (contract of gemm.h, with the W8A8 operands). */
VNNI static void kernel_vnni(int64_t kc, const uint8_t *xq, const float *dx, const unsigned char *panel, float *c,
                             int64_t ldc, int accumulate)
{
    const int32_t *wq = (const int32_t *)panel;
    const float *dw = (const float *)(panel + kc * GEMM_NR);
    const int32_t *comp = (const int32_t *)(dw + kc / 32 * GEMM_NR);
    const int32_t *xw = (const int32_t *)xq;
    __m512 f0[Q8_MR], f1[Q8_MR];
#pragma GCC unroll 6
    for (int r = 0; r < Q8_MR; r++) {
        f0[r] = accumulate ? _mm512_loadu_ps(c + r * ldc) : _mm512_setzero_ps();
        f1[r] = accumulate ? _mm512_loadu_ps(c + r * ldc + 16) : _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < kc / 32; b++) {
        __m512i i0[Q8_MR], i1[Q8_MR];
        __m512i c0 = _mm512_loadu_si512(comp + b * GEMM_NR), c1 = _mm512_loadu_si512(comp + b * GEMM_NR + 16);
#pragma GCC unroll 6
        for (int r = 0; r < Q8_MR; r++)
            i0[r] = c0, i1[r] = c1;
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            const int32_t *wg = wq + (b * 8 + g) * GEMM_NR;
            __m512i w0 = _mm512_load_si512(wg), w1 = _mm512_load_si512(wg + 16);
            const int32_t *xg = xw + (b * 8 + g) * Q8_MR;
#pragma GCC unroll 6
            for (int r = 0; r < Q8_MR; r++) {
                __m512i xb = _mm512_set1_epi32(xg[r]);
                i0[r] = _mm512_dpbusd_epi32(i0[r], xb, w0);
                i1[r] = _mm512_dpbusd_epi32(i1[r], xb, w1);
            }
        }
        __m512 d0 = _mm512_loadu_ps(dw + b * GEMM_NR), d1 = _mm512_loadu_ps(dw + b * GEMM_NR + 16);
#pragma GCC unroll 6
        for (int r = 0; r < Q8_MR; r++) {
            __m512 s = _mm512_set1_ps(dx[b * Q8_MR + r]);
            f0[r] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(i0[r]), s), d0, f0[r]);
            f1[r] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(i1[r]), s), d1, f1[r]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < Q8_MR; r++) {
        _mm512_storeu_ps(c + r * ldc, f0[r]);
        _mm512_storeu_ps(c + r * ldc + 16, f1[r]);
    }
}

static void run_jobs(void *vctx, int64_t begin, int64_t end, int thread)
{
    q8_ctx *c = vctx;
    unsigned char *panels = c->scratch + (size_t)thread * c->scratch_bytes;
    const size_t panel_bytes = (size_t)Q8_KC * GEMM_NR + 2 * (Q8_KC / 32) * GEMM_NR * 4;
    float *tile = (float *)(panels + Q8_NC / GEMM_NR * panel_bytes);
    for (int64_t job = begin; job < end; job++) {
        int64_t n0 = job / c->mchunks * Q8_NC, nc = c->n - n0 < Q8_NC ? c->n - n0 : Q8_NC;
        int64_t t0 = job % c->mchunks * c->tiles_per_mchunk;
        int64_t t1 = t0 + c->tiles_per_mchunk < c->mtiles ? t0 + c->tiles_per_mchunk : c->mtiles;
        for (int64_t k0 = 0; k0 < c->k; k0 += Q8_KC) {
            int64_t kc = c->k - k0 < Q8_KC ? c->k - k0 : Q8_KC;
            int acc = k0 > 0, last = k0 + kc == c->k;
            for (int64_t p = 0; p * GEMM_NR < nc; p++)
                pack_panel(c, n0 + p * GEMM_NR, k0, kc, panels + p * panel_bytes);
            for (int64_t t = t0; t < t1; t++) {
                const uint8_t *xt = c->xq + k0 * c->mpad + t * Q8_MR * kc;
                const float *dt = c->dx + k0 / 32 * c->mpad + t * Q8_MR * (kc / 32);
                int rows = c->m - t * Q8_MR < Q8_MR ? (int)(c->m - t * Q8_MR) : Q8_MR;
                for (int64_t p = 0; p * GEMM_NR < nc; p++) {
                    int64_t j0 = n0 + p * GEMM_NR;
                    int cols = c->n - j0 < GEMM_NR ? (int)(c->n - j0) : GEMM_NR;
                    float *yt = c->y + t * Q8_MR * c->n + j0;
                    const unsigned char *pp = panels + p * panel_bytes;
                    if (rows == Q8_MR && cols == GEMM_NR)
                        kernel_vnni(kc, xt, dt, pp, yt, c->n, acc);
                    else {
                        for (int r = 0; acc && r < rows; r++)
                            memcpy(tile + r * GEMM_NR, yt + r * c->n, (size_t)cols * sizeof(float));
                        kernel_vnni(kc, xt, dt, pp, tile, GEMM_NR, acc);
                        for (int r = 0; r < rows; r++)
                            memcpy(yt + r * c->n, tile + r * GEMM_NR, (size_t)cols * sizeof(float));
                    }
                    if (last)
                        cpu_gemm_path_get(CPU_GEMM_AVX512)->epilogue(yt, c->n, rows, cols, c->scale, c->bias ? c->bias + j0 : NULL, c->act);
                }
            }
        }
    }
}

bool cpu_gemm_has_vnni(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

void cpu_matmul_q8_0_w8a8(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_act act, wr_tensor *y)
{
    WR_ASSERT(w->dtype == WR_DTYPE_Q8_0 && cpu_gemm_has_vnni(), "matmul W8A8: needs Q8_0 weights and AVX512-VNNI");
    q8_ctx c = {.x = x, .w = w, .bias = bias ? bias->data : NULL, .act = act, .scale = w->scale, .y = y->data,
                .m = wr_tensor_nrows(x), .n = wr_tensor_nrows(w), .k = x->ne[0]};
    WR_ASSERT(c.k % 32 == 0 && wr_dtype_row_bytes(w->dtype, c.k, &c.row_bytes), "matmul W8A8: K=%lld", (long long)c.k);
    if (c.m == 0 || c.n == 0 || c.k == 0) {
        cpu_matmul_path(cpu_gemm_path_get(CPU_GEMM_PORTABLE), x, w, bias, act, y);
        return;
    }
    const int threads = wr_threads_count();
    c.mtiles = (c.m + Q8_MR - 1) / Q8_MR;
    c.mpad = c.mtiles * Q8_MR;
    int64_t nchunks = (c.n + Q8_NC - 1) / Q8_NC, want = 4 * (int64_t)threads;
    c.mchunks = nchunks >= want || threads == 1 ? 1 : (want + nchunks - 1) / nchunks;
    c.mchunks = c.mchunks > c.mtiles ? c.mtiles : c.mchunks;
    c.tiles_per_mchunk = (c.mtiles + c.mchunks - 1) / c.mchunks;
    c.mchunks = (c.mtiles + c.tiles_per_mchunk - 1) / c.tiles_per_mchunk;
    const size_t panel_bytes = (size_t)Q8_KC * GEMM_NR + 2 * (Q8_KC / 32) * GEMM_NR * 4;
    c.scratch_bytes = Q8_NC / GEMM_NR * panel_bytes + (size_t)Q8_MR * GEMM_NR * sizeof(float);
    size_t xq_bytes = ((size_t)c.mpad * (size_t)c.k + 63) / 64 * 64;
    size_t dx_bytes = ((size_t)c.mpad * (size_t)(c.k / 32) * sizeof(float) + 63) / 64 * 64;
    int cached;
    unsigned char *block = (unsigned char *)cpu_gemm_scratch_get(xq_bytes + dx_bytes + (size_t)threads * c.scratch_bytes, &cached);
    if (!block)
        cpu_gemm_scratch_put((float *)block, cached);
    WR_ASSERT(block, "matmul W8A8: out of memory for x [%lld x %lld]", (long long)c.m, (long long)c.k);
    c.xq = block;
    c.dx = (float *)(block + xq_bytes);
    c.scratch = block + xq_bytes + dx_bytes;
    wr_parallel_for(c.mtiles, 1, quantize_x, &c);
    wr_parallel_for(nchunks * c.mchunks, 1, run_jobs, &c);
    cpu_gemm_scratch_put((float *)block, cached);
}
#else
bool cpu_gemm_has_vnni(void) { return false; }

void cpu_matmul_q8_0_w8a8(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_act act, wr_tensor *y)
{
    (void)x, (void)w, (void)bias, (void)act, (void)y;
    WR_ASSERT(0, "matmul W8A8: needs AVX512-VNNI");
}
#endif
