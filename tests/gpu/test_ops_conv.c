/* The convolution and resampling ops of the VAEs and RIFE (kernels/conv.cu, kernels/resample.cu)
 * on the device under test against their CPU twins (runtime/cpu/conv.c, resample.c), through the
 * op driver: sentinel zones around every device buffer, seeded inputs, NaN parity.
 * Bounds:
 *   conv3d   max |got − ref| ≤ 1e-5 · max|ref| and nmse ≤ 1e-11: fp32 sums of up to 27·96 = 2592
 *            products in the twin's order (the emulator matches to the last bit; a GPU may fuse
 *            products into FMAs, a relative difference of a few ulps per term)
 *   conv3d bf16 mma  the same bounds against the twin run on bf16-rounded operands, and
 *            |got − ref| ≤ 2^-7 · Σ|x·w| against fp32 (see conv_run)
 *   resize, warp  max |got − ref| ≤ 1e-6 · max|ref|: the same few fp32 lerps on the same float64
 *            / fp32 coordinates (bit-identical on the emulator; FMA contraction on a GPU)
 * Shapes include 1, primes, sizes that are not multiples of the 64x64 tile, odd channel counts,
 * strides 2, causal front padding and the asymmetric (0, 1, 0, 1) padding of Wan's downsampler. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "runtime/numeric.h"
#include "tests/common/testutil.h"
#include "tests/gpu/gpu_test.h"
#include "tests/gpu/op_driver.h"

static float *fbuf(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static void expect_close(const float *got, const float *ref, int64_t n, double rel, double nmse, const char *what)
{
    od_expect(got, ref, n, nmse, what);
    wr_test_err e = wr_test_compare(got, ref, n);
    if (getenv("WANRT_TEST_VERBOSE"))
        fprintf(stderr, "%s: rel to max %.3g, nmse %.3g\n", what, e.rel_to_max, e.nmse);
    cr_assert(e.rel_to_max <= rel, "%s: max abs %.3g = %.3g of max|ref| (bound %.3g)", what, e.max_abs, e.rel_to_max,
              rel);
}

/* ---- conv3d --------------------------------------------------------------------------------- */

typedef struct conv_case {
    int c, t, h, w, o, kt, kh, kw;
    wr_conv_params p;
    wr_dtype wdt;
    int bias, four_d; /* four_d: a Conv2d weight [O, C, kh, kw] (kt must be 1) */
} conv_case;

static float bf16_round(float v) { return wr_bf16_to_f32(wr_f32_to_bf16(v)); }

/* The CPU twin on host arrays (F32 weights). */
static void conv_twin(const conv_case *cc, const float *x, const float *w, const float *b, float *out, int to, int ho,
                      int wo)
{
    int64_t xne[4] = {cc->w, cc->h, cc->t, cc->c}, yne[4] = {wo, ho, to, cc->o};
    int64_t wne5[5] = {cc->kw, cc->kh, cc->kt, cc->c, cc->o}, bne = cc->o;
    wr_tensor hx, hw, hb, hy;
    cr_assert(wr_tensor_init(&hx, WR_DTYPE_F32, 4, xne, (void *)x) && wr_tensor_init(&hy, WR_DTYPE_F32, 4, yne, out) &&
              wr_tensor_init(&hb, WR_DTYPE_F32, 1, &bne, (void *)b) &&
              wr_tensor_init(&hw, WR_DTYPE_F32, 5, wne5, (void *)w));
    wr_backend_select(&wr_backend_cpu);
    wr_op_conv3d(&hx, &hw, b ? &hb : NULL, &cc->p, &hy);
}

static void conv_run(wr_gpu *g, const conv_case *cc, int seed, wr_gpu_matmul_precision prec)
{
    const wr_conv_params *p = &cc->p;
    int to = (cc->t + p->t_front - cc->kt) / p->st + 1, ho = (cc->h + p->top + p->bottom - cc->kh) / p->sh + 1;
    int wo = (cc->w + p->left + p->right - cc->kw) / p->sw + 1;
    char what[200];
    snprintf(what, sizeof what, "conv3d %s C%d T%d H%d W%d -> O%d k%dx%dx%d s%d,%d,%d pad t%d %d%d%d%d %s%s%s",
             prec ? "bf16-mma" : "fp32", cc->c,
             cc->t, cc->h, cc->w, cc->o, cc->kt, cc->kh, cc->kw, p->st, p->sh, p->sw, p->t_front, p->top, p->bottom,
             p->left, p->right, wr_dtype_name(cc->wdt), cc->bias ? " bias" : "", cc->four_d ? " 2d" : "");
    int64_t nx = (int64_t)cc->c * cc->t * cc->h * cc->w, K = (int64_t)cc->c * cc->kt * cc->kh * cc->kw;
    int64_t ny = (int64_t)cc->o * to * ho * wo;
    float *x = fbuf(nx), *wf = fbuf(K * cc->o), *b = fbuf(cc->o), *y = fbuf(ny), *ref = fbuf(ny);
    od_fill(x, nx, -1.0f, 1.0f, (uint64_t)seed);
    od_fill(wf, K * cc->o, -0.5f, 0.5f, (uint64_t)seed + 1000);
    od_fill(b, cc->o, -1.0f, 1.0f, (uint64_t)seed + 2000);
    if (nx > 4)
        x[nx / 3] = NAN; /* every output whose window holds it is NaN on both sides */
    size_t es = wr_dtype_info(cc->wdt)->block_bytes;
    unsigned char *wb = malloc((size_t)(K * cc->o) * es);
    for (int64_t i = 0; i < K * cc->o; i++) {
        if (cc->wdt == WR_DTYPE_F32) {
            memcpy(wb + 4 * i, &wf[i], 4);
        } else {
            uint16_t h = cc->wdt == WR_DTYPE_BF16 ? wr_f32_to_bf16(wf[i]) : wr_f32_to_f16(wf[i]);
            memcpy(wb + 2 * i, &h, 2);
        }
    }
    int64_t xne[4] = {cc->w, cc->h, cc->t, cc->c}, yne[4] = {wo, ho, to, cc->o};
    int64_t wne5[5] = {cc->kw, cc->kh, cc->kt, cc->c, cc->o}, wne4[4] = {cc->kw, cc->kh, cc->c, cc->o};
    int64_t bne = cc->o;
    /* the reference: the CPU backend's twin on host tensors */
    wr_tensor hx, hw, hb, hy;
    cr_assert(wr_tensor_init(&hx, WR_DTYPE_F32, 4, xne, x) && wr_tensor_init(&hy, WR_DTYPE_F32, 4, yne, ref) &&
              wr_tensor_init(&hb, WR_DTYPE_F32, 1, &bne, b));
    cr_assert(cc->four_d ? wr_tensor_init(&hw, cc->wdt, 4, wne4, wb) : wr_tensor_init(&hw, cc->wdt, 5, wne5, wb));
    wr_backend_select(&wr_backend_cpu);
    wr_op_conv3d(&hx, &hw, cc->bias ? &hb : NULL, p, &hy);
    /* the device */
    od_buf dx = od_upload(g, WR_DTYPE_F32, 4, xne, x), db = od_upload(g, WR_DTYPE_F32, 1, &bne, b);
    od_buf dw = cc->four_d ? od_upload(g, cc->wdt, 4, wne4, wb) : od_upload(g, cc->wdt, 5, wne5, wb);
    od_buf dy = od_upload(g, WR_DTYPE_F32, 4, yne, NULL);
    gt_check(wr_gpu_conv3d_ex(g, &dx.t, &dw.t, cc->bias ? &db.t : NULL, p, &dy.t, prec, NULL), what);
    od_download_free(g, &dy, y, what);
    od_free(g, &dx, what), od_free(g, &dw, what), od_free(g, &db, what);
    if (prec == WR_GPU_MATMUL_FP32) {
        expect_close(y, ref, ny, 1e-5, 1e-11, what);
    } else {
        /* tight: the twin on the operands rounded to bf16 as the kernel rounds them (the decoded
         * weight, then bf16); products are then exact in fp32 and only the sum order differs */
        float *xr = fbuf(nx), *wr = fbuf(K * cc->o), *ax = fbuf(nx), *aw = fbuf(K * cc->o);
        float *ref_bf = fbuf(ny), *mag = fbuf(ny);
        for (int64_t i = 0; i < nx; i++)
            xr[i] = bf16_round(x[i]), ax[i] = fabsf(x[i]);
        for (int64_t i = 0; i < K * cc->o; i++) {
            float d = cc->wdt == WR_DTYPE_F32    ? wf[i]
                      : cc->wdt == WR_DTYPE_BF16 ? bf16_round(wf[i])
                                                 : wr_f16_to_f32(wr_f32_to_f16(wf[i]));
            wr[i] = bf16_round(d), aw[i] = fabsf(d);
        }
        conv_twin(cc, xr, wr, cc->bias ? b : NULL, ref_bf, to, ho, wo);
        expect_close(y, ref_bf, ny, 1e-5, 1e-11, what);
        /* against fp32: rounding each operand to bf16 changes a product by at most 2 * 2^-9
         * relative, so |y - ref| <= 2^-8 * sum |x w| (+ fp32 sums); the check uses 2^-7 */
        conv_twin(cc, ax, aw, NULL, mag, to, ho, wo);
        if (getenv("WANRT_TEST_VERBOSE"))
            fprintf(stderr, "%s: vs fp32 rel to max %.3g\n", what, wr_test_compare(y, ref, ny).rel_to_max);
        for (int64_t i = 0; i < ny; i++) {
            if (isnan(ref[i]))
                continue;
            double err = fabs((double)y[i] - (double)ref[i]);
            cr_assert(err <= (double)mag[i] / 128.0 + 1e-6, "%s: element %lld differs from fp32 by %g, bound %g", what,
                      (long long)i, err, (double)mag[i] / 128.0);
        }
        free(xr), free(wr), free(ax), free(aw), free(ref_bf), free(mag);
    }
    int64_t nan_out = 0;
    for (int64_t i = 0; i < ny; i++)
        nan_out += isnan(ref[i]);
    cr_assert(nx <= 4 || nan_out > 0, "%s: the NaN input reached no output", what);
    free(x), free(wf), free(b), free(y), free(ref), free(wb);
}

Test(ops, conv3d_implicit_gemm, .timeout = 300)
{
    wr_gpu *g = gt_open(NULL);
    static const conv_case cases[] = {
        /* 1x1x1 of a single pixel and channel */
        {1, 1, 1, 1, 1, 1, 1, 1, {1, 1, 1, 0, 0, 0, 0, 0}, WR_DTYPE_F32, 1, 0},
        /* the VAE's causal 3x3x3 (two zero frames in front), 3 -> 5 channels, prime plane */
        {3, 3, 7, 5, 5, 3, 3, 3, {1, 1, 1, 2, 1, 1, 1, 1}, WR_DTYPE_BF16, 1, 0},
        /* RIFE's stride-2 3x3 Conv2d, odd widths, O = 67 spans two channel tiles, 42 pixels */
        {17, 1, 13, 11, 67, 1, 3, 3, {1, 2, 2, 0, 1, 1, 1, 1}, WR_DTYPE_F16, 1, 1},
        /* the VAE's time downsampling 3x1x1, stride 2 in time, no bias */
        {5, 6, 3, 4, 7, 3, 1, 1, {2, 1, 1, 0, 0, 0, 0, 0}, WR_DTYPE_F32, 0, 0},
        /* the VAE's spatial downsampler: ZeroPad2d(0, 1, 0, 1) then a 3x3 stride 2; 630 pixels,
         * 3 output channels (a mostly empty channel tile) */
        {20, 2, 9, 70, 3, 1, 3, 3, {1, 2, 2, 0, 0, 1, 0, 1}, WR_DTYPE_BF16, 1, 1},
        /* a 1x1x1 shortcut at a VAE width: K = 96 spans six k steps */
        {96, 2, 3, 5, 96, 1, 1, 1, {1, 1, 1, 0, 0, 0, 0, 0}, WR_DTYPE_F16, 1, 0},
        /* RIFE's stride-1 3x3 at width 64 over 65 pixels (one past a tile) */
        {64, 1, 5, 13, 64, 1, 3, 3, {1, 1, 1, 0, 1, 1, 1, 1}, WR_DTYPE_F32, 1, 1},
    };
    for (int prec = 0; prec < WR_GPU_MATMUL_PRECISION_COUNT; prec++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            conv_run(g, &cases[i], (int)i + 1, (wr_gpu_matmul_precision)prec);
    cr_assert_gt(wr_gpu_launch_count(g, "conv3d_f32"), 0);
    cr_assert_gt(wr_gpu_launch_count(g, "conv3d_bf16_mma"), 0);
    wr_gpu_close(g);
}

/* ---- resize and warp ------------------------------------------------------------------------ */

Test(ops, resize_bilinear, .timeout = 120)
{
    wr_gpu *g = gt_open(NULL);
    /* planes, ih, iw, factor: RIFE's 1/8 .. 8 (and 1/s for its scale 0.5 / 2 options), a
     * single pixel, primes, a factor whose coordinates are not dyadic */
    static const struct {
        int planes, ih, iw;
        double f;
    } cases[] = {{1, 1, 1, 8.0}, {3, 13, 7, 0.5}, {4, 64, 40, 0.125}, {5, 8, 5, 8.0},
                 {2, 17, 23, 0.25}, {6, 11, 9, 2.0}, {1, 31, 29, 1.0 / 3.0}, {3, 9, 6, 4.0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int oh = (int)floor(cases[i].ih * cases[i].f), ow = (int)floor(cases[i].iw * cases[i].f);
        char what[128];
        snprintf(what, sizeof what, "resize %dx%dx%d by %g -> %dx%d", cases[i].planes, cases[i].ih, cases[i].iw,
                 cases[i].f, oh, ow);
        int64_t xne[3] = {cases[i].iw, cases[i].ih, cases[i].planes}, yne[3] = {ow, oh, cases[i].planes};
        int64_t nx = xne[0] * xne[1] * xne[2], ny = yne[0] * yne[1] * yne[2];
        float *x = fbuf(nx), *y = fbuf(ny), *ref = fbuf(ny);
        od_fill(x, nx, -2.0f, 2.0f, (uint64_t)i + 7);
        if (nx > 8)
            x[nx / 2] = NAN;
        wr_tensor hx, hy;
        cr_assert(wr_tensor_init(&hx, WR_DTYPE_F32, 3, xne, x) && wr_tensor_init(&hy, WR_DTYPE_F32, 3, yne, ref));
        wr_backend_select(&wr_backend_cpu);
        wr_op_resize_bilinear(&hx, cases[i].f, &hy);
        od_buf dx = od_upload(g, WR_DTYPE_F32, 3, xne, x), dy = od_upload(g, WR_DTYPE_F32, 3, yne, NULL);
        gt_check(wr_gpu_resize_bilinear(g, &dx.t, cases[i].f, &dy.t, NULL), what);
        od_download_free(g, &dy, y, what);
        od_free(g, &dx, what);
        expect_close(y, ref, ny, 1e-6, 1e-13, what);
        free(x), free(y), free(ref);
    }
    cr_assert_gt(wr_gpu_launch_count(g, "resize_bilinear_f32"), 0);
    wr_gpu_close(g);
}

Test(ops, warp_border_bilinear, .timeout = 120)
{
    wr_gpu *g = gt_open(NULL);
    static const int cases[][3] = {{1, 1, 1}, {3, 13, 7}, {4, 3, 64}, {1, 37, 41}, {4, 16, 16}}; /* planes, h, w */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int planes = cases[i][0], h = cases[i][1], w = cases[i][2];
        char what[128];
        snprintf(what, sizeof what, "warp %dx%dx%d", planes, h, w);
        int64_t ne[3] = {w, h, planes}, fne[3] = {w, h, 2};
        int64_t n = (int64_t)planes * h * w, nf = 2 * (int64_t)h * w;
        float *x = fbuf(n), *fl = fbuf(nf), *y = fbuf(n), *ref = fbuf(n);
        od_fill(x, n, -1.0f, 1.0f, (uint64_t)i + 30);
        /* displacements reaching past every border (clamped), a few exactly integral */
        od_fill(fl, nf, -6.0f, 6.0f, (uint64_t)i + 60);
        for (int64_t k = 0; k < nf; k += 5)
            fl[k] = floorf(fl[k]);
        if (n > 8)
            x[n / 2] = NAN;
        wr_tensor hx, hf, hy;
        cr_assert(wr_tensor_init(&hx, WR_DTYPE_F32, 3, ne, x) && wr_tensor_init(&hf, WR_DTYPE_F32, 3, fne, fl) &&
                  wr_tensor_init(&hy, WR_DTYPE_F32, 3, ne, ref));
        wr_backend_select(&wr_backend_cpu);
        wr_op_warp(&hx, &hf, &hy);
        od_buf dx = od_upload(g, WR_DTYPE_F32, 3, ne, x), df = od_upload(g, WR_DTYPE_F32, 3, fne, fl);
        od_buf dy = od_upload(g, WR_DTYPE_F32, 3, ne, NULL);
        gt_check(wr_gpu_warp(g, &dx.t, &df.t, &dy.t, NULL), what);
        od_download_free(g, &dy, y, what);
        od_free(g, &dx, what), od_free(g, &df, what);
        expect_close(y, ref, n, 1e-6, 1e-13, what);
        free(x), free(fl), free(y), free(ref);
    }
    cr_assert_gt(wr_gpu_launch_count(g, "warp_f32"), 0);
    wr_gpu_close(g);
}

/* ---- transposed convolution ------------------------------------------------------------------ */

Test(ops, conv_transpose2d, .timeout = 120)
{
    wr_gpu *g = gt_open(NULL);
    /* C, H, W, O, bias: RIFE's encode.1 (16 -> 4) and lastconv (c -> 24) shapes on small planes,
     * a single pixel, primes, an odd channel count */
    static const int cases[][5] = {{1, 1, 1, 1, 1}, {16, 5, 7, 4, 1}, {13, 3, 11, 24, 1}, {3, 8, 8, 5, 0},
                                   {64, 4, 6, 24, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int C = cases[i][0], H = cases[i][1], W = cases[i][2], O = cases[i][3], bias = cases[i][4];
        int ho = 2 * H, wo = 2 * W; /* (H - 1) * 2 - 2 + 4 */
        char what[128];
        snprintf(what, sizeof what, "conv_transpose2d k4 s2 p1 C%d %dx%d -> O%d%s", C, H, W, O, bias ? " bias" : "");
        int64_t xne[3] = {W, H, C}, wne[4] = {4, 4, O, C}, yne[3] = {wo, ho, O}, bne = O;
        int64_t nx = (int64_t)C * H * W, nw = (int64_t)C * O * 16, ny = (int64_t)O * ho * wo;
        float *x = fbuf(nx), *w = fbuf(nw), *b = fbuf(O), *y = fbuf(ny), *ref = fbuf(ny);
        od_fill(x, nx, -1.0f, 1.0f, (uint64_t)i + 90);
        od_fill(w, nw, -0.5f, 0.5f, (uint64_t)i + 91);
        od_fill(b, O, -1.0f, 1.0f, (uint64_t)i + 92);
        if (nx > 8)
            x[nx / 2] = NAN;
        wr_tensor hx, hw, hb, hy;
        cr_assert(wr_tensor_init(&hx, WR_DTYPE_F32, 3, xne, x) && wr_tensor_init(&hw, WR_DTYPE_F32, 4, wne, w) &&
                  wr_tensor_init(&hb, WR_DTYPE_F32, 1, &bne, b) && wr_tensor_init(&hy, WR_DTYPE_F32, 3, yne, ref));
        wr_backend_select(&wr_backend_cpu);
        wr_op_conv_transpose2d(&hx, &hw, bias ? &hb : NULL, 2, 1, &hy);
        od_buf dx = od_upload(g, WR_DTYPE_F32, 3, xne, x), dw = od_upload(g, WR_DTYPE_F32, 4, wne, w);
        od_buf db = od_upload(g, WR_DTYPE_F32, 1, &bne, b), dy = od_upload(g, WR_DTYPE_F32, 3, yne, NULL);
        gt_check(wr_gpu_conv_transpose2d(g, &dx.t, &dw.t, bias ? &db.t : NULL, 2, 1, &dy.t, NULL), what);
        od_download_free(g, &dy, y, what);
        od_free(g, &dx, what), od_free(g, &dw, what), od_free(g, &db, what);
        expect_close(y, ref, ny, 1e-5, 1e-11, what);
        free(x), free(w), free(b), free(y), free(ref);
    }
    cr_assert_gt(wr_gpu_launch_count(g, "conv_transpose2d_f32"), 0);
    wr_gpu_close(g);
}
