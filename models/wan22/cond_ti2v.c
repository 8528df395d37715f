/* TI2V conditioning (see cond_ti2v.h). mask2 is 0 on frame 0 and 1 elsewhere, so the
 * blends reduce to copies; they are written as the official arithmetic for clarity. */
#include "models/wan22/cond_ti2v.h"

#include <stddef.h>

void wan22_ti2v_init(float *latent, const float *z, const float *noise, int c, int t, int h, int w)
{
    size_t plane = (size_t)h * w;
    for (int ch = 0; ch < c; ch++)
        for (int f = 0; f < t; f++) {
            float m = f == 0 ? 0.0f : 1.0f;
            for (size_t p = 0; p < plane; p++) {
                size_t i = ((size_t)ch * t + (size_t)f) * plane + p;
                latent[i] = (1.0f - m) * z[(size_t)ch * plane + p] + m * noise[i];
            }
        }
}

void wan22_ti2v_reimpose(float *latent, const float *z, int c, int t, int h, int w)
{
    wan22_ti2v_init(latent, z, latent, c, t, h, w);
}

void wan22_ti2v_timesteps(float *out, float t_value, int t, int h, int w)
{
    int per_frame = (h / 2) * (w / 2);
    for (int f = 0; f < t; f++)
        for (int i = 0; i < per_frame; i++)
            out[f * per_frame + i] = f == 0 ? 0.0f : t_value;
}
