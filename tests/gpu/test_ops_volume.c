/* The Wan VAEs' volume ops (kernels/volume.cu) on the device under test against their CPU twins
 * (runtime/cpu/volume.c), through the op driver (sentinel zones, seeded inputs). Bounds: the
 * upsample is data movement, bit-identical everywhere; the norm is bit-identical on the emulator
 * (double sums in the twin's order, __fmul_rn products, glibc's expf) and on CUDA without SiLU;
 * with SiLU on CUDA within 1e-6 of max|ref| (CUDA's expf is within 2 ulp of glibc's, then one
 * division). Shapes include 1, primes and the VAE's channel counts; in-place norms are covered. */
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

static const int64_t shapes[][4] = {{1, 1, 1, 1}, {7, 5, 1, 3}, {13, 3, 2, 16}, {8, 8, 4, 96}, {4, 4, 1, 384}}; /* W, H, T, C */
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

Test(ops, volume_channel_rms_norm, .timeout = 120)
{
    wr_gpu *g = gt_open(NULL);
    bool emu = wr_gpu_get_kind(g) == WR_GPU_EMU;
    for (size_t s = 0; s < N_SHAPES; s++)
        for (int silu = 0; silu < 2; silu++)
            for (int in_place = 0; in_place < 2; in_place++) { /* in place: the VAE's use */
                const int64_t *ne = shapes[s];
                int64_t n = ne[0] * ne[1] * ne[2] * ne[3];
                char what[128];
                snprintf(what, sizeof what, "channel_rms_norm %lldx%lldx%lldx%lld silu %d%s", (long long)ne[0],
                         (long long)ne[1], (long long)ne[2], (long long)ne[3], silu, in_place ? " in place" : "");
                float *x = fbuf(n), *gm = fbuf(ne[3]), *y = fbuf(n), *ref = fbuf(n);
                od_fill(x, n, -3.0f, 3.0f, 900 + s * 4 + silu);
                od_fill(gm, ne[3], 0.5f, 1.5f, 950 + s);
                if (n > 8)
                    for (int64_t c = 0; c < ne[3]; c++) /* one position all zeros: the 1e-12 floor */
                        x[c * (n / ne[3])] = 0.0f;
                wr_tensor hx, hg, hy;
                cr_assert(wr_tensor_init(&hx, WR_DTYPE_F32, 4, ne, x) && wr_tensor_init(&hg, WR_DTYPE_F32, 1, &ne[3], gm) &&
                          wr_tensor_init(&hy, WR_DTYPE_F32, 4, ne, ref));
                cpu_channel_rms_norm(&hx, &hg, silu, &hy);
                od_buf dx = od_upload(g, WR_DTYPE_F32, 4, ne, x), dg = od_upload(g, WR_DTYPE_F32, 1, &ne[3], gm);
                od_buf dy = in_place ? dx : od_upload(g, WR_DTYPE_F32, 4, ne, NULL);
                gt_check(wr_gpu_channel_rms_norm(g, &dx.t, &dg.t, silu, &dy.t, NULL), what);
                od_download_free(g, &dy, y, what);
                if (!in_place)
                    od_free(g, &dx, what);
                od_free(g, &dg, what);
                expect_same(y, ref, n, emu || !silu, what);
                free(x), free(gm), free(y), free(ref);
            }
    cr_assert_gt(wr_gpu_launch_count(g, "channel_rms_norm_f32"), 0);
    wr_gpu_close(g);
}

Test(ops, volume_upsample_nearest2x, .timeout = 120)
{
    wr_gpu *g = gt_open(NULL);
    for (size_t s = 0; s < N_SHAPES; s++) {
        const int64_t *xne = shapes[s];
        int64_t yne[4] = {2 * xne[0], 2 * xne[1], xne[2], xne[3]};
        int64_t n = xne[0] * xne[1] * xne[2] * xne[3];
        char what[128];
        snprintf(what, sizeof what, "upsample_nearest2x %lldx%lldx%lldx%lld", (long long)xne[0], (long long)xne[1],
                 (long long)xne[2], (long long)xne[3]);
        float *x = fbuf(n), *y = fbuf(4 * n), *ref = fbuf(4 * n);
        od_fill(x, n, -1.0f, 1.0f, 990 + s);
        wr_tensor hx, hy;
        cr_assert(wr_tensor_init(&hx, WR_DTYPE_F32, 4, xne, x) && wr_tensor_init(&hy, WR_DTYPE_F32, 4, yne, ref));
        cpu_upsample_nearest2x(&hx, &hy);
        od_buf dx = od_upload(g, WR_DTYPE_F32, 4, xne, x), dy = od_upload(g, WR_DTYPE_F32, 4, yne, NULL);
        gt_check(wr_gpu_upsample_nearest2x(g, &dx.t, &dy.t, NULL), what);
        od_download_free(g, &dy, y, what);
        od_free(g, &dx, what);
        expect_same(y, ref, 4 * n, true, what);
        if (s == 2) /* by hand: plane 1, output (3, 5) = input (1, 2) */
            cr_assert(memcmp(&y[(1 * 6 + 3) * 26 + 5], &x[(1 * 3 + 1) * 13 + 2], sizeof(float)) == 0, "%s", what);
        free(x), free(y), free(ref);
    }
    cr_assert_gt(wr_gpu_launch_count(g, "upsample_nearest2x_f32"), 0);
    wr_gpu_close(g);
}

Test(ops, volume_transpose, .timeout = 120)
{
    wr_gpu *g = gt_open(NULL);
    static const int64_t cases[][2] = {{1, 1}, {1, 7}, {13, 5}, {96, 64}, {384, 17}}; /* cols, rows */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t xne[2] = {cases[i][0], cases[i][1]}, yne[2] = {cases[i][1], cases[i][0]}, n = xne[0] * xne[1];
        char what[96];
        snprintf(what, sizeof what, "transpose %lldx%lld", (long long)xne[0], (long long)xne[1]);
        float *x = fbuf(n), *y = fbuf(n), *ref = fbuf(n);
        od_fill(x, n, -1.0f, 1.0f, 1100 + i);
        wr_tensor hx, hy;
        cr_assert(wr_tensor_init(&hx, WR_DTYPE_F32, 2, xne, x) && wr_tensor_init(&hy, WR_DTYPE_F32, 2, yne, ref));
        cpu_transpose(&hx, &hy);
        od_buf dx = od_upload(g, WR_DTYPE_F32, 2, xne, x), dy = od_upload(g, WR_DTYPE_F32, 2, yne, NULL);
        gt_check(wr_gpu_transpose(g, &dx.t, &dy.t, NULL), what);
        od_download_free(g, &dy, y, what);
        od_free(g, &dx, what);
        expect_same(y, ref, n, true, what);
        if (i == 2) /* by hand: y[col 4][row 3] = x[row 3][col 4] */
            cr_assert(memcmp(&y[4 * 5 + 3], &x[3 * 13 + 4], sizeof(float)) == 0, "%s", what);
        free(x), free(y), free(ref);
    }
    cr_assert_gt(wr_gpu_launch_count(g, "transpose_f32"), 0);
    wr_gpu_close(g);
}

Test(ops, volume_dup_up3d, .timeout = 120)
{
    wr_gpu *g = gt_open(NULL);
    /* Ci, T, H, W, Co, ft, fs, drop: the 2.2 decoder's stages (time+space, space only, first chunk) */
    static const int cases[][8] = {{1, 1, 1, 1, 1, 1, 1, 0}, {8, 1, 3, 5, 4, 2, 2, 1}, {8, 2, 3, 5, 4, 2, 2, 0},
                                   {6, 1, 4, 2, 3, 1, 2, 0}, {12, 3, 2, 7, 6, 2, 1, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int *k = cases[i];
        int ft = k[5], fs = k[6], drop = k[7];
        int64_t xne[4] = {k[3], k[2], k[1], k[0]}, yne[4] = {k[3] * fs, k[2] * fs, k[1] * ft - drop, k[4]};
        int64_t nx = xne[0] * xne[1] * xne[2] * xne[3], ny = yne[0] * yne[1] * yne[2] * yne[3];
        char what[128];
        snprintf(what, sizeof what, "dup_up3d %d->%d ft %d fs %d drop %d", k[0], k[4], ft, fs, drop);
        float *x = fbuf(nx), *y = fbuf(ny), *ref = fbuf(ny);
        od_fill(x, nx, -1.0f, 1.0f, 1200 + i);
        wr_tensor hx, hy;
        cr_assert(wr_tensor_init(&hx, WR_DTYPE_F32, 4, xne, x) && wr_tensor_init(&hy, WR_DTYPE_F32, 4, yne, ref));
        cpu_dup_up3d(&hx, ft, fs, drop, &hy);
        od_buf dx = od_upload(g, WR_DTYPE_F32, 4, xne, x), dy = od_upload(g, WR_DTYPE_F32, 4, yne, NULL);
        gt_check(wr_gpu_dup_up3d(g, &dx.t, ft, fs, drop, &dy.t, NULL), what);
        od_download_free(g, &dy, y, what);
        od_free(g, &dx, what);
        expect_same(y, ref, ny, true, what);
        if (i == 1) /* by hand: o 1, t 0 (tf 1), row 1, col 0: k = ((1·2 + 1)·2 + 1)·2 + 0 = 14, repeats 4, c 3 */
            cr_assert(memcmp(&y[(1 * 1 + 0) * 60 + 1 * 10 + 0], &x[3 * 15 + 0], sizeof(float)) == 0, "%s", what);
        free(x), free(y), free(ref);
    }
    cr_assert_gt(wr_gpu_launch_count(g, "dup_up3d_f32"), 0);
    wr_gpu_close(g);
}
