/* The CPU backend's op implementations (the reference twins of every GPU kernel).
 * Same contracts as runtime/ops.h; arguments arrive validated. */
#ifndef WR_CPU_OPS_H
#define WR_CPU_OPS_H

#include "runtime/ops.h"

void cpu_matmul(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_act act, wr_tensor *y);
void cpu_layer_norm(const wr_tensor *x, const wr_tensor *w, const wr_tensor *b, float eps, wr_tensor *y);
void cpu_rms_norm(const wr_tensor *x, const wr_tensor *w, float eps, wr_tensor *y);
void cpu_modulate(const wr_tensor *x, const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y);
void cpu_add_gated(wr_tensor *x, const wr_tensor *y, const wr_tensor *gate);
void cpu_add(const wr_tensor *x, const wr_tensor *b, wr_tensor *y);
void cpu_activate(wr_tensor *x, wr_act act);
void cpu_rope_wan(wr_tensor *x, int grid_f, int grid_h, int grid_w);
/* Wan's RoPE frequencies θ_j of the 64 pairs (rope_params for dims 44, 42, 42), float64. */
void cpu_rope_wan_theta(double theta[64]);
/* The per-axis angle table of an (F, H, W) grid in kernels/rope_wan.h's layout: cos and sin of
 * pos · θ_j in float64, rounded to f32; tab holds 2 · rope_wan_table_pairs(F, H, W) floats. */
void cpu_rope_wan_table(int grid_f, int grid_h, int grid_w, float *tab);
void cpu_attention(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len, float scale,
                   wr_tensor *out);
void cpu_attention_bias(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, const wr_tensor *bias,
                        const int32_t *key_mask, float scale, wr_tensor *out);
void cpu_timestep_embedding(const wr_tensor *t, wr_tensor *out);
void cpu_conv3d(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const wr_conv_params *p, wr_tensor *y);
void cpu_conv_transpose2d(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, int stride, int pad,
                          wr_tensor *y);
void cpu_resize_bilinear(const wr_tensor *x, double f, wr_tensor *y);
void cpu_warp(const wr_tensor *x, const wr_tensor *flow, wr_tensor *y);
void cpu_scalar(const wr_tensor *x, wr_scalar_op op, float a, float b, wr_tensor *y);
void cpu_channel_scale_add(const wr_tensor *x, const wr_tensor *scale, const wr_tensor *r, wr_tensor *y);
void cpu_pixel_shuffle(const wr_tensor *x, int s, wr_tensor *y);
void cpu_mask_blend(const wr_tensor *x0, const wr_tensor *x1, const wr_tensor *mask, wr_tensor *y);
void cpu_channel_rms_norm(const wr_tensor *x, const wr_tensor *gamma, int silu, wr_tensor *y);
void cpu_upsample_nearest2x(const wr_tensor *x, wr_tensor *y);
void cpu_transpose(const wr_tensor *x, wr_tensor *y);
void cpu_dup_up3d(const wr_tensor *x, int ft, int fs, int drop, wr_tensor *y);
/* One element of wr_op_scalar (the twin's formula, shared with the GPU backend's tests). */
float cpu_scalar_apply(wr_scalar_op op, float v, float a, float b);

/* Scalar activation functions shared by the ops (PyTorch formulas). */
float cpu_gelu_tanh(float x);
float cpu_silu(float x);

#endif
