/* The DiT device-memory part of `wanrt plan generate` (cli/plan_dit.c). */
#ifndef WR_CLI_PLAN_DIT_H
#define WR_CLI_PLAN_DIT_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/err.h"
#include "runtime/ops.h"
#include "vae/tiling.h"
#include "runtime/tensor.h"

typedef struct plan_dit_args {
    const char *config, *weights; /* a named config and weight format ... */
    const char *model;            /* ... or a model file */
    int width, height, frames;
    size_t vram;                  /* 0: no budget */
    int block_swap;               /* -1: choose */
    int ffn_chunk;                /* 0: choose */
    wr_attention_mode attention;
    bool sage_pv_f8, act_quant, json;
    const vae_tiling *vae_tile;   /* the final decode's tiling (NULL: untiled) */
} plan_dit_args;

/* Prints the plan of a generate run on a GPU, stage by stage: the VAE encode of i2v/ti2v
 * conditioning and the final decode (their ops are staged one at a time: the largest op's
 * operands, from the VAE planner's dry runs of the official config) and the DiT (one expert
 * placed). A run that cannot fit the budget is WR_E_OOM after the plan is printed. */
wr_status plan_dit_device(const plan_dit_args *a);

/* The dtype of a --weights name: bf16, fp16, fp8, q8_0, q4_k, ... (any dtype name). */
wr_status plan_weights_dtype(const char *name, wr_dtype *dt);

/* "24", "12.5G", "800M" -> bytes (a bare number is GiB); false with a message naming flag. */
bool plan_parse_bytes(const char *flag, const char *text, size_t *out);

#endif
