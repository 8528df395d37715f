/* TI2V-5B image conditioning (wan/textimage2video.py, i2v branch): the image latent z is
 * written into latent frame 0 and kept there; the tokens of frame 0 get timestep 0.
 *  mask2 = ones with latent frame 0 zeroed ([C, T, h, w]);
 *  latent_init = (1 − mask2)·z + mask2·noise   (z [C, 1, h, w] broadcast over time);
 *  timestep per token = mask2[0][:, ::2, ::2]·t flattened (frame-0 tokens at 0, others at t);
 *  after every scheduler step: latent = (1 − mask2)·z + mask2·latent. */
#ifndef WAN22_COND_TI2V_H
#define WAN22_COND_TI2V_H

#include <stdint.h>

/* latent [c, t, h, w] <- (1 − mask2)·z + mask2·noise (noise may alias latent). */
void wan22_ti2v_init(float *latent, const float *z, const float *noise, int c, int t, int h, int w);
/* Re-imposes z on latent frame 0 in place (the per-step re-imposition). */
void wan22_ti2v_reimpose(float *latent, const float *z, int c, int t, int h, int w);
/* per-token timesteps for t frames of (h/2)·(w/2) tokens: 0 for frame 0, t_value elsewhere. */
void wan22_ti2v_timesteps(float *out, float t_value, int t, int h, int w);

#endif
