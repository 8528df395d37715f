/* Tensors: a typed, strided view of memory. A wr_tensor never owns its memory (STYLE.md 9.4).
 *
 * Dimension order is ggml's: ne[0] is the fastest-varying (innermost) dimension, which is the
 * LAST dimension of the PyTorch shape. A PyTorch [out, in] Linear weight has ne = {in, out}.
 * nb[] are byte strides; for block-quantised dtypes nb[0] is the block size in bytes and
 * ne[0] must be a multiple of the block's element count.
 *
 * Dimension letters used across the project (in PyTorch order, outermost first):
 *   B batch, F frames (latent or pixel), H height, W width, C channels,
 *   T tokens (sequence), NH attention heads, HD head dim (128 for every Wan model). */
#ifndef WR_TENSOR_H
#define WR_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/dtype.h"

#define WR_MAX_DIMS 6

typedef struct wr_tensor {
    wr_dtype dtype;
    int n_dims;              /* 1..WR_MAX_DIMS; dims beyond n_dims have ne = 1 */
    int64_t ne[WR_MAX_DIMS]; /* elements per dimension, innermost first */
    size_t nb[WR_MAX_DIMS];  /* byte strides, innermost first */
    void *data;
    float scale;             /* per-tensor dequantisation scale (fp8 "scaled" weights); 1 if none */
} wr_tensor;

/* A contiguous tensor over `data`. ne is innermost first. Returns false (and leaves *t unset)
 * when a dimension is negative, the element count overflows, or ne[0] is not a multiple of
 * the dtype's block size. */
bool wr_tensor_init(wr_tensor *t, wr_dtype dtype, int n_dims, const int64_t *ne, void *data);

/* Same, taking the shape in PyTorch order (outermost first), as checkpoints describe it. */
bool wr_tensor_init_torch(wr_tensor *t, wr_dtype dtype, int n_dims, const int64_t *shape, void *data);

int64_t wr_tensor_nelements(const wr_tensor *t);
/* Bytes of the contiguous storage (ne elements); meaningful for contiguous tensors. */
size_t wr_tensor_nbytes(const wr_tensor *t);
int64_t wr_tensor_nrows(const wr_tensor *t); /* product of ne[1..] */
bool wr_tensor_is_contiguous(const wr_tensor *t);
bool wr_tensor_same_shape(const wr_tensor *a, const wr_tensor *b);

/* PyTorch-order shape as text, e.g. "[256, 16, 1, 2, 2]". */
void wr_tensor_shape_str(const wr_tensor *t, char *buf, size_t len);

/* Pointer to row r (a row = ne[0] elements; r counts over dims 1.. in order). */
void *wr_tensor_row(const wr_tensor *t, int64_t r);
/* Whether consecutive rows of t all lie the same number of bytes apart (*stride; 0 for one row):
 * true for contiguous tensors and for row views such as chunk k of a [M, 6, N] tensor. */
bool wr_tensor_row_stride(const wr_tensor *t, size_t *stride);

/* A view of a sub-range [start, start+len) of dimension dim (no copy). */
wr_tensor wr_tensor_slice(const wr_tensor *t, int dim, int64_t start, int64_t len);

/* Reinterpret a contiguous tensor with a new shape of the same element count. */
wr_tensor wr_tensor_reshape(const wr_tensor *t, int n_dims, const int64_t *ne);

#endif
