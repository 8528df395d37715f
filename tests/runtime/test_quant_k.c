/* K-quant dequantisers: blocks are packed in the test from chosen logical values (scales,
 * mins, quants) following the documented layouts, and the dequantised floats must equal
 * d·scale·q − dmin·min computed here. */
#include <criterion/criterion.h>
#include <string.h>

#include "kernels/quant_blocks.h"
#include "runtime/numeric.h"
#include "runtime/quant.h"

static uint32_t lcg(uint32_t *s) { return *s = *s * 1664525u + 1013904223u; }

Test(quant_k, q4_k_and_q5_k)
{
    uint32_t seed = 1;
    for (int five = 0; five < 2; five++) {
        uint8_t sc[8], mn[8], q[256];
        for (int j = 0; j < 8; j++)
            sc[j] = lcg(&seed) % 64, mn[j] = lcg(&seed) % 64;
        for (int e = 0; e < 256; e++)
            q[e] = (uint8_t)(lcg(&seed) % (five ? 32 : 16));
        uint8_t packed[12];
        for (int j = 0; j < 4; j++) { /* 6-bit scales and mins of 8 sub-blocks in 12 bytes */
            packed[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
            packed[j + 4] = (uint8_t)((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
            packed[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
        }
        uint8_t qs[128] = {0}, qh[32] = {0};
        for (int e = 0; e < 256; e++) { /* sub-block pairs share 32 bytes: low nibbles then high */
            int pair = e / 64, within = e % 64, l = within % 32, hi = within >= 32;
            qs[pair * 32 + l] |= (uint8_t)((q[e] & 0xF) << (hi ? 4 : 0));
            if (q[e] & 16)
                qh[l] |= (uint8_t)(1u << (2 * pair + hi));
        }
        float d = 0.25f, dmin = 0.125f, out[256];
        if (five) {
            block_q5_K b = {.d = wr_f32_to_f16(d), .dmin = wr_f32_to_f16(dmin)};
            memcpy(b.scales, packed, 12), memcpy(b.qs, qs, 128), memcpy(b.qh, qh, 32);
            cr_assert(wr_dequant_row_f32(WR_DTYPE_Q5_K, &b, out, 256));
        } else {
            block_q4_K b = {.d = wr_f32_to_f16(d), .dmin = wr_f32_to_f16(dmin)};
            memcpy(b.scales, packed, 12), memcpy(b.qs, qs, 128);
            cr_assert(wr_dequant_row_f32(WR_DTYPE_Q4_K, &b, out, 256));
        }
        for (int e = 0; e < 256; e++) {
            int j = e / 32;
            float want = d * (float)sc[j] * (float)q[e] - dmin * (float)mn[j];
            cr_assert_float_eq(out[e], want, 1e-6f, "%s element %d: %g vs %g", five ? "Q5_K" : "Q4_K", e,
                               (double)out[e], (double)want);
        }
    }
}

Test(quant_k, q6_k)
{
    uint32_t seed = 7;
    int8_t sc[16];
    uint8_t q[256];
    for (int j = 0; j < 16; j++)
        sc[j] = (int8_t)(lcg(&seed) % 255 - 127);
    for (int e = 0; e < 256; e++)
        q[e] = (uint8_t)(lcg(&seed) % 64);
    block_q6_K b;
    memset(&b, 0, sizeof b);
    b.d = wr_f32_to_f16(0.5f);
    memcpy(b.scales, sc, 16);
    for (int e = 0; e < 256; e++) { /* halves of 128: four quarters of 32 share ql/qh bytes */
        int half = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
        uint8_t *ql = b.ql + 64 * half, *qh = b.qh + 32 * half;
        ql[l + (quarter & 1) * 32] |= (uint8_t)((q[e] & 0xF) << (quarter >= 2 ? 4 : 0));
        qh[l] |= (uint8_t)((q[e] >> 4) << (2 * quarter));
    }
    float out[256];
    cr_assert(wr_dequant_row_f32(WR_DTYPE_Q6_K, &b, out, 256));
    for (int e = 0; e < 256; e++) {
        float want = 0.5f * (float)sc[e / 16] * (float)((int)q[e] - 32);
        cr_assert_float_eq(out[e], want, 1e-6f, "Q6_K element %d", e);
    }
}

Test(quant_k, q2_k_and_q3_k)
{
    uint32_t seed = 3;
    uint8_t q2[256], s2[16], m2[16];
    for (int e = 0; e < 256; e++)
        q2[e] = (uint8_t)(lcg(&seed) % 4);
    for (int j = 0; j < 16; j++)
        s2[j] = lcg(&seed) % 16, m2[j] = lcg(&seed) % 16;
    block_q2_K b2;
    memset(&b2, 0, sizeof b2);
    b2.d = wr_f32_to_f16(0.5f), b2.dmin = wr_f32_to_f16(0.25f);
    for (int j = 0; j < 16; j++)
        b2.scales[j] = (uint8_t)(s2[j] | (m2[j] << 4));
    /* element order: halves of 128; in each, 4 shifts x (16 from bytes 0..15, 16 from 16..31) */
    for (int e = 0; e < 256; e++) {
        int half = e / 128, r = e % 128, shift = r / 32, l = r % 32;
        b2.qs[32 * half + l] |= (uint8_t)(q2[e] << (2 * shift));
    }
    float out[256];
    cr_assert(wr_dequant_row_f32(WR_DTYPE_Q2_K, &b2, out, 256));
    for (int e = 0; e < 256; e++) {
        int j = e / 16;
        cr_assert_float_eq(out[e], 0.5f * (float)s2[j] * (float)q2[e] - 0.25f * (float)m2[j], 1e-6f, "Q2_K %d", e);
    }
    /* Q3_K: 3-bit values (2 low bits + a high-mask bit, value = low − 4 when the bit is clear),
     * 16 six-bit scales stored with +32 offset */
    int q3[256], s3[16];
    for (int e = 0; e < 256; e++)
        q3[e] = (int)(lcg(&seed) % 8) - 4;
    for (int j = 0; j < 16; j++)
        s3[j] = (int)(lcg(&seed) % 64) - 32;
    block_q3_K b3;
    memset(&b3, 0, sizeof b3);
    b3.d = wr_f32_to_f16(0.5f);
    for (int j = 0; j < 16; j++) {
        int v = s3[j] + 32;
        if (j < 8)
            b3.scales[j] |= (uint8_t)(v & 0xF);
        else
            b3.scales[j - 8] |= (uint8_t)((v & 0xF) << 4);
        b3.scales[8 + j % 4] |= (uint8_t)((v >> 4) << (2 * (j / 4)));
    }
    for (int e = 0; e < 256; e++) {
        int half = e / 128, r = e % 128, shift = r / 32, l = r % 32;
        int low = q3[e] >= 0 ? q3[e] : q3[e] + 4, high = q3[e] >= 0;
        b3.qs[32 * half + l] |= (uint8_t)(low << (2 * shift));
        if (high)
            b3.hmask[l] |= (uint8_t)(1u << (4 * half + shift));
    }
    cr_assert(wr_dequant_row_f32(WR_DTYPE_Q3_K, &b3, out, 256));
    for (int e = 0; e < 256; e++)
        cr_assert_float_eq(out[e], 0.5f * (float)s3[e / 16] * (float)q3[e], 1e-6f, "Q3_K element %d: %g", e, (double)out[e]);
}

Test(quant_k, bf16_rows)
{
    float src[32], scratch[32];
    uint16_t out[32];
    for (int i = 0; i < 32; i++)
        src[i] = (float)i * 0.3f - 4.0f;
    cr_assert(wr_dequant_row_bf16(WR_DTYPE_F32, src, out, 32, scratch));
    for (int i = 0; i < 32; i++)
        cr_assert_eq(out[i], wr_f32_to_bf16(src[i]));
}

Test(quant_legacy, q4_1_and_q5_1_from_chosen_values)
{
    uint32_t seed = 11;
    uint8_t q[32];
    for (int e = 0; e < 32; e++)
        q[e] = (uint8_t)(lcg(&seed) % 32);
    /* Q4_1: element j < 16 in the low nibble of byte j, j + 16 in its high nibble; x = d·q + m */
    block_q4_1 b4 = {.d = wr_f32_to_f16(0.5f), .m = wr_f32_to_f16(-2.0f)};
    for (int j = 0; j < 16; j++)
        b4.qs[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
    float out[32];
    cr_assert(wr_dequant_row_f32(WR_DTYPE_Q4_1, &b4, out, 32));
    for (int e = 0; e < 32; e++)
        cr_assert_float_eq(out[e], 0.5f * (float)(q[e] & 0xF) - 2.0f, 1e-6f, "Q4_1 %d", e);
    /* Q5_1: the fifth bit of element j is bit j of qh (little-endian u32) */
    block_q5_1 b5 = {.d = wr_f32_to_f16(0.25f), .m = wr_f32_to_f16(1.0f)};
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++)
        b5.qs[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
    for (int e = 0; e < 32; e++)
        qh |= (uint32_t)(q[e] >> 4) << e;
    memcpy(b5.qh, &qh, 4);
    cr_assert(wr_dequant_row_f32(WR_DTYPE_Q5_1, &b5, out, 32));
    for (int e = 0; e < 32; e++)
        cr_assert_float_eq(out[e], 0.25f * (float)q[e] + 1.0f, 1e-6f, "Q5_1 %d", e);
}
