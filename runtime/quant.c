/* float32 conversion of plain dtypes and the 32-element GGUF block quants (see quant.h).
 * The block decoders follow ggml's dequantize_row_q{4_0,4_1,5_0,5_1,8_0} exactly. */
#include "runtime/quant.h"

#include <string.h>

#include "kernels/quant_blocks.h"
#include "runtime/numeric.h"

static void from_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }

static void from_f16(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = wr_f16_to_f32(s[i]);
}

static void from_bf16(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = wr_bf16_to_f32(s[i]);
}

static void from_f8e4m3(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = wr_f8e4m3_to_f32(s[i]);
}

static void from_f8e5m2(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = wr_f8e5m2_to_f32(s[i]);
}

static void from_f64(const void *src, float *dst, int64_t n)
{
    const double *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)s[i];
}

static void from_i8(const void *src, float *dst, int64_t n)
{
    const int8_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)s[i];
}

static void from_i32(const void *src, float *dst, int64_t n)
{
    const int32_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)s[i];
}

static void from_i64(const void *src, float *dst, int64_t n)
{
    const int64_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)s[i];
}

static uint32_t load_u32_le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void from_q4_0(const void *src, float *dst, int64_t n)
{
    const block_q4_0 *x = src;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const float d = wr_f16_to_f32(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            const int x0 = (x[i].qs[j] & 0x0F) - 8;
            const int x1 = (x[i].qs[j] >> 4) - 8;
            dst[i * QK4_0 + j] = (float)x0 * d;
            dst[i * QK4_0 + j + QK4_0 / 2] = (float)x1 * d;
        }
    }
}

static void from_q4_1(const void *src, float *dst, int64_t n)
{
    const block_q4_1 *x = src;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        const float d = wr_f16_to_f32(x[i].d);
        const float m = wr_f16_to_f32(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            const int x0 = x[i].qs[j] & 0x0F;
            const int x1 = x[i].qs[j] >> 4;
            dst[i * QK4_1 + j] = (float)x0 * d + m;
            dst[i * QK4_1 + j + QK4_1 / 2] = (float)x1 * d + m;
        }
    }
}

static void from_q5_0(const void *src, float *dst, int64_t n)
{
    const block_q5_0 *x = src;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        const float d = wr_f16_to_f32(x[i].d);
        const uint32_t qh = load_u32_le(x[i].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            const uint8_t xh_0 = (uint8_t)(((qh >> (j + 0)) << 4) & 0x10);
            const uint8_t xh_1 = (uint8_t)(((qh >> (j + 12))) & 0x10);
            const int32_t x0 = ((x[i].qs[j] & 0x0F) | xh_0) - 16;
            const int32_t x1 = ((x[i].qs[j] >> 4) | xh_1) - 16;
            dst[i * QK5_0 + j] = (float)x0 * d;
            dst[i * QK5_0 + j + QK5_0 / 2] = (float)x1 * d;
        }
    }
}

static void from_q5_1(const void *src, float *dst, int64_t n)
{
    const block_q5_1 *x = src;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        const float d = wr_f16_to_f32(x[i].d);
        const float m = wr_f16_to_f32(x[i].m);
        const uint32_t qh = load_u32_le(x[i].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            const uint8_t xh_0 = (uint8_t)(((qh >> (j + 0)) << 4) & 0x10);
            const uint8_t xh_1 = (uint8_t)(((qh >> (j + 12))) & 0x10);
            const int x0 = (x[i].qs[j] & 0x0F) | xh_0;
            const int x1 = (x[i].qs[j] >> 4) | xh_1;
            dst[i * QK5_1 + j] = (float)x0 * d + m;
            dst[i * QK5_1 + j + QK5_1 / 2] = (float)x1 * d + m;
        }
    }
}

static void from_q8_0(const void *src, float *dst, int64_t n)
{
    const block_q8_0 *x = src;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float d = wr_f16_to_f32(x[i].d);
        for (int j = 0; j < QK8_0; j++)
            dst[i * QK8_0 + j] = (float)x[i].qs[j] * d;
    }
}

static const wr_dequant_fn converters[] = {
    [WR_DTYPE_F32] = from_f32,
    [WR_DTYPE_F16] = from_f16,
    [WR_DTYPE_BF16] = from_bf16,
    [WR_DTYPE_F8_E4M3FN] = from_f8e4m3,
    [WR_DTYPE_F8_E5M2] = from_f8e5m2,
    [WR_DTYPE_F64] = from_f64,
    [WR_DTYPE_I8] = from_i8,
    [WR_DTYPE_U8] = NULL,
    [WR_DTYPE_I16] = NULL,
    [WR_DTYPE_I32] = from_i32,
    [WR_DTYPE_I64] = from_i64,
    [WR_DTYPE_BOOL] = NULL,
    [WR_DTYPE_Q4_0] = from_q4_0,
    [WR_DTYPE_Q4_1] = from_q4_1,
    [WR_DTYPE_Q5_0] = from_q5_0,
    [WR_DTYPE_Q5_1] = from_q5_1,
    [WR_DTYPE_Q8_0] = from_q8_0,
    [WR_DTYPE_Q2_K] = wr_dequant_q2_K, /* runtime/quant_k.c */
    [WR_DTYPE_Q3_K] = wr_dequant_q3_K,
    [WR_DTYPE_Q4_K] = wr_dequant_q4_K,
    [WR_DTYPE_Q5_K] = wr_dequant_q5_K,
    [WR_DTYPE_Q6_K] = wr_dequant_q6_K,
};
_Static_assert(sizeof(converters) / sizeof(converters[0]) == WR_DTYPE_COUNT,
               "converters must cover every wr_dtype");

wr_dequant_fn wr_dequant_get(wr_dtype t)
{
    return (unsigned)t < WR_DTYPE_COUNT ? converters[t] : NULL;
}

bool wr_dequant_row_f32(wr_dtype t, const void *src, float *dst, int64_t n)
{
    wr_dequant_fn f = wr_dequant_get(t);
    if (!f)
        return false;
    f(src, dst, n);
    return true;
}

bool wr_dequant_row_bf16(wr_dtype t, const void *src, uint16_t *dst, int64_t n, float *scratch)
{
    if (!wr_dequant_row_f32(t, src, scratch, n))
        return false;
    for (int64_t i = 0; i < n; i++)
        dst[i] = wr_f32_to_bf16(scratch[i]);
    return true;
}
