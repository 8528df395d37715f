/* Memory plan of `wanrt upscale` for one batch, without running it: the VAE passes as dry runs of
 * the real code (vae/volume.h accounting: every activation, carry, band, tile and attention
 * buffer is allocated and freed in the real order, nothing computed), the DiT's workspace from the
 * same function that sizes its arena, and the pipeline's own buffers (upscale.c) added per stage
 * as they are alive. Weights are the files' and are counted by the caller. */
#ifndef UPSCALE_UPSCALE_PLAN_H
#define UPSCALE_UPSCALE_PLAN_H

#include <stddef.h>

#include "upscale/upscale.h"

typedef struct upscale_plan {
    int out_w, out_h;          /* written frames (even) */
    int pad_w, pad_h;          /* what the models see (multiples of 16) */
    int frames;                /* a batch, padded to 4n + 1 */
    int lat_t, lat_h, lat_w;   /* its latent */
    size_t vae_encode;         /* encode working peak (with its output) */
    size_t dit;                /* DiT workspace */
    size_t vae_decode;         /* decode working peak (with its output) */
    size_t vae_encode_op, vae_decode_op; /* the largest operands of one VAE op (vae_op_peak) */
    size_t pipeline;           /* frames, resized planes, model input, colour reference, latents */
    size_t peak;               /* the largest stage: pipeline buffers alive + that stage's work */
    const char *peak_stage;
} upscale_plan;

/* For input frames of in_w x in_h under o (resolution, batch, overlap, VAE split and tiling).
 * m->vae may be NULL: then the VAE figures are 0 and the latent grid is the released VAE's. */
wr_status upscale_plan_batch(const upscale_models *m, int in_w, int in_h, const upscale_opts *o, upscale_plan *out);

#endif
