/* Reference row encoders (see quant_encode.h). */
#include "runtime/quant_encode.h"

#include <math.h>
#include <string.h>

#include "kernels/quant_blocks.h"
#include "runtime/numeric.h"

/* ggml's quantize_row_q8_0_ref: d = absmax / 127 as f16, q = round(x / d) */
static void encode_q8_0(float *x, block_q8_0 *blk, int64_t n)
{
    for (int64_t b0 = 0; b0 < n; b0 += QK8_0, blk++) {
        float amax = 0;
        for (int j = 0; j < QK8_0; j++)
            amax = fmaxf(amax, fabsf(x[b0 + j]));
        uint16_t dh = wr_f32_to_f16(amax / 127.0f);
        float d = wr_f16_to_f32(dh);
        blk->d = dh;
        for (int j = 0; j < QK8_0; j++) {
            int q = d > 0 ? (int)lrintf(x[b0 + j] / d) : 0;
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            blk->qs[j] = (int8_t)q;
            x[b0 + j] = d * (float)q;
        }
    }
}

/* d = absmax / 8 as f16, q = round(x / d) + 8 in 0..15; element j in the low nibble of qs[j],
 * element j + 16 in the high nibble (ggml's layout) */
static void encode_q4_0(float *x, block_q4_0 *blk, int64_t n)
{
    for (int64_t b0 = 0; b0 < n; b0 += QK4_0, blk++) {
        float amax = 0;
        for (int j = 0; j < QK4_0; j++)
            amax = fmaxf(amax, fabsf(x[b0 + j]));
        uint16_t dh = wr_f32_to_f16(amax / 8.0f);
        float d = wr_f16_to_f32(dh);
        blk->d = dh;
        memset(blk->qs, 0, sizeof blk->qs);
        for (int j = 0; j < QK4_0; j++) {
            int q = d > 0 ? (int)lrintf(x[b0 + j] / d) + 8 : 8;
            q = q > 15 ? 15 : q < 0 ? 0 : q;
            if (j < QK4_0 / 2)
                blk->qs[j] = (uint8_t)((blk->qs[j] & 0xf0) | q);
            else
                blk->qs[j - QK4_0 / 2] = (uint8_t)((blk->qs[j - QK4_0 / 2] & 0x0f) | (q << 4));
            x[b0 + j] = d * (float)(q - 8);
        }
    }
}

bool wr_quant_encode_row(wr_dtype dt, float *x, void *dst, int64_t n)
{
    unsigned char *out = dst;
    switch (dt) {
    case WR_DTYPE_F32:
        memcpy(out, x, (size_t)n * 4);
        return true;
    case WR_DTYPE_BF16:
        for (int64_t k = 0; k < n; k++) {
            uint16_t h = wr_f32_to_bf16(x[k]);
            memcpy(out + 2 * k, &h, 2);
            x[k] = wr_bf16_to_f32(h);
        }
        return true;
    case WR_DTYPE_F8_E4M3FN:
        for (int64_t k = 0; k < n; k++) {
            out[k] = wr_f32_to_f8e4m3(x[k]);
            x[k] = wr_f8e4m3_to_f32(out[k]);
        }
        return true;
    case WR_DTYPE_Q8_0:
        if (n % QK8_0)
            return false;
        encode_q8_0(x, (block_q8_0 *)dst, n);
        return true;
    case WR_DTYPE_Q4_0:
        if (n % QK4_0)
            return false;
        encode_q4_0(x, (block_q4_0 *)dst, n);
        return true;
    default:
        return false;
    }
}
