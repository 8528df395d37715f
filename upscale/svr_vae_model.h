/* The bound SeedVR2 VAE (private to upscale/svr_vae*.c): svr_vae_load.c fills it, svr_vae.c
 * runs it. */
#ifndef UPSCALE_SVR_VAE_MODEL_H
#define UPSCALE_SVR_VAE_MODEL_H

#include "upscale/svr_vae.h"
#include "upscale/svr_vae_blocks.h"

#define SVR_MAX_LAYERS 4

typedef struct svr_down_block {
    svr_res res[SVR_MAX_LAYERS];
    svr_conv down; /* pad right/bottom 1, kernel (kt, 3, 3), stride (kt == 3 ? 2 : 1, 2, 2) */
} svr_down_block;

typedef struct svr_up_block {
    svr_res res[SVR_MAX_LAYERS];
    svr_up up;
} svr_up_block;

struct upscale_vae {
    upscale_vae_config cfg;
    svr_conv enc_in, enc_out, dec_in, dec_out;
    svr_down_block down[UPSCALE_VAE_MAX_BLOCKS];
    svr_up_block up[UPSCALE_VAE_MAX_BLOCKS];
    svr_mid enc_mid, dec_mid;
    svr_norm enc_norm_out, dec_norm_out;
    svr_binder binder; /* owns the F32 vectors; counts the conv slots */
};

#endif
