/* Launchers for kernels/attention_sage.cu and kernels/sage_prepare.cu (see gpu_ops.h): K mean
 * (chunk sums in parallel, then their in-order sum), int8 quantisation of q and the smoothed k
 * — or the fused RMSNorm + RoPE + quantisation of the raw projections — and e4m3 codes of v
 * for the fp8 P·V, into one caller-provided workspace (layout: ws_layout below; code and scale
 * layouts: kernels/sage_layout.h), then the attention. */
#include "runtime/gpu/ops_util.h"

#include <string.h>

#include "kernels/sage_prepare.h"

#define FILE_SAGE "kernels/attention_sage.cu"
#define FILE_PREP "kernels/sage_prepare.cu"
#define SAGE_WARPS 4
#define WS_ALIGN 256 /* every part starts aligned like a wr_gpu_alloc block */

static void sage_spec(wr_kspec *s, const char *file, const char *entry, int hd)
{
    wr_kspec_init(s, file, entry);
    wr_kspec_define_int(s, "HD", hd);
    if (strcmp(file, FILE_SAGE) == 0)
        wr_kspec_define_int(s, "WARPS", SAGE_WARPS);
}

static wr_status sage_jit(wr_gpu *g, const char *file, const char *entry, int hd, wr_gpu_func **fn)
{
    wr_kspec s;
    sage_spec(&s, file, entry, hd);
    return wr_gpu_jit(g, &s, fn);
}

/* ---- workspace ------------------------------------------------------------------------------ */

static void *place(char *base, size_t *off, size_t bytes)
{
    if (bytes == 0)
        return NULL;
    void *at = base ? base + *off : NULL;
    *off += (bytes + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
    return at;
}

/* The one layout of the workspace: its size, and (base not NULL) the parts' addresses. */
static size_t ws_layout(char *base, int64_t B, int64_t NH, int64_t Tq, int64_t Tk, int64_t HD, wr_gpu_sage_pv pv,
                        wr_gpu_sage_ws *w)
{
    size_t off = 0, f = sizeof(float), per_head = (size_t)B * NH * HD;
    bool f8 = pv == WR_GPU_SAGE_PV_F8;
    w->q8 = place(base, &off, (size_t)HD * NH * Tq * B);
    w->k8 = place(base, &off, (size_t)HD * NH * Tk * B);
    w->qs = place(base, &off, (size_t)sage_scale_count((int)B, (int)NH, (int)Tq, SAGE_Q_ROWS) * f);
    w->ks = place(base, &off, (size_t)sage_scale_count((int)B, (int)NH, (int)Tk, SAGE_K_ROWS) * f);
    w->part = place(base, &off, per_head * (size_t)sage_nblocks((int)Tk, SAGE_SUM_CHUNK) * f);
    w->mean = place(base, &off, per_head * f);
    w->qinv = place(base, &off, (size_t)B * Tq * f);
    w->kinv = place(base, &off, (size_t)B * Tk * f);
    w->v8 = place(base, &off, f8 ? (size_t)HD * NH * Tk * B : 0);
    w->vs = place(base, &off, f8 ? per_head * f : 0);
    w->vmean = place(base, &off, f8 ? per_head * f : 0);
    w->vamax = place(base, &off, f8 ? per_head * sizeof(unsigned) : 0);
    return off;
}

size_t wr_gpu_attention_sage_workspace_bytes(int B, int NH, int Tq, int Tk, int HD, bool f8)
{
    wr_gpu_sage_ws w;
    return ws_layout(NULL, B, NH, Tq, Tk, HD, f8 ? WR_GPU_SAGE_PV_F8 : WR_GPU_SAGE_PV_F16, &w);
}

wr_status wr_gpu_sage_ws_carve(void *ws, size_t bytes, int64_t B, int64_t NH, int64_t Tq, int64_t Tk, int64_t HD,
                               wr_gpu_sage_pv pv, wr_gpu_sage_ws *out)
{
    size_t need = ws_layout(ws, B, NH, Tq, Tk, HD, pv, out);
    if (!ws || bytes < need)
        return wr_fail(WR_E_ARG, "sage attention: workspace of %zu bytes, %zu needed (B=%lld NH=%lld Tq=%lld Tk=%lld)",
                       bytes, need, (long long)B, (long long)NH, (long long)Tq, (long long)Tk);
    return WR_OK;
}

/* ---- the launch sequence -------------------------------------------------------------------- */

typedef struct sage_dims {
    int B, NH, Tq, Tk, HD;
} sage_dims;

static wr_status launch(wr_gpu *g, wr_gpu_func *fn, unsigned gx, unsigned gy, unsigned gz, unsigned block,
                        wr_gpu_stream *s, void **args)
{
    return wr_gpu_launch(g, fn, wr_dim3_make(gx, gy, gz), wr_dim3_make(block, 1, 1), 0, s, args);
}

/* K's mean, then the int8 codes of q and of the smoothed k (the unfused path). */
static wr_status sage_quantise_qk(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, float scale, sage_dims d,
                                  wr_gpu_sage_ws *w, wr_gpu_stream *s)
{
    wr_gpu_func *f_sum, *f_mean, *f_quant;
    WR_TRY(sage_jit(g, FILE_SAGE, "sage_k_sum_chunks", d.HD, &f_sum));
    WR_TRY(sage_jit(g, FILE_SAGE, "sage_k_mean", d.HD, &f_mean));
    WR_TRY(sage_jit(g, FILE_SAGE, "sage_quant_i8", d.HD, &f_quant));
    void *qp = q->data, *kp = k->data, *nul = NULL;
    int rq = SAGE_Q_ROWS, rk = SAGE_K_ROWS, nc = sage_nblocks(d.Tk, SAGE_SUM_CHUNK);
    float extra_q = scale * SAGE_LOG2E, extra_k = 1.0f;
    unsigned NH = (unsigned)d.NH, B = (unsigned)d.B, HD = (unsigned)d.HD;
    WR_TRY(launch(g, f_sum, (unsigned)nc, NH, B, HD, s, (void *[]){&kp, &w->part, &d.Tk, &d.NH}));
    WR_TRY(launch(g, f_mean, NH, B, 1, HD, s, (void *[]){&w->part, &w->mean, &d.Tk, &d.NH}));
    void *a_q[] = {&qp, &nul, &w->q8, &w->qs, &d.Tq, &d.NH, &rq, &extra_q};
    WR_TRY(launch(g, f_quant, (unsigned)sage_nblocks(d.Tq, rq), NH, B, 128, s, a_q));
    void *a_k[] = {&kp, &w->mean, &w->k8, &w->ks, &d.Tk, &d.NH, &rk, &extra_k};
    return launch(g, f_quant, (unsigned)sage_nblocks(d.Tk, rk), NH, B, 128, s, a_k);
}

/* The fused path: 1/rms of every raw q and k row; K's mean over its normed, rotated values
 * (pass 1); the codes of the normed, rotated q and of k minus that mean (pass 2). */
static wr_status sage_prepare_qk(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_gpu_sage_prep *p,
                                 float scale, sage_dims d, wr_gpu_sage_ws *w, wr_gpu_stream *s)
{
    wr_gpu_func *f_inv, *f_sum, *f_mean, *f_quant;
    WR_TRY(sage_jit(g, FILE_PREP, "sage_prep_rms_inv", d.HD, &f_inv));
    WR_TRY(sage_jit(g, FILE_PREP, "sage_prep_k_sum_chunks", d.HD, &f_sum));
    WR_TRY(sage_jit(g, FILE_SAGE, "sage_k_mean", d.HD, &f_mean));
    WR_TRY(sage_jit(g, FILE_PREP, "sage_prep_quant_i8", d.HD, &f_quant));
    void *qp = q->data, *kp = k->data, *nq = p->norm_q->data, *nk = p->norm_k->data, *tab = p->rope_tab->data;
    void *nul = NULL;
    int D = d.NH * d.HD, rq = SAGE_Q_ROWS, rk = SAGE_K_ROWS, nc = sage_nblocks(d.Tk, SAGE_SUM_CHUNK);
    int gf = p->grid_f, gh = p->grid_h, gw = p->grid_w;
    float eps = p->eps, extra_q = scale * SAGE_LOG2E, extra_k = 1.0f;
    unsigned NH = (unsigned)d.NH, B = (unsigned)d.B, HD = (unsigned)d.HD;
    WR_TRY(launch(g, f_inv, (unsigned)d.Tq, B, 1, SAGE_RMS_THREADS, s, (void *[]){&qp, &w->qinv, &D, &eps}));
    WR_TRY(launch(g, f_inv, (unsigned)d.Tk, B, 1, SAGE_RMS_THREADS, s, (void *[]){&kp, &w->kinv, &D, &eps}));
    void *a_sum[] = {&kp, &w->kinv, &nk, &tab, &w->part, &d.Tk, &d.NH, &gf, &gh, &gw};
    WR_TRY(launch(g, f_sum, (unsigned)nc, NH, B, HD, s, a_sum));
    WR_TRY(launch(g, f_mean, NH, B, 1, HD, s, (void *[]){&w->part, &w->mean, &d.Tk, &d.NH}));
    void *a_q[] = {&qp, &w->qinv, &nq, &tab, &nul, &w->q8, &w->qs, &d.Tq, &d.NH, &rq, &extra_q, &gf, &gh, &gw};
    WR_TRY(launch(g, f_quant, (unsigned)sage_nblocks(d.Tq, rq), NH, B, 128, s, a_q));
    void *a_k[] = {&kp, &w->kinv, &nk, &tab, &w->mean, &w->k8, &w->ks, &d.Tk, &d.NH, &rk, &extra_k, &gf, &gh, &gw};
    return launch(g, f_quant, (unsigned)sage_nblocks(d.Tk, rk), NH, B, 128, s, a_k);
}

/* V's e4m3 codes (fp8 P·V), then the attention from the workspace's codes and scales. */
static wr_status sage_attend(wr_gpu *g, const wr_tensor *v, wr_tensor *o, bool f8, sage_dims d, wr_gpu_sage_ws *w,
                             wr_gpu_stream *s)
{
    wr_gpu_func *f_attn;
    WR_TRY(sage_jit(g, FILE_SAGE, f8 ? "attn_qk_i8_pv_f8" : "attn_qk_i8_pv_f16", d.HD, &f_attn));
    void *vp = v->data, *op = o->data;
    unsigned NH = (unsigned)d.NH, B = (unsigned)d.B, HD = (unsigned)d.HD, nc = (unsigned)sage_nblocks(d.Tk, SAGE_SUM_CHUNK);
    if (f8) {
        /* V's channel mean with the K-mean kernels (the chunk buffer is free again in stream order) */
        wr_gpu_func *f_sum, *f_mean, *f_vmax, *f_v;
        WR_TRY(sage_jit(g, FILE_SAGE, "sage_k_sum_chunks", d.HD, &f_sum));
        WR_TRY(sage_jit(g, FILE_SAGE, "sage_k_mean", d.HD, &f_mean));
        WR_TRY(sage_jit(g, FILE_SAGE, "sage_v_amax", d.HD, &f_vmax));
        WR_TRY(sage_jit(g, FILE_SAGE, "sage_quant_v_f8", d.HD, &f_v));
        WR_TRY(launch(g, f_sum, nc, NH, B, HD, s, (void *[]){&vp, &w->part, &d.Tk, &d.NH}));
        WR_TRY(launch(g, f_mean, NH, B, 1, HD, s, (void *[]){&w->part, &w->vmean, &d.Tk, &d.NH}));
        WR_TRY(wr_gpu_memset(g, w->vamax, 0, (size_t)d.B * d.NH * d.HD * sizeof(unsigned), s));
        WR_TRY(launch(g, f_vmax, nc, NH, B, HD, s, (void *[]){&vp, &w->vmean, &w->vamax, &d.Tk, &d.NH}));
        void *a_v[] = {&vp, &w->vmean, &w->vamax, &w->v8, &w->vs, &d.Tk, &d.NH};
        WR_TRY(launch(g, f_v, nc, NH, B, HD, s, a_v));
    }
    void *a_f16[] = {&w->q8, &w->qs, &w->k8, &w->ks, &vp, &op, &d.Tq, &d.Tk, &d.NH};
    void *a_f8[] = {&w->q8, &w->qs, &w->k8, &w->ks, &w->v8, &w->vs, &w->vmean, &op, &d.Tq, &d.Tk, &d.NH};
    unsigned rows = 16 * SAGE_WARPS;
    return launch(g, f_attn, ((unsigned)d.Tq + rows - 1) / rows, NH, B, 32 * SAGE_WARPS, s, f8 ? a_f8 : a_f16);
}

/* ---- entry points --------------------------------------------------------------------------- */

static wr_status sage_check(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, const wr_tensor *o,
                            wr_gpu_sage_pv pv, sage_dims *d)
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
    *d = (sage_dims){(int)B, (int)NH, (int)Tq, (int)Tk, (int)HD};
    return WR_OK;
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
    sage_dims d;
    WR_TRY(sage_check(g, q, k, v, o, pv, &d));
    size_t bytes = wr_gpu_attention_sage_workspace_bytes(d.B, d.NH, d.Tq, d.Tk, d.HD, pv == WR_GPU_SAGE_PV_F8);
    void *ws = NULL;
    WR_TRY(wr_gpu_alloc(g, bytes, &ws));
    wr_status st = wr_gpu_attention_sage_ws(g, q, k, v, scale, o, pv, ws, bytes, s);
    if (st == WR_OK)
        st = s ? wr_gpu_stream_sync(g, s) : wr_gpu_sync(g); /* the workspace is freed next */
    wr_gpu_free(g, ws);
    return st;
}

wr_status wr_gpu_attention_sage_ws(wr_gpu *g, const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, float scale,
                                   wr_tensor *o, wr_gpu_sage_pv pv, void *ws, size_t ws_bytes, wr_gpu_stream *s)
{
    sage_dims d;
    wr_gpu_sage_ws w;
    WR_TRY(sage_check(g, q, k, v, o, pv, &d));
    WR_TRY(wr_gpu_sage_ws_carve(ws, ws_bytes, d.B, d.NH, d.Tq, d.Tk, d.HD, pv, &w));
    WR_TRY(sage_quantise_qk(g, q, k, scale, d, &w, s));
    return sage_attend(g, v, o, pv == WR_GPU_SAGE_PV_F8, d, &w, s);
}

wr_status wr_gpu_attention_sage_fused(wr_gpu *g, const wr_tensor *q_raw, const wr_tensor *k_raw, const wr_tensor *v,
                                      const wr_gpu_sage_prep *p, float scale, wr_tensor *o, wr_gpu_sage_pv pv,
                                      void *ws, size_t ws_bytes, wr_gpu_stream *s)
{
    sage_dims d;
    wr_gpu_sage_ws w;
    WR_TRY(sage_check(g, q_raw, k_raw, v, o, pv, &d));
    if (d.HD != ROPE_WAN_HD)
        return wr_fail(WR_E_UNSUPPORTED, "sage fused attention: head dim %d (Wan's RoPE is defined for %d)", d.HD,
                       ROPE_WAN_HD);
    int64_t D = (int64_t)d.NH * d.HD;
    WR_TRY(ops_need_f32("sage fused attention", "norm_q", p->norm_q));
    WR_TRY(ops_need_f32("sage fused attention", "norm_k", p->norm_k));
    WR_TRY(ops_need_f32("sage fused attention", "rope_tab", p->rope_tab));
    if (wr_tensor_nelements(p->norm_q) != D || wr_tensor_nelements(p->norm_k) != D)
        return wr_fail(WR_E_ARG, "sage fused attention: norm weights must have NH*HD = %lld elements", (long long)D);
    if ((int64_t)p->grid_f * p->grid_h * p->grid_w > INT32_MAX / 2 ||
        rope_wan_table_pairs(p->grid_f, p->grid_h, p->grid_w) > INT32_MAX / 2)
        return wr_fail(WR_E_UNSUPPORTED, "sage fused attention: grid %dx%dx%d too large for 32-bit indices",
                       p->grid_f, p->grid_h, p->grid_w);
    if (p->grid_f < 0 || p->grid_h < 0 || p->grid_w < 0 ||
        wr_tensor_nelements(p->rope_tab) < 2 * rope_wan_table_pairs(p->grid_f, p->grid_h, p->grid_w))
        return wr_fail(WR_E_ARG, "sage fused attention: grid %dx%dx%d needs a RoPE table of %lld floats", p->grid_f,
                       p->grid_h, p->grid_w, 2 * rope_wan_table_pairs(p->grid_f, p->grid_h, p->grid_w));
    WR_TRY(wr_gpu_sage_ws_carve(ws, ws_bytes, d.B, d.NH, d.Tq, d.Tk, d.HD, pv, &w));
    WR_TRY(sage_prepare_qk(g, q_raw, k_raw, p, scale, d, &w, s));
    return sage_attend(g, v, o, pv == WR_GPU_SAGE_PV_F8, d, &w, s);
}

/* Head dim 128 is every Wan 2.2 model (A14B: 40 heads, dim 5120; TI2V-5B: 24 heads, dim 3072);
 * 64 serves the tiny test configs. The kernels take sequence lengths, head counts and the model
 * dim as arguments, so one spec per head dim covers every model and resolution; the fused
 * preparation exists for head dim 128 only (Wan's RoPE split). */
void wr_attention_sage_kspecs(wr_kcheck_list *l)
{
    static const struct {
        const char *file, *entry;
        bool hot;
        int min_arch;
    } entries[] = {{FILE_SAGE, "sage_k_sum_chunks", false, 80},     {FILE_SAGE, "sage_k_mean", false, 80},
                   {FILE_SAGE, "sage_v_amax", false, 89},           {FILE_SAGE, "sage_quant_i8", false, 80},
                   {FILE_SAGE, "attn_qk_i8_pv_f16", true, 80},      {FILE_SAGE, "sage_quant_v_f8", false, 89},
                   {FILE_SAGE, "attn_qk_i8_pv_f8", true, 89},       {FILE_PREP, "sage_prep_rms_inv", true, 80},
                   {FILE_PREP, "sage_prep_k_sum_chunks", true, 80}, {FILE_PREP, "sage_prep_quant_i8", true, 80}};
    wr_kspec s;
    for (int hd = 64; hd <= 128; hd += 64)
        for (size_t e = 0; e < sizeof entries / sizeof entries[0]; e++) {
            if (strcmp(entries[e].file, FILE_PREP) == 0 && hd != ROPE_WAN_HD)
                continue;
            sage_spec(&s, entries[e].file, entries[e].entry, hd);
            wr_kcheck_add(l, &s, 0, entries[e].hot, entries[e].min_arch);
        }
}
