/* mt19937 and PyTorch-compatible normal sampling (see rng.h). */
#include "runtime/rng.h"

#include <math.h>

#define MT_N 624
#define MT_M 397

void wr_rng_seed(wr_rng *r, uint64_t seed)
{
    r->mt[0] = (uint32_t)seed;
    for (int i = 1; i < MT_N; i++)
        r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->index = MT_N;
    r->has_cached_normal = false;
}

uint32_t wr_rng_u32(wr_rng *r)
{
    if (r->index >= MT_N) {
        for (int i = 0; i < MT_N; i++) {
            uint32_t y = (r->mt[i] & 0x80000000u) | (r->mt[(i + 1) % MT_N] & 0x7fffffffu);
            r->mt[i] = r->mt[(i + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        r->index = 0;
    }
    uint32_t y = r->mt[r->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static float uniform_f32(wr_rng *r) { return (float)(wr_rng_u32(r) & 0xFFFFFFu) * 0x1p-24f; }

static double uniform_f64(wr_rng *r)
{
    uint64_t hi = wr_rng_u32(r), lo = wr_rng_u32(r);
    uint64_t v = hi << 32 | lo;
    return (double)(v & ((1ull << 53) - 1)) * 0x1p-53;
}

static void normal_fill_16(float *d)
{
    for (int j = 0; j < 8; j++) {
        const float u1 = 1.0f - d[j];
        const float u2 = d[j + 8];
        const float radius = sqrtf(-2.0f * logf(u1));
        const float theta = (float)(2.0 * M_PI * (double)u2);
        d[j] = radius * cosf(theta);
        d[j + 8] = radius * sinf(theta);
    }
}

static double normal_f64(wr_rng *r)
{
    if (r->has_cached_normal) {
        r->has_cached_normal = false;
        return r->cached_normal;
    }
    double u1 = uniform_f64(r), u2 = uniform_f64(r);
    double radius = sqrt(-2.0 * log1p(-u2));
    double theta = 2.0 * M_PI * u1;
    r->cached_normal = radius * sin(theta);
    r->has_cached_normal = true;
    return radius * cos(theta);
}

void wr_rng_randn(wr_rng *r, float *out, int64_t n)
{
    if (n < 16) {
        for (int64_t i = 0; i < n; i++)
            out[i] = (float)normal_f64(r);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        out[i] = uniform_f32(r);
    for (int64_t i = 0; i + 16 <= n; i += 16)
        normal_fill_16(out + i);
    if (n % 16 != 0) {
        float *tail = out + n - 16;
        for (int i = 0; i < 16; i++)
            tail[i] = uniform_f32(r);
        normal_fill_16(tail);
    }
}
