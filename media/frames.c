/* RGB clip storage and the float <-> 8-bit conversions (see frames.h). */
#include "media/frames.h"

#include <stdlib.h>
#include <string.h>

wr_status wr_frames_alloc(wr_frames *v, int width, int height, int count, double fps)
{
    memset(v, 0, sizeof *v);
    if (width <= 0 || height <= 0 || count <= 0)
        return wr_fail(WR_E_ARG, "invalid clip size %dx%d x %d frames", width, height, count);
    uint64_t bytes = (uint64_t)width * (uint64_t)height * 3u * (uint64_t)count;
    if (width > 32768 || height > 32768 || bytes > ((uint64_t)1 << 40))
        return wr_fail(WR_E_ARG, "clip %dx%d x %d frames is too large", width, height, count);
    v->rgb = malloc((size_t)bytes);
    if (!v->rgb)
        return wr_fail(WR_E_OOM, "out of memory for %dx%d x %d frames", width, height, count);
    v->width = width;
    v->height = height;
    v->count = count;
    v->fps = fps;
    return WR_OK;
}

void wr_frames_free(wr_frames *v)
{
    if (!v)
        return;
    free(v->rgb);
    memset(v, 0, sizeof *v);
}

static uint8_t to_u8(float x)
{
    float u = (x + 1.0f) * 0.5f;
    if (!(u > 0.0f)) /* also catches NaN */
        return 0;
    if (u >= 1.0f)
        return 255;
    return (uint8_t)(u * 255.0f);
}

void wr_frames_from_f32(wr_frames *v, const float *chw, int frame0, int nframes)
{
    size_t plane = (size_t)v->height * (size_t)v->width;
    size_t chan = plane * (size_t)nframes;
    for (int f = 0; f < nframes; f++) {
        uint8_t *dst = wr_frames_at(v, frame0 + f);
        for (size_t p = 0; p < plane; p++)
            for (int c = 0; c < 3; c++)
                dst[p * 3 + (size_t)c] = to_u8(chw[(size_t)c * chan + (size_t)f * plane + p]);
    }
}

void wr_frames_to_f32(const wr_frames *v, int frame0, int nframes, float *chw)
{
    size_t plane = (size_t)v->height * (size_t)v->width;
    size_t chan = plane * (size_t)nframes;
    for (int f = 0; f < nframes; f++) {
        const uint8_t *src = wr_frames_at(v, frame0 + f);
        for (size_t p = 0; p < plane; p++)
            for (int c = 0; c < 3; c++)
                chw[(size_t)c * chan + (size_t)f * plane + p] =
                    (float)src[p * 3 + (size_t)c] / 255.0f * 2.0f - 1.0f;
    }
}
