/* Launcher for kernels/attention.cu (see gpu_ops.h): 4 query rows (warps) per block. */
#include "runtime/gpu/ops_util.h"

#define FILE_ATTN "kernels/attention.cu"
#define ATTN_WARPS 4

static void attn_spec(wr_kspec *s, int hd)
{
    wr_kspec_init(s, FILE_ATTN, "attn_f32");
    wr_kspec_define_int(s, "HD", hd);
    wr_kspec_define_int(s, "WARPS", ATTN_WARPS);
}

wr_status wr_gpu_attention(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, float scale,
                           wr_tensor *o, wr_gpu_stream *s)
{
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
    attn_spec(&spec, (int)HD);
    wr_gpu_func *fn;
    WR_TRY(wr_gpu_jit(g, &spec, &fn));
    void *qp = q->data, *kp = k->data, *vp = v->data, *op = o->data;
    int tq = (int)Tq, tk = (int)Tk, nh = (int)NH;
    void *args[] = {&qp, &kp, &vp, &op, &tq, &tk, &nh, &scale};
    return wr_gpu_launch(g, fn, wr_dim3_make((unsigned)((Tq + ATTN_WARPS - 1) / ATTN_WARPS), (unsigned)NH, (unsigned)B),
                         wr_dim3_make(32 * ATTN_WARPS, 1, 1), 0, s, args);
}

/* Every Wan model has head dim 128; 64 serves the tiny test configs. */
void wr_attention_kspecs(wr_kcheck_list *l)
{
    wr_kspec s;
    attn_spec(&s, 128);
    wr_kcheck_add(l, &s, 0, true, 0);
    attn_spec(&s, 64);
    wr_kcheck_add(l, &s, 0, true, 0);
}
