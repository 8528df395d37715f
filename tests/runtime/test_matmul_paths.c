/* Every CPU GEMM path (portable, AVX2, AVX-512; skipped where this CPU lacks one)
 * against a float64 loop over the reference dequantisation, for each weight dtype, odd shapes
 * (M = 1, 3, 7, 33; N and K off the 32-row panel, the 256-wide K block and the 12/6/4-row x
 * tile) and every epilogue (per-tensor scale, bias, GELU-tanh, SiLU).
 *
 * Bound: the kernels sum the K products in float32 in k order (one FMA per product), so the
 * classic bound gives |sum - exact| <= γ_K · Σ|x·w| with γ_K = K·u/(1 - K·u), u = 2^-24; the
 * epilogue adds a rounding of the scale product and of the bias add (2u) and the activations
 * are 1.13-Lipschitz (GELU-tanh; SiLU 1.1) with a few-ulp libm error. The tolerance is
 * 1.2·(K + 4)·u·(|scale|·Σ|x·w| + |bias|) + 4u·(|pre-activation| + |ref|): a worst case,
 * typically 30-100x above the observed error, but tight enough that a wrong element, a wrong
 * block or a dropped K block (errors of order Σ|x·w|/K or more) fails it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/quant_blocks.h"
#include "runtime/cpu/gemm.h"
#include "runtime/numeric.h"
#include "runtime/quant.h"
#include "runtime/threadpool.h"
#include "tests/common/testutil.h"

#define GUARD 16

/* A weight [n, k] of dtype dt with values in about [-1, 1] (quant blocks: random codes, sane
 * scales), and its exact float32 dequantisation in ref (the reference converter). */
static void *make_weight(wr_dtype dt, int64_t n, int64_t k, uint64_t *s, float *ref)
{
    size_t rb;
    cr_assert(wr_dtype_row_bytes(dt, k, &rb));
    unsigned char *w = malloc(rb * (size_t)n);
    const wr_dtype_traits *ti = wr_dtype_info(dt);
    for (size_t i = 0; i < rb * (size_t)n; i++) {
        float v = wr_test_uniform(s, -1, 1);
        if (dt == WR_DTYPE_F32)
            memcpy(w + i / 4 * 4, &v, 4), i += 3;
        else if (dt == WR_DTYPE_F16 || dt == WR_DTYPE_BF16) {
            uint16_t h = dt == WR_DTYPE_F16 ? wr_f32_to_f16(v) : wr_f32_to_bf16(v);
            memcpy(w + i, &h, 2), i++;
        } else if (dt == WR_DTYPE_F8_E4M3FN)
            w[i] = wr_f32_to_f8e4m3(v * 16.0f);
        else
            w[i] = (unsigned char)((v + 1.0f) * 127.9f);
    }
    if (ti->is_quant) /* every block starts with an f16 d (and Q4_K an f16 dmin): keep them small */
        for (size_t b = 0; b < rb * (size_t)n / ti->block_bytes; b++) {
            unsigned char *blk = w + b * ti->block_bytes;
            uint16_t d = wr_f32_to_f16(wr_test_uniform(s, 0.002f, 0.02f));
            if (dt == WR_DTYPE_Q4_K) {
                memcpy(blk + offsetof(block_q4_K, d), &d, 2);
                memcpy(blk + offsetof(block_q4_K, dmin), &d, 2);
            } else
                memcpy(blk, &d, 2);
        }
    for (int64_t r = 0; r < n; r++)
        cr_assert(wr_dequant_row_f32(dt, w + rb * (size_t)r, ref + r * k, k));
    return w;
}

static double act_ref(double v, wr_act act)
{
    if (act == WR_ACT_GELU_TANH)
        return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    if (act == WR_ACT_SILU)
        return v / (1.0 + exp(-v));
    return v;
}

static void check_case(const cpu_gemm_path *path, wr_dtype dt, int64_t m, int64_t n, int64_t k, int with_bias,
                       wr_act act, uint64_t seed)
{
    uint64_t s = seed;
    float *x = malloc(sizeof(float) * (size_t)(m * k)), *wref = malloc(sizeof(float) * (size_t)(n * k));
    float *bias = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)(m * n + GUARD));
    for (int64_t i = 0; i < m * k; i++)
        x[i] = wr_test_uniform(&s, -1, 1);
    for (int64_t i = 0; i < n; i++)
        bias[i] = wr_test_uniform(&s, -0.5f, 0.5f);
    for (int i = 0; i < GUARD; i++)
        y[m * n + i] = 1234.5f;
    void *w = make_weight(dt, n, k, &s, wref);
    wr_tensor tx, tw, tb, ty;
    wr_tensor_init(&tx, WR_DTYPE_F32, 2, (int64_t[]){k, m}, x);
    wr_tensor_init(&tw, dt, 2, (int64_t[]){k, n}, w);
    wr_tensor_init(&tb, WR_DTYPE_F32, 1, (int64_t[]){n}, bias);
    wr_tensor_init(&ty, WR_DTYPE_F32, 2, (int64_t[]){n, m}, y);
    tw.scale = dt == WR_DTYPE_F8_E4M3FN ? 1.0f / 16.0f : 1.0f;
    cpu_matmul_path(path, &tx, &tw, with_bias ? &tb : NULL, act, &ty);
    const double u = 1.0 / 16777216.0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double sum = 0, mag = 0;
            for (int64_t e = 0; e < k; e++) {
                double p = (double)x[i * k + e] * (double)wref[j * k + e];
                sum += p, mag += fabs(p);
            }
            double b = with_bias ? (double)bias[j] : 0.0;
            double pre = sum * (double)tw.scale + b, ref = act_ref(pre, act);
            double tol = 1.2 * (double)(k + 4) * u * (mag * (double)tw.scale + fabs(b)) + 4 * u * (fabs(pre) + fabs(ref));
            double got = (double)y[i * n + j];
            cr_assert(fabs(got - ref) <= tol, "%s %s M=%lld N=%lld K=%lld bias=%d act=%d: y[%lld,%lld] = %.9g, ref %.9g (tol %.3g)",
                      path->name, wr_dtype_name(dt), (long long)m, (long long)n, (long long)k, with_bias, (int)act,
                      (long long)i, (long long)j, got, ref, tol);
        }
    for (int i = 0; i < GUARD; i++)
        cr_assert(y[m * n + i] == 1234.5f, "%s: write past y", path->name);
    free(x), free(wref), free(bias), free(y), free(w);
}

static void check_path(cpu_gemm_kind kind)
{
    const cpu_gemm_path *p = cpu_gemm_path_get(kind);
    if (!p)
        cr_skip_test("this CPU lacks the path");
    const int64_t ms[] = {1, 3, 7, 33}; /* 1 and 3: the 4-row kernel where a path has one */
    /* K: off-32 and across a K-block edge for plain floats; whole blocks for the quants. */
    const struct { wr_dtype dt; int64_t n, k; } cases[] = {
        {WR_DTYPE_F32, 45, 37},   {WR_DTYPE_F32, 290, 300}, {WR_DTYPE_F16, 70, 531},   {WR_DTYPE_BF16, 33, 300},
        {WR_DTYPE_F8_E4M3FN, 45, 259}, {WR_DTYPE_Q8_0, 45, 544}, {WR_DTYPE_Q8_0, 290, 96}, {WR_DTYPE_Q4_K, 37, 512},
    };
    uint64_t seed = 1;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int mi = 0; mi < 4; mi++)
            check_case(p, cases[c].dt, ms[mi], cases[c].n, cases[c].k, (int)(c + mi) % 2, (wr_act)((c + mi) % WR_ACT_COUNT),
                       seed++);
}

Test(matmul_paths, portable) { check_path(CPU_GEMM_PORTABLE); }
Test(matmul_paths, avx2) { check_path(CPU_GEMM_AVX2); }
Test(matmul_paths, avx512) { check_path(CPU_GEMM_AVX512); }

Test(matmul_paths, one_thread_and_every_epilogue_on_the_best_path)
{
    const cpu_gemm_path *p = cpu_gemm_path_best();
    for (int a = 0; a < WR_ACT_COUNT; a++)
        check_case(p, WR_DTYPE_BF16, 13, 65, 260, 1, (wr_act)a, 100 + (uint64_t)a);
    cr_assert(wr_threads_set(1) == WR_OK);
    check_case(p, WR_DTYPE_F32, 33, 70, 300, 1, WR_ACT_SILU, 7);
    wr_threads_shutdown();
}

/* The SIMD converters equal the reference ones bit for bit on every code (NaN only as NaN). */
Test(matmul_paths, simd_converters_match_the_reference_on_every_code)
{
    static uint16_t codes[65536 + 16];
    static float got[65536 + 16], ref[65536 + 16];
    for (int i = 0; i < 65536 + 16; i++)
        codes[i] = (uint16_t)(i * 40503u); /* every code once in the first 65536 (odd multiplier) */
    const wr_dtype dts[] = {WR_DTYPE_BF16, WR_DTYPE_F16, WR_DTYPE_F8_E4M3FN, WR_DTYPE_F8_E5M2, WR_DTYPE_Q8_0};
    for (int kind = CPU_GEMM_AVX2; kind < CPU_GEMM_COUNT; kind++) {
        if (!cpu_gemm_path_get((cpu_gemm_kind)kind))
            continue;
        for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
            /* 65536 + 8 + 5 elements: a SIMD body and a scalar tail; Q8_0 a whole number of blocks */
            int64_t n = dts[d] == WR_DTYPE_Q8_0 ? 2048 * 32 : 65536 + 13;
            if (dts[d] == WR_DTYPE_Q8_0) /* keep the f16 d of each block finite: clear its exponent top bit */
                for (int b = 0; b < 2048; b++)
                    codes[b * 17] &= 0xBFFF;
            wr_dequant_fn fast = cpu_gemm_converter((cpu_gemm_kind)kind, dts[d]), slow = wr_dequant_get(dts[d]);
            cr_assert(fast && slow);
            fast(codes, got, n);
            slow(codes, ref, n);
            for (int64_t i = 0; i < n; i++)
                cr_assert(isnan(ref[i]) ? isnan(got[i]) : memcmp(&got[i], &ref[i], 4) == 0,
                          "kind %d %s element %lld: %a vs reference %a", kind, wr_dtype_name(dts[d]), (long long)i,
                          (double)got[i], (double)ref[i]);
        }
    }
}

/* Each output is one FMA chain over k in order: a row of y must not depend on M (banded and
 * batched callers rely on it) and the AVX2 and AVX-512 paths must agree bit for bit. */
Test(matmul_paths, rows_do_not_depend_on_m_and_simd_paths_agree_bitwise)
{
    const int64_t m = 29, n = 70, k = 300;
    uint64_t s = 77;
    float *x = malloc(sizeof(float) * m * k), *w = malloc(sizeof(float) * n * k);
    float *yall = malloc(sizeof(float) * m * n), *yrow = malloc(sizeof(float) * 3 * n), *yb = malloc(sizeof(float) * m * n);
    for (int64_t i = 0; i < m * k; i++)
        x[i] = wr_test_uniform(&s, -1, 1);
    for (int64_t i = 0; i < n * k; i++)
        w[i] = wr_test_uniform(&s, -1, 1);
    wr_tensor tx, tw, ty;
    wr_tensor_init(&tw, WR_DTYPE_F32, 2, (int64_t[]){k, n}, w);
    const cpu_gemm_path *best = cpu_gemm_path_best();
    wr_tensor_init(&tx, WR_DTYPE_F32, 2, (int64_t[]){k, m}, x);
    wr_tensor_init(&ty, WR_DTYPE_F32, 2, (int64_t[]){n, m}, yall);
    cpu_matmul_path(best, &tx, &tw, NULL, WR_ACT_NONE, &ty);
    for (int64_t rows = 1; rows <= 3; rows++) /* 1..3 rows take the 4-row kernel */
        for (int64_t i = 0; i + rows <= m; i += 5) {
            wr_tensor_init(&tx, WR_DTYPE_F32, 2, (int64_t[]){k, rows}, x + i * k);
            wr_tensor_init(&ty, WR_DTYPE_F32, 2, (int64_t[]){n, rows}, yrow);
            cpu_matmul_path(best, &tx, &tw, NULL, WR_ACT_NONE, &ty);
            cr_assert(memcmp(yrow, yall + i * n, sizeof(float) * rows * n) == 0, "rows %lld..+%lld differ from M=%lld",
                      (long long)i, (long long)rows, (long long)m);
        }
    const cpu_gemm_path *a2 = cpu_gemm_path_get(CPU_GEMM_AVX2), *a5 = cpu_gemm_path_get(CPU_GEMM_AVX512);
    if (a2 && a5) {
        wr_tensor_init(&tx, WR_DTYPE_F32, 2, (int64_t[]){k, m}, x);
        wr_tensor_init(&ty, WR_DTYPE_F32, 2, (int64_t[]){n, m}, yall);
        cpu_matmul_path(a2, &tx, &tw, NULL, WR_ACT_NONE, &ty);
        wr_tensor_init(&ty, WR_DTYPE_F32, 2, (int64_t[]){n, m}, yb);
        cpu_matmul_path(a5, &tx, &tw, NULL, WR_ACT_NONE, &ty);
        cr_assert(memcmp(yall, yb, sizeof(float) * m * n) == 0, "AVX2 and AVX-512 paths differ");
    }
    free(x), free(w), free(yall), free(yrow), free(yb);
}

/* The AVX2 path's fused converting packers (gemm_pack_avx2.c) and the AVX-512 path's
 * convert-then-pack give the same bits for every converted weight dtype, with a K tail past
 * the 256 K block and off 8 (Q8_0: whole blocks), N off the 32-row panel, bias and scale,
 * and after each activation too (epilogue_avx2 computes what epilogue_avx512 does). */
Test(matmul_paths, simd_paths_agree_bitwise_for_every_weight_dtype)
{
    const cpu_gemm_path *a2 = cpu_gemm_path_get(CPU_GEMM_AVX2), *a5 = cpu_gemm_path_get(CPU_GEMM_AVX512);
    if (!a2 || !a5)
        cr_skip_test("this CPU lacks AVX2 or AVX-512");
    const wr_dtype dts[] = {WR_DTYPE_F16, WR_DTYPE_BF16, WR_DTYPE_F8_E4M3FN, WR_DTYPE_F8_E5M2, WR_DTYPE_Q8_0};
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
        const int64_t m = 19, n = 45, k = dts[d] == WR_DTYPE_Q8_0 ? 288 : 269;
        uint64_t s = 91 + d;
        float *x = malloc(sizeof(float) * m * k), *ref = malloc(sizeof(float) * n * k), *bias = malloc(sizeof(float) * n);
        float *ya = malloc(sizeof(float) * m * n), *yb = malloc(sizeof(float) * m * n);
        for (int64_t i = 0; i < m * k; i++)
            x[i] = wr_test_uniform(&s, -1, 1);
        for (int64_t i = 0; i < n; i++)
            bias[i] = wr_test_uniform(&s, -1, 1);
        void *w = make_weight(dts[d], n, k, &s, ref);
        wr_tensor tx, tw, tb, ty;
        wr_tensor_init(&tx, WR_DTYPE_F32, 2, (int64_t[]){k, m}, x);
        wr_tensor_init(&tw, dts[d], 2, (int64_t[]){k, n}, w);
        tw.scale = 0.375f;
        wr_tensor_init(&tb, WR_DTYPE_F32, 1, (int64_t[]){n}, bias);
        wr_tensor_init(&ty, WR_DTYPE_F32, 2, (int64_t[]){n, m}, ya);
        cpu_matmul_path(a2, &tx, &tw, &tb, (wr_act)(d % WR_ACT_COUNT), &ty);
        wr_tensor_init(&ty, WR_DTYPE_F32, 2, (int64_t[]){n, m}, yb);
        cpu_matmul_path(a5, &tx, &tw, &tb, (wr_act)(d % WR_ACT_COUNT), &ty);
        cr_assert(memcmp(ya, yb, sizeof(float) * m * n) == 0, "%s: AVX2 and AVX-512 paths differ", wr_dtype_name(dts[d]));
        free(x), free(ref), free(bias), free(ya), free(yb), free(w);
    }
}

/* W8A8 (Q8_0 weights × int8 activations, AVX512-VNNI). Twice, as STYLE 9.6 asks for quantised
 * paths: (1) against a float64 twin that quantises x the same way (d = max|x|/127 in float32,
 * q = lrintf(x / d)), where only the float32 block accumulation rounds: per output
 * Σ_b float(s_b)·dx_b·dw_b over nb = K/32 blocks, bounded by 1.2·(nb + 4)·u·Σ_b|term_b|;
 * (2) against the exact float32-activation result: rounding x to 8 bits per block adds an
 * independent error of variance step²/12 (step = max|x|/127) per element, so for uniform x the
 * output NMSE is about (1/127)²/12 / (1/3) = 1.9e-5; the bound 1e-4 leaves 5x. */
Test(matmul_paths, q8_0_w8a8_vnni)
{
    if (!cpu_gemm_has_vnni())
        cr_skip_test("this CPU has no AVX512-VNNI");
    const int64_t ms[] = {1, 7, 33}, ns[] = {45, 290}, ks[] = {544, 96};
    for (int mi = 0; mi < 3; mi++)
        for (int ci = 0; ci < 2; ci++) {
            int64_t m = ms[mi], n = ns[ci], k = ks[ci], nb = k / 32;
            uint64_t s = 300 + (uint64_t)(mi * 2 + ci);
            float *x = malloc(sizeof(float) * m * k), *wref = malloc(sizeof(float) * n * k);
            float *y = malloc(sizeof(float) * m * n), *yf = malloc(sizeof(float) * m * n), *bias = malloc(sizeof(float) * n);
            for (int64_t i = 0; i < m * k; i++)
                x[i] = wr_test_uniform(&s, -1, 1);
            for (int64_t i = 0; i < n; i++)
                bias[i] = wr_test_uniform(&s, -0.5f, 0.5f);
            void *w = make_weight(WR_DTYPE_Q8_0, n, k, &s, wref);
            wr_tensor tx, tw, tb, ty;
            wr_tensor_init(&tx, WR_DTYPE_F32, 2, (int64_t[]){k, m}, x);
            wr_tensor_init(&tw, WR_DTYPE_Q8_0, 2, (int64_t[]){k, n}, w);
            wr_tensor_init(&tb, WR_DTYPE_F32, 1, (int64_t[]){n}, bias);
            wr_tensor_init(&ty, WR_DTYPE_F32, 2, (int64_t[]){n, m}, y);
            wr_act act = (wr_act)((mi + ci) % WR_ACT_COUNT);
            cpu_matmul_q8_0_w8a8(&tx, &tw, &tb, act, &ty);
            /* (1) the same-quantisation twin */
            const double u = 1.0 / 16777216.0;
            for (int64_t i = 0; i < m; i++) {
                for (int64_t j = 0; j < n; j++) {
                    double sum = 0, mag = 0;
                    for (int64_t b = 0; b < nb; b++) {
                        const float *xb = x + i * k + b * 32;
                        float amax = 0;
                        for (int e = 0; e < 32; e++)
                            amax = fmaxf(amax, fabsf(xb[e]));
                        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
                        double dot = 0; /* Σ qx·(w/dw) = Σ qx·qw·dw / dw: wref holds qw·dw exactly */
                        for (int e = 0; e < 32; e++)
                            dot += (double)lrintf(xb[e] * id) * (double)wref[j * k + b * 32 + e];
                        sum += dot * (double)d, mag += fabs(dot * (double)d);
                    }
                    double pre = sum + (double)bias[j], ref = act_ref(pre, act);
                    double tol = 1.2 * (double)(nb + 4) * u * (mag + fabs((double)bias[j])) + 4 * u * (fabs(pre) + fabs(ref));
                    cr_assert(fabs((double)y[i * n + j] - ref) <= tol, "W8A8 M=%lld N=%lld K=%lld y[%lld,%lld] = %.9g, twin %.9g",
                              (long long)m, (long long)n, (long long)k, (long long)i, (long long)j, (double)y[i * n + j], ref);
                }
            }
            /* (2) against float32 activations, no activation function (NMSE is about the matmul) */
            cpu_matmul_q8_0_w8a8(&tx, &tw, NULL, WR_ACT_NONE, &ty);
            wr_tensor tyf;
            wr_tensor_init(&tyf, WR_DTYPE_F32, 2, (int64_t[]){n, m}, yf);
            cpu_matmul_path(cpu_gemm_path_best(), &tx, &tw, NULL, WR_ACT_NONE, &tyf);
            wr_test_err e = wr_test_compare(y, yf, m * n);
            cr_assert(e.nmse < 1e-4, "W8A8 vs f32 activations M=%lld N=%lld K=%lld: NMSE %.3g", (long long)m, (long long)n,
                      (long long)k, e.nmse);
            free(x), free(wref), free(y), free(yf), free(bias), free(w);
        }
}

/* Each path's epilogue on the activations' whole range (|v| up to 1e4, where exp over- and
 * underflows) against float64: within 4u·(|v| + |ref|) (exp ~1 ulp, the argument's own
 * rounding, the division), or 1e-30 absolute where the result underflows. */
Test(matmul_paths, epilogues_match_float64_activations)
{
    enum { N = 4001 };
    static float y[N], v0[N];
    for (int i = 0; i < N; i++)
        v0[i] = i < 4000 ? -40.0f + 0.02f * (float)i : 1e4f;
    v0[17] = -1e4f, v0[18] = 0.0f, v0[19] = -0.0f, v0[20] = 1e-30f, v0[21] = 88.0f, v0[22] = -88.0f;
    for (int kind = 0; kind < CPU_GEMM_COUNT; kind++) {
        const cpu_gemm_path *p = cpu_gemm_path_get((cpu_gemm_kind)kind);
        if (!p)
            continue;
        for (int a = 0; a < WR_ACT_COUNT; a++) {
            memcpy(y, v0, sizeof y);
            p->epilogue(y, N, 1, N, 1.0f, NULL, (wr_act)a); /* one row: tails of 16 included (4001) */
            for (int i = 0; i < N; i++) {
                double ref = act_ref((double)v0[i], (wr_act)a);
                double tol = 4.0 / 16777216.0 * (fabs((double)v0[i]) + fabs(ref)) + 1e-30;
                cr_assert(fabs((double)y[i] - ref) <= tol, "%s act %d v=%g: %.9g vs %.9g", p->name, a, (double)v0[i],
                          (double)y[i], ref);
            }
        }
    }
}
