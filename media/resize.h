/* Image resizing for model inputs: bicubic as torch.nn.functional.interpolate(mode="bicubic",
 * align_corners=False) (Keys kernel a = −0.75, border pixels replicated), then a centre crop. */
#ifndef WR_RESIZE_H
#define WR_RESIZE_H

#include <stdint.h>

#include "runtime/err.h"

/* Resizes an 8-bit RGB image so that it covers width x height (aspect kept), centre-crops,
 * and writes float planes [3, height, width] in [−1, 1] ((x/255 − 0.5)/0.5). */
wr_status wr_resize_cover_crop(const uint8_t *rgb, int iw, int ih, int width, int height, float *chw);

#endif
