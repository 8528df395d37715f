/* Matmul with quantised activations (kernels/matmul_q.cu, wr_gpu_matmul_q) against
 *   - its twin: the same quantisation and arithmetic written here as plain loops. For INT8 the twin
 *     is runtime/cpu/matmul_q8.c operation for operation (per-32-block d = max|x| / 127 in fp32,
 *     codes rint(x · (1 / d)), exact int32 block sums, acc = fma(float(s) · dx, dw, acc) with the
 *     blocks ascending, then · scale + bias); the s32 partials are exact on both sides, so the
 *     emulated kernel matches it to the bit (bound nmse 1e-14: zero in practice, the margin only
 *     for a device whose division rounds differently). On an AVX512-VNNI CPU the runtime's
 *     cpu_matmul_q8_0_w8a8 itself is compared too (same bound). Both kernels are also compared
 *     with the runtime's portable twins (runtime/cpu/matmul_qact.c), whose summation order is the
 *     emulated one: exact on the emulator (measured 0), the bounds above on a device.
 *     For FP8 the twin quantises x per row to e4m3 (round to nearest even, as __nv_fp8_e4m3) and
 *     sums the exact e4m3 products in double; the kernel sums them in fp32: nmse 1e-11 (as the
 *     fp32 matmul's bound: fp32 sums of <= 160 products).
 *   - the fp32 matmul of the unquantised x (the same decoded weight), element by element, within
 *     the quantisation's worst case: INT8 |Δ| <= Σ_blocks (d_b / 2) Σ_k∈b |w_k| (rounding x to a
 *     code moves it by at most half a step); FP8 |Δ| <= Σ_k |w_k| (2^-4 |x_k| + 2^-10 s) · scale (e4m3
 *     keeps 3 mantissa bits: half an ulp is 2^-4 relative; subnormal codes step by 2^-9 · s), each
 *     with 1e-5 relative slack for the fp32 sums. The measured nmse is logged.
 * Shapes: M = 1, primes, N and K not tile multiples (K a multiple of 32 for Q8_0; any K for fp8);
 * a NaN in x makes its row of y NaN on every side; sentinel zones around every buffer (the
 * launcher's temporaries are guarded by the emulator's allocator). */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/quant_blocks.h"
#include "runtime/cpu/gemm.h"
#include "runtime/numeric.h"
#include "tests/common/testutil.h"
#include "tests/gpu/gpu_test.h"
#include "tests/gpu/op_driver.h"

static float *fbuf(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* The INT8 twin; bound_out (per element, the fp32-distance bound) may be NULL. */
static void twin_i8(const float *x, const unsigned char *wq, size_t rb, const float *bias, float wscale, int64_t M,
                    int64_t N, int64_t K, float *y, const float *w, double *bound_out)
{
    int64_t nb = K / 32;
    int8_t *q = malloc((size_t)(M * K));
    float *d = fbuf(M * nb);
    for (int64_t m = 0; m < M; m++)
        for (int64_t b = 0; b < nb; b++) {
            const float *src = x + m * K + b * 32;
            float amax = 0.0f;
            int nan = 0;
            for (int e = 0; e < 32; e++) {
                amax = fmaxf(amax, fabsf(src[e]));
                nan |= isnan(src[e]);
            }
            float db = amax / 127.0f, id = db > 0.0f ? 1.0f / db : 0.0f;
            for (int e = 0; e < 32; e++)
                q[m * K + b * 32 + e] = (int8_t)(nan ? 0 : (int)lrintf(src[e] * id));
            d[m * nb + b] = nan ? NAN : db;
        }
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            const block_q8_0 *blk = (const block_q8_0 *)(wq + (size_t)n * rb);
            float acc = 0.0f;
            double bound = 0.0;
            for (int64_t b = 0; b < nb; b++) {
                int s = 0;
                double wabs = 0.0;
                for (int e = 0; e < 32; e++) {
                    s += (int)q[m * K + b * 32 + e] * (int)blk[b].qs[e];
                    wabs += fabs((double)w[n * K + b * 32 + e]);
                }
                float sx = (float)s * d[m * nb + b];
                acc = fmaf(sx, wr_f16_to_f32(blk[b].d), acc);
                bound += 0.5 * (double)d[m * nb + b] * wabs;
            }
            float v = acc * wscale;
            if (bias)
                v += bias[n];
            y[m * N + n] = v;
            if (bound_out)
                bound_out[m * N + n] = bound * (double)wscale;
        }
    free(q), free(d);
}

/* The FP8 twin (double sums of the exact e4m3 products) and the fp32-distance bound. */
static void twin_f8(const float *x, const float *w, const float *bias, float wscale, int64_t M, int64_t N, int64_t K,
                    float *y, double *bound_out)
{
    float *xd = fbuf(M * K), *sx = fbuf(M);
    for (int64_t m = 0; m < M; m++) {
        float amax = 0.0f;
        int nan = 0;
        for (int64_t k = 0; k < K; k++) {
            amax = fmaxf(amax, fabsf(x[m * K + k]));
            nan |= isnan(x[m * K + k]);
        }
        float mul = amax > 0.0f ? 448.0f / amax : 0.0f;
        for (int64_t k = 0; k < K; k++)
            xd[m * K + k] = wr_f8e4m3_to_f32(wr_f32_to_f8e4m3(x[m * K + k] * mul));
        sx[m] = nan ? NAN : amax / 448.0f;
    }
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0.0, bound = 0.0;
            for (int64_t k = 0; k < K; k++) {
                s += (double)xd[m * K + k] * (double)w[n * K + k];
                bound += fabs((double)w[n * K + k]) *
                         (fabs((double)x[m * K + k]) / 16.0 + (double)sx[m] / 1024.0);
            }
            y[m * N + n] = (float)(s * (double)sx[m] * (double)wscale + (bias ? (double)bias[n] : 0.0));
            bound_out[m * N + n] = bound * (double)wscale;
        }
    free(xd), free(sx);
}

/* One case; returns the nmse against the fp32 matmul. */
static double mmq_case(wr_gpu *g, wr_gpu_mmq q, int64_t M, int64_t N, int64_t K, int with_bias, int with_nan,
                       uint64_t seed)
{
    bool f8 = q == WR_GPU_MMQ_FP8;
    wr_dtype dt = f8 ? WR_DTYPE_F8_E4M3FN : WR_DTYPE_Q8_0;
    float wscale = f8 ? 0.5f : 1.0f;
    char what[160];
    snprintf(what, sizeof what, "matmul_q %s M=%lld N=%lld K=%lld bias=%d nan=%d", f8 ? "fp8" : "int8", (long long)M,
             (long long)N, (long long)K, with_bias, with_nan);
    float *x = fbuf(M * K), *w = fbuf(N * K), *bias = fbuf(N), *y = fbuf(M * N), *twin = fbuf(M * N),
          *ref32 = fbuf(M * N);
    double *bound = calloc((size_t)(M * N), sizeof *bound);
    od_fill(x, M * K, -1.0f, 1.0f, seed);
    od_fill(w, N * K, -2.0f, 2.0f, seed + 1);
    od_fill(bias, N, -1.0f, 1.0f, seed + 2);
    for (int64_t i = 0; i < M * K; i += 7) /* a spread of magnitudes inside the blocks */
        x[i] *= 1e-3f;
    if (with_nan && M > 1)
        x[K + K / 2] = NAN; /* row 1 */
    size_t rb;
    void *wbytes = od_encode_weight(dt, w, N, K, &rb); /* w now holds the decoded weight */
    if (f8)
        twin_f8(x, w, with_bias ? bias : NULL, wscale, M, N, K, twin, bound);
    else
        twin_i8(x, wbytes, rb, with_bias ? bias : NULL, wscale, M, N, K, twin, w, bound);
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (double)x[m * K + k] * (double)w[n * K + k];
            ref32[m * N + n] = (float)(s * (double)wscale + (with_bias ? (double)bias[n] : 0.0));
        }
    int64_t nx[2] = {K, M}, nw[2] = {K, N}, ny[2] = {N, M};
    od_buf dx = od_upload(g, WR_DTYPE_F32, 2, nx, x), dw = od_upload(g, dt, 2, nw, wbytes);
    od_buf db = od_upload(g, WR_DTYPE_F32, 1, &N, bias), dy = od_upload(g, WR_DTYPE_F32, 2, ny, NULL);
    dw.t.scale = wscale;
    gt_check(wr_gpu_matmul_q(g, &dx.t, &dw.t, with_bias ? &db.t : NULL, &dy.t, q, NULL), what);
    od_download_free(g, &dy, y, what);
    od_free(g, &dx, what), od_free(g, &dw, what), od_free(g, &db, what);
    od_expect(y, twin, M * N, f8 ? 1e-11 : 1e-14, what);
    { /* the runtime's portable twin: the emulator's order exactly (fp8: fp32 sums per 32 in k order) */
        float *yc = fbuf(M * N);
        wr_tensor tx, tw, tb, ty;
        cr_assert(wr_tensor_init(&tx, WR_DTYPE_F32, 2, nx, x) && wr_tensor_init(&tw, dt, 2, nw, wbytes) &&
                  wr_tensor_init(&tb, WR_DTYPE_F32, 1, &N, bias) && wr_tensor_init(&ty, WR_DTYPE_F32, 2, ny, yc));
        tw.scale = wscale;
        (f8 ? cpu_matmul_f8_a8_ref : cpu_matmul_q8_0_a8_ref)(&tx, &tw, with_bias ? &tb : NULL, NULL, &ty);
        od_expect(y, yc, M * N, wr_gpu_get_kind(g) == WR_GPU_EMU ? 0.0 : f8 ? 1e-11 : 1e-14, what);
        free(yc);
    }
    if (!f8 && !with_nan && cpu_gemm_has_vnni()) { /* the runtime's own CPU twin */
        float *yc = fbuf(M * N);
        wr_tensor tx, tw, tb, ty;
        cr_assert(wr_tensor_init(&tx, WR_DTYPE_F32, 2, nx, x) && wr_tensor_init(&tw, dt, 2, nw, wbytes) &&
                  wr_tensor_init(&tb, WR_DTYPE_F32, 1, &N, bias) && wr_tensor_init(&ty, WR_DTYPE_F32, 2, ny, yc));
        tw.scale = wscale;
        cpu_matmul_q8_0_w8a8(&tx, &tw, with_bias ? &tb : NULL, WR_ACT_NONE, &ty);
        od_expect(y, yc, M * N, 1e-14, what);
        free(yc);
    }
    double num = 0, den = 0;
    for (int64_t i = 0; i < M * N; i++) {
        if (isnan(ref32[i])) {
            cr_assert(isnan(y[i]), "%s: element %lld should be NaN", what, (long long)i);
            continue;
        }
        double err = fabs((double)y[i] - (double)ref32[i]);
        double lim = bound[i] * (1.0 + 1e-5) + 1e-5 * (fabs((double)ref32[i]) + 1.0);
        cr_assert(err <= lim, "%s: element %lld differs from fp32 by %g, bound %g", what, (long long)i, err, lim);
        num += err * err, den += (double)ref32[i] * (double)ref32[i];
    }
    free(x), free(w), free(bias), free(y), free(twin), free(ref32), free(bound), free(wbytes);
    return den > 0 ? num / den : 0.0;
}

Test(ops, matmul_quantised_activations)
{
    wr_gpu_options opts = {.arch = 89};
    wr_gpu *g = gt_open(&opts);
    if (wr_gpu_arch(g) < 80) {
        wr_gpu_close(g);
        cr_skip_test("int8 tensor cores need sm_80");
    }
    /* M, N, K; the last two with the real K of Wan 2.2 A14B (5120) and TI2V-5B (3072) */
    int64_t shapes[][3] = {{1, 1, 32}, {37, 67, 96}, {67, 5, 64}, {2, 70, 160}, {1, 64, 5120}, {3, 33, 3072}};
    int64_t f8_extra[][3] = {{3, 5, 40}, {2, 13, 7}};
    double worst[2] = {0, 0};
    for (int qi = 0; qi < 2; qi++) {
        if (qi == WR_GPU_MMQ_FP8 && wr_gpu_arch(g) < 89)
            continue;
        for (int si = 0; si < 8; si++) {
            if (si >= 6 && qi != WR_GPU_MMQ_FP8)
                continue;
            const int64_t *s = si < 6 ? shapes[si] : f8_extra[si - 6];
            double e = mmq_case(g, (wr_gpu_mmq)qi, s[0], s[1], s[2], si % 2 == 0, si == 1, (uint64_t)(si * 11 + qi));
            worst[qi] = fmax(worst[qi], e);
        }
    }
    cr_log_info("matmul_q vs fp32: worst nmse int8 %.3g, fp8 %.3g", worst[0], worst[1]);
    cr_assert_gt(wr_gpu_launch_count(g, "mmq_quant_i8"), 0);
    cr_assert_gt(wr_gpu_launch_count(g, "matmul_q8_0_i8_mma"), 0);
    if (wr_gpu_arch(g) >= 89) {
        cr_assert_gt(wr_gpu_launch_count(g, "mmq_quant_f8"), 0);
        cr_assert_gt(wr_gpu_launch_count(g, "matmul_f8_e4m3_mma"), 0);
    }
    /* the wrong weight dtype says so */
    int64_t ne[2] = {32, 2}, ney[2] = {2, 2};
    od_buf dx = od_upload(g, WR_DTYPE_F32, 2, ne, NULL), dw = od_upload(g, WR_DTYPE_BF16, 2, ne, NULL);
    od_buf dy = od_upload(g, WR_DTYPE_F32, 2, ney, NULL);
    cr_assert_eq(wr_gpu_matmul_q(g, &dx.t, &dw.t, NULL, &dy.t, WR_GPU_MMQ_INT8, NULL), WR_E_UNSUPPORTED);
    cr_assert(strstr(wr_last_error(), "Q8_0"), "%s", wr_last_error());
    od_free(g, &dx, "dtype"), od_free(g, &dw, "dtype"), od_free(g, &dy, "dtype");
    wr_gpu_close(g);
}

/* Below sm_89 the fp8 route is refused (the backend then falls back, warning once). */
Test(ops, matmul_fp8_needs_sm89)
{
    wr_gpu_options opts = {.arch = 80};
    wr_gpu *g = gt_open(&opts);
    if (wr_gpu_arch(g) >= 89) {
        wr_gpu_close(g);
        cr_skip_test("the device has fp8 tensor cores");
    }
    int64_t ne[2] = {32, 2}, ney[2] = {2, 2};
    od_buf dx = od_upload(g, WR_DTYPE_F32, 2, ne, NULL), dw = od_upload(g, WR_DTYPE_F8_E4M3FN, 2, ne, NULL);
    od_buf dy = od_upload(g, WR_DTYPE_F32, 2, ney, NULL);
    cr_assert_eq(wr_gpu_matmul_q(g, &dx.t, &dw.t, NULL, &dy.t, WR_GPU_MMQ_FP8, NULL), WR_E_UNSUPPORTED);
    cr_assert(strstr(wr_last_error(), "sm_89"), "%s", wr_last_error());
    od_free(g, &dx, "arch"), od_free(g, &dw, "arch"), od_free(g, &dy, "arch");
    wr_gpu_close(g);
}
