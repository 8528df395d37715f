/* SeedVR2 DiT window partition and rotary position tables (seedvr2.md 4.7, 5; README 2.4).
 *
 * Windows are sized for a 720p token area (45 x 80) divided into num = (4, 3, 3) windows
 * along (t, h, w), so a grid gets several spatial windows only when it is large. Even layers
 * use the regular layout, odd layers the same windows shifted by half a window on every axis
 * that has more than one. RoPE positions are local to the window. */
#ifndef UPSCALE_SVR_DIT_WINDOW_H
#define UPSCALE_SVR_DIT_WINDOW_H

#include <stdbool.h>

/* [t0, t1) x [h0, h1) x [w0, w1) of the token grid (the golden files' int32 [n, 6] rows). */
typedef struct upscale_dit_window {
    int t0, t1, h0, h1, w0, w1;
} upscale_dit_window;

/* Windows of a (t, h, w) token grid for num = (nt, nh, nw) windows per 720p, regular
 * ("720pwin_by_size_bysize") or shifted ("720pswin_by_size_bysize"), in upstream order
 * (w outermost, t innermost), empty ones dropped. Writes at most cap windows to out and
 * returns how many there are (call with cap 0 to size the array), or -1 when one axis would
 * need more than 4096 windows (over ~30000 latent frames). */
int upscale_dit_windows(int t, int h, int w, const int num[3], bool shifted, upscale_dit_window *out, int cap);

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
