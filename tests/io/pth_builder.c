/* Test-only torch.save writers (see pth_builder.h). */
#include "tests/io/pth_builder.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void pb_free(pb *b)
{
    free(b->d);
    memset(b, 0, sizeof *b);
}

void pb_bytes(pb *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->d = realloc(b->d, cap);
        cr_assert_not_null(b->d);
        b->cap = cap;
    }
    if (n)
        memcpy(b->d + b->n, p, n);
    b->n += n;
}

void pb_u8(pb *b, uint8_t v) { pb_bytes(b, &v, 1); }
void pb_u16(pb *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    pb_bytes(b, x, 2);
}
void pb_u32(pb *b, uint32_t v)
{
    pb_u16(b, (uint16_t)v);
    pb_u16(b, (uint16_t)(v >> 16));
}
void pb_u64(pb *b, uint64_t v)
{
    pb_u32(b, (uint32_t)v);
    pb_u32(b, (uint32_t)(v >> 32));
}
void pb_zeros(pb *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pb_u8(b, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Pickle */

void pk_proto(pb *b, uint8_t version)
{
    pb_u8(b, 0x80);
    pb_u8(b, version);
}

void pk_op(pb *b, uint8_t op) { pb_u8(b, op); }

void pk_str(pb *b, const char *s)
{
    pb_u8(b, 'X');
    pb_u32(b, (uint32_t)strlen(s));
    pb_bytes(b, s, strlen(s));
}

void pk_global(pb *b, const char *module, const char *name)
{
    pb_u8(b, 'c');
    pb_bytes(b, module, strlen(module));
    pb_u8(b, '\n');
    pb_bytes(b, name, strlen(name));
    pb_u8(b, '\n');
}

void pk_int(pb *b, int64_t v)
{
    if (v >= 0 && v < 256) {
        pb_u8(b, 'K');
        pb_u8(b, (uint8_t)v);
    } else if (v >= 0 && v < 65536) {
        pb_u8(b, 'M');
        pb_u16(b, (uint16_t)v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        pb_u8(b, 'J');
        pb_u32(b, (uint32_t)(int32_t)v);
    } else {
        pb_u8(b, 0x8a);
        pb_u8(b, 8);
        pb_u64(b, (uint64_t)v);
    }
}

void pk_put(pb *b, uint8_t idx)
{
    pb_u8(b, 'q');
    pb_u8(b, idx);
}

void pk_get(pb *b, uint8_t idx)
{
    pb_u8(b, 'h');
    pb_u8(b, idx);
}

void pk_int_tuple(pb *b, int n, const int64_t *v)
{
    pb_u8(b, '(');
    for (int i = 0; i < n; i++)
        pk_int(b, v[i]);
    pb_u8(b, 't');
}

void pk_storage(pb *b, const char *storage_type, const char *key, int64_t numel, int legacy)
{
    pb_u8(b, '(');
    pk_str(b, "storage");
    pk_global(b, "torch", storage_type);
    pk_str(b, key);
    pk_str(b, "cpu");
    pk_int(b, numel);
    if (legacy)
        pb_u8(b, 'N');
    pb_u8(b, 't');
    pb_u8(b, 'Q');
}

void pk_tensor(pb *b, const char *storage_type, const char *key, int64_t numel, int64_t offset,
               int n_dims, const int64_t *shape, const int64_t *stride, int legacy)
{
    pk_global(b, "torch._utils", "_rebuild_tensor_v2");
    pb_u8(b, '(');
    pk_storage(b, storage_type, key, numel, legacy);
    pk_int(b, offset);
    pk_int_tuple(b, n_dims, shape);
    pk_int_tuple(b, n_dims, stride);
    pb_u8(b, 0x89); /* requires_grad False */
    pk_global(b, "collections", "OrderedDict");
    pb_u8(b, ')');
    pb_u8(b, 'R');
    pb_u8(b, 't');
    pb_u8(b, 'R');
}

void pk_contiguous_strides(int n_dims, const int64_t *shape, int64_t *stride)
{
    int64_t s = 1;
    for (int k = n_dims - 1; k >= 0; k--) {
        stride[k] = s;
        s *= shape[k];
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Zip */

static uint32_t crc32_of(const void *p, size_t n)
{
    const uint8_t *d = p;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= d[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

void pz_build(pb *out, const pz_entry *e, int n, int zip64_extra)
{
    uint64_t *lho = calloc((size_t)n + 1, sizeof *lho);
    cr_assert_not_null(lho);
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(e[i].name);
        lho[i] = out->n;
        size_t pad = (64 - (out->n + 30 + nl + 4) % 64) % 64;
        pb_u32(out, 0x04034b50);
        pb_u16(out, 0);      /* version needed */
        pb_u16(out, 0x0808); /* data descriptor + UTF-8 */
        pb_u16(out, 0);      /* stored */
        pb_u32(out, 0);      /* time, date */
        pb_u32(out, 0);      /* crc (in the descriptor) */
        pb_u32(out, 0);
        pb_u32(out, 0);
        pb_u16(out, (uint16_t)nl);
        pb_u16(out, (uint16_t)(4 + pad));
        pb_bytes(out, e[i].name, nl);
        pb_u16(out, 0x4246); /* "FB" padding block */
        pb_u16(out, (uint16_t)pad);
        for (size_t k = 0; k < pad; k++)
            pb_u8(out, 'Z');
        cr_assert_eq(out->n % 64, 0);
        pb_bytes(out, e[i].data, e[i].size);
        pb_u32(out, 0x08074b50);
        pb_u32(out, crc32_of(e[i].data, e[i].size));
        pb_u32(out, (uint32_t)e[i].size);
        pb_u32(out, (uint32_t)e[i].size);
    }
    uint64_t cd = out->n;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(e[i].name);
        pb_u32(out, 0x02014b50);
        pb_u16(out, 0);
        pb_u16(out, 0);
        pb_u16(out, 0x0808);
        pb_u16(out, 0);
        pb_u32(out, 0);
        pb_u32(out, crc32_of(e[i].data, e[i].size));
        pb_u32(out, zip64_extra ? 0xffffffffu : (uint32_t)e[i].size);
        pb_u32(out, zip64_extra ? 0xffffffffu : (uint32_t)e[i].size);
        pb_u16(out, (uint16_t)nl);
        pb_u16(out, zip64_extra ? 28 : 0);
        pb_u16(out, 0); /* comment */
        pb_u16(out, 0); /* disk */
        pb_u16(out, 0);
        pb_u32(out, 0);
        pb_u32(out, zip64_extra ? 0xffffffffu : (uint32_t)lho[i]);
        pb_bytes(out, e[i].name, nl);
        if (zip64_extra) {
            pb_u16(out, 0x0001);
            pb_u16(out, 24);
            pb_u64(out, e[i].size);
            pb_u64(out, e[i].size);
            pb_u64(out, lho[i]);
        }
    }
    uint64_t cd_size = out->n - cd, z64 = out->n;
    pb_u32(out, 0x06064b50);
    pb_u64(out, 44);
    pb_u16(out, 0);
    pb_u16(out, 0);
    pb_u32(out, 0);
    pb_u32(out, 0);
    pb_u64(out, (uint64_t)n);
    pb_u64(out, (uint64_t)n);
    pb_u64(out, cd_size);
    pb_u64(out, cd);
    pb_u32(out, 0x07064b50);
    pb_u32(out, 0);
    pb_u64(out, z64);
    pb_u32(out, 1);
    pb_u32(out, 0x06054b50);
    pb_u16(out, 0);
    pb_u16(out, 0);
    pb_u16(out, (uint16_t)n);
    pb_u16(out, (uint16_t)n);
    pb_u32(out, (uint32_t)cd_size);
    pb_u32(out, (uint32_t)cd);
    pb_u16(out, 0);
    free(lho);
}

void pt_zip(pb *out, const char *archive, const pb *pickle, const pt_storage *st, int n_st)
{
    int n = n_st + 2;
    pz_entry *e = calloc((size_t)n, sizeof *e);
    char (*names)[128] = calloc((size_t)n, sizeof *names);
    cr_assert(e && names);
    snprintf(names[0], sizeof names[0], "%s/data.pkl", archive);
    e[0] = (pz_entry){names[0], pickle->d, pickle->n};
    for (int i = 0; i < n_st; i++) {
        snprintf(names[i + 1], sizeof names[i + 1], "%s/data/%d", archive, i);
        e[i + 1] = (pz_entry){names[i + 1], st[i].data, st[i].size};
    }
    snprintf(names[n - 1], sizeof names[n - 1], "%s/version", archive);
    e[n - 1] = (pz_entry){names[n - 1], "3\n", 2};
    pz_build(out, e, n, 0);
    free(e);
    free(names);
}

/* ---------------------------------------------------------------------------------------- */
/* Legacy */

void pt_legacy(pb *out, const pb *object_pickle, const pt_storage *st, const size_t *itemsize,
               int n_st)
{
    static const uint8_t magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    pk_proto(out, 2);
    pb_u8(out, 0x8a);
    pb_u8(out, 10);
    pb_bytes(out, magic, 10);
    pb_u8(out, '.');
    pk_proto(out, 2);
    pk_int(out, 1001);
    pb_u8(out, '.');
    pk_proto(out, 2);
    pb_u8(out, '}');
    pb_u8(out, '(');
    pk_str(out, "protocol_version");
    pk_int(out, 1001);
    pk_str(out, "little_endian");
    pb_u8(out, 0x88);
    pk_str(out, "type_sizes");
    pb_u8(out, '}');
    pb_u8(out, '(');
    pk_str(out, "short");
    pk_int(out, 2);
    pk_str(out, "int");
    pk_int(out, 4);
    pk_str(out, "long");
    pk_int(out, 4);
    pb_u8(out, 'u');
    pb_u8(out, 'u');
    pb_u8(out, '.');
    pb_bytes(out, object_pickle->d, object_pickle->n);
    pk_proto(out, 2);
    pb_u8(out, ']');
    pb_u8(out, '(');
    for (int i = 0; i < n_st; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        pk_str(out, k);
    }
    pb_u8(out, 'e');
    pb_u8(out, '.');
    for (int i = 0; i < n_st; i++) {
        pb_u64(out, st[i].size / itemsize[i]);
        pb_bytes(out, st[i].data, st[i].size);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Opening */

wr_status pt_open(wr_weightfile *wf, const pb *file, const char *suffix)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/wr_pth_test_XXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    cr_assert(fd >= 0, "mkstemps failed");
    cr_assert_eq(write(fd, file->d, file->n), (ssize_t)file->n);
    close(fd);
    wr_status st = wr_weightfile_open(wf, path);
    unlink(path);
    return st;
}

wr_status pt_load_mem(const uint8_t *data, size_t size, int64_t *n_tensors)
{
    wr_weightfile wf;
    memset(&wf, 0, sizeof wf);
    wf.map.path = strdup("memory.pth");
    wf.map.data = data;
    wf.map.size = size;
    wf.format = WR_FORMAT_PTH;
    wr_status st = wr_pth_load(&wf);
    if (st == WR_OK)
        st = wr_weightfile_finish(&wf);
    volatile uint8_t sink = 0;
    for (int64_t i = 0; st == WR_OK && i < wf.n_tensors; i++) {
        const wr_tensor *t = &wf.tensors[i].t;
        size_t nbytes = wr_tensor_nbytes(t);
        const uint8_t *p = t->data;
        uintptr_t lo = (uintptr_t)data, hi = lo + size, at = (uintptr_t)p;
        int inside = at >= lo && at <= hi && nbytes <= hi - at;
        int outside = at + nbytes <= lo || at >= hi;
        cr_assert(inside || outside, "tensor '%s' straddles the end of the buffer",
                  wf.tensors[i].name);
        if (nbytes)
            sink ^= (uint8_t)(p[0] ^ p[nbytes - 1]);
    }
    (void)sink;
    if (n_tensors)
        *n_tensors = wf.n_tensors;
    wf.map.data = NULL; /* not a mapping: keep wr_weightfile_close from unmapping it */
    wf.map.size = 0;
    wr_weightfile_close(&wf);
    return st;
}
