/* SeedVR2 VAE building blocks (private to upscale/svr_vae*.c): the causal conv with its
 * chunk cache, per-frame GroupNorm, ResnetBlock3D, the per-frame mid-block attention and the
 * MAGViT-style upsampler. Forward functions replace *x with their result. */
#ifndef UPSCALE_SVR_VAE_BLOCKS_H
#define UPSCALE_SVR_VAE_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/io/weightfile.h"
#include "vae/volume.h"

typedef struct svr_conv {
    wr_tensor w; /* file dtype, [Cout, Cin, kt, kh, kw] */
    wr_tensor b; /* F32 [Cout] */
    int kt, cin, cout;
    int slot;    /* index of this conv's carried frames in svr_run */
} svr_conv;

typedef struct svr_norm {
    const float *w, *b; /* F32 [C] */
    int c;
} svr_norm;

typedef struct svr_res {
    svr_norm n1, n2;
    svr_conv c1, c2, sc;
    bool has_sc;
} svr_res;

typedef struct svr_attn {
    svr_norm gn;
    wr_tensor wq, wk, wv, wo; /* file dtype, 2-D [C, C] views */
    wr_tensor bq, bk, bv, bo; /* F32 [C] */
    int c;
} svr_attn;

typedef struct svr_mid {
    svr_res r0, r1;
    svr_attn attn;
} svr_mid;

/* Upsample3D: 1x1x1 upscale_conv C -> C·4·z, depth-to-space, then a causal 3x3x3 conv. */
typedef struct svr_up {
    svr_conv expand, conv;
    int z; /* 2: temporal ×2 as well */
} svr_up;

/* State of one chunked pass: per conv, the input frames the next chunk starts from. */
typedef struct svr_run {
    vae_vol *carry; /* [n_slots] */
    int n_slots;
    bool first;     /* the chunk holds the clip's first frame */
    int groups;
} svr_run;

wr_status svr_run_init(svr_run *r, int n_slots, int groups);
void svr_run_free(svr_run *r);

/* Binding: the file, F32 copies of small vectors, and the slot counter. */
typedef struct svr_binder {
    const wr_weightfile *wf;
    void **owned;
    int n_owned, cap;
    int n_slots;
} svr_binder;

void svr_binder_free(svr_binder *b);
wr_status svr_bind_conv(svr_binder *b, const char *prefix, int cout, int cin, int kt, int k, svr_conv *c);
wr_status svr_bind_norm(svr_binder *b, const char *prefix, int c, svr_norm *n);
wr_status svr_bind_res(svr_binder *b, const char *prefix, int cin, int cout, svr_res *r);
wr_status svr_bind_mid(svr_binder *b, const char *prefix, int c, svr_mid *m);
/* The tensor `name` of the bound file (any known prefix spelling); NULL when absent. */
const wr_wtensor *svr_find(const svr_binder *b, const char *name);

/* y = causal conv of x with temporal stride st, spatial stride ss and zero padding
 * (top, bottom, left, right) = sp; front frames are copies of frame 0 on the first chunk,
 * the carried frames after it. */
/* Largest im2col buffer one conv call may use before it works in bands of output rows
 * (default 256 MiB; tests lower it to exercise the banded path). */
extern size_t svr_conv_band_bytes;
wr_status svr_conv_forward(svr_run *r, const svr_conv *c, int st, int ss, vae_pad sp, vae_vol *x);
/* In place: GroupNorm (per frame, eps 1e-6, affine), then SiLU when silu is set. */
void svr_group_norm(const svr_run *r, vae_vol *x, const svr_norm *n, bool silu);
wr_status svr_res_forward(svr_run *r, const svr_res *res, vae_vol *x);
wr_status svr_attn_forward(const svr_run *r, const svr_attn *a, vae_vol *x);
wr_status svr_mid_forward(svr_run *r, const svr_mid *m, vae_vol *x);
wr_status svr_up_forward(svr_run *r, const svr_up *u, vae_vol *x);

#endif
