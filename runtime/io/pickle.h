/* A safe interpreter for the subset of Python's pickle language that torch.save writes.
 *
 * Nothing is ever executed: GLOBAL/STACK_GLOBAL push an inert (module, name) value, and REDUCE
 * gives meaning only to the callables a state dict needs (collections.OrderedDict() and the
 * torch._utils / torch._tensor tensor-rebuild functions); any other call yields an inert
 * "object". Persistent ids ('storage', <torch XxxStorage>, key, location, numel[, view]) become
 * storage references; resolving a key to bytes is the caller's job (runtime/io/pth.c).
 * Reference: CPython Lib/pickle.py and pickletools.py (opcode semantics), torch/_utils.py
 * (rebuild functions), /work/shared/specs/pth-format.md section 3.
 *
 * Conventions: values live in an arena owned by wr_pkl and freed by wr_pkl_free; strings point
 * into the pickle buffer (length-delimited, may contain NUL). The memo holds references, as in
 * Python. Dict items keep insertion order and are not de-duplicated (torch never writes a key
 * twice; duplicate tensor names are reported by the weight-file table). Shapes and strides are
 * PyTorch order (outermost first), in elements. */
#ifndef WR_PICKLE_H
#define WR_PICKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/dtype.h"
#include "runtime/err.h"

#define WR_PKL_MAX_DIMS 8

typedef enum wr_pkl_kind {
    WR_PKL_NONE,
    WR_PKL_BOOL,    /* u.i is 0 or 1 */
    WR_PKL_INT,     /* u.i */
    WR_PKL_BIGINT,  /* an int wider than 64 bits: u.str holds its little-endian bytes */
    WR_PKL_FLOAT,   /* u.f */
    WR_PKL_STR,     /* u.str, UTF-8 */
    WR_PKL_BYTES,   /* u.str */
    WR_PKL_TUPLE,   /* u.seq */
    WR_PKL_LIST,    /* u.seq */
    WR_PKL_SET,     /* u.seq (sets and frozensets) */
    WR_PKL_DICT,    /* u.seq: items[2k] key, items[2k + 1] value */
    WR_PKL_GLOBAL,  /* u.global */
    WR_PKL_STORAGE, /* u.storage (from a persistent id) */
    WR_PKL_TENSOR,  /* u.tensor (from a rebuild function) */
    WR_PKL_OBJECT,  /* anything else; u.global names the callable when it was an unhandled
                     * torch "_rebuild*" function (u.global.name.s is NULL otherwise) */
    WR_PKL_KIND_COUNT
} wr_pkl_kind;

typedef struct wr_pkl_str {
    const char *s; /* into the pickle buffer */
    size_t len;
} wr_pkl_str;

typedef struct wr_pkl_storage {
    wr_pkl_str type_name; /* e.g. "FloatStorage" (module "torch") */
    bool dtype_ok;        /* false for storage types we cannot represent (complex) */
    wr_dtype dtype;       /* element type (U8 for UntypedStorage) */
    size_t itemsize;      /* bytes per element of the storage type */
    bool untyped;         /* torch.UntypedStorage: the tensor carries the dtype */
    wr_pkl_str key;       /* record name under data/ (zip) or the storage id (legacy) */
    int64_t numel;        /* length in elements of the storage type */
    bool is_view;         /* legacy 6-tuple with view metadata that is not None */
} wr_pkl_storage;

typedef struct wr_pkl_tensor {
    const struct wr_pkl_value *storage; /* a WR_PKL_STORAGE value */
    bool dtype_ok;
    wr_dtype dtype;
    size_t itemsize;
    wr_pkl_str dtype_name; /* storage type or torch dtype name, for messages */
    int64_t offset;        /* storage offset, in elements of dtype */
    int n_dims;            /* 0 for a scalar */
    int64_t shape[WR_PKL_MAX_DIMS];
    int64_t stride[WR_PKL_MAX_DIMS]; /* in elements */
} wr_pkl_tensor;

typedef struct wr_pkl_value {
    wr_pkl_kind kind;
    union {
        int64_t i;
        double f;
        wr_pkl_str str;
        struct {
            struct wr_pkl_value **items;
            int64_t n, cap;
        } seq;
        struct {
            wr_pkl_str module, name;
        } global;
        wr_pkl_storage storage;
        wr_pkl_tensor tensor;
    } u;
} wr_pkl_value;

typedef struct wr_pkl_chunk wr_pkl_chunk;

/* The value arena; zero-initialise, run one or more pickles, then wr_pkl_free. */
typedef struct wr_pkl {
    wr_pkl_chunk *chunks;
    const wr_pkl_value **storages; /* every storage reference created, in creation order */
    size_t n_storages, storages_cap;
} wr_pkl;

/* Runs the pickle in data[0, len) until STOP. `path` and `what` (e.g. "archive/data.pkl") name
 * it in errors, together with the file offset (file_offset + position) of the failing opcode.
 * On success *result is the top of the stack at STOP and *consumed the bytes up to and
 * including STOP (a torch legacy file is several pickles back to back). Errors: WR_E_FORMAT
 * (truncated or inconsistent), WR_E_UNSUPPORTED (an opcode outside the safe subset). */
wr_status wr_pkl_run(wr_pkl *vm, const char *path, const char *what, const uint8_t *data,
                     size_t len, uint64_t file_offset, const wr_pkl_value **result,
                     size_t *consumed);
/* Accepts a zeroed struct. */
void wr_pkl_free(wr_pkl *vm);

/* True when v is a str equal to the NUL-terminated s. */
bool wr_pkl_str_is(const wr_pkl_value *v, const char *s);
bool wr_pkl_str_eq(wr_pkl_str a, const char *s);

#endif
