/* The SeedVR2 causal video VAE ("video_vae_v3", s8_c16_t4): encoder to 16-channel latents
 * (moments = [mean | logvar], 32 channels), decoder back to RGB, and the posterior / latent
 * scaling around them (../shared/specs/seedvr2.md section 3, ../shared/golden/post/README.md
 * section 3).
 *
 * Every convolution is causal in time: 2·p_t copies of the clip's first frame in front, nothing
 * behind. GroupNorm and the mid-block attention work per frame. So the clip can be processed
 * in temporal chunks that carry each conv's last input frames across: the pipeline's "causal
 * slicing" (encode frames [0..4], [5..8], ...; decode latents [0..1], [2], ...) gives the same
 * result as one pass, up to float rounding.
 *
 * Activations are vae_vol [C, T, H, W] (one sample, PyTorch order without the batch). */
#ifndef UPSCALE_SVR_VAE_H
#define UPSCALE_SVR_VAE_H

#include "runtime/io/weightfile.h"
#include "vae/volume.h"

/* Latent scaling of the SeedVR2 configs: latent = (z − shift) · scale. */
#define UPSCALE_VAE_SCALING 0.9152f
#define UPSCALE_VAE_SHIFT 0.0f
#define UPSCALE_VAE_MAX_BLOCKS 8

/* Read from the weight shapes (and norm_num_groups from the file's "config" metadata when it
 * has one; the released models use 32). */
typedef struct upscale_vae_config {
    int in_channels, out_channels, latent_channels;
    int n_blocks;                          /* down blocks = up blocks */
    int enc_ch[UPSCALE_VAE_MAX_BLOCKS];    /* encoder block i output channels */
    int dec_ch[UPSCALE_VAE_MAX_BLOCKS];    /* decoder up block i output channels */
    int enc_layers, dec_layers;            /* resnets per block */
    int enc_time_down[UPSCALE_VAE_MAX_BLOCKS]; /* 1: block i's downsampler halves time too */
    int dec_time_up[UPSCALE_VAE_MAX_BLOCKS];   /* 1: up block i's upsampler doubles time */
    int has_down[UPSCALE_VAE_MAX_BLOCKS], has_up[UPSCALE_VAE_MAX_BLOCKS];
    int groups;                            /* GroupNorm groups */
    int spatial_factor, temporal_factor;   /* 8, 4 */
} upscale_vae_config;

typedef struct upscale_vae upscale_vae;

/* Binds the weights of wf (kept mapped: wf must outlive the model). Accepts the diffusers
 * attention names (to_q/to_k/to_v/to_out.0) and the deprecated ones (query/key/value/proj_attn).
 * groups: GroupNorm groups, 0 = from the file's metadata, else 32. */
wr_status upscale_vae_load(upscale_vae **out, const wr_weightfile *wf, int groups);
void upscale_vae_free(upscale_vae *m);
const upscale_vae_config *upscale_vae_cfg(const upscale_vae *m);

/* video [3, T, H, W] in [−1, 1], T = 4n + 1, H and W multiples of 8 -> moments
 * [2·16, (T − 1)/4 + 1, H/8, W/8] (allocated here). split: 0 = one pass over the whole clip;
 * k > 0 (a multiple of 4) = the pipeline's causal slicing, chunks of 1 + k frames then k. */
wr_status upscale_vae_encode(const upscale_vae *m, const vae_vol *video, int split, vae_vol *moments);

/* latent z [16, T', h, w] (unscaled, e.g. the posterior mean) -> video [3, 4T' − 3, 8h, 8w]
 * (allocated here). split: 0 = one pass; k > 0 = chunks of 1 + k/4 latent frames, then k/4
 * (at least one). */
wr_status upscale_vae_decode(const upscale_vae *m, const vae_vol *latent, int split, vae_vol *video);

/* moments [2L, T, h, w] -> mean and std [L, T, h, w] (diffusers DiagonalGaussianDistribution:
 * logvar clamped to [−30, 20], std = exp(logvar / 2)). Allocated here. */
wr_status upscale_vae_posterior(const vae_vol *moments, vae_vol *mean, vae_vol *std);

/* The DiT-side latent: out[t, y, x, c] = (z[c, t, y, x] − shift) · scale (channel-last), and
 * back (z allocated here, [c, t, h, w]). */
void upscale_vae_latent_to_dit(const vae_vol *z, float *out);
wr_status upscale_vae_latent_from_dit(const float *in, int c, int t, int h, int w, vae_vol *z);

#endif
