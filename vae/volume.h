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
    float *d;    /* owned; a backend buffer when dev is set (runtime/buffers.h) */
    size_t acct; /* bytes counted by the memory accounting (0 for volumes made elsewhere) */
    int dev;     /* d is device memory: host code never reads it, ops use it in place */
} vae_vol;

/* ---- device-resident volumes ------------------------------------------------------------------
 * With vae_resident_set(1) on a backend whose buffers are not host memory (a GPU backend), new
 * volumes are backend buffers (dev = 1) and the volume ops below run as ops on them, so a decode
 * moves only its input and output frames. On the CPU backend, and in dry runs, the switch does
 * nothing: volumes stay host memory and every number (and the planner's counts) is unchanged.
 * Host code that must read a volume (a sink) copies it with vae_vol_download. */
void vae_resident_set(int on);
int vae_resident(void);
/* Tests: with on set, volumes stay host memory even where a decode turns residency on (every op
 * then stages its operands: the reference a resident run is compared with). */
void vae_set_host_volumes(int on);
/* Whether vae_vol_alloc makes device volumes now. */
int vae_resident_now(void);
/* A host copy of src (host or device; src->dev == 0 gives a plain copy). */
wr_status vae_vol_download(const vae_vol *src, vae_vol *host);
/* A volume of the current kind (device when resident) holding host volume src. */
wr_status vae_vol_upload(const vae_vol *src, vae_vol *out);
/* out = a copy of src, same kind as new volumes. */
wr_status vae_vol_clone(const vae_vol *src, vae_vol *out);
/* dst[c][dt0 .. dt0 + n) = src[c][st0 .. st0 + n) for every channel, whole frames: host or
 * device on either side (same C, H, W). */
void vae_vol_copy_frames(vae_vol *dst, int dt0, const vae_vol *src, int st0, int n);
/* dst[dc][dt] = src[sc][st]: one H·W plane, host or device on either side. */
void vae_vol_copy_plane(vae_vol *dst, int dc, int dt, const vae_vol *src, int sc, int st);

wr_status vae_vol_alloc(vae_vol *v, int c, int t, int h, int w);
/* As vae_vol_alloc, zero-filled. */
wr_status vae_vol_zeros(vae_vol *v, int c, int t, int h, int w);
void vae_vol_free(vae_vol *v);
static inline size_t vae_vol_size(const vae_vol *v) { return (size_t)v->c * v->t * v->h * v->w; }

/* ---- memory accounting and dry runs ----------------------------------------------------------
 * Every VAE activation, cache and scratch buffer goes through vae_vol_alloc / vae_scratch_alloc,
 * which count live bytes per thread (the VAE allocates only on the calling thread; the thread
 * pool workers never do). vae_mem_peak() is the high-water mark since vae_mem_reset_peak().
 * In a dry run (vae_dry_set(1)) nothing is allocated (data pointers stay NULL) and every VAE
 * function skips its arithmetic but allocates and frees exactly as a real run: that is how
 * vae_plan.c measures the peak of a 720p x 81 decode without computing it. */
void vae_dry_set(int dry);
int vae_dry(void);
size_t vae_mem_current(void);
size_t vae_mem_peak(void);
void vae_mem_reset_peak(void);
/* The largest set of operands (inputs, weights, output) one op was handed since
 * vae_op_reset_peak, in real and dry runs alike: a GPU backend stages host operands per op, so
 * this is what one op puts on the device (upscale/upscale_device_plan.h). */
void vae_op_note(size_t bytes);
size_t vae_op_peak(void);
void vae_op_reset_peak(void);
/* Counted malloc (NULL in a dry run, and on failure outside one: check vae_dry()). */
void *vae_scratch_alloc(size_t bytes);
void vae_scratch_free(void *p, size_t bytes);

/* out = src[:, t0 : t0 + nt, y0 : y0 + nh, x0 : x0 + nw] (a new volume; the window must lie
 * inside src). */
wr_status vae_vol_crop(const vae_vol *src, int t0, int nt, int y0, int nh, int x0, int nw, vae_vol *out);
/* dst[:, t0 : t0 + src->t] = src (same C, H, W). */
void vae_vol_put_frames(vae_vol *dst, int t0, const vae_vol *src);

/* Where a streamed decode delivers its frames: fn(ctx, frames, t0) gets video frames
 * [3, n, H, W] (n >= 1; one at a time from the untiled decoders) that are frames t0 .. t0 + n − 1
 * of the output, in order. The volume is only valid during the call. */
typedef struct vae_sink {
    wr_status (*fn)(void *ctx, const vae_vol *frames, int t0);
    void *ctx;
} vae_sink;

/* A sink that copies the frames into *(vae_vol *)ctx, allocated by the caller. */
wr_status vae_sink_into_vol(void *ctx, const vae_vol *frames, int t0);

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
