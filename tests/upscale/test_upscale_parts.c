/* The SeedVR2 pipeline around the models, against hand-checkable cases from the spec
 * (../shared/specs/seedvr2.md 2.1–2.5 and 7): no reference output exists for these parts. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "tests/common/testutil.h"
#include "upscale/batch_plan.h"
#include "upscale/color_fix.h"
#include "upscale/frame_source.h"
#include "upscale/resize_aa.h"

Test(upscale_parts, bicubic_aa_by_hand_and_invariants)
{
    /* [0, 1] -> 4 samples: Keys a = −0.5 at distances 0.25 / 1.25 and 0.75 / 0.25, windows
     * truncated at the border and renormalised (worked out by hand from the formula). */
    const float src[2] = {0, 1};
    float dst[4];
    cr_assert_eq(upscale_resize_bicubic_aa(src, 1, 1, 2, dst, 1, 4), WR_OK);
    const double want[4] = {-0.0703125 / 0.796875, 0.2265625 / 1.09375, 1 - 0.2265625 / 1.09375,
                            1 + 0.0703125 / 0.796875};
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(dst[i], want[i], 1e-6, "sample %d: %g, want %g", i, (double)dst[i], want[i]);
    /* constants stay constant, up and down */
    static float c[2 * 30 * 50], up[2 * 61 * 97], down[2 * 13 * 21];
    for (int i = 0; i < 2 * 30 * 50; i++)
        c[i] = i < 1500 ? 0.25f : -0.5f;
    cr_assert_eq(upscale_resize_bicubic_aa(c, 2, 30, 50, up, 61, 97), WR_OK);
    cr_assert_eq(upscale_resize_bicubic_aa(c, 2, 30, 50, down, 13, 21), WR_OK);
    for (int i = 0; i < 2 * 61 * 97; i++)
        cr_assert_float_eq(up[i], i < 61 * 97 ? 0.25f : -0.5f, 1e-6);
    for (int i = 0; i < 2 * 13 * 21; i++)
        cr_assert_float_eq(down[i], i < 13 * 21 ? 0.25f : -0.5f, 1e-6);
    /* a symmetric kernel keeps a linear ramp linear away from the borders */
    static float ramp[40 * 40], half[20 * 20];
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < 40; x++)
            ramp[y * 40 + x] = (float)x;
    cr_assert_eq(upscale_resize_bicubic_aa(ramp, 1, 40, 40, half, 20, 20), WR_OK);
    for (int x = 3; x < 17; x++)
        cr_assert_float_eq(half[5 * 20 + x], 2.0f * x + 0.5f, 1e-4, "x %d: %g", x, (double)half[5 * 20 + x]);
    int oh, ow;
    upscale_resize_target(720, 1280, 1080, &oh, &ow);
    cr_assert(oh == 1080 && ow == 1920);
    upscale_resize_target(481, 853, 1080, &oh, &ow); /* int(1080 · 853 / 481) = 1915 */
    cr_assert(oh == 1080 && ow == 1915, "%dx%d", ow, oh);
    cr_assert_eq(upscale_resize_bicubic_aa(ramp, 1, 40, 40, half, 0, 20), WR_E_ARG);
}

Test(upscale_parts, batches_mirror_padding_and_overlap)
{
    upscale_batch b[8];
    cr_assert_eq(upscale_batch_plan(10, 5, 0, false, b, 8), 2);
    cr_assert(b[1].start == 5 && b[1].len == 5 && b[1].padded == 5);
    cr_assert_eq(upscale_batch_plan(7, 5, 0, false, b, 8), 2);
    cr_assert(b[1].start == 5 && b[1].len == 2 && b[1].padded == 5);
    cr_assert_eq(upscale_batch_plan(1, 5, 0, false, b, 8), 1);
    cr_assert(b[0].len == 1 && b[0].padded == 1, "a single image is not padded");
    cr_assert_eq(upscale_batch_plan(13, 5, 2, false, b, 8), 4); /* starts 0, 3, 6, 9 */
    cr_assert(b[3].start == 9 && b[3].len == 4 && b[3].padded == 5);
    cr_assert_eq(upscale_batch_plan(13, 5, 5, false, b, 8), 3, "overlap >= batch resets to 0");
    cr_assert_eq(upscale_batch_plan(7, 9, 0, true, b, 8), 1);
    cr_assert_eq(b[0].padded, 9, "uniform batches pad to batch_size");
    cr_assert_eq(upscale_batch_plan(100, 5, 0, false, b, 8), -1);
    /* numz pad_video_temporal: a reflection without the last frame when it suffices ... */
    const int r3[5] = {0, 1, 2, 1, 0}, r2[5] = {0, 1, 1, 1, 1}, r6[9] = {0, 1, 2, 3, 4, 5, 4, 3, 2};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(upscale_batch_source(3, 5, i), r3[i]);
    /* ... else the clip reversed without frame 0, then the last frame repeated */
    for (int i = 0; i < 5; i++)
        cr_assert_eq(upscale_batch_source(2, 5, i), r2[i]);
    for (int i = 0; i < 9; i++)
        cr_assert_eq(upscale_batch_source(6, 9, i), r6[i]);
    cr_assert_float_eq(upscale_overlap_weight(2, 0), 1.0f, 0);
    cr_assert_float_eq(upscale_overlap_weight(2, 1), 0.0f, 0);
    cr_assert_float_eq(upscale_overlap_weight(3, 0), 1.0f, 1e-7);
    cr_assert_float_eq(upscale_overlap_weight(3, 1), 0.5f, 1e-7);
    cr_assert_float_eq(upscale_overlap_weight(3, 2), 0.0f, 1e-7);
    cr_assert_float_eq(upscale_overlap_weight(7, 1), 1.0f, 1e-7, "flat for the first third");
}

Test(upscale_parts, lab_conversion_known_values_and_round_trip)
{
    float lab[3], rgb[3];
    upscale_rgb_to_lab((const float[3]){1, 1, 1}, lab);
    cr_assert(fabsf(lab[0] - 100) < 1e-3f && fabsf(lab[1]) < 1e-2f && fabsf(lab[2]) < 1e-2f, "white %g %g %g",
              (double)lab[0], (double)lab[1], (double)lab[2]);
    upscale_rgb_to_lab((const float[3]){1, 0, 0}, lab); /* sRGB red: L 53.24, a 80.09, b 67.20 */
    cr_assert(fabsf(lab[0] - 53.24f) < 0.02f && fabsf(lab[1] - 80.09f) < 0.03f && fabsf(lab[2] - 67.20f) < 0.03f,
              "red %g %g %g", (double)lab[0], (double)lab[1], (double)lab[2]);
    uint64_t s = 9;
    for (int i = 0; i < 1000; i++) {
        float in[3] = {wr_test_uniform(&s, 0, 1), wr_test_uniform(&s, 0, 1), wr_test_uniform(&s, 0, 1)};
        upscale_rgb_to_lab(in, lab);
        upscale_lab_to_rgb(lab, rgb);
        for (int c = 0; c < 3; c++)
            cr_assert_float_eq(rgb[c], in[c], 2e-4, "round trip %g -> %g", (double)in[c], (double)rgb[c]);
    }
}

static void fill(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = wr_test_uniform(&seed, lo, hi);
}

Test(upscale_parts, colour_fixes_keep_a_matching_pair_and_transfer_statistics)
{
    enum { T = 2, H = 24, W = 40, N = 3 * T * H * W };
    static float x[N], y[N], style[N];
    fill(x, N, 1, -0.9f, 0.9f);
    for (int m = 0; m < UPSCALE_COLOR_COUNT; m++) {
        for (int i = 0; i < N; i++)
            y[i] = x[i];
        cr_assert_eq(upscale_color_fix((upscale_color)m, y, x, T, H, W), WR_OK);
        double worst = 0;
        for (int i = 0; i < N; i++)
            worst = fmax(worst, fabs((double)y[i] - (double)x[i]));
        cr_assert_leq(worst, m == UPSCALE_COLOR_LAB ? 5e-4 : 1e-5, "%s changes a video matched to itself by %g",
                      upscale_color_name((upscale_color)m), worst);
    }
    /* AdaIN: each frame and channel takes the style's mean and (unbiased) std */
    fill(style, N, 2, -0.2f, 0.6f);
    for (int i = 0; i < N; i++)
        y[i] = x[i];
    cr_assert_eq(upscale_color_fix(UPSCALE_COLOR_ADAIN, y, style, T, H, W), WR_OK);
    for (int p = 0; p < 3 * T; p++) {
        double m[2] = {0}, v[2] = {0};
        const float *a[2] = {y + p * H * W, style + p * H * W};
        for (int k = 0; k < 2; k++) {
            for (int i = 0; i < H * W; i++)
                m[k] += (double)a[k][i];
            m[k] /= H * W;
            for (int i = 0; i < H * W; i++)
                v[k] += ((double)a[k][i] - m[k]) * ((double)a[k][i] - m[k]);
        }
        cr_assert_float_eq(m[0], m[1], 1e-5);
        cr_assert_float_eq(v[0], v[1], 1e-3 * v[1]);
    }
    /* wavelet: the low band comes from the style, so a constant style shifts a zero-mean texture */
    for (int i = 0; i < N; i++)
        style[i] = 0.3f, y[i] = 0.1f * (float)((i % 2) * 2 - 1);
    cr_assert_eq(upscale_color_fix(UPSCALE_COLOR_WAVELET, y, style, T, H, W), WR_OK);
    double mean = 0;
    for (int i = 0; i < N; i++)
        mean += (double)y[i];
    cr_assert_float_eq(mean / N, 0.3, 1e-3, "mean %g", mean / N);
    upscale_color c;
    cr_assert(upscale_color_parse("lab", &c) && c == UPSCALE_COLOR_LAB);
    cr_assert(!upscale_color_parse("hsv", &c));
}

Test(upscale_parts, prepend_mirror_rule)
{
    /* numz: k < t puts frames k, k-1, ..., 1 in front; k >= t the last frame k - t + 1 times,
     * then t - 1, ..., 1 */
    const int a[2] = {2, 1}, b[3] = {1, 1, 1}, c[4] = {2, 2, 2, 1};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(upscale_prepend_source(2, 5, i), a[i]);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(upscale_prepend_source(3, 2, i), b[i]);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(upscale_prepend_source(4, 3, i), c[i]);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(upscale_prepend_source(3, 1, i), 0);
}
