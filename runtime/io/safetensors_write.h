/* Writing safetensors files (outputs of `wanrt dit/vae/...`, files built by tests).
 * The file is written under a temporary name and renamed when complete. */
#ifndef WR_SAFETENSORS_WRITE_H
#define WR_SAFETENSORS_WRITE_H

#include <stdint.h>

#include "runtime/dtype.h"
#include "runtime/err.h"

typedef struct wr_st_entry {
    const char *name;
    wr_dtype dtype;       /* plain dtypes only (no GGUF block quants) */
    int n_dims;           /* 0 for a scalar */
    int64_t shape[6];     /* PyTorch order, outermost first */
    const void *data;     /* contiguous, row-major */
} wr_st_entry;

/* meta: n_meta key/value string pairs for "__metadata__" (may be NULL when n_meta is 0). */
wr_status wr_safetensors_write(const char *path, const wr_st_entry *entries, int n_entries,
                               const char *const (*meta)[2], int n_meta);

#endif
