/* Colour matching between clips, against the colour drift of chained I2V segments.
 *
 * Reference statistics come from one RGB frame (the end of clip k); the correction is applied
 * to every frame of clip k+1. Two methods:
 *  - WR_COLOR_MATCH_LAB_MEANSTD: Reinhard et al. 2001 colour transfer in CIE L*a*b* (sRGB, D65):
 *    per channel, (x - mean_src) / std_src * std_ref + mean_ref, with the source statistics
 *    taken from the first frame of the clip being corrected.
 *  - WR_COLOR_MATCH_HISTOGRAM: per RGB channel, the cumulative histogram of the first frame of
 *    the clip is mapped onto the reference frame's (classic histogram specification). */
#ifndef WR_COLOR_MATCH_H
#define WR_COLOR_MATCH_H

#include <stdbool.h>

#include "media/frames.h"

typedef enum wr_color_match {
    WR_COLOR_MATCH_NONE,
    WR_COLOR_MATCH_LAB_MEANSTD,
    WR_COLOR_MATCH_HISTOGRAM,
    WR_COLOR_MATCH_COUNT
} wr_color_match;

/* "none", "lab", "histogram" -> method; false when unknown. */
bool wr_color_match_parse(const char *name, wr_color_match *out);

/* Corrects frames [0, clip->count) of clip in place so that its first frame's colour
 * statistics match `ref_rgb` (ref_w x ref_h, 8-bit RGB). */
wr_status wr_color_match_apply(wr_frames *clip, const uint8_t *ref_rgb, int ref_w, int ref_h,
                               wr_color_match method);

/* sRGB 8-bit <-> CIE L*a*b* (D65), exposed for tests and the upscaler's colour correction. */
void wr_srgb_to_lab(const uint8_t rgb[3], float lab[3]);
void wr_lab_to_srgb(const float lab[3], uint8_t rgb[3]);

#endif
