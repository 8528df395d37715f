/* GPU backend ops (emulator in `make test`, CUDA in `make test-gpu`) against CPU references, one
 * case table per op family looped inside one test (STYLE.md 9.6). Shapes include 1, primes and
 * sizes that are not tile multiples; every output buffer has sentinel zones; NaN parity is
 * checked where inputs carry NaN. The references are written here as the obvious loops in double
 * precision (independent of the kernels); bounds:
 *   elementwise, rope   nmse 1e-12 (fp32 rounding of a few operations; expf/tanhf/erff differ
 *                       from the double functions by a few ulps)
 *   norm                nmse 1e-11 (fp32 two-pass statistics over up to ~1000 elements)
 *   matmul              nmse 1e-11 (fp32 sums of up to 130 products of the exactly dequantised
 *                       weights; weights are decoded by the reference from runtime/numeric.h)
 *   attention           nmse 1e-10 (fp32 dot products + online-softmax rescaling over <= 70 keys)
 *   bf16 tensor-core paths: see matmul_case and the attention test (bounds derived from 2^-9
 *                       bf16 rounding, measured values noted there) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/quant_blocks.h"
#include "runtime/numeric.h"
#include "tests/common/testutil.h"
#include "tests/gpu/gpu_test.h"
#include "tests/gpu/op_driver.h"

const od_coverage od_covered[] = {
    {"kernels/elementwise.cu", "ew_unary_f32"},   {"kernels/elementwise.cu", "ew_binary_f32"},
    {"kernels/elementwise.cu", "ew_gated_add_f32"},
    {"kernels/elementwise.cu", "ew_modulate_f32"} /* tests/gpu/test_backend.c */, {"kernels/norm.cu", "norm_f32"},
    {"kernels/rope.cu", "rope_f32"},               {"kernels/matmul.cu", "matmul_f32_w"},
    {"kernels/matmul.cu", "matmul_bf16_mma"},
    {"kernels/attention.cu", "attn_f32"},
    {"kernels/attention.cu", "attn_bf16_mma"},
    {"kernels/attention.cu", "attn_bias_f32"} /* tests/gpu/test_backend.c */,
    /* tests/gpu/test_ops_conv.c */
    {"kernels/conv.cu", "conv3d_f32"},             {"kernels/conv.cu", "conv3d_bf16_mma"},             {"kernels/resample.cu", "resize_bilinear_f32"},
    {"kernels/resample.cu", "warp_f32"},           {"kernels/conv_transpose.cu", "conv_transpose2d_f32"},
    /* tests/gpu/test_ops_planar.c */
    {"kernels/planar.cu", "scalar_f32"},           {"kernels/planar.cu", "channel_scale_add_f32"},
    {"kernels/planar.cu", "pixel_shuffle_f32"},    {"kernels/planar.cu", "mask_blend_f32"},
    /* tests/gpu/test_ops_volume.c */
    {"kernels/volume.cu", "channel_rms_norm_f32"}, {"kernels/volume.cu", "upsample_nearest2x_f32"},
    {"kernels/volume.cu", "transpose_f32"},        {"kernels/volume.cu", "dup_up3d_f32"},
    /* tests/gpu/test_matmul_q.c */
    {"kernels/matmul_q.cu", "mmq_quant_i8"}, {"kernels/matmul_q.cu", "matmul_q8_0_i8_mma"},
    {"kernels/matmul_q.cu", "mmq_quant_f8"}, {"kernels/matmul_q.cu", "matmul_f8_e4m3_mma"},
    /* tests/gpu/test_attention_sage.c */
    {"kernels/attention_sage.cu", "sage_k_sum_chunks"}, {"kernels/attention_sage.cu", "sage_k_mean"},
    {"kernels/attention_sage.cu", "sage_v_amax"}, {"kernels/attention_sage.cu", "sage_quant_i8"},
    {"kernels/attention_sage.cu", "attn_qk_i8_pv_f16"}, {"kernels/attention_sage.cu", "sage_quant_v_f8"},
    {"kernels/attention_sage.cu", "attn_qk_i8_pv_f8"},
    /* tests/gpu/test_sage_fused.c */
    {"kernels/sage_prepare.cu", "sage_prep_rms_inv"}, {"kernels/sage_prepare.cu", "sage_prep_k_sum_chunks"},
    {"kernels/sage_prepare.cu", "sage_prep_quant_i8"},
    /* tests/gpu/test_selftest.c and test_ptx.c */
    {"kernels/selftest.cu", "selftest_axpy"},      {"kernels/selftest.cu", "selftest_row_sum"},
    {"kernels/selftest.cu", "selftest_matmul_tiled"}, {"kernels/selftest.cu", "selftest_reverse_dyn"},
    {"kernels/selftest.cu", "selftest_histogram"}, {"kernels/selftest.cu", "selftest_warp_scan"},
    {"kernels/selftest.cu", "selftest_neighbor"},  {"kernels/selftest.cu", "selftest_oob_write"},
    {"kernels/selftest.cu", "selftest_mma_bf16"},  {"kernels/selftest.cu", "selftest_mma_s8"},
    {"kernels/selftest.cu", "selftest_mma_e4m3"},  {"kernels/selftest.cu", "selftest_ldmatrix"},
    {"kernels/selftest.cu", "selftest_mma_pipeline"},
};
const int od_covered_count = (int)(sizeof od_covered / sizeof od_covered[0]);

static float *fbuf(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* ---- elementwise ------------------------------------------------------------------------------- */

static double ref_unary(int op, double v)
{
    switch (op) {
    case WR_GPU_UNARY_SILU:
        return v / (1.0 + exp(-v));
    case WR_GPU_UNARY_GELU_TANH:
        return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    case WR_GPU_UNARY_GELU_ERF:
        return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    default:
        return v;
    }
}

Test(ops, elementwise)
{
    wr_gpu *g = gt_open(NULL);
    int64_t sizes[] = {1, 7, 1031};
    for (int op = 0; op < WR_GPU_UNARY_COUNT; op++)
        for (int si = 0; si < 3; si++) {
            int64_t n = sizes[si];
            char what[128];
            snprintf(what, sizeof what, "unary op=%d n=%lld", op, (long long)n);
            float *x = fbuf(n), *y = fbuf(n), *ref = fbuf(n);
            od_fill(x, n, -6.0f, 6.0f, (uint64_t)(op * 10 + si));
            if (n > 1)
                x[n / 2] = NAN;
            for (int64_t i = 0; i < n; i++)
                ref[i] = (float)ref_unary(op, (double)x[i]);
            od_buf dx = od_upload(g, WR_DTYPE_F32, 1, &n, x), dy = od_upload(g, WR_DTYPE_F32, 1, &n, NULL);
            gt_check(wr_gpu_unary(g, (wr_gpu_unary_op)op, &dx.t, &dy.t, NULL), what);
            od_download_free(g, &dy, y, what);
            od_free(g, &dx, what);
            od_expect(y, ref, n, 1e-12, what);
            free(x), free(y), free(ref);
        }
    int64_t shapes[][2] = {{1, 1}, {111, 37}, {1031, 1}, {64, 64}}; /* n, nb */
    for (int op = 0; op < WR_GPU_BINARY_COUNT + 1; op++) /* the last round is gated_add */
        for (int si = 0; si < 4; si++) {
            int64_t n = shapes[si][0], nb = shapes[si][1];
            char what[128];
            snprintf(what, sizeof what, "%s op=%d n=%lld nb=%lld", op < WR_GPU_BINARY_COUNT ? "binary" : "gated_add", op,
                     (long long)n, (long long)nb);
            float *a = fbuf(n), *r = fbuf(n), *b = fbuf(nb), *y = fbuf(n), *ref = fbuf(n);
            od_fill(a, n, -3.0f, 3.0f, (uint64_t)si);
            od_fill(r, n, -3.0f, 3.0f, (uint64_t)si + 50);
            od_fill(b, nb, -3.0f, 3.0f, (uint64_t)si + 100);
            if (n > 2)
                a[1] = INFINITY;
            for (int64_t i = 0; i < n; i++) {
                double u = (double)a[i], v = (double)b[i % nb];
                ref[i] = (float)(op == 0 ? u + v : op == 1 ? u * v : op == 2 ? u - v : u + (double)r[i] * v);
            }
            od_buf da = od_upload(g, WR_DTYPE_F32, 1, &n, a), db = od_upload(g, WR_DTYPE_F32, 1, &nb, b);
            od_buf dr = od_upload(g, WR_DTYPE_F32, 1, &n, r), dy = od_upload(g, WR_DTYPE_F32, 1, &n, NULL);
            if (op < WR_GPU_BINARY_COUNT) {
                gt_check(wr_gpu_binary(g, (wr_gpu_binary_op)op, &da.t, &db.t, &dy.t, NULL), what);
                od_download_free(g, &dy, y, what);
                od_free(g, &da, what);
            } else {
                gt_check(wr_gpu_gated_add(g, &da.t, &dr.t, &db.t, NULL), what);
                od_download_free(g, &da, y, what);
                od_free(g, &dy, what);
            }
            od_free(g, &db, what);
            od_free(g, &dr, what);
            od_expect(y, ref, n, 1e-12, what);
            free(a), free(r), free(b), free(y), free(ref);
        }
    cr_assert_gt(wr_gpu_launch_count(g, "ew_unary_f32"), 0);
    cr_assert_gt(wr_gpu_launch_count(g, "ew_binary_f32"), 0);
    cr_assert_gt(wr_gpu_launch_count(g, "ew_gated_add_f32"), 0);
    wr_gpu_close(g);
}

/* ---- norm + modulation ------------------------------------------------------------------------- */

Test(ops, norm_and_modulation)
{
    wr_gpu *g = gt_open(NULL);
    int64_t shapes[][3] = {{1, 1, 1}, {6, 37, 3}, {4, 1031, 1}, {2, 256, 2}}; /* rows, cols, mod_div */
    for (int kind = 0; kind < 2; kind++)
        for (int affine = 0; affine < 2; affine++)
            for (int mod = 0; mod < 2; mod++)
                for (int si = 0; si < 4; si++) {
                    int64_t R = shapes[si][0], C = shapes[si][1], div = shapes[si][2];
                    char what[160];
                    snprintf(what, sizeof what, "norm kind=%d affine=%d mod=%d rows=%lld cols=%lld div=%lld", kind,
                             affine, mod, (long long)R, (long long)C, (long long)div);
                    int64_t ne[2] = {C, R}, nm[2] = {C, R / div};
                    float *x = fbuf(R * C), *y = fbuf(R * C), *ref = fbuf(R * C), *w = fbuf(C), *b = fbuf(C);
                    float *sh = fbuf(R / div * C), *sc = fbuf(R / div * C);
                    od_fill(x, R * C, -2.0f, 5.0f, (uint64_t)si);
                    od_fill(w, C, 0.5f, 1.5f, 1);
                    od_fill(b, C, -0.5f, 0.5f, 2);
                    od_fill(sh, R / div * C, -1.0f, 1.0f, 3);
                    od_fill(sc, R / div * C, -0.5f, 0.5f, 4);
                    for (int64_t r = 0; r < R; r++) {
                        const float *xr = x + r * C;
                        double mean = 0, var = 0;
                        for (int64_t c = 0; c < C; c++)
                            mean += (double)xr[c];
                        mean = kind == 0 ? mean / (double)C : 0.0;
                        for (int64_t c = 0; c < C; c++)
                            var += ((double)xr[c] - mean) * ((double)xr[c] - mean);
                        double inv = 1.0 / sqrt(var / (double)C + 1e-6);
                        for (int64_t c = 0; c < C; c++) {
                            double v = ((double)xr[c] - mean) * inv;
                            if (affine)
                                v = v * (double)w[c] + (kind == 0 ? (double)b[c] : 0.0);
                            if (mod)
                                v = v * (1.0 + (double)sc[r / div * C + c]) + (double)sh[r / div * C + c];
                            ref[r * C + c] = (float)v;
                        }
                    }
                    od_buf dx = od_upload(g, WR_DTYPE_F32, 2, ne, x), dy = od_upload(g, WR_DTYPE_F32, 2, ne, NULL);
                    od_buf dw = od_upload(g, WR_DTYPE_F32, 1, &C, w), db = od_upload(g, WR_DTYPE_F32, 1, &C, b);
                    od_buf dsh = od_upload(g, WR_DTYPE_F32, 2, nm, sh), dsc = od_upload(g, WR_DTYPE_F32, 2, nm, sc);
                    wr_gpu_norm_args a = {.kind = (wr_gpu_norm_kind)kind,
                                          .eps = 1e-6f,
                                          .weight = affine ? &dw.t : NULL,
                                          .bias = affine ? &db.t : NULL,
                                          .shift = mod ? &dsh.t : NULL,
                                          .scale = mod ? &dsc.t : NULL,
                                          .mod_div = div};
                    gt_check(wr_gpu_norm(g, &a, &dx.t, &dy.t, NULL), what);
                    od_download_free(g, &dy, y, what);
                    od_free(g, &dx, what), od_free(g, &dw, what), od_free(g, &db, what);
                    od_free(g, &dsh, what), od_free(g, &dsc, what);
                    /* a single-element layer norm is exactly 0: compare absolutely */
                    od_expect(y, ref, R * C, C == 1 && kind == 0 && !mod && !affine ? 0.0 : 1e-11, what);
                    free(x), free(y), free(ref), free(w), free(b), free(sh), free(sc);
                }
    cr_assert_gt(wr_gpu_launch_count(g, "norm_f32"), 0);
    wr_gpu_close(g);
}

/* ---- rope -------------------------------------------------------------------------------------- */

Test(ops, rope)
{
    wr_gpu *g = gt_open(NULL);
    int64_t shapes[][4] = {{2, 1, 1, 1}, {8, 3, 5, 2}, {64, 2, 13, 1}}; /* HD, NH, T, B */
    for (int si = 0; si < 3; si++) {
        int64_t HD = shapes[si][0], NH = shapes[si][1], T = shapes[si][2], B = shapes[si][3];
        int64_t n = HD * NH * T * B, nt = T * HD / 2;
        char what[128];
        snprintf(what, sizeof what, "rope HD=%lld NH=%lld T=%lld B=%lld", (long long)HD, (long long)NH, (long long)T,
                 (long long)B);
        float *x = fbuf(n), *y = fbuf(n), *ref = fbuf(n), *cs = fbuf(nt), *sn = fbuf(nt);
        od_fill(x, n, -2.0f, 2.0f, (uint64_t)si);
        for (int64_t t = 0; t < T; t++)
            for (int64_t i = 0; i < HD / 2; i++) {
                double theta = (double)t * pow(10000.0, -2.0 * (double)i / (double)HD);
                cs[t * HD / 2 + i] = (float)cos(theta);
                sn[t * HD / 2 + i] = (float)sin(theta);
            }
        for (int64_t bt = 0; bt < B * T; bt++)
            for (int64_t h = 0; h < NH; h++)
                for (int64_t i = 0; i < HD / 2; i++) {
                    int64_t t = bt % T, o = (bt * NH + h) * HD + 2 * i;
                    double c = cs[t * HD / 2 + i], s = sn[t * HD / 2 + i];
                    ref[o] = (float)((double)x[o] * c - (double)x[o + 1] * s);
                    ref[o + 1] = (float)((double)x[o] * s + (double)x[o + 1] * c);
                }
        int64_t ne[4] = {HD, NH, T, B}, nc[2] = {HD / 2, T};
        od_buf dx = od_upload(g, WR_DTYPE_F32, 4, ne, x), dy = od_upload(g, WR_DTYPE_F32, 4, ne, NULL);
        od_buf dc = od_upload(g, WR_DTYPE_F32, 2, nc, cs), ds = od_upload(g, WR_DTYPE_F32, 2, nc, sn);
        gt_check(wr_gpu_rope(g, &dx.t, &dc.t, &ds.t, &dy.t, NULL), what);
        od_download_free(g, &dy, y, what);
        od_free(g, &dx, what), od_free(g, &dc, what), od_free(g, &ds, what);
        od_expect(y, ref, n, 1e-12, what);
        free(x), free(y), free(ref), free(cs), free(sn);
    }
    cr_assert_gt(wr_gpu_launch_count(g, "rope_f32"), 0);
    wr_gpu_close(g);
}

/* ---- matmul with quantised weights ------------------------------------------------------------- */

static float bf16_round(float v) { return wr_bf16_to_f32(wr_f32_to_bf16(v)); }

/* One matmul case: the weight encoded in dt, the reference in double from the decoded weight
 * (and, for the bf16 path, from bf16-rounded operands: the tight check); the bf16 path is also
 * held to its accuracy against the fp32 reference. */
static void matmul_case(wr_gpu *g, wr_dtype dt, int64_t M, int64_t N, int64_t K, int with_bias,
                        wr_gpu_matmul_precision prec, uint64_t seed)
{
    float wscale = dt == WR_DTYPE_F8_E4M3FN ? 0.5f : 1.0f;
    char what[160];
    snprintf(what, sizeof what, "matmul %s w=%s M=%lld N=%lld K=%lld bias=%d", prec ? "bf16-mma" : "fp32",
             wr_dtype_name(dt), (long long)M, (long long)N, (long long)K, with_bias);
    float *x = fbuf(M * K), *w = fbuf(N * K), *bias = fbuf(N), *y = fbuf(M * N), *ref = fbuf(M * N),
          *ref32 = fbuf(M * N);
    od_fill(x, M * K, -1.0f, 1.0f, seed);
    od_fill(w, N * K, -2.0f, 2.0f, seed + 1);
    od_fill(bias, N, -1.0f, 1.0f, 9);
    size_t rb;
    void *wbytes = od_encode_weight(dt, w, N, K, &rb);
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0, s32 = 0;
            for (int64_t k = 0; k < K; k++) {
                float a = x[m * K + k], b = w[n * K + k];
                s32 += (double)a * (double)b;
                s += prec ? (double)bf16_round(a) * (double)bf16_round(b) : (double)a * (double)b;
            }
            double bb = with_bias ? (double)bias[n] : 0.0;
            ref[m * N + n] = (float)(s * (double)wscale + bb);
            ref32[m * N + n] = (float)(s32 * (double)wscale + bb);
        }
    int64_t nx[2] = {K, M}, nw[2] = {K, N}, ny[2] = {N, M};
    od_buf dx = od_upload(g, WR_DTYPE_F32, 2, nx, x), dw = od_upload(g, dt, 2, nw, wbytes);
    od_buf db = od_upload(g, WR_DTYPE_F32, 1, &N, bias), dy = od_upload(g, WR_DTYPE_F32, 2, ny, NULL);
    dw.t.scale = wscale;
    gt_check(wr_gpu_matmul_ex(g, &dx.t, &dw.t, with_bias ? &db.t : NULL, &dy.t, prec, NULL), what);
    od_download_free(g, &dy, y, what);
    od_free(g, &dx, what), od_free(g, &dw, what), od_free(g, &db, what);
    od_expect(y, ref, M * N, 1e-11, what);
    /* against fp32 operands: rounding each operand to bf16 changes a product by at most
     * 2 * 2^-9 relative, so |y - ref32| <= 2^-8 * sum_k |x_k w_k| * scale (+ fp32 sums); the check
     * uses 2^-7 */
    for (int64_t m = 0; prec && m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double mag = 0;
            for (int64_t k = 0; k < K; k++)
                mag += fabs((double)x[m * K + k] * (double)w[n * K + k]);
            double err = fabs((double)y[m * N + n] - (double)ref32[m * N + n]);
            cr_assert(err <= mag * (double)wscale / 128.0 + 1e-6, "%s: (%lld,%lld) differs from fp32 by %g, bound %g",
                      what, (long long)m, (long long)n, err, mag * (double)wscale / 128.0);
        }
    free(x), free(w), free(bias), free(y), free(ref), free(ref32), free(wbytes);
}

Test(ops, matmul_dequantising)
{
    wr_gpu *g = gt_open(NULL);
    wr_dtype dts[] = {WR_DTYPE_F32, WR_DTYPE_BF16, WR_DTYPE_F8_E4M3FN, WR_DTYPE_Q8_0};
    int64_t shapes[][3] = {{1, 1, 32}, {37, 67, 96}, {65, 129, 64}, {3, 5, 1}, {2, 70, 37}}; /* M, N, K */
    for (int prec = 0; prec < WR_GPU_MATMUL_PRECISION_COUNT; prec++)
        for (int di = 0; di < 4; di++)
            for (int si = 0; si < 5; si++)
                for (int with_bias = 0; with_bias < 2; with_bias++) {
                    if (dts[di] == WR_DTYPE_Q8_0 && shapes[si][2] % QK8_0)
                        continue;
                    if (prec && si == 2 && with_bias == 0)
                        continue; /* keep the emulated tensor-core cases few: they are the slow ones */
                    matmul_case(g, dts[di], shapes[si][0], shapes[si][1], shapes[si][2], with_bias,
                                (wr_gpu_matmul_precision)prec, (uint64_t)(si * 7 + di));
                }
    cr_assert_gt(wr_gpu_launch_count(g, "matmul_f32_w"), 0);
    cr_assert_gt(wr_gpu_launch_count(g, "matmul_bf16_mma"), 0);
    /* unsupported weight types say so */
    int64_t ne[2] = {32, 2};
    od_buf dx = od_upload(g, WR_DTYPE_F32, 2, ne, NULL), dw = od_upload(g, WR_DTYPE_Q4_0, 2, ne, NULL);
    od_buf dy = od_upload(g, WR_DTYPE_F32, 2, (int64_t[]){2, 2}, NULL);
    cr_assert_eq(wr_gpu_matmul(g, &dx.t, &dw.t, NULL, &dy.t, NULL), WR_E_UNSUPPORTED);
    cr_assert(strstr(wr_last_error(), "Q4_0"), "%s", wr_last_error());
    od_free(g, &dx, "q4"), od_free(g, &dw, "q4"), od_free(g, &dy, "q4");
    wr_gpu_close(g);
}

/* ---- attention --------------------------------------------------------------------------------- */

/* softmax(scale q k^T) v in double; `round` rounds q, k, v to bf16 first. */
static void attention_ref(const float *q, const float *k, const float *v, float *ref, int64_t HD, int64_t NH,
                          int64_t Tq, int64_t Tk, int64_t B, float scale, bool round)
{
    double *p = calloc((size_t)Tk, sizeof *p);
#define RD(x) (round ? (double)bf16_round(x) : (double)(x))
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < NH; h++)
            for (int64_t t = 0; t < Tq; t++) {
                const float *qr = q + ((b * Tq + t) * NH + h) * HD;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < Tk; j++) {
                    const float *kr = k + ((b * Tk + j) * NH + h) * HD;
                    double s = 0;
                    for (int64_t d = 0; d < HD; d++)
                        s += RD(qr[d]) * RD(kr[d]);
                    p[j] = s * (double)scale;
                    mx = fmax(mx, p[j]);
                }
                for (int64_t j = 0; j < Tk; j++)
                    sum += p[j] = exp(p[j] - mx);
                for (int64_t d = 0; d < HD; d++) {
                    double a = 0;
                    for (int64_t j = 0; j < Tk; j++)
                        a += p[j] * RD(v[((b * Tk + j) * NH + h) * HD + d]);
                    ref[((b * Tq + t) * NH + h) * HD + d] = (float)(a / sum);
                }
            }
#undef RD
    free(p);
}

Test(ops, attention_online_softmax)
{
    wr_gpu *g = gt_open(NULL);
    int64_t shapes[][5] = {{64, 1, 1, 1, 1}, {64, 2, 37, 41, 1}, {128, 1, 5, 70, 2}, {128, 3, 6, 33, 1}};
    for (int prec = 0; prec < WR_GPU_MATMUL_PRECISION_COUNT; prec++)
        for (int si = 0; si < 4; si++) {
            int64_t HD = shapes[si][0], NH = shapes[si][1], Tq = shapes[si][2], Tk = shapes[si][3], B = shapes[si][4];
            char what[160];
            snprintf(what, sizeof what, "attention %s HD=%lld NH=%lld Tq=%lld Tk=%lld B=%lld", prec ? "bf16-mma" : "fp32",
                     (long long)HD, (long long)NH, (long long)Tq, (long long)Tk, (long long)B);
            int64_t nq = HD * NH * Tq * B, nk = HD * NH * Tk * B;
            float *q = fbuf(nq), *k = fbuf(nk), *v = fbuf(nk), *o = fbuf(nq), *ref = fbuf(nq), *refb = fbuf(nq);
            od_fill(q, nq, -2.0f, 2.0f, (uint64_t)si);
            od_fill(k, nk, -2.0f, 2.0f, (uint64_t)si + 10);
            od_fill(v, nk, -1.0f, 1.0f, (uint64_t)si + 20);
            float scale = 1.0f / sqrtf((float)HD);
            attention_ref(q, k, v, ref, HD, NH, Tq, Tk, B, scale, false);
            attention_ref(q, k, v, refb, HD, NH, Tq, Tk, B, scale, true);
            int64_t neq[4] = {HD, NH, Tq, B}, nek[4] = {HD, NH, Tk, B};
            od_buf dq = od_upload(g, WR_DTYPE_F32, 4, neq, q), dk = od_upload(g, WR_DTYPE_F32, 4, nek, k);
            od_buf dv = od_upload(g, WR_DTYPE_F32, 4, nek, v), dout = od_upload(g, WR_DTYPE_F32, 4, neq, NULL);
            gt_check(wr_gpu_attention_ex(g, &dq.t, &dk.t, &dv.t, scale, &dout.t, (wr_gpu_matmul_precision)prec, NULL),
                     what);
            od_download_free(g, &dout, o, what);
            od_free(g, &dq, what), od_free(g, &dk, what), od_free(g, &dv, what);
            if (!prec) {
                od_expect(o, ref, nq, 1e-10, what);
            } else {
                /* with q, k, v rounded alike only the bf16 probabilities differ: relative 2^-9 per
                 * term, nmse ~ (2^-9)^2 / 3 = 1.3e-6 (measured <= 1.3e-6); against fp32 inputs
                 * the q/k/v rounding adds ~1e-5 (measured <= 1.2e-5). Bounds: 8x margin. */
                od_expect(o, refb, nq, 1e-5, what);
                od_expect(o, ref, nq, 1e-4, what);
            }
            free(q), free(k), free(v), free(o), free(ref), free(refb);
        }
    cr_assert_gt(wr_gpu_launch_count(g, "attn_f32"), 0);
    cr_assert_gt(wr_gpu_launch_count(g, "attn_bf16_mma"), 0);
    wr_gpu_close(g);
}
