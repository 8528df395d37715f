/* GGUF v3 writer (see gguf_write.h). Metadata is serialised into a growing byte buffer as it
 * is added; tensors are kept as references and streamed at write time. */
#include "runtime/io/gguf_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/io/atomic_file.h"

typedef struct wtensor {
    char *name;
    wr_tensor t;
} wtensor;

struct wr_gguf_writer {
    uint8_t *kv;
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    wtensor *tensors;
    uint64_t n_tensors, tensors_cap;
    int oom;
};

static const uint8_t elem_sizes[WR_GGUF_TYPE_COUNT] = {
    [WR_GGUF_UINT8] = 1, [WR_GGUF_INT8] = 1, [WR_GGUF_UINT16] = 2, [WR_GGUF_INT16] = 2,
    [WR_GGUF_UINT32] = 4, [WR_GGUF_INT32] = 4, [WR_GGUF_FLOAT32] = 4, [WR_GGUF_BOOL] = 1,
    [WR_GGUF_UINT64] = 8, [WR_GGUF_INT64] = 8, [WR_GGUF_FLOAT64] = 8,
};

wr_status wr_gguf_writer_new(wr_gguf_writer **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? WR_OK : wr_fail(WR_E_OOM, "out of memory for a GGUF writer");
}

void wr_gguf_writer_free(wr_gguf_writer *w)
{
    if (!w)
        return;
    for (uint64_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->tensors);
    free(w->kv);
    free(w);
}

static void put(wr_gguf_writer *w, const void *p, size_t n)
{
    if (w->oom)
        return;
    if (w->kv_len + n > w->kv_cap) {
        size_t want = (w->kv_len + n) * 2 + 256;
        uint8_t *q = realloc(w->kv, want);
        if (!q) {
            w->oom = 1;
            return;
        }
        w->kv = q;
        w->kv_cap = want;
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}

static void put_u32(wr_gguf_writer *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(wr_gguf_writer *w, uint64_t v) { put(w, &v, 8); }

static void put_str(wr_gguf_writer *w, const char *s)
{
    put_u64(w, strlen(s));
    put(w, s, strlen(s));
}

static wr_status begin_kv(wr_gguf_writer *w, const char *key, wr_gguf_type type)
{
    put_str(w, key);
    put_u32(w, (uint32_t)type);
    w->n_kv++;
    return WR_OK;
}

static wr_status done(wr_gguf_writer *w)
{
    return w->oom ? wr_fail(WR_E_OOM, "out of memory building GGUF metadata") : WR_OK;
}

wr_status wr_gguf_writer_add_u32(wr_gguf_writer *w, const char *key, uint32_t v)
{
    begin_kv(w, key, WR_GGUF_UINT32);
    put_u32(w, v);
    return done(w);
}

wr_status wr_gguf_writer_add_i32(wr_gguf_writer *w, const char *key, int32_t v)
{
    begin_kv(w, key, WR_GGUF_INT32);
    put(w, &v, 4);
    return done(w);
}

wr_status wr_gguf_writer_add_f32(wr_gguf_writer *w, const char *key, float v)
{
    begin_kv(w, key, WR_GGUF_FLOAT32);
    put(w, &v, 4);
    return done(w);
}

wr_status wr_gguf_writer_add_bool(wr_gguf_writer *w, const char *key, bool v)
{
    uint8_t b = v ? 1 : 0;
    begin_kv(w, key, WR_GGUF_BOOL);
    put(w, &b, 1);
    return done(w);
}

wr_status wr_gguf_writer_add_str(wr_gguf_writer *w, const char *key, const char *v)
{
    begin_kv(w, key, WR_GGUF_STRING);
    put_str(w, v);
    return done(w);
}

wr_status wr_gguf_writer_add_array(wr_gguf_writer *w, const char *key, wr_gguf_type elem_type,
                                   const void *data, uint64_t n)
{
    if ((unsigned)elem_type >= WR_GGUF_TYPE_COUNT || elem_sizes[elem_type] == 0)
        return wr_fail(WR_E_ARG, "GGUF key '%s': element type %s is not fixed-size", key,
                       wr_gguf_type_name(elem_type));
    begin_kv(w, key, WR_GGUF_ARRAY);
    put_u32(w, (uint32_t)elem_type);
    put_u64(w, n);
    put(w, data, (size_t)n * elem_sizes[elem_type]);
    return done(w);
}

wr_status wr_gguf_writer_add_str_array(wr_gguf_writer *w, const char *key, const char *const *v, uint64_t n)
{
    begin_kv(w, key, WR_GGUF_ARRAY);
    put_u32(w, WR_GGUF_STRING);
    put_u64(w, n);
    for (uint64_t i = 0; i < n; i++)
        put_str(w, v[i]);
    return done(w);
}

wr_status wr_gguf_writer_add_tensor(wr_gguf_writer *w, const char *name, const wr_tensor *t)
{
    const wr_dtype_traits *tr = wr_dtype_info(t->dtype);
    if (!tr || tr->ggml_type < 0)
        return wr_fail(WR_E_ARG, "GGUF tensor '%s': dtype %s has no GGUF type", name, wr_dtype_name(t->dtype));
    if (!wr_tensor_is_contiguous(t))
        return wr_fail(WR_E_ARG, "GGUF tensor '%s': must be contiguous", name);
    if (w->n_tensors == w->tensors_cap) {
        uint64_t want = w->tensors_cap ? w->tensors_cap * 2 : 64;
        wtensor *p = realloc(w->tensors, want * sizeof *p);
        if (!p)
            return wr_fail(WR_E_OOM, "out of memory adding GGUF tensor '%s'", name);
        w->tensors = p;
        w->tensors_cap = want;
    }
    w->tensors[w->n_tensors].name = strdup(name);
    if (!w->tensors[w->n_tensors].name)
        return wr_fail(WR_E_OOM, "out of memory adding GGUF tensor '%s'", name);
    w->tensors[w->n_tensors++].t = *t;
    return WR_OK;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static int write_zeros(FILE *f, uint64_t n)
{
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t k = n > sizeof zeros ? sizeof zeros : (size_t)n;
        if (fwrite(zeros, 1, k, f) != k)
            return 0;
        n -= k;
    }
    return 1;
}

wr_status wr_gguf_writer_write(wr_gguf_writer *w, const char *path, uint32_t alignment)
{
    if (alignment) {
        if (alignment & (alignment - 1))
            return wr_fail(WR_E_ARG, "%s: GGUF alignment %u is not a power of two", path, alignment);
        WR_TRY(wr_gguf_writer_add_u32(w, WR_GGUF_KEY_ALIGNMENT, alignment));
    } else
        alignment = WR_GGUF_DEFAULT_ALIGNMENT;
    WR_TRY(done(w));
    char tmp[4096];
    WR_TRY(wr_atomic_tmp_name(path, tmp, sizeof tmp));
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return wr_fail(WR_E_IO, "%s: cannot create: %s", path, strerror(errno));
    int ok = 1;
    uint32_t version = 3;
    ok &= fwrite("GGUF", 1, 4, f) == 4 && fwrite(&version, 4, 1, f) == 1;
    ok &= fwrite(&w->n_tensors, 8, 1, f) == 1 && fwrite(&w->n_kv, 8, 1, f) == 1;
    if (w->kv_len) /* no keys: the buffer was never allocated */
        ok &= fwrite(w->kv, 1, w->kv_len, f) == w->kv_len;
    uint64_t pos = 24 + w->kv_len, offset = 0;
    for (uint64_t i = 0; i < w->n_tensors && ok; i++) {
        const wtensor *t = &w->tensors[i];
        uint64_t len = strlen(t->name), ne;
        uint32_t nd = (uint32_t)t->t.n_dims, type = (uint32_t)wr_dtype_info(t->t.dtype)->ggml_type;
        ok &= fwrite(&len, 8, 1, f) == 1 && fwrite(t->name, 1, len, f) == len;
        ok &= fwrite(&nd, 4, 1, f) == 1;
        for (uint32_t d = 0; d < nd; d++) {
            ne = (uint64_t)t->t.ne[d];
            ok &= fwrite(&ne, 8, 1, f) == 1;
        }
        ok &= fwrite(&type, 4, 1, f) == 1 && fwrite(&offset, 8, 1, f) == 1;
        pos += 8 + len + 4 + 8 * nd + 4 + 8;
        offset = align_up(offset + wr_tensor_nbytes(&t->t), alignment);
    }
    uint64_t pad = align_up(pos, alignment) - pos;
    if (w->n_tensors == 0)
        ok &= write_zeros(f, pad);
    for (uint64_t i = 0; i < w->n_tensors && ok; i++) {
        ok &= write_zeros(f, pad);
        size_t nb = wr_tensor_nbytes(&w->tensors[i].t);
        ok &= nb == 0 || fwrite(w->tensors[i].t.data, 1, nb, f) == nb;
        pad = align_up(nb, alignment) - nb;
    }
    if (fclose(f) != 0 || !ok) {
        wr_atomic_abandon(tmp);
        return wr_fail(WR_E_IO, "%s: write failed: %s", path, strerror(errno));
    }
    return wr_atomic_commit(tmp, path);
}
