/* The quantisation contract of Sage-style attention (SageAttention 1/2; STYLE.md 9.5): block
 * sizes, scale-tensor shapes and the code/scale arithmetic, used by the quantiser and attention
 * kernels (kernels/attention_sage.cu), the CPU twin (runtime/cpu/attention_sage.c), the launcher
 * and the planner. Valid C11 and CUDA (NVRTC and the emulator).
 *
 *   K is smoothed first: k' = k − mean over the kv_len keys (per batch, head and channel). This
 *     adds q·mean to every logit of a query row, a per-row constant softmax ignores, and removes
 *     the large per-channel offsets of Wan's K that would otherwise eat the int8 range.
 *   Q and K' are quantised to int8 with one scale per block of rows (per batch and head):
 *     SAGE_Q_ROWS query rows (one warp's rows in the kernel), SAGE_K_ROWS keys (one key tile).
 *     code = rint(x · 127 / amax) (|code| <= 127), amax floored at SAGE_AMAX_FLOOR so an all-zero
 *     block never divides by zero (SageAttention fused.cu); scale = amax / 127.
 *   Q's stored scale also carries the softmax scale and log2(e): the logits come out in the
 *     log2 domain and the softmax uses exp2 (SageAttention qk_int_sv_f16).
 *   Scale tensors are f32 [B][NH][ceil(T / rows)]; codes int8 [B][T][NH][HD] like the inputs.
 *   The fp8 P·V variant (SageAttention2 sm_89/90): V in e4m3 with one scale per channel over the
 *     kv keys (f32 [B][NH][HD], amax / 448; codes [B][T][NH][HD]); P = exp2(s − m) ∈ [0, 1] is
 *     scaled by 448 before its e4m3 rounding (no subnormal flush for small probabilities) and
 *     the output multiplied by v_scale / 448. Keys sit in the mma's k slots in the order
 *     sage_f8_slot gives, so P's C fragments are A fragments without shuffles. */
#ifndef WR_SAGE_LAYOUT_H
#define WR_SAGE_LAYOUT_H

#if defined(__CUDACC_RTC__) || defined(WR_EMU)
#define SAGE_FN __device__ __forceinline__
#else
#include <math.h>
#include <stdint.h>
#define SAGE_FN static inline
#endif

#define SAGE_Q_ROWS 16
#define SAGE_K_ROWS 64
#define SAGE_AMAX_FLOOR 1e-12f
#define SAGE_LOG2E 1.4426950408889634f

#define SAGE_F8_MAX 448.0f
/* Tokens per partial sum of K's mean (and per block of V's absmax): the mean is
 * (sum over chunks, in order, of the in-order chunk sums) / Tk, so the GPU reduces in parallel
 * and the twin in the same order. */
#define SAGE_SUM_CHUNK 256

/* V's per-channel fp8 scale and code multiplier from the channel's absmax. */
SAGE_FN float sage_v_code_mul(float amax) { return SAGE_F8_MAX / fmaxf(amax, SAGE_AMAX_FLOOR); }
SAGE_FN float sage_v_stored_scale(float amax) { return fmaxf(amax, SAGE_AMAX_FLOOR) / SAGE_F8_MAX; }

/* The k slot of the fp8 m16n8k32 mma that key j (0..31) of a 32-key chunk occupies: the lane
 * with t = (j % 8) / 2 holds scores of keys 2t, 2t+1 of each n8 block, and A wants slots
 * 4t..4t+3 (and 16 + 4t..) there, so j = 16 hi + 8 q + 2 t + r goes to slot 16 hi + 4 t + 2 q + r. */
SAGE_FN int sage_f8_slot(int j) { return (j & 16) | ((j & 6) << 1) | ((j & 8) >> 2) | (j & 1); }

/* Number of scale blocks along T tokens for blocks of `rows`. */
SAGE_FN int sage_nblocks(int T, int rows) { return (T + rows - 1) / rows; }

/* The scale tensor's element count for B batches, NH heads, T tokens. */
SAGE_FN long long sage_scale_count(int B, int NH, int T, int rows) { return (long long)B * NH * sage_nblocks(T, rows); }

/* The index of the scale of token t (batch b, head h). */
SAGE_FN long long sage_scale_index(int b, int h, int t, int NH, int T, int rows)
{
    return ((long long)b * NH + h) * sage_nblocks(T, rows) + t / rows;
}

/* From a block's floored absmax: the multiplier that makes codes and the stored scale (with the
 * extra factor: softmax scale · log2e for Q, 1 for K). */
SAGE_FN float sage_code_mul(float amax) { return 127.0f / fmaxf(amax, SAGE_AMAX_FLOOR); }
SAGE_FN float sage_stored_scale(float amax, float extra) { return fmaxf(amax, SAGE_AMAX_FLOOR) / 127.0f * extra; }

/* The int8 code of x (rint rounds half to even, as cvt.rni). */
SAGE_FN int sage_code(float x, float mul)
{
    float c = rintf(x * mul);
    return (int)fminf(fmaxf(c, -127.0f), 127.0f);
}

#endif
