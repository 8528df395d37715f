/* Text-encoder cache (see text_cache.h). */
#include "models/wan22/text_cache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/io/safetensors_write.h"
#include "runtime/io/weightfile.h"

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static wr_status file_facts(const char *path, const char *what, uint64_t *h)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return wr_fail(WR_E_IO, "%s: cannot stat the %s for the cache key", path, what);
    *h = fnv(*h, path, strlen(path) + 1);
    int64_t facts[2] = {(int64_t)st.st_size, (int64_t)st.st_mtime};
    *h = fnv(*h, facts, sizeof facts);
    return WR_OK;
}

wr_status wan22_text_cache_path(const char *dir, const char *text, const char *model, const char *tokenizer,
                                int text_len, char *out, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    h = fnv(h, text, strlen(text) + 1);
    WR_TRY(file_facts(model, "text encoder", &h));
    WR_TRY(file_facts(tokenizer, "tokenizer", &h));
    int64_t tl = text_len;
    h = fnv(h, &tl, sizeof tl);
    if (snprintf(out, len, "%s/t5-%016llx.safetensors", dir, (unsigned long long)h) >= (int)len)
        return wr_fail(WR_E_ARG, "%s: cache path too long", dir);
    return WR_OK;
}

int wan22_text_cache_load(const char *path, int dim, float **ctx, int *ctx_len)
{
    wr_weightfile wf;
    if (wr_weightfile_open(&wf, path) != WR_OK) {
        wr_clear_error();
        return 0;
    }
    const wr_wtensor *t = wr_weightfile_find(&wf, "context");
    int hit = t && t->t.dtype == WR_DTYPE_F32 && t->t.n_dims == 2 && t->t.ne[0] == dim && t->t.ne[1] >= 1;
    if (hit) {
        size_t n = (size_t)wr_tensor_nelements(&t->t);
        *ctx = malloc(n * sizeof(float));
        hit = *ctx != NULL;
        if (hit) {
            memcpy(*ctx, t->t.data, n * sizeof(float));
            *ctx_len = (int)t->t.ne[1];
        }
    }
    wr_weightfile_close(&wf);
    return hit;
}

wr_status wan22_text_cache_store(const char *path, const float *ctx, int ctx_len, int dim)
{
    wr_st_entry e = {.name = "context", .dtype = WR_DTYPE_F32, .n_dims = 2, .shape = {ctx_len, dim}, .data = ctx};
    return wr_safetensors_write(path, &e, 1, NULL, 0);
}
