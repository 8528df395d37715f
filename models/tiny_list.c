/* Tensor list for the tiny model writers (see tiny_list.h). */
#include "models/tiny_list.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/numeric.h"

void tiny_list_init(tiny_list *l, uint64_t seed, wr_dtype dtype)
{
    memset(l, 0, sizeof *l);
    wr_rng_seed(&l->rng, seed);
    l->dtype = dtype;
}

/* Takes ownership of f [count] and appends it converted to `dtype`. */
static void push(tiny_list *l, const char *name, int n_dims, const int64_t *shape, float *f, int64_t count, wr_dtype dtype)
{
    if (!l->oom && l->n == l->cap) {
        int want = l->cap ? l->cap * 2 : 64;
        wr_st_entry *e = realloc(l->e, (size_t)want * sizeof *e);
        if (e)
            l->e = e;
        char **nm = e ? realloc(l->names, (size_t)want * sizeof *nm) : NULL;
        if (nm)
            l->names = nm, l->cap = want;
        else
            l->oom = 1;
    }
    if (l->oom || !f) {
        free(f);
        l->oom = 1;
        return;
    }
    size_t esize = dtype == WR_DTYPE_F32 ? 4 : 2;
    void *data = dtype == WR_DTYPE_F32 ? (void *)f : malloc((size_t)count * esize);
    l->names[l->n] = strdup(name);
    if (!data || !l->names[l->n]) {
        free(l->names[l->n]);
        free(f);
        if (data != f)
            free(data);
        l->oom = 1;
        return;
    }
    if (dtype != WR_DTYPE_F32) {
        uint16_t *h = data;
        for (int64_t i = 0; i < count; i++)
            h[i] = dtype == WR_DTYPE_F16 ? wr_f32_to_f16(f[i]) : wr_f32_to_bf16(f[i]);
        free(f);
    }
    wr_st_entry *e = &l->e[l->n];
    memset(e, 0, sizeof *e);
    e->name = l->names[l->n];
    e->dtype = dtype;
    e->n_dims = n_dims;
    memcpy(e->shape, shape, (size_t)n_dims * sizeof *shape);
    e->data = data;
    l->n++;
}

void tiny_list_add(tiny_list *l, const char *name, int n_dims, const int64_t *shape, float stddev, float mean)
{
    if (l->oom)
        return;
    int64_t count = 1;
    for (int i = 0; i < n_dims; i++)
        count *= shape[i];
    float *f = malloc((size_t)(count ? count : 1) * sizeof *f);
    if (f && stddev > 0) {
        wr_rng_randn(&l->rng, f, count);
        for (int64_t i = 0; i < count; i++)
            f[i] = mean != 0 ? f[i] * stddev + mean : f[i] * stddev; /* keeps a -0.0 draw as before */
    } else if (f) {
        for (int64_t i = 0; i < count; i++)
            f[i] = mean;
    }
    push(l, name, n_dims, shape, f, count, l->dtype);
}

void tiny_list_add_values(tiny_list *l, const char *name, int64_t n, const float *values, wr_dtype dtype)
{
    if (l->oom)
        return;
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    if (f)
        memcpy(f, values, (size_t)n * sizeof *f);
    push(l, name, 1, (int64_t[]){n}, f, n, dtype);
}

void tiny_list_mat(tiny_list *l, const char *name, int64_t out, int64_t in)
{
    tiny_list_add(l, name, 2, (int64_t[]){out, in}, 1.0f / sqrtf((float)in), 0);
}

void tiny_list_vec(tiny_list *l, const char *name, int64_t n, float value) { tiny_list_add(l, name, 1, (int64_t[]){n}, 0, value); }

wr_status tiny_list_write(tiny_list *l, const char *dir, const char *file, const char *const (*meta)[2], int n_meta)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    wr_status st = l->oom ? wr_fail(WR_E_OOM, "%s: out of memory", path)
                          : wr_safetensors_write(path, l->e, l->n, meta, n_meta);
    for (int i = 0; i < l->n; i++) {
        free((void *)l->e[i].data);
        free(l->names[i]);
    }
    free(l->e), free(l->names);
    memset(l, 0, sizeof *l);
    return st;
}
