/* Building blocks shared by the Wan 2.1 and 2.2 VAEs (wan/modules/vae2_{1,2}.py): causal
 * convolutions, residual blocks, the per-frame attention block and the spatial/temporal
 * resamplers, with their weight binding. Forward functions replace *x with the result.
 *
 * Passes are streamed: each function runs on one chunk of frames and keeps the official
 * feature caches (feat_cache / CACHE_T = 2) in a vae_tcache: each causal conv sees the last two
 * input frames of the previous chunks (zeros before the video) in front of the chunk, so memory
 * is one chunk plus the caches. Convs and residual blocks also take tc == NULL for a whole
 * sequence with causal zero padding (the same numbers); the time resamplers need the cache. */
#ifndef VAE_BLOCKS_H
#define VAE_BLOCKS_H

#include "runtime/io/weightfile.h"
#include "vae/volume.h"

typedef struct vae_conv {
    wr_tensor w, b; /* weight in file dtype; bias F32 */
} vae_conv;

typedef struct vae_resblock {
    float *g0, *g1; /* residual.0.gamma, residual.3.gamma [C] */
    vae_conv c0, c1; /* residual.2, residual.6 */
    vae_conv sc;     /* shortcut (1x1x1) when in != out */
    int has_sc;
} vae_resblock;

typedef struct vae_attnblock {
    float *gamma;       /* norm.gamma [C] */
    vae_conv qkv, proj; /* to_qkv [3C, C, 1, 1], proj [C, C, 1, 1] */
} vae_attnblock;

typedef enum vae_layer_kind { VAE_RES, VAE_DOWN2D, VAE_DOWN3D, VAE_UP2D, VAE_UP3D } vae_layer_kind;

typedef struct vae_layer {
    vae_layer_kind kind;
    vae_resblock res;
    vae_conv spatial, time; /* resample.1, time_conv */
} vae_layer;

/* Binding state: the file and the F32 copies of gammas and biases. A shape-only binder
 * (wf == NULL) builds the same structs with weight data NULL, zero biases/gammas and weights
 * counted as `dtype`: the memory planner dry-runs such a model from the config alone. */
typedef struct vae_binder {
    const wr_weightfile *wf;
    wr_dtype dtype;      /* shape-only: dtype the weight bytes are counted in */
    size_t weight_bytes; /* bytes of the conv weights bound so far (file dtype) */
    void **owned;
    int n_owned, cap;
} vae_binder;

void vae_binder_free(vae_binder *m);
/* Binds prefix.weight [cout, cin, kt, k, k] (kt = 0: a Conv2d weight [cout, cin, k, k]) and
 * prefix.bias [cout]; a file shape that differs is a WR_E_FORMAT error naming the tensor. */
wr_status vae_bind_conv(vae_binder *m, const char *prefix, int cout, int cin, int kt, int k, vae_conv *c);
wr_status vae_bind_gamma(vae_binder *m, const char *name, int c, float **out);
wr_status vae_bind_res(vae_binder *m, const char *prefix, int cin, int cout, vae_resblock *r);
wr_status vae_bind_attn(vae_binder *m, const char *prefix, int c, vae_attnblock *a);

/* Feature caches of one streamed pass (one per tile). slot[i] belongs to the i-th cached conv
 * reached in a chunk, so every chunk visits the convs in the same order (the official feat_idx). */
#define VAE_MAX_SLOTS 64
typedef struct vae_tcache {
    vae_vol slot[VAE_MAX_SLOTS]; /* [C, 2, H, W] last input frames (1 frame for a time downsample) */
    int n;                       /* slots created so far */
    int idx;                     /* next slot in this chunk */
    int first;                   /* this chunk is the first of the video */
} vae_tcache;

void vae_tcache_begin(vae_tcache *tc, int first);
void vae_tcache_free(vae_tcache *tc);
/* Bytes held by the caches now. */
size_t vae_tcache_bytes(const vae_tcache *tc);

/* A part of a pass without time resamplers, e.g. the decoder after its last time upsample. */
typedef wr_status (*vae_part_fn)(const void *model, vae_vol *x, vae_tcache *tc);

/* Runs part on each frame of chunk x separately, rewinding the cache index for each frame: the
 * caches make such a part independent of how frames are chunked, and one frame at a time needs a
 * quarter of the memory of a 4-frame chunk. With sink, result frame f goes to sink at frame t0 + f
 * and *x is freed; without, the results are concatenated back into *x. */
wr_status vae_per_frame(vae_vol *x, vae_tcache *tc, vae_part_fn part, const void *model, const vae_sink *sink, int t0);

wr_status vae_replace(vae_vol *x, vae_vol *y);
wr_status vae_conv_causal(vae_vol *x, const vae_conv *c, vae_tcache *tc);
wr_status vae_res_forward(vae_vol *x, const vae_resblock *r, vae_tcache *tc);
wr_status vae_attn_forward(vae_vol *x, const vae_attnblock *a);
wr_status vae_down_forward(vae_vol *x, const vae_layer *l, vae_tcache *tc);
wr_status vae_up_forward(vae_vol *x, const vae_layer *l, vae_tcache *tc);

#endif
