/* The device memory of a Wan DiT run on a GPU, computed before anything is allocated, and the
 * block swap / FFN chunking that make it fit a budget (`wanrt plan generate`, `--vram`).
 *
 * Every number comes from the code that allocates it: the activation arena from
 * wan22_dit_workspace, the weights from the binding table through wan22_weights_list and
 * wr_placed_bytes (what wan22_weights_place uploads), the RoPE tables and the launchers'
 * workspaces from the GPU backend's own size functions. Only the driver's context (`reserve`)
 * is an estimate. One expert is planned: the pipeline places one at a time. */
#ifndef WAN22_DIT_PLAN_H
#define WAN22_DIT_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "models/wan22/weights.h"
#include "runtime/ops.h"

typedef struct wan22_plan_opts {
    int width, height, frames; /* the video in pixels */
    int ffn_chunk;             /* rows per FFN chunk; 0: choose (the default, smaller only to fit) */
    int block_swap;            /* blocks to swap; -1: the fewest that fit `vram` */
    size_t vram;               /* the budget in bytes; 0: no limit */
    wr_attention_mode attention;
    bool sage_pv_f8;           /* sm_89+: the fp8 P·V variant's extra V codes */
    bool act_quant;            /* WANRT_GPU_PRECISION=int8|fp8: quantised activations of the matmuls */
    size_t reserve;            /* 0: WR_DEVICE_RESERVE (runtime/buffers.h) */
} wan22_plan_opts;

typedef struct wan22_plan {
    int lat_f, lat_h, lat_w;   /* latent grid */
    long long tokens;
    int blocks, block_swap, ffn_chunk;
    size_t weights_device;     /* every weight with a GPU kernel, as placed */
    size_t weights_host_only;  /* weights whose dtype has no GPU matmul (stay in host memory) */
    size_t resident;           /* device: globals + blocks not swapped */
    size_t slots;              /* device: the two swap slots */
    size_t pinned;             /* host: the swapped blocks */
    size_t arena, rope, workspace, reserve;
    size_t peak;               /* the device peak: resident + slots + arena + rope + workspace + reserve */
    bool fits;                 /* peak <= vram (true without a budget) */
} wan22_plan;

/* Plans a run of the model described by w (bound from a file, or wan22_weights_describe). An
 * impossible size is WR_E_ARG; not fitting is not an error (p->fits false, p->block_swap the
 * most that was tried). */
wr_status wan22_plan_dit(const wan22_weights *w, const wan22_plan_opts *o, wan22_plan *p);

/* The latent grid of a video: the VAE stride (8 for the A14B models' Wan 2.1 VAE, 16 for the
 * 5B's Wan 2.2 VAE) and the patch of 2 must divide width and height; frames = 4k + 1. */
wr_status wan22_latent_grid(const wan22_config *c, int width, int height, int frames, int *f, int *h, int *w);

#endif
