/* The GPU backend's op launchers, one file per op family (runtime/gpu/<op>.c + kernels/<op>.cu).
 * They run unchanged on CUDA and on the emulator. Tensors describe device memory (data is a
 * device pointer); activations are f32 and contiguous; outputs are passed in, never allocated.
 * Anything else fails with WR_E_UNSUPPORTED naming the op and the tensor. Each launcher also
 * lists the specialisations it uses for the real configs (wr_<op>_kspecs, kregistry.h). */
#ifndef WR_GPU_OPS_H
#define WR_GPU_OPS_H

#include "runtime/gpu/gpu.h"
#include "runtime/gpu/kregistry.h"
#include "runtime/ops.h"
#include "runtime/tensor.h"

typedef enum wr_gpu_unary_op {
    WR_GPU_UNARY_COPY,
    WR_GPU_UNARY_SILU,
    WR_GPU_UNARY_GELU_TANH,
    WR_GPU_UNARY_GELU_ERF,
    WR_GPU_UNARY_COUNT
} wr_gpu_unary_op;

typedef enum wr_gpu_binary_op { WR_GPU_BINARY_ADD, WR_GPU_BINARY_MUL, WR_GPU_BINARY_SUB, WR_GPU_BINARY_COUNT } wr_gpu_binary_op;

/* y = f(x); same shape; y may alias x. */
wr_status wr_gpu_unary(wr_gpu *g, wr_gpu_unary_op op, const wr_tensor *x, wr_tensor *y, wr_gpu_stream *s);
/* y = a (op) b, b broadcast by repetition: nelements(a) % nelements(b) == 0 (a row vector, or a
 * per-batch block). */
wr_status wr_gpu_binary(wr_gpu *g, wr_gpu_binary_op op, const wr_tensor *a, const wr_tensor *b, wr_tensor *y,
                        wr_gpu_stream *s);
/* x += r * gate, gate broadcast by repetition like b above (Wan's x = x + y * e[k]). */
wr_status wr_gpu_gated_add(wr_gpu *g, wr_tensor *x, const wr_tensor *r, const wr_tensor *gate, wr_gpu_stream *s);

/* y = x * (1 + scale) + shift, all the same shape; y may alias x. */
wr_status wr_gpu_modulate(wr_gpu *g, const wr_tensor *x, const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y,
                          wr_gpu_stream *s);

typedef enum wr_gpu_norm_kind { WR_GPU_NORM_LAYER, WR_GPU_NORM_RMS, WR_GPU_NORM_COUNT } wr_gpu_norm_kind;

/* Normalises each row (ne[0] elements) of x into y (may alias):
 *   kind   layer: (x - mean) / sqrt(var + eps);  rms: x / sqrt(mean(x^2) + eps)
 *   weight, bias  [C] affine (NULL for none; bias ignored by rms)
 *   shift, scale  modulation rows [R / mod_div][C] (NULL for none): y = n (1 + scale) + shift */
typedef struct wr_gpu_norm_args {
    wr_gpu_norm_kind kind;
    float eps;
    const wr_tensor *weight, *bias;
    const wr_tensor *shift, *scale;
    int64_t mod_div; /* rows sharing one modulation row (1 = per row, T = per batch of T tokens) */
} wr_gpu_norm_args;
wr_status wr_gpu_norm(wr_gpu *g, const wr_gpu_norm_args *a, const wr_tensor *x, wr_tensor *y, wr_gpu_stream *s);

/* RoPE on x = ne {HD, NH, T, B} with tables cos/sin = ne {HD/2, T}; y may alias x. */
wr_status wr_gpu_rope(wr_gpu *g, const wr_tensor *x, const wr_tensor *cos_t, const wr_tensor *sin_t, wr_tensor *y,
                      wr_gpu_stream *s);

/* y = x W^T (* w->scale) + bias: x ne {K, M...}, w ne {K, N} in F32/BF16/F8_E4M3FN/Q8_0,
 * bias ne {N} f32 or NULL, y ne {N, M...}. */
wr_status wr_gpu_matmul(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_tensor *y,
                        wr_gpu_stream *s);

/* Whether wr_gpu_matmul has a kernel for this weight dtype (F32, BF16, F8_E4M3FN, Q8_0). */
bool wr_gpu_matmul_supports(wr_dtype weight_dtype);

typedef enum wr_gpu_matmul_precision {
    WR_GPU_MATMUL_FP32,     /* fp32 products and sums (matches the CPU backend to fp32 rounding) */
    WR_GPU_MATMUL_BF16_MMA, /* tensor cores: operands rounded to bf16, fp32 accumulation (sm_80+) */
    WR_GPU_MATMUL_PRECISION_COUNT
} wr_gpu_matmul_precision;
/* wr_gpu_matmul with a chosen arithmetic (wr_gpu_matmul is WR_GPU_MATMUL_FP32). */
wr_status wr_gpu_matmul_ex(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_tensor *y,
                           wr_gpu_matmul_precision prec, wr_gpu_stream *s);

/* Matmul with quantised activations on the tensor cores (kernels/matmul_q.cu), the weight read in
 * its file format:
 *   INT8  Q8_0 weights; x quantised per row and 32-column block (d = max|x| / 127, int8 codes),
 *         s8 mma per block, fp32 accumulation: the arithmetic of runtime/cpu/matmul_q8.c. sm_80+
 *   FP8   F8_E4M3FN weights (w->scale per tensor); x quantised per row to e4m3 (scale max|x| / 448),
 *         e4m3 mma with fp32 accumulation. sm_89+
 * A NaN in a row of x makes that row of y NaN (as the fp32 matmul). */
typedef enum wr_gpu_mmq { WR_GPU_MMQ_INT8, WR_GPU_MMQ_FP8 } wr_gpu_mmq;
/* The device temporaries wr_gpu_matmul_q allocates for x [M, K] (codes and scales). */
size_t wr_gpu_matmul_q_workspace_bytes(int64_t M, int64_t K, bool f8);
wr_status wr_gpu_matmul_q(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_tensor *y,
                          wr_gpu_mmq q, wr_gpu_stream *s);

/* The arithmetic of a matmul: the two of wr_gpu_matmul_ex and the two of wr_gpu_matmul_q. */
typedef enum wr_gpu_matmul_route {
    WR_GPU_MM_FP32,     /* kernels/matmul.cu matmul_f32_w, any GPU weight dtype */
    WR_GPU_MM_BF16_MMA, /* kernels/matmul.cu matmul_bf16_mma (sm_80+) */
    WR_GPU_MM_INT8,     /* kernels/matmul_q.cu, Q8_0 weights (sm_80+) */
    WR_GPU_MM_FP8,      /* kernels/matmul_q.cu, F8_E4M3FN weights (sm_89+) */
    WR_GPU_MM_ROUTE_COUNT
} wr_gpu_matmul_route;

/* What the kernel does with v = x·Wᵀ·scale + bias before it stores (kernels/mm_epilogue.cuh):
 * y = act(v), or with residual y = y + v · gate in place (y is read: Wan's x = x + linear(...) · e[k]
 * in one pass, no y buffer). NULL: y = v. */
typedef struct wr_gpu_matmul_epilogue {
    wr_act act;            /* WR_ACT_NONE / GELU_TANH / SILU; NONE with residual */
    bool residual;         /* y += v · gate, y read and rewritten */
    const wr_tensor *gate; /* residual: F32 ne {N, M...} whose rows sit nb[1] apart (a strided view such as
                              one chunk of a [M, 6, N] modulation), or one row [N] for every row; NULL = 1 */
} wr_gpu_matmul_epilogue;
/* wr_gpu_matmul on a chosen route with a fused epilogue; wr_gpu_matmul, _ex and _q are this with
 * epi NULL. The int8/fp8 routes allocate their activation codes and synchronise s. */
wr_status wr_gpu_matmul_epi(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias,
                            const wr_gpu_matmul_epilogue *epi, wr_tensor *y, wr_gpu_matmul_route route,
                            wr_gpu_stream *s);

/* o = softmax(scale q k^T) v per head: q, o ne {HD, NH, Tq, B}; k, v ne {HD, NH, Tk, B}. */
wr_status wr_gpu_attention(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, float scale,
                           wr_tensor *o, wr_gpu_stream *s);
/* wr_gpu_attention with a chosen arithmetic: FP32 (the default) or BF16_MMA (q, k, v and the
 * probabilities rounded to bf16 for the tensor cores, fp32 softmax and accumulation; sm_80+). */
wr_status wr_gpu_attention_ex(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, float scale,
                              wr_tensor *o, wr_gpu_matmul_precision prec, wr_gpu_stream *s);

/* fp32 attention with T5's additive bias (ne {Tk, Tq, NH}, f32, or NULL) and key mask (I32 ne {Tk},
 * 0 = masked, or NULL): logits of masked keys get float's lowest value added instead of the bias. */
wr_status wr_gpu_attention_bias(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v,
                                const wr_tensor *bias, const wr_tensor *key_mask, float scale, wr_tensor *o,
                                wr_gpu_stream *s);

/* y = conv3d(x, w) + bias with strides and zero padding p (as wr_op_conv3d, runtime/ops.h):
 * x ne {W, H, T, C}, w ne {kw, kh, kt, C, O} or {kw, kh, C, O} in F32/BF16/F16 (kernel extents
 * up to 7), bias ne {O} f32 or NULL, y ne {Wo, Ho, To, O} already shaped by the caller. */
wr_status wr_gpu_conv3d(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias,
                        const wr_conv_params *p, wr_tensor *y, wr_gpu_stream *s);
/* wr_gpu_conv3d with a chosen arithmetic: FP32 (the default) or BF16_MMA (patch and weight
 * rounded to bf16 for the tensor cores, fp32 accumulation; sm_80+). */
wr_status wr_gpu_conv3d_ex(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias,
                           const wr_conv_params *p, wr_tensor *y, wr_gpu_matmul_precision prec, wr_gpu_stream *s);
/* Whether wr_gpu_conv3d has a kernel for this weight dtype. */
bool wr_gpu_conv3d_supports(wr_dtype weight_dtype);

/* y = ConvTranspose2d(x, w) + bias (as wr_op_conv_transpose2d): x ne {W, H, C}, w f32
 * ne {kw, kh, O, C}, bias f32 ne {O} or NULL, y ne {(W-1)·stride − 2·pad + kw, ..., O}. */
wr_status wr_gpu_conv_transpose2d(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, int stride,
                                  int pad, wr_tensor *y, wr_gpu_stream *s);
/* Whether wr_gpu_conv_transpose2d has a kernel for this geometry (kernels up to 8, stride up to 4). */
bool wr_gpu_conv_transpose2d_supports(int kh, int kw, int stride, int pad);

/* Bilinear resize by f of planes x ne {W, H, planes...} into y ne {floor(W f), floor(H f), planes...}
 * (as wr_op_resize_bilinear). */
wr_status wr_gpu_resize_bilinear(wr_gpu *g, const wr_tensor *x, double f, wr_tensor *y, wr_gpu_stream *s);
/* RIFE's backward warp of x ne {W, H, planes...} by flow ne {W, H, 2} into y (as wr_op_warp). */
wr_status wr_gpu_warp(wr_gpu *g, const wr_tensor *x, const wr_tensor *flow, wr_tensor *y, wr_gpu_stream *s);
/* RIFE's planar glue (kernels/planar.cu), as wr_op_scalar / wr_op_channel_scale_add /
 * wr_op_pixel_shuffle / wr_op_mask_blend (runtime/ops.h), aliasing allowed where those allow it. */
wr_status wr_gpu_scalar(wr_gpu *g, const wr_tensor *x, wr_scalar_op op, float a, float b, wr_tensor *y,
                        wr_gpu_stream *s);
wr_status wr_gpu_channel_scale_add(wr_gpu *g, const wr_tensor *x, const wr_tensor *scale, const wr_tensor *r,
                                   wr_tensor *y, wr_gpu_stream *s);
wr_status wr_gpu_pixel_shuffle(wr_gpu *g, const wr_tensor *x, int sc, wr_tensor *y, wr_gpu_stream *s);
wr_status wr_gpu_mask_blend(wr_gpu *g, const wr_tensor *x0, const wr_tensor *x1, const wr_tensor *mask, wr_tensor *y,
                            wr_gpu_stream *s);
/* The Wan VAEs' volume ops (kernels/volume.cu), as wr_op_channel_rms_norm (y may alias x) and
 * wr_op_upsample_nearest2x (runtime/ops.h). */
wr_status wr_gpu_channel_rms_norm(wr_gpu *g, const wr_tensor *x, const wr_tensor *gamma, int silu, wr_tensor *y,
                                  wr_gpu_stream *s);
wr_status wr_gpu_upsample_nearest2x(wr_gpu *g, const wr_tensor *x, wr_tensor *y, wr_gpu_stream *s);
/* y = xᵀ for x ne {cols, rows} (as wr_op_transpose). */
wr_status wr_gpu_transpose(wr_gpu *g, const wr_tensor *x, wr_tensor *y, wr_gpu_stream *s);
/* Wan 2.2's DupUp3D (as wr_op_dup_up3d). */
wr_status wr_gpu_dup_up3d(wr_gpu *g, const wr_tensor *x, int ft, int fs, int drop, wr_tensor *y, wr_gpu_stream *s);
/* Sage-style quantised attention (kernels/attention_sage.cu, sm_80+, HD 64 or 128): k smoothed by
 * its mean over the Tk keys, q and k quantised to int8 per block of rows (kernels/sage_layout.h),
 * int8 Q·Kᵀ, fp32 online softmax, P·V in fp16 (fp8 from sm_89) with fp32 accumulation. Shapes as wr_gpu_attention;
 * device temporaries for the codes and scales are allocated and freed inside (synchronises s). */
wr_status wr_gpu_attention_sage(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, float scale,
                                wr_tensor *o, wr_gpu_stream *s);
/* The P·V arithmetic of Sage attention: fp16 (attn_qk_i8_pv_f16, sm_80+) or e4m3 with per-channel V
 * scales (attn_qk_i8_pv_f8, sm_89+). wr_gpu_attention_sage picks F8 from sm_89, as SageAttention2's
 * dispatcher does. */
typedef enum wr_gpu_sage_pv { WR_GPU_SAGE_PV_F16, WR_GPU_SAGE_PV_F8 } wr_gpu_sage_pv;
wr_status wr_gpu_attention_sage_ex(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, float scale,
                                   wr_tensor *o, wr_gpu_sage_pv pv, wr_gpu_stream *s);

/* The device temporaries of one Sage attention call, carved from one caller-provided workspace
 * (the memory planner sizes it with wr_gpu_attention_sage_workspace_bytes; 256-byte aligned
 * parts). Unused parts (fp8 ones under fp16 P·V) are NULL. */
typedef struct wr_gpu_sage_ws {
    void *q8, *k8;   /* int8 codes [B][Tq or Tk][NH][HD] */
    void *qs, *ks;   /* f32 block scales [B][NH][ceil(T / SAGE_Q_ROWS or SAGE_K_ROWS)] */
    void *part;      /* f32 [B][NH][ceil(Tk / SAGE_SUM_CHUNK)][HD]: K's (then V's) chunk sums */
    void *mean;      /* f32 [B][NH][HD]: K's mean over the Tk keys */
    void *qinv;      /* f32 [B][Tq]: 1/rms of the raw q rows (fused preparation) */
    void *kinv;      /* f32 [B][Tk]: the same for k */
    void *v8;        /* fp8: e4m3 codes of v − its mean, [B][Tk][NH][HD] */
    void *vs, *vmean; /* fp8: f32 [B][NH][HD] per-channel scales and means of V */
    void *vamax;     /* fp8: u32 [B][NH][HD] absmax bits (atomicMax) */
} wr_gpu_sage_ws;
/* Workspace bytes of a Sage attention call (plain or fused; f8: the e4m3 P·V variant) of these
 * sizes: what wr_gpu_attention_sage[_ex] allocate, and what the _ws / _fused launchers need. */
size_t wr_gpu_attention_sage_workspace_bytes(int B, int NH, int Tq, int Tk, int HD, bool f8);
/* The parts of workspace ws (bytes long) for these sizes; WR_E_ARG when it is too small. */
wr_status wr_gpu_sage_ws_carve(void *ws, size_t bytes, int64_t B, int64_t NH, int64_t Tq, int64_t Tk, int64_t HD,
                               wr_gpu_sage_pv pv, wr_gpu_sage_ws *out);
/* wr_gpu_attention_sage_ex in a caller's workspace: nothing allocated, nothing synchronised. */
wr_status wr_gpu_attention_sage_ws(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, float scale,
                                   wr_tensor *o, wr_gpu_sage_pv pv, void *ws, size_t ws_bytes, wr_gpu_stream *s);

/* The q/k preparation Wan's self-attention does before attention: RMSNorm over the whole model
 * dim NH·HD (weights norm_q / norm_k, f32 [NH·HD] on the device) and Wan's 3-D RoPE of the
 * (grid_f, grid_h, grid_w) token grid, whose angle table rope_tab (f32, 2 · rope_wan_table_pairs
 * floats, built by cpu_rope_wan_table) is on the device too. */
typedef struct wr_gpu_sage_prep {
    const wr_tensor *norm_q, *norm_k;
    float eps;
    const wr_tensor *rope_tab;
    int grid_f, grid_h, grid_w;
} wr_gpu_sage_prep;
/* Sage attention of the raw projections q_raw {128, NH, Tq, B} and k_raw {128, NH, Tk, B}
 * prepared by p: the fused kernels (kernels/sage_prepare.cu) norm, rotate and quantise q and k
 * straight into the workspace's codes (nothing f32 of the normed q or k is written), then the
 * attention of wr_gpu_attention_sage_ws. Equals rms_norm → rope → wr_gpu_attention_sage_ws up to
 * float rounding (fp32 norm statistics, fp32 rotation). Nothing allocated or synchronised. */
wr_status wr_gpu_attention_sage_fused(wr_gpu *g, const wr_tensor *q_raw, const wr_tensor *k_raw, const wr_tensor *v,
                                      const wr_gpu_sage_prep *p, float scale, wr_tensor *o, wr_gpu_sage_pv pv,
                                      void *ws, size_t ws_bytes, wr_gpu_stream *s);

void wr_elementwise_kspecs(wr_kcheck_list *l);
void wr_norm_kspecs(wr_kcheck_list *l);
void wr_rope_kspecs(wr_kcheck_list *l);
void wr_matmul_kspecs(wr_kcheck_list *l);
void wr_matmul_q_kspecs(wr_kcheck_list *l);
void wr_attention_kspecs(wr_kcheck_list *l);
void wr_conv_kspecs(wr_kcheck_list *l);
void wr_resample_kspecs(wr_kcheck_list *l);
void wr_planar_kspecs(wr_kcheck_list *l);
void wr_volume_kspecs(wr_kcheck_list *l);
void wr_attention_sage_kspecs(wr_kcheck_list *l);

#endif
