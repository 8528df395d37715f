/* VAE memory planner: the peak working memory of an encode or decode of a given size, with or
 * without tiling, without computing it. The plan is a dry run (volume.h: vae_dry_set) of the
 * real code on a model built from the config alone (shapes, no weights): every activation,
 * feature cache, im2col block, attention buffer, tile crop, blend plane and the output is
 * allocated and freed in the same order as a real run, only nothing is stored or computed,
 * so the plan follows the code instead of a separate formula. A 720p x 81-frame plan takes
 * milliseconds.
 *
 * Not counted: the caller's input (latent or video), the thread pool and the matmul's own
 * per-thread buffers (small, fixed). Real runs match the plan byte for byte in the counted
 * memory (tests/vae/test_vae_tiling.c) and within a small factor in peak RSS. */
#ifndef VAE_VAE_PLAN_H
#define VAE_VAE_PLAN_H

#include "vae/tiling.h"

typedef struct vae_plan_config {
    int is22;      /* 0: Wan 2.1 VAE, 1: Wan 2.2 VAE */
    int dim;       /* encoder base dim: 96 (2.1), 160 (2.2) */
    int dec_dim;   /* 2.2 decoder base dim: 256 (ignored for 2.1) */
    wr_dtype wdtype; /* weight dtype of the file: BF16 for the ComfyUI files, F32 for the .pth */
} vae_plan_config;

/* The official configs. */
vae_plan_config vae_plan_config_official(int is22);

typedef struct vae_plan {
    size_t weights; /* conv weights in wdtype + F32 biases/gammas */
    size_t work;    /* peak of activations, caches, scratch and the output (bytes) */
    size_t output;  /* the output alone (part of work) */
    size_t peak;    /* weights + work */
    int tiles;      /* tiles per frame (1 when untiled) */
} vae_plan;

/* Decode of a video of `frames` (4k + 1) x height x width pixels (multiples of the VAE scale),
 * i.e. latent [z, (frames − 1)/4 + 1, height/s, width/s]; t NULL or off = untiled. */
wr_status vae_plan_decode(const vae_plan_config *c, int frames, int height, int width, const vae_tiling *t,
                          vae_plan *out);
wr_status vae_plan_encode(const vae_plan_config *c, int frames, int height, int width, const vae_tiling *t,
                          vae_plan *out);
/* The same dry run on an existing model (loaded or shape-only). */
wr_status vae_plan_model(const wan_vae *v, int decode, int frames, int height, int width, const vae_tiling *t,
                         vae_plan *out);

/* The first tiling whose planned peak (weights + working) fits `budget` bytes, from: off, then
 * 272/144x128 (the defaults), 208/112x96, 144/80x64, 96/48x48 px. WR_E_OOM (with *out the
 * smallest) when none fits. For the generate pipeline: pick once per run from the free memory. */
wr_status vae_plan_pick_tiling(const wan_vae *v, int decode, int frames, int height, int width, size_t budget,
                               vae_tiling *out);

#endif
