/* Element types of tensors and their traits.
 *
 * Plain types and the GGUF block quantisations share one enum so a tensor read from any file
 * carries its storage type unchanged (weights stay in file format, STYLE.md 9.4). Block layouts
 * are in kernels/quant_blocks.h; dequantisers in runtime/quant.h. */
#ifndef WR_DTYPE_H
#define WR_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum wr_dtype {
    WR_DTYPE_F32,
    WR_DTYPE_F16,
    WR_DTYPE_BF16,
    WR_DTYPE_F8_E4M3FN,
    WR_DTYPE_F8_E5M2,
    WR_DTYPE_F64,
    WR_DTYPE_I8,
    WR_DTYPE_U8,
    WR_DTYPE_I16,
    WR_DTYPE_I32,
    WR_DTYPE_I64,
    WR_DTYPE_BOOL,
    WR_DTYPE_Q4_0,
    WR_DTYPE_Q4_1,
    WR_DTYPE_Q5_0,
    WR_DTYPE_Q5_1,
    WR_DTYPE_Q8_0,
    WR_DTYPE_Q2_K,
    WR_DTYPE_Q3_K,
    WR_DTYPE_Q4_K,
    WR_DTYPE_Q5_K,
    WR_DTYPE_Q6_K,
    WR_DTYPE_COUNT
} wr_dtype;

typedef struct wr_dtype_traits {
    const char *name;    /* "F32", "Q8_0", ... (the GGUF / safetensors spelling) */
    int64_t block_elems; /* elements per block: 1 for plain types, 32 or 256 for quants */
    size_t block_bytes;  /* bytes per block */
    bool is_quant;       /* a GGUF block quantisation */
    bool is_float;       /* dequantises to float (floats and quants) */
    int ggml_type;       /* the GGML_TYPE_* id in GGUF files, -1 when GGUF cannot store it */
} wr_dtype_traits;

const wr_dtype_traits *wr_dtype_info(wr_dtype t);
const char *wr_dtype_name(wr_dtype t);

/* Name lookup (exact, case-sensitive as in the files). Returns false when unknown. */
bool wr_dtype_from_name(const char *name, wr_dtype *out);
/* GGML_TYPE_* id -> dtype. Returns false for ids we cannot read. */
bool wr_dtype_from_ggml(int ggml_type, wr_dtype *out);

/* Bytes for n elements of t; n must be a multiple of the block size. Returns false on
 * overflow or a non-multiple (the caller reports the file and tensor). */
bool wr_dtype_row_bytes(wr_dtype t, int64_t n, size_t *out);

#endif
