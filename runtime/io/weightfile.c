/* Format sniffing, the tensor table and name lookup shared by all readers (see weightfile.h). */
#include "runtime/io/weightfile.h"

#include <string.h>

#include "runtime/io/names.h"

static const char *const format_names[] = {
    [WR_FORMAT_GGUF] = "GGUF",
    [WR_FORMAT_SAFETENSORS] = "safetensors",
    [WR_FORMAT_PTH] = "PyTorch zip",
};
_Static_assert(sizeof(format_names) / sizeof(format_names[0]) == WR_FORMAT_COUNT,
               "format_names must cover every wr_format");

const char *wr_format_name(wr_format f)
{
    return (unsigned)f < WR_FORMAT_COUNT ? format_names[f] : "unknown";
}

static wr_status sniff(const wr_mapped_file *m, wr_format *out)
{
    const uint8_t *d = m->data;
    if (m->size >= 4 && memcmp(d, "GGUF", 4) == 0) {
        *out = WR_FORMAT_GGUF;
        return WR_OK;
    }
    if (m->size >= 4 && memcmp(d, "PK\3\4", 4) == 0) {
        *out = WR_FORMAT_PTH;
        return WR_OK;
    }
    /* legacy torch.save: a protocol-2 pickle starting with the magic number */
    if (m->size >= 2 && d[0] == 0x80 && d[1] == 0x02) {
        *out = WR_FORMAT_PTH;
        return WR_OK;
    }
    if (m->size >= 9 && d[8] == '{') {
        *out = WR_FORMAT_SAFETENSORS;
        return WR_OK;
    }
    if (m->size < 8)
        return wr_fail(WR_E_FORMAT, "%s: file too small (%zu bytes) to be a weight file", m->path,
                       m->size);
    return wr_fail(WR_E_FORMAT,
                   "%s: unknown format (not GGUF, safetensors or a PyTorch checkpoint)", m->path);
}

static wr_status load_mapped(wr_weightfile *wf)
{
    wr_status st;
    const char *path = wf->map.path;
    WR_TRY_GOTO(sniff(&wf->map, &wf->format));
    switch (wf->format) {
    case WR_FORMAT_GGUF: st = wr_gguf_load(wf); break;
    case WR_FORMAT_SAFETENSORS: st = wr_safetensors_load(wf); break;
    case WR_FORMAT_PTH: st = wr_pth_load(wf); break;
    default: st = wr_fail(WR_E_FORMAT, "%s: unknown format", path); break;
    }
    if (st != WR_OK)
        goto fail;
    WR_TRY_GOTO(wr_weightfile_finish(wf));
    return WR_OK;
fail:
    wr_weightfile_close(wf);
    return st;
}

wr_status wr_weightfile_open(wr_weightfile *wf, const char *path)
{
    memset(wf, 0, sizeof *wf);
    WR_TRY(wr_mapped_file_open(&wf->map, path));
    return load_mapped(wf);
}

wr_status wr_weightfile_open_memory(wr_weightfile *wf, const char *name, const uint8_t *data, size_t size)
{
    memset(wf, 0, sizeof *wf);
    wf->map.path = strdup(name);
    if (!wf->map.path)
        return wr_fail(WR_E_OOM, "%s: out of memory", name);
    wf->map.data = size ? data : NULL;
    wf->map.size = size;
    wf->borrowed = true;
    return load_mapped(wf);
}

void wr_weightfile_close(wr_weightfile *wf)
{
    if (!wf)
        return;
    for (int64_t i = 0; i < wf->n_tensors; i++)
        free(wf->tensors[i].name);
    free(wf->tensors);
    for (int64_t i = 0; i < wf->n_meta; i++) {
        free(wf->meta[i].key);
        free(wf->meta[i].value);
    }
    free(wf->meta);
    free(wf->index);
    for (int64_t i = 0; i < wf->n_owned; i++)
        free(wf->owned[i]);
    free(wf->owned);
    if (wf->format_ctx && wf->format_ctx_free)
        wf->format_ctx_free(wf->format_ctx);
    if (wf->borrowed)
        wf->map.data = NULL; /* caller memory: nothing to unmap */
    wr_mapped_file_close(&wf->map);
    memset(wf, 0, sizeof *wf);
}

/* Makes room for one more item in a growable array of elem-sized items. */
static bool reserve_one(void **items, int64_t n, int64_t *cap, size_t elem)
{
    if (n < *cap)
        return true;
    int64_t want = *cap ? *cap * 2 : 16;
    if ((uint64_t)want > SIZE_MAX / elem)
        return false;
    void *p = realloc(*items, (size_t)want * elem);
    if (!p)
        return false;
    *items = p;
    *cap = want;
    return true;
}

wr_status wr_weightfile_add_tensor(wr_weightfile *wf, const char *name, const wr_tensor *t)
{
    if (!reserve_one((void **)&wf->tensors, wf->n_tensors, &wf->tensors_cap, sizeof *wf->tensors))
        return wr_fail(WR_E_OOM, "%s: out of memory for the tensor table", wf->map.path);
    wr_wtensor *w = &wf->tensors[wf->n_tensors];
    memset(w, 0, sizeof *w);
    w->name = strdup(name);
    if (!w->name)
        return wr_fail(WR_E_OOM, "%s: out of memory", wf->map.path);
    w->t = *t;
    wf->n_tensors++;
    return WR_OK;
}

wr_status wr_weightfile_add_meta(wr_weightfile *wf, const char *key, const char *value)
{
    if (!reserve_one((void **)&wf->meta, wf->n_meta, &wf->meta_cap, sizeof *wf->meta))
        return wr_fail(WR_E_OOM, "%s: out of memory for metadata", wf->map.path);
    wr_meta *m = &wf->meta[wf->n_meta];
    m->key = strdup(key);
    m->value = strdup(value);
    if (!m->key || !m->value) {
        free(m->key);
        free(m->value);
        return wr_fail(WR_E_OOM, "%s: out of memory", wf->map.path);
    }
    wf->n_meta++;
    return WR_OK;
}

void *wr_weightfile_aligned_copy(wr_weightfile *wf, const void *src, size_t n)
{
    if (!reserve_one((void **)&wf->owned, wf->n_owned, &wf->owned_cap, sizeof *wf->owned))
        return NULL;
    void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
    if (!p)
        return NULL;
    memcpy(p, src, n);
    wf->owned[wf->n_owned++] = p;
    return p;
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Slot holding canonical name `key`, or the empty slot where it would go. */
static int64_t probe(const wr_weightfile *wf, const char *key)
{
    uint64_t mask = (uint64_t)wf->index_cap - 1;
    for (uint64_t i = hash_name(key) & mask;; i = (i + 1) & mask) {
        int64_t at = wf->index[i];
        if (at < 0 || strcmp(wr_names_strip_prefix(wf->tensors[at].name), key) == 0)
            return (int64_t)i;
    }
}

wr_status wr_weightfile_finish(wr_weightfile *wf)
{
    int64_t cap = 16;
    while (cap < wf->n_tensors * 2)
        cap *= 2;
    free(wf->index);
    wf->index = malloc((size_t)cap * sizeof *wf->index);
    if (!wf->index)
        return wr_fail(WR_E_OOM, "%s: out of memory for the name index", wf->map.path);
    wf->index_cap = cap;
    for (int64_t i = 0; i < cap; i++)
        wf->index[i] = -1;
    for (int64_t i = 0; i < wf->n_tensors; i++) {
        const char *key = wr_names_strip_prefix(wf->tensors[i].name);
        int64_t slot = probe(wf, key);
        if (wf->index[slot] >= 0)
            return wr_fail(WR_E_FORMAT, "%s: duplicate tensor name '%s' (also '%s')", wf->map.path,
                           wf->tensors[i].name, wf->tensors[wf->index[slot]].name);
        wf->index[slot] = i;
    }
    return WR_OK;
}

static const wr_wtensor *find_exact(const wr_weightfile *wf, const char *name)
{
    if (!wf->index)
        return NULL;
    int64_t slot = probe(wf, wr_names_strip_prefix(name));
    int64_t at = wf->index[slot];
    return at >= 0 ? &wf->tensors[at] : NULL;
}

const wr_wtensor *wr_weightfile_find(const wr_weightfile *wf, const char *name)
{
    const wr_wtensor *w = find_exact(wf, name);
    char alt[512];
    if (!w && wr_names_wan_to_diffusers(wr_names_strip_prefix(name), alt, sizeof alt))
        w = find_exact(wf, alt); /* a diffusers-named Wan transformer */
    return w;
}

const char *wr_weightfile_meta(const wr_weightfile *wf, const char *key)
{
    for (int64_t i = 0; i < wf->n_meta; i++)
        if (strcmp(wf->meta[i].key, key) == 0)
            return wf->meta[i].value;
    return NULL;
}
