/* Whole models on the GPU backend (gpu-design.md test 4): the Wan DiT forward of the tiny golden
 * configs with every op on the emulator (CUDA in make test-gpu), against the official model's
 * golden outputs with the CPU backend's tolerance (tests/models/test_dit.c: 2e-5 of max|ref|),
 * the block-0 intermediates included. GGUF Q8_0 weights run in the dequantising matmul kernel;
 * Q4_0 weights exercise the CPU fallback. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/wan22/dit.h"
#include "runtime/gpu/backend_gpu.h"
#include "runtime/ops.h"
#include "tests/common/testutil.h"

#define DIT_REL_TOL 2e-5

typedef struct trace_ctx {
    const wr_weightfile *ref;
    int checked;
    double tol, worst;
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
    cr_assert_leq(e.rel_to_max, c->tol, "%s: rel to max %g", name, e.rel_to_max);
    c->worst = e.rel_to_max > c->worst ? e.rel_to_max : c->worst;
    c->checked++;
    free(ref);
}

#define SAGE_F16_TOL 3e-2
#define SAGE_F8_TOL 6e-2

static int emu_arch; /* nonzero: the emulated arch (unless WANRT_TEST_DEVICE=cuda picks a real device) */

static const wr_backend *open_backend(void)
{
    const char *dev = getenv("WANRT_TEST_DEVICE");
    if (!emu_arch || (dev && strcmp(dev, "cuda") == 0))
        return wr_test_gpu_backend();
    wr_gpu_options opts = {.arch = emu_arch};
    const wr_backend *b = NULL;
    cr_assert_eq(wr_backend_gpu_open(WR_GPU_EMU, &opts, &b), WR_OK, "%s", wr_last_error());
    return b;
}

static void run_case_tol(const char *weights_rel, const char *case_rel, const char *ref_rel, int text_len, int traces,
                         double tol)
{
    const wr_backend *b = open_backend();
    if (tol < 0) /* sage attention: the bound of the P.V kernel the device takes (see the tests below) */
        tol = wr_gpu_arch(wr_backend_gpu_device()) >= 89 ? SAGE_F8_TOL : SAGE_F16_TOL;
    wr_backend_select(b);
    wr_status st;
    wr_weightfile wf, cs, ref;
    wr_test_open(&wf, wr_test_shared(weights_rel));
    wr_test_open(&cs, wr_test_shared(case_rel));
    wr_test_open(&ref, wr_test_shared(ref_rel));
    wan22_weights w;
    st = wan22_weights_bind(&w, &wf, text_len);
    cr_assert_eq(st, WR_OK, "%s", wr_last_error());
    int64_t nx, nctx, nt, nout;
    float *x = wr_test_load_f32(&cs, "input.x.0", &nx);
    float *ctx = wr_test_load_f32(&cs, "input.context.0", &nctx);
    float *t = wr_test_load_f32(&cs, "input.t", &nt);
    float *y = wr_weightfile_find(&cs, "input.y.0") ? wr_test_load_f32(&cs, "input.y.0", NULL) : NULL;
    const wr_wtensor *xt = wr_weightfile_find(&cs, "input.x.0");
    wan22_dit_input in = {.x = x, .y = y, .c_noise = (int)xt->t.ne[3], .f = (int)xt->t.ne[2], .h = (int)xt->t.ne[1],
                          .w = (int)xt->t.ne[0], .context = ctx, .ctx_len = (int)(nctx / w.cfg.text_dim), .t = t,
                          .n_t = (int)nt};
    float *want = wr_test_load_f32(&ref, "output.0", &nout);
    float *got = malloc((size_t)nout * sizeof *got);
    trace_ctx tc = {.ref = &ref, .tol = tol};
    st = wan22_dit_forward(&w, &in, got, compare_trace, &tc);
    cr_assert_eq(st, WR_OK, "%s", wr_last_error());
    cr_assert_eq(tc.checked, traces, "checked %d intermediates", tc.checked);
    wr_test_err e = wr_test_compare(got, want, nout);
    cr_assert_eq(e.nan_mismatch, 0);
    cr_assert_leq(e.rel_to_max, tol, "%s on %s: output rel to max %g", case_rel, b->name, e.rel_to_max);
    if (getenv("WANRT_TEST_VERBOSE"))
        fprintf(stderr, "%s: output rel to max %.3g, worst intermediate %.3g (%s)\n", case_rel, e.rel_to_max, tc.worst,
                wr_gpu_name(wr_backend_gpu_device()));
    wr_gpu *g = wr_backend_gpu_device();
    cr_assert_gt(wr_gpu_launch_count(g, "attn_f32") + wr_gpu_launch_count(g, "attn_bf16_mma") +
                     wr_gpu_launch_count(g, "attn_qk_i8_pv_f16") + wr_gpu_launch_count(g, "attn_qk_i8_pv_f8"),
                 0,
                 "attention ran on the device");
    if (wr_gpu_arch(g) >= 89 && wr_attention_mode_get() == WR_ATTENTION_SAGE)
        cr_assert_gt(wr_gpu_launch_count(g, "attn_qk_i8_pv_f8"), 0, "sm_89 takes the fp8 P.V kernel");
    cr_assert_gt(wr_gpu_launch_count(g, "norm_f32"), 0);
    cr_assert_gt(wr_gpu_launch_count(g, "rope_f32"), 0);
    free(x), free(ctx), free(t), free(y), free(want), free(got);
    wan22_weights_free(&w);
    wr_weightfile_close(&wf), wr_weightfile_close(&cs), wr_weightfile_close(&ref);
    wr_backend_gpu_close();
}

static void run_case(const char *weights_rel, const char *case_rel, const char *ref_rel, int text_len, int traces)
{
    run_case_tol(weights_rel, case_rel, ref_rel, text_len, traces, DIT_REL_TOL);
}

Test(model_emu, dit_t2v_golden, .timeout = 300)
{
    run_case("golden/dit/dit_t2v_weights.safetensors", "golden/dit/dit_t2v_case1.safetensors",
             "golden/dit/dit_t2v_case1.safetensors", 0, 20);
}

Test(model_emu, dit_ti2v_golden_per_token_timesteps, .timeout = 300)
{
    run_case("golden/dit/dit_ti2v_weights.safetensors", "golden/dit/dit_ti2v_case1.safetensors",
             "golden/dit/dit_ti2v_case1.safetensors", 0, 20);
}

Test(model_emu, dit_gguf_q8_0_and_q4_0_fallback, .timeout = 300)
{
    run_case("golden/gguf/dit_t2v_Q8_0.gguf", "golden/dit/dit_t2v_case1.safetensors",
             "golden/gguf/dit_t2v_Q8_0_ref.safetensors", 32, 0);
    run_case("golden/gguf/dit_t2v_Q4_0.gguf", "golden/dit/dit_t2v_case1.safetensors",
             "golden/gguf/dit_t2v_Q4_0_ref.safetensors", 32, 0);
}

/* The bf16 tensor-core matmul and attention (WANRT_GPU_PRECISION=bf16) through the whole DiT:
 * operands rounded to bf16 (relative 2^-9) give errors of a few 1e-3 of max|ref| (measured:
 * output 2.4e-3, worst block-0 intermediate 6.0e-3; the fp32 path measures 3-5e-7); 2e-2 bounds
 * them with margin while still catching a wrong fragment layout, which gives errors of order 1. */
Test(model_emu, dit_t2v_golden_bf16_tensor_cores, .timeout = 300)
{
    setenv("WANRT_GPU_PRECISION", "bf16", 1);
    run_case_tol("golden/dit/dit_t2v_weights.safetensors", "golden/dit/dit_t2v_case1.safetensors",
                 "golden/dit/dit_t2v_case1.safetensors", 0, 20, 2e-2);
}

/* Sage attention (--attention sage: kernels/attention_sage.cu, int8 Q.K with K smoothing, fp16
 * P.V) in every attention of the DiT on the device, the rest fp32. Bound 3e-2 of max|ref| for the
 * output and every block-0 intermediate (6e-2 on a device of sm_89+, which takes the fp8 kernel): the raw attention output is the worst stage (measured
 * 1.4e-2; the final output measures ~2e-3 like the CPU twin's golden test in tests/models). */
Test(model_emu, dit_t2v_golden_sage_attention, .timeout = 300)
{
    wr_attention_mode_set(WR_ATTENTION_SAGE);
    run_case_tol("golden/dit/dit_t2v_weights.safetensors", "golden/dit/dit_t2v_case1.safetensors",
                 "golden/dit/dit_t2v_case1.safetensors", 0, 20, -1);
    wr_attention_mode_set(WR_ATTENTION_DENSE);
}

/* The same on an emulated sm_89, where sage attention takes the fp8 P.V kernel (attn_qk_i8_pv_f8):
 * measured output 4.5e-3 of max|ref|, worst intermediate (self_attn.attn_out) 3.2e-2 (e4m3's
 * 3-bit mantissa on P and V); bound 6e-2. */
Test(model_emu, dit_t2v_golden_sage_attention_fp8_pv, .timeout = 300)
{
    wr_attention_mode_set(WR_ATTENTION_SAGE);
    emu_arch = 89;
    run_case_tol("golden/dit/dit_t2v_weights.safetensors", "golden/dit/dit_t2v_case1.safetensors",
                 "golden/dit/dit_t2v_case1.safetensors", 0, 20, -1);
    emu_arch = 0;
    wr_attention_mode_set(WR_ATTENTION_DENSE);
}
