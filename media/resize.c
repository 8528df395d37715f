/* Bicubic resize + centre crop (see resize.h). Separable: rows, then columns, in float. */
#include "media/resize.h"

#include <math.h>
#include <stdlib.h>

static float cubic(float x)
{
    const float a = -0.75f;
    x = fabsf(x);
    if (x <= 1.0f)
        return ((a + 2.0f) * x - (a + 3.0f)) * x * x + 1.0f;
    if (x < 2.0f)
        return ((a * x - 5.0f * a) * x + 8.0f * a) * x - 4.0f * a;
    return 0.0f;
}

/* dst[i] for i < n_out from src (n_in samples, stride) by bicubic interpolation. */
static void resample_line(const float *src, int n_in, int stride, float *dst, int n_out, int dst_stride)
{
    float scale = (float)n_in / (float)n_out;
    for (int i = 0; i < n_out; i++) {
        float x = ((float)i + 0.5f) * scale - 0.5f;
        int x0 = (int)floorf(x);
        float t = x - (float)x0, acc = 0.0f;
        for (int k = -1; k <= 2; k++) {
            int j = x0 + k;
            j = j < 0 ? 0 : j >= n_in ? n_in - 1 : j;
            acc += src[(size_t)j * (size_t)stride] * cubic(t - (float)k);
        }
        dst[(size_t)i * (size_t)dst_stride] = acc;
    }
}

wr_status wr_resize_cover_crop(const uint8_t *rgb, int iw, int ih, int width, int height, float *chw)
{
    if (iw < 1 || ih < 1 || width < 1 || height < 1)
        return wr_fail(WR_E_ARG, "resize: empty image or target");
    double s = fmax((double)width / iw, (double)height / ih);
    int rw = (int)lround(iw * s), rh = (int)lround(ih * s);
    if (rw < width)
        rw = width;
    if (rh < height)
        rh = height;
    float *src = malloc((size_t)iw * ih * sizeof *src), *tmp = malloc((size_t)rw * ih * sizeof *tmp);
    float *big = malloc((size_t)rw * rh * sizeof *big);
    if (!src || !tmp || !big) {
        free(src), free(tmp), free(big);
        return wr_fail(WR_E_OOM, "resize: out of memory for %dx%d", rw, rh);
    }
    int ox = (rw - width) / 2, oy = (rh - height) / 2;
    for (int c = 0; c < 3; c++) {
        for (size_t p = 0; p < (size_t)iw * ih; p++)
            src[p] = (float)rgb[p * 3 + (size_t)c] / 255.0f;
        for (int y = 0; y < ih; y++)
            resample_line(src + (size_t)y * iw, iw, 1, tmp + (size_t)y * rw, rw, 1);
        for (int x = 0; x < rw; x++)
            resample_line(tmp + x, ih, rw, big + x, rh, rw);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) {
                float v = big[(size_t)(y + oy) * rw + (size_t)(x + ox)];
                v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
                chw[((size_t)c * height + (size_t)y) * width + (size_t)x] = (v - 0.5f) / 0.5f;
            }
    }
    free(src), free(tmp), free(big);
    return WR_OK;
}
