/* CPU matmul and attention throughput at Wan shapes (make bench; not a test).
 * Each row: y[M, N] = x[M, K] · W[N, K]ᵀ with W in F32, BF16, F8 E4M3 or Q8_0, GFLOP/s and the
 * ratio to the F32 weight run of the same shape in this process; then attention at 1024
 * tokens x head dim 128. Thread count and SIMD path are printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/quant_blocks.h"
#include "runtime/cpu/simd.h"
#include "runtime/numeric.h"
#include "runtime/ops.h"
#include "runtime/threadpool.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *make_weight(wr_dtype dt, const float *w, int64_t n, int64_t k)
{
    size_t count = (size_t)(n * k);
    if (dt == WR_DTYPE_F32)
        return memcpy(malloc(count * 4), w, count * 4);
    if (dt == WR_DTYPE_BF16 || dt == WR_DTYPE_F8_E4M3FN) {
        size_t es = dt == WR_DTYPE_BF16 ? 2 : 1;
        unsigned char *p = malloc(count * es);
        for (size_t i = 0; i < count; i++) {
            if (es == 2) {
                uint16_t b = wr_f32_to_bf16(w[i]);
                memcpy(p + 2 * i, &b, 2);
            } else
                p[i] = wr_f32_to_f8e4m3(w[i] * 16.0f); /* scale 1/16 keeps values in range */
        }
        return p;
    }
    block_q8_0 *q = malloc(count / 32 * sizeof *q); /* Q8_0: d = amax / 127, round to nearest */
    for (size_t b = 0; b < count / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(w[b * 32 + (size_t)j]));
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        q[b].d = wr_f32_to_f16(d);
        for (int j = 0; j < 32; j++)
            q[b].qs[j] = (int8_t)lrintf(w[b * 32 + (size_t)j] * id);
    }
    return q;
}

static double run(wr_dtype dt, int64_t m, int64_t n, int64_t k, const float *x, const float *wf, float *y)
{
    void *wd = make_weight(dt, wf, n, k);
    wr_tensor tx, tw, ty;
    wr_tensor_init(&tx, WR_DTYPE_F32, 2, (int64_t[]){k, m}, (void *)x);
    wr_tensor_init(&tw, dt, 2, (int64_t[]){k, n}, wd);
    if (dt == WR_DTYPE_F8_E4M3FN)
        tw.scale = 1.0f / 16.0f;
    wr_tensor_init(&ty, WR_DTYPE_F32, 2, (int64_t[]){n, m}, y);
    wr_op_matmul(&tx, &tw, NULL, WR_ACT_NONE, &ty); /* warm-up */
    int reps = 0;
    double t0 = now(), t;
    do {
        wr_op_matmul(&tx, &tw, NULL, WR_ACT_NONE, &ty);
        reps++;
        t = now() - t0;
    } while (t < 1.0);
    free(wd);
    return 2.0 * (double)m * (double)n * (double)k * reps / t * 1e-9;
}

int main(void)
{
    printf("wanrt CPU matmul bench: %d threads, SIMD %s\n", wr_threads_count(), wr_simd_name());
    const int64_t shapes[][2] = {{5120, 5120}, {13824, 5120}, {5120, 13824}, {3072, 3072}};
    const wr_dtype dts[] = {WR_DTYPE_F32, WR_DTYPE_BF16, WR_DTYPE_F8_E4M3FN, WR_DTYPE_Q8_0};
    const int64_t ms[] = {256, 1024};
    printf("%6s %6s %6s | %10s %10s %10s %10s  (GFLOP/s; ratio to F32)\n", "M", "N", "K", "F32", "BF16", "F8", "Q8_0");
    for (size_t mi = 0; mi < 2; mi++)
        for (size_t s = 0; s < 4; s++) {
            int64_t m = ms[mi], n = shapes[s][0], k = shapes[s][1];
            float *x = malloc((size_t)(m * k) * 4), *w = malloc((size_t)(n * k) * 4), *y = malloc((size_t)(m * n) * 4);
            uint64_t st = 1;
            for (int64_t i = 0; i < m * k; i++)
                x[i] = (float)((st = st * 6364136223846793005ull + 1) >> 40) / 16777216.0f - 0.5f;
            for (int64_t i = 0; i < n * k; i++)
                w[i] = ((float)((st = st * 6364136223846793005ull + 1) >> 40) / 16777216.0f - 0.5f) * 0.1f;
            double g[4];
            for (int d = 0; d < 4; d++)
                g[d] = run(dts[d], m, n, k, x, w, y);
            printf("%6lld %6lld %6lld | %10.1f %5.1f %4.2fx %5.1f %4.2fx %5.1f %4.2fx\n", (long long)m, (long long)n,
                   (long long)k, g[0], g[1], g[1] / g[0], g[2], g[2] / g[0], g[3], g[3] / g[0]);
            free(x), free(w), free(y);
        }
    /* attention: 1024 tokens, 8 heads of 128 */
    int64_t T = 1024, H = 8, D = 128;
    float *q = malloc((size_t)(T * H * D) * 4), *kk = malloc((size_t)(T * H * D) * 4), *v = malloc((size_t)(T * H * D) * 4),
          *o = malloc((size_t)(T * H * D) * 4);
    for (int64_t i = 0; i < T * H * D; i++)
        q[i] = kk[i] = v[i] = (float)(i % 97) / 97.0f - 0.5f;
    wr_tensor tq, tk, tv, to;
    int64_t ne[3] = {D, H, T};
    wr_tensor_init(&tq, WR_DTYPE_F32, 3, ne, q), wr_tensor_init(&tk, WR_DTYPE_F32, 3, ne, kk);
    wr_tensor_init(&tv, WR_DTYPE_F32, 3, ne, v), wr_tensor_init(&to, WR_DTYPE_F32, 3, ne, o);
    int reps = 0;
    double t0 = now(), t;
    do {
        wr_op_attention(&tq, &tk, &tv, T, 1.0f / sqrtf((float)D), &to);
        reps++;
        t = now() - t0;
    } while (t < 1.0);
    printf("attention T=%lld heads=%lld hd=%lld: %.1f GFLOP/s\n", (long long)T, (long long)H, (long long)D,
           4.0 * (double)(T * T * H * D) * reps / t * 1e-9);
    free(q), free(kk), free(v), free(o);
    wr_threads_shutdown();
    return 0;
}
