/* What the denoising loop consumes, built from the user's inputs: the prompt encodings (with
 * the optional disk cache), the I2V/FLF2V conditioning y, the TI2V image latent and the initial
 * noise. Private to the pipeline. */
#ifndef WAN22_PIPELINE_INPUTS_H
#define WAN22_PIPELINE_INPUTS_H

#include <stddef.h>

#include "models/wan22/pipeline.h"

typedef struct wan22_tokenizer wan22_tokenizer;
typedef struct wan22_t5 wan22_t5;
typedef struct vae22 vae22;

/* Clean, tokenize, pad to text_len and encode text; *ctx gets the ctx_len real rows. */
wr_status wan22_pipe_encode_text(const wan22_gen *g, const wan22_tokenizer *tok, const wan22_t5 *t5, const char *text,
                                 int text_len, float **ctx, int *ctx_len);

/* I2V / FLF2V: y [20, T, h, w] from the start (and end) image. */
wr_status wan22_pipe_image_condition(const wan22_gen *g, const vae21 *vae, float **y);

/* TI2V: the start image's Wan 2.2 latent [48, 1, h, w]. */
wr_status wan22_pipe_ti2v_image_latent(const wan22_gen *g, const vae22 *vae, float **z);

/* Seeded like torch.randn(C, T, h, w), or read from g->noise_file. */
wr_status wan22_pipe_initial_noise(const wan22_gen *g, float *x, size_t n);

#endif
