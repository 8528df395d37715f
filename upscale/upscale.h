/* SeedVR2 one-step video upscaling as the numz ComfyUI node / CLI runs it
 * (../shared/specs/seedvr2.md section 2.1): per batch of frames, resize the short edge to
 * `resolution` (antialiased bicubic), pad to multiples of 16, pad time to 4n + 1 (mirror rule),
 * VAE-encode (posterior mean, scaled), one DiT step at t = 1000 from seeded noise ε with the
 * latent as condition, x̂₀ = ε − v̂, VAE-decode, trim and crop to the even true size, colour
 * correction against the resized input, cross-fade overlapping batches, write.
 *
 * Streams: only one batch of input frames (plus the overlap held back) is in memory, so clip
 * length does not matter. Noise comes from our seeded generator (runtime/rng.h, the same stream
 * as torch.randn on the CPU), reseeded with `seed` for every batch as numz does; its GPU
 * pipeline draws from CUDA's generator, so outputs agree in distribution, not bit for bit.
 * Colour correction runs on each batch before the cross-fade (numz order differs only when
 * temporal_overlap > 0). */
#ifndef UPSCALE_UPSCALE_H
#define UPSCALE_UPSCALE_H

#include <stdbool.h>
#include <stdint.h>

#include "media/video.h"
#include "upscale/color_fix.h"
#include "upscale/svr_dit.h"
#include "upscale/svr_vae.h"
#include "upscale/svr_vae_tiling.h"

typedef struct upscale_opts {
    int resolution;     /* target short edge (1080) */
    int batch;          /* frames per batch, 4n + 1 (5) */
    int overlap;        /* temporal_overlap (0) */
    int max_resolution; /* cap on the longer edge after the resize, 0 = none (numz max_resolution) */
    bool uniform;       /* pad a short last batch to `batch` frames (uniform_batch_size) */
    int prepend;        /* mirrored frames put in front and dropped again (prepend_frames) */
    int vae_split;      /* causal slicing of the VAE passes (4: bounded memory; same result as 0) */
    upscale_vae_tiling vae_tile; /* spatial tiling of both VAE passes (tile_px 0: off) */
    upscale_color color;
    uint64_t seed;      /* 42 */
    upscale_dit_attn attn;
    wr_video_opts video;
    void (*progress)(void *ctx, int batches_done, int batches_total); /* total −1 if unknown */
    void *ctx;
} upscale_opts;

/* The sizes for in_h x in_w input: the resize (r1, and r when max_resolution resizes again) and
 * the written (even) size. */
typedef struct upscale_sizes {
    int r1h, r1w, rh, rw, th, tw;
} upscale_sizes;
upscale_sizes upscale_sizes_for(int in_h, int in_w, const upscale_opts *o);

/* The defaults of the node. */
upscale_opts upscale_opts_default(void);

typedef struct upscale_models {
    const upscale_dit *dit;
    const upscale_vae *vae;
    const float *txt; /* the positive text embedding [txt_len, txt_in] (pos_emb.pt) */
    int txt_len;
} upscale_models;

/* Reads in (a video or PNG folder), writes out; nothing is left behind on failure or after
 * Ctrl-C (WR_E_INTERRUPTED between batches). out_w/out_h/out_frames (may be NULL) get what was
 * written. */
wr_status upscale_video(const upscale_models *m, const char *in, const char *out, const upscale_opts *o, int *out_w,
                        int *out_h, int *out_frames);

/* Loads the text embedding: the single tensor of FILE (pos_emb.pt is a torch zip holding one
 * bf16 [58, 5120] tensor), or a tensor named "positive_conditioning" / "pos_emb" among several.
 * *txt is malloc'd float32. */
wr_status upscale_text_load(const char *path, int txt_in, float **txt, int *txt_len);

#endif
