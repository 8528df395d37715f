/* Writing GGUF v3 files (used by `wanrt quantize` and by tests that build model files).
 * Build a writer, add metadata and tensors (data is referenced, not copied, until write),
 * then write atomically (temporary name, rename). */
#ifndef WR_GGUF_WRITE_H
#define WR_GGUF_WRITE_H

#include <stdint.h>

#include "runtime/io/gguf.h"
#include "runtime/tensor.h"

typedef struct wr_gguf_writer wr_gguf_writer;

wr_status wr_gguf_writer_new(wr_gguf_writer **out);
void wr_gguf_writer_free(wr_gguf_writer *w);

wr_status wr_gguf_writer_add_u32(wr_gguf_writer *w, const char *key, uint32_t v);
wr_status wr_gguf_writer_add_i32(wr_gguf_writer *w, const char *key, int32_t v);
wr_status wr_gguf_writer_add_f32(wr_gguf_writer *w, const char *key, float v);
wr_status wr_gguf_writer_add_bool(wr_gguf_writer *w, const char *key, bool v);
wr_status wr_gguf_writer_add_str(wr_gguf_writer *w, const char *key, const char *v);
/* Arrays of fixed-size elements (u8..f64): n elements of elem_type at data. */
wr_status wr_gguf_writer_add_array(wr_gguf_writer *w, const char *key, wr_gguf_type elem_type,
                                   const void *data, uint64_t n);
wr_status wr_gguf_writer_add_str_array(wr_gguf_writer *w, const char *key, const char *const *v, uint64_t n);

/* t must be contiguous; its dtype must have a GGUF type id. The data is read at write time. */
wr_status wr_gguf_writer_add_tensor(wr_gguf_writer *w, const char *name, const wr_tensor *t);

/* alignment: 0 for the default (32, no general.alignment key). */
wr_status wr_gguf_writer_write(wr_gguf_writer *w, const char *path, uint32_t alignment);

#endif
