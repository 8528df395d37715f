/* Wan DiT forward against the official model's golden outputs (../shared/golden/dit, gguf):
 * the final output and every block-0 intermediate, so a failure names the stage. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/wan22/dit.h"
#include "runtime/cpu/gemm.h"
#include "runtime/ops.h"
#include "tests/common/testutil.h"

/* float32 reference vs our float32: the README's floor (fp32 vs fp64) is ~6e-7 relative to
 * max|ref|, and we measure 4.5e-7..6.6e-7 on the outputs; 5e-6 leaves room for a different
 * summation order (thread count, SIMD path) without hiding a real error (bf16 rounding of one
 * weight would already show ~1e-3). */
#define DIT_REL_TOL 5e-6

typedef struct trace_ctx {
    const wr_weightfile *ref;
    int checked;
    double worst;
    char worst_name[128];
} trace_ctx;

static void compare_trace(void *vctx, const char *name, const float *data, int64_t n)
{
    trace_ctx *c = vctx;
    if (!wr_weightfile_find(c->ref, name))
        return;
    int64_t nref;
    float *ref = wr_test_load_f32(c->ref, name, &nref);
    cr_assert_eq(n, nref, "%s: %lld values, reference has %lld", name, (long long)n, (long long)nref);
    wr_test_err e = wr_test_compare(data, ref, n);
    cr_assert_eq(e.nan_mismatch, 0, "%s: NaN/Inf mismatch", name);
    cr_assert_leq(e.rel_to_max, DIT_REL_TOL, "%s: max abs err %g (rel to max %g) at %lld", name, e.max_abs,
                  e.rel_to_max, (long long)e.worst);
    if (e.rel_to_max > c->worst) {
        c->worst = e.rel_to_max;
        snprintf(c->worst_name, sizeof c->worst_name, "%s", name);
    }
    c->checked++;
    free(ref);
}

static int max_t_runs; /* wan22_weights.max_t_runs for the next case (0: the default) */

/* expect_traces < 0: no per-stage comparison (approximate attention), the output's accuracy printed. */
static void run_case(const char *weights_rel, const char *case_rel, const char *ref_rel, int text_len, double tol,
                     int expect_traces)
{
    wr_weightfile wf, cs, ref;
    wr_test_open(&wf, wr_test_shared(weights_rel));
    wr_test_open(&cs, wr_test_shared(case_rel));
    wr_test_open(&ref, wr_test_shared(ref_rel));
    wan22_weights w;
    wr_status st = wan22_weights_bind(&w, &wf, text_len);
    cr_assert_eq(st, WR_OK, "%s", wr_last_error());
    cr_assert_eq(w.cfg.text_len, 32);
    w.max_t_runs = max_t_runs;
    int64_t nx, nctx, nt;
    float *x = wr_test_load_f32(&cs, "input.x.0", &nx);
    float *ctx = wr_test_load_f32(&cs, "input.context.0", &nctx);
    float *t = wr_test_load_f32(&cs, "input.t", &nt);
    float *y = wr_weightfile_find(&cs, "input.y.0") ? wr_test_load_f32(&cs, "input.y.0", NULL) : NULL;
    const wr_wtensor *xt = &*wr_weightfile_find(&cs, "input.x.0");
    wan22_dit_input in = {.x = x, .y = y, .c_noise = (int)xt->t.ne[3], .f = (int)xt->t.ne[2],
                          .h = (int)xt->t.ne[1], .w = (int)xt->t.ne[0], .context = ctx,
                          .ctx_len = (int)(nctx / w.cfg.text_dim), .t = t, .n_t = (int)nt};
    int64_t nout;
    float *want = wr_test_load_f32(&ref, "output.0", &nout);
    float *got = malloc((size_t)nout * sizeof *got);
    trace_ctx tc = {.ref = &ref};
    st = wan22_dit_forward(&w, &in, got, expect_traces >= 0 ? compare_trace : NULL, &tc);
    cr_assert_eq(st, WR_OK, "%s", wr_last_error());
    cr_assert_eq(tc.checked, expect_traces < 0 ? 0 : expect_traces, "checked %d intermediates", tc.checked);
    wr_test_err e = wr_test_compare(got, want, nout);
    if (expect_traces < 0) { /* an approximate attention: report how approximate */
        double dot = 0, gg = 0, rr = 0, l1 = 0, l1r = 0;
        for (int64_t i = 0; i < nout; i++) {
            double a = got[i], r = want[i];
            dot += a * r, gg += a * a, rr += r * r, l1 += fabs(a - r), l1r += fabs(r);
        }
        fprintf(stderr, "%s with %s attention: cos %.6f, rel L1 %.4f%%, max abs %.3g (rel to max %.3g)\n", case_rel,
                wr_attention_mode_name(wr_attention_mode_get()), dot / sqrt(gg * rr), 100 * l1 / l1r, e.max_abs,
                e.rel_to_max);
    }
    cr_assert_eq(e.nan_mismatch, 0);
    cr_assert_leq(e.rel_to_max, tol, "%s output: max abs %g, rel to max %g (worst stage %s %g)", case_rel,
                  e.max_abs, e.rel_to_max, tc.worst_name, tc.worst);
    free(x), free(ctx), free(t), free(y), free(want), free(got);
    wan22_weights_free(&w);
    wr_weightfile_close(&wf), wr_weightfile_close(&cs), wr_weightfile_close(&ref);
}

Test(dit, t2v_golden, .timeout = 120)
{
    run_case("golden/dit/dit_t2v_weights.safetensors", "golden/dit/dit_t2v_case1.safetensors",
             "golden/dit/dit_t2v_case1.safetensors", 0, DIT_REL_TOL, 20);
}

Test(dit, i2v_golden, .timeout = 120)
{
    run_case("golden/dit/dit_i2v_weights.safetensors", "golden/dit/dit_i2v_case1.safetensors",
             "golden/dit/dit_i2v_case1.safetensors", 0, DIT_REL_TOL, 20);
}

/* The case's timesteps are two runs (image frame at 0, the rest at 937): two modulation rows. */
Test(dit, ti2v_golden_per_token_timesteps, .timeout = 120)
{
    run_case("golden/dit/dit_ti2v_weights.safetensors", "golden/dit/dit_ti2v_case1.safetensors",
             "golden/dit/dit_ti2v_case1.safetensors", 0, DIT_REL_TOL, 20);
}

/* The same case with runs capped at one: one modulation row per token, the general path. */
Test(dit, ti2v_golden_one_modulation_row_per_token, .timeout = 120)
{
    max_t_runs = 1;
    run_case("golden/dit/dit_ti2v_weights.safetensors", "golden/dit/dit_ti2v_case1.safetensors",
             "golden/dit/dit_ti2v_case1.safetensors", 0, DIT_REL_TOL, 20);
    max_t_runs = 0;
}

/* The GGUF references were computed from the dequantised weights in float32, so the same
 * float32 tolerance applies; the file has no config metadata, text_len comes from the CLI. */
Test(dit, gguf_q8_0_q4_0_q5_0, .timeout = 120)
{
    const char *q[] = {"Q8_0", "Q4_0", "Q5_0"};
    for (int i = 0; i < 3; i++) {
        char wrel[128], rrel[128];
        snprintf(wrel, sizeof wrel, "golden/gguf/dit_t2v_%s.gguf", q[i]);
        snprintf(rrel, sizeof rrel, "golden/gguf/dit_t2v_%s_ref.safetensors", q[i]);
        run_case(wrel, "golden/dit/dit_t2v_case1.safetensors", rrel, 32, DIT_REL_TOL, 0);
    }
}

/* The opt-in W8A8 route (WANRT_Q8_ACT=int8: activations rounded to int8 per 32-block, as
 * ggml's CPU backend does for Q8_0) against the same float32-activation reference. Measured
 * on this case: max abs 0.0245 = 6.1e-3 of max|ref| (4.01), NMSE 4.9e-5, where the default
 * float32 route gives 3.6e-7 and 1.2e-13. Bound 1.5e-2: room for thread/ISA differences,
 * while a wrong block scale or a dropped block (errors of order 1) still fails. */
Test(dit, gguf_q8_0_int8_activations, .timeout = 120)
{
    if (!cpu_gemm_has_vnni() || cpu_gemm_path_best()->kind != CPU_GEMM_AVX512)
        cr_skip_test("no AVX512-VNNI, or WANRT_SIMD caps the path below AVX-512: no int8-activation route");
    setenv("WANRT_Q8_ACT", "int8", 1); /* read once per process; Criterion forks one per test */
    cr_assert(cpu_matmul_q8_int8_activations());
    run_case("golden/gguf/dit_t2v_Q8_0.gguf", "golden/dit/dit_t2v_case1.safetensors",
             "golden/gguf/dit_t2v_Q8_0_ref.safetensors", 32, 1.5e-2, 0);
}

/* Sage attention (int8 Q.K with K smoothing, fp16 P.V; runtime/cpu/attention_sage.c, the CPU twin
 * of kernels/attention_sage.cu) in every self and cross attention of the golden DiT (head dim
 * 128). The bound is on max abs error relative to max |ref| (4x the measured worst). */
#define SAGE_DIT_REL_TOL 1e-2 /* measured 1.5e-3..2.4e-3 (cos 0.999999, rel L1 0.15-0.17 %) */

Test(dit, t2v_golden_sage_attention, .timeout = 120)
{
    wr_attention_mode_set(WR_ATTENTION_SAGE);
    run_case("golden/dit/dit_t2v_weights.safetensors", "golden/dit/dit_t2v_case1.safetensors",
             "golden/dit/dit_t2v_case1.safetensors", 0, SAGE_DIT_REL_TOL, -1);
    run_case("golden/dit/dit_ti2v_weights.safetensors", "golden/dit/dit_ti2v_case1.safetensors",
             "golden/dit/dit_ti2v_case1.safetensors", 0, SAGE_DIT_REL_TOL, -1);
    run_case("golden/dit/dit_i2v_weights.safetensors", "golden/dit/dit_i2v_case1.safetensors",
             "golden/dit/dit_i2v_case1.safetensors", 0, SAGE_DIT_REL_TOL, -1);
    wr_attention_mode_set(WR_ATTENTION_DENSE);
}
