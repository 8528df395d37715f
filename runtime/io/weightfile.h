/* One interface over the three weight formats (GGUF, safetensors, PyTorch zip).
 *
 * wr_weightfile_open sniffs the format, maps the file and lets the format's reader fill in the
 * tensor table; every tensor's data points into the mapping (zero copy, file layout kept:
 * Q8_0 blocks stay blocks, fp8 stays fp8 with its scale). Lookups go through one place that
 * knows the naming conventions in the wild (runtime/io/names.h). */
#ifndef WR_WEIGHTFILE_H
#define WR_WEIGHTFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/io/mapped_file.h"
#include "runtime/tensor.h"

typedef enum wr_format {
    WR_FORMAT_GGUF,
    WR_FORMAT_SAFETENSORS,
    WR_FORMAT_PTH,
    WR_FORMAT_COUNT
} wr_format;

const char *wr_format_name(wr_format f);

typedef struct wr_wtensor {
    char *name;     /* as stored in the file (owned) */
    wr_tensor t;    /* data points into the mapping; t.scale holds an fp8 scale_weight */
    bool has_scale_input; /* fp8 "scaled" checkpoints: a *.scale_input was attached */
    float scale_input;
} wr_wtensor;

typedef struct wr_meta {
    char *key;   /* owned */
    char *value; /* owned; GGUF values rendered as text, arrays summarised */
} wr_meta;

typedef struct wr_weightfile {
    wr_mapped_file map;
    wr_format format;
    int64_t n_tensors, tensors_cap;
    wr_wtensor *tensors; /* in file order */
    int64_t n_meta, meta_cap;
    wr_meta *meta;
    void *format_ctx;    /* the reader's own state, e.g. wr_gguf for typed GGUF metadata */
    void (*format_ctx_free)(void *);
    int64_t *index;      /* open-addressing hash over canonical names, built by _finish */
    int64_t index_cap;
    bool borrowed;       /* opened from caller memory: nothing to unmap */
    void **owned;        /* aligned copies of tensors the file stores misaligned */
    int64_t n_owned, owned_cap;
} wr_weightfile;

/* Opens any supported format. Errors name the path and what is wrong. */
wr_status wr_weightfile_open(wr_weightfile *wf, const char *path);
/* The same on bytes already in memory (fuzzers, robustness tests, embedded files); `name`
 * stands for the path in messages; data must outlive wf. */
wr_status wr_weightfile_open_memory(wr_weightfile *wf, const char *name, const uint8_t *data, size_t size);
/* Accepts a zeroed struct. */
void wr_weightfile_close(wr_weightfile *wf);

/* Used by readers: append a tensor (takes a copy of name) / a metadata pair. */
wr_status wr_weightfile_add_tensor(wr_weightfile *wf, const char *name, const wr_tensor *t);
wr_status wr_weightfile_add_meta(wr_weightfile *wf, const char *key, const char *value);
/* Used by readers for data whose offset is not a multiple of its element size (safetensors
 * packs tensors without padding): returns an aligned copy owned by wf, NULL when out of memory. */
void *wr_weightfile_aligned_copy(wr_weightfile *wf, const void *src, size_t n);
/* Called by wr_weightfile_open after the reader: rejects duplicate names, builds the index. */
wr_status wr_weightfile_finish(wr_weightfile *wf);

/* Finds a tensor by its official name, also matching the prefixed/renamed spellings that
 * names.h knows (ComfyUI "model.diffusion_model.", "diffusion_model.", "module."). NULL if absent. */
const wr_wtensor *wr_weightfile_find(const wr_weightfile *wf, const char *name);
/* Metadata value for key, NULL when absent. */
const char *wr_weightfile_meta(const wr_weightfile *wf, const char *key);

/* Per-format loaders called by wr_weightfile_open on an already mapped file. */
wr_status wr_gguf_load(wr_weightfile *wf);
wr_status wr_safetensors_load(wr_weightfile *wf);
wr_status wr_pth_load(wr_weightfile *wf);

#endif
