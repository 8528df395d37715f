/* The GPU backend (see backend_gpu.h): the matmul, norm, elementwise, convolution and resampling
 * ops, the backend table and device selection (staging: backend_gpu_stage.c; attention:
 * backend_gpu_attention.c). */
#include "runtime/gpu/backend_gpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/rope_wan.h"
#include "runtime/cpu/attention_sage.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/sage_prepare.h"
#include "runtime/gpu/backend_gpu_internal.h"
#include "runtime/gpu/backend_gpu_mem.h"
#include "runtime/gpu/gpu_ops.h"
#include "runtime/log.h"

/* ---- ops ------------------------------------------------------------------------------------ */

static bool gpu_weight_dtype(wr_dtype t) { return wr_gpu_matmul_supports(t); }

static bool gpu_supports(wr_op_id op, wr_dtype weight_dtype)
{
    switch (op) {
    case WR_OP_MATMUL:
        return gpu_weight_dtype(weight_dtype);
    case WR_OP_TIMESTEP_EMBEDDING:
        return false; /* computed by the CPU backend */
    case WR_OP_CONV3D:
        return wr_gpu_conv3d_supports(weight_dtype);
    default:
        return true;
    }
}

static void activate_staged(wr_tensor *t, wr_act act)
{
    if (act == WR_ACT_NONE)
        return;
    wr_gpu_unary_op op = act == WR_ACT_SILU ? WR_GPU_UNARY_SILU : WR_GPU_UNARY_GELU_TANH;
    CHECK(wr_gpu_unary(gpu_dev, op, t, t, NULL));
}

/* The route for weight dtype wt: int8/fp8 activations where WANRT_GPU_PRECISION asks for them and the
 * device has the tensor cores (else a warning, once, and gpu_prec), else gpu_prec. */
static wr_gpu_matmul_route matmul_route(wr_dtype wt)
{
    wr_gpu_mmq q = wt == WR_DTYPE_Q8_0 ? WR_GPU_MMQ_INT8 : WR_GPU_MMQ_FP8;
    bool quant = (q == WR_GPU_MMQ_INT8 && gpu_act_i8) || (wt == WR_DTYPE_F8_E4M3FN && gpu_act_f8);
    int need = q == WR_GPU_MMQ_INT8 ? 80 : 89;
    if (quant && wr_gpu_arch(gpu_dev) < need) {
        static _Atomic int warned[2];
        if (!warned[q]++)
            wr_log_warn("WANRT_GPU_PRECISION: %s tensor cores need sm_%d, the device is sm_%d: those matmuls stay "
                        "on the %s path", q == WR_GPU_MMQ_INT8 ? "int8" : "fp8", need, wr_gpu_arch(gpu_dev),
                        gpu_prec == WR_GPU_MATMUL_FP32 ? "fp32" : "bf16");
        quant = false;
    }
    if (quant)
        return q == WR_GPU_MMQ_INT8 ? WR_GPU_MM_INT8 : WR_GPU_MM_FP8;
    return gpu_prec == WR_GPU_MATMUL_BF16_MMA ? WR_GPU_MM_BF16_MMA : WR_GPU_MM_FP32;
}

/* One matmul launch on staged operands: y (already staged, uploaded when the epilogue reads it) gets
 * the epilogue; the activation runs in the kernel, not as a separate pass. */
static void matmul_staged(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias,
                          const wr_gpu_matmul_epilogue *epi, stage *sy)
{
    stage sx, sw, sb;
    gpu_stage_in(&sx, x, true);
    gpu_stage_in(&sw, w, true);
    if (bias)
        gpu_stage_in(&sb, bias, true);
    CHECK(wr_gpu_matmul_epi(gpu_dev, &sx.t, &sw.t, bias ? &sb.t : NULL, epi, &sy->t, matmul_route(w->dtype), NULL));
    gpu_finish();
    gpu_stage_out(sy, true);
    gpu_stage_out(&sx, false);
    gpu_stage_out(&sw, false);
    if (bias)
        gpu_stage_out(&sb, false);
}

static void gpu_matmul(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_act act, wr_tensor *y)
{
    if (!gpu_weight_dtype(w->dtype)) {
        gpu_note_fallback(FB_MATMUL, wr_dtype_name(w->dtype)[0] == 'Q' ? "matmul with Q4/Q5/K-quant weights" : "matmul with this weight dtype");
        mirror mx, mw, mb, my;
        gpu_mirror_in(&mx, x, true), gpu_mirror_in(&mw, w, true), gpu_mirror_in(&my, y, false);
        if (bias)
            gpu_mirror_in(&mb, bias, true);
        wr_backend_cpu.matmul(&mx.t, &mw.t, bias ? &mb.t : NULL, act, &my.t);
        gpu_mirror_out(&my, true), gpu_mirror_out(&mx, false), gpu_mirror_out(&mw, false);
        if (bias)
            gpu_mirror_out(&mb, false);
        return;
    }
    stage sy;
    gpu_stage_in(&sy, y, false);
    wr_gpu_matmul_epilogue epi = {.act = act};
    matmul_staged(x, w, bias, &epi, &sy);
}

/* residual += (x·Wᵀ + bias) · gate in one kernel (ops.c sends other weight dtypes to the
 * composition of matmul and add_gated). A device-resident gate whose rows are evenly spaced (a
 * chunk of the modulation, one row, or a broadcast view) goes to the kernel as it is; a host gate
 * is staged (strided rows arrive packed). */
static void gpu_matmul_gated_add(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const wr_tensor *gate,
                                 wr_tensor *residual)
{
    size_t stride;
    bool gate_in_place = gate && gpu_mem_holds(gate->data, gpu_extent(gate)) && wr_tensor_row_stride(gate, &stride);
    stage sr, sg;
    gpu_stage_in(&sr, residual, true);
    if (gate && !gate_in_place)
        gpu_stage_in(&sg, gate, true);
    wr_gpu_matmul_epilogue epi = {.residual = true, .gate = !gate ? NULL : gate_in_place ? gate : &sg.t};
    matmul_staged(x, w, bias, &epi, &sr);
    if (gate && !gate_in_place)
        gpu_stage_out(&sg, false);
}

/* A row norm, with AdaLN modulation when shift/scale are given: one row for all rows or one per
 * row (mod_div). */
static void norm(wr_gpu_norm_kind kind, const wr_tensor *x, const wr_tensor *w, const wr_tensor *b, float eps,
                 const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y)
{
    stage sx, sw, sb, ssh, ssc, sy;
    gpu_stage_in(&sx, x, true);
    if (w)
        gpu_stage_in(&sw, w, true);
    if (b)
        gpu_stage_in(&sb, b, true);
    if (shift)
        gpu_stage_in(&ssh, shift, true), gpu_stage_in(&ssc, scale, true);
    bool alias = x->data == y->data;
    if (!alias)
        gpu_stage_in(&sy, y, false);
    int64_t rows = wr_tensor_nrows(x);
    wr_gpu_norm_args a = {.kind = kind, .eps = eps, .weight = w ? &sw.t : NULL, .bias = b ? &sb.t : NULL,
                          .shift = shift ? &ssh.t : NULL, .scale = shift ? &ssc.t : NULL,
                          .mod_div = shift && wr_tensor_nrows(shift) == 1 ? rows : 1};
    CHECK(wr_gpu_norm(gpu_dev, &a, &sx.t, alias ? &sx.t : &sy.t, NULL));
    gpu_finish();
    if (!alias)
        gpu_stage_out(&sy, true);
    gpu_stage_out(&sx, alias);
    if (w)
        gpu_stage_out(&sw, false);
    if (b)
        gpu_stage_out(&sb, false);
    if (shift)
        gpu_stage_out(&ssh, false), gpu_stage_out(&ssc, false);
}

static void gpu_layer_norm(const wr_tensor *x, const wr_tensor *w, const wr_tensor *b, float eps, wr_tensor *y)
{
    norm(WR_GPU_NORM_LAYER, x, w, b, eps, NULL, NULL, y);
}

static void gpu_rms_norm(const wr_tensor *x, const wr_tensor *w, float eps, wr_tensor *y)
{
    norm(WR_GPU_NORM_RMS, x, w, NULL, eps, NULL, NULL, y);
}

static void gpu_layer_norm_modulate(const wr_tensor *x, const wr_tensor *w, const wr_tensor *b, float eps,
                                    const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y)
{
    norm(WR_GPU_NORM_LAYER, x, w, b, eps, shift, scale, y);
}

static void gpu_modulate(const wr_tensor *x, const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y)
{
    stage sx, ssh, ssc, sy;
    gpu_stage_in(&sx, x, true);
    gpu_stage_in(&ssh, shift, true);
    gpu_stage_in(&ssc, scale, true);
    bool alias = x->data == y->data;
    if (!alias)
        gpu_stage_in(&sy, y, false);
    CHECK(wr_gpu_modulate(gpu_dev, &sx.t, &ssh.t, &ssc.t, alias ? &sx.t : &sy.t, NULL));
    gpu_finish();
    if (!alias)
        gpu_stage_out(&sy, true);
    gpu_stage_out(&sx, alias);
    gpu_stage_out(&ssh, false);
    gpu_stage_out(&ssc, false);
}

static void gpu_add_gated(wr_tensor *x, const wr_tensor *y, const wr_tensor *gate)
{
    wr_tensor row;
    if (gate && gate->nb[1] == 0 && wr_tensor_nrows(gate) > 1) { /* one row for all: the kernel repeats it */
        WR_ASSERT(wr_tensor_init(&row, WR_DTYPE_F32, 1, gate->ne, gate->data), "gate row");
        gate = &row;
    }
    stage sx, sy, sg;
    gpu_stage_in(&sx, x, true);
    gpu_stage_in(&sy, y, true);
    if (gate) {
        gpu_stage_in(&sg, gate, true);
        CHECK(wr_gpu_gated_add(gpu_dev, &sx.t, &sy.t, &sg.t, NULL));
    } else {
        CHECK(wr_gpu_binary(gpu_dev, WR_GPU_BINARY_ADD, &sx.t, &sy.t, &sx.t, NULL));
    }
    gpu_finish();
    gpu_stage_out(&sx, true);
    gpu_stage_out(&sy, false);
    if (gate)
        gpu_stage_out(&sg, false);
}

static void gpu_add(const wr_tensor *x, const wr_tensor *b, wr_tensor *y)
{
    stage sx, sb, sy;
    gpu_stage_in(&sx, x, true);
    gpu_stage_in(&sb, b, true);
    bool alias = x->data == y->data;
    if (!alias)
        gpu_stage_in(&sy, y, false);
    CHECK(wr_gpu_binary(gpu_dev, WR_GPU_BINARY_ADD, &sx.t, &sb.t, alias ? &sx.t : &sy.t, NULL));
    gpu_finish();
    if (!alias)
        gpu_stage_out(&sy, true);
    gpu_stage_out(&sx, alias);
    gpu_stage_out(&sb, false);
}

static void gpu_activate(wr_tensor *x, wr_act act)
{
    if (act == WR_ACT_NONE)
        return;
    stage sx;
    gpu_stage_in(&sx, x, true);
    activate_staged(&sx.t, act);
    gpu_finish();
    gpu_stage_out(&sx, true);
}

static void gpu_timestep_embedding(const wr_tensor *t, wr_tensor *out)
{
    gpu_note_fallback(FB_TIMESTEP, "the sinusoidal timestep embedding (float64)");
    mirror mt, mo;
    gpu_mirror_in(&mt, t, true), gpu_mirror_in(&mo, out, false);
    wr_backend_cpu.timestep_embedding(&mt.t, &mo.t);
    gpu_mirror_out(&mo, true), gpu_mirror_out(&mt, false);
}

static void gpu_conv3d(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const wr_conv_params *p,
                       wr_tensor *y)
{
    if (!wr_gpu_conv3d_supports(w->dtype) || w->ne[0] > 7 || w->ne[1] > 7 || (w->n_dims == 5 && w->ne[2] > 7)) {
        gpu_note_fallback(FB_CONV3D, "conv3d with this weight dtype or a kernel larger than 7");
        wr_backend_cpu.conv3d(x, w, bias, p, y);
        return;
    }
    stage sx, sw, sb, sy;
    gpu_stage_in(&sx, x, true);
    gpu_stage_in(&sw, w, true);
    if (bias)
        gpu_stage_in(&sb, bias, true);
    gpu_stage_in(&sy, y, false);
    CHECK(wr_gpu_conv3d_ex(gpu_dev, &sx.t, &sw.t, bias ? &sb.t : NULL, p, &sy.t, gpu_prec, NULL));
    gpu_finish();
    gpu_stage_out(&sy, true);
    gpu_stage_out(&sx, false);
    gpu_stage_out(&sw, false);
    if (bias)
        gpu_stage_out(&sb, false);
}

static void gpu_resize_bilinear(const wr_tensor *x, double f, wr_tensor *y)
{
    stage sx, sy;
    gpu_stage_in(&sx, x, true);
    gpu_stage_in(&sy, y, false);
    CHECK(wr_gpu_resize_bilinear(gpu_dev, &sx.t, f, &sy.t, NULL));
    gpu_finish();
    gpu_stage_out(&sy, true);
    gpu_stage_out(&sx, false);
}

static void gpu_warp(const wr_tensor *x, const wr_tensor *flow, wr_tensor *y)
{
    stage sx, sf, sy;
    gpu_stage_in(&sx, x, true);
    gpu_stage_in(&sf, flow, true);
    gpu_stage_in(&sy, y, false);
    CHECK(wr_gpu_warp(gpu_dev, &sx.t, &sf.t, &sy.t, NULL));
    gpu_finish();
    gpu_stage_out(&sy, true);
    gpu_stage_out(&sx, false);
    gpu_stage_out(&sf, false);
}

static void gpu_conv_transpose2d(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, int stride, int pad,
                                 wr_tensor *y)
{
    if (!wr_gpu_conv_transpose2d_supports((int)w->ne[1], (int)w->ne[0], stride, pad)) {
        gpu_note_fallback(FB_CONV_TRANSPOSE, "transposed convolution with a kernel over 8 or a stride over 4");
        wr_backend_cpu.conv_transpose2d(x, w, bias, stride, pad, y);
        return;
    }
    stage sx, sw, sb, sy;
    gpu_stage_in(&sx, x, true);
    gpu_stage_in(&sw, w, true);
    if (bias)
        gpu_stage_in(&sb, bias, true);
    gpu_stage_in(&sy, y, false);
    CHECK(wr_gpu_conv_transpose2d(gpu_dev, &sx.t, &sw.t, bias ? &sb.t : NULL, stride, pad, &sy.t, NULL));
    gpu_finish();
    gpu_stage_out(&sy, true);
    gpu_stage_out(&sx, false);
    gpu_stage_out(&sw, false);
    if (bias)
        gpu_stage_out(&sb, false);
}

/* RIFE's planar glue: an output aliasing an input is staged once (as gpu_add). */
static void gpu_scalar(const wr_tensor *x, wr_scalar_op op, float a, float b, wr_tensor *y)
{
    stage sx, sy;
    bool alias = x->data == y->data;
    gpu_stage_in(&sy, y, alias && op != WR_SCALAR_FILL);
    if (!alias)
        gpu_stage_in(&sx, x, op != WR_SCALAR_FILL);
    CHECK(wr_gpu_scalar(gpu_dev, alias ? &sy.t : &sx.t, op, a, b, &sy.t, NULL));
    gpu_finish();
    gpu_stage_out(&sy, true);
    if (!alias)
        gpu_stage_out(&sx, false);
}

static void gpu_channel_scale_add(const wr_tensor *x, const wr_tensor *scale, const wr_tensor *r, wr_tensor *y)
{
    stage sx, ss, sr, sy;
    bool ax = x->data == y->data, ar = r->data == y->data;
    gpu_stage_in(&sy, y, ax || ar);
    if (!ax)
        gpu_stage_in(&sx, x, true);
    if (!ar)
        gpu_stage_in(&sr, r, true);
    gpu_stage_in(&ss, scale, true);
    CHECK(wr_gpu_channel_scale_add(gpu_dev, ax ? &sy.t : &sx.t, &ss.t, ar ? &sy.t : &sr.t, &sy.t, NULL));
    gpu_finish();
    gpu_stage_out(&sy, true);
    if (!ax)
        gpu_stage_out(&sx, false);
    if (!ar)
        gpu_stage_out(&sr, false);
    gpu_stage_out(&ss, false);
}

static void gpu_pixel_shuffle(const wr_tensor *x, int s, wr_tensor *y)
{
    stage sx, sy;
    gpu_stage_in(&sx, x, true);
    gpu_stage_in(&sy, y, false);
    CHECK(wr_gpu_pixel_shuffle(gpu_dev, &sx.t, s, &sy.t, NULL));
    gpu_finish();
    gpu_stage_out(&sy, true);
    gpu_stage_out(&sx, false);
}

static void gpu_mask_blend(const wr_tensor *x0, const wr_tensor *x1, const wr_tensor *mask, wr_tensor *y)
{
    stage s0, s1, sm, sy;
    bool a0 = x0->data == y->data, a1 = x1->data == y->data;
    gpu_stage_in(&sy, y, a0 || a1);
    if (!a0)
        gpu_stage_in(&s0, x0, true);
    if (!a1)
        gpu_stage_in(&s1, x1, true);
    gpu_stage_in(&sm, mask, true);
    CHECK(wr_gpu_mask_blend(gpu_dev, a0 ? &sy.t : &s0.t, a1 ? &sy.t : &s1.t, &sm.t, &sy.t, NULL));
    gpu_finish();
    gpu_stage_out(&sy, true);
    if (!a0)
        gpu_stage_out(&s0, false);
    if (!a1)
        gpu_stage_out(&s1, false);
    gpu_stage_out(&sm, false);
}

/* The VAEs' volume ops: an in-place norm is staged once (as gpu_scalar). */
static void gpu_channel_rms_norm(const wr_tensor *x, const wr_tensor *gamma, int silu, wr_tensor *y)
{
    stage sx, sg, sy;
    bool alias = x->data == y->data;
    gpu_stage_in(&sy, y, alias);
    if (!alias)
        gpu_stage_in(&sx, x, true);
    gpu_stage_in(&sg, gamma, true);
    CHECK(wr_gpu_channel_rms_norm(gpu_dev, alias ? &sy.t : &sx.t, &sg.t, silu, &sy.t, NULL));
    gpu_finish();
    gpu_stage_out(&sy, true);
    if (!alias)
        gpu_stage_out(&sx, false);
    gpu_stage_out(&sg, false);
}

static void gpu_upsample_nearest2x(const wr_tensor *x, wr_tensor *y)
{
    stage sx, sy;
    gpu_stage_in(&sx, x, true);
    gpu_stage_in(&sy, y, false);
    CHECK(wr_gpu_upsample_nearest2x(gpu_dev, &sx.t, &sy.t, NULL));
    gpu_finish();
    gpu_stage_out(&sy, true);
    gpu_stage_out(&sx, false);
}

static void gpu_transpose(const wr_tensor *x, wr_tensor *y)
{
    stage sx, sy;
    gpu_stage_in(&sx, x, true);
    gpu_stage_in(&sy, y, false);
    CHECK(wr_gpu_transpose(gpu_dev, &sx.t, &sy.t, NULL));
    gpu_finish();
    gpu_stage_out(&sy, true);
    gpu_stage_out(&sx, false);
}

static void gpu_dup_up3d(const wr_tensor *x, int ft, int fs, int drop, wr_tensor *y)
{
    stage sx, sy;
    gpu_stage_in(&sx, x, true);
    gpu_stage_in(&sy, y, false);
    CHECK(wr_gpu_dup_up3d(gpu_dev, &sx.t, ft, fs, drop, &sy.t, NULL));
    gpu_finish();
    gpu_stage_out(&sy, true);
    gpu_stage_out(&sx, false);
}

static wr_backend g_backend = {
    .name = "gpu",
    .supports = gpu_supports,
    .matmul = gpu_matmul,
    .layer_norm = gpu_layer_norm,
    .rms_norm = gpu_rms_norm,
    .modulate = gpu_modulate,
    .add_gated = gpu_add_gated,
    .add = gpu_add,
    .rope_wan = gpu_rope_wan,
    .attention = gpu_attention,
    .attention_sage = gpu_attention_sage,
    .self_attention_sage_fused = gpu_self_attention_sage_fused,
    .attention_bias = gpu_attention_bias,
    .timestep_embedding = gpu_timestep_embedding,
    .activate = gpu_activate,
    .conv3d = gpu_conv3d,
    .resize_bilinear = gpu_resize_bilinear,
    .warp = gpu_warp,
    .conv_transpose2d = gpu_conv_transpose2d,
    .layer_norm_modulate = gpu_layer_norm_modulate,
    .buffers = &wr_gpu_buffer_ops,
    .matmul_gated_add = gpu_matmul_gated_add,
    .scalar = gpu_scalar,
    .channel_scale_add = gpu_channel_scale_add,
    .pixel_shuffle = gpu_pixel_shuffle,
    .mask_blend = gpu_mask_blend,
    .channel_rms_norm = gpu_channel_rms_norm,
    .upsample_nearest2x = gpu_upsample_nearest2x,
    .transpose = gpu_transpose,
    .dup_up3d = gpu_dup_up3d,
};

/* ---- selection ------------------------------------------------------------------------------ */

wr_status wr_backend_gpu_open(wr_gpu_kind kind, const wr_gpu_options *opts, const wr_backend **out)
{
    wr_backend_gpu_close();
    WR_TRY(wr_gpu_open(&gpu_dev, kind, opts));
    const char *prec = getenv("WANRT_GPU_PRECISION");
    gpu_prec = WR_GPU_MATMUL_FP32;
    gpu_act_i8 = gpu_act_f8 = false;
    if (prec && strcmp(prec, "bf16") == 0) {
        gpu_prec = WR_GPU_MATMUL_BF16_MMA;
    } else if (prec && strcmp(prec, "int8") == 0) {
        gpu_act_i8 = true;
    } else if (prec && strcmp(prec, "fp8") == 0) {
        gpu_act_i8 = gpu_act_f8 = true;
    } else if (prec && *prec && strcmp(prec, "fp32") != 0) {
        wr_gpu_close(gpu_dev);
        gpu_dev = NULL;
        return wr_fail(WR_E_ARG, "WANRT_GPU_PRECISION: '%s' (fp32, bf16, int8 or fp8)", prec);
    }
    g_backend.name = wr_gpu_kind_name(kind);
    wr_log_debug("backend: %s (%s, %s matmul/attention/conv)", g_backend.name, wr_gpu_name(gpu_dev),
                gpu_prec == WR_GPU_MATMUL_FP32 ? (gpu_act_f8 ? "fp32 (int8/fp8 activations for Q8_0/fp8 weights)"
                                                 : gpu_act_i8 ? "fp32 (int8 activations for Q8_0 weights)"
                                                            : "fp32")
                                             : "bf16 tensor-core");
    *out = &g_backend;
    return WR_OK;
}

void wr_backend_gpu_close(void)
{
    if (wr_backend_current() == &g_backend)
        wr_backend_select(&wr_backend_cpu);
    if (gpu_dev)
    {
        gpu_rope_cache_drop();
        gpu_sage_cache_drop();
    }
    gpu_mem_reset();
    wr_gpu_close(gpu_dev);
    gpu_dev = NULL;
}

wr_gpu *wr_backend_gpu_device(void) { return gpu_dev; }

wr_status wr_backend_choose(const char *device_arg)
{
    wr_backend_select(&wr_backend_cpu);
    const char *name = device_arg && *device_arg ? device_arg : getenv("WANRT_DEVICE");
    bool is_cpu = true;
    wr_gpu_kind kind = WR_GPU_EMU;
    if (name && *name && !wr_gpu_kind_parse(name, &kind, &is_cpu))
        return wr_fail(WR_E_ARG, "%s: unknown device '%s' (cpu, emu or cuda)",
                       device_arg && *device_arg ? "--device" : "WANRT_DEVICE", name);
    if (is_cpu)
        return WR_OK;
    const wr_backend *b;
    WR_TRY(wr_backend_gpu_open(kind, NULL, &b));
    wr_backend_select(b);
    return WR_OK;
}
