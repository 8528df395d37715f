/* Colour matching: Lab conversion against CIE reference values, transfer properties. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "media/color_match.h"

Test(color_match, lab_reference_values)
{
    /* CIE L*a*b* (D65) of sRGB primaries, as published (e.g. Lindbloom's calculator) */
    struct { uint8_t rgb[3]; float lab[3]; } cases[] = {
        {{255, 255, 255}, {100.0f, 0.0f, 0.0f}},
        {{0, 0, 0}, {0.0f, 0.0f, 0.0f}},
        {{255, 0, 0}, {53.24f, 80.09f, 67.20f}},
        {{0, 255, 0}, {87.73f, -86.18f, 83.18f}},
        {{0, 0, 255}, {32.30f, 79.19f, -107.86f}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float lab[3];
        wr_srgb_to_lab(cases[i].rgb, lab);
        for (int c = 0; c < 3; c++)
            cr_assert_float_eq(lab[c], cases[i].lab[c], 0.05f, "case %zu channel %d: %g", i, c, (double)lab[c]);
    }
}

Test(color_match, lab_round_trip)
{
    for (int r = 0; r < 256; r += 15)
        for (int g = 0; g < 256; g += 15)
            for (int b = 0; b < 256; b += 15) {
                uint8_t in[3] = {(uint8_t)r, (uint8_t)g, (uint8_t)b}, out[3];
                float lab[3];
                wr_srgb_to_lab(in, lab);
                wr_lab_to_srgb(lab, out);
                for (int c = 0; c < 3; c++)
                    cr_assert_leq(abs(out[c] - in[c]), 1);
            }
}

static void fill(wr_frames *v, int base, int spread)
{
    for (int f = 0; f < v->count; f++)
        for (int i = 0; i < v->width * v->height * 3; i++)
            wr_frames_at(v, f)[i] = (uint8_t)(base + (i * 37 % spread));
}

Test(color_match, matching_to_itself_is_identity_and_transfer_moves_means)
{
    wr_frames clip, ref;
    cr_assert_eq(wr_frames_alloc(&clip, 16, 8, 2, 16), WR_OK);
    cr_assert_eq(wr_frames_alloc(&ref, 16, 8, 1, 16), WR_OK);
    fill(&clip, 40, 100);
    memcpy(ref.rgb, clip.rgb, 16 * 8 * 3);
    wr_frames copy;
    cr_assert_eq(wr_frames_alloc(&copy, 16, 8, 2, 16), WR_OK);
    memcpy(copy.rgb, clip.rgb, 16 * 8 * 3 * 2);
    for (int m = WR_COLOR_MATCH_LAB_MEANSTD; m < WR_COLOR_MATCH_COUNT; m++) {
        memcpy(clip.rgb, copy.rgb, 16 * 8 * 3 * 2);
        cr_assert_eq(wr_color_match_apply(&clip, ref.rgb, 16, 8, (wr_color_match)m), WR_OK);
        for (int i = 0; i < 16 * 8 * 3 * 2; i++)
            cr_assert_leq(abs(clip.rgb[i] - copy.rgb[i]), 1, "method %d byte %d", m, i);
    }
    /* a brighter reference lifts the clip's mean L* to the reference's */
    fill(&ref, 120, 100);
    memcpy(clip.rgb, copy.rgb, 16 * 8 * 3 * 2);
    cr_assert_eq(wr_color_match_apply(&clip, ref.rgb, 16, 8, WR_COLOR_MATCH_LAB_MEANSTD), WR_OK);
    double l_clip = 0, l_ref = 0;
    for (int p = 0; p < 16 * 8; p++) {
        float a[3], b[3];
        wr_srgb_to_lab(clip.rgb + p * 3, a);
        wr_srgb_to_lab(ref.rgb + p * 3, b);
        l_clip += (double)a[0];
        l_ref += (double)b[0];
    }
    cr_assert_float_eq(l_clip / 128, l_ref / 128, 1.0, "mean L* %g vs %g", l_clip / 128, l_ref / 128);
    wr_color_match m;
    cr_assert(wr_color_match_parse("histogram", &m));
    cr_assert_not(wr_color_match_parse("hist", &m));
    wr_frames_free(&clip);
    wr_frames_free(&ref);
    wr_frames_free(&copy);
}
