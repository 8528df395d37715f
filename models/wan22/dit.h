/* The Wan 2.2 DiT forward pass (wan/modules/model.py WanModel.forward) for one sample.
 *
 * Only the real tokens (F · H/2 · W/2) are computed: the official model pads tokens to
 * seq_len, but padded tokens never reach real ones (keys are masked, everything else is per
 * token) and are dropped by unpatchify, so the output is identical. The text context is
 * zero-padded to text_len and all text_len rows are attended, as the official code does.
 *
 * Activations live in a backend buffer (runtime/buffers.h), so on a GPU the whole forward runs on
 * device memory; weights are used where wan22_weights_place put them (host memory otherwise). */
#ifndef WAN22_DIT_H
#define WAN22_DIT_H

#include "models/wan22/weights.h"

typedef struct wan22_dit_input {
    const float *x;       /* [c_noise, f, h, w] noisy latent (t2v/i2v 16 channels, ti2v 48) */
    const float *y;       /* [in_dim − c_noise, f, h, w] conditioning (i2v: mask 4 + latent 16) or NULL */
    int c_noise, f, h, w; /* latent size; h and w even */
    const float *context; /* [ctx_len, text_dim] un-padded text encoder output */
    int ctx_len;          /* 1..text_len */
    const float *t;       /* timestep(s) in [0, 1000] */
    int n_t;              /* 1 (same t for every token) or the token count (per-token, TI2V) */
} wan22_dit_input;

/* Receives named intermediates (names as in ../shared/golden dit cases, "inter.*"), for tests. */
typedef void (*wan22_trace_fn)(void *ctx, const char *name, const float *data, int64_t n);

/* out: [out_dim, f, h, w]. Errors: WR_E_ARG for inputs that do not fit the model. */
wr_status wan22_dit_forward(const wan22_weights *w, const wan22_dit_input *in, float *out,
                            wan22_trace_fn trace, void *trace_ctx);

/* Rows per FFN chunk unless wan22_weights.ffn_chunk says otherwise: at 75,600 tokens the hidden
 * layer is 8192 x 13824 floats (453 MB) instead of 4.2 GB, and 8192-row matmuls keep a GPU busy. */
#define WAN22_FFN_CHUNK_DEFAULT 8192

/* Tokens sharing a timestep share one modulation row; up to this many runs of equal timesteps
 * (TI2V: the first frame at t = 0, the others at t) keep e at a few rows, more take one row per
 * token (an [L, 6·dim] e0). */
#define WAN22_MAX_T_RUNS 8

/* The bytes of the activation arena wan22_dit_forward allocates (a backend buffer) for a latent
 * grid of f x h x w, with mod_rows modulation rows (runs of equal timesteps: 1 for T2V/I2V, 2 for
 * TI2V with an image; 0 or more than WAN22_MAX_T_RUNS: one per token) and FFN chunks of ffn_chunk
 * rows (0: the default). LoRA side paths, host-side staging of inputs and outputs and the ops'
 * scratch come on top. The memory planner uses this. */
size_t wan22_dit_workspace(const wan22_config *c, int f, int h, int w, int mod_rows, int ffn_chunk);

/* Frees what forwards on a device keep between calls (the arena and the recorded block loop);
 * wan22_weights_unplace and wan22_weights_free call it. */
void wan22_dit_release(wan22_weights *w);

#endif
