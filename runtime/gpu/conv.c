/* Launcher for kernels/conv.cu (see gpu_ops.h): implicit-GEMM 3-D convolution, 64 output pixels
 * x 64 output channels per block (fp32: 256 threads; bf16 mma: 128), one output frame per grid z. */
#include "runtime/gpu/ops_util.h"

#define FILE_CONV "kernels/conv.cu"

/* WTYPE of a weight dtype, -1 when the kernel has none. */
static int conv_wtype(wr_dtype t)
{
    switch (t) {
    case WR_DTYPE_F32:
        return 0;
    case WR_DTYPE_BF16:
        return 1;
    case WR_DTYPE_F16:
        return 2;
    default:
        return -1;
    }
}

bool wr_gpu_conv3d_supports(wr_dtype weight_dtype) { return conv_wtype(weight_dtype) >= 0; }

static const char *const conv_entry[WR_GPU_MATMUL_PRECISION_COUNT] = {"conv3d_f32", "conv3d_bf16_mma"};
static const unsigned conv_threads[WR_GPU_MATMUL_PRECISION_COUNT] = {256, 128};

static void conv_spec(wr_kspec *s, wr_gpu_matmul_precision prec, int kt, int kh, int kw, int wtype)
{
    wr_kspec_init(s, FILE_CONV, conv_entry[prec]);
    wr_kspec_define_int(s, "KT", kt);
    wr_kspec_define_int(s, "KH", kh);
    wr_kspec_define_int(s, "KW", kw);
    wr_kspec_define_int(s, "WTYPE", wtype);
}

wr_status wr_gpu_conv3d(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias,
                        const wr_conv_params *p, wr_tensor *y, wr_gpu_stream *s)
{
    return wr_gpu_conv3d_ex(g, x, w, bias, p, y, WR_GPU_MATMUL_FP32, s);
}

wr_status wr_gpu_conv3d_ex(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias,
                           const wr_conv_params *p, wr_tensor *y, wr_gpu_matmul_precision prec, wr_gpu_stream *s)
{
    if ((unsigned)prec >= WR_GPU_MATMUL_PRECISION_COUNT)
        return wr_fail(WR_E_ARG, "conv3d: unknown precision %d", (int)prec);
    if (prec == WR_GPU_MATMUL_BF16_MMA && wr_gpu_arch(g) < 80)
        return wr_fail(WR_E_UNSUPPORTED, "conv3d: bf16 tensor-core path needs sm_80, device is sm_%d", wr_gpu_arch(g));
    WR_TRY(ops_need_f32("conv3d", "x", x));
    WR_TRY(ops_need_f32("conv3d", "y", y));
    int wt = conv_wtype(w->dtype);
    if (wt < 0)
        return wr_fail(WR_E_UNSUPPORTED, "conv3d: weight dtype %s has no GPU kernel (F32, BF16, F16)",
                       wr_dtype_name(w->dtype));
    if (!wr_tensor_is_contiguous(w) || (w->n_dims != 4 && w->n_dims != 5))
        return wr_fail(WR_E_UNSUPPORTED, "conv3d: the weight must be a contiguous 4-D or 5-D tensor");
    int64_t kw = w->ne[0], kh = w->ne[1], kt = w->n_dims == 5 ? w->ne[2] : 1;
    int64_t C = w->ne[w->n_dims - 2], O = w->ne[w->n_dims - 1];
    if (kt > 7 || kh > 7 || kw > 7)
        return wr_fail(WR_E_UNSUPPORTED, "conv3d: kernel %lldx%lldx%lld exceeds the kernel's 7x7x7", (long long)kt,
                       (long long)kh, (long long)kw);
    if (x->ne[3] != C || y->ne[3] != O)
        return wr_fail(WR_E_ARG, "conv3d: x has %lld channels and y %lld, the weight is [%lld, %lld, ...]",
                       (long long)x->ne[3], (long long)y->ne[3], (long long)O, (long long)C);
    if (bias) {
        WR_TRY(ops_need_f32("conv3d", "bias", bias));
        if (wr_tensor_nelements(bias) != O)
            return wr_fail(WR_E_ARG, "conv3d: bias has %lld elements, O = %lld", (long long)wr_tensor_nelements(bias),
                           (long long)O);
    }
    int64_t P = y->ne[0] * y->ne[1];
    if (wr_tensor_nelements(x) > INT32_MAX || C * kt * kh * kw > INT32_MAX || P > INT32_MAX || O > INT32_MAX ||
        (P + 63) / 64 > 65535 || y->ne[2] > 65535)
        return wr_fail(WR_E_UNSUPPORTED, "conv3d: shapes exceed the kernel's int range or grid");
    wr_kspec spec;
    conv_spec(&spec, prec, (int)kt, (int)kh, (int)kw, wt);
    wr_gpu_func *fn;
    WR_TRY(wr_gpu_jit(g, &spec, &fn));
    void *xp = x->data, *wp = w->data, *bp = bias ? bias->data : NULL, *yp = y->data;
    int c = (int)C, t = (int)x->ne[2], h = (int)x->ne[1], ww = (int)x->ne[0], o = (int)O;
    int to = (int)y->ne[2], ho = (int)y->ne[1], wo = (int)y->ne[0];
    int st = p->st, sh = p->sh, sw = p->sw, pt = p->t_front, ph = p->top, pw = p->left;
    void *args[] = {&xp, &wp, &bp, &yp, &c, &t, &h, &ww, &o, &to, &ho, &wo, &st, &sh, &sw, &pt, &ph, &pw};
    return wr_gpu_launch(g, fn, wr_dim3_make((unsigned)((O + 63) / 64), (unsigned)((P + 63) / 64), (unsigned)to),
                         wr_dim3_make(conv_threads[prec], 1, 1), 0, s, args);
}

/* ---- transposed convolution (kernels/conv_transpose.cu) -------------------------------------- */

#define FILE_TCONV "kernels/conv_transpose.cu"

static void tconv_spec(wr_kspec *s, int kh, int kw, int stride, int pad)
{
    wr_kspec_init(s, FILE_TCONV, "conv_transpose2d_f32");
    wr_kspec_define_int(s, "KH", kh);
    wr_kspec_define_int(s, "KW", kw);
    wr_kspec_define_int(s, "STRIDE", stride);
    wr_kspec_define_int(s, "PAD", pad);
}

bool wr_gpu_conv_transpose2d_supports(int kh, int kw, int stride, int pad)
{
    return kh >= 1 && kh <= 8 && kw >= 1 && kw <= 8 && stride >= 1 && stride <= 4 && pad >= 0 && pad < kh && pad < kw;
}

wr_status wr_gpu_conv_transpose2d(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, int stride,
                                  int pad, wr_tensor *y, wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("conv_transpose2d", "x", x));
    WR_TRY(ops_need_f32("conv_transpose2d", "w", w));
    WR_TRY(ops_need_f32("conv_transpose2d", "y", y));
    int64_t kw = w->ne[0], kh = w->ne[1], O = w->ne[2], C = w->ne[3];
    if (!wr_gpu_conv_transpose2d_supports((int)kh, (int)kw, stride, pad))
        return wr_fail(WR_E_UNSUPPORTED, "conv_transpose2d: kernel %lldx%lld stride %d padding %d has no GPU kernel",
                       (long long)kh, (long long)kw, stride, pad);
    int64_t ow = (x->ne[0] - 1) * stride - 2 * pad + kw, oh = (x->ne[1] - 1) * stride - 2 * pad + kh;
    if (x->ne[2] != C || y->ne[0] != ow || y->ne[1] != oh || y->ne[2] != O || ow < 1 || oh < 1)
        return wr_fail(WR_E_ARG, "conv_transpose2d: x, w and y shapes do not agree");
    if (bias) {
        WR_TRY(ops_need_f32("conv_transpose2d", "bias", bias));
        if (wr_tensor_nelements(bias) != O)
            return wr_fail(WR_E_ARG, "conv_transpose2d: bias has %lld elements, O = %lld",
                           (long long)wr_tensor_nelements(bias), (long long)O);
    }
    if (wr_tensor_nelements(x) > INT32_MAX || wr_tensor_nelements(y) > INT32_MAX)
        return wr_fail(WR_E_UNSUPPORTED, "conv_transpose2d: shapes exceed the kernel's int range");
    wr_kspec spec;
    tconv_spec(&spec, (int)kh, (int)kw, stride, pad);
    wr_gpu_func *fn;
    WR_TRY(wr_gpu_jit(g, &spec, &fn));
    void *xp = x->data, *wp = w->data, *bp = bias ? bias->data : NULL, *yp = y->data;
    int c = (int)C, h = (int)x->ne[1], ww = (int)x->ne[0], o = (int)O, ho = (int)oh, wo = (int)ow;
    void *args[] = {&xp, &wp, &bp, &yp, &c, &h, &ww, &o, &ho, &wo};
    return wr_gpu_launch(g, fn, wr_dim3_make(ops_grid_1d(wr_tensor_nelements(y), 256), 1, 1), wr_dim3_make(256, 1, 1),
                         0, s, args);
}

/* The kernel shapes of the real models, each with bf16, f16 and f32 weights:
 *   Wan 2.1/2.2 VAE  CausalConv3d 3x3x3 (resnets, conv_in/out), 1x1x1 (shortcuts, attention
 *                    qkv/proj, conv1/conv2 around the latent), 3x1x1 (time up/downsampling),
 *                    Conv2d 3x3 (spatial resampling: a 4-D weight, KT = 1)
 *   SeedVR2 VAE      3x3x3 / 1x3x3 (causal, strided downsamplers), 1x1x1 (shortcuts, upsampler expand)
 *   RIFE 4.7         Conv2d 3x3 at widths 3..192, strides 1 and 2 (strides are arguments);
 *                    ConvTranspose2d(k4, s2, p1) */
void wr_conv_kspecs(wr_kcheck_list *l)
{
    static const int shapes[][3] = {{3, 3, 3}, {1, 1, 1}, {3, 1, 1}, {1, 3, 3}};
    wr_kspec s;
    for (int prec = 0; prec < WR_GPU_MATMUL_PRECISION_COUNT; prec++)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            for (int wt = 0; wt < 3; wt++) {
                conv_spec(&s, (wr_gpu_matmul_precision)prec, shapes[i][0], shapes[i][1], shapes[i][2], wt);
                wr_kcheck_add(l, &s, 0, true, prec == WR_GPU_MATMUL_BF16_MMA ? 80 : 0);
            }
    tconv_spec(&s, 4, 4, 2, 1); /* RIFE 4.7: encode.1 and every block's lastconv */
    wr_kcheck_add(l, &s, 0, false, 0);
}
