/* Model-input image preparation: bicubic cover + centre crop, values in [−1, 1]. */
#include <criterion/criterion.h>
#include <math.h>

#include "media/resize.h"

Test(resize, same_size_is_identity)
{
    uint8_t rgb[8 * 6 * 3];
    for (int i = 0; i < 8 * 6 * 3; i++)
        rgb[i] = (uint8_t)(i * 37);
    float out[3 * 6 * 8];
    cr_assert_eq(wr_resize_cover_crop(rgb, 8, 6, 8, 6, out), WR_OK);
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 48; p++)
            cr_assert_float_eq(out[c * 48 + p], (float)rgb[p * 3 + c] / 255.0f * 2.0f - 1.0f, 1e-6f);
}

Test(resize, cover_and_centre_crop)
{
    /* a 40x20 image: left half black, right half white; cover 10x10 scales to 20x10 and keeps
     * the middle 10 columns: 5 black-ish then 5 white-ish */
    uint8_t rgb[40 * 20 * 3];
    for (int y = 0; y < 20; y++)
        for (int x = 0; x < 40; x++)
            for (int c = 0; c < 3; c++)
                rgb[(y * 40 + x) * 3 + c] = x < 20 ? 0 : 255;
    float out[3 * 10 * 10];
    cr_assert_eq(wr_resize_cover_crop(rgb, 40, 20, 10, 10, out), WR_OK);
    cr_assert_float_eq(out[5 * 10 + 0], -1.0f, 1e-3f);
    cr_assert_float_eq(out[5 * 10 + 9], 1.0f, 1e-3f);
    cr_assert(out[5 * 10 + 4] < 0.0f && out[5 * 10 + 5] > 0.0f, "edge in the middle: %g %g", (double)out[54], (double)out[55]);
    cr_assert_eq(wr_resize_cover_crop(rgb, 0, 20, 10, 10, out), WR_E_ARG);
}
