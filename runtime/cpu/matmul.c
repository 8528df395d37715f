/* CPU matmul y = act(x · wᵀ · scale + bias) with the weight in any stored dtype (torch F.linear;
 * scale is the weight's per-tensor dequantisation scale, 1 unless fp8 "scaled").
 *
 * Q8_0 weights: by default the same float32 route as every dtype (exact products of the stored
 * weights). WANRT_Q8_ACT=int8 on an AVX512-VNNI CPU sends them to runtime/cpu/matmul_q8.c
 * instead (activations rounded to int8 per 32-block, integer dot products: about 1.7-2x faster,
 * 6e-3 of max|y| error on the DiT golden case; see tests/models/test_dit.c).
 *
 * A packed GEMM (the scheme and the micro-kernel contract are in gemm.h):
 *   1. x is packed once for the whole call, per K block and MR-row tile, in parallel.
 *   2. Jobs = (chunk of GEMM_NC weight rows) × (range of x tiles); M is split only when N alone
 *      gives fewer than 4 jobs per thread; threads take jobs one at a time. Per K block a job dequantises its weight chunk into
 *      32-row panels (float32, [kc][32], in a per-thread buffer of GEMM_NC × GEMM_KC floats:
 *      256 KiB, L2-resident), then runs the micro-kernel over every (x tile, panel) pair,
 *      accumulating into y from the second K block on.
 *   3. After the last K block each finished tile gets the epilogue: · scale, + bias, act.
 * Every output is one float32 FMA chain over k in order, whatever M, the tile it falls in, the
 * thread split or the path (AVX2 and AVX-512 give the same bits before the activation): a row
 * of y does not depend on the other rows of x, so banded or batched callers get identical
 * results. For M <= 4 the path's 4-row kernel is used, so one x row is not padded to 12.
 * Sizes: with GEMM_KC = 256 an x tile (12 KiB) stays in L1 while the chunk's 8 panels (32 KiB
 * each, 256 KiB) stream from L2; y is read and written once per K block (K/256 times, about
 * 1/64 byte per flop). 256 is a multiple of every block size (32, 256), so quantised rows
 * convert block-aligned. KC 512 and NC 128/512 measured within noise of 256/256. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/gemm.h"
#include "runtime/quant.h"
#include "runtime/threadpool.h"

#define GEMM_NC 256 /* weight rows per job chunk: 8 panels */

typedef struct gemm_ctx {
    const cpu_gemm_path *p;
    int mr;                    /* x rows per tile: p->mr, or 4 for M <= 4 when the path has a 4-row kernel */
    cpu_gemm_kernel_fn kernel; /* the kernel for mr rows */
    const wr_tensor *x, *w;
    const float *bias;
    wr_act act;
    float scale;
    float *y;
    int64_t m, n, k, mtiles, mpad, nchunks, mchunks, tiles_per_mchunk;
    wr_dequant_fn convert; /* NULL for F32 weights (panels read the rows in place) */
    cpu_gemm_pack_conv_fn pack_conv; /* converts and packs in one pass; NULL: convert, then pack */
    _Atomic int64_t next_job; /* run_jobs: the next job to take */
    int prefetch; /* prefetch the next K block's weight bytes into L2 during the kernels (AVX2) */
    size_t row_bytes;
    int64_t block_elems;
    size_t block_bytes;
    float *xp;      /* packed x: K block at xp + k0 · mpad, tile t at + t · mr · kc */
    float *scratch; /* per thread: GEMM_NC · GEMM_KC panel floats + 32 · GEMM_KC row floats + a tile */
    size_t scratch_floats;
} gemm_ctx;

/* One process-wide scratch block (packed x + per-thread panels), kept between calls so the
 * step loop neither allocates nor page-faults; grows to the largest call (e.g. 57 MiB for
 * x [1024 x 13824]). A call that finds it taken (concurrent matmuls) uses its own block. */
static atomic_flag cache_busy = ATOMIC_FLAG_INIT;
static float *cache;
static size_t cache_bytes;

float *cpu_gemm_scratch_get(size_t bytes, int *cached)
{
    bytes = (bytes + 63) / 64 * 64;
    *cached = !atomic_flag_test_and_set(&cache_busy);
    if (!*cached)
        return aligned_alloc(64, bytes);
    if (cache_bytes < bytes) {
        free(cache);
        cache = aligned_alloc(64, bytes);
        cache_bytes = cache ? bytes : 0;
    }
    return cache;
}

void cpu_gemm_scratch_put(float *p, int cached)
{
    if (cached)
        atomic_flag_clear(&cache_busy);
    else
        free(p);
}

static void pack_x(void *vctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    gemm_ctx *c = vctx;
    const int mr = c->mr;
    for (int64_t t = begin; t < end; t++)
        for (int64_t k0 = 0; k0 < c->k; k0 += GEMM_KC) {
            int64_t kc = c->k - k0 < GEMM_KC ? c->k - k0 : GEMM_KC;
            float *dst = c->xp + k0 * c->mpad + t * mr * kc;
            for (int r = 0; r < mr; r++) {
                int64_t row = t * mr + r;
                if (row >= c->m) {
                    for (int64_t k = 0; k < kc; k++)
                        dst[k * mr + r] = 0.0f;
                    continue;
                }
                const float *src = (const float *)wr_tensor_row(c->x, row) + k0;
                for (int64_t k = 0; k < kc; k++)
                    dst[k * mr + r] = src[k];
            }
        }
}

/* Weight rows [n0, n0 + nc) × columns [k0, k0 + kc) -> panels [kc][32], zero rows past N.
 * Float32 rows are transposed in place; other dtypes are first converted into rowbuf
 * (32 rows × GEMM_KC floats) by the path's converter (cpu_gemm_converter). */
static void pack_w(const gemm_ctx *c, int64_t n0, int64_t nc, int64_t k0, int64_t kc, float *panels, float *rowbuf)
{
    if (c->pack_conv) {
        for (int64_t p = 0; p * GEMM_NR < nc; p++) {
            const void *rows[GEMM_NR];
            for (int j = 0; j < GEMM_NR; j++) {
                int64_t row = n0 + p * GEMM_NR + j;
                rows[j] = row >= c->n ? NULL
                                      : (const unsigned char *)c->w->data + (size_t)row * c->row_bytes +
                                            (size_t)(k0 / c->block_elems) * c->block_bytes;
            }
            c->pack_conv(rows, kc, panels + p * GEMM_NR * kc);
        }
        return;
    }
    for (int64_t p = 0; p * GEMM_NR < nc; p++) {
        const float *rows[GEMM_NR];
        for (int j = 0; j < GEMM_NR; j++) {
            int64_t row = n0 + p * GEMM_NR + j;
            if (row >= c->n) {
                rows[j] = NULL;
                continue;
            }
            const unsigned char *src = (const unsigned char *)c->w->data + (size_t)row * c->row_bytes;
            if (c->convert) {
                c->convert(src + (size_t)(k0 / c->block_elems) * c->block_bytes, rowbuf + j * GEMM_KC, kc);
                rows[j] = rowbuf + j * GEMM_KC;
            } else
                rows[j] = (const float *)src + k0;
        }
        c->p->pack(rows, kc, panels + p * GEMM_NR * kc);
    }
}

static float activate(float v, wr_act act)
{
    switch (act) {
    case WR_ACT_GELU_TANH: return cpu_gelu_tanh(v);
    case WR_ACT_SILU: return cpu_silu(v);
    default: return v;
    }
}

void cpu_gemm_epilogue(float *y, int64_t ldy, int rows, int cols, float scale, const float *bias, wr_act act)
{
    if (scale == 1.0f && !bias && act == WR_ACT_NONE)
        return;
    for (int r = 0; r < rows; r++) {
        float *yr = y + r * ldy;
        for (int j = 0; j < cols; j++) {
            float v = yr[j] * scale;
            if (bias)
                v += bias[j];
            yr[j] = activate(v, act);
        }
    }
}

/* Weight rows are read 256 at a time in short runs (kc elements each: 8 lines of F16), too
 * short and too many for the hardware prefetchers, so packing waits on memory. While the
 * kernels of one K block run, the bytes of the job's next K block are brought into L2, a
 * few lines per kernel call (lines [from, to) of that block's nc × lines_per_row lines). */
typedef struct next_block {
    const unsigned char *base; /* row n0 at the next block's first byte */
    size_t row_bytes;
    int64_t lines_per_row, lines, done, per_call;
} next_block;

static inline void prefetch_some(next_block *nb)
{
    int64_t end = nb->done + nb->per_call < nb->lines ? nb->done + nb->per_call : nb->lines;
    for (; nb->done < end; nb->done++)
        __builtin_prefetch(nb->base + (size_t)(nb->done / nb->lines_per_row) * nb->row_bytes +
                               (size_t)(nb->done % nb->lines_per_row) * 64,
                           0, 2);
}

/* One worker per thread; each takes the next job from c->next_job until none is left, so
 * the threads finish within one job of each other (the pool's chunks of n / (4 · threads)
 * jobs left 20 jobs split 11/9, i.e. 9% idle, on 5120-wide weights). Which thread runs a job
 * does not change its result. */
static void run_jobs(void *vctx, int64_t begin, int64_t end, int thread)
{
    (void)begin, (void)end;
    gemm_ctx *c = vctx;
    const int mr = c->mr;
    float *panels = c->scratch + (size_t)thread * c->scratch_floats;
    float *rowbuf = panels + GEMM_NC * GEMM_KC;
    float *tile = rowbuf + GEMM_NR * GEMM_KC; /* edge tiles: mr × 32 */
    for (int64_t job; (job = atomic_fetch_add(&c->next_job, 1)) < c->nchunks * c->mchunks;) {
        int64_t n0 = job / c->mchunks * GEMM_NC, nc = c->n - n0 < GEMM_NC ? c->n - n0 : GEMM_NC;
        int64_t t0 = job % c->mchunks * c->tiles_per_mchunk;
        int64_t t1 = t0 + c->tiles_per_mchunk < c->mtiles ? t0 + c->tiles_per_mchunk : c->mtiles;
        for (int64_t k0 = 0; k0 < c->k; k0 += GEMM_KC) {
            int64_t kc = c->k - k0 < GEMM_KC ? c->k - k0 : GEMM_KC;
            int acc = k0 > 0, last = k0 + kc == c->k;
            pack_w(c, n0, nc, k0, kc, panels, rowbuf);
            next_block nb = {0};
            if (c->prefetch && !last) {
                int64_t k1 = k0 + kc, kc1 = c->k - k1 < GEMM_KC ? c->k - k1 : GEMM_KC;
                size_t bytes = (size_t)(kc1 / c->block_elems) * c->block_bytes;
                nb.base = (const unsigned char *)c->w->data + (size_t)n0 * c->row_bytes +
                          (size_t)(k1 / c->block_elems) * c->block_bytes;
                nb.row_bytes = c->row_bytes;
                nb.lines_per_row = (int64_t)((bytes + 63) / 64);
                nb.lines = nc * nb.lines_per_row;
                int64_t calls = (t1 - t0) * ((nc + GEMM_NR - 1) / GEMM_NR);
                nb.per_call = (nb.lines + calls - 1) / calls;
            }
            for (int64_t t = t0; t < t1; t++) {
                const float *xt = c->xp + k0 * c->mpad + t * mr * kc;
                int rows = c->m - t * mr < mr ? (int)(c->m - t * mr) : mr;
                for (int64_t p = 0; p * GEMM_NR < nc; p++) {
                    int64_t j0 = n0 + p * GEMM_NR;
                    int cols = c->n - j0 < GEMM_NR ? (int)(c->n - j0) : GEMM_NR;
                    float *yt = c->y + t * mr * c->n + j0;
                    if (nb.per_call)
                        prefetch_some(&nb);
                    if (rows == mr && cols == GEMM_NR)
                        c->kernel(kc, xt, panels + p * GEMM_NR * kc, yt, c->n, acc);
                    else {
                        for (int r = 0; acc && r < rows; r++)
                            memcpy(tile + r * GEMM_NR, yt + r * c->n, (size_t)cols * sizeof(float));
                        c->kernel(kc, xt, panels + p * GEMM_NR * kc, tile, GEMM_NR, acc);
                        for (int r = 0; r < rows; r++)
                            memcpy(yt + r * c->n, tile + r * GEMM_NR, (size_t)cols * sizeof(float));
                    }
                    if (last)
                        c->p->epilogue(yt, c->n, rows, cols, c->scale, c->bias ? c->bias + j0 : NULL, c->act);
                }
            }
        }
    }
}

void cpu_matmul_path(const cpu_gemm_path *path, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias,
                     wr_act act, wr_tensor *y)
{
    const wr_dtype_traits *ti = wr_dtype_info(w->dtype);
    gemm_ctx c = {.p = path, .x = x, .w = w, .bias = bias ? bias->data : NULL, .act = act, .scale = w->scale,
                  .y = y->data, .m = wr_tensor_nrows(x), .n = wr_tensor_nrows(w), .k = x->ne[0],
                  .convert = w->dtype == WR_DTYPE_F32 ? NULL : cpu_gemm_converter(path->kind, w->dtype),
                  .pack_conv = cpu_gemm_pack_converter(path->kind, w->dtype),
                  .prefetch = path->kind == CPU_GEMM_AVX2, .block_elems = ti->block_elems, .block_bytes = ti->block_bytes};
    WR_ASSERT(wr_dtype_row_bytes(w->dtype, c.k, &c.row_bytes), "matmul: K=%lld is not a whole number of %s blocks",
              (long long)c.k, ti->name);
    if (c.m == 0 || c.n == 0)
        return;
    const int threads = wr_threads_count();
    c.mr = path->mr, c.kernel = path->kernel;
    if (c.m <= 4 && path->kernel_m4)
        c.mr = 4, c.kernel = path->kernel_m4;
    const int mr = c.mr;
    c.mtiles = (c.m + mr - 1) / mr;
    c.mpad = c.mtiles * mr;
    c.nchunks = (c.n + GEMM_NC - 1) / GEMM_NC;
    int64_t want = 4 * (int64_t)threads;
    c.mchunks = c.nchunks >= want || threads == 1 ? 1 : (want + c.nchunks - 1) / c.nchunks;
    if (c.mchunks > c.mtiles)
        c.mchunks = c.mtiles;
    c.tiles_per_mchunk = (c.mtiles + c.mchunks - 1) / c.mchunks;
    c.mchunks = (c.mtiles + c.tiles_per_mchunk - 1) / c.tiles_per_mchunk;
    c.scratch_floats = (size_t)GEMM_NC * GEMM_KC + GEMM_NR * GEMM_KC + GEMM_MR_MAX * GEMM_NR; /* 64 B multiples */
    size_t xp_floats = ((size_t)c.mpad * (size_t)c.k + 15) / 16 * 16;
    size_t threads_floats = (size_t)threads * c.scratch_floats;
    WR_ASSERT((size_t)c.mpad <= SIZE_MAX / 8 / ((size_t)c.k + 1) && threads_floats < SIZE_MAX / 8 - xp_floats,
              "matmul: scratch size overflows for x [%lld x %lld]", (long long)c.m, (long long)c.k);
    int cached;
    float *block = cpu_gemm_scratch_get((xp_floats + threads_floats) * sizeof(float), &cached);
    if (!block)
        cpu_gemm_scratch_put(block, cached);
    WR_ASSERT(block, "matmul: out of memory packing x [%lld x %lld] and %d thread panels", (long long)c.m,
              (long long)c.k, threads);
    c.xp = block;
    c.scratch = block + xp_floats;
    if (c.k == 0) { /* an empty sum: y = act(bias) */
        memset(c.y, 0, (size_t)(c.m * c.n) * sizeof(float));
        for (int64_t i = 0; i < c.m; i++)
            cpu_gemm_epilogue(c.y + i * c.n, c.n, 1, (int)c.n, c.scale, c.bias, c.act);
    }
    wr_parallel_for(c.mtiles, 1, pack_x, &c);
    atomic_init(&c.next_job, 0);
    wr_parallel_for(threads, 1, run_jobs, &c);
    cpu_gemm_scratch_put(block, cached);
}

bool cpu_matmul_q8_int8_activations(void)
{
    static int mode = -1; /* read once: -1 unknown, 0 float32 activations, 1 int8 */
    if (mode < 0) {
        const char *e = getenv("WANRT_Q8_ACT");
        mode = e && strcmp(e, "int8") == 0 && cpu_gemm_has_vnni() && cpu_gemm_path_best()->kind == CPU_GEMM_AVX512;
    }
    return mode == 1;
}

void cpu_matmul(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_act act, wr_tensor *y)
{
    if (w->dtype == WR_DTYPE_Q8_0 && cpu_matmul_q8_int8_activations())
        cpu_matmul_q8_0_w8a8(x, w, bias, act, y);
    else
        cpu_matmul_path(cpu_gemm_path_best(), x, w, bias, act, y);
}
