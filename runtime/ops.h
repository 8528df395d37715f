/* The op interface every model is written against (STYLE.md 9.6-9.7).
 *
 * Conventions for every op:
 * - Activations are F32 tensors; a "row" is ne[0] elements and rows are addressed through
 *   nb[1..] (so strided row views such as one chunk of a [T, 6, D] modulation are allowed
 *   where noted). Weights may be any dtype with a float converter (runtime/quant.h),
 *   including GGUF block quants and fp8 with a per-tensor scale (wr_tensor.scale).
 * - Ops never allocate their outputs: the caller passes them, already shaped.
 * - Arguments are validated here once for all backends; a mismatch between our own tensors
 *   is a bug (WR_ASSERT), not a user error.
 * - Output may alias an input only where the op says so. */
#ifndef WR_OPS_H
#define WR_OPS_H

#include "runtime/err.h"
#include "runtime/tensor.h"

typedef enum wr_act {
    WR_ACT_NONE,
    WR_ACT_GELU_TANH, /* torch.nn.GELU(approximate="tanh") */
    WR_ACT_SILU,      /* torch.nn.SiLU */
    WR_ACT_COUNT
} wr_act;

/* y[M, N] = act(x[M, K] · w[N, K]ᵀ + bias[N]).  (torch.nn.functional.linear + activation)
 * x F32 rows of K; w contiguous, any float dtype; bias F32 [N] or NULL; y F32 [M, N]
 * contiguous. y must not alias x. The weight is dequantised a tile at a time, never whole. */
void wr_op_matmul(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_act act, wr_tensor *y);

/* Row-wise LayerNorm: y = (x − mean) / sqrt(var + eps) · w + b; w, b F32 [D] or both NULL
 * (no affine). Biased variance, as torch.nn.LayerNorm. y may alias x. */
void wr_op_layer_norm(const wr_tensor *x, const wr_tensor *w, const wr_tensor *b, float eps, wr_tensor *y);

/* Row-wise RMSNorm: y = x · rsqrt(mean(x²) + eps) · w (Wan's WanRMSNorm, T5LayerNorm).
 * w F32 [D] or any float dtype. y may alias x. */
void wr_op_rms_norm(const wr_tensor *x, const wr_tensor *w, float eps, wr_tensor *y);

/* AdaLN modulation y = x · (1 + scale) + shift, all [M, D]; scale/shift may be strided row
 * views. y may alias x. */
void wr_op_modulate(const wr_tensor *x, const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y);

/* y = LayerNorm(x; w, b) · (1 + scale) + shift in one pass (AdaLN: Wan's norm1/norm2 and head).
 * x, y [M, D] (y may alias x); w, b F32 [D] or both NULL; shift and scale contiguous [R, D] with
 * R = 1 (one modulation row for every token) or R = M. */
void wr_op_layer_norm_modulate(const wr_tensor *x, const wr_tensor *w, const wr_tensor *b, float eps,
                               const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y);

/* x += y · gate (gate NULL: x += y). x, y [M, D]; gate [M, D] (may be a strided row view) or one
 * contiguous row [1, D] applied to every row. */
void wr_op_add_gated(wr_tensor *x, const wr_tensor *y, const wr_tensor *gate);

/* y = x + b elementwise with b broadcast over rows when b has one row. y may alias x. */
void wr_op_add(const wr_tensor *x, const wr_tensor *b, wr_tensor *y);

/* Wan 3-D RoPE in place on x [T, NH, 128] (ne = {128, NH, T}) for tokens laid out as an
 * (F, H, W) grid in row-major order; tokens >= F·H·W are left unrotated. Adjacent element
 * pairs are complex numbers; pairs 0..21 rotate by the frame index (θ = 10000^(−2j/44)),
 * 22..42 by the row, 43..63 by the column (θ = 10000^(−2j/42) each), in float64
 * (wan/modules/model.py rope_params / rope_apply). */
void wr_op_rope_wan(wr_tensor *x, int grid_f, int grid_h, int grid_w);

/* Softmax attention per head: out[t, h] = softmax(q[t, h] · k[:kv_len, h]ᵀ · scale) · v.
 * q [Tq, NH, HD], k/v [Tk, NH, HD], out [Tq, NH, HD] (all contiguous F32); keys at or beyond
 * kv_len are masked (kv_len = Tk: no mask). out must not alias q, k or v. */
void wr_op_attention(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len,
                     float scale, wr_tensor *out);

/* The arithmetic of wr_op_attention for a run, chosen once like the GPU precision
 * (`--attention dense|sage`): DENSE is the fp32 softmax attention above; SAGE is SageAttention's
 * int8 Q·Kᵀ with K smoothed by its mean over keys and per-block scales, fp32 softmax and fp16
 * P·V (kernels/sage_layout.h; the CPU backend runs the kernel's twin runtime/cpu/attention_sage.c,
 * a GPU backend the kernel from sm_80, with SageAttention2's e4m3 P·V from sm_89). Head dims that
 * are not multiples of 32 stay dense.
 * Process-wide: set it before a run, not while ops run. */
typedef enum wr_attention_mode {
    WR_ATTENTION_DENSE,
    WR_ATTENTION_SAGE,
    WR_ATTENTION_MODE_COUNT
} wr_attention_mode;
void wr_attention_mode_set(wr_attention_mode mode);
wr_attention_mode wr_attention_mode_get(void);
/* "dense" / "sage" -> mode; false for anything else. */
bool wr_attention_mode_parse(const char *name, wr_attention_mode *mode);
const char *wr_attention_mode_name(wr_attention_mode mode);

/* Wan's self-attention in Sage arithmetic with its q/k preparation fused into the quantisation:
 *   out = attention(rope(rms_norm(q_raw, norm_q)), rope(rms_norm(k_raw, norm_k)), v, scale)
 * i.e. wr_op_rms_norm over the whole row of NH·128 → wr_op_rope_wan(grid) → wr_op_attention in
 * WR_ATTENTION_SAGE mode (kv_len = T), equal to that sequence up to float rounding: the norm
 * statistics and the rotation run in fp32 from float64 angle tables, so a q/k value can move by
 * an ulp and an int8 code by one step at a rounding tie. The normed and rotated q and k are never
 * stored: the GPU backend quantises them straight from q_raw and k_raw (kernels/sage_prepare.cu,
 * P·V in e4m3 from sm_89 as the unfused sage op), the CPU backend runs the kernels' twins
 * (runtime/cpu/sage_prepare.c, fp16 P·V). Used whatever wr_attention_mode is set: the caller
 * chooses it instead of the unfused sequence when the mode is SAGE.
 * q_raw, k_raw, v, out: F32 contiguous {128, NH, T} (ne; the [T, NH·128] projections); norm_q,
 * norm_k: F32 [NH·128]; grid F·H·W <= T (tokens past it stay unrotated). q_raw and k_raw are read
 * only (unlike the in-place unfused sequence); out must not alias any input. */
void wr_op_self_attention_sage_fused(const wr_tensor *q_raw, const wr_tensor *k_raw, const wr_tensor *v,
                                     const wr_tensor *norm_q, const wr_tensor *norm_k, float eps, int grid_f,
                                     int grid_h, int grid_w, float scale, wr_tensor *out);

/* Attention with an additive bias and a key mask (T5): per head,
 * out = softmax(q·kᵀ·scale + bias[h] + mask) · v, where bias is F32 [NH, Tq, Tk] (ne = {Tk,
 * Tq, NH}) or NULL, and key_mask (int32 [Tk], 0 = masked) adds float's lowest value to the
 * logits of masked keys as masked_fill(finfo.min) does. Shapes as wr_op_attention. */
void wr_op_attention_bias(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, const wr_tensor *bias,
                          const int32_t *key_mask, float scale, wr_tensor *out);

/* Sinusoidal timestep embedding, computed in float64 like the official
 * sinusoidal_embedding_1d: out[i] = [cos(t_i · f_j), sin(t_i · f_j)], f_j = 10000^(−j/half),
 * j < half = D/2, cos first. t F32 [M], out F32 [M, D] with D even. */
void wr_op_timestep_embedding(const wr_tensor *t, wr_tensor *out);

/* Elementwise activation in place on a contiguous F32 tensor. */
void wr_op_activate(wr_tensor *x, wr_act act);

/* ---- convolution and resampling (the VAEs, RIFE) ------------------------------------------- */

/* Strides and zero padding of wr_op_conv3d: t_front zero frames before the first (Wan's causal
 * padding; nothing after the last), top/bottom/left/right zero rows and columns. */
typedef struct wr_conv_params {
    int st, sh, sw;
    int t_front, top, bottom, left, right;
} wr_conv_params;

/* y = conv3d(x zero-padded by p) + bias (torch.nn.functional.conv3d on the padded input;
 * conv2d is the kt = 1 case). x F32 contiguous [C, T, H, W] (ne = {W, H, T, C}); w contiguous
 * [O, C, kt, kh, kw] (ne = {kw, kh, kt, C, O}) or [O, C, kh, kw] (ne = {kw, kh, C, O}: kt = 1),
 * any float dtype; bias F32 [O] or NULL; y F32 contiguous [O, To, Ho, Wo] with
 * To = (T + t_front − kt) / st + 1, Ho = (H + top + bottom − kh) / sh + 1, Wo likewise.
 * y must not alias x. Sums in fp32, channel-major then kt, kh, kw ascending, bias last. */
void wr_op_conv3d(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const wr_conv_params *p,
                  wr_tensor *y);

/* y = ConvTranspose2d(x) + bias with stride s and padding p (torch.nn.functional.conv_transpose2d):
 * input pixel (iy, ix) adds x · w[c][o][ky][kx] to output (s·iy − p + ky, s·ix − p + kx).
 * x F32 contiguous ne = {W, H, C}; w F32 contiguous [C, O, kh, kw] (ne = {kw, kh, O, C});
 * bias F32 [O] or NULL; y F32 contiguous ne = {(W − 1)·s − 2p + kw, (H − 1)·s − 2p + kh, O}.
 * Sums start from the bias and run channel-major, then ky, kx ascending. y must not alias x. */
void wr_op_conv_transpose2d(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, int stride, int pad,
                            wr_tensor *y);

/* Bilinear resize of every plane by factor f (F.interpolate(scale_factor=f, mode="bilinear",
 * align_corners=False), no antialias): source coordinate (d + 0.5) / f − 0.5 in float64,
 * clamped below at 0. x F32 contiguous ne = {W, H, C}; y ne = {floor(W·f), floor(H·f), C}. */
void wr_op_resize_bilinear(const wr_tensor *x, double f, wr_tensor *y);

/* RIFE's backward warp: y[c](px, py) = bilinear sample of x[c] at (px + u, py + v), the position
 * clamped to the image (grid_sample(mode="bilinear", padding_mode="border",
 * align_corners=True) on RIFE's normalised grid). x, y F32 contiguous ne = {W, H, C}; flow F32
 * contiguous ne = {W, H, 2} (u plane, then v). y must not alias x or flow. */
void wr_op_warp(const wr_tensor *x, const wr_tensor *flow, wr_tensor *y);

/* ---- planar image glue (RIFE) ------------------------------------------------------------------ */

/* y = f(x) elementwise with scalars a, b; x, y F32 contiguous, same shape; y may alias x.
 *   MUL         x · a            DIV   x / a (a true division, not x · (1/a))
 *   LEAKY_RELU  x >= 0 ? x : a·x (torch.nn.LeakyReLU(a))
 *   CLAMP       x >= a ? x : a, then <= b ? that : b (torch.clamp(x, a, b), but NaN becomes a and
 *               −0 stays −0, as glibc's fminf(fmaxf(x, a), b) that RIFE used before)
 *   FILL        a (x is not read; pass y) */
typedef enum wr_scalar_op {
    WR_SCALAR_MUL,
    WR_SCALAR_DIV,
    WR_SCALAR_LEAKY_RELU,
    WR_SCALAR_CLAMP,
    WR_SCALAR_FILL,
    WR_SCALAR_OP_COUNT
} wr_scalar_op;
void wr_op_scalar(const wr_tensor *x, wr_scalar_op op, float a, float b, wr_tensor *y);

/* y[c] = x[c] · scale[c] + r[c] for every plane c (RIFE's ResConv `conv(x) · beta + x`): x, r, y
 * F32 contiguous ne = {W, H, C}; scale F32 [C]. y may alias x or r. */
void wr_op_channel_scale_add(const wr_tensor *x, const wr_tensor *scale, const wr_tensor *r, wr_tensor *y);

/* PixelShuffle(s) (torch.nn.PixelShuffle): y[c](s·h + i, s·w + j) = x[c·s² + i·s + j](h, w).
 * x F32 contiguous ne = {W, H, C·s²}; y ne = {W·s, H·s, C}; y must not alias x. */
void wr_op_pixel_shuffle(const wr_tensor *x, int s, wr_tensor *y);

/* RIFE's merge: a = sigmoid(mask) = 1 / (1 + expf(−mask)), y[c] = x0[c] · a + x1[c] · (1 − a),
 * mask broadcast over the planes. x0, x1, y F32 contiguous ne = {W, H, C}; mask ne = {W, H}.
 * y must not alias mask; it may alias x0 or x1. */
void wr_op_mask_blend(const wr_tensor *x0, const wr_tensor *x1, const wr_tensor *mask, wr_tensor *y);

/* ---- fused matmul epilogues ------------------------------------------------------------------ */

/* residual[M, N] += (x[M, K] · w[N, K]ᵀ + bias[N]) · gate: wr_op_matmul then wr_op_add_gated in one
 * pass, the same fp32 operations in the same order (y = acc·scale + bias, then residual + y·g),
 * without the [M, N] intermediate on a GPU (Wan's x = x + linear(...) · e[k]). x, w, bias as
 * wr_op_matmul; residual F32 [M, N] contiguous, read and written, must not alias x or gate; gate
 * NULL (= 1), F32 [M, N] with strided rows (one chunk of a [M, 6, N] modulation), or one row [N]
 * broadcast to every row. */
void wr_op_matmul_gated_add(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const wr_tensor *gate,
                            wr_tensor *residual);

/* ---- volume ops (the Wan VAEs) ------------------------------------------------------------------ */

/* Wan's RMS_norm over channels (wan/modules/vae2_1.py RMS_norm, channel_first, then nn.SiLU when
 * silu): y[c][p] = x[c][p] / max(‖x[·][p]‖₂, 1e-12) · √C · gamma[c], the squares summed in double
 * in channel order. x, y F32 contiguous, channel outermost (C = ne[n_dims − 1], every lower
 * dimension a position: a [C, T, H, W] volume is ne = {W, H, T, C}); gamma F32 [C]. y may alias x. */
void wr_op_channel_rms_norm(const wr_tensor *x, const wr_tensor *gamma, int silu, wr_tensor *y);

/* Nearest 2x upsampling of every plane (F.interpolate(scale_factor=2, mode="nearest-exact"):
 * plain duplication at scale 2): y(oy, ox) = x(oy / 2, ox / 2). x F32 contiguous ne = {W, H, ...};
 * y ne = {2W, 2H, ...} with the same outer dimensions. y must not alias x. */
void wr_op_upsample_nearest2x(const wr_tensor *x, wr_tensor *y);

/* y = xᵀ: x F32 contiguous ne = {cols, rows}, y ne = {rows, cols} (torch.Tensor.t().contiguous();
 * the VAE attention block's [C, P] <-> [P, C] glue). y must not alias x. */
void wr_op_transpose(const wr_tensor *x, wr_tensor *y);

/* Wan 2.2's DupUp3D (wan/modules/vae2_2.py): x [Ci, Ti, Hi, Wi] -> y [Co, Ti·ft − drop, Hi·fs, Wi·fs],
 * y[o](t, h, w) = x[c](tf / ft, h / fs, w / fs) with tf = t + drop,
 * k = ((o·ft + tf % ft)·fs + h % fs)·fs + w % fs and c = k / (Co·ft·fs² / Ci) (the channel repeat
 * then the unshuffle; drop = ft − 1 frames in the first chunk). x, y F32 contiguous 4-D; Co·ft·fs²
 * a multiple of Ci; 0 <= drop < ft. y must not alias x. */
void wr_op_dup_up3d(const wr_tensor *x, int ft, int fs, int drop, wr_tensor *y);

#endif
