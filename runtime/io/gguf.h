/* GGUF (v2, v3) files: typed metadata access for modules that need more than the rendered
 * strings of wr_weightfile (e.g. a tokenizer's `tokenizer.ggml.tokens` string array).
 *
 * Layout (ggml docs/gguf.md): "GGUF", u32 version, u64 n_tensors, u64 n_kv, the key/value
 * pairs, the tensor infos (name, u32 n_dims, u64 ne[n_dims] with ne[0] fastest, u32 ggml
 * type, u64 offset), padding to `general.alignment` (default 32), then the data section;
 * tensor offsets are relative to it. All values point into the mapping (zero copy). */
#ifndef WR_GGUF_H
#define WR_GGUF_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/io/weightfile.h"

#define WR_GGUF_KEY_ALIGNMENT "general.alignment"
#define WR_GGUF_KEY_ARCHITECTURE "general.architecture"
#define WR_GGUF_DEFAULT_ALIGNMENT 32

typedef enum wr_gguf_type {
    WR_GGUF_UINT8 = 0,
    WR_GGUF_INT8 = 1,
    WR_GGUF_UINT16 = 2,
    WR_GGUF_INT16 = 3,
    WR_GGUF_UINT32 = 4,
    WR_GGUF_INT32 = 5,
    WR_GGUF_FLOAT32 = 6,
    WR_GGUF_BOOL = 7,
    WR_GGUF_STRING = 8,
    WR_GGUF_ARRAY = 9,
    WR_GGUF_UINT64 = 10,
    WR_GGUF_INT64 = 11,
    WR_GGUF_FLOAT64 = 12,
    WR_GGUF_TYPE_COUNT
} wr_gguf_type;

typedef struct wr_gguf_value wr_gguf_value;
struct wr_gguf_value {
    wr_gguf_type type;
    union {
        uint64_t u;  /* unsigned integers and bool */
        int64_t i;   /* signed integers */
        double f;    /* float32 / float64 */
    } num;
    const char *str;     /* STRING: bytes in the mapping, NOT NUL-terminated */
    uint64_t str_len;
    wr_gguf_type elem_type; /* ARRAY: element type */
    uint64_t n;             /* ARRAY: element count */
    wr_gguf_value *items;   /* ARRAY: decoded elements (owned) */
};

typedef struct wr_gguf_kv {
    char *key; /* owned, NUL-terminated */
    wr_gguf_value value;
} wr_gguf_kv;

typedef struct wr_gguf {
    uint32_t version;
    uint64_t n_kv;
    wr_gguf_kv *kv;
    uint64_t alignment;
    uint64_t data_offset; /* file offset of the data section */
} wr_gguf;

const char *wr_gguf_type_name(wr_gguf_type t);
/* The GGUF context of a weight file opened from GGUF, NULL for other formats. */
const wr_gguf *wr_gguf_of(const wr_weightfile *wf);
const wr_gguf_kv *wr_gguf_find(const wr_gguf *g, const char *key);
/* Value as a number; false when absent or not numeric. */
bool wr_gguf_get_u64(const wr_gguf *g, const char *key, uint64_t *out);
bool wr_gguf_get_f64(const wr_gguf *g, const char *key, double *out);

#endif
