/* SeedVR2's colour correction (../shared/specs/seedvr2.md section 7): the restored batch
 * (content) takes its colours from the resized low-resolution input (style). Both are
 * [3, T, H, W] in [−1, 1] of one size. "lab" (numz's default): the wavelet fix, then in CIELAB
 * the a/b channels histogram-matched to the style and L blended 0.8 / 0.2; "wavelet" (StableSR
 * colorfix, the ByteDance default): high frequencies of the content + low frequencies of the
 * style; "adain": per frame and channel mean/std transfer. */
#ifndef UPSCALE_COLOR_FIX_H
#define UPSCALE_COLOR_FIX_H

#include <stdbool.h>

#include "runtime/err.h"

typedef enum upscale_color {
    UPSCALE_COLOR_LAB,
    UPSCALE_COLOR_WAVELET,
    UPSCALE_COLOR_ADAIN,
    UPSCALE_COLOR_NONE,
    UPSCALE_COLOR_COUNT
} upscale_color;

bool upscale_color_parse(const char *name, upscale_color *out);
const char *upscale_color_name(upscale_color c);

/* Corrects content in place. */
wr_status upscale_color_fix(upscale_color method, float *content, const float *style, int t, int h, int w);

/* The pieces, exposed for tests: sRGB in [0, 1] <-> CIELAB (D65), per pixel. */
void upscale_rgb_to_lab(const float rgb[3], float lab[3]);
void upscale_lab_to_rgb(const float lab[3], float rgb[3]);
/* The 5-level wavelet split of one plane: low (blurred) and high = x − low. */
wr_status upscale_wavelet_split(const float *x, int h, int w, float *high, float *low);

#endif
