/* SeedVR2 DiT rotary position tables (seedvr2.md 4.7 "mmrope3d" for the 3B, 5 "rope3d" for
 * the 7B; README 2.4). Positions are local to the attention window: every axis rotates its own
 * 2·nf dims, laid out [t | h | w], and dims past 6·nf pass through. */
#ifndef UPSCALE_SVR_DIT_ROPE_H
#define UPSCALE_SVR_DIT_ROPE_H

#include <stdbool.h>

/* The rotary angles of one token: theta[6·nf] = [p_t·f_0, p_t·f_0, ..., p_t·f_{nf−1} (twice),
 * then the same for p_h, then p_w], each product in float32 like upstream. */
void upscale_dit_rope_angles(const float *freqs, int nf, const float pos[3], float *theta);

/* Rotates adjacent pairs (x[2m], x[2m+1]) by theta[2m] for 2m < n_rot (in place, fp32). */
void upscale_dit_rope_rotate(float *x, const float *theta, int n_rot);

/* 3B (mmrope3d): video token at window-local (a, b, c) has positions (txt_len + a, b, c)
 * (video time starts after the text); text token j has (j, j, j). */
void upscale_dit_rope_pos_mm(int txt_len, int a, int b, int c, float pos[3]);

/* 7B (rope3d, pixel style): position linspace(−1, 1, n)[i] per axis in float32, with n the
 * window's extent on that axis (−1 when n = 1). */
float upscale_dit_rope_pos_pixel(int i, int n);

/* The default frequencies when a checkpoint does not store rope.freqs: 3B 10000^(−2k/axis)
 * with axis = head_dim / 3 (rounded down to even pairs), 7B linspace(1, 128, 10)·π. */
int upscale_dit_rope_default_freqs(bool mm, int head_dim, float *freqs, int cap);

#endif
