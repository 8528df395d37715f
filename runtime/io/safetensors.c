/* safetensors reader: 8-byte little-endian header length, a JSON header, raw data.
 *
 * Header entries are {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]} with
 * offsets relative to the byte after the header; "__metadata__" holds string pairs. Every
 * field is validated before a tensor is registered. fp8 "scaled" checkpoints (Kijai,
 * Comfy-Org, LightX2V; ../shared/specs/ecosystem.md 3.2) store a scalar `<base>.scale_weight`
 * (and sometimes `<base>.scale_input`) next to `<base>.weight`; the scale is attached to the
 * weight's wr_tensor.scale so every consumer dequantises with it. */
#include <string.h>

#include "runtime/io/weightfile.h"
#include "runtime/json.h"
#include "runtime/numeric.h"

#define ST_METADATA_KEY "__metadata__"
#define ST_MAX_HEADER ((uint64_t)100 << 20) /* the format's own limit: 100 MB */

static wr_status load_entry(wr_weightfile *wf, const char *name, const wr_json *e,
                            const uint8_t *data, uint64_t data_size)
{
    const char *path = wf->map.path;
    const wr_json *jd = wr_json_get(e, "dtype"), *js = wr_json_get(e, "shape"),
                  *jo = wr_json_get(e, "data_offsets");
    if (e->type != WR_JSON_OBJECT || !jd || !js || !jo || jd->type != WR_JSON_STRING ||
        js->type != WR_JSON_ARRAY || jo->type != WR_JSON_ARRAY || jo->count != 2)
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s': header entry needs dtype, shape and two data_offsets",
                       path, name);
    wr_dtype dt;
    if (!wr_dtype_from_name(jd->string, &dt) || wr_dtype_info(dt)->is_quant)
        return wr_fail(WR_E_UNSUPPORTED, "%s: tensor '%s': unsupported dtype '%s'", path, name, jd->string);
    if (js->count > WR_MAX_DIMS)
        return wr_fail(WR_E_UNSUPPORTED, "%s: tensor '%s': %zu dimensions (at most %d supported)", path,
                       name, js->count, WR_MAX_DIMS);
    int64_t shape[WR_MAX_DIMS] = {1};
    int n_dims = js->count ? (int)js->count : 1; /* a 0-d scalar becomes [1] */
    for (size_t i = 0; i < js->count; i++) {
        const wr_json *d = &js->items[i];
        if (d->type != WR_JSON_NUMBER || !d->is_int || d->integer < 0)
            return wr_fail(WR_E_FORMAT, "%s: tensor '%s': shape entry %zu is not a non-negative integer",
                           path, name, i);
        shape[i] = d->integer;
    }
    for (int i = 0; i < 2; i++)
        if (jo->items[i].type != WR_JSON_NUMBER || !jo->items[i].is_int || jo->items[i].integer < 0)
            return wr_fail(WR_E_FORMAT, "%s: tensor '%s': data_offsets must be non-negative integers",
                           path, name);
    uint64_t begin = (uint64_t)jo->items[0].integer, end = (uint64_t)jo->items[1].integer;
    if (begin > end || end > data_size)
        return wr_fail(WR_E_FORMAT,
                       "%s: tensor '%s': data_offsets [%llu, %llu) lie outside the %llu-byte data section",
                       path, name, (unsigned long long)begin, (unsigned long long)end,
                       (unsigned long long)data_size);
    wr_tensor t;
    if (!wr_tensor_init_torch(&t, dt, n_dims, shape, (void *)(data + begin)))
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s': shape is too large (element count overflows)",
                       path, name);
    uint64_t want = wr_tensor_nbytes(&t);
    if (want != end - begin)
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s': %s shape needs %llu bytes but data_offsets give %llu",
                       path, name, jd->string, (unsigned long long)want, (unsigned long long)(end - begin));
    size_t align = wr_dtype_info(dt)->block_bytes;
    if (want && ((uintptr_t)(data + begin)) % align != 0) {
        /* the format packs tensors without padding; typed loads need natural alignment */
        t.data = wr_weightfile_aligned_copy(wf, data + begin, (size_t)want);
        if (!t.data)
            return wr_fail(WR_E_OOM, "%s: tensor '%s': out of memory for an aligned copy", path, name);
    }
    return wr_weightfile_add_tensor(wf, name, &t);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Reads a one-element float tensor as float32. */
static bool scalar_value(const wr_tensor *t, float *out)
{
    if (wr_tensor_nelements(t) != 1)
        return false;
    switch (t->dtype) {
    case WR_DTYPE_F32: memcpy(out, t->data, 4); return true;
    case WR_DTYPE_F16: *out = wr_f16_to_f32(*(const uint16_t *)t->data); return true;
    case WR_DTYPE_BF16: *out = wr_bf16_to_f32(*(const uint16_t *)t->data); return true;
    default: return false;
    }
}

/* Attaches `<base>.scale_weight` / `<base>.scale_input` scalars to `<base>.weight`. */
static wr_status attach_fp8_scales(wr_weightfile *wf)
{
    static const char *const suffixes[] = {".scale_weight", ".scale_input"};
    for (int64_t i = 0; i < wf->n_tensors; i++) {
        const char *name = wf->tensors[i].name;
        for (int s = 0; s < 2; s++) {
            if (!ends_with(name, suffixes[s]))
                continue;
            float v;
            if (!scalar_value(&wf->tensors[i].t, &v))
                return wr_fail(WR_E_FORMAT, "%s: '%s' must be a single float value", wf->map.path, name);
            char base[1024];
            size_t n = strlen(name) - strlen(suffixes[s]);
            if (n + sizeof ".weight" > sizeof base)
                continue;
            memcpy(base, name, n);
            strcpy(base + n, ".weight");
            wr_wtensor *w = NULL;
            for (int64_t j = 0; j < wf->n_tensors && !w; j++)
                if (strcmp(wf->tensors[j].name, base) == 0)
                    w = &wf->tensors[j];
            if (!w)
                return wr_fail(WR_E_FORMAT, "%s: '%s' has no weight '%s' to scale", wf->map.path, name, base);
            if (s == 0)
                w->t.scale = v;
            else {
                w->has_scale_input = true;
                w->scale_input = v;
            }
        }
    }
    return WR_OK;
}

wr_status wr_safetensors_load(wr_weightfile *wf)
{
    const wr_mapped_file *m = &wf->map;
    if (m->size < 8)
        return wr_fail(WR_E_FORMAT, "%s: truncated safetensors file (%zu bytes)", m->path, m->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | m->data[i];
    if (hlen > ST_MAX_HEADER || !wr_mapped_file_has(m, 8, hlen))
        return wr_fail(WR_E_FORMAT, "%s: safetensors header length %llu exceeds the file size %zu",
                       m->path, (unsigned long long)hlen, m->size);
    char what[512];
    snprintf(what, sizeof what, "%s: safetensors header", m->path);
    wr_json root;
    WR_TRY(wr_json_parse((const char *)m->data + 8, (size_t)hlen, what, &root));
    wr_status st = WR_OK;
    if (root.type != WR_JSON_OBJECT) {
        st = wr_fail(WR_E_FORMAT, "%s: safetensors header is not a JSON object", m->path);
        goto done;
    }
    const uint8_t *data = m->data + 8 + hlen;
    uint64_t data_size = m->size - 8 - hlen;
    for (size_t i = 0; i < root.count && st == WR_OK; i++) {
        const char *key = root.keys[i];
        const wr_json *v = &root.items[i];
        if (strcmp(key, ST_METADATA_KEY) == 0) {
            if (v->type != WR_JSON_OBJECT) {
                st = wr_fail(WR_E_FORMAT, "%s: __metadata__ is not an object", m->path);
                break;
            }
            for (size_t j = 0; j < v->count && st == WR_OK; j++) {
                if (v->items[j].type != WR_JSON_STRING)
                    st = wr_fail(WR_E_FORMAT, "%s: __metadata__ value '%s' is not a string", m->path,
                                 v->keys[j]);
                else
                    st = wr_weightfile_add_meta(wf, v->keys[j], v->items[j].string);
            }
            continue;
        }
        st = load_entry(wf, key, v, data, data_size);
    }
    if (st == WR_OK)
        st = attach_fp8_scales(wf);
done:
    wr_json_free(&root);
    return st;
}
