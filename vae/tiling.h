/* Spatially tiled VAE decode and encode with overlap and linear blending, as the tiled decode of
 * ComfyUI-WanVideoWrapper / DiffSynth (wan_video_vae.py tiled_decode / tiled_encode):
 *  - tiles of tile_h x tile_w latent positions start every stride_h / stride_w positions; a row
 *    or column stops after the first tile that reaches the edge (edge tiles are cut short);
 *  - each tile is a full streamed pass (vae21.h: official temporal chunking, its own feature
 *    caches), so working memory follows the tile, not the frame;
 *  - a tile's output is weighted by min(ramp_y, ramp_x): 1 inside, (i + 1) / border over the
 *    border = (tile − stride) · scale pixels of each side that touches another tile, and the
 *    weighted sum is divided by the summed weights. A single tile covering the frame gives
 *    exactly the untiled result.
 * Sizes are given in pixels of the video (the WanVideoWrapper node's units) and must be
 * multiples of the VAE scale (8 for 2.1, 16 for 2.2); internally they are latent units: the
 * defaults 272 px tiles, strides 144 (x) and 128 (y) are 34 x 34 / 18, 16 for the 2.1 VAE and
 * 17 x 17 / 9, 8 for the 2.2 VAE.
 *
 * Memory: a tiled decode holds the output video (3 x T x H x W floats), one H x W weight
 * plane, the latent crop of one tile and one tile's chunk activations and caches. An untiled
 * decode holds one chunk and the caches of the whole frame instead (vae_plan.h measures both). */
#ifndef VAE_TILING_H
#define VAE_TILING_H

#include "vae/vae.h"

typedef enum vae_tile_mode {
    VAE_TILE_OFF,  /* one pass over the whole frame */
    VAE_TILE_AUTO, /* tile when the frame is larger than one tile */
    VAE_TILE_ON,   /* always tile (a frame within one tile still gives the untiled result) */
    VAE_TILE_MODE_COUNT
} vae_tile_mode;

typedef struct vae_tiling {
    vae_tile_mode mode;
    int tile_w, tile_h;     /* pixels, e.g. 272 x 272 */
    int stride_w, stride_h; /* pixels between tile starts, e.g. 144 x 128; 0 < stride <= tile */
} vae_tiling;

#define VAE_TILE_DEFAULT 272
#define VAE_TILE_DEFAULT_STRIDE_W 144
#define VAE_TILE_DEFAULT_STRIDE_H 128

/* mode with the default sizes. */
vae_tiling vae_tiling_defaults(vae_tile_mode mode);

/* Parses the --vae-tile syntax: "off" | "auto" | "on" (defaults) | "W,H" | "W,H,SX,SY" in
 * pixels; without SX,SY the strides are half the tile rounded down to a multiple of 16 (at
 * least 16). WR_E_ARG with a message naming the text on error. */
wr_status vae_tiling_parse(const char *text, vae_tiling *out);
#define VAE_TILING_HELP                                                                                       \
    "  --vae-tile off|auto|on|W,H[,SX,SY]   spatial VAE tiling in pixels (default off): on = 272,272,144,128\n" \
    "                  (WanVideoWrapper's defaults), auto = on when the frame is larger than one tile;\n"       \
    "                  W,H without strides uses half the tile (multiple of 16); sizes must be multiples\n"     \
    "                  of 8 (Wan 2.1 VAE) or 16 (Wan 2.2 VAE)\n"

/* The tile grid in latent units for a latent plane lh x lw. */
typedef struct vae_tile_grid {
    int tiled;        /* 0: one untiled pass */
    int th, tw;       /* tile size (latent positions) */
    int sh, sw;       /* strides */
    int ny, nx;       /* tiles per column / row; tile (i, j) starts at (i·sh, j·sw) */
} vae_tile_grid;

/* t may be NULL (off). WR_E_ARG when a size is not a multiple of scale or a stride exceeds its
 * tile. */
wr_status vae_tiling_grid(const vae_tiling *t, int scale, int lh, int lw, vae_tile_grid *g);

/* latent [z, Tl, h, w] -> video [3, 4(Tl − 1) + 1, s·h, s·w] (not clamped), tiled per t (NULL
 * or mode off: the untiled decode). This is the entry point for the generate pipeline. */
wr_status wan_vae_decode_tiled(const wan_vae *v, const vae_vol *latent, const vae_tiling *t, vae_vol *video);
/* The same delivering frames to sink (vae_sink, volume.h). Untiled, frames leave as each latent
 * frame is decoded; tiled, after the last tile (the blend needs every tile of a frame). */
wr_status wan_vae_decode_tiled_stream(const wan_vae *v, const vae_vol *latent, const vae_tiling *t, vae_sink sink);
/* video [3, 4k + 1, H, W] (H, W multiples of the scale; other sizes are a WR_E_ARG error, the
 * caller pads or crops) -> normalised latent, tiled per t. */
wr_status wan_vae_encode_tiled(const wan_vae *v, const vae_vol *video, const vae_tiling *t, vae_vol *latent);

#endif
