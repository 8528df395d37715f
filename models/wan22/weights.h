/* Wan DiT weights bound from a file through one table (STYLE.md 9.7). Matrices keep their file
 * dtype (BF16, F8 + scale, Q8_0, ...) and point into the mapping; vectors (biases, norm
 * weights, modulation tables) are converted once to F32 copies owned here. Shapes are in
 * PyTorch order in the comments. */
#ifndef WAN22_WEIGHTS_H
#define WAN22_WEIGHTS_H

#include "models/wan22/config.h"
#include "runtime/buffers.h"

typedef struct wan22_attn {
    wr_tensor q, k, v, o;         /* {self,cross}_attn.{q,k,v,o}.weight [dim, dim] */
    wr_tensor q_b, k_b, v_b, o_b; /* .bias [dim] (F32) */
    wr_tensor norm_q, norm_k;     /* .norm_q.weight, .norm_k.weight [dim] (F32): RMSNorm over dim */
} wan22_attn;

typedef struct wan22_block {
    wr_tensor modulation;  /* blocks.N.modulation [1, 6, dim] (F32) */
    wan22_attn self_attn;  /* blocks.N.self_attn.* */
    wr_tensor norm3_w, norm3_b; /* blocks.N.norm3.{weight,bias} [dim] (F32): affine LN before cross-attn */
    wan22_attn cross_attn; /* blocks.N.cross_attn.* */
    wr_tensor ffn0, ffn0_b; /* blocks.N.ffn.0.{weight [ffn, dim], bias [ffn]} */
    wr_tensor ffn2, ffn2_b; /* blocks.N.ffn.2.{weight [dim, ffn], bias [dim]} */
} wan22_block;

/* A LoRA applied as a low-rank side path: y += (x · downᵀ) · upᵀ, with up already scaled by
 * strength · alpha / rank (models/wan22/lora.c). The base weight stays in its file dtype. */
typedef struct wan22_lora_term {
    const wr_tensor *target; /* the weight it adds to */
    wr_tensor down;          /* F32 [rank, in] */
    wr_tensor up;            /* F32 [out, rank], scaled */
} wan22_lora_term;

typedef struct wan22_weights {
    wan22_config cfg;
    wr_tensor patch;     /* patch_embedding.weight viewed as [dim, in_dim·2·2] */
    wr_tensor patch_b;   /* patch_embedding.bias [dim] (F32) */
    wr_tensor text0, text0_b, text2, text2_b; /* text_embedding.{0,2}: [dim, text_dim], [dim, dim] */
    wr_tensor time0, time0_b, time2, time2_b; /* time_embedding.{0,2}: [dim, freq_dim], [dim, dim] */
    wr_tensor tproj, tproj_b; /* time_projection.1: [6·dim, dim] */
    wr_tensor head_mod;  /* head.modulation [1, 2, dim] (F32) */
    wr_tensor head, head_b; /* head.head: [out_dim·4, dim] */
    wan22_block *blocks; /* num_layers */
    void **owned;        /* F32 copies and merged weights */
    int n_owned, owned_cap;
    wan22_lora_term *lora; /* low-rank side paths, several per target when LoRAs stack */
    int n_lora, lora_cap;
    /* run settings */
    int ffn_chunk;            /* rows per FFN chunk (0: WAN22_FFN_CHUNK_DEFAULT) */
    int max_t_runs;           /* runs of equal timesteps kept as modulation rows (0: WAN22_MAX_T_RUNS) */
    int dense_attention_blocks; /* the first blocks of every forward attend densely (sage runs) */
    wr_placement *placement;  /* wan22_weights_place: group 0 globals, 1 + l block l; NULL: in place */
    struct wan22_run *run;    /* what forwards on a device keep between calls (models/wan22/dit.c) */
} wan22_weights;

/* Binds every tensor of the model from wf (which must outlive the weights). Errors name the
 * missing tensor or the shape / dtype that does not fit, and the file. */
wr_status wan22_weights_bind(wan22_weights *w, const wr_weightfile *wf, int text_len_override);
/* Accepts a zeroed struct. */
void wan22_weights_free(wan22_weights *w);

/* The bound tensor with this official name ("blocks.3.ffn.0.weight"), NULL if none; *vector
 * is set when it is an F32 copy owned by the weights (biases, norms, modulation). */
wr_tensor *wan22_weights_tensor(wan22_weights *w, const char *name, int *vector);

/* Every tensor the forward reads (LoRA side paths included) with its placement group: 0 for the
 * tensors outside the blocks, 1 + l for block l. Arrays malloc'd; *n set. */
wr_status wan22_weights_list(wan22_weights *w, wr_tensor ***tensors, int **groups, int *n);
/* Places the weights for the current backend (runtime/buffers.h), the last swap_blocks blocks
 * block-swapped (as WanVideoWrapper's blocks_to_swap). A no-op on the CPU backend. */
wr_status wan22_weights_place(wan22_weights *w, int swap_blocks);
/* Undoes wan22_weights_place (tensors back in host memory). */
void wan22_weights_unplace(wan22_weights *w);
/* Fills w with the tensors a file of this config would have (shapes from the binding table, data
 * NULL): matrices in matrix_dtype where their rows fit its blocks (else F16), the patch conv in
 * F32 unless matrix_dtype is 16-bit (as the GGUF converters keep 5-D tensors), vectors F32 as bound. For the memory planner before anything is downloaded. */
wr_status wan22_weights_describe(const wan22_config *cfg, wr_dtype matrix_dtype, wan22_weights *w);

/* Hands a malloc'd buffer to the weights (freed by wan22_weights_free). */
wr_status wan22_weights_own(wan22_weights *w, void *p);

#endif
