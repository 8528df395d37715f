/* Launcher for kernels/attention.cu (see gpu_ops.h): 4 warps per block, each owning one query row
 * (fp32) or 16 query rows (bf16 tensor cores). */
#include <stdio.h>

#include "runtime/gpu/ops_util.h"

#define FILE_ATTN "kernels/attention.cu"
#define ATTN_WARPS 4

static const char *const entry_of[WR_GPU_MATMUL_PRECISION_COUNT] = {"attn_f32", "attn_bf16_mma"};
static const unsigned rows_per_block[WR_GPU_MATMUL_PRECISION_COUNT] = {ATTN_WARPS, 16 * ATTN_WARPS};

static void attn_spec(wr_kspec *s, wr_gpu_matmul_precision prec, int hd)
{
    wr_kspec_init(s, FILE_ATTN, entry_of[prec]);
    wr_kspec_define_int(s, "HD", hd);
    wr_kspec_define_int(s, "WARPS", ATTN_WARPS);
}

wr_status wr_gpu_attention(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, float scale,
                           wr_tensor *o, wr_gpu_stream *s)
{
    return wr_gpu_attention_ex(g, q, k, v, scale, o, WR_GPU_MATMUL_FP32, s);
}

wr_status wr_gpu_attention_ex(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, float scale,
                              wr_tensor *o, wr_gpu_matmul_precision prec, wr_gpu_stream *s)
{
    if ((unsigned)prec >= WR_GPU_MATMUL_PRECISION_COUNT)
        return wr_fail(WR_E_ARG, "attention: unknown precision %d", (int)prec);
    if (prec == WR_GPU_MATMUL_BF16_MMA && wr_gpu_arch(g) < 80)
        return wr_fail(WR_E_UNSUPPORTED, "attention: bf16 tensor-core path needs sm_80, device is sm_%d",
                       wr_gpu_arch(g));
    WR_TRY(ops_need_f32("attention", "q", q));
    WR_TRY(ops_need_f32("attention", "k", k));
    WR_TRY(ops_need_f32("attention", "v", v));
    WR_TRY(ops_need_f32("attention", "o", o));
    int64_t HD = q->ne[0], NH = q->ne[1], Tq = q->ne[2], B = q->ne[3], Tk = k->ne[2];
    if (wr_tensor_nelements(q) != HD * NH * Tq * B || wr_tensor_nelements(k) != HD * NH * Tk * B ||
        !wr_tensor_same_shape(q, o) || !wr_tensor_same_shape(k, v) || k->ne[0] != HD ||
        k->ne[1] != NH || k->ne[3] != B)
        return wr_fail(WR_E_ARG, "attention: q/o {HD, NH, Tq, B} and k/v {HD, NH, Tk, B} do not agree");
    if (HD != 64 && HD != 128)
        return wr_fail(WR_E_UNSUPPORTED, "attention: head dim %lld (kernels exist for 64 and 128)", (long long)HD);
    if (Tk < 1 || NH > 65535 || B > 65535 || Tq > INT32_MAX || Tk > INT32_MAX)
        return wr_fail(WR_E_UNSUPPORTED, "attention: Tk=%lld NH=%lld B=%lld out of the kernel's range", (long long)Tk,
                       (long long)NH, (long long)B);
    wr_kspec spec;
    attn_spec(&spec, prec, (int)HD);
    wr_gpu_func *fn;
    WR_TRY(wr_gpu_jit(g, &spec, &fn));
    void *qp = q->data, *kp = k->data, *vp = v->data, *op = o->data;
    int tq = (int)Tq, tk = (int)Tk, nh = (int)NH;
    void *args[] = {&qp, &kp, &vp, &op, &tq, &tk, &nh, &scale};
    unsigned rows = rows_per_block[prec];
    return wr_gpu_launch(g, fn, wr_dim3_make((unsigned)((Tq + rows - 1) / rows), (unsigned)NH, (unsigned)B),
                         wr_dim3_make(32 * ATTN_WARPS, 1, 1), 0, s, args);
}

wr_status wr_gpu_attention_bias(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v,
                                const wr_tensor *bias, const wr_tensor *key_mask, float scale, wr_tensor *o,
                                wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("attention_bias", "q", q));
    WR_TRY(ops_need_f32("attention_bias", "k", k));
    WR_TRY(ops_need_f32("attention_bias", "v", v));
    WR_TRY(ops_need_f32("attention_bias", "o", o));
    int64_t HD = q->ne[0], NH = q->ne[1], Tq = q->ne[2], Tk = k->ne[2];
    if (wr_tensor_nelements(q) != HD * NH * Tq || !wr_tensor_same_shape(q, o) || !wr_tensor_same_shape(k, v) ||
        k->ne[0] != HD || k->ne[1] != NH || wr_tensor_nelements(k) != HD * NH * Tk)
        return wr_fail(WR_E_ARG, "attention_bias: q/o {HD, NH, Tq} and k/v {HD, NH, Tk} do not agree");
    if (bias) {
        WR_TRY(ops_need_f32("attention_bias", "bias", bias));
        if (wr_tensor_nelements(bias) != NH * Tq * Tk)
            return wr_fail(WR_E_ARG, "attention_bias: bias must be [NH, Tq, Tk] = %lld elements",
                           (long long)(NH * Tq * Tk));
    }
    if (key_mask && (key_mask->dtype != WR_DTYPE_I32 || wr_tensor_nelements(key_mask) != Tk))
        return wr_fail(WR_E_ARG, "attention_bias: key mask must be I32 [Tk = %lld]", (long long)Tk);
    if (HD != 64 && HD != 128)
        return wr_fail(WR_E_UNSUPPORTED, "attention_bias: head dim %lld (kernels exist for 64 and 128)", (long long)HD);
    if (Tk < 1 || NH > 65535 || Tq > INT32_MAX || Tk > INT32_MAX)
        return wr_fail(WR_E_UNSUPPORTED, "attention_bias: Tk=%lld NH=%lld out of the kernel's range", (long long)Tk,
                       (long long)NH);
    wr_kspec spec;
    attn_spec(&spec, WR_GPU_MATMUL_FP32, (int)HD);
    snprintf(spec.entry, sizeof spec.entry, "attn_bias_f32");
    wr_gpu_func *fn;
    WR_TRY(wr_gpu_jit(g, &spec, &fn));
    void *qp = q->data, *kp = k->data, *vp = v->data, *op = o->data;
    void *bp = bias ? bias->data : NULL, *mp = key_mask ? key_mask->data : NULL;
    int tq = (int)Tq, tk = (int)Tk, nh = (int)NH;
    void *args[] = {&qp, &kp, &vp, &bp, &mp, &op, &tq, &tk, &nh, &scale};
    return wr_gpu_launch(g, fn, wr_dim3_make((unsigned)((Tq + ATTN_WARPS - 1) / ATTN_WARPS), (unsigned)NH, 1),
                         wr_dim3_make(32 * ATTN_WARPS, 1, 1), 0, s, args);
}

/* Every Wan model has head dim 128 (umT5: 64); 64 also serves the tiny test configs. */
void wr_attention_kspecs(wr_kcheck_list *l)
{
    wr_kspec s;
    for (int p = 0; p < WR_GPU_MATMUL_PRECISION_COUNT; p++)
        for (int hd = 64; hd <= 128; hd += 64) {
            attn_spec(&s, (wr_gpu_matmul_precision)p, hd);
            wr_kcheck_add(l, &s, 0, true, 0);
            if (p == WR_GPU_MATMUL_FP32) { /* the biased variant lives in the same module */
                snprintf(s.entry, sizeof s.entry, "attn_bias_f32");
                wr_kcheck_add(l, &s, 0, true, 0);
            }
        }
}
