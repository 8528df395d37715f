/* The CPU twin of kernels/sage_prepare.cu (the fused RMSNorm + RoPE + int8 quantisation of Wan's
 * self-attention q and k for Sage attention; arithmetic in kernels/sage_prepare.h). Each function
 * does what the kernel of the same name does, in the same order, so the emulator matches it to
 * the bit. Layouts: x raw f32 [B][T][NH][128] (token rows of D = NH·128); inv f32 [B][T]; w f32
 * [D]; rope_tab: kernels/rope_wan.h's angle table; codes and scales as kernels/sage_layout.h. */
#ifndef WR_CPU_SAGE_PREPARE_H
#define WR_CPU_SAGE_PREPARE_H

#include <stdint.h>

#include "runtime/ops.h"

/* inv[b·T + t] = 1 / sqrt(Σ x² / D + eps) of each token row, in the kernel's reduction order. */
void cpu_sage_prep_rms_inv(const float *x, float *inv, int B, int T, int D, float eps);
/* mean[b][h][d] of the normed, rotated k over the T tokens: the in-order sums of the
 * SAGE_SUM_CHUNK-token chunks (sage_prep_k_sum_chunks), summed in order, / T (sage_k_mean). */
void cpu_sage_prep_k_mean(const float *k, const float *inv, const float *w, const float *rope_tab, float *mean, int B,
                          int T, int NH, int gf, int gh, int gw);
/* int8 codes of the normed, rotated x − mean (mean NULL: none) per block of `rows` tokens,
 * scales = amax / 127 · extra (cpu_sage_quant_i8 on values computed on the fly). */
void cpu_sage_prep_quant_i8(const float *x, const float *inv, const float *w, const float *rope_tab,
                            const float *mean, int8_t *x8, float *scales, int B, int T, int NH, int rows, float extra,
                            int gf, int gh, int gw);
/* wr_op_self_attention_sage_fused on host tensors: the twins above, then cpu_attn_qk_i8_pv_f16. */
void cpu_self_attention_sage_fused(const wr_tensor *q_raw, const wr_tensor *k_raw, const wr_tensor *v,
                                   const wr_tensor *norm_q, const wr_tensor *norm_k, float eps, int grid_f,
                                   int grid_h, int grid_w, float scale, wr_tensor *out);

#endif
