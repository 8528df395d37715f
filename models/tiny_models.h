/* Deterministic tiny random-weight models in the real file formats and key names, so every
 * command runs without downloads (the README demo and end-to-end tests):
 *   tokenizer.model     SentencePiece unigram protobuf (byte fallback, a small English vocab)
 *   umt5_tiny.safetensors          umT5 encoder: dim 64, 4 heads, FFN 128, 2 layers
 *   wan22_t2v_{high,low}_noise.safetensors   A14B-shaped experts: dim 256, 2 heads, 2 layers
 *   wan22_i2v_{high,low}_noise.safetensors   the same with 36 input channels
 *   wan22_ti2v_5b.safetensors      TI2V-5B-shaped DiT (48 channels in and out)
 *   wan21_vae_tiny.safetensors     Wan 2.1 VAE with base dim 16
 *   wan22_vae_tiny.safetensors     Wan 2.2 VAE with base dims 8 / 16
 *   start.png, end.png             64x64 test images for i2v / flf2v
 * and the post-processing models (tiny_models_post.c), F16 like their releases:
 *   rife_tiny.safetensors          RIFE 4.7 IFNet at its real widths (124 tensors, 5.3M params)
 *   seedvr2_dit_tiny.safetensors   SeedVR2 3B "dit_v2" structure: dim 64, 2 heads, 4 layers
 *                                  (2 with separate vid/txt weights), txt_in 48
 *   seedvr2_vae_tiny.safetensors   SeedVR2 video VAE: channels 8/8/16/16, 4 groups, latent 16
 *   seedvr2_pos_emb.safetensors    a text embedding 'pos_emb' [32, 48] for `wanrt upscale --text`
 * Weights are N(0, 1/fan_in) from our seeded generator: the output is structured noise, not
 * a meaningful video. */
#ifndef WR_TINY_MODELS_H
#define WR_TINY_MODELS_H

#include "runtime/err.h"

/* Writes every file above into dir (created if missing). */
wr_status wr_make_tiny_models(const char *dir);

/* Writes the post-processing files only (called by wr_make_tiny_models). */
wr_status wr_make_tiny_post_models(const char *dir);

#endif
