/* Wan self-attention's q/k preparation before Sage attention, two variants (llm.c dev/cuda
 * style, STYLE.md 9.5):
 *   unfused  RMSNorm kernel on q and k (f32 out), RoPE kernel in place (per-token tables), then
 *            wr_gpu_attention_sage_ws (K mean, int8 quantisation, attention) — what the backend
 *            runs for rms_norm → rope_wan → attention in sage mode;
 *   fused    wr_gpu_attention_sage_fused: norm + RoPE + quantisation in the Sage kernels
 *            (kernels/sage_prepare.cu), no normed f32 q/k written.
 * Both run in one preallocated workspace (as the planner arranges), so the times compare the
 * kernels only. Each variant is validated on a small shape against the CPU twin
 * (cpu_self_attention_sage_fused, fp16 P·V) before timing: fused nmse <= 1e-12 on the emulator
 * (bit-exact there), 1e-5 on a GPU (mma order, exp2f ulps; test_sage_fused.c); unfused 1e-6
 * (its fp32 norm and the twin's reduction order differ, moving a rare int8 code by one step).
 * Timed shapes: Wan 2.2 A14B at 720p, 81 frames (40 heads, 21 x 45 x 80 = 75,600 tokens) and
 * TI2V-5B at 704 x 1280, 121 frames (24 heads, 31 x 22 x 40 = 27,280 tokens), P·V fp16 and (sm_89+)
 * e4m3 (--quick: the validation shape, so the emulator runs the timing path too). Output: one
 * "ok"/"FAIL" line per validated variant, "validated: N of M", then a "timings" table with one
 * row per variant (the fused row adds unfused / fused), as bench_gpu_kernels.c prints.
 * Usage: bench_sage_prepare [--device cuda|emu] [--quick] [--validate-only] [--reps N] */
#include "bench/kernels/gpu_bench.h"

#include "kernels/rope_wan.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/sage_prepare.h"
#include "runtime/gpu/gpu_ops.h"

#define HD 128
#define EPS 1e-6f

typedef struct shape {
    const char *name;
    int NH, gf, gh, gw;
} shape;

/* Device operands of one shape, with the unfused variant's intermediates and tables. */
typedef struct prep_run {
    wr_gpu *g;
    wr_gpu_sage_pv pv;
    int NH, T, grid[3];
    wr_tensor q, k, v, o, wq, wk, qn, kn, cos_t, sin_t, tab;
    void *ws;
    size_t ws_bytes;
} prep_run;

static wr_tensor dev_tensor(wr_gpu *g, int n_dims, const int64_t *ne, const float *host)
{
    wr_tensor t;
    gb_check(wr_tensor_init(&t, WR_DTYPE_F32, n_dims, ne, NULL) ? WR_OK : WR_E_ARG, "tensor");
    size_t bytes = wr_tensor_nbytes(&t);
    t.data = host ? gb_upload(g, host, bytes) : gb_alloc(g, bytes);
    return t;
}

static void prep_open(prep_run *r, wr_gpu *g, const shape *s, wr_gpu_sage_pv pv, const float *hq, const float *hk,
                      const float *hv, const float *hw)
{
    int T = s->gf * s->gh * s->gw, D = s->NH * HD;
    *r = (prep_run){.g = g, .pv = pv, .NH = s->NH, .T = T, .grid = {s->gf, s->gh, s->gw}};
    int64_t ne[3] = {HD, s->NH, T}, ne_w[1] = {D}, ne_cs[2] = {HD / 2, T};
    r->q = dev_tensor(g, 3, ne, hq), r->k = dev_tensor(g, 3, ne, hk), r->v = dev_tensor(g, 3, ne, hv);
    r->o = dev_tensor(g, 3, ne, NULL), r->qn = dev_tensor(g, 3, ne, NULL), r->kn = dev_tensor(g, 3, ne, NULL);
    r->wq = dev_tensor(g, 1, ne_w, hw), r->wk = dev_tensor(g, 1, ne_w, hw + D);
    /* the per-axis table (fused) and the per-token tables the RoPE kernel reads (unfused) */
    int64_t ne_tab[1] = {2 * rope_wan_table_pairs(s->gf, s->gh, s->gw)};
    float *tab = malloc((size_t)ne_tab[0] * sizeof *tab), *cs = malloc((size_t)T * HD * sizeof *cs);
    cpu_rope_wan_table(s->gf, s->gh, s->gw, tab);
    for (int t = 0; t < T; t++)
        for (int j = 0; j < HD / 2; j++) {
            int e = rope_wan_entry(t, j, s->gf, s->gh, s->gw);
            cs[(size_t)t * (HD / 2) + j] = tab[2 * e];
            cs[(size_t)T * (HD / 2) + (size_t)t * (HD / 2) + j] = tab[2 * e + 1];
        }
    r->tab = dev_tensor(g, 1, ne_tab, tab);
    r->cos_t = dev_tensor(g, 2, ne_cs, cs), r->sin_t = dev_tensor(g, 2, ne_cs, cs + (size_t)T * (HD / 2));
    free(tab), free(cs);
    r->ws_bytes = wr_gpu_attention_sage_workspace_bytes(1, s->NH, T, T, HD, pv == WR_GPU_SAGE_PV_F8);
    r->ws = gb_alloc(g, r->ws_bytes);
}

static void prep_close(prep_run *r)
{
    wr_tensor *ts[] = {&r->q, &r->k, &r->v, &r->o, &r->wq, &r->wk, &r->qn, &r->kn, &r->cos_t, &r->sin_t, &r->tab};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        wr_gpu_free(r->g, ts[i]->data);
    wr_gpu_free(r->g, r->ws);
}

static wr_status run_unfused(void *p)
{
    prep_run *r = p;
    wr_tensor q2 = r->q, k2 = r->k, qn2 = r->qn, kn2 = r->kn; /* the norm sees [T, NH·HD] rows */
    int64_t rows[2] = {(int64_t)r->NH * HD, r->T};
    if (!wr_tensor_init(&q2, WR_DTYPE_F32, 2, rows, r->q.data) || !wr_tensor_init(&k2, WR_DTYPE_F32, 2, rows, r->k.data) ||
        !wr_tensor_init(&qn2, WR_DTYPE_F32, 2, rows, r->qn.data) || !wr_tensor_init(&kn2, WR_DTYPE_F32, 2, rows, r->kn.data))
        return WR_E_ARG;
    wr_gpu_norm_args nq = {.kind = WR_GPU_NORM_RMS, .eps = EPS, .weight = &r->wq, .mod_div = 1};
    wr_gpu_norm_args nk = {.kind = WR_GPU_NORM_RMS, .eps = EPS, .weight = &r->wk, .mod_div = 1};
    WR_TRY(wr_gpu_norm(r->g, &nq, &q2, &qn2, NULL));
    WR_TRY(wr_gpu_norm(r->g, &nk, &k2, &kn2, NULL));
    WR_TRY(wr_gpu_rope(r->g, &r->qn, &r->cos_t, &r->sin_t, &r->qn, NULL));
    WR_TRY(wr_gpu_rope(r->g, &r->kn, &r->cos_t, &r->sin_t, &r->kn, NULL));
    return wr_gpu_attention_sage_ws(r->g, &r->qn, &r->kn, &r->v, 1.0f / sqrtf((float)HD), &r->o, r->pv, r->ws,
                                    r->ws_bytes, NULL);
}

static wr_status run_fused(void *p)
{
    prep_run *r = p;
    wr_gpu_sage_prep prep = {&r->wq, &r->wk, EPS, &r->tab, r->grid[0], r->grid[1], r->grid[2]};
    return wr_gpu_attention_sage_fused(r->g, &r->q, &r->k, &r->v, &prep, 1.0f / sqrtf((float)HD), &r->o, r->pv, r->ws,
                                       r->ws_bytes, NULL);
}

static float *inputs(int NH, int T, float **k, float **v, float **w)
{
    size_t n = (size_t)HD * NH * T, D = (size_t)HD * NH;
    float *q = malloc(n * sizeof *q);
    *k = malloc(n * sizeof **k), *v = malloc(n * sizeof **v), *w = malloc(2 * D * sizeof **w);
    gb_fill(q, (int64_t)n, -3, 3, 1), gb_fill(*k, (int64_t)n, -1, 1, 2), gb_fill(*v, (int64_t)n, -1, 1, 3);
    gb_fill(*w, (int64_t)(2 * D), 0.5f, 2, 4);
    return q;
}

typedef struct variant {
    const char *name;
    gb_op op;
} variant;

static const variant variants[] = {{"unfused", run_unfused}, {"fused", run_fused}};
#define N_VARIANTS (int)(sizeof variants / sizeof variants[0])

/* Both variants on a small ragged shape against the CPU twin; returns how many passed. */
static int validate(wr_gpu *g, const shape *s)
{
    int T = s->gf * s->gh * s->gw, D = s->NH * HD, passed = 0;
    size_t n = (size_t)D * T;
    float *k, *v, *w, *q = inputs(s->NH, T, &k, &v, &w), *ref = malloc(n * 4), *got = malloc(n * 4);
    wr_tensor tq, tk, tv, tr, twq, twk;
    int64_t ne[3] = {HD, s->NH, T}, ne_w[1] = {D};
    gb_check(wr_tensor_init(&tq, WR_DTYPE_F32, 3, ne, q) && wr_tensor_init(&tk, WR_DTYPE_F32, 3, ne, k) &&
                     wr_tensor_init(&tv, WR_DTYPE_F32, 3, ne, v) && wr_tensor_init(&tr, WR_DTYPE_F32, 3, ne, ref) &&
                     wr_tensor_init(&twq, WR_DTYPE_F32, 1, ne_w, w) && wr_tensor_init(&twk, WR_DTYPE_F32, 1, ne_w, w + D)
                 ? WR_OK
                 : WR_E_ARG,
             "validation tensors");
    cpu_self_attention_sage_fused(&tq, &tk, &tv, &twq, &twk, EPS, s->gf, s->gh, s->gw, 1.0f / sqrtf((float)HD), &tr);
    double bounds[N_VARIANTS] = {1e-6, wr_gpu_get_kind(g) == WR_GPU_CUDA ? 1e-5 : 1e-12};
    for (int i = 0; i < N_VARIANTS; i++) {
        prep_run r;
        prep_open(&r, g, s, WR_GPU_SAGE_PV_F16, q, k, v, w);
        gb_check(variants[i].op(&r), variants[i].name);
        gb_check(wr_gpu_copy_d2h(g, got, r.o.data, n * 4, NULL), "download");
        gb_check(wr_gpu_sync(g), "sync");
        int64_t nan_mismatch;
        double e = gb_nmse(got, ref, (int64_t)n, &nan_mismatch);
        bool ok = e <= bounds[i] && nan_mismatch == 0;
        printf("%s %s NH=%d T=%d fp16 P.V vs CPU twin: nmse %.3g (bound %.0e)\n", ok ? "ok  " : "FAIL",
               variants[i].name, s->NH, T, e, bounds[i]);
        passed += ok;
        prep_close(&r);
    }
    free(q), free(k), free(v), free(w), free(ref), free(got);
    return passed;
}

int main(int argc, char **argv)
{
    const char *device = "cuda";
    bool validate_only = false, quick = false;
    int reps = 10;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else if (strcmp(argv[i], "--validate-only") == 0)
            validate_only = true;
        else if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else
            reps = 0;
    }
    if (reps < 1 || reps > 64) {
        fprintf(stderr, "usage: bench_sage_prepare [--device cuda|emu] [--quick] [--validate-only] [--reps N]\n");
        return 2;
    }
    bool skipped;
    wr_gpu *g = gb_open(device, &skipped);
    if (!g)
        return skipped ? 0 : 1;
    printf("wanrt sage q/k preparation bench on %s\n", wr_gpu_name(g));
    const shape small = {"2 heads 2x5x7", 2, 2, 5, 7};
    int passed = validate(g, &small);
    printf("validated: %d of %d\n", passed, N_VARIANTS);
    if (passed < N_VARIANTS) {
        printf("validation FAILED: nothing timed\n");
        wr_gpu_close(g);
        return 1;
    }
    if (!validate_only && !quick && wr_gpu_get_kind(g) != WR_GPU_CUDA) {
        printf("emulator: the Wan shapes would take days; validating only (--quick times the small shape)\n");
        validate_only = true;
    }
    shape wan[] = {{"A14B 720p 81f", 40, 21, 45, 80}, {"TI2V-5B 704p 121f", 24, 31, 22, 40}};
    const shape *shapes = quick ? &small : wan;
    int n_shapes = quick ? 1 : 2;
    if (!validate_only)
        printf("timings\n%-8s %-20s %-5s %10s %10s\n", "variant", "shape", "P.V", "ms", "unf/fused");
    for (int si = 0; si < n_shapes && !validate_only; si++)
        for (int pv = 0; pv < 2; pv++) {
            if (pv == WR_GPU_SAGE_PV_F8 && wr_gpu_arch(g) < 89)
                continue;
            const shape *s = &shapes[si];
            float *k, *v, *w, *q = inputs(s->NH, s->gf * s->gh * s->gw, &k, &v, &w);
            prep_run r;
            prep_open(&r, g, s, (wr_gpu_sage_pv)pv, q, k, v, w);
            free(q), free(k), free(v), free(w);
            double ms[N_VARIANTS];
            for (int i = 0; i < N_VARIANTS; i++) {
                gb_check(variants[i].op(&r), "warm-up");
                ms[i] = gb_time_op(g, variants[i].op, &r, 200.0, reps, variants[i].name).median_ms;
                char rel[16] = "";
                if (i == N_VARIANTS - 1)
                    snprintf(rel, sizeof rel, "%.2f", ms[0] / ms[i]);
                printf("%-8s %-20s %-5s %10.3f %10s\n", variants[i].name, s->name, pv ? "e4m3" : "fp16", ms[i], rel);
                fflush(stdout);
            }
            prep_close(&r);
        }
    wr_gpu_close(g);
    return 0;
}
