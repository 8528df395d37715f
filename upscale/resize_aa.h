/* torch.nn.functional.interpolate(mode="bicubic", antialias=True, align_corners=False), the
 * resize SeedVR2's pipeline applies to its input frames (../shared/specs/seedvr2.md 2.5): Keys
 * cubic a = −0.5, a window widened by the scale when shrinking, truncated and renormalised at
 * the borders (no pixel replication). Separable: rows, then columns; float weights, double sums. */
#ifndef UPSCALE_RESIZE_AA_H
#define UPSCALE_RESIZE_AA_H

#include "runtime/err.h"

/* src [c, ih, iw] -> dst [c, oh, ow], both planar. */
wr_status upscale_resize_bicubic_aa(const float *src, int c, int ih, int iw, float *dst, int oh, int ow);

/* The output size for a short edge of `resolution`: the long edge is int(resolution·long/short)
 * (truncated, as numz computes it). */
void upscale_resize_target(int ih, int iw, int resolution, int *oh, int *ow);

#endif
