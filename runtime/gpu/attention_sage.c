/* Launcher for kernels/attention_sage.cu (see gpu_ops.h): K mean (chunk sums in parallel, then
 * their in-order sum), int8 quantisation of q and the
 * smoothed k (and e4m3 codes of v for the fp8 P·V) into device temporaries (layout:
 * kernels/sage_layout.h), then the attention. */
#include "runtime/gpu/ops_util.h"

#include "kernels/sage_layout.h"

#define FILE_SAGE "kernels/attention_sage.cu"
#define SAGE_WARPS 4

static void sage_spec(wr_kspec *s, const char *entry, int hd)
{
    wr_kspec_init(s, FILE_SAGE, entry);
    wr_kspec_define_int(s, "HD", hd);
    wr_kspec_define_int(s, "WARPS", SAGE_WARPS);
}

static wr_status sage_jit(wr_gpu *g, const char *entry, int hd, wr_gpu_func **fn)
{
    wr_kspec s;
    sage_spec(&s, entry, hd);
    return wr_gpu_jit(g, &s, fn);
}

typedef struct sage_tmp {
    void *q8, *k8, *qs, *ks, *part, *mean, *v8, *vs, *vamax, *vmean;
} sage_tmp;

size_t wr_gpu_attention_sage_workspace_bytes(int B, int NH, int Tq, int Tk, int HD, bool f8)
{
    size_t f = sizeof(float), bnh = (size_t)B * (size_t)NH;
    size_t bytes = (size_t)HD * bnh * (size_t)Tq + (size_t)HD * bnh * (size_t)Tk +
                   (size_t)sage_scale_count(B, NH, Tq, SAGE_Q_ROWS) * f + (size_t)sage_scale_count(B, NH, Tk, SAGE_K_ROWS) * f +
                   bnh * (size_t)sage_nblocks(Tk, SAGE_SUM_CHUNK) * (size_t)HD * f + bnh * (size_t)HD * f;
    if (f8)
        bytes += (size_t)HD * bnh * (size_t)Tk + 3 * bnh * (size_t)HD * f;
    return bytes;
}

static wr_status sage_run(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, float scale,
                          wr_tensor *o, bool f8, wr_gpu_stream *s, sage_tmp *tmp)
{
    int HD = (int)q->ne[0], NH = (int)q->ne[1], Tq = (int)q->ne[2], B = (int)q->ne[3], Tk = (int)k->ne[2];
    WR_TRY(wr_gpu_alloc(g, (size_t)HD * NH * Tq * B, &tmp->q8));
    WR_TRY(wr_gpu_alloc(g, (size_t)HD * NH * Tk * B, &tmp->k8));
    WR_TRY(wr_gpu_alloc(g, (size_t)sage_scale_count(B, NH, Tq, SAGE_Q_ROWS) * sizeof(float), &tmp->qs));
    WR_TRY(wr_gpu_alloc(g, (size_t)sage_scale_count(B, NH, Tk, SAGE_K_ROWS) * sizeof(float), &tmp->ks));
    int nc = sage_nblocks(Tk, SAGE_SUM_CHUNK);
    WR_TRY(wr_gpu_alloc(g, (size_t)B * NH * nc * HD * sizeof(float), &tmp->part));
    WR_TRY(wr_gpu_alloc(g, (size_t)B * NH * HD * sizeof(float), &tmp->mean));
    wr_gpu_func *f_sum, *f_mean, *f_quant, *f_attn, *f_vmax = NULL, *f_v = NULL;
    WR_TRY(sage_jit(g, "sage_k_sum_chunks", HD, &f_sum));
    WR_TRY(sage_jit(g, "sage_k_mean", HD, &f_mean));
    WR_TRY(sage_jit(g, "sage_quant_i8", HD, &f_quant));
    WR_TRY(sage_jit(g, f8 ? "attn_qk_i8_pv_f8" : "attn_qk_i8_pv_f16", HD, &f_attn));
    if (f8) {
        WR_TRY(wr_gpu_alloc(g, (size_t)HD * NH * Tk * B, &tmp->v8));
        WR_TRY(wr_gpu_alloc(g, (size_t)B * NH * HD * sizeof(float), &tmp->vs));
        WR_TRY(wr_gpu_alloc(g, (size_t)B * NH * HD * sizeof(unsigned), &tmp->vamax));
        WR_TRY(wr_gpu_alloc(g, (size_t)B * NH * HD * sizeof(float), &tmp->vmean));
        WR_TRY(sage_jit(g, "sage_v_amax", HD, &f_vmax));
        WR_TRY(sage_jit(g, "sage_quant_v_f8", HD, &f_v));
    }
    void *qp = q->data, *kp = k->data, *vp = v->data, *op = o->data, *nul = NULL;
    int rq = SAGE_Q_ROWS, rk = SAGE_K_ROWS;
    float extra_q = scale * SAGE_LOG2E, extra_k = 1.0f;
    wr_dim3 chunks = wr_dim3_make((unsigned)nc, (unsigned)NH, (unsigned)B), per_dim = wr_dim3_make((unsigned)HD, 1, 1);
    void *a_sum[] = {&kp, &tmp->part, &Tk, &NH};
    WR_TRY(wr_gpu_launch(g, f_sum, chunks, per_dim, 0, s, a_sum));
    void *a_mean[] = {&tmp->part, &tmp->mean, &Tk, &NH};
    WR_TRY(wr_gpu_launch(g, f_mean, wr_dim3_make((unsigned)NH, (unsigned)B, 1), wr_dim3_make((unsigned)HD, 1, 1), 0, s,
                         a_mean));
    void *a_q[] = {&qp, &nul, &tmp->q8, &tmp->qs, &Tq, &NH, &rq, &extra_q};
    WR_TRY(wr_gpu_launch(g, f_quant, wr_dim3_make((unsigned)sage_nblocks(Tq, rq), (unsigned)NH, (unsigned)B),
                         wr_dim3_make(128, 1, 1), 0, s, a_q));
    void *a_k[] = {&kp, &tmp->mean, &tmp->k8, &tmp->ks, &Tk, &NH, &rk, &extra_k};
    WR_TRY(wr_gpu_launch(g, f_quant, wr_dim3_make((unsigned)sage_nblocks(Tk, rk), (unsigned)NH, (unsigned)B),
                         wr_dim3_make(128, 1, 1), 0, s, a_k));
    if (f8) {
        /* V's channel mean with the K-mean kernels (the chunk buffer is free again in stream order) */
        void *a_vsum[] = {&vp, &tmp->part, &Tk, &NH};
        WR_TRY(wr_gpu_launch(g, f_sum, chunks, per_dim, 0, s, a_vsum));
        void *a_vmean[] = {&tmp->part, &tmp->vmean, &Tk, &NH};
        WR_TRY(wr_gpu_launch(g, f_mean, wr_dim3_make((unsigned)NH, (unsigned)B, 1), per_dim, 0, s, a_vmean));
        WR_TRY(wr_gpu_memset(g, tmp->vamax, 0, (size_t)B * NH * HD * sizeof(unsigned), s));
        void *a_vmax[] = {&vp, &tmp->vmean, &tmp->vamax, &Tk, &NH};
        WR_TRY(wr_gpu_launch(g, f_vmax, chunks, per_dim, 0, s, a_vmax));
        void *a_v[] = {&vp, &tmp->vmean, &tmp->vamax, &tmp->v8, &tmp->vs, &Tk, &NH};
        WR_TRY(wr_gpu_launch(g, f_v, chunks, per_dim, 0, s, a_v));
    }
    void *a_f16[] = {&tmp->q8, &tmp->qs, &tmp->k8, &tmp->ks, &vp, &op, &Tq, &Tk, &NH};
    void *a_f8[] = {&tmp->q8, &tmp->qs, &tmp->k8, &tmp->ks, &tmp->v8, &tmp->vs, &tmp->vmean, &op, &Tq, &Tk, &NH};
    void **a_attn = f8 ? a_f8 : a_f16;
    unsigned rows = 16 * SAGE_WARPS;
    WR_TRY(wr_gpu_launch(g, f_attn, wr_dim3_make((unsigned)(Tq + rows - 1) / rows, (unsigned)NH, (unsigned)B),
                         wr_dim3_make(32 * SAGE_WARPS, 1, 1), 0, s, a_attn));
    return s ? wr_gpu_stream_sync(g, s) : wr_gpu_sync(g); /* the temporaries are freed next */
}

wr_status wr_gpu_attention_sage(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, float scale,
                                wr_tensor *o, wr_gpu_stream *s)
{
    return wr_gpu_attention_sage_ex(g, q, k, v, scale, o, wr_gpu_arch(g) >= 89 ? WR_GPU_SAGE_PV_F8 : WR_GPU_SAGE_PV_F16,
                                    s);
}

wr_status wr_gpu_attention_sage_ex(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, float scale,
                                   wr_tensor *o, wr_gpu_sage_pv pv, wr_gpu_stream *s)
{
    if (wr_gpu_arch(g) < 80)
        return wr_fail(WR_E_UNSUPPORTED, "sage attention: int8 tensor cores need sm_80, device is sm_%d", wr_gpu_arch(g));
    if (pv == WR_GPU_SAGE_PV_F8 && wr_gpu_arch(g) < 89)
        return wr_fail(WR_E_UNSUPPORTED, "sage attention: fp8 P.V needs sm_89, device is sm_%d", wr_gpu_arch(g));
    if (pv != WR_GPU_SAGE_PV_F16 && pv != WR_GPU_SAGE_PV_F8)
        return wr_fail(WR_E_ARG, "sage attention: unknown P.V arithmetic %d", (int)pv);
    WR_TRY(ops_need_f32("sage attention", "q", q));
    WR_TRY(ops_need_f32("sage attention", "k", k));
    WR_TRY(ops_need_f32("sage attention", "v", v));
    WR_TRY(ops_need_f32("sage attention", "o", o));
    int64_t HD = q->ne[0], NH = q->ne[1], Tq = q->ne[2], B = q->ne[3], Tk = k->ne[2];
    if (wr_tensor_nelements(q) != HD * NH * Tq * B || wr_tensor_nelements(k) != HD * NH * Tk * B ||
        !wr_tensor_same_shape(q, o) || !wr_tensor_same_shape(k, v) || k->ne[0] != HD || k->ne[1] != NH ||
        k->ne[3] != B)
        return wr_fail(WR_E_ARG, "sage attention: q/o {HD, NH, Tq, B} and k/v {HD, NH, Tk, B} do not agree");
    if (HD != 64 && HD != 128)
        return wr_fail(WR_E_UNSUPPORTED, "sage attention: head dim %lld (kernels exist for 64 and 128)", (long long)HD);
    if (Tq < 1 || Tk < 1 || NH > 65535 || B > 65535 || Tq > INT32_MAX / 2 || Tk > INT32_MAX / 2)
        return wr_fail(WR_E_UNSUPPORTED, "sage attention: Tq=%lld Tk=%lld NH=%lld B=%lld out of the kernels' range",
                       (long long)Tq, (long long)Tk, (long long)NH, (long long)B);
    sage_tmp tmp = {0};
    wr_status st = sage_run(g, q, k, v, scale, o, pv == WR_GPU_SAGE_PV_F8, s, &tmp);
    wr_gpu_free(g, tmp.q8), wr_gpu_free(g, tmp.k8), wr_gpu_free(g, tmp.qs), wr_gpu_free(g, tmp.ks);
    wr_gpu_free(g, tmp.part), wr_gpu_free(g, tmp.mean), wr_gpu_free(g, tmp.v8), wr_gpu_free(g, tmp.vs);
    wr_gpu_free(g, tmp.vamax), wr_gpu_free(g, tmp.vmean);
    return st;
}

/* Head dim 128 is every Wan 2.2 model (A14B: 40 heads, TI2V-5B: 24); 64 serves the tiny test
 * configs. The kernels take sequence lengths as arguments, so one spec covers every resolution. */
void wr_attention_sage_kspecs(wr_kcheck_list *l)
{
    static const struct {
        const char *entry;
        bool hot;
        int min_arch;
    } entries[] = {{"sage_k_sum_chunks", false, 80},
                   {"sage_k_mean", false, 80},
                   {"sage_v_amax", false, 89},
                   {"sage_quant_i8", false, 80},
                   {"attn_qk_i8_pv_f16", true, 80},
                   {"sage_quant_v_f8", false, 89},
                   {"attn_qk_i8_pv_f8", true, 89}};
    wr_kspec s;
    for (int hd = 64; hd <= 128; hd += 64)
        for (size_t e = 0; e < sizeof entries / sizeof entries[0]; e++) {
            sage_spec(&s, entries[e].entry, hd);
            wr_kcheck_add(l, &s, 0, entries[e].hot, entries[e].min_arch);
        }
}
