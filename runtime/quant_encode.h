/* Reference encoders: one float32 row into a stored weight dtype, the inverse of runtime/quant.h.
 * They exist for tests and benchmarks that need weights in file formats (the model files come
 * quantised already): F32, BF16 and F8_E4M3FN round to nearest even (runtime/numeric.h); Q8_0
 * and Q4_0 round like ggml's quantize_row_*_ref (d = absmax / 127 resp. / 8, stored as f16,
 * codes round(x / d)). */
#ifndef WR_QUANT_ENCODE_H
#define WR_QUANT_ENCODE_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/dtype.h"

/* Encodes the n floats of x as one row of dtype dt into dst (wr_dtype_row_bytes(dt, n) bytes) and
 * overwrites x with the values the encoding represents, so a reference computed from x uses
 * exactly what a kernel decodes. Returns false for a dtype without an encoder or n not a multiple
 * of its block size. */
bool wr_quant_encode_row(wr_dtype dt, float *x, void *dst, int64_t n);

#endif
