/* The CPU twin of kernels/attention_sage.cu (Sage-style int8 attention; contract in
 * kernels/sage_layout.h). Each function has the arguments of the kernel of the same name and
 * does the same arithmetic in the same order as the emulated kernel, so the emulator matches it
 * to the bit (on a GPU: to the hardware's mma summation order and exp2f's 2 ulp).
 * Layouts: x, q, k, v, o f32 [B][T][NH][HD]; codes int8 alike; scales f32 [B][NH][nblocks]. */
#ifndef WR_CPU_ATTENTION_SAGE_H
#define WR_CPU_ATTENTION_SAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/ops.h"

/* mean[b][h][d] = (in-order float sum of the SAGE_SUM_CHUNK-key chunk sums of k[b][0..Tk)[h][d]) / Tk. */
void cpu_sage_k_mean(const float *k, float *mean, int B, int Tk, int NH, int HD);
/* int8 codes of x − mean (mean NULL: x) per block of `rows` tokens; scales = amax/127 · extra. */
void cpu_sage_quant_i8(const float *x, const float *mean, int8_t *x8, float *scales, int B, int T, int NH, int HD,
                       int rows, float extra);
/* o = softmax(Q Kᵀ) V (log2-domain logits from the codes and scales; P and V rounded to fp16). */
void cpu_attn_qk_i8_pv_f16(const int8_t *q8, const float *qs, const int8_t *k8, const float *ks, const float *v,
                           float *o, int B, int Tq, int Tk, int NH, int HD);
/* e4m3 codes of v − mean (mean [B][NH][HD]: V's, from cpu_sage_k_mean) with one scale per channel
 * over the Tk keys (vscale [B][NH][HD] = amax / 448). */
void cpu_sage_quant_v_f8(const float *v, const float *mean, uint8_t *v8, float *vscale, int B, int Tk, int NH,
                         int HD);
/* cpu_attn_qk_i8_pv_f16 with P·V in e4m3: P · 448 and the V codes, summed per 32 keys in the
 * mma's slot order into a per-tile accumulator, output · vscale / 448 + vmean (SageAttention2). */
void cpu_attn_qk_i8_pv_f8(const int8_t *q8, const float *qs, const int8_t *k8, const float *ks, const uint8_t *v8,
                          const float *vscale, const float *vmean, float *o, int B, int Tq, int Tk, int NH, int HD);
/* The whole op on host tensors, shapes as wr_op_attention (HD a multiple of 32): smoothing and
 * quantisation of q and k[:kv_len], then the attention over the first kv_len keys. */
void cpu_attention_sage(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len, float scale,
                        wr_tensor *out);

/* The launcher's whole pipeline on raw arrays (B batches, layouts as above; attention_sage_pipeline.c):
 * K mean, int8 codes of q and of k − mean (smooth = false: of k), then P·V in fp16 or, with f8, in
 * e4m3 with V's channel mean and scales (wr_gpu_attention_sage_ex's two arithmetics). */
void cpu_attention_sage_pipeline(const float *q, const float *k, const float *v, float *o, int B, int Tq, int Tk,
                                 int NH, int HD, float scale, bool smooth, bool f8);

#endif
