/* RIFE IFNet 4.7 internals shared by the weight binding (rife_weights.c) and the forward
 * (rife.c): the layer structs. Weights are wr_tensors so they can be placed on a device. */
#ifndef RIFE_RIFE_INTERNAL_H
#define RIFE_RIFE_INTERNAL_H

#include "rife/rife.h"
#include "runtime/buffers.h"
#include "runtime/tensor.h"

typedef struct conv {
    wr_tensor w; /* [out, in, 3, 3]: file dtype on the CPU backend, F32 on a GPU one */
    wr_tensor b; /* F32 [out] */
} conv;

typedef struct tconv {
    wr_tensor w; /* F32 [in, out, 4, 4] (ne = {4, 4, out, in}) */
    wr_tensor b; /* F32 [out] */
    int cin, cout;
} tconv;

typedef struct ifblock {
    conv c0, c1;
    conv res[8];
    wr_tensor beta[8]; /* F32 [c] */
    tconv last;        /* c -> 24, then PixelShuffle(2) -> 6 */
    int c;
} ifblock;

/* Image buffers of finished steps, kept for reuse by size (rife.c img_alloc / img_free): every
 * frame pair allocates the same sizes in the same order, so from the second pair on the forward
 * allocates no device memory (cuMemAlloc / cuMemFree synchronise the device). GPU backends only. */
typedef struct rife_pool {
    struct rife_pooled {
        void *p;
        size_t bytes;
    } *items;
    int n, cap;
} rife_pool;
/* Frees every kept buffer and the pool (NULL accepted). */
void rife_pool_free(rife_pool *pool);

struct rife {
    conv enc0;
    tconv enc1;
    ifblock blocks[4];
    void **owned;
    int n_owned;
    const wr_weightfile *wf;
    wr_placement *placed; /* every weight in one resident group on a GPU backend; NULL on the CPU */
    rife_pool *pool;      /* GPU backend: freed image buffers (one interpolation at a time); NULL on the CPU */
};

#endif
