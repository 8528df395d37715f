/* Video activations for the VAEs: one sample, channel-major [C, T, H, W] float32 (PyTorch
 * order without the batch dimension), and the ops the VAEs need on them. All ops write a
 * caller-provided or freshly allocated volume; *_alloc functions return WR_E_OOM on failure. */
#ifndef VAE_VOLUME_H
#define VAE_VOLUME_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"
#include "runtime/tensor.h"

typedef struct vae_vol {
    int c, t, h, w;
    float *d; /* owned */
} vae_vol;

wr_status vae_vol_alloc(vae_vol *v, int c, int t, int h, int w);
void vae_vol_free(vae_vol *v);
static inline size_t vae_vol_size(const vae_vol *v) { return (size_t)v->c * v->t * v->h * v->w; }

/* Padding of a 3-D convolution: zeros before the first frame (causal), around the plane. */
typedef struct vae_pad {
    int t_front;
    int top, bottom, left, right;
} vae_pad;

/* out = conv3d(in) with weight [O, C, kt, kh, kw] (any float dtype, contiguous), bias F32
 * [O] or NULL, strides (st, sh, sw), and `pad`; out is allocated here.
 * (torch.nn.functional.conv3d on the zero-padded input.) */
wr_status vae_conv3d(const vae_vol *in, const wr_tensor *weight, const wr_tensor *bias, int st, int sh, int sw,
                     vae_pad pad, vae_vol *out);

/* In place: x / max(‖x‖₂ over channels, 1e-12) · √C · gamma[c] (Wan's RMS_norm), then SiLU
 * when silu is set. gamma F32 [C]. */
void vae_rms_norm(vae_vol *x, const float *gamma, int silu);

/* Nearest ×2 upsampling of every frame (nearest-exact at scale 2 is plain duplication). */
wr_status vae_upsample2x(const vae_vol *in, vae_vol *out);

/* x += y elementwise (same shape). */
void vae_add(vae_vol *x, const vae_vol *y);

#endif
