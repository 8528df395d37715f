/* Spatial tiling of the SeedVR2 VAE as the numz node does it (../shared/specs/seedvr2.md 3.11):
 * square tiles of tile_px pixels overlapping by overlap_px, every frame of the batch per tile,
 * blended with raised-cosine ramps (encode: over latent positions, on the 32-channel moments;
 * decode: over output pixels). Memory follows the tile instead of the frame; seams change the
 * numbers a little (tests/upscale/test_svr_vae_tiling.c measures by how much). A tile covering
 * the whole frame gives the untiled result exactly. */
#ifndef UPSCALE_SVR_VAE_TILING_H
#define UPSCALE_SVR_VAE_TILING_H

#include "upscale/svr_vae.h"

typedef struct upscale_vae_tiling {
    int tile_px;    /* 0: off; else a multiple of 8, at least 16 (numz default 1024) */
    int overlap_px; /* numz default 128 */
} upscale_vae_tiling;

/* "off" | "S" | "S,O" (pixels). */
wr_status upscale_vae_tiling_parse(const char *text, upscale_vae_tiling *out);

/* As upscale_vae_encode / upscale_vae_decode, tiled per t (NULL or tile_px 0: untiled). */
wr_status upscale_vae_encode_tiled(const upscale_vae *m, const vae_vol *video, int split,
                                   const upscale_vae_tiling *t, vae_vol *moments);
wr_status upscale_vae_decode_tiled(const upscale_vae *m, const vae_vol *latent, int split,
                                   const upscale_vae_tiling *t, vae_vol *video);

/* The blend weights along one axis of a tile of extent n with ramp length ramp (latent
 * positions for encode, pixels for decode): w[0..n−1]. */
void upscale_vae_tile_weights(int n, int ramp, int at_start_edge, int at_end_edge, float *w);

#endif
