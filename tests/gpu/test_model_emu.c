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
#include "rife/rife.h"
#include "vae/vae21.h"
#include "upscale/svr_vae.h"
#include "vae/vae22.h"
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

static const char *expect_kernel; /* non-NULL: run_case_tol asserts this entry was launched */
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
    if (expect_kernel)
        cr_assert_gt(wr_gpu_launch_count(g, expect_kernel), 0, "%s ran", expect_kernel);
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

/* The int8-activation route for Q8_0 weights (WANRT_GPU_PRECISION=int8: kernels/matmul_q.cu,
 * per-32-block int8 activations, s8 tensor cores) through the GGUF DiT against the
 * float32-activation reference. Per matmul the kernel equals the CPU's WANRT_Q8_ACT=int8
 * arithmetic to the bit (tests/gpu/test_matmul_q.c). Measured: output 6.3e-3 of max|ref| (the
 * fp32 path: 4.2e-7); the CPU route measures 6.1e-3 (tests/models/test_dit.c, on a VNNI host):
 * the other ops differ by fp32 rounding, which moves a few activations across code boundaries.
 * Bound 1.5e-2 as the CPU test: a wrong block scale or a dropped block gives errors of order 1. */
Test(model_emu, dit_gguf_q8_0_int8_activations, .timeout = 300)
{
    setenv("WANRT_GPU_PRECISION", "int8", 1);
    expect_kernel = "matmul_q8_0_i8_mma";
    run_case_tol("golden/gguf/dit_t2v_Q8_0.gguf", "golden/dit/dit_t2v_case1.safetensors",
                 "golden/gguf/dit_t2v_Q8_0_ref.safetensors", 32, 0, 1.5e-2);
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

/* ---- RIFE and the VAE on the device (conv3d, resize and warp kernels) ------------------------ */

/* RIFE 4.7 on the GPU backend against the ComfyUI node's output: every step runs on the device
 * on buffers (convolutions, transposed convolutions, resizes, warps and the planar glue;
 * tests/gpu/test_rife_resident.c checks it against the staged run). README tolerance: max_abs 5e-5. */
Test(model_emu, rife47_golden_on_device, .timeout = 300)
{
    const wr_backend *b = wr_test_gpu_backend();
    wr_backend_select(b);
    wr_weightfile wf, cs;
    wr_test_open(&wf, wr_test_shared("golden/post/rife47_weights.safetensors"));
    wr_test_open(&cs, wr_test_shared("golden/post/rife47_72x40_t0.5.safetensors"));
    rife *m;
    cr_assert_eq(rife_load(&m, &wf), WR_OK, "%s", wr_last_error());
    const wr_wtensor *i0t = wr_weightfile_find(&cs, "img0");
    int h = (int)i0t->t.ne[1], w = (int)i0t->t.ne[0];
    int64_t cnt;
    float *a = wr_test_load_f32(&cs, "img0", &cnt), *c = wr_test_load_f32(&cs, "img1", &cnt);
    float *ts = wr_test_load_f32(&cs, "timestep", &cnt), *want = wr_test_load_f32(&cs, "output", &cnt);
    float *got = malloc((size_t)cnt * sizeof *got);
    cr_assert_eq(rife_interpolate(m, a, c, h, w, ts[0], 1.0f, false, got), WR_OK, "%s", wr_last_error());
    wr_test_err e = wr_test_compare(got, want, cnt);
    if (getenv("WANRT_TEST_VERBOSE"))
        fprintf(stderr, "rife47 72x40 on %s: max abs %.3g\n", b->name, e.max_abs);
    cr_assert_eq(e.nan_mismatch, 0);
    cr_assert_leq(e.max_abs, 5e-5, "rife on %s: max abs %g", b->name, e.max_abs);
    wr_gpu *g = wr_backend_gpu_device();
    cr_assert_gt(wr_gpu_launch_count(g, "conv3d_f32"), 0);
    cr_assert_gt(wr_gpu_launch_count(g, "resize_bilinear_f32"), 0);
    cr_assert_gt(wr_gpu_launch_count(g, "warp_f32"), 0);
    cr_assert_gt(wr_gpu_launch_count(g, "conv_transpose2d_f32"), 0);
    free(a), free(c), free(ts), free(want), free(got);
    rife_free(m);
    wr_weightfile_close(&wf), wr_weightfile_close(&cs);
    wr_backend_gpu_close();
}

/* The Wan VAEs on the golden 5-frame 32x32 case with every convolution on the device (encode:
 * the stride-2 spatial and temporal downsamplers too), against the CPU backend (im2col + matmul:
 * a different summation order, so fp32 rounding differences: bound 1e-4 of max|ref|) and the
 * official outputs (the CPU tests' 2e-5). */
typedef struct vae_api {
    const char *name, *weights, *case_file;
    wr_status (*load)(void **m, const wr_weightfile *wf);
    wr_status (*encode)(const void *m, const vae_vol *video, vae_vol *latent);
    wr_status (*decode)(const void *m, const vae_vol *latent, vae_vol *video);
    void (*free)(void *m);
} vae_api;

static wr_status v21_load(void **m, const wr_weightfile *wf) { return vae21_load((vae21 **)m, wf); }
static wr_status v21_encode(const void *m, const vae_vol *v, vae_vol *l) { return vae21_encode(m, v, l); }
static wr_status v21_decode(const void *m, const vae_vol *l, vae_vol *v) { return vae21_decode(m, l, v); }
static void v21_free(void *m) { vae21_free(m); }
static wr_status v22_load(void **m, const wr_weightfile *wf) { return vae22_load((vae22 **)m, wf); }
static wr_status v22_encode(const void *m, const vae_vol *v, vae_vol *l) { return vae22_encode(m, v, l); }
static wr_status v22_decode(const void *m, const vae_vol *l, vae_vol *v) { return vae22_decode(m, l, v); }
static void v22_free(void *m) { vae22_free(m); }

static vae_vol load_vol(const wr_weightfile *cs, const char *name)
{
    const wr_wtensor *t = wr_weightfile_find(cs, name);
    cr_assert_not_null(t, "%s missing", name);
    return (vae_vol){.c = (int)t->t.ne[3], .t = (int)t->t.ne[2], .h = (int)t->t.ne[1], .w = (int)t->t.ne[0],
                     .d = wr_test_load_f32(cs, name, NULL)};
}

static void vae_compare(const vae_api *api, const char *what, const vae_vol *dev, const vae_vol *cpu,
                        const vae_vol *want)
{
    int64_t n = (int64_t)vae_vol_size(dev);
    cr_assert_eq(n, (int64_t)vae_vol_size(want), "%s %s: size", api->name, what);
    wr_test_err e = wr_test_compare(dev->d, cpu->d, n), eg = wr_test_compare(dev->d, want->d, n);
    if (getenv("WANRT_TEST_VERBOSE"))
        fprintf(stderr, "%s %s on the device: rel to max %.3g vs CPU, %.3g vs golden\n", api->name, what,
                e.rel_to_max, eg.rel_to_max);
    cr_assert_eq(e.nan_mismatch, 0);
    cr_assert_leq(e.rel_to_max, 1e-4, "%s %s vs CPU: rel to max %g", api->name, what, e.rel_to_max);
    cr_assert_leq(eg.rel_to_max, 2e-5, "%s %s vs golden: rel to max %g", api->name, what, eg.rel_to_max);
}

static void vae_on_device(const vae_api *api)
{
    wr_weightfile wf, cs;
    wr_test_open(&wf, wr_test_shared(api->weights));
    wr_test_open(&cs, wr_test_shared(api->case_file));
    void *m;
    cr_assert_eq(api->load(&m, &wf), WR_OK, "%s", wr_last_error());
    vae_vol video = load_vol(&cs, "input.video"), lat = load_vol(&cs, "output.latent");
    vae_vol want = load_vol(&cs, "output.decoded");
    vae_vol enc_cpu, enc_dev, dec_cpu, dec_dev;
    wr_backend_select(&wr_backend_cpu);
    cr_assert_eq(api->encode(m, &video, &enc_cpu), WR_OK, "%s", wr_last_error());
    cr_assert_eq(api->decode(m, &lat, &dec_cpu), WR_OK, "%s", wr_last_error());
    wr_backend_select(wr_test_gpu_backend());
    cr_assert_eq(api->encode(m, &video, &enc_dev), WR_OK, "%s", wr_last_error());
    cr_assert_eq(api->decode(m, &lat, &dec_dev), WR_OK, "%s", wr_last_error());
    vae_compare(api, "encode", &enc_dev, &enc_cpu, &lat);
    vae_compare(api, "decode", &dec_dev, &dec_cpu, &want);
    cr_assert_gt(wr_gpu_launch_count(wr_backend_gpu_device(), "conv3d_f32"), 0);
    vae_vol_free(&enc_cpu), vae_vol_free(&enc_dev), vae_vol_free(&dec_cpu), vae_vol_free(&dec_dev);
    free(video.d), free(lat.d), free(want.d);
    api->free(m);
    wr_weightfile_close(&wf), wr_weightfile_close(&cs);
    wr_backend_gpu_close();
}

Test(model_emu, vae21_encode_decode_on_device, .timeout = 300)
{
    vae_api api = {"vae21", "golden/vae21/vae21_weights.safetensors", "golden/vae21/vae21_f5_32x32.safetensors",
                   v21_load, v21_encode, v21_decode, v21_free};
    vae_on_device(&api);
}

Test(model_emu, vae22_encode_decode_on_device, .timeout = 300)
{
    vae_api api = {"vae22", "golden/vae22/vae22_weights.safetensors", "golden/vae22/vae22_f5_32x32.safetensors",
                   v22_load, v22_encode, v22_decode, v22_free};
    vae_on_device(&api);
}

/* The SeedVR2 VAE (upscale/) on the golden 5x32x32 case with every convolution on the device,
 * one pass (split 0): moments and the decode of the reference posterior mean against the
 * upstream outputs within the CPU test's bound (README 3: max_abs 1e-4). */
Test(model_emu, seedvr2_vae_on_device, .timeout = 300)
{
    wr_weightfile wf, cs;
    wr_test_open(&wf, wr_test_shared("golden/post/seedvr2_vae_tiny_weights.safetensors"));
    wr_test_open(&cs, wr_test_shared("golden/post/seedvr2_vae_5x32x32.safetensors"));
    upscale_vae *m;
    cr_assert_eq(upscale_vae_load(&m, &wf, 0), WR_OK, "%s", wr_last_error());
    vae_vol video = load_vol(&cs, "video"), ref_m = load_vol(&cs, "moments"), mean = load_vol(&cs, "posterior_mean");
    vae_vol ref_dec = load_vol(&cs, "decoded_from_mean"), got_m, dec;
    wr_backend_select(wr_test_gpu_backend());
    cr_assert_eq(upscale_vae_encode(m, &video, 0, &got_m), WR_OK, "%s", wr_last_error());
    cr_assert_eq(upscale_vae_decode(m, &mean, 0, &dec), WR_OK, "%s", wr_last_error());
    cr_assert_eq(vae_vol_size(&got_m), vae_vol_size(&ref_m));
    cr_assert_eq(vae_vol_size(&dec), vae_vol_size(&ref_dec));
    wr_test_err em = wr_test_compare(got_m.d, ref_m.d, (int64_t)vae_vol_size(&ref_m));
    wr_test_err ed = wr_test_compare(dec.d, ref_dec.d, (int64_t)vae_vol_size(&ref_dec));
    if (getenv("WANRT_TEST_VERBOSE"))
        fprintf(stderr, "seedvr2 vae on the device: moments max abs %.3g, decoded max abs %.3g\n", em.max_abs,
                ed.max_abs);
    cr_assert(em.nan_mismatch == 0 && ed.nan_mismatch == 0);
    cr_assert_leq(em.max_abs, 1e-4, "moments: max abs %g", em.max_abs);
    cr_assert_leq(ed.max_abs, 1e-4, "decoded: max abs %g", ed.max_abs);
    cr_assert_gt(wr_gpu_launch_count(wr_backend_gpu_device(), "conv3d_f32"), 0);
    vae_vol_free(&got_m), vae_vol_free(&dec);
    free(video.d), free(ref_m.d), free(mean.d), free(ref_dec.d);
    upscale_vae_free(m);
    wr_weightfile_close(&wf), wr_weightfile_close(&cs);
    wr_backend_gpu_close();
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
