/* See pipeline_preview.h. */
#include "models/wan22/pipeline_preview.h"

#include <string.h>

#include "vae/vae21.h"
#include "vae/vae22.h"

wr_status wan22_preview_decode(const vae21 *v21, const vae22 *v22, const vae_vol *x0, vae_vol *frames)
{
    int pick[3] = {0, x0->t / 2, x0->t - 1}, k = 0;
    for (int i = 0; i < 3; i++)
        if (k == 0 || pick[i] != pick[k - 1])
            pick[k++] = pick[i];
    size_t lplane = (size_t)x0->h * x0->w;
    vae_vol one = {0}, dec = {0};
    WR_TRY(vae_vol_alloc(&one, x0->c, 1, x0->h, x0->w));
    wr_status st = WR_OK;
    for (int i = 0; i < k && st == WR_OK; i++) {
        for (int c = 0; c < x0->c; c++)
            memcpy(one.d + (size_t)c * lplane, x0->d + ((size_t)c * x0->t + (size_t)pick[i]) * lplane,
                   lplane * sizeof(float));
        st = v21 ? vae21_decode(v21, &one, &dec) : vae22_decode(v22, &one, &dec);
        if (st == WR_OK && i == 0)
            st = vae_vol_alloc(frames, 3, k, dec.h, dec.w);
        if (st == WR_OK) {
            size_t plane = (size_t)dec.h * dec.w;
            for (int c = 0; c < 3; c++) {
                float *dst = frames->d + ((size_t)c * k + (size_t)i) * plane;
                const float *src = dec.d + (size_t)c * dec.t * plane; /* frame 0 of the decode */
                for (size_t p = 0; p < plane; p++)
                    dst[p] = src[p] < -1.0f ? -1.0f : src[p] > 1.0f ? 1.0f : src[p];
            }
        }
        vae_vol_free(&dec);
    }
    vae_vol_free(&one);
    if (st != WR_OK)
        vae_vol_free(frames);
    return st;
}
