/* LoRA for the Wan DiT, applied at load with a strength (several files stack).
 *
 * Formats (../shared/specs/ecosystem.md 3.4): ComfyUI/Kijai `diffusion_model.blocks.N.M.
 * lora_down.weight` / `lora_up.weight` / `alpha` (int or float), PEFT `lora_A` / `lora_B`
 * (also `.default.` and `base_model.model.` variants), kohya `lora_unet_blocks_N_M`, and full
 * deltas `.diff` (weights) / `.diff_b` (biases) / `.diff_m` (modulation).
 * Math (ComfyUI comfy/lora.py): W' = W + strength · (alpha / rank) · up · down, alpha/rank = 1
 * without alpha; diff: W' = W + strength · diff.
 *
 * Choice: low-rank pairs stay a side path in every linear (y += (x·downᵀ)·upᵀ), so quantized
 * and fp8 base weights are never expanded or re-quantised and strengths can change per run;
 * full deltas on biases/norms/modulation are added to their F32 copies; a full `.diff` on a
 * matrix is merged into an F32 copy of that one matrix. */
#ifndef WAN22_LORA_H
#define WAN22_LORA_H

#include <stddef.h>

#include "models/wan22/weights.h"

typedef struct wan22_lora_report {
    int applied;          /* targets changed */
    int unmatched;        /* keys that matched no model tensor */
    char first_unmatched[512]; /* the first few such names, comma-separated */
} wan22_lora_report;

wr_status wan22_lora_apply(wan22_weights *w, const wr_weightfile *lora, float strength, wan22_lora_report *report);

#endif
