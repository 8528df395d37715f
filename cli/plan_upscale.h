/* `wanrt plan upscale` (cli/plan_upscale.c): the host memory of each stage and the device plan. */
#ifndef WR_CLI_PLAN_UPSCALE_H
#define WR_CLI_PLAN_UPSCALE_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/err.h"
#include "runtime/ops.h"
#include "upscale/upscale.h"

typedef struct plan_upscale_args {
    const char *in;               /* a video or frame folder (its size) ... */
    int w, h;                     /* ... or --size WxH */
    const char *model;            /* the DiT file ... */
    const char *config, *weights; /* ... or a released config (3b|7b) in a weight format */
    const char *vae, *text;       /* the VAE file (optional with --config), the text embedding */
    upscale_opts up;
    size_t vram;                  /* 0: no budget */
    int block_swap;               /* -1: choose */
    wr_attention_mode attention;
    bool sage_pv_f8, act_quant, json;
} plan_upscale_args;

/* The bytes of a file's tensors (what a run maps or loads); 0 for a NULL path. */
wr_status plan_file_weight_bytes(const char *path, size_t *bytes);

/* Prints the plans; a run that cannot fit the budget is WR_E_OOM after the plan is printed. */
wr_status plan_upscale_run(plan_upscale_args *a);

#endif
