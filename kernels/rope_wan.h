/* Wan's 3-D rotary embedding as it is applied in fp32 on the device (wan/modules/model.py
 * rope_params + rope_apply): one source for the pair rotation (kernels/rope.cu, the fused Sage
 * preparation kernels/sage_prepare.cu and their CPU twins) and for the layout of the per-axis
 * angle table the host builds in float64 (cpu_rope_wan_table, runtime/cpu/rope.c).
 * Valid C11 and CUDA (NVRTC and the emulator).
 *
 *   Head dim 128 = 64 adjacent-pair complex numbers (x[2j], x[2j+1]); pairs 0..21 rotate by the
 *   frame index, 22..42 by the row, 43..63 by the column of the token in the (F, H, W) grid,
 *   tokens row-major in that grid; tokens at or past F·H·W are not rotated.
 *   Angle table: f32 pairs (cos, sin), the frame block [F][22], then the row block [H][21], then
 *   the column block [W][21] — (22 F + 21 H + 21 W) pairs instead of one row per token, since
 *   every token's angles are one entry of each axis block (as rope_params builds them). */
#ifndef WR_ROPE_WAN_H
#define WR_ROPE_WAN_H

#if defined(__CUDACC_RTC__) || defined(WR_EMU)
#define ROPE_FN __device__ __forceinline__
#else
#define ROPE_FN static inline
#endif

#define ROPE_WAN_HD 128
#define ROPE_WAN_PAIRS 64
#define ROPE_WAN_PAIRS_F 22 /* head_dim/2 − 2·(head_dim/6) */
#define ROPE_WAN_PAIRS_HW 21

/* (cos, sin) pairs in the angle table of an (F, H, W) grid. */
ROPE_FN long long rope_wan_table_pairs(int gf, int gh, int gw)
{
    return (long long)ROPE_WAN_PAIRS_F * gf + (long long)ROPE_WAN_PAIRS_HW * (gh + gw);
}

/* The table pair that rotates pair j of token t, or −1 where the token is past the grid. In 32
 * bits (64-bit division is slow on the GPU): callers keep F·H·W and the table within int. */
ROPE_FN int rope_wan_entry(int t, int j, int gf, int gh, int gw)
{
    if (t >= gf * gh * gw)
        return -1;
    int f = t / (gh * gw), hh = (t / gw) % gh, ww = t % gw;
    if (j < ROPE_WAN_PAIRS_F)
        return f * ROPE_WAN_PAIRS_F + j;
    int rows = gf * ROPE_WAN_PAIRS_F;
    if (j < ROPE_WAN_PAIRS_F + ROPE_WAN_PAIRS_HW)
        return rows + hh * ROPE_WAN_PAIRS_HW + (j - ROPE_WAN_PAIRS_F);
    return rows + gh * ROPE_WAN_PAIRS_HW + ww * ROPE_WAN_PAIRS_HW + (j - ROPE_WAN_PAIRS_F - ROPE_WAN_PAIRS_HW);
}

/* One complex pair times e^(iθ) = (c, s): element `odd` (0: real, 1: imaginary) of the result. */
ROPE_FN float rope_rotate(float x0, float x1, float c, float s, int odd)
{
    return odd ? x0 * s + x1 * c : x0 * c - x1 * s;
}

#endif
