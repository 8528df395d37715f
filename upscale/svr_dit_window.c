/* Window partition of the SeedVR2 DiT (see svr_dit_window.h). The window sizes are computed
 * in double and rounded with Python's rules (round half to even, int() truncating toward
 * zero), since the upstream lists are built by Python arithmetic. */
#include "upscale/svr_dit_window.h"

#include <math.h>

#define AREA_H 45 /* 720p token grid: 720/16 x 1280/16 */
#define AREA_W 80
#define MAX_T 30  /* temporal window sizes are computed for at most 30 latent frames */

/* Python round(): half to even, which rint() does in the default rounding mode. */
static int py_round(double x) { return (int)rint(x); }

static int ceil_div_d(double a, double b) { return (int)ceil(a / b); }

/* Window size per axis (t, h, w) for this grid. */
static void window_size(int t, int h, int w, const int num[3], int size[3])
{
    double scale = sqrt((double)(AREA_H * AREA_W) / ((double)h * (double)w));
    int rh = py_round((double)h * scale), rw = py_round((double)w * scale);
    size[0] = ceil_div_d((double)(t < MAX_T ? t : MAX_T), (double)num[0]);
    size[1] = ceil_div_d((double)rh, (double)num[1]);
    size[2] = ceil_div_d((double)rw, (double)num[2]);
    for (int i = 0; i < 3; i++) /* only a grid beyond ~3600:1 would round to 0; upstream divides by it */
        if (size[i] < 1)
            size[i] = 1;
}

/* Ranges of one axis of extent n with window size win: regular [i·win, min((i+1)·win, n)),
 * shifted by half a window when the axis has more than one window. Returns the count. */
static int axis_ranges(int n, int win, bool shifted, int lo[], int hi[], int cap)
{
    int count = 0;
    if (!shifted) {
        int k = (n + win - 1) / win;
        for (int i = 0; i < k; i++, count++)
            if (count < cap) {
                lo[count] = i * win;
                hi[count] = (i + 1) * win < n ? (i + 1) * win : n;
            }
        return count;
    }
    double s = win < n ? 0.5 : 0.0;
    int k = s > 0 ? (int)ceil(((double)n - s) / (double)win) + 1 : 1;
    for (int i = 0; i < k; i++) {
        int a = (int)(((double)i - s) * (double)win), b = (int)(((double)i - s + 1.0) * (double)win);
        a = a > 0 ? a : 0;
        b = b < n ? b : n;
        if (count < cap) {
            lo[count] = a;
            hi[count] = b;
        }
        count++;
    }
    return count;
}

int upscale_dit_windows(int t, int h, int w, const int num[3], bool shifted, upscale_dit_window *out, int cap)
{
    int size[3], ext[3] = {t, h, w};
    window_size(t, h, w, num, size);
    /* an axis has at most ceil(n / win) + 1 ranges and win >= 1, so n + 2 bounds it */
    int n_axis[3], lo[3][4096], hi[3][4096];
    for (int a = 0; a < 3; a++) {
        n_axis[a] = axis_ranges(ext[a], size[a], shifted, lo[a], hi[a], 4096);
        if (n_axis[a] > 4096)
            return -1; /* a grid axis beyond 4096 windows: callers reject it as a bad size */
    }
    int count = 0;
    for (int iw = 0; iw < n_axis[2]; iw++)
        for (int ih = 0; ih < n_axis[1]; ih++)
            for (int it = 0; it < n_axis[0]; it++) {
                if (lo[0][it] >= hi[0][it] || lo[1][ih] >= hi[1][ih] || lo[2][iw] >= hi[2][iw])
                    continue; /* empty ranges are dropped */
                if (count < cap)
                    out[count] = (upscale_dit_window){lo[0][it], hi[0][it], lo[1][ih], hi[1][ih], lo[2][iw], hi[2][iw]};
                count++;
            }
    return count;
}
