/* A clip of RGB frames in memory: the currency between decoders, encoders and the models.
 *
 * Pixels are packed 8-bit RGB (R, G, B per pixel), rows top to bottom, frames in time order:
 * byte (f * height + y) * width * 3 + x * 3 + c. Model tensors use float [3, F, H, W] in
 * [-1, 1]; the conversions below are the one place that maps between the two. */
#ifndef WR_FRAMES_H
#define WR_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"

typedef struct wr_frames {
    int width, height, count;
    double fps;   /* frames per second; 0 when unknown (a PNG directory) */
    uint8_t *rgb; /* owned, count * height * width * 3 bytes */
} wr_frames;

/* Allocates an uninitialised clip. Errors: WR_E_ARG for sizes <= 0 or too large. */
wr_status wr_frames_alloc(wr_frames *v, int width, int height, int count, double fps);
/* Accepts a zeroed struct. */
void wr_frames_free(wr_frames *v);

static inline uint8_t *wr_frames_at(const wr_frames *v, int f)
{
    return v->rgb + (size_t)f * (size_t)v->height * (size_t)v->width * 3;
}

/* float [3, F, H, W] (channel-major, PyTorch order) in [-1, 1] -> 8-bit, as ComfyUI converts
 * decoded video: clamp((x + 1) / 2, 0, 1) * 255 truncated. NaN maps to 0. */
void wr_frames_from_f32(wr_frames *v, const float *chw, int frame0, int nframes);
/* 8-bit -> float [3, F, H, W] in [-1, 1] (x / 255 * 2 - 1). */
void wr_frames_to_f32(const wr_frames *v, int frame0, int nframes, float *chw);

#endif
