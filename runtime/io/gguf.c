/* GGUF reader (see gguf.h). A bounds-checked cursor reads every field; counts are checked
 * against the bytes that remain before anything is allocated, so a hostile header cannot
 * request absurd memory; every tensor's offset and size is checked against the file. */
#include "runtime/io/gguf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAX_ARRAY_DEPTH 4

typedef struct cursor {
    const uint8_t *p;
    uint64_t size, pos;
    const char *path;
} cursor;

static wr_status truncated(const cursor *c, const char *what)
{
    return wr_fail(WR_E_FORMAT, "%s: truncated GGUF: %s at byte %" PRIu64 " runs past the end (%" PRIu64 " bytes)",
                   c->path, what, c->pos, c->size);
}

static wr_status rd(cursor *c, void *dst, uint64_t n, const char *what)
{
    if (n > c->size - c->pos)
        return truncated(c, what);
    memcpy(dst, c->p + c->pos, n);
    c->pos += n;
    return WR_OK;
}

static wr_status rd_u32(cursor *c, uint32_t *v, const char *what) { return rd(c, v, 4, what); }
static wr_status rd_u64(cursor *c, uint64_t *v, const char *what) { return rd(c, v, 8, what); }

static wr_status rd_str(cursor *c, const char **s, uint64_t *len, const char *what)
{
    WR_TRY(rd_u64(c, len, what));
    if (*len > c->size - c->pos)
        return truncated(c, what);
    *s = (const char *)c->p + c->pos;
    c->pos += *len;
    return WR_OK;
}

static const uint8_t fixed_sizes[WR_GGUF_TYPE_COUNT] = {
    [WR_GGUF_UINT8] = 1, [WR_GGUF_INT8] = 1, [WR_GGUF_UINT16] = 2, [WR_GGUF_INT16] = 2,
    [WR_GGUF_UINT32] = 4, [WR_GGUF_INT32] = 4, [WR_GGUF_FLOAT32] = 4, [WR_GGUF_BOOL] = 1,
    [WR_GGUF_UINT64] = 8, [WR_GGUF_INT64] = 8, [WR_GGUF_FLOAT64] = 8,
};

static const char *const type_names[WR_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

const char *wr_gguf_type_name(wr_gguf_type t)
{
    return (unsigned)t < WR_GGUF_TYPE_COUNT ? type_names[t] : "invalid";
}

static void free_value(wr_gguf_value *v)
{
    if (v->type == WR_GGUF_ARRAY && v->items) {
        for (uint64_t i = 0; i < v->n; i++)
            free_value(&v->items[i]);
        free(v->items);
    }
    v->items = NULL;
}

static wr_status rd_value(cursor *c, wr_gguf_type type, wr_gguf_value *v, const char *key, int depth)
{
    memset(v, 0, sizeof *v);
    v->type = type;
    if ((unsigned)type >= WR_GGUF_TYPE_COUNT)
        return wr_fail(WR_E_FORMAT, "%s: key '%s': unknown value type %u", c->path, key, (unsigned)type);
    if (type == WR_GGUF_STRING)
        return rd_str(c, &v->str, &v->str_len, key);
    if (type != WR_GGUF_ARRAY) {
        uint8_t raw[8] = {0};
        WR_TRY(rd(c, raw, fixed_sizes[type], key));
        switch (type) {
        case WR_GGUF_INT8: v->num.i = (int8_t)raw[0]; break;
        case WR_GGUF_INT16: { int16_t x; memcpy(&x, raw, 2); v->num.i = x; break; }
        case WR_GGUF_INT32: { int32_t x; memcpy(&x, raw, 4); v->num.i = x; break; }
        case WR_GGUF_INT64: memcpy(&v->num.i, raw, 8); break;
        case WR_GGUF_FLOAT32: { float x; memcpy(&x, raw, 4); v->num.f = (double)x; break; }
        case WR_GGUF_FLOAT64: memcpy(&v->num.f, raw, 8); break;
        default: memcpy(&v->num.u, raw, 8); break; /* unsigned and bool, little-endian */
        }
        return WR_OK;
    }
    if (depth >= GGUF_MAX_ARRAY_DEPTH)
        return wr_fail(WR_E_FORMAT, "%s: key '%s': arrays nested deeper than %d", c->path, key,
                       GGUF_MAX_ARRAY_DEPTH);
    uint32_t et;
    WR_TRY(rd_u32(c, &et, key));
    WR_TRY(rd_u64(c, &v->n, key));
    v->elem_type = (wr_gguf_type)et;
    if (et >= WR_GGUF_TYPE_COUNT)
        return wr_fail(WR_E_FORMAT, "%s: key '%s': unknown array element type %u", c->path, key, et);
    /* every element takes at least one byte (strings and arrays at least 8) */
    uint64_t min_elem = (et == WR_GGUF_STRING || et == WR_GGUF_ARRAY) ? 8 : fixed_sizes[et];
    if (v->n > (c->size - c->pos) / min_elem)
        return wr_fail(WR_E_FORMAT, "%s: key '%s': array of %" PRIu64 " elements exceeds the file", c->path,
                       key, v->n);
    v->items = calloc(v->n ? v->n : 1, sizeof *v->items);
    if (!v->items)
        return wr_fail(WR_E_OOM, "%s: key '%s': out of memory for %" PRIu64 " elements", c->path, key, v->n);
    for (uint64_t i = 0; i < v->n; i++) {
        wr_status st = rd_value(c, v->elem_type, &v->items[i], key, depth + 1);
        if (st != WR_OK) {
            v->n = i + 1; /* free what was decoded */
            free_value(v);
            return st;
        }
    }
    return WR_OK;
}

static void gguf_free(void *ctx)
{
    wr_gguf *g = ctx;
    if (!g)
        return;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free_value(&g->kv[i].value);
    }
    free(g->kv);
    free(g);
}

static void render(const wr_gguf_value *v, char *buf, size_t len)
{
    switch (v->type) {
    case WR_GGUF_STRING: snprintf(buf, len, "%.*s", (int)(v->str_len > 512 ? 512 : v->str_len), v->str); break;
    case WR_GGUF_FLOAT32:
    case WR_GGUF_FLOAT64: snprintf(buf, len, "%g", v->num.f); break;
    case WR_GGUF_BOOL: snprintf(buf, len, "%s", v->num.u ? "true" : "false"); break;
    case WR_GGUF_INT8:
    case WR_GGUF_INT16:
    case WR_GGUF_INT32:
    case WR_GGUF_INT64: snprintf(buf, len, "%" PRId64, v->num.i); break;
    case WR_GGUF_ARRAY:
        snprintf(buf, len, "[array of %" PRIu64 " %s]", v->n, wr_gguf_type_name(v->elem_type));
        break;
    default: snprintf(buf, len, "%" PRIu64, v->num.u); break;
    }
}

/* g->n_kv counts decoded pairs only (gguf_free walks them); the header's count goes to *n_kv. */
static wr_status read_header(cursor *c, wr_gguf *g, uint64_t *n_tensors, uint64_t *n_kv)
{
    char magic[4];
    WR_TRY(rd(c, magic, 4, "magic"));
    WR_TRY(rd_u32(c, &g->version, "version"));
    if (g->version < 2 || g->version > 3)
        return wr_fail(WR_E_UNSUPPORTED, "%s: GGUF version %u is not supported (2 and 3 are)", c->path,
                       g->version);
    WR_TRY(rd_u64(c, n_tensors, "tensor count"));
    WR_TRY(rd_u64(c, n_kv, "metadata count"));
    /* a key/value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info 24 */
    if (*n_kv > (c->size - c->pos) / 13 || *n_tensors > (c->size - c->pos) / 24)
        return wr_fail(WR_E_FORMAT, "%s: GGUF header claims %" PRIu64 " keys and %" PRIu64
                       " tensors, more than the file can hold", c->path, *n_kv, *n_tensors);
    g->kv = calloc(*n_kv ? *n_kv : 1, sizeof *g->kv);
    if (!g->kv)
        return wr_fail(WR_E_OOM, "%s: out of memory for %" PRIu64 " keys", c->path, *n_kv);
    return WR_OK;
}

static wr_status read_kv(cursor *c, wr_gguf *g, wr_weightfile *wf, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        const char *k;
        uint64_t klen;
        uint32_t type;
        WR_TRY(rd_str(c, &k, &klen, "metadata key"));
        if (klen == 0 || klen > 65535 || memchr(k, 0, klen))
            return wr_fail(WR_E_FORMAT, "%s: metadata key %" PRIu64 " has an invalid name", c->path, i);
        wr_gguf_kv *kv = &g->kv[g->n_kv];
        kv->key = strndup(k, klen);
        if (!kv->key)
            return wr_fail(WR_E_OOM, "%s: out of memory", c->path);
        g->n_kv++;
        for (uint64_t j = 0; j + 1 < g->n_kv; j++)
            if (strcmp(g->kv[j].key, kv->key) == 0)
                return wr_fail(WR_E_FORMAT, "%s: duplicate metadata key '%s'", c->path, kv->key);
        WR_TRY(rd_u32(c, &type, kv->key));
        WR_TRY(rd_value(c, (wr_gguf_type)type, &kv->value, kv->key, 0));
        char text[600];
        render(&kv->value, text, sizeof text);
        WR_TRY(wr_weightfile_add_meta(wf, kv->key, text));
    }
    const wr_gguf_kv *al = wr_gguf_find(g, WR_GGUF_KEY_ALIGNMENT);
    g->alignment = WR_GGUF_DEFAULT_ALIGNMENT;
    if (al) {
        if (al->value.type != WR_GGUF_UINT32 || al->value.num.u == 0 ||
            (al->value.num.u & (al->value.num.u - 1)) != 0)
            return wr_fail(WR_E_FORMAT, "%s: general.alignment must be a u32 power of two", c->path);
        g->alignment = al->value.num.u;
    }
    return WR_OK;
}

typedef struct tinfo {
    char *name;
    uint32_t n_dims, type;
    int64_t ne[WR_MAX_DIMS];
    uint64_t offset;
} tinfo;

static wr_status read_tensor_info(cursor *c, tinfo *t, uint64_t index)
{
    const char *s;
    uint64_t len;
    WR_TRY(rd_str(c, &s, &len, "tensor name"));
    if (len == 0 || len > 4096 || memchr(s, 0, len))
        return wr_fail(WR_E_FORMAT, "%s: tensor %" PRIu64 " has an invalid name", c->path, index);
    t->name = strndup(s, len);
    if (!t->name)
        return wr_fail(WR_E_OOM, "%s: out of memory", c->path);
    WR_TRY(rd_u32(c, &t->n_dims, t->name));
    if (t->n_dims < 1 || t->n_dims > WR_MAX_DIMS)
        return wr_fail(WR_E_UNSUPPORTED, "%s: tensor '%s': %u dimensions (1..%d supported)", c->path,
                       t->name, t->n_dims, WR_MAX_DIMS);
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne;
        WR_TRY(rd_u64(c, &ne, t->name));
        if (ne > (uint64_t)INT64_MAX)
            return wr_fail(WR_E_FORMAT, "%s: tensor '%s': dimension %u is %" PRIu64 ", too large", c->path,
                           t->name, d, ne);
        t->ne[d] = (int64_t)ne;
    }
    WR_TRY(rd_u32(c, &t->type, t->name));
    WR_TRY(rd_u64(c, &t->offset, t->name));
    return WR_OK;
}

/* ComfyUI-GGUF stores tensors it had to reshape with their PyTorch shape in
 * "comfy.gguf.orig_shape.<name>" (an int array): the logical shape is that one. */
static wr_status apply_orig_shape(const wr_weightfile *wf, const wr_gguf *g, const tinfo *t,
                                  const wr_dtype_traits *tr, wr_tensor *tt)
{
    char key[600];
    snprintf(key, sizeof key, "comfy.gguf.orig_shape.%s", t->name);
    const wr_gguf_kv *kv = wr_gguf_find(g, key);
    if (!kv)
        return WR_OK;
    const wr_gguf_value *v = &kv->value;
    int64_t ne[WR_MAX_DIMS], count = 1;
    int ok = v->type == WR_GGUF_ARRAY && v->n >= 1 && v->n <= WR_MAX_DIMS;
    for (uint64_t d = 0; ok && d < v->n; d++) {
        const wr_gguf_value *e = &v->items[d];
        int64_t x = e->type == WR_GGUF_INT32 || e->type == WR_GGUF_INT64 ? e->num.i : (int64_t)e->num.u;
        ok = x >= 1 && x <= INT64_MAX / count;
        ne[v->n - 1 - d] = x; /* PyTorch order, outermost first -> ne[0] fastest */
        count *= ok ? x : 1;
    }
    if (!ok || count != wr_tensor_nelements(tt) || ne[0] % tr->block_elems != 0)
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s': %s does not give a shape of its %" PRId64 " elements "
                                    "(with rows a multiple of the %s block)",
                       wf->map.path, t->name, key, wr_tensor_nelements(tt), tr->name);
    wr_tensor_init(tt, tt->dtype, (int)v->n, ne, NULL);
    return WR_OK;
}

static wr_status bind_tensor(wr_weightfile *wf, const wr_gguf *g, const tinfo *t)
{
    const char *path = wf->map.path;
    wr_dtype dt;
    if (!wr_dtype_from_ggml((int)t->type, &dt))
        return wr_fail(WR_E_UNSUPPORTED, "%s: tensor '%s': ggml type %u is not supported", path, t->name,
                       t->type);
    const wr_dtype_traits *tr = wr_dtype_info(dt);
    if (t->ne[0] % tr->block_elems != 0)
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s': row length %" PRId64 " is not a multiple of the %s block (%" PRId64 ")",
                       path, t->name, t->ne[0], tr->name, tr->block_elems);
    if (t->offset % g->alignment != 0)
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s': data offset %" PRIu64 " is not aligned to %" PRIu64,
                       path, t->name, t->offset, g->alignment);
    wr_tensor tt;
    if (!wr_tensor_init(&tt, dt, (int)t->n_dims, t->ne, NULL))
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s': shape is too large (element count overflows)", path,
                       t->name);
    WR_TRY(apply_orig_shape(wf, g, t, tr, &tt));
    uint64_t bytes = wr_tensor_nbytes(&tt);
    if (t->offset > wf->map.size - g->data_offset || bytes > wf->map.size - g->data_offset - t->offset)
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s': offset %" PRIu64 " + %" PRIu64 " bytes exceeds the data section (%" PRIu64 " bytes)",
                       path, t->name, t->offset, bytes, (uint64_t)(wf->map.size - g->data_offset));
    tt.data = (void *)(wf->map.data + g->data_offset + t->offset);
    if ((uintptr_t)tt.data % (tr->is_quant ? 2 : tr->block_bytes) != 0) { /* ggml blocks hold u16 scales */
        tt.data = wr_weightfile_aligned_copy(wf, tt.data, (size_t)bytes);
        if (!tt.data)
            return wr_fail(WR_E_OOM, "%s: tensor '%s': out of memory", path, t->name);
    }
    return wr_weightfile_add_tensor(wf, t->name, &tt);
}

wr_status wr_gguf_load(wr_weightfile *wf)
{
    cursor c = {.p = wf->map.data, .size = wf->map.size, .path = wf->map.path};
    wr_gguf *g = calloc(1, sizeof *g);
    if (!g)
        return wr_fail(WR_E_OOM, "%s: out of memory", c.path);
    wf->format_ctx = g;
    wf->format_ctx_free = gguf_free;
    uint64_t n_tensors, n_kv;
    WR_TRY(read_header(&c, g, &n_tensors, &n_kv));
    WR_TRY(read_kv(&c, g, wf, n_kv));
    tinfo *infos = calloc(n_tensors ? n_tensors : 1, sizeof *infos);
    if (!infos)
        return wr_fail(WR_E_OOM, "%s: out of memory for %" PRIu64 " tensors", c.path, n_tensors);
    wr_status st = WR_OK;
    uint64_t read = 0;
    for (; read < n_tensors && st == WR_OK; read++)
        st = read_tensor_info(&c, &infos[read], read);
    if (st == WR_OK) {
        uint64_t start = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
        if (start > c.size && n_tensors > 0) /* without tensors the padding may be omitted */
            st = wr_fail(WR_E_FORMAT, "%s: truncated GGUF: the data section would start past the end", c.path);
        g->data_offset = start;
    }
    for (uint64_t i = 0; i < n_tensors && st == WR_OK; i++)
        st = bind_tensor(wf, g, &infos[i]);
    for (uint64_t i = 0; i < read; i++)
        free(infos[i].name);
    free(infos);
    return st;
}

const wr_gguf *wr_gguf_of(const wr_weightfile *wf)
{
    return wf->format == WR_FORMAT_GGUF ? wf->format_ctx : NULL;
}

const wr_gguf_kv *wr_gguf_find(const wr_gguf *g, const char *key)
{
    for (uint64_t i = 0; g && i < g->n_kv; i++)
        if (strcmp(g->kv[i].key, key) == 0)
            return &g->kv[i];
    return NULL;
}

bool wr_gguf_get_u64(const wr_gguf *g, const char *key, uint64_t *out)
{
    const wr_gguf_kv *kv = wr_gguf_find(g, key);
    if (!kv)
        return false;
    switch (kv->value.type) {
    case WR_GGUF_UINT8:
    case WR_GGUF_UINT16:
    case WR_GGUF_UINT32:
    case WR_GGUF_UINT64: *out = kv->value.num.u; return true;
    case WR_GGUF_INT8:
    case WR_GGUF_INT16:
    case WR_GGUF_INT32:
    case WR_GGUF_INT64:
        if (kv->value.num.i < 0)
            return false;
        *out = (uint64_t)kv->value.num.i;
        return true;
    default: return false;
    }
}

bool wr_gguf_get_f64(const wr_gguf *g, const char *key, double *out)
{
    const wr_gguf_kv *kv = wr_gguf_find(g, key);
    if (!kv)
        return false;
    uint64_t u;
    if (kv->value.type == WR_GGUF_FLOAT32 || kv->value.type == WR_GGUF_FLOAT64)
        *out = kv->value.num.f;
    else if (kv->value.type == WR_GGUF_INT8 || kv->value.type == WR_GGUF_INT16 ||
             kv->value.type == WR_GGUF_INT32 || kv->value.type == WR_GGUF_INT64)
        *out = (double)kv->value.num.i;
    else if (wr_gguf_get_u64(g, key, &u))
        *out = (double)u;
    else
        return false;
    return true;
}
