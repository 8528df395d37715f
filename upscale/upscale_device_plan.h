/* The device memory of `wanrt upscale` on a GPU, computed before anything is allocated, and the
 * block swap that makes the SeedVR2 DiT fit a budget (`wanrt plan upscale --vram`, `wanrt
 * upscale --vram/--block-swap`). After models/wan22/dit_plan.h.
 *
 * What is on the device during a run:
 *   - the DiT's weights, placed for the whole run (upscale_dit_place): resident groups, plus two
 *     slots when blocks are swapped; numbers from upscale_dit_list and wr_placed_bytes, i.e. what
 *     the placement uploads;
 *   - per stage, what its ops stage: the DiT's activations and the whole VAE live in host memory
 *     (host code works on them between ops), so each op copies its host operands in and frees
 *     them after it; the largest op of a stage is its device peak (upscale_dit_op_sizes for the
 *     DiT, vae_op_peak from the VAE dry runs of upscale_plan_batch), plus the launchers'
 *     workspaces (sage attention, act-quant matmuls);
 *   - the driver context and allocator slack (WR_DEVICE_RESERVE, the one estimate).
 * The stages run one after another: peak = reserve + placed weights + the largest stage. */
#ifndef UPSCALE_UPSCALE_DEVICE_PLAN_H
#define UPSCALE_UPSCALE_DEVICE_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/ops.h"
#include "upscale/svr_dit.h"
#include "upscale/upscale.h"

/* One batch as the models see it. */
typedef struct upscale_device_job {
    int lat_t, lat_h, lat_w; /* the DiT's latent grid */
    int txt_len;             /* text tokens (pos_emb.pt: 58) */
    size_t vae_encode_op, vae_decode_op; /* upscale_plan's largest VAE op operands (0: not planned) */
} upscale_device_job;

typedef struct upscale_device_opts {
    int block_swap;  /* blocks to swap; -1: the fewest that fit `vram` */
    size_t vram;     /* the budget in bytes; 0: no limit */
    size_t reserve;  /* 0: WR_DEVICE_RESERVE */
    wr_attention_mode attention;
    bool sage_pv_f8; /* sm_89+: sage's fp8 P·V workspace */
    bool act_quant;  /* WANRT_GPU_PRECISION=int8|fp8: quantised matmul inputs */
} upscale_device_opts;

typedef struct upscale_device_plan {
    int blocks, block_swap;
    size_t weights_device;    /* every placed DiT weight */
    size_t weights_host_only; /* DiT matrices in a dtype without a GPU matmul (stay on the host, CPU matmul) */
    size_t resident;          /* device: group 0 + the blocks not swapped */
    size_t slots;             /* device: the two swap slots */
    size_t pinned;            /* host: the swapped blocks */
    size_t dit_staged, dit_workspace; /* the DiT's largest op operands and launcher workspace */
    size_t vae_encode_staged, vae_decode_staged;
    size_t stage;             /* the largest of the three stages */
    const char *peak_stage;
    size_t reserve;
    size_t peak;              /* reserve + resident + slots + stage */
    bool fits;                /* peak <= vram (true without a budget) */
} upscale_device_plan;

/* WR_E_ARG for a job the DiT cannot run or a block swap above its block count; not fitting is
 * not an error (fits false, block_swap the most that was tried). */
wr_status upscale_plan_device(const upscale_dit *dit, const upscale_device_job *job, const upscale_device_opts *o,
                              upscale_device_plan *p);

/* `wanrt upscale --vram/--block-swap`: plans a batch of in_w x in_h frames under o (with the VAE
 * dry runs of upscale_plan_batch) and places the DiT for the run with the block swap asked
 * (block_swap >= 0) or the fewest that fit vram (block_swap -1; no budget: all resident). On the
 * CPU backend nothing is placed, and a budget or a block swap is WR_E_ARG; a plan that does not
 * fit is WR_E_OOM naming the peak. p (may be NULL) gets the plan. */
wr_status upscale_place_for_run(upscale_dit *dit, const upscale_models *m, int in_w, int in_h, const upscale_opts *o,
                                int block_swap, size_t vram, upscale_device_plan *p);

#endif
