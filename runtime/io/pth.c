/* PyTorch checkpoint reader (torch.save): the zip format (torch >= 1.6) and the legacy format
 * (a sequence of pickles followed by raw storages). Reference: torch/serialization.py,
 * caffe2/serialize/inline_container.cc, /work/shared/specs/pth-format.md.
 *
 * Which tensors are registered, and under which names:
 * - a top-level dict or OrderedDict (a state dict): every (str key, tensor) item, named by its
 *   key as stored (a DataParallel "module." prefix is kept; runtime/io/names.c matches it);
 * - a value of such a dict that is itself a dict (training checkpoints: {"state_dict": {...},
 *   "epoch": 3}, {"model": ...}, {"params_ema": ...}) is searched recursively and its tensors are
 *   named by their OWN key, without the outer key, as stable-diffusion.cpp does; two nested dicts
 *   holding the same names therefore fail with "duplicate tensor name";
 * - a top-level tensor (SeedVR2 pos_emb.pt) is one tensor named after the zip archive folder
 *   ("pos_emb", which torch takes from the file name at save time) or "" in the legacy format;
 * - tensors inside lists, tuples or other objects, and items with non-string keys, are ignored;
 * - a dict value built by a torch "_rebuild*" function we do not implement (quantized, sparse,
 *   meta tensors) is an error rather than a silent omission.
 *
 * Tensors are zero copy: data = record start + storage_offset * itemsize, after checking that
 * every element lies inside the storage and the storage inside its record. Contiguous
 * row-major tensors only (strides of size-1 dims are free); anything else is WR_E_UNSUPPORTED.
 * The one copy made is for a tensor whose data is not aligned to its element size (possible
 * only in the legacy format, which has no padding); the copy lives in wf->format_ctx. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/io/pickle.h"
#include "runtime/io/weightfile.h"
#include "runtime/io/zip.h"

#define META_FORMAT "pth.format"   /* "zip" or "legacy" */
#define META_ARCHIVE "pth.archive" /* zip: the top-level folder name */
#define META_VERSION "pth.version" /* zip: the archive's version record */
enum { MAX_NESTING = 64, LEGACY_PROTOCOL = 1001 };
static const uint8_t legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

typedef struct owned_buffers {
    void **bufs;
    size_t n, cap;
} owned_buffers;

typedef struct legacy_storage {
    wr_pkl_str key;
    const uint8_t *data;
    uint64_t bytes;
} legacy_storage;

typedef struct loader {
    wr_weightfile *wf;
    const char *path;
    const uint8_t *base;
    wr_zip zip;
    bool is_zip;
    wr_pkl_str archive;      /* zip: folder name, without the '/' */
    legacy_storage *legacy;  /* legacy: storages in file order */
    size_t n_legacy;
    int64_t visits, visit_budget;
} loader;

static void owned_free(void *p)
{
    owned_buffers *o = p;
    for (size_t i = 0; i < o->n; i++)
        free(o->bufs[i]);
    free(o->bufs);
    free(o);
}

/* A 64-byte aligned copy of src[0, n), owned by wf->format_ctx. */
static wr_status owned_copy(loader *L, const void *src, size_t n, void **out)
{
    owned_buffers *o = L->wf->format_ctx;
    if (!o) {
        if (!(o = calloc(1, sizeof *o)))
            return wr_fail(WR_E_OOM, "%s: out of memory", L->path);
        L->wf->format_ctx = o;
        L->wf->format_ctx_free = owned_free;
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        void **p = realloc(o->bufs, cap * sizeof *p);
        if (!p)
            return wr_fail(WR_E_OOM, "%s: out of memory", L->path);
        o->bufs = p;
        o->cap = cap;
    }
    void *buf = aligned_alloc(64, (n + 63) / 64 * 64);
    if (!buf)
        return wr_fail(WR_E_OOM, "%s: out of memory for a %zu-byte tensor copy", L->path, n);
    memcpy(buf, src, n);
    o->bufs[o->n++] = buf;
    *out = buf;
    return WR_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Tensors */

static int show(wr_pkl_str s) { return s.len > 100 ? 100 : (int)s.len; }

/* The bytes of the storage with key k: zip record "<archive>/data/<k>" or a legacy block. */
static wr_status find_storage(loader *L, const char *name, wr_pkl_str k, const uint8_t **data,
                              uint64_t *bytes)
{
    if (L->is_zip) {
        char rec[512];
        int n = snprintf(rec, sizeof rec, "%.*s/data/%.*s", (int)L->archive.len, L->archive.s,
                         (int)(k.len < 256 ? k.len : 256), k.s);
        const wr_zip_entry *e =
            k.len < 256 && n > 0 && (size_t)n < sizeof rec ? wr_zip_find(&L->zip, rec, (size_t)n)
                                                            : NULL;
        if (!e)
            return wr_fail(WR_E_FORMAT, "%s: tensor '%s': storage record '%.*s/data/%.*s' is missing",
                           L->path, name, show(L->archive), L->archive.s, show(k), k.s);
        *data = L->base + e->data_offset;
        *bytes = e->size;
        return WR_OK;
    }
    for (size_t i = 0; i < L->n_legacy; i++)
        if (L->legacy[i].key.len == k.len && memcmp(L->legacy[i].key.s, k.s, k.len) == 0) {
            *data = L->legacy[i].data;
            *bytes = L->legacy[i].bytes;
            return WR_OK;
        }
    return wr_fail(WR_E_FORMAT, "%s: tensor '%s': storage '%.*s' is not in the file's storage list",
                   L->path, name, show(k), k.s);
}

/* Element span [offset, end) of a contiguous row-major view, or an error. */
static wr_status check_layout(loader *L, const char *name, const wr_pkl_tensor *t, int64_t *numel)
{
    uint64_t n = 1, expect = 1;
    for (int k = t->n_dims - 1; k >= 0; k--) {
        if (t->shape[k] != 0 && n > UINT64_MAX / (uint64_t)t->shape[k])
            return wr_fail(WR_E_FORMAT, "%s: tensor '%s': element count overflows", L->path, name);
        n *= (uint64_t)t->shape[k];
    }
    if (n > INT64_MAX)
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s': element count overflows", L->path, name);
    for (int k = t->n_dims - 1; k >= 0 && n > 0; k--) {
        if (t->shape[k] != 1 && (uint64_t)t->stride[k] != expect)
            return wr_fail(WR_E_UNSUPPORTED,
                           "%s: tensor '%s': non-contiguous strides (dim %d has stride %lld, a "
                           "row-major layout needs %llu); re-save it with .contiguous()",
                           L->path, name, k, (long long)t->stride[k], (unsigned long long)expect);
        expect *= (uint64_t)t->shape[k];
    }
    *numel = (int64_t)n;
    return WR_OK;
}

static wr_status add_tensor(loader *L, const char *name, const wr_pkl_tensor *t)
{
    const wr_pkl_storage *s = &t->storage->u.storage;
    if (s->is_view)
        return wr_fail(WR_E_UNSUPPORTED, "%s: tensor '%s': legacy storage views are not supported",
                       L->path, name);
    if (!t->dtype_ok)
        return wr_fail(WR_E_UNSUPPORTED, "%s: tensor '%s': element type %.*s is not supported",
                       L->path, name, show(t->dtype_name), t->dtype_name.s);
    if (t->n_dims > WR_MAX_DIMS)
        return wr_fail(WR_E_UNSUPPORTED, "%s: tensor '%s': %d dimensions (at most %d supported)",
                       L->path, name, t->n_dims, WR_MAX_DIMS);
    const uint8_t *rec = NULL;
    uint64_t rec_bytes = 0;
    WR_TRY(find_storage(L, name, s->key, &rec, &rec_bytes));
    if ((uint64_t)s->numel > rec_bytes / s->itemsize)
        return wr_fail(WR_E_FORMAT,
                       "%s: tensor '%s': storage '%.*s' declares %lld elements of %.*s but its "
                       "record holds %llu bytes",
                       L->path, name, show(s->key), s->key.s, (long long)s->numel,
                       show(s->type_name), s->type_name.s, (unsigned long long)rec_bytes);
    uint64_t storage_bytes = (uint64_t)s->numel * s->itemsize;
    int64_t numel = 0;
    WR_TRY(check_layout(L, name, t, &numel));
    uint64_t isz = t->itemsize;
    const uint8_t *data = rec;
    if (numel > 0) {
        /* contiguous: elements [offset, offset + numel) must lie in the storage */
        uint64_t off = (uint64_t)t->offset, cnt = (uint64_t)numel;
        if (off > storage_bytes / isz || cnt > storage_bytes / isz - off)
            return wr_fail(WR_E_FORMAT,
                           "%s: tensor '%s': %llu elements of %llu bytes from element offset %llu "
                           "exceed storage '%.*s' (%llu bytes)",
                           L->path, name, (unsigned long long)cnt, (unsigned long long)isz,
                           (unsigned long long)off, show(s->key), s->key.s,
                           (unsigned long long)storage_bytes);
        data = rec + off * isz;
    }
    void *ptr = (void *)(uintptr_t)data;
    if (numel > 0 && (uintptr_t)data % isz != 0)
        WR_TRY(owned_copy(L, data, (size_t)numel * isz, &ptr));
    int64_t one = 1;
    wr_tensor wt;
    if (!wr_tensor_init_torch(&wt, t->dtype, t->n_dims ? t->n_dims : 1,
                              t->n_dims ? t->shape : &one, ptr))
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s': invalid shape", L->path, name);
    return wr_weightfile_add_tensor(L->wf, name, &wt);
}

/* Registers the tensor at v under the name s[0, len). */
static wr_status add_named(loader *L, const char *s, size_t len, const wr_pkl_value *v)
{
    if (len && memchr(s, 0, len))
        return wr_fail(WR_E_FORMAT, "%s: a tensor name contains a NUL byte", L->path);
    char *name = malloc(len + 1);
    if (!name)
        return wr_fail(WR_E_OOM, "%s: out of memory", L->path);
    memcpy(name, s, len);
    name[len] = 0;
    wr_status st = add_tensor(L, name, &v->u.tensor);
    free(name);
    return st;
}

/* A tensor built by a torch rebuild function we do not implement (quantized, sparse...). */
static wr_status unsupported_tensor(loader *L, wr_pkl_str name, const wr_pkl_value *v)
{
    return wr_fail(WR_E_UNSUPPORTED, "%s: tensor '%.*s': built by %.*s.%.*s, which is not supported",
                   L->path, show(name), name.s, show(v->u.global.module), v->u.global.module.s,
                   show(v->u.global.name), v->u.global.name.s);
}

static wr_status walk_dict(loader *L, const wr_pkl_value *d, int depth)
{
    if (depth > MAX_NESTING)
        return wr_fail(WR_E_FORMAT, "%s: dicts nested deeper than %d levels", L->path, MAX_NESTING);
    for (int64_t i = 0; i + 1 < d->u.seq.n; i += 2) {
        if (++L->visits > L->visit_budget)
            return wr_fail(WR_E_FORMAT,
                           "%s: the object tree visits more than %lld dict items (containers "
                           "shared through the memo?)",
                           L->path, (long long)L->visit_budget);
        const wr_pkl_value *k = d->u.seq.items[i], *v = d->u.seq.items[i + 1];
        if (v->kind == WR_PKL_DICT)
            WR_TRY(walk_dict(L, v, depth + 1));
        else if (v->kind == WR_PKL_TENSOR && k->kind == WR_PKL_STR)
            WR_TRY(add_named(L, k->u.str.s, k->u.str.len, v));
        else if (v->kind == WR_PKL_OBJECT && v->u.global.name.s && k->kind == WR_PKL_STR)
            return unsupported_tensor(L, k->u.str, v);
    }
    return WR_OK;
}

static const char *kind_name(wr_pkl_kind k)
{
    static const char *const names[] = {
        [WR_PKL_NONE] = "None",     [WR_PKL_BOOL] = "bool",       [WR_PKL_INT] = "int",
        [WR_PKL_BIGINT] = "int",    [WR_PKL_FLOAT] = "float",     [WR_PKL_STR] = "str",
        [WR_PKL_BYTES] = "bytes",   [WR_PKL_TUPLE] = "tuple",     [WR_PKL_LIST] = "list",
        [WR_PKL_SET] = "set",       [WR_PKL_DICT] = "dict",       [WR_PKL_GLOBAL] = "global",
        [WR_PKL_STORAGE] = "storage", [WR_PKL_TENSOR] = "tensor", [WR_PKL_OBJECT] = "object",
    };
    _Static_assert(sizeof names / sizeof names[0] == WR_PKL_KIND_COUNT, "kind names");
    return (unsigned)k < WR_PKL_KIND_COUNT ? names[k] : "?";
}

static wr_status register_all(loader *L, const wr_pkl_value *top, size_t pickle_len)
{
    L->visit_budget = (int64_t)pickle_len + 1024;
    wr_pkl_str top_name = L->archive.s ? L->archive : (wr_pkl_str){"", 0};
    if (top->kind == WR_PKL_TENSOR)
        WR_TRY(add_named(L, top_name.s, top_name.len, top));
    else if (top->kind == WR_PKL_OBJECT && top->u.global.name.s)
        return unsupported_tensor(L, top_name, top);
    else if (top->kind == WR_PKL_DICT)
        WR_TRY(walk_dict(L, top, 0));
    else
        return wr_fail(WR_E_UNSUPPORTED,
                       "%s: the checkpoint holds a %s, not a state dict (dict of tensors) or a "
                       "tensor",
                       L->path, kind_name(top->kind));
    if (L->wf->n_tensors == 0)
        return wr_fail(WR_E_FORMAT, "%s: the checkpoint holds no tensors", L->path);
    return WR_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Zip format */

/* A small text record "<archive>/<rel>" (version, byteorder), trailing whitespace dropped. */
static bool small_record(loader *L, const char *rel, char *out, size_t cap)
{
    char name[512];
    int n = snprintf(name, sizeof name, "%.*s/%s", (int)L->archive.len, L->archive.s, rel);
    const wr_zip_entry *e =
        n > 0 && (size_t)n < sizeof name ? wr_zip_find(&L->zip, name, (size_t)n) : NULL;
    if (!e)
        return false;
    size_t len = e->size < cap - 1 ? (size_t)e->size : cap - 1;
    memcpy(out, L->base + e->data_offset, len);
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r' || out[len - 1] == ' '))
        len--;
    out[len] = 0;
    return true;
}

static wr_status load_zip(loader *L, wr_pkl *vm)
{
    WR_TRY(wr_zip_open(&L->zip, L->path, L->base, L->wf->map.size));
    if (L->zip.n_entries == 0)
        return wr_fail(WR_E_FORMAT, "%s: zip: the archive has no entries", L->path);
    const wr_zip_entry *first = &L->zip.entries[0];
    const char *slash = memchr(first->name, '/', first->name_len);
    if (!slash || slash == first->name || (size_t)(slash - first->name) > 200)
        return wr_fail(WR_E_FORMAT, "%s: zip: first entry '%.*s' is not inside an archive folder",
                       L->path, first->name_len > 200 ? 200 : (int)first->name_len, first->name);
    L->archive = (wr_pkl_str){first->name, (size_t)(slash - first->name)};
    char archive[256], text[64], what[300];
    snprintf(archive, sizeof archive, "%.*s", (int)L->archive.len, L->archive.s);
    if (memchr(L->archive.s, 0, L->archive.len))
        return wr_fail(WR_E_FORMAT, "%s: zip: the archive folder name contains a NUL byte",
                       L->path);
    WR_TRY(wr_weightfile_add_meta(L->wf, META_FORMAT, "zip"));
    WR_TRY(wr_weightfile_add_meta(L->wf, META_ARCHIVE, archive));
    if (small_record(L, "version", text, sizeof text) ||
        small_record(L, ".data/version", text, sizeof text))
        WR_TRY(wr_weightfile_add_meta(L->wf, META_VERSION, text));
    if (small_record(L, "byteorder", text, sizeof text) && strcmp(text, "little") != 0)
        return wr_fail(WR_E_UNSUPPORTED,
                       "%s: zip: record '%s/byteorder' says '%s'; only little-endian data is "
                       "supported",
                       L->path, archive, text);
    snprintf(what, sizeof what, "%s/data.pkl", archive);
    const wr_zip_entry *pkl = wr_zip_find(&L->zip, what, strlen(what));
    if (!pkl)
        return wr_fail(WR_E_FORMAT, "%s: zip: no '%s' record (not a torch.save archive?)",
                       L->path, what);
    const wr_pkl_value *top;
    WR_TRY(wr_pkl_run(vm, L->path, what, L->base + pkl->data_offset, (size_t)pkl->size,
                      pkl->data_offset, &top, NULL));
    return register_all(L, top, (size_t)pkl->size);
}

/* ---------------------------------------------------------------------------------------- */
/* Legacy format: magic, protocol version, sys_info, the object, storage keys, storages */

/* Item size of storage key k, from the storage references of the object pickle. */
static wr_status legacy_itemsize(loader *L, const wr_pkl *vm, wr_pkl_str k, size_t *out)
{
    *out = 0;
    for (size_t i = 0; i < vm->n_storages; i++) {
        const wr_pkl_storage *s = &vm->storages[i]->u.storage;
        if (s->key.len != k.len || memcmp(s->key.s, k.s, k.len) != 0)
            continue;
        if (*out && *out != s->itemsize)
            return wr_fail(WR_E_FORMAT, "%s: legacy: storage '%.*s' is used with two element sizes",
                           L->path, show(k), k.s);
        *out = s->itemsize;
    }
    if (!*out)
        return wr_fail(WR_E_FORMAT, "%s: legacy: storage '%.*s' is listed but never referenced",
                       L->path, show(k), k.s);
    return WR_OK;
}

static wr_status run_at(loader *L, wr_pkl *vm, const char *what, size_t *pos,
                        const wr_pkl_value **out)
{
    size_t used;
    WR_TRY(wr_pkl_run(vm, L->path, what, L->base + *pos, L->wf->map.size - *pos, *pos, out, &used));
    *pos += used;
    return WR_OK;
}

static wr_status load_legacy(loader *L, wr_pkl *vm)
{
    size_t pos = 0, size = L->wf->map.size;
    const wr_pkl_value *magic, *proto, *sys_info, *top, *keys;
    WR_TRY(run_at(L, vm, "legacy magic number", &pos, &magic));
    if (magic->kind != WR_PKL_BIGINT || magic->u.str.len != sizeof legacy_magic ||
        memcmp(magic->u.str.s, legacy_magic, sizeof legacy_magic) != 0)
        return wr_fail(WR_E_FORMAT,
                       "%s: starts with a pickle but not torch's legacy magic number (not a "
                       "torch.save file)",
                       L->path);
    WR_TRY(run_at(L, vm, "legacy protocol version", &pos, &proto));
    if (proto->kind != WR_PKL_INT || proto->u.i != LEGACY_PROTOCOL)
        return wr_fail(WR_E_UNSUPPORTED, "%s: legacy: protocol version is not %d", L->path,
                       LEGACY_PROTOCOL);
    WR_TRY(run_at(L, vm, "legacy sys_info", &pos, &sys_info));
    for (int64_t i = 0; sys_info->kind == WR_PKL_DICT && i + 1 < sys_info->u.seq.n; i += 2)
        if (wr_pkl_str_is(sys_info->u.seq.items[i], "little_endian") &&
            sys_info->u.seq.items[i + 1]->kind == WR_PKL_BOOL && !sys_info->u.seq.items[i + 1]->u.i)
            return wr_fail(WR_E_UNSUPPORTED, "%s: legacy: big-endian checkpoint", L->path);
    size_t obj_start = pos;
    WR_TRY(run_at(L, vm, "legacy object", &pos, &top));
    size_t obj_len = pos - obj_start;
    WR_TRY(run_at(L, vm, "legacy storage keys", &pos, &keys));
    if (keys->kind != WR_PKL_LIST)
        return wr_fail(WR_E_FORMAT, "%s: legacy: the storage key list is a %s", L->path,
                       kind_name(keys->kind));
    L->legacy = calloc((size_t)keys->u.seq.n + 1, sizeof *L->legacy);
    if (!L->legacy)
        return wr_fail(WR_E_OOM, "%s: out of memory", L->path);
    for (int64_t i = 0; i < keys->u.seq.n; i++) {
        const wr_pkl_value *k = keys->u.seq.items[i];
        if (k->kind != WR_PKL_STR)
            return wr_fail(WR_E_FORMAT, "%s: legacy: storage key %lld is not a string", L->path,
                           (long long)i);
        size_t isz;
        WR_TRY(legacy_itemsize(L, vm, k->u.str, &isz));
        if (size - pos < 8)
            return wr_fail(WR_E_FORMAT, "%s: legacy: storage '%.*s': truncated at offset %zu",
                           L->path, show(k->u.str), k->u.str.s, pos);
        uint64_t count = 0;
        for (int b = 7; b >= 0; b--)
            count = count << 8 | L->base[pos + (size_t)b];
        pos += 8;
        if (count > (size - pos) / isz)
            return wr_fail(WR_E_FORMAT,
                           "%s: legacy: storage '%.*s': %llu elements of %zu bytes at offset %zu "
                           "exceed the file (%zu bytes)",
                           L->path, show(k->u.str), k->u.str.s, (unsigned long long)count, isz,
                           pos, size);
        L->legacy[L->n_legacy++] = (legacy_storage){k->u.str, L->base + pos, count * isz};
        pos += (size_t)(count * isz);
    }
    WR_TRY(wr_weightfile_add_meta(L->wf, META_FORMAT, "legacy"));
    return register_all(L, top, obj_len);
}

wr_status wr_pth_load(wr_weightfile *wf)
{
    loader L = {.wf = wf, .path = wf->map.path, .base = wf->map.data};
    wr_pkl vm = {0};
    L.is_zip = wf->map.size >= 4 && memcmp(wf->map.data, "PK\3\4", 4) == 0;
    wr_status st = L.is_zip ? load_zip(&L, &vm) : load_legacy(&L, &vm);
    wr_pkl_free(&vm);
    wr_zip_close(&L.zip);
    free(L.legacy);
    return st;
}
