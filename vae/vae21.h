/* The Wan 2.1 VAE (wan/modules/vae2_1.py), used by the A14B T2V/I2V models: 16 latent
 * channels, 4x temporal and 8x spatial compression.
 *
 * Like the official code, the encoder runs on frame 0 and then chunks of 4 frames, the decoder
 * one latent frame at a time, with per-conv feature caches (vae_blocks.h), so working memory
 * is one chunk plus the caches, whatever the frame count; the parts without time resamplers
 * (encoder before its first time downsample, decoder after its last time upsample) run one
 * frame at a time, which the caches make equal too. Those caches make every causal conv
 * equal to a conv over the whole sequence with causal zero padding; the two special cases:
 *  - downsample3d: output frame 0 is input frame 0 (time conv skipped on the first chunk);
 *    output j >= 1 is the stride-2 time conv over input frames 2j−2, 2j−1, 2j;
 *  - upsample3d: output frame 0 is input frame 0; input frame i >= 1 becomes two frames from
 *    the time conv over (zero-padded) frames i−2, i−1, i where input frame 0 counts as zero.
 * For frames too large for memory, tiling.h splits the plane into overlapping tiles. */
#ifndef VAE_VAE21_H
#define VAE_VAE21_H

#include "runtime/io/weightfile.h"
#include "vae/volume.h"

typedef struct vae21 vae21;

/* Binds the weights of wf (official / .pth key names, optional "vae." / "first_stage_model."
 * prefixes are not handled yet); wf must outlive the model. */
wr_status vae21_load(vae21 **out, const wr_weightfile *wf);
void vae21_free(vae21 *m);
int vae21_z_dim(const vae21 *m);
/* A model with the shapes of base dim `dim` (official: 96) and no weights (data NULL), weight
 * bytes counted in `dtype`: only for dry runs (vae_plan.h). */
wr_status vae21_init_shape(vae21 **out, int dim, wr_dtype dtype);
/* Bytes of the weights as bound (file dtype, plus the F32 biases and gammas). */
size_t vae21_weight_bytes(const vae21 *m);

/* video [3, T, H, W] in [−1, 1], T = 4k + 1, H and W multiples of 8 -> normalised latent
 * [z, (T − 1)/4 + 1, H/8, W/8] = (μ − mean) / std. */
wr_status vae21_encode(const vae21 *m, const vae_vol *video, vae_vol *latent);
/* latent [z, Tl, h, w] -> video [3, 4(Tl − 1) + 1, 8h, 8w], NOT clamped (the official wrapper
 * clamps to [−1, 1] afterwards). */
wr_status vae21_decode(const vae21 *m, const vae_vol *latent, vae_vol *video);
/* The same, delivering each video frame to `sink` as soon as it is decoded, so the whole video
 * is never held. */
wr_status vae21_decode_stream(const vae21 *m, const vae_vol *latent, vae_sink sink);

#endif
