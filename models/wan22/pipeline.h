/* The generation pipeline: prompt (+ image) -> latent -> video, as the official Wan 2.2
 * generate scripts and the WanVideoWrapper run it, on the CPU backend.
 *
 * Modes: t2v (noise only), i2v (start image), flf2v (start + end image, the Wan 2.1
 * first-last-frame conditioning), ti2v (TI2V-5B with the Wan 2.2 VAE). A14B runs two experts:
 * the high-noise model for the first steps (--split K, or the official boundary t >= 0.875·1000
 * for T2V, 0.9·1000 for I2V), then the low-noise model; only one expert's weights are bound
 * at a time. CFG per step: v = v_u + g·(v_c − v_u), the unconditional pass skipped where g = 1. */
#ifndef WAN22_PIPELINE_H
#define WAN22_PIPELINE_H

#include <stdint.h>

#include "models/wan22/sched.h"
#include "vae/tiling.h"
#include "vae/volume.h"

typedef enum wan22_mode { WAN22_MODE_T2V, WAN22_MODE_I2V, WAN22_MODE_FLF2V, WAN22_MODE_TI2V, WAN22_MODE_COUNT } wan22_mode;

const char *wan22_mode_name(wan22_mode m);
bool wan22_mode_parse(const char *name, wan22_mode *out);

#define WAN22_MAX_CFG 1000
#define WAN22_MAX_LORAS 16

typedef struct wan22_lora_ref {
    const char *path;
    float strength;
    int experts; /* bit 0: high-noise expert, bit 1: low-noise expert */
} wan22_lora_ref;

/* Parses "FILE[:STRENGTH][@high|@low]" (the CLI's --lora); text is modified in place. */
wr_status wan22_lora_ref_parse(char *text, wan22_lora_ref *out);

typedef struct wan22_gen {
    wan22_mode mode;
    const char *high_noise, *low_noise; /* A14B experts (low may be NULL: high runs all steps) */
    const char *t5, *tokenizer, *vae;
    const char *prompt, *negative_prompt; /* negative NULL: the official default */
    const char *image, *end_image;
    const struct wr_frames *image_frames; /* in-memory start image (1 frame), used instead of image */
    const char *noise_file;               /* optional safetensors with "noise" [16, T, h, w] */
    int width, height, frames;
    int steps, split;                     /* split < 0: by boundary */
    double shift, boundary;               /* boundary <= 0: the mode's official value */
    wan22_sampler sampler;
    float cfg[WAN22_MAX_CFG];
    int n_cfg;                            /* 1: constant, else one per step */
    float cfg_high, cfg_low;              /* per-expert constants (official guide_scale pair); */
    int per_expert_cfg;                   /* used instead of cfg[] when set */
    uint64_t seed;
    int text_len;                         /* 0: from the DiT file (metadata) or 512 */
    const char *text_cache;               /* folder caching text-encoder outputs, or NULL */
    wan22_lora_ref loras[WAN22_MAX_LORAS];
    int n_loras;
    vae_tiling vae_tile;                  /* spatial tiling of the final decode (mode 0 = off) */
    /* GPU memory (a backend with buffers): the DiT's last block_swap blocks are block-swapped;
     * -1 = the fewest that fit vram (models/wan22/dit_plan.h), 0 without a budget. */
    int block_swap;
    size_t vram;                          /* bytes; 0: no budget */
    /* With sage attention (wr_attention_mode_set): dense attention for the first steps of the run
     * and the first blocks of every step, where quantisation errors weigh most. */
    int dense_attention_steps, dense_attention_blocks;
} wan22_gen;

/* Stages: "text", "vae-encode", "denoise-high", "denoise-low", "preview", "vae-decode".
 * progress is called with step 0 when a stage starts and step k (of total, counted within the
 * stage) after each unit of work; seconds since wan22_generate began. preview is called after
 * every preview_every-th global step and after the last one with the denoised estimate
 * x0 = x − σ·v and its preview frames (pipeline_preview.h); nothing is computed without it. */
typedef void (*wan22_progress_fn)(void *ctx, const char *stage, int step, int total, double seconds);
typedef void (*wan22_preview_fn)(void *ctx, int step, int total, const vae_vol *x0, const vae_vol *frames);

typedef struct wan22_hooks {
    wan22_progress_fn progress;
    wan22_preview_fn preview;
    int preview_every; /* <= 0: only after the last step */
    void *ctx;
} wan22_hooks;

/* Checks sizes, modes and that every file opens, before any heavy work. */
wr_status wan22_gen_validate(const wan22_gen *g);

/* Runs everything; video receives [3, frames, height, width] clamped to [−1, 1]; latent (if
 * not NULL) the final latent. hooks may be NULL. When wr_interrupted() turns true the loop
 * stops after the current step with WR_E_INTERRUPTED, and latent still receives the latent
 * reached so far (video stays empty). */
wr_status wan22_generate(const wan22_gen *g, const wan22_hooks *hooks, vae_vol *video, vae_vol *latent);

extern const char *const wan22_default_negative_prompt;

/* I2V / FLF2V conditioning from the prepared VAE input video [3, F, H, W] (start image as frame
 * 0, zeros, and for FLF2V the end image as the last frame): y = cat(mask [4, T, h, w], latent
 * [16, T, h, w]) as WanI2V.generate builds it (../shared/golden/README.md section 6). */
typedef struct vae21 vae21;
wr_status wan22_cond_from_video(const vae21 *vae, const vae_vol *video, int flf2v, float **y);

#endif
