/* Tensor shapes/strides, dtype traits and the scalar float conversions. */
#include <criterion/criterion.h>
#include <math.h>

#include "runtime/dtype.h"
#include "runtime/numeric.h"
#include "runtime/tensor.h"

Test(tensor, torch_order_and_strides)
{
    float buf[2 * 3 * 4];
    wr_tensor t;
    int64_t shape[3] = {2, 3, 4};
    cr_assert(wr_tensor_init_torch(&t, WR_DTYPE_F32, 3, shape, buf));
    cr_assert_eq(t.ne[0], 4);
    cr_assert_eq(t.ne[2], 2);
    cr_assert_eq(t.nb[1], 16);
    cr_assert_eq(t.nb[2], 48);
    cr_assert_eq(wr_tensor_nelements(&t), 24);
    cr_assert(wr_tensor_is_contiguous(&t));
    char s[64];
    wr_tensor_shape_str(&t, s, sizeof s);
    cr_assert_str_eq(s, "[2, 3, 4]");
    wr_tensor v = wr_tensor_slice(&t, 1, 1, 2);
    cr_assert_eq(v.data, (char *)buf + 16);
    cr_assert_not(wr_tensor_is_contiguous(&v));
}

Test(tensor, rejects_bad_shapes)
{
    wr_tensor t;
    int64_t neg[2] = {4, -1};
    cr_assert_not(wr_tensor_init(&t, WR_DTYPE_F32, 2, neg, NULL));
    int64_t huge[3] = {INT64_MAX / 2, INT64_MAX / 2, 4};
    cr_assert_not(wr_tensor_init(&t, WR_DTYPE_F32, 3, huge, NULL));
    int64_t not_block[1] = {33};
    cr_assert_not(wr_tensor_init(&t, WR_DTYPE_Q8_0, 1, not_block, NULL));
    int64_t ok[1] = {64};
    cr_assert(wr_tensor_init(&t, WR_DTYPE_Q8_0, 1, ok, NULL));
    cr_assert_eq(wr_tensor_nbytes(&t), 68);
}

Test(numeric, f16_roundtrip_all_bits)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float f = wr_f16_to_f32((uint16_t)h);
        if (isnan(f))
            continue;
        cr_assert_eq(wr_f32_to_f16(f), h, "f16 0x%04x -> %g -> 0x%04x", h, (double)f, wr_f32_to_f16(f));
    }
    /* ties go to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 */
    cr_assert_eq(wr_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    cr_assert_eq(wr_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    cr_assert_eq(wr_f32_to_f16(65520.0f), 0x7c00);
    cr_assert_eq(wr_f32_to_f16(0x1p-25f), 0x0000);
    cr_assert_eq(wr_f32_to_f16(0x1.8p-25f), 0x0001);
}

Test(numeric, bf16_rounding)
{
    cr_assert_eq(wr_f32_to_bf16(1.0f), 0x3f80);
    cr_assert_eq(wr_f32_to_bf16(wr_bits_to_f32(0x3f808000u)), 0x3f80); /* tie to even */
    cr_assert_eq(wr_f32_to_bf16(wr_bits_to_f32(0x3f818000u)), 0x3f82);
    for (uint32_t h = 0; h < 65536; h++) {
        float f = wr_bf16_to_f32((uint16_t)h);
        if (!isnan(f))
            cr_assert_eq(wr_f32_to_bf16(f), h);
    }
}

Test(numeric, f8e4m3_all_codes)
{
    cr_assert_float_eq(wr_f8e4m3_to_f32(0x7e), 448.0f, 0);
    cr_assert_float_eq(wr_f8e4m3_to_f32(0x01), 0x1p-9f, 0);
    cr_assert(isnan(wr_f8e4m3_to_f32(0x7f)));
    for (uint32_t c = 0; c < 256; c++) {
        float f = wr_f8e4m3_to_f32((uint8_t)c);
        if (isnan(f))
            continue;
        uint8_t back = wr_f32_to_f8e4m3(f);
        if (c == 0x80) /* -0 */
            cr_assert_eq(back, 0x80);
        else
            cr_assert_eq(back, c, "code 0x%02x -> %g -> 0x%02x", c, (double)f, back);
    }
    cr_assert_eq(wr_f32_to_f8e4m3(1000.0f), 0x7e);
    cr_assert_eq(wr_f32_to_f8e4m3(-1000.0f), 0xfe);
    /* halfway between 1.0 (0x38) and 1.125 (0x39) rounds to even 0x38 */
    cr_assert_eq(wr_f32_to_f8e4m3(1.0625f), 0x38);
}

Test(dtype, names_and_ggml_ids)
{
    wr_dtype d;
    cr_assert(wr_dtype_from_name("BF16", &d));
    cr_assert_eq(d, WR_DTYPE_BF16);
    cr_assert(wr_dtype_from_name("F8_E4M3", &d));
    cr_assert_eq(d, WR_DTYPE_F8_E4M3FN);
    cr_assert_not(wr_dtype_from_name("F9", &d));
    cr_assert(wr_dtype_from_ggml(8, &d));
    cr_assert_eq(d, WR_DTYPE_Q8_0);
    cr_assert(wr_dtype_from_ggml(14, &d));
    cr_assert_eq(d, WR_DTYPE_Q6_K);
    cr_assert_not(wr_dtype_from_ggml(9, &d)); /* Q8_1 is never stored in model files */
    cr_assert_eq(wr_dtype_info(WR_DTYPE_Q4_K)->block_bytes, 144);
}
