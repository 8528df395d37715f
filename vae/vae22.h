/* The Wan 2.2 VAE (wan/modules/vae2_2.py), used by TI2V-5B: 48 latent channels, 4x temporal
 * and 16x spatial compression (a 2x2 patchify + three 2x downsamples), residual stages with
 * AvgDown3D / DupUp3D shortcuts, a wider decoder. Like vae21.h, the official chunked passes
 * with feature caches: AvgDown3D pads one zero frame in front of each odd-length chunk;
 * DupUp3D drops the first duplicated frame of the first chunk only. */
#ifndef VAE_VAE22_H
#define VAE_VAE22_H

#include "runtime/io/weightfile.h"
#include "vae/volume.h"

typedef struct vae22 vae22;

wr_status vae22_load(vae22 **out, const wr_weightfile *wf);
void vae22_free(vae22 *m);
/* Shapes only (dry runs, vae_plan.h): official dims 160 (encoder) and 256 (decoder). */
wr_status vae22_init_shape(vae22 **out, int dim, int dec_dim, wr_dtype dtype);
size_t vae22_weight_bytes(const vae22 *m);

/* video [3, T, H, W] in [−1, 1], T = 4k + 1, H and W multiples of 16 -> latent
 * [48, (T − 1)/4 + 1, H/16, W/16], normalised with the official mean/std. */
wr_status vae22_encode(const vae22 *m, const vae_vol *video, vae_vol *latent);
/* latent [48, Tl, h, w] -> video [3, 4(Tl − 1) + 1, 16h, 16w], not clamped. */
wr_status vae22_decode(const vae22 *m, const vae_vol *latent, vae_vol *video);
/* Frames to `sink` as each latent frame is decoded (see vae21_decode_stream). */
wr_status vae22_decode_stream(const vae22 *m, const vae_vol *latent, vae_sink sink);

#endif
