/* A backend implements the ops of runtime/ops.h on one kind of device. The op entry points in
 * runtime/ops.c validate arguments once and call the current backend; models never name a
 * device (STYLE.md 9.7). The CPU backend (runtime/cpu/) is the reference. */
#ifndef WR_BACKEND_H
#define WR_BACKEND_H

#include <stdbool.h>

#include "runtime/ops.h"

typedef enum wr_op_id {
    WR_OP_MATMUL,
    WR_OP_LAYER_NORM,
    WR_OP_RMS_NORM,
    WR_OP_MODULATE,
    WR_OP_ADD_GATED,
    WR_OP_ADD,
    WR_OP_ROPE_WAN,
    WR_OP_ATTENTION,
    WR_OP_ATTENTION_BIAS,
    WR_OP_TIMESTEP_EMBEDDING,
    WR_OP_ACTIVATE,
    WR_OP_CONV3D,
    WR_OP_RESIZE_BILINEAR,
    WR_OP_WARP,
    WR_OP_CONV_TRANSPOSE2D,
    WR_OP_SCALAR,
    WR_OP_CHANNEL_SCALE_ADD,
    WR_OP_PIXEL_SHUFFLE,
    WR_OP_MASK_BLEND,
    WR_OP_COUNT
} wr_op_id;

typedef struct wr_backend {
    const char *name;
    /* Whether this backend runs op with these operand dtypes (weights may be quantized). */
    bool (*supports)(wr_op_id op, wr_dtype weight_dtype);
    void (*matmul)(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_act act, wr_tensor *y);
    void (*layer_norm)(const wr_tensor *x, const wr_tensor *w, const wr_tensor *b, float eps, wr_tensor *y);
    void (*rms_norm)(const wr_tensor *x, const wr_tensor *w, float eps, wr_tensor *y);
    void (*modulate)(const wr_tensor *x, const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y);
    void (*add_gated)(wr_tensor *x, const wr_tensor *y, const wr_tensor *gate);
    void (*add)(const wr_tensor *x, const wr_tensor *b, wr_tensor *y);
    void (*rope_wan)(wr_tensor *x, int grid_f, int grid_h, int grid_w);
    void (*attention)(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len,
                      float scale, wr_tensor *out);
    /* wr_op_attention in WR_ATTENTION_SAGE mode (NULL: the CPU twin on host tensors) */
    void (*attention_sage)(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len,
                           float scale, wr_tensor *out);
    /* wr_op_self_attention_sage_fused (NULL: the CPU twin on host tensors) */
    void (*self_attention_sage_fused)(const wr_tensor *q_raw, const wr_tensor *k_raw, const wr_tensor *v,
                                      const wr_tensor *norm_q, const wr_tensor *norm_k, float eps, int grid_f,
                                      int grid_h, int grid_w, float scale, wr_tensor *out);
    void (*attention_bias)(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, const wr_tensor *bias,
                           const int32_t *key_mask, float scale, wr_tensor *out);
    void (*timestep_embedding)(const wr_tensor *t, wr_tensor *out);
    void (*activate)(wr_tensor *x, wr_act act);
    void (*conv3d)(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const wr_conv_params *p,
                   wr_tensor *y);
    void (*resize_bilinear)(const wr_tensor *x, double f, wr_tensor *y);
    void (*warp)(const wr_tensor *x, const wr_tensor *flow, wr_tensor *y);
    void (*conv_transpose2d)(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, int stride, int pad,
                             wr_tensor *y);
    /* wr_op_layer_norm_modulate in one pass (NULL: layer_norm, then modulate). */
    void (*layer_norm_modulate)(const wr_tensor *x, const wr_tensor *w, const wr_tensor *b, float eps,
                                const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y);
    /* Buffers and weight placement (runtime/buffers.h); NULL members: host memory, weights stay
     * where they are. */
    const struct wr_buffer_ops *buffers;
    /* wr_op_matmul_gated_add fused into the matmul (NULL, or a weight dtype supports() refuses for
     * WR_OP_MATMUL: ops.c composes matmul into a scratch and add_gated, the same fp32 operations) */
    void (*matmul_gated_add)(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const wr_tensor *gate,
                             wr_tensor *residual);
    /* planar image glue (RIFE) */
    void (*scalar)(const wr_tensor *x, wr_scalar_op op, float a, float b, wr_tensor *y);
    void (*channel_scale_add)(const wr_tensor *x, const wr_tensor *scale, const wr_tensor *r, wr_tensor *y);
    void (*pixel_shuffle)(const wr_tensor *x, int s, wr_tensor *y);
    void (*mask_blend)(const wr_tensor *x0, const wr_tensor *x1, const wr_tensor *mask, wr_tensor *y);
    /* volume ops (the Wan VAEs) */
    void (*channel_rms_norm)(const wr_tensor *x, const wr_tensor *gamma, int silu, wr_tensor *y);
    void (*upsample_nearest2x)(const wr_tensor *x, wr_tensor *y);
    void (*transpose)(const wr_tensor *x, wr_tensor *y);
    void (*dup_up3d)(const wr_tensor *x, int ft, int fs, int drop, wr_tensor *y);
} wr_backend;

extern const wr_backend wr_backend_cpu;

/* The backend the ops dispatch to (the CPU backend unless another is selected). */
const wr_backend *wr_backend_current(void);
void wr_backend_select(const wr_backend *b);

#endif
