/* SeedVR2 DiT internals shared by the weight binding (svr_dit_weights.c), the window
 * attention (svr_dit_attn.c) and the forward pass (svr_dit.c). Matrices keep their file dtype
 * and point into the mapping; vectors are F32 copies owned by the model. */
#ifndef UPSCALE_SVR_DIT_INTERNAL_H
#define UPSCALE_SVR_DIT_INTERNAL_H

#include <stdbool.h>

#include "runtime/buffers.h"
#include "upscale/svr_dit.h"
#include "upscale/svr_dit_window.h"

/* window=(4, 3, 3) windows per 720p along (t, h, w) in every layer of both configs */
#define SVR_DIT_NUM_WINDOWS {4, 3, 3}

enum { ADA_ATTN, ADA_MLP, ADA_LAYERS };
enum { ADA_SHIFT, ADA_SCALE, ADA_GATE, ADA_KINDS };

/* One stream's weights in a block ("vid", "txt" or the shared "all"). */
typedef struct svr_branch {
    wr_tensor qkv;                 /* attn.proj_qkv.B.weight [3·inner, dim], no bias */
    wr_tensor proj_out, proj_out_b; /* attn.proj_out.B.{weight [dim, inner], bias [dim]} */
    wr_tensor norm_q, norm_k;      /* attn.norm_{q,k}.B.weight [head_dim] (F32) */
    bool has_ada, has_mlp;         /* false for the 3B last layer's text stream */
    wr_tensor ada[ADA_LAYERS][ADA_KINDS]; /* ada.B.{attn,mlp}_{shift,scale,gate} [dim] (F32) */
    wr_tensor mlp_in, mlp_gate, mlp_out; /* mlp.B.proj_in[_gate] [hidden, dim], proj_out [dim, hidden] */
    wr_tensor mlp_in_b, mlp_out_b; /* 7B only: biases (F32); data NULL on the 3B */
} svr_branch;

typedef struct svr_block {
    svr_branch vid, txt; /* shared layers: txt is a copy of vid (svr_dit_share_txt), the ".all" tensors */
    float *freqs;        /* attn.rope.rope.freqs [rope_freqs] (F32; read by host code, never placed) */
    bool shifted;        /* odd layers: the half-shifted window layout */
    bool shared;         /* layer >= mm_layers: one ".all" weight set for both streams */
} svr_block;

struct upscale_dit {
    upscale_dit_config cfg;
    const wr_weightfile *wf;
    wr_tensor vid_in, vid_in_b;   /* vid_in.proj [dim, 4·vid_in] */
    wr_tensor txt_in, txt_in_b;   /* txt_in [dim, txt_in] */
    wr_tensor emb_in, emb_in_b, emb_hid, emb_hid_b, emb_out, emb_out_b; /* emb_in.proj_{in,hid,out} */
    wr_tensor out_norm;           /* 3B: vid_out_norm.weight [dim] (F32) */
    wr_tensor out_shift, out_scale; /* 3B: vid_out_ada.out_{shift,scale} [dim] (F32) */
    wr_tensor vid_out, vid_out_b; /* vid_out.proj [4·vid_out, dim] */
    wr_tensor ones;               /* F32 [dim] of 1: the parameter-free RMSNorm */
    svr_block *blocks;
    wr_dtype described;      /* upscale_dit_describe: the matrices' dtype (no file, NULL data) */
    wr_placement *placement; /* upscale_dit_place: group 0 outside the blocks, 1 + l block l */
    void **owned;
    int n_owned, owned_cap;
};

/* A shared layer's text stream reads the ".all" tensors of its video stream: txt becomes a copy
 * of vid (data pointers included) that keeps its own has_ada/has_mlp (the 3B's last layer). Done
 * at binding and again whenever placement moves the vid tensors, so the pair is placed once. */
void svr_dit_share_txt(svr_block *b);

/* wr_placement_use for group g (0: outside the blocks, 1 + l: block l), then the shared layer's
 * text tensors follow the placed ones. Nothing on the CPU backend or unplaced. */
void svr_dit_use(const upscale_dit *m, int g);

/* Scratch of the window attention, sized once per forward by svr_dit_attention_size. */
typedef struct svr_attn_scratch {
    int64_t max_rows;         /* largest window's video tokens + its sample's text */
    int64_t max_txt;          /* longest text */
    int max_win;              /* most windows of one sample in either layout */
    float *q, *k, *v, *o;     /* [max_rows, inner] each: one window's gathered sequence */
    double *acc;              /* [max_txt, inner]: text outputs summed over the windows */
    upscale_dit_window *wins; /* [max_win] */
} svr_attn_scratch;

/* Fills the max_* sizes for these samples (both window layouts). */
wr_status svr_dit_attention_size(const upscale_dit_sample *samples, int batch, svr_attn_scratch *sc);

/* The window attention of one block over the packed batch: qkv [L, 3·inner] (vid) and
 * [Lt, 3·inner] (txt) in, already projected; q/k-normed, rotated and attended per window.
 * Writes attn_vid [L, inner] and attn_txt [Lt, inner] (text: mean over the windows). */
void svr_dit_attention(const upscale_dit *m, const svr_block *blk, const upscale_dit_sample *samples, int batch,
                       float *qkv_vid, float *qkv_txt, upscale_dit_attn mode, const svr_attn_scratch *sc,
                       float *attn_vid, float *attn_txt);

#endif
