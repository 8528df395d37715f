/* RIFE's planar glue ops (kernels/planar.cu) on the device under test against their CPU twins
 * (runtime/cpu/planar.c), through the op driver (sentinel zones, seeded inputs with NaN and
 * signed zeros). Bounds: bit-identical (NaN where the twin has NaN) everywhere on the emulator and
 * for scalar / channel_scale_add / pixel_shuffle on CUDA too (data movement, or one fp32 product
 * and sum written with __fmul_rn / __fadd_rn, so no FMA contraction); mask_blend on CUDA within
 * 1e-6 of max|ref| (CUDA's expf is within 2 ulp of glibc's, then two products and a sum).
 * Shapes include 1, primes and RIFE's sizes; in-place (aliased) calls are covered. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "runtime/cpu/cpu_ops.h"
#include "tests/common/testutil.h"
#include "tests/gpu/gpu_test.h"
#include "tests/gpu/op_driver.h"

static float *fbuf(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* Inputs in [lo, hi) with a NaN, +0 and −0 planted where there is room. */
static float *inputs(int64_t n, float lo, float hi, uint64_t seed)
{
    float *x = fbuf(n);
    od_fill(x, n, lo, hi, seed);
    if (n > 8)
        x[n / 2] = NAN, x[1] = 0.0f, x[2] = -0.0f;
    return x;
}

/* Bit-identical (both NaN counts as equal) when exact, else within rel of max|ref|. */
static void expect_same(const float *got, const float *ref, int64_t n, bool exact, const char *what)
{
    od_expect(got, ref, n, 1e-12, what);
    if (!exact) {
        wr_test_err e = wr_test_compare(got, ref, n);
        cr_assert(e.rel_to_max <= 1e-6, "%s: max abs %.3g = %.3g of max|ref|", what, e.max_abs, e.rel_to_max);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        cr_assert((isnan(got[i]) && isnan(ref[i])) || memcmp(&got[i], &ref[i], sizeof(float)) == 0,
                  "%s: element %lld is %a, the twin has %a", what, (long long)i, (double)got[i], (double)ref[i]);
}

static const int64_t shapes[][3] = {{1, 1, 1}, {13, 7, 5}, {72, 40, 3}, {16, 8, 24}}; /* W, H, C */
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

Test(ops, planar_scalar, .timeout = 120)
{
    wr_gpu *g = gt_open(NULL);
    static const struct {
        wr_scalar_op op;
        float a, b;
    } ops[] = {{WR_SCALAR_MUL, -1.0f, 0}, {WR_SCALAR_MUL, 0.37f, 0}, {WR_SCALAR_DIV, 3.0f, 0},
               {WR_SCALAR_DIV, 10.666667f, 0}, {WR_SCALAR_LEAKY_RELU, 0.2f, 0}, {WR_SCALAR_CLAMP, 0.0f, 1.0f},
               {WR_SCALAR_FILL, 0.25f, 0}};
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (size_t s = 0; s < N_SHAPES; s++)
            for (int in_place = 0; in_place < 2; in_place++) {
                int64_t n = shapes[s][0] * shapes[s][1] * shapes[s][2];
                char what[128];
                snprintf(what, sizeof what, "scalar op %d a %g on %lld%s", (int)ops[o].op, (double)ops[o].a,
                         (long long)n, in_place ? " in place" : "");
                float *x = inputs(n, -3.0f, 3.0f, 100 + o * 7 + s), *y = fbuf(n), *ref = fbuf(n);
                wr_tensor hx, hy;
                cr_assert(wr_tensor_init(&hx, WR_DTYPE_F32, 3, shapes[s], x) &&
                          wr_tensor_init(&hy, WR_DTYPE_F32, 3, shapes[s], ref));
                cpu_scalar(&hx, ops[o].op, ops[o].a, ops[o].b, &hy);
                od_buf dx = od_upload(g, WR_DTYPE_F32, 3, shapes[s], x);
                od_buf dy = in_place ? dx : od_upload(g, WR_DTYPE_F32, 3, shapes[s], NULL);
                gt_check(wr_gpu_scalar(g, &dx.t, ops[o].op, ops[o].a, ops[o].b, &dy.t, NULL), what);
                od_download_free(g, &dy, y, what);
                if (!in_place)
                    od_free(g, &dx, what);
                expect_same(y, ref, n, true, what);
                free(x), free(y), free(ref);
            }
    for (int op = 0; op < WR_SCALAR_OP_COUNT; op++)
        cr_assert_gt(wr_gpu_launch_count(g, "scalar_f32"), 0, "op %d", op);
    wr_gpu_close(g);
}

Test(ops, planar_channel_scale_add, .timeout = 120)
{
    wr_gpu *g = gt_open(NULL);
    for (size_t s = 0; s < N_SHAPES; s++)
        for (int in_place = 0; in_place < 2; in_place++) { /* in place: y = x, as RIFE's ResConv */
            const int64_t *ne = shapes[s];
            int64_t n = ne[0] * ne[1] * ne[2];
            char what[128];
            snprintf(what, sizeof what, "channel_scale_add %lldx%lldx%lld%s", (long long)ne[0], (long long)ne[1],
                     (long long)ne[2], in_place ? " in place" : "");
            float *x = inputs(n, -2.0f, 2.0f, 200 + s), *r = inputs(n, -1.0f, 1.0f, 300 + s);
            float *sc = inputs(ne[2], -0.5f, 1.5f, 400 + s), *y = fbuf(n), *ref = fbuf(n);
            wr_tensor hx, hr, hs, hy;
            cr_assert(wr_tensor_init(&hx, WR_DTYPE_F32, 3, ne, x) && wr_tensor_init(&hr, WR_DTYPE_F32, 3, ne, r) &&
                      wr_tensor_init(&hs, WR_DTYPE_F32, 1, &ne[2], sc) && wr_tensor_init(&hy, WR_DTYPE_F32, 3, ne, ref));
            cpu_channel_scale_add(&hx, &hs, &hr, &hy);
            od_buf dx = od_upload(g, WR_DTYPE_F32, 3, ne, x), dr = od_upload(g, WR_DTYPE_F32, 3, ne, r);
            od_buf ds = od_upload(g, WR_DTYPE_F32, 1, &ne[2], sc);
            od_buf dy = in_place ? dx : od_upload(g, WR_DTYPE_F32, 3, ne, NULL);
            gt_check(wr_gpu_channel_scale_add(g, &dx.t, &ds.t, &dr.t, &dy.t, NULL), what);
            od_download_free(g, &dy, y, what);
            if (!in_place)
                od_free(g, &dx, what);
            od_free(g, &dr, what), od_free(g, &ds, what);
            expect_same(y, ref, n, true, what);
            free(x), free(r), free(sc), free(y), free(ref);
        }
    cr_assert_gt(wr_gpu_launch_count(g, "channel_scale_add_f32"), 0);
    wr_gpu_close(g);
}

Test(ops, planar_pixel_shuffle, .timeout = 120)
{
    wr_gpu *g = gt_open(NULL);
    static const int cases[][4] = {{1, 1, 1, 1}, {5, 3, 24, 2}, {7, 2, 18, 3}, {3, 3, 2, 1}, {16, 8, 24, 2}}; /* W, H, C, s */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int s = cases[i][3];
        int64_t xne[3] = {cases[i][0], cases[i][1], cases[i][2]}, yne[3] = {xne[0] * s, xne[1] * s, xne[2] / (s * s)};
        int64_t n = xne[0] * xne[1] * xne[2];
        char what[128];
        snprintf(what, sizeof what, "pixel_shuffle %lldx%lldx%lld by %d", (long long)xne[0], (long long)xne[1],
                 (long long)xne[2], s);
        float *x = inputs(n, -1.0f, 1.0f, 500 + i), *y = fbuf(n), *ref = fbuf(n);
        wr_tensor hx, hy;
        cr_assert(wr_tensor_init(&hx, WR_DTYPE_F32, 3, xne, x) && wr_tensor_init(&hy, WR_DTYPE_F32, 3, yne, ref));
        cpu_pixel_shuffle(&hx, s, &hy);
        od_buf dx = od_upload(g, WR_DTYPE_F32, 3, xne, x), dy = od_upload(g, WR_DTYPE_F32, 3, yne, NULL);
        gt_check(wr_gpu_pixel_shuffle(g, &dx.t, s, &dy.t, NULL), what);
        od_download_free(g, &dy, y, what);
        od_free(g, &dx, what);
        expect_same(y, ref, n, true, what);
        if (i == 1) /* one element by hand: y[c=1](2h+1, 2w+0) = x[4 + 2](h, w) at h = 2, w = 3 */
            cr_assert(memcmp(&y[(1 * 6 + 5) * 10 + 6], &x[(6 * 3 + 2) * 5 + 3], sizeof(float)) == 0, "%s", what);
        free(x), free(y), free(ref);
    }
    cr_assert_gt(wr_gpu_launch_count(g, "pixel_shuffle_f32"), 0);
    wr_gpu_close(g);
}

Test(ops, planar_mask_blend, .timeout = 120)
{
    wr_gpu *g = gt_open(NULL);
    bool exact = wr_gpu_get_kind(g) == WR_GPU_EMU; /* the emulator's expf is glibc's */
    for (size_t s = 0; s < N_SHAPES; s++)
        for (int in_place = 0; in_place < 2; in_place++) { /* in place: y = x0 */
            const int64_t *ne = shapes[s];
            int64_t n = ne[0] * ne[1] * ne[2], pl = ne[0] * ne[1];
            char what[128];
            snprintf(what, sizeof what, "mask_blend %lldx%lldx%lld%s", (long long)ne[0], (long long)ne[1],
                     (long long)ne[2], in_place ? " in place" : "");
            float *x0 = inputs(n, 0.0f, 1.0f, 600 + s), *x1 = inputs(n, 0.0f, 1.0f, 700 + s);
            float *m = inputs(pl, -12.0f, 12.0f, 800 + s), *y = fbuf(n), *ref = fbuf(n);
            wr_tensor h0, h1, hm, hy;
            cr_assert(wr_tensor_init(&h0, WR_DTYPE_F32, 3, ne, x0) && wr_tensor_init(&h1, WR_DTYPE_F32, 3, ne, x1) &&
                      wr_tensor_init(&hm, WR_DTYPE_F32, 2, ne, m) && wr_tensor_init(&hy, WR_DTYPE_F32, 3, ne, ref));
            cpu_mask_blend(&h0, &h1, &hm, &hy);
            od_buf d0 = od_upload(g, WR_DTYPE_F32, 3, ne, x0), d1 = od_upload(g, WR_DTYPE_F32, 3, ne, x1);
            od_buf dm = od_upload(g, WR_DTYPE_F32, 2, ne, m);
            od_buf dy = in_place ? d0 : od_upload(g, WR_DTYPE_F32, 3, ne, NULL);
            gt_check(wr_gpu_mask_blend(g, &d0.t, &d1.t, &dm.t, &dy.t, NULL), what);
            od_download_free(g, &dy, y, what);
            if (!in_place)
                od_free(g, &d0, what);
            od_free(g, &d1, what), od_free(g, &dm, what);
            expect_same(y, ref, n, exact, what);
            free(x0), free(x1), free(m), free(y), free(ref);
        }
    cr_assert_gt(wr_gpu_launch_count(g, "mask_blend_f32"), 0);
    wr_gpu_close(g);
}
