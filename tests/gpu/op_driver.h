/* The op-test driver (ggml test-backend-ops style): device buffers with sentinel zones checked
 * after every op, seeded inputs, NaN/Inf parity and normalised-error bounds, and a record of the
 * kernel entry points each case must have launched (the meta-test reads the case tables). */
#ifndef WR_OP_DRIVER_H
#define WR_OP_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/gpu/gpu_ops.h"

/* A device tensor with SENT sentinel floats on each side of its data. */
typedef struct od_buf {
    wr_tensor t;    /* data = device pointer to the first element */
    void *base;     /* the allocation */
    size_t bytes;   /* data bytes */
} od_buf;

/* Allocates a device tensor of dtype/ne (innermost first) and fills it from host (NULL: zero). */
od_buf od_upload(wr_gpu *g, wr_dtype dtype, int n_dims, const int64_t *ne, const void *host);
/* Copies the data back, checks both sentinel zones, frees. `what` names the case. */
void od_download_free(wr_gpu *g, od_buf *b, void *host, const char *what);
void od_free(wr_gpu *g, od_buf *b, const char *what);

/* Uniform floats in [lo, hi) from a seeded generator. */
void od_fill(float *x, int64_t n, float lo, float hi, uint64_t seed);

/* Encodes a [N][K] f32 weight in dt (F32, BF16, F8_E4M3FN, Q8_0 or Q4_0, the block formats
 * rounding like ggml's reference quantizers); returns malloc'd bytes and writes the values the
 * encoding represents back into w, so references use exactly what the kernels decode. */
void *od_encode_weight(wr_dtype dt, float *w, int64_t N, int64_t K, size_t *row_bytes);

/* Asserts NaN parity and nmse <= bound between got and ref (n elements); `what` names the case. */
void od_expect(const float *got, const float *ref, int64_t n, double nmse_bound, const char *what);

/* The entry points of kernel files that each case table exercises (meta-test). */
typedef struct od_coverage {
    const char *file;
    const char *entry;
} od_coverage;
extern const od_coverage od_covered[];
extern const int od_covered_count;

#endif
