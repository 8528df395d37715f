/* The --preview decode: a few latent frames of the denoised estimate x0 (first, middle, last),
 * each decoded on its own as an image. The Wan VAEs are causal, so the first one is exactly the
 * final video's first frame once x0 is final; the others are single-image approximations. The
 * cost is k single-frame decodes instead of a full decode (3/21 of one at 81 frames). */
#ifndef WAN22_PIPELINE_PREVIEW_H
#define WAN22_PIPELINE_PREVIEW_H

#include "runtime/err.h"
#include "vae/volume.h"

typedef struct vae21 vae21;
typedef struct vae22 vae22;

/* Exactly one of v21 / v22 is non-NULL. frames gets [3, k, H, W] clamped to [−1, 1], k ≤ 3. */
wr_status wan22_preview_decode(const vae21 *v21, const vae22 *v22, const vae_vol *x0, vae_vol *frames);

#endif
