/* SeedVR2 DiT window partition and RoPE tables, checked by hand: the worked examples of
 * ../shared/specs/seedvr2.md 4.7, partition -> reverse round trips for both layouts, and
 * angle tables small enough to write out. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/testutil.h"
#include "upscale/svr_dit_rope.h"
#include "upscale/svr_dit_window.h"

static const int num[3] = {4, 3, 3};

static int count(int t, int h, int w, bool shifted) { return upscale_dit_windows(t, h, w, num, shifted, NULL, 0); }

Test(svr_dit_window, spec_worked_examples)
{
    /* 720x1280, 21 frames: grid 6x45x80, windows (2, 15, 27) */
    cr_assert_eq(count(6, 45, 80, false), 3 * 3 * 3);
    cr_assert_eq(count(6, 45, 80, true), 4 * 4 * 4);
    /* 1088x1920, 21 frames: grid 6x68x120 */
    cr_assert_eq(count(6, 68, 120, false), 75);
    cr_assert_eq(count(6, 68, 120, true), 120);
    /* 1088x1872, 5 frames: grid 2x68x117, windows (1, 16, 27); shifted t window 0 is empty */
    cr_assert_eq(count(2, 68, 117, false), 50);
    cr_assert_eq(count(2, 68, 117, true), 50);
    /* the golden 5x20x24 grid: 12 windows in each layout; small grids: one spatial window */
    cr_assert_eq(count(5, 20, 24, false), 12);
    cr_assert_eq(count(5, 20, 24, true), 12);
    cr_assert_eq(count(1, 4, 6, false), 1);
    cr_assert_eq(count(1, 4, 6, true), 1);
}

Test(svr_dit_window, shifted_ranges_of_720p)
{
    upscale_dit_window w[64];
    cr_assert_eq(upscale_dit_windows(6, 45, 80, num, true, w, 64), 64);
    /* spec: t {0-1, 1-3, 3-5, 5-6}, h {0-7, 7-22, 22-37, 37-45}, w {0-13, 13-40, 40-67, 67-80};
     * order: w outermost, then h, t innermost */
    static const int t[4][2] = {{0, 1}, {1, 3}, {3, 5}, {5, 6}}, h[4][2] = {{0, 7}, {7, 22}, {22, 37}, {37, 45}},
                     ww[4][2] = {{0, 13}, {13, 40}, {40, 67}, {67, 80}};
    for (int iw = 0; iw < 4; iw++)
        for (int ih = 0; ih < 4; ih++)
            for (int it = 0; it < 4; it++) {
                const upscale_dit_window *x = &w[(iw * 4 + ih) * 4 + it];
                cr_assert(x->t0 == t[it][0] && x->t1 == t[it][1] && x->h0 == h[ih][0] && x->h1 == h[ih][1] &&
                              x->w0 == ww[iw][0] && x->w1 == ww[iw][1],
                          "window (%d, %d, %d) = t %d-%d h %d-%d w %d-%d", it, ih, iw, x->t0, x->t1, x->h0, x->h1,
                          x->w0, x->w1);
            }
    /* regular layout of the same grid: t {0-2, 2-4, 4-6}, h {0-15, ...}, w {0-27, 27-54, 54-80} */
    cr_assert_eq(upscale_dit_windows(6, 45, 80, num, false, w, 64), 27);
    cr_assert(w[0].t0 == 0 && w[0].t1 == 2 && w[0].h1 == 15 && w[0].w1 == 27);
    cr_assert(w[26].t0 == 4 && w[26].t1 == 6 && w[26].h0 == 30 && w[26].h1 == 45 && w[26].w0 == 54 && w[26].w1 == 80);
}

/* Partition then reverse: gathering the tokens window by window and scattering them back must
 * give the input, i.e. every token lies in exactly one window, for both layouts. */
Test(svr_dit_window, partition_and_reverse_round_trip)
{
    static const int grids[][3] = {{1, 4, 6}, {2, 6, 10}, {5, 20, 24}, {6, 45, 80}, {3, 68, 117}, {7, 33, 19},
                                   {31, 9, 50}, {2, 120, 8}};
    for (size_t g = 0; g < sizeof grids / sizeof grids[0]; g++)
        for (int shifted = 0; shifted < 2; shifted++) {
            int t = grids[g][0], h = grids[g][1], w = grids[g][2], n = t * h * w;
            int nw = count(t, h, w, shifted);
            upscale_dit_window *win = malloc((size_t)nw * sizeof *win);
            cr_assert_eq(upscale_dit_windows(t, h, w, num, shifted, win, nw), nw);
            float *x = malloc((size_t)n * sizeof *x), *packed = malloc((size_t)n * sizeof *packed);
            float *back = malloc((size_t)n * sizeof *back);
            for (int i = 0; i < n; i++)
                x[i] = (float)i, back[i] = -1.0f;
            int k = 0;
            for (int i = 0; i < nw; i++) {
                cr_assert(win[i].t0 < win[i].t1 && win[i].h0 < win[i].h1 && win[i].w0 < win[i].w1, "empty window");
                for (int a = win[i].t0; a < win[i].t1; a++)
                    for (int b = win[i].h0; b < win[i].h1; b++)
                        for (int c = win[i].w0; c < win[i].w1; c++) {
                            cr_assert_lt(k, n, "grid %dx%dx%d: windows overlap", t, h, w);
                            packed[k++] = x[(a * h + b) * w + c];
                        }
            }
            cr_assert_eq(k, n, "grid %dx%dx%d shifted %d: windows hold %d of %d tokens", t, h, w, shifted, k, n);
            k = 0;
            for (int i = 0; i < nw; i++)
                for (int a = win[i].t0; a < win[i].t1; a++)
                    for (int b = win[i].h0; b < win[i].h1; b++)
                        for (int c = win[i].w0; c < win[i].w1; c++)
                            back[(a * h + b) * w + c] = packed[k++];
            cr_assert_eq(memcmp(back, x, (size_t)n * sizeof *x), 0, "grid %dx%dx%d: round trip differs", t, h, w);
            free(x), free(packed), free(back), free(win);
        }
}

Test(svr_dit_window, rope_angle_table_by_hand)
{
    const float freqs[2] = {1.0f, 0.1f}, pos[3] = {3.0f, 1.0f, 2.0f};
    float theta[12];
    upscale_dit_rope_angles(freqs, 2, pos, theta);
    const float want[12] = {3.0f, 3.0f, 0.3f, 0.3f, 1.0f, 1.0f, 0.1f, 0.1f, 2.0f, 2.0f, 0.2f, 0.2f};
    for (int i = 0; i < 12; i++)
        cr_assert_eq(theta[i], want[i], "theta[%d] = %g, want %g", i, (double)theta[i], (double)want[i]);
    /* pairs rotate as complex numbers: (1, 0) by pi/2 -> (0, 1); (0, 2) by pi -> (0, -2);
     * dims past n_rot are untouched */
    float x[6] = {1, 0, 0, 2, 5, 7};
    const float ang[4] = {(float)M_PI_2, (float)M_PI_2, (float)M_PI, (float)M_PI};
    upscale_dit_rope_rotate(x, ang, 4);
    cr_assert_float_eq(x[0], 0.0f, 1e-6f);
    cr_assert_float_eq(x[1], 1.0f, 1e-6f);
    cr_assert_float_eq(x[2], 0.0f, 1e-6f);
    cr_assert_float_eq(x[3], -2.0f, 1e-6f);
    cr_assert(x[4] == 5 && x[5] == 7);
}

Test(svr_dit_window, rope_positions)
{
    float p[3];
    upscale_dit_rope_pos_mm(58, 0, 4, 7, p); /* video time starts after the 58 text tokens */
    cr_assert(p[0] == 58 && p[1] == 4 && p[2] == 7);
    upscale_dit_rope_pos_mm(7, 2, 0, 0, p);
    cr_assert(p[0] == 9 && p[1] == 0 && p[2] == 0);
    /* 7B: linspace(-1, 1, n) over the window extent; -1 for an extent of 1 */
    cr_assert_eq(upscale_dit_rope_pos_pixel(0, 1), -1.0f);
    const float five[5] = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(upscale_dit_rope_pos_pixel(i, 5), five[i]);
    cr_assert_eq(upscale_dit_rope_pos_pixel(0, 2), -1.0f);
    cr_assert_eq(upscale_dit_rope_pos_pixel(1, 2), 1.0f);
}

Test(svr_dit_window, default_freqs_match_the_checkpoints)
{
    float f[32];
    /* tiny golden model: head_dim 32 -> 10 dims per axis -> 1/10000^(2j/10), as stored */
    cr_assert_eq(upscale_dit_rope_default_freqs(true, 32, f, 32), 5);
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/post/seedvr2_dit_tiny_weights.safetensors"));
    int64_t n;
    float *stored = wr_test_load_f32(&wf, "blocks.0.attn.rope.rope.freqs", &n);
    cr_assert_eq(n, 5);
    for (int j = 0; j < 5; j++)
        cr_assert_float_eq(f[j], stored[j], 1e-7f * stored[j], "freq %d: %.9g vs %.9g", j, (double)f[j],
                           (double)stored[j]);
    free(stored);
    wr_weightfile_close(&wf);
    /* 3B: head_dim 128 -> 21 frequencies 10000^(-2k/42) */
    cr_assert_eq(upscale_dit_rope_default_freqs(true, 128, f, 32), 21);
    cr_assert_float_eq(f[0], 1.0f, 0);
    cr_assert_float_eq(f[20], (float)pow(10000.0, -40.0 / 42.0), 1e-9f);
    /* 7B: 10 frequencies linspace(1, 128, 10)·pi */
    cr_assert_eq(upscale_dit_rope_default_freqs(false, 128, f, 32), 10);
    cr_assert_float_eq(f[0], (float)M_PI, 1e-6f);
    cr_assert_float_eq(f[9], 128.0f * (float)M_PI, 1e-4f);
    cr_assert_float_eq(f[1], (1.0f + 127.0f / 9.0f) * (float)M_PI, 1e-4f);
}
