/* See batch_plan.h. */
#include "upscale/batch_plan.h"

#include <math.h>

int upscale_batch_overlap(int batch_size, int overlap)
{
    return batch_size - overlap <= 0 || overlap < 0 ? 0 : overlap;
}

static int pad_4n1(int t) { return (t + 2) / 4 * 4 + 1; }

int upscale_batch_plan(int frames, int batch_size, int overlap, bool uniform, upscale_batch *out, int cap)
{
    overlap = upscale_batch_overlap(batch_size, overlap);
    int step = batch_size - overlap, n = 0;
    for (int start = 0; start < frames; start += step) {
        int len = frames - start < batch_size ? frames - start : batch_size;
        if (start > 0 && len <= overlap)
            break; /* nothing new in it */
        if (n == cap)
            return -1;
        int t = uniform && len < batch_size ? batch_size : len;
        out[n++] = (upscale_batch){.start = start, .len = len, .padded = pad_4n1(t)};
        if (start + len >= frames)
            break;
    }
    return n;
}

int upscale_batch_source(int len, int padded, int i)
{
    if (i < len || len == 1)
        return i < len ? i : 0;
    int count = padded - len, k = i - len;
    if (count < len)
        return len - 2 - k;          /* a reflection without the last frame */
    return k < len - 1 ? len - 1 - k /* the clip reversed, without frame 0 ... */
                       : len - 1;    /* ... then the last frame repeated */
}

float upscale_overlap_weight(int k, int i)
{
    if (k < 3)
        return k == 1 ? 1.0f : 1.0f - (float)i / (float)(k - 1); /* linspace(1, 0, k) */
    double u = ((double)i / (k - 1) - 1.0 / 3.0) / (1.0 / 3.0);
    u = u < 0 ? 0 : u > 1 ? 1 : u;
    return (float)(0.5 + 0.5 * cos(M_PI * u));
}
