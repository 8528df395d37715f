/* SeedVR2 DiT window partition (seedvr2.md 4.7, 5; README 2.4).
 *
 * Windows are sized for a 720p token area (45 x 80) divided into num = (4, 3, 3) windows
 * along (t, h, w), so a grid gets several spatial windows only when it is large. Even layers
 * use the regular layout, odd layers the same windows shifted by half a window on every axis
 * that has more than one. */
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

#endif
