/* CPU matmul y = act(x · wᵀ + bias) with the weight in any stored dtype (torch F.linear).
 *
 * The weight is processed in tiles of TILE_N rows: each tile is converted to float32 into a
 * per-thread scratch buffer (never a whole-weight copy) and multiplied against every row of
 * x. Tiles are distributed over the thread pool. The dot product has an AVX2/FMA path chosen
 * at run time and a portable path; both accumulate in float32. */
#include <math.h>
#include <stdlib.h>

#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/simd.h"
#include "runtime/quant.h"
#include "runtime/threadpool.h"

#define TILE_N 16

typedef struct mm_ctx {
    const wr_tensor *x, *w, *bias;
    wr_act act;
    wr_tensor *y;
    wr_dequant_fn convert;
    int64_t m, n, k;
    float *scratch; /* TILE_N * k floats per thread */
    wr_dot_fn dot;
} mm_ctx;

static float activate(float v, wr_act act)
{
    switch (act) {
    case WR_ACT_GELU_TANH: return cpu_gelu_tanh(v);
    case WR_ACT_SILU: return cpu_silu(v);
    default: return v;
    }
}

static void mm_tiles(void *vctx, int64_t begin, int64_t end, int thread)
{
    mm_ctx *c = vctx;
    float *wt = c->scratch + (size_t)thread * TILE_N * (size_t)c->k;
    const float scale = c->w->scale;
    const float *bias = c->bias ? c->bias->data : NULL;
    for (int64_t tile = begin; tile < end; tile++) {
        int64_t n0 = tile * TILE_N;
        int64_t nn = c->n - n0 < TILE_N ? c->n - n0 : TILE_N;
        for (int64_t j = 0; j < nn; j++)
            c->convert(wr_tensor_row(c->w, n0 + j), wt + j * c->k, c->k);
        for (int64_t i = 0; i < c->m; i++) {
            const float *xr = wr_tensor_row(c->x, i);
            float *yr = (float *)wr_tensor_row(c->y, i) + n0;
            for (int64_t j = 0; j < nn; j++) {
                float v = c->dot(xr, wt + j * c->k, c->k) * scale;
                if (bias)
                    v += bias[n0 + j];
                yr[j] = activate(v, c->act);
            }
        }
    }
}

void cpu_matmul(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_act act, wr_tensor *y)
{
    mm_ctx c = {.x = x, .w = w, .bias = bias, .act = act, .y = y, .convert = wr_dequant_get(w->dtype),
                .m = wr_tensor_nrows(x), .n = wr_tensor_nrows(w), .k = x->ne[0], .dot = wr_simd_dot()};
    int threads = wr_threads_count();
    c.scratch = malloc((size_t)threads * TILE_N * (size_t)c.k * sizeof(float));
    WR_ASSERT(c.scratch, "matmul: out of memory for %d x %d x %lld scratch floats", threads, TILE_N,
              (long long)c.k);
    int64_t tiles = (c.n + TILE_N - 1) / TILE_N;
    wr_parallel_for(tiles, 1, mm_tiles, &c);
    free(c.scratch);
}
