/* Launchers for kernels/matmul.cu and kernels/matmul_q.cu (see gpu_ops.h): 64x64 output tiles
 * (fp32: 256 threads; the mma kernels: 128 threads), the weight read in its file format, and the
 * fused epilogue (kernels/mm_epilogue.cuh) picked by defines: bias, an activation, or the gated
 * residual y += (x·Wᵀ·scale + bias) · gate written in place. */
#include "runtime/gpu/ops_util.h"

#define FILE_MM "kernels/matmul.cu"

/* WTYPE of a weight dtype, -1 when the kernel has none. */
static int wtype_of(wr_dtype t)
{
    switch (t) {
    case WR_DTYPE_F32:
        return 0;
    case WR_DTYPE_BF16:
        return 1;
    case WR_DTYPE_F8_E4M3FN:
        return 2;
    case WR_DTYPE_Q8_0:
        return 3;
    default:
        return -1;
    }
}

bool wr_gpu_matmul_supports(wr_dtype weight_dtype) { return wtype_of(weight_dtype) >= 0; }

static const char *const entry_of[WR_GPU_MATMUL_PRECISION_COUNT] = {"matmul_f32_w", "matmul_bf16_mma"};
static const unsigned threads_of[WR_GPU_MATMUL_PRECISION_COUNT] = {256, 128};

/* The epilogue as the kernels' defines and arguments (kernels/mm_epilogue.cuh). */
typedef struct epi_code {
    int epi;  /* EPI: 0 none, 1 silu, 2 gelu_tanh, 3 gated residual */
    int gate; /* GATE: 0 none, 1 per row (stride), 2 one broadcast row */
    const void *gate_ptr;
    long long gate_stride; /* elements */
} epi_code;

static void epi_define(wr_kspec *s, int bias, epi_code e)
{
    wr_kspec_define_int(s, "HAS_BIAS", bias);
    if (e.epi) /* EPI 0 is the kernels' default: the plain matmul keeps its spec */
        wr_kspec_define_int(s, "EPI", e.epi);
    if (e.epi == 3)
        wr_kspec_define_int(s, "GATE", e.gate);
}

static void mm_spec(wr_kspec *s, wr_gpu_matmul_precision prec, int wtype, int bias, epi_code e)
{
    wr_kspec_init(s, FILE_MM, entry_of[prec]);
    wr_kspec_define_int(s, "WTYPE", wtype);
    epi_define(s, bias, e);
}

/* Checks the epilogue against y [M, N] and codes it. A gate has N contiguous columns and either M
 * evenly spaced rows (wr_tensor_row_stride: a strided view is fine) or one row for every output row. */
static wr_status epi_resolve(const wr_gpu_matmul_epilogue *ep, const wr_tensor *y, int64_t M, int64_t N,
                             epi_code *out)
{
    epi_code e = {0, 0, NULL, 0};
    if (ep && ep->residual) {
        if (ep->act != WR_ACT_NONE)
            return wr_fail(WR_E_ARG, "matmul: the gated residual takes no activation (act %d)", (int)ep->act);
        e.epi = 3;
        const wr_tensor *gt = ep->gate;
        if (gt) {
            int64_t rows = wr_tensor_nrows(gt);
            if (gt->dtype != WR_DTYPE_F32 || gt->nb[0] != sizeof(float) || gt->ne[0] != N || (rows != M && rows != 1))
                return wr_fail(WR_E_ARG, "matmul: gate must be F32 with N = %lld contiguous columns and %lld rows or "
                               "one (got %s {%lld, %lld rows})", (long long)N, (long long)M, wr_dtype_name(gt->dtype),
                               (long long)gt->ne[0], (long long)rows);
            size_t stride = 0;
            if (rows > 1 && (!wr_tensor_row_stride(gt, &stride) || stride % sizeof(float)))
                return wr_fail(WR_E_UNSUPPORTED, "matmul: gate rows are not evenly spaced whole floats apart");
            /* the kernel reads gate while other threads write y: they must not share bytes */
            uintptr_t g0 = (uintptr_t)gt->data, g1 = g0 + (size_t)(rows - 1) * stride + (size_t)N * sizeof(float);
            uintptr_t y0 = (uintptr_t)y->data, y1 = y0 + (size_t)(M * N) * sizeof(float);
            if (M > 0 && N > 0 && g0 < y1 && y0 < g1)
                return wr_fail(WR_E_ARG, "matmul: the gate overlaps y (the residual it rewrites)");
            e.gate = rows == 1 ? 2 : 1;
            e.gate_ptr = gt->data;
            e.gate_stride = (long long)(stride / sizeof(float));
        }
    } else if (ep && ep->act != WR_ACT_NONE) {
        if ((unsigned)ep->act >= WR_ACT_COUNT)
            return wr_fail(WR_E_ARG, "matmul: unknown activation %d", (int)ep->act);
        e.epi = ep->act == WR_ACT_SILU ? 1 : 2;
    }
    *out = e;
    return WR_OK;
}

/* The shape and dtype checks every matmul launcher shares; *M, *N, *K the problem size. */
static wr_status mm_check(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const wr_tensor *y,
                          int64_t *Mo, int64_t *No, int64_t *Ko)
{
    WR_TRY(ops_need_f32("matmul", "x", x));
    WR_TRY(ops_need_f32("matmul", "y", y));
    int64_t K = x->ne[0], M = wr_tensor_nrows(x), N = w->ne[1];
    if (w->ne[0] != K || wr_tensor_nrows(w) != N || y->ne[0] != N || wr_tensor_nrows(y) != M)
        return wr_fail(WR_E_ARG, "matmul: x {K=%lld, M=%lld}, w {%lld, %lld}, y {%lld, %lld} do not agree", (long long)K,
                       (long long)M, (long long)w->ne[0], (long long)w->ne[1], (long long)y->ne[0],
                       (long long)wr_tensor_nrows(y));
    if (w->nb[0] * (size_t)w->ne[0] / (size_t)wr_dtype_info(w->dtype)->block_elems != w->nb[1])
        return wr_fail(WR_E_UNSUPPORTED, "matmul: weight rows must be contiguous");
    if (bias) {
        WR_TRY(ops_need_f32("matmul", "bias", bias));
        if (wr_tensor_nelements(bias) != N)
            return wr_fail(WR_E_ARG, "matmul: bias has %lld elements, N = %lld", (long long)wr_tensor_nelements(bias),
                           (long long)N);
    }
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || (M + 63) / 64 > 65535)
        return wr_fail(WR_E_UNSUPPORTED, "matmul: M=%lld N=%lld K=%lld exceed the kernel's grid", (long long)M,
                       (long long)N, (long long)K);
    *Mo = M, *No = N, *Ko = K;
    return WR_OK;
}

static wr_status mm_run(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, epi_code e,
                        wr_tensor *y, wr_gpu_matmul_precision prec, int64_t M, int64_t N, int64_t K, wr_gpu_stream *s)
{
    if (prec == WR_GPU_MATMUL_BF16_MMA && wr_gpu_arch(g) < 80)
        return wr_fail(WR_E_UNSUPPORTED, "matmul: bf16 tensor-core path needs sm_80, device is sm_%d", wr_gpu_arch(g));
    int wt = wtype_of(w->dtype);
    if (wt < 0)
        return wr_fail(WR_E_UNSUPPORTED, "matmul: weight dtype %s has no GPU kernel yet (F32, BF16, F8_E4M3FN, Q8_0)",
                       wr_dtype_name(w->dtype));
    if (M == 0 || N == 0)
        return WR_OK; /* nothing to write (a grid of zero blocks is a launch error on a device) */
    wr_kspec spec;
    mm_spec(&spec, prec, wt, bias != NULL, e);
    wr_gpu_func *fn;
    WR_TRY(wr_gpu_jit(g, &spec, &fn));
    void *xp = x->data, *wp = w->data, *bp = bias ? bias->data : NULL, *yp = y->data, *gp = (void *)e.gate_ptr;
    int m = (int)M, n = (int)N, k = (int)K;
    long long row_bytes = (long long)w->nb[1], gs = e.gate_stride;
    float scale = w->scale;
    void *args[] = {&xp, &wp, &bp, &yp, &m, &n, &k, &row_bytes, &scale, &gp, &gs};
    return wr_gpu_launch(g, fn, wr_dim3_make((unsigned)((N + 63) / 64), (unsigned)((M + 63) / 64), 1),
                         wr_dim3_make(threads_of[prec], 1, 1), 0, s, args);
}

/* ---- quantised activations (kernels/matmul_q.cu) ---------------------------------------------- */

#define FILE_MMQ "kernels/matmul_q.cu"

static void mmq_spec(wr_kspec *s, const char *entry, int bias, epi_code e)
{
    wr_kspec_init(s, FILE_MMQ, entry);
    epi_define(s, bias, e);
}

size_t wr_gpu_matmul_q_workspace_bytes(int64_t M, int64_t K, bool f8)
{
    int64_t Kp = (K + 31) / 32 * 32;
    return (size_t)(M * Kp) + (size_t)(f8 ? M : M * (K / 32)) * sizeof(float);
}

static wr_status mmq_launch(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, epi_code e,
                            wr_tensor *y, bool f8, int64_t M, int64_t N, int64_t K, wr_gpu_stream *s, void **xq,
                            void **xs)
{
    int64_t Kp = (K + 31) / 32 * 32;
    WR_TRY(wr_gpu_alloc(g, (size_t)(M * Kp), xq));
    WR_TRY(wr_gpu_alloc(g, (size_t)(f8 ? M : M * (K / 32)) * sizeof(float), xs));
    wr_kspec spec;
    wr_gpu_func *f_quant, *f_mm;
    mmq_spec(&spec, f8 ? "mmq_quant_f8" : "mmq_quant_i8", 0, (epi_code){0, 0, NULL, 0});
    WR_TRY(wr_gpu_jit(g, &spec, &f_quant));
    mmq_spec(&spec, f8 ? "matmul_f8_e4m3_mma" : "matmul_q8_0_i8_mma", bias != NULL, e);
    WR_TRY(wr_gpu_jit(g, &spec, &f_mm));
    void *xp = x->data, *wp = w->data, *bp = bias ? bias->data : NULL, *yp = y->data, *gp = (void *)e.gate_ptr;
    int m = (int)M, n = (int)N, k = (int)K, kp = (int)Kp;
    long long row_bytes = (long long)w->nb[1], gs = e.gate_stride;
    float scale = w->scale;
    if (f8) {
        void *aq[] = {&xp, xq, xs, &m, &k, &kp};
        WR_TRY(wr_gpu_launch(g, f_quant, wr_dim3_make((unsigned)M, 1, 1), wr_dim3_make(128, 1, 1), 0, s, aq));
    } else {
        void *aq[] = {&xp, xq, xs, &m, &k};
        WR_TRY(wr_gpu_launch(g, f_quant, wr_dim3_make((unsigned)((M * (K / 32) + 127) / 128), 1, 1),
                             wr_dim3_make(128, 1, 1), 0, s, aq));
    }
    void *a_i8[] = {xq, xs, &wp, &bp, &yp, &m, &n, &k, &row_bytes, &scale, &gp, &gs};
    void *a_f8[] = {xq, xs, &wp, &bp, &yp, &m, &n, &k, &kp, &row_bytes, &scale, &gp, &gs};
    WR_TRY(wr_gpu_launch(g, f_mm, wr_dim3_make((unsigned)((N + 63) / 64), (unsigned)((M + 63) / 64), 1),
                         wr_dim3_make(128, 1, 1), 0, s, f8 ? a_f8 : a_i8));
    return s ? wr_gpu_stream_sync(g, s) : wr_gpu_sync(g); /* the temporaries are freed next */
}

static wr_status mmq_run(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, epi_code e,
                         wr_tensor *y, bool f8, int64_t M, int64_t N, int64_t K, wr_gpu_stream *s)
{
    int need = f8 ? 89 : 80;
    if (wr_gpu_arch(g) < need)
        return wr_fail(WR_E_UNSUPPORTED, "matmul: %s tensor cores need sm_%d, device is sm_%d", f8 ? "fp8" : "int8",
                       need, wr_gpu_arch(g));
    wr_dtype want = f8 ? WR_DTYPE_F8_E4M3FN : WR_DTYPE_Q8_0;
    if (w->dtype != want)
        return wr_fail(WR_E_UNSUPPORTED, "matmul: %s activations take %s weights, not %s", f8 ? "fp8" : "int8",
                       wr_dtype_name(want), wr_dtype_name(w->dtype));
    if (M == 0 || N == 0)
        return WR_OK;
    if (!f8 && K % 32)
        return wr_fail(WR_E_ARG, "matmul: Q8_0 needs K %% 32 == 0, K = %lld", (long long)K);
    if (!f8 && (uintptr_t)x->data % 16)
        return wr_fail(WR_E_UNSUPPORTED, "matmul: int8 activations: x must be 16-byte aligned (float4 loads)");
    if (M * ((K + 31) / 32) > INT32_MAX / 32 || M > 2147483647 / 128)
        return wr_fail(WR_E_UNSUPPORTED, "matmul: M=%lld K=%lld exceed the quantisation grid", (long long)M,
                       (long long)K);
    void *xq = NULL, *xs = NULL;
    wr_status st = mmq_launch(g, x, w, bias, e, y, f8, M, N, K, s, &xq, &xs);
    wr_gpu_free(g, xq), wr_gpu_free(g, xs);
    return st;
}

/* ---- entry points ------------------------------------------------------------------------------ */

wr_status wr_gpu_matmul_epi(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias,
                            const wr_gpu_matmul_epilogue *epi, wr_tensor *y, wr_gpu_matmul_route route,
                            wr_gpu_stream *s)
{
    if ((unsigned)route >= WR_GPU_MM_ROUTE_COUNT)
        return wr_fail(WR_E_ARG, "matmul: unknown route %d", (int)route);
    int64_t M, N, K;
    WR_TRY(mm_check(x, w, bias, y, &M, &N, &K));
    epi_code e;
    WR_TRY(epi_resolve(epi, y, M, N, &e));
    if (route == WR_GPU_MM_INT8 || route == WR_GPU_MM_FP8)
        return mmq_run(g, x, w, bias, e, y, route == WR_GPU_MM_FP8, M, N, K, s);
    wr_gpu_matmul_precision prec = route == WR_GPU_MM_BF16_MMA ? WR_GPU_MATMUL_BF16_MMA : WR_GPU_MATMUL_FP32;
    return mm_run(g, x, w, bias, e, y, prec, M, N, K, s);
}

wr_status wr_gpu_matmul(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_tensor *y,
                        wr_gpu_stream *s)
{
    return wr_gpu_matmul_epi(g, x, w, bias, NULL, y, WR_GPU_MM_FP32, s);
}

wr_status wr_gpu_matmul_ex(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_tensor *y,
                           wr_gpu_matmul_precision prec, wr_gpu_stream *s)
{
    if ((unsigned)prec >= WR_GPU_MATMUL_PRECISION_COUNT)
        return wr_fail(WR_E_ARG, "matmul: unknown precision %d", (int)prec);
    wr_gpu_matmul_route route = prec == WR_GPU_MATMUL_BF16_MMA ? WR_GPU_MM_BF16_MMA : WR_GPU_MM_FP32;
    return wr_gpu_matmul_epi(g, x, w, bias, NULL, y, route, s);
}

wr_status wr_gpu_matmul_q(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_tensor *y,
                          wr_gpu_mmq q, wr_gpu_stream *s)
{
    if (q != WR_GPU_MMQ_INT8 && q != WR_GPU_MMQ_FP8)
        return wr_fail(WR_E_ARG, "matmul: unknown activation quantisation %d", (int)q);
    return wr_gpu_matmul_epi(g, x, w, bias, NULL, y, q == WR_GPU_MMQ_FP8 ? WR_GPU_MM_FP8 : WR_GPU_MM_INT8, s);
}

/* ---- specialisations for kernels-check ---------------------------------------------------------- */

/* The epilogues the real models ask for, always with a bias unless said: Wan 2.2 A14B (dim 5120,
 * ffn 13824) and TI2V-5B (dim 3072, ffn 14336) share them, as M, N, K are kernel arguments:
 * gelu_tanh on ffn.0 and the text embedding (and without bias: T5's gated FFN), silu on the time
 * embedding, the gated residual with per-row gates (self-attention o and ffn.2: x += y · e[k]),
 * with no gate (cross-attention o: x += y) and with one broadcast gate row. */
static const struct {
    int bias;
    epi_code e;
} model_epis[] = {{1, {2, 0, NULL, 0}}, {0, {2, 0, NULL, 0}}, {1, {1, 0, NULL, 0}},
                  {1, {3, 1, NULL, 0}}, {1, {3, 0, NULL, 0}}, {1, {3, 2, NULL, 0}}};

/* Every Wan2.2 linear layer is one of these: the plain matmul for each weight dtype with and
 * without bias; the fused epilogues for the model weight dtypes (BF16, fp8 scaled, GGUF Q8_0). */
void wr_matmul_kspecs(wr_kcheck_list *l)
{
    wr_kspec s;
    epi_code none = {0, 0, NULL, 0};
    for (int p = 0; p < WR_GPU_MATMUL_PRECISION_COUNT; p++)
        for (int wt = 0; wt < 4; wt++) {
            for (int b = 0; b < 2; b++) {
                mm_spec(&s, (wr_gpu_matmul_precision)p, wt, b, none);
                wr_kcheck_add(l, &s, 0, true, 0);
            }
            for (size_t i = 0; wt > 0 && i < sizeof model_epis / sizeof model_epis[0]; i++) {
                mm_spec(&s, (wr_gpu_matmul_precision)p, wt, model_epis[i].bias, model_epis[i].e);
                wr_kcheck_add(l, &s, 0, true, 0);
            }
        }
}

/* int8 from sm_80, fp8 from sm_89; the quantisers take no epilogue. */
void wr_matmul_q_kspecs(wr_kcheck_list *l)
{
    static const struct {
        const char *entry;
        bool hot;
        int min_arch;
    } entries[] = {{"mmq_quant_i8", false, 80},
                   {"matmul_q8_0_i8_mma", true, 80},
                   {"mmq_quant_f8", false, 89},
                   {"matmul_f8_e4m3_mma", true, 89}};
    wr_kspec s;
    epi_code none = {0, 0, NULL, 0};
    for (size_t e = 0; e < sizeof entries / sizeof entries[0]; e++) {
        for (int b = 0; b < (entries[e].hot ? 2 : 1); b++) { /* the quantisers: HAS_BIAS=0 only */
            mmq_spec(&s, entries[e].entry, b, none);
            wr_kcheck_add(l, &s, 0, entries[e].hot, entries[e].min_arch);
        }
        for (size_t i = 0; entries[e].hot && i < sizeof model_epis / sizeof model_epis[0]; i++) {
            mmq_spec(&s, entries[e].entry, model_epis[i].bias, model_epis[i].e);
            wr_kcheck_add(l, &s, 0, true, entries[e].min_arch);
        }
    }
}
