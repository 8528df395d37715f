/* Weight placement of a resident VAE pass (runtime/buffers.h): the conv weights, biases and norm
 * gammas one pass uses go to device memory once, in one resident group, so no op of the pass
 * stages a weight. The model's tensors (and gamma pointers) are redirected while placed and
 * restored by vae_placed_free. Only for passes whose volumes are all on the device (a host norm
 * would read a placed gamma). On the CPU backend placement does nothing. */
#ifndef VAE_PLACE_H
#define VAE_PLACE_H

#include "runtime/buffers.h"
#include "vae/vae_blocks.h"

#define VAE_PLACE_MAX 512
#define VAE_GAMMA_MAX 96

typedef struct vae_placed {
    wr_placement *p;
    wr_tensor *ts[VAE_PLACE_MAX]; /* the model's tensors, then gt */
    int n;
    float **gfield[VAE_GAMMA_MAX]; /* the model's gamma pointers, redirected while placed */
    wr_tensor gt[VAE_GAMMA_MAX];   /* F32 [C] views of those gammas */
    int ng;
} vae_placed;

void vae_placed_add_conv(vae_placed *pl, vae_conv *c);
void vae_placed_add_gamma(vae_placed *pl, float **g, int c);
void vae_placed_add_res(vae_placed *pl, vae_resblock *r);
/* Places what was added (nothing on the CPU backend). */
wr_status vae_placed_place(vae_placed *pl);
/* Restores the host pointers and frees the device copies; accepts a zeroed struct. */
void vae_placed_free(vae_placed *pl);

/* ---- resident decodes ------------------------------------------------------------------------- */

typedef wr_status (*vae_decode_stream_fn)(const void *model, const vae_vol *latent, vae_sink sink);
/* Whether a resident decode of latent fits the device: its working set (a dry run of this very
 * decode through fn: every volume, cache and scratch buffer it holds at once) plus weight_bytes,
 * beside the driver reserve, within the free device memory. When it does not, the caller stages
 * per op as before (device memory then holds one op's operands at a time), so residency never
 * fails a decode the staged path could run. False on the CPU backend. */
int vae_resident_fits(vae_decode_stream_fn fn, const void *model, const vae_vol *latent, size_t weight_bytes);
/* A decode's residency: resident when the device holds its working set (vae_resident_fits), then
 * the weights add_weights lists are placed. Pair with vae_resident_end (also on failure). */
typedef struct vae_residency {
    int was;          /* the caller's vae_resident() */
    vae_placed *pl;   /* NULL: staged per op */
} vae_residency;
typedef void (*vae_add_weights_fn)(void *model, vae_placed *pl);
wr_status vae_resident_begin(vae_decode_stream_fn fn, const void *model, const vae_vol *latent, size_t weight_bytes,
                             vae_add_weights_fn add_weights, vae_residency *r);
void vae_resident_end(vae_residency *r);

/* Latent frame i de-normalised (z / (1/std) + mean, as the official code writes it) on the host,
 * then uploaded once when new volumes are resident. */
wr_status vae_latent_frame(const vae_vol *latent, int i, const float *mean, const float *std, vae_vol *x);

#endif
