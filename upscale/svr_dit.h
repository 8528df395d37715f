/* The SeedVR2 diffusion transformer (NaDiT): the 3B structure (models/dit_v2, "mmdit_sr"
 * blocks) and the 7B one (models/dit), told apart by the weights' keys and shapes
 * (../shared/specs/seedvr2.md sections 4-5, ../shared/golden/post/README.md section 2).
 *
 * Native-resolution packing: the video tokens of every sample are concatenated ([L, C],
 * each sample row-major over its (t, h, w) latent grid, channel last) and so are the text
 * tokens; each sample has its own grid, text length and timestep. Attention runs in 3-D
 * windows per sample (regular and half-shifted layouts alternating by layer), each window
 * attending to its video tokens plus all of the sample's text. */
#ifndef UPSCALE_SVR_DIT_H
#define UPSCALE_SVR_DIT_H

#include <stdint.h>

#include "runtime/buffers.h"
#include "runtime/io/weightfile.h"

typedef enum upscale_dit_variant {
    UPSCALE_DIT_3B, /* dit_v2: SwiGLU, shared ".all" layers, mmrope3d, output norm + modulation */
    UPSCALE_DIT_7B, /* dit: GELU(tanh) MLP with biases, all layers ".vid"/".txt", video-only rope */
    UPSCALE_DIT_VARIANT_COUNT
} upscale_dit_variant;

typedef struct upscale_dit_config {
    upscale_dit_variant variant;
    int dim;          /* vid_dim = txt_dim (3B 2560, 7B 3072) */
    int heads, head_dim;
    int num_layers;
    int mm_layers;    /* layers < mm_layers have separate .vid/.txt weights, the rest ".all" */
    int vid_in;       /* 33: noise 16 | condition 16 | mask 1 */
    int vid_out;      /* 16 */
    int txt_in;       /* text embedding width (5120) */
    int emb_hidden;   /* emb_in hidden width (= dim) */
    int mlp_hidden;   /* 3B 6912, 7B 12288 */
    int rope_freqs;   /* frequencies per axis: 3B head_dim//3//2 (21), 7B 10 */
    float eps;        /* RMSNorm epsilon, 1e-5 */
} upscale_dit_config;

typedef struct upscale_dit upscale_dit;

/* Binds every tensor from wf (which must outlive the model); the config comes from the keys
 * and shapes. Errors name the file and the tensor that is missing or does not fit. */
wr_status upscale_dit_load(upscale_dit **out, const wr_weightfile *wf);
void upscale_dit_free(upscale_dit *m);
const upscale_dit_config *upscale_dit_config_get(const upscale_dit *m);
const char *upscale_dit_variant_name(upscale_dit_variant v);

/* ---- placement on a GPU backend (runtime/buffers.h) ---------------------------------------
 * Groups: 0 = everything outside the blocks, 1 + l = block l. Listed are the tensors ops read:
 * matrices, biases, the q/k norm weights, the output norm and the all-ones RMSNorm weight. The
 * modulation vectors (ada, vid_out_ada) and RoPE frequencies are read by host code in the
 * forward and stay in host memory. A shared (".all") layer lists its tensors once, under the
 * video stream: the text stream follows them (svr_dit_share_txt), so nothing is placed twice.
 * On the CPU backend placing does nothing. The forward calls wr_placement_use before the ops of
 * each group; its activations stay in host memory (staged per op, see upscale_device_plan.h). */
wr_status upscale_dit_list(upscale_dit *m, wr_tensor ***tensors, int **groups, int *n);
/* The last swap_blocks blocks are block-swapped (0..num_layers), the rest resident. */
wr_status upscale_dit_place(upscale_dit *m, int swap_blocks);
void upscale_dit_unplace(upscale_dit *m); /* tensors back in host memory; accepts an unplaced model */
const wr_placement *upscale_dit_placement(const upscale_dit *m); /* NULL: unplaced or CPU backend */

/* A model with this config's tensors (shapes and dtypes, NULL data) for the planner: matrices in
 * matrix_dtype, vectors F32. Not runnable. */
wr_status upscale_dit_describe(const upscale_dit_config *cfg, wr_dtype matrix_dtype, upscale_dit **out);
/* The released 3B / 7B configs (seedvr2.md 1, 4.9, 5). */
upscale_dit_config upscale_dit_config_released(upscale_dit_variant v);

typedef struct upscale_dit_sample {
    int t, h, w;     /* latent grid; h and w even */
    int txt_len;     /* text tokens of this sample (>= 1) */
    float timestep;  /* 0..1000; one-step SeedVR2 uses 1000 */
} upscale_dit_sample;

typedef enum upscale_dit_attn {
    UPSCALE_DIT_ATTN_FP32, /* attention in fp32 (the ComfyUI port; "output_fp32attn") */
    UPSCALE_DIT_ATTN_BF16, /* q, k, v and the output rounded to bf16 like upstream flash-attn */
    UPSCALE_DIT_ATTN_COUNT
} upscale_dit_attn;

/* Receives named intermediates (golden names without the "fp32attn." prefix), for tests. */
typedef void (*upscale_dit_trace_fn)(void *ctx, const char *name, const float *data, int64_t n);

/* vid [L, vid_in] with L = sum t·h·w, txt [Lt, txt_in] with Lt = sum txt_len, both packed in
 * sample order; out [L, vid_out] (the velocity), same packing. WR_E_ARG for sizes that do not
 * fit the model. */
wr_status upscale_dit_forward(const upscale_dit *m, const upscale_dit_sample *samples, int batch, const float *vid,
                              const float *txt, upscale_dit_attn attn, float *out, upscale_dit_trace_fn trace,
                              void *trace_ctx);

/* The bytes upscale_dit_forward allocates for these samples (its activations and scratch; the
 * weights are the file's), for the memory planner. */
wr_status upscale_dit_workspace(const upscale_dit *m, const upscale_dit_sample *samples, int batch, size_t *bytes);

/* What one forward hands its ops, for the device planner (upscale_device_plan.h): on CUDA an op
 * copies its host operands (here: every activation) into device memory for its launch and frees
 * them after it, so the largest op's operands are on the device at once. */
#define UPSCALE_DIT_MATMUL_INPUTS 5
typedef struct upscale_dit_ops {
    size_t staged;        /* the largest single op's activation operands (inputs + output), bytes */
    int64_t window_rows;  /* the longest attention sequence (a window's video tokens + text) */
    int64_t matmul_in[UPSCALE_DIT_MATMUL_INPUTS][2]; /* the matmul inputs' [rows, K] shapes */
} upscale_dit_ops;
wr_status upscale_dit_op_sizes(const upscale_dit *m, const upscale_dit_sample *samples, int batch, upscale_dit_ops *o);

#endif
