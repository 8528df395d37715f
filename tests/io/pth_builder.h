/* Test-only writers for torch.save files: a byte buffer, pickle opcode emitters, a zip writer
 * laid out like PyTorch's (64-byte aligned data, "FB" padding, data descriptors, ZIP64 end
 * records) and the legacy layout (pickles followed by counted storages). Written from
 * /work/shared/specs/pth-format.md and the pickle opcode table, independently of the reader.
 * Allocation failures abort the test (cr_assert). */
#ifndef WR_TEST_PTH_BUILDER_H
#define WR_TEST_PTH_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/io/weightfile.h"

typedef struct pb {
    uint8_t *d;
    size_t n, cap;
} pb;

void pb_free(pb *b);
void pb_bytes(pb *b, const void *p, size_t n);
void pb_u8(pb *b, uint8_t v);
void pb_u16(pb *b, uint16_t v);
void pb_u32(pb *b, uint32_t v);
void pb_u64(pb *b, uint64_t v);
void pb_zeros(pb *b, size_t n);

/* ---- pickle emitters (protocol 2 unless noted) ---- */
void pk_proto(pb *b, uint8_t version);           /* 80 vv */
void pk_op(pb *b, uint8_t op);                   /* a bare opcode */
void pk_str(pb *b, const char *s);               /* BINUNICODE */
void pk_global(pb *b, const char *module, const char *name); /* GLOBAL */
void pk_int(pb *b, int64_t v);                   /* BININT1 / BININT2 / BININT / LONG1 */
void pk_put(pb *b, uint8_t idx);                 /* BINPUT */
void pk_get(pb *b, uint8_t idx);                 /* BINGET */
void pk_int_tuple(pb *b, int n, const int64_t *v); /* MARK ... TUPLE */
/* ('storage', torch.<storage_type>, key, 'cpu', numel) BINPERSID; a 6th element None with
 * legacy != 0. */
void pk_storage(pb *b, const char *storage_type, const char *key, int64_t numel, int legacy);
/* torch._utils._rebuild_tensor_v2(storage, offset, shape, stride, False, OrderedDict()) */
void pk_tensor(pb *b, const char *storage_type, const char *key, int64_t numel, int64_t offset,
               int n_dims, const int64_t *shape, const int64_t *stride, int legacy);
/* Row-major strides for shape. */
void pk_contiguous_strides(int n_dims, const int64_t *shape, int64_t *stride);

/* ---- containers ---- */
typedef struct pz_entry {
    const char *name;
    const void *data;
    size_t size;
} pz_entry;

/* PyTorch-style zip of the entries, in order. zip64_extra != 0 writes 0xFFFFFFFF sizes and
 * local-header offsets in the central directory with a ZIP64 extra field holding them. */
void pz_build(pb *out, const pz_entry *e, int n, int zip64_extra);

/* A zip archive "<archive>/data.pkl" + "<archive>/data/<i>" for storages[i] + version. */
typedef struct pt_storage {
    const void *data;
    size_t size;
} pt_storage;
void pt_zip(pb *out, const char *archive, const pb *pickle, const pt_storage *st, int n_st);

/* Legacy layout: magic, 1001, sys_info, object pickle, key list ["0", "1", ...], then per
 * storage an 8-byte element count and the bytes. itemsize[i] gives the element size. */
void pt_legacy(pb *out, const pb *object_pickle, const pt_storage *st, const size_t *itemsize,
               int n_st);

/* ---- opening ---- */
/* Writes the buffer to a fresh temporary file and opens it with wr_weightfile_open; the file
 * is removed before returning. */
wr_status pt_open(wr_weightfile *wf, const pb *file, const char *suffix);
/* Runs the pth reader on a memory buffer (no file); every registered tensor's data range is
 * checked to lie in the buffer or in a reader-owned copy and its first and last bytes are
 * read. Returns the reader's status; *n_tensors (optional) receives the count. */
wr_status pt_load_mem(const uint8_t *data, size_t size, int64_t *n_tensors);

#endif
