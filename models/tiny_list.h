/* A growable list of seeded random tensors written as one safetensors file: the helper the
 * tiny model writers (tiny_models.c, tiny_models_post.c) share. Every tensor is generated in
 * F32 and stored in the list's dtype (BF16, F16 or F32); an allocation failure is remembered
 * and reported once by tiny_list_write, so writers need no per-tensor checks. */
#ifndef WR_TINY_LIST_H
#define WR_TINY_LIST_H

#include <stdint.h>

#include "runtime/dtype.h"
#include "runtime/err.h"
#include "runtime/io/safetensors_write.h"
#include "runtime/rng.h"

typedef struct tiny_list {
    wr_st_entry *e; /* [cap] entries, e[i].data owned */
    char **names;   /* [cap] owned names */
    int n, cap;
    wr_rng rng;     /* draws the random tensors, in the order they are added */
    wr_dtype dtype; /* storage dtype: WR_DTYPE_BF16, _F16 or _F32 */
    int oom;
} tiny_list;

void tiny_list_init(tiny_list *l, uint64_t seed, wr_dtype dtype);

/* Appends `name` of PyTorch shape[0..n_dims) drawn from N(mean, stddev²); stddev 0 gives the
 * constant `mean` and draws nothing from the generator. */
void tiny_list_add(tiny_list *l, const char *name, int n_dims, const int64_t *shape, float stddev, float mean);

/* Appends `name` [n] with the given values, stored as `dtype` (e.g. F32 buffers). */
void tiny_list_add_values(tiny_list *l, const char *name, int64_t n, const float *values, wr_dtype dtype);

/* A linear weight [out, in] with N(0, 1/in): unit-variance outputs for unit-variance inputs. */
void tiny_list_mat(tiny_list *l, const char *name, int64_t out, int64_t in);

/* A constant vector [n]. */
void tiny_list_vec(tiny_list *l, const char *name, int64_t n, float value);

/* Writes DIR/FILE (atomically) with the metadata pairs, then frees the list. */
wr_status tiny_list_write(tiny_list *l, const char *dir, const char *file, const char *const (*meta)[2], int n_meta);

#endif
