/* The CPU backend: plain threaded C, the reference for every other backend. */
#include "runtime/backend.h"
#include "runtime/cpu/attention_sage.h"
#include "runtime/cpu/sage_prepare.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/quant.h"

static bool cpu_supports(wr_op_id op, wr_dtype weight_dtype)
{
    (void)op;
    return wr_dequant_get(weight_dtype) != NULL;
}

const wr_backend wr_backend_cpu = {
    .name = "cpu",
    .supports = cpu_supports,
    .matmul = cpu_matmul,
    .layer_norm = cpu_layer_norm,
    .rms_norm = cpu_rms_norm,
    .modulate = cpu_modulate,
    .add_gated = cpu_add_gated,
    .add = cpu_add,
    .rope_wan = cpu_rope_wan,
    .attention = cpu_attention,
    .attention_sage = cpu_attention_sage,
    .self_attention_sage_fused = cpu_self_attention_sage_fused,
    .attention_bias = cpu_attention_bias,
    .timestep_embedding = cpu_timestep_embedding,
    .activate = cpu_activate,
    .conv3d = cpu_conv3d,
    .resize_bilinear = cpu_resize_bilinear,
    .warp = cpu_warp,
    .conv_transpose2d = cpu_conv_transpose2d,
    .scalar = cpu_scalar,
    .channel_scale_add = cpu_channel_scale_add,
    .pixel_shuffle = cpu_pixel_shuffle,
    .mask_blend = cpu_mask_blend,
    .channel_rms_norm = cpu_channel_rms_norm,
    .upsample_nearest2x = cpu_upsample_nearest2x,
    .transpose = cpu_transpose,
    .dup_up3d = cpu_dup_up3d,
};
