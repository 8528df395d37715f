/* Row conversion of any stored dtype to float32: the reference dequantisers.
 *
 * Block quantisations are bit-exact with ggml's dequantize_row_* (ggml-quants.c): the same
 * integer unpacking and the same float operations in the same order. fp8 rows multiply by the
 * tensor's scale in the caller (wr_tensor.scale), not here. */
#ifndef WR_QUANT_H
#define WR_QUANT_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/dtype.h"

typedef void (*wr_dequant_fn)(const void *src, float *dst, int64_t n);

/* The float32 converter for t, or NULL when t cannot be converted (integers other than
 * those listed, or a quant type not implemented). n must be a multiple of the block size. */
wr_dequant_fn wr_dequant_get(wr_dtype t);

/* Convenience: converts n elements; returns false when t has no converter. */
bool wr_dequant_row_f32(wr_dtype t, const void *src, float *dst, int64_t n);

/* Row conversion to BF16 (round to nearest even) through a float scratch of n elements. */
bool wr_dequant_row_bf16(wr_dtype t, const void *src, uint16_t *dst, int64_t n, float *scratch);

/* K-quant block dequantisers (runtime/quant_k.c). */
void wr_dequant_q2_K(const void *src, float *dst, int64_t n);
void wr_dequant_q3_K(const void *src, float *dst, int64_t n);
void wr_dequant_q4_K(const void *src, float *dst, int64_t n);
void wr_dequant_q5_K(const void *src, float *dst, int64_t n);
void wr_dequant_q6_K(const void *src, float *dst, int64_t n);

#endif
