/* Scalar conversions between float and the 16- and 8-bit float formats, bit-exact with the
 * hardware/PyTorch conversions (round to nearest even; NaN preserved). Used by readers, the
 * CPU backend and the emulator's __half/__nv_bfloat16/__nv_fp8_e4m3 types. */
#ifndef WR_NUMERIC_H
#define WR_NUMERIC_H

#include <stdint.h>
#include <string.h>

static inline float wr_bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t wr_f32_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float wr_bf16_to_f32(uint16_t h) { return wr_bits_to_f32((uint32_t)h << 16); }

static inline uint16_t wr_f32_to_bf16(float f)
{
    uint32_t u = wr_f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it quiet and signed */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float wr_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        if (man == 0)
            return wr_bits_to_f32(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    if (exp == 31)
        return wr_bits_to_f32(sign | 0x7f800000u | (man << 13));
    return wr_bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t wr_f32_to_f16(float f)
{
    uint32_t u = wr_f32_to_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        if (a < 0x33000000u) /* < 2^-25 rounds to zero */
            return (uint16_t)sign;
        uint32_t e = a >> 23;
        uint32_t m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* 14 + (113 - e) - 1 */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u)))
            q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u);
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

/* OCP FP8 E4M3FN: bias 7, no infinities, 0x7f/0xff are NaN, max 448. */
static inline float wr_f8e4m3_to_f32(uint8_t v)
{
    uint32_t sign = (uint32_t)(v & 0x80u) << 24;
    uint32_t exp = (v >> 3) & 0xfu;
    uint32_t man = v & 0x7u;
    if (exp == 15 && man == 7)
        return wr_bits_to_f32(sign | 0x7fc00000u);
    if (exp == 0) {
        float x = (float)man * 0.001953125f; /* man * 2^-9 */
        return sign ? -x : x;
    }
    return wr_bits_to_f32(sign | ((exp + 120u) << 23) | (man << 20));
}

/* FP8 E5M2: bias 15, IEEE-like with infinities (the top byte of an f16). */
static inline float wr_f8e5m2_to_f32(uint8_t v) { return wr_f16_to_f32((uint16_t)((uint16_t)v << 8)); }

/* Round-to-nearest-even with saturation to +-448 (what __nv_cvt_float_to_fp8 with
 * __NV_SATFINITE and PyTorch's .to(float8_e4m3fn) of in-range values do). NaN -> 0x7f. */
static inline uint8_t wr_f32_to_f8e4m3(float f)
{
    uint32_t u = wr_f32_to_bits(f);
    uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint8_t)(sign | 0x7f);
    if (a >= 0x43e80000u) /* >= 464 rounds past 448: saturate */
        return (uint8_t)(sign | 0x7e);
    if (a < 0x3c800000u) { /* below 2^-6: subnormal range, step 2^-9 */
        float x = wr_bits_to_f32(a) * 512.0f;
        uint32_t q = (uint32_t)x;
        float rem = x - (float)q;
        if (rem > 0.5f || (rem == 0.5f && (q & 1u)))
            q++;
        return (uint8_t)(sign | q); /* q == 8 is the smallest normal, encoded the same way */
    }
    uint32_t r = a + 0x7ffffu + ((a >> 20) & 1u);
    uint32_t e = (r >> 23) - 120u;
    uint32_t m = (r >> 20) & 0x7u;
    uint8_t out = (uint8_t)((e << 3) | m);
    if (out > 0x7e)
        out = 0x7e;
    return (uint8_t)(sign | out);
}

#endif
