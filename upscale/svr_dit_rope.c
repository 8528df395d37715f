/* RoPE tables of the SeedVR2 DiT (see svr_dit_rope.h): angles as float32 products of
 * position and frequency like rotary-embedding-torch, rotation of adjacent pairs. */
#include "upscale/svr_dit_rope.h"

#include <math.h>

void upscale_dit_rope_angles(const float *freqs, int nf, const float pos[3], float *theta)
{
    for (int a = 0; a < 3; a++)
        for (int j = 0; j < nf; j++) {
            float v = pos[a] * freqs[j]; /* float32 product, as position.to(freqs.dtype) * freqs */
            theta[a * 2 * nf + 2 * j] = v;
            theta[a * 2 * nf + 2 * j + 1] = v;
        }
}

void upscale_dit_rope_rotate(float *x, const float *theta, int n_rot)
{
    for (int m = 0; m + 1 < n_rot; m += 2) {
        float c = cosf(theta[m]), s = sinf(theta[m]);
        float x0 = x[m], x1 = x[m + 1];
        x[m] = x0 * c - x1 * s;
        x[m + 1] = x1 * c + x0 * s;
    }
}

void upscale_dit_rope_pos_mm(int txt_len, int a, int b, int c, float pos[3])
{
    pos[0] = (float)(txt_len + a);
    pos[1] = (float)b;
    pos[2] = (float)c;
}

float upscale_dit_rope_pos_pixel(int i, int n)
{
    if (n <= 1)
        return -1.0f;
    /* torch.linspace in float32: the step from each end, whichever is nearer */
    float step = 2.0f / (float)(n - 1);
    return i < n / 2 ? -1.0f + step * (float)i : 1.0f - step * (float)(n - 1 - i);
}

int upscale_dit_rope_default_freqs(bool mm, int head_dim, float *freqs, int cap)
{
    if (mm) { /* rotary-embedding-torch "lang": 1 / 10000^(arange(0, d, 2) / d), d = head_dim // 3,
               * each step in float32 like the constructor */
        int d = head_dim / 3, nf = d / 2;
        for (int j = 0; j < nf && j < cap; j++)
            freqs[j] = 1.0f / powf(10000.0f, (float)(2 * j) / (float)d);
        return nf;
    }
    /* "pixel": linspace(1, max_freq / 2 = 128, d // 2) · π, d = (head_dim / 2) // 3 */
    int nf = head_dim / 2 / 3 / 2;
    for (int j = 0; j < nf && j < cap; j++) {
        float step = 127.0f / (float)(nf > 1 ? nf - 1 : 1);
        float v = j < nf / 2 ? 1.0f + step * (float)j : 128.0f - step * (float)(nf - 1 - j);
        freqs[j] = v * (float)M_PI;
    }
    return nf;
}
