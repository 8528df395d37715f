/* Either Wan VAE behind one handle: the 2.1 VAE (16 latent channels, 8x spatial) or the 2.2
 * VAE (48 channels, 16x spatial), chosen from the weights. Callers that do not care which
 * (tiling, planner, CLI, pipeline) use this instead of vae21.h / vae22.h. */
#ifndef VAE_VAE_H
#define VAE_VAE_H

#include "runtime/io/weightfile.h"
#include "vae/vae21.h"
#include "vae/vae22.h"

typedef struct wan_vae {
    vae21 *v21; /* exactly one of the two is set */
    vae22 *v22;
    int z_dim;  /* latent channels: 16 | 48 */
    int scale;  /* spatial compression: 8 | 16 (temporal is 4 for both) */
} wan_vae;

/* A handle over a model loaded with vae21_load / vae22_load (exactly one non-NULL); the
 * handle borrows it (do not wan_vae_free it). */
static inline wan_vae wan_vae_of(vae21 *v21, vae22 *v22)
{
    return (wan_vae){.v21 = v21, .v22 = v22, .z_dim = v22 ? 48 : 16, .scale = v22 ? 16 : 8};
}

/* Binds wf (48-channel conv2 -> 2.2, otherwise 2.1); wf must outlive v. */
wr_status wan_vae_load(wan_vae *v, const wr_weightfile *wf);
/* Shapes only, weights counted as `dtype` (dry runs): is22 = 0 -> 2.1 with base dim `dim`
 * (official 96); is22 = 1 -> 2.2 with encoder dim `dim` (160) and decoder dim `dec_dim` (256). */
wr_status wan_vae_init_shape(wan_vae *v, int is22, int dim, int dec_dim, wr_dtype dtype);
void wan_vae_free(wan_vae *v);
size_t wan_vae_weight_bytes(const wan_vae *v);

/* Untiled passes (see vae21.h for the contracts; the 2.2 sizes are multiples of 16). */
wr_status wan_vae_encode(const wan_vae *v, const vae_vol *video, vae_vol *latent);
wr_status wan_vae_decode(const wan_vae *v, const vae_vol *latent, vae_vol *video);
wr_status wan_vae_decode_stream(const wan_vae *v, const vae_vol *latent, vae_sink sink);

#endif
