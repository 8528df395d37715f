/* The arithmetic of the fused Sage preparation (kernels/sage_prepare.cu and its CPU twin
 * runtime/cpu/sage_prepare.c): the Wan self-attention's q/k RMSNorm over the whole model dim
 * and its 3-D RoPE, computed per element on the fly from the raw projection so the normed and
 * rotated q and k never reach global memory. Valid C11 and CUDA (NVRTC and the emulator).
 *
 *   inv[b][t] = 1 / sqrt(Σ x² / D + eps) over the token's D = NH·HD values, in fp32: thread i of
 *     SAGE_RMS_THREADS sums elements i, i + SAGE_RMS_THREADS, ... in order, each warp reduces
 *     by the xor butterfly (16, 8, 4, 2, 1), then warp 0's lanes w < SAGE_RMS_THREADS / 32 take
 *     warp w's sum and reduce the same way (the twin replays this order);
 *   value(t, h, d) = rope_rotate(n0, n1, cos, sin, d odd) of the pair (n0, n1) =
 *     (x · inv) · w at elements h·HD + 2⌊d/2⌋, +1 (as the norm kernel's (x · inv) · w), angles
 *     from the table of kernels/rope_wan.h (identity past the grid). */
#ifndef WR_SAGE_PREPARE_H
#define WR_SAGE_PREPARE_H

#include "kernels/rope_wan.h"
#include "kernels/sage_layout.h"

#define SAGE_RMS_THREADS 256

/* Element d of head h of token t (row: the token's NH·HD raw values) after RMSNorm and RoPE. */
SAGE_FN float sage_prep_value(const float *row, const float *w, float inv, const float *rope_tab, int t, int h,
                              int d, int gf, int gh, int gw)
{
    int i0 = h * ROPE_WAN_HD + (d & ~1);
    float n0 = row[i0] * inv * w[i0], n1 = row[i0 + 1] * inv * w[i0 + 1];
    int e = rope_wan_entry(t, d >> 1, gf, gh, gw);
    float c = e < 0 ? 1.0f : rope_tab[2 * e], s = e < 0 ? 0.0f : rope_tab[2 * e + 1];
    return rope_rotate(n0, n1, c, s, d & 1);
}

#endif
