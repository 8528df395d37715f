/* Building blocks shared by the Wan 2.1 and 2.2 VAEs (wan/modules/vae2_{1,2}.py): causal
 * convolutions, residual blocks, the per-frame attention block and the spatial/temporal
 * resamplers, with their weight binding. Forward functions replace *x with the result and run
 * on the whole sequence; vae21.h explains why that equals the official chunked caches. */
#ifndef VAE_BLOCKS_H
#define VAE_BLOCKS_H

#include "runtime/io/weightfile.h"
#include "vae/volume.h"

typedef struct vae_conv {
    wr_tensor w, b; /* weight in file dtype; bias F32 */
} vae_conv;

typedef struct vae_resblock {
    float *g0, *g1; /* residual.0.gamma, residual.3.gamma [C] */
    vae_conv c0, c1; /* residual.2, residual.6 */
    vae_conv sc;     /* shortcut (1x1x1) when in != out */
    int has_sc;
} vae_resblock;

typedef struct vae_attnblock {
    float *gamma;       /* norm.gamma [C] */
    vae_conv qkv, proj; /* to_qkv [3C, C, 1, 1], proj [C, C, 1, 1] */
} vae_attnblock;

typedef enum vae_layer_kind { VAE_RES, VAE_DOWN2D, VAE_DOWN3D, VAE_UP2D, VAE_UP3D } vae_layer_kind;

typedef struct vae_layer {
    vae_layer_kind kind;
    vae_resblock res;
    vae_conv spatial, time; /* resample.1, time_conv */
} vae_layer;

/* Binding state: the file and the F32 copies of gammas and biases. */
typedef struct vae_binder {
    const wr_weightfile *wf;
    void **owned;
    int n_owned, cap;
} vae_binder;

void vae_binder_free(vae_binder *m);
wr_status vae_bind_conv(vae_binder *m, const char *prefix, int cout, int cin, vae_conv *c);
wr_status vae_bind_gamma(vae_binder *m, const char *name, int c, float **out);
wr_status vae_bind_res(vae_binder *m, const char *prefix, int cin, int cout, vae_resblock *r);
wr_status vae_bind_attn(vae_binder *m, const char *prefix, int c, vae_attnblock *a);

wr_status vae_replace(vae_vol *x, vae_vol *y);
wr_status vae_conv_causal(vae_vol *x, const vae_conv *c);
wr_status vae_res_forward(vae_vol *x, const vae_resblock *r);
wr_status vae_attn_forward(vae_vol *x, const vae_attnblock *a);
wr_status vae_down_forward(vae_vol *x, const vae_layer *l);
wr_status vae_up_forward(vae_vol *x, const vae_layer *l);

#endif
