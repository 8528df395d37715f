/* Fused matmul epilogues (kernels/mm_epilogue.cuh: bias, silu, gelu_tanh, gated residual with no
 * gate, a per-row strided gate or one broadcast gate row) on all four matmul kernels, against
 *   - the epilogue's CPU twin (runtime/cpu/matmul_epilogue.c) applied to the kernel's own
 *     accumulator: the same launch with no epilogue, no bias and w_scale 1 stores acc · 1 = acc
 *     (fp8 activations: acc · s_x, which the kernel multiplies by w_scale next, as the twin does),
 *     so only the epilogue differs and it must match bit for bit (NaN where the twin has NaN). On
 *     a device too, except after an activation, whose expf / tanhf differ in the last bits there:
 *     nmse 1e-12 (the elementwise bound of tests/gpu/test_ops.c);
 *   - for the int8 / fp8 routes, the portable twins of the whole kernel (runtime/cpu/matmul_qact.c)
 *     with the same epilogue: bit for bit on the emulator, as tests/gpu/test_matmul_q.c holds them;
 *   - for the fp32 / bf16 routes, the matmul in double (of bf16-rounded operands for bf16) and the
 *     epilogue in fp32: nmse 1e-11, the bound of tests/gpu/test_ops.c's matmul (fp32 sums in
 *     another order; silu, gelu and y + v·g are Lipschitz with constant about 1.1 here).
 * Shapes: M, N past one 64 tile and not multiples of it, K not a multiple of 32 where the dtype
 * allows, M = 1; a NaN in a row of x makes that output row NaN. Then the op
 * wr_op_matmul_gated_add: on the CPU backend against a triple loop and bit for bit against
 * wr_op_matmul + wr_op_add_gated; on the GPU backend (emulator) against the CPU backend (nmse
 * 1e-10 as tests/gpu/test_backend.c) and bit for bit against its own two-op composition. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "runtime/buffers.h"
#include "runtime/cpu/gemm.h"
#include "runtime/gpu/backend_gpu.h"
#include "runtime/numeric.h"
#include "tests/common/testutil.h"
#include "tests/gpu/gpu_test.h"
#include "tests/gpu/op_driver.h"

static float *fbuf(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* Equal bits, or NaN on both sides. */
static void expect_bits(const float *got, const float *ref, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t a, b;
        memcpy(&a, &got[i], 4), memcpy(&b, &ref[i], 4);
        cr_assert(a == b || (isnan(got[i]) && isnan(ref[i])), "%s: element %lld is %.9g (0x%08x), twin %.9g (0x%08x)",
                  what, (long long)i, (double)got[i], a, (double)ref[i], b);
    }
}

/* The epilogues under test: the kernels' EPI/GATE space, each with and without bias. */
typedef enum epi_case { EC_NONE, EC_SILU, EC_GELU, EC_RESIDUAL, EC_GATE_ROWS, EC_GATE_BCAST, EC_COUNT } epi_case;
static const char *const epi_names[EC_COUNT] = {"none", "silu", "gelu_tanh", "residual", "gate_rows", "gate_bcast"};

typedef struct mm_case {
    wr_gpu_matmul_route route;
    wr_dtype dt;
    int64_t M, N, K;
    bool nan;
} mm_case;

static float bf16_round(float v) { return wr_bf16_to_f32(wr_f32_to_bf16(v)); }

/* One (route, dtype, shape): the raw accumulator once, then every epilogue with and without bias. */
static void run_case(wr_gpu *g, const mm_case *c, uint64_t seed)
{
    int64_t M = c->M, N = c->N, K = c->K;
    float wscale = c->dt == WR_DTYPE_F8_E4M3FN ? 0.37f : 1.0f; /* not a power of two: the multiply rounds */
    float *x = fbuf(M * K), *w = fbuf(N * K), *bias = fbuf(N), *e6 = fbuf(M * 6 * N), *res0 = fbuf(M * N);
    float *acc = fbuf(M * N), *got = fbuf(M * N), *twin = fbuf(M * N), *ref = fbuf(M * N);
    od_fill(x, M * K, -1.0f, 1.0f, seed);
    od_fill(w, N * K, -1.0f, 1.0f, seed + 1);
    od_fill(bias, N, -1.0f, 1.0f, seed + 2);
    od_fill(e6, M * 6 * N, -1.5f, 1.5f, seed + 3);
    od_fill(res0, M * N, -4.0f, 4.0f, seed + 4);
    if (c->nan && M > 1)
        x[K + K / 3] = NAN; /* row 1 */
    size_t rb;
    void *wq = od_encode_weight(c->dt, w, N, K, &rb); /* w: the decoded values */
    int64_t nx[2] = {K, M}, nw[2] = {K, N}, ny[2] = {N, M}, ne6[3] = {N, 6, M};
    od_buf dx = od_upload(g, WR_DTYPE_F32, 2, nx, x), dw = od_upload(g, c->dt, 2, nw, wq);
    od_buf db = od_upload(g, WR_DTYPE_F32, 1, &N, bias), de = od_upload(g, WR_DTYPE_F32, 3, ne6, e6);
    char what[200];
    snprintf(what, sizeof what, "route %d w=%s M=%lld N=%lld K=%lld raw", (int)c->route, wr_dtype_name(c->dt),
             (long long)M, (long long)N, (long long)K);
    { /* the accumulator: no epilogue, no bias, scale 1 */
        od_buf dy = od_upload(g, WR_DTYPE_F32, 2, ny, NULL);
        dw.t.scale = 1.0f;
        gt_check(wr_gpu_matmul_epi(g, &dx.t, &dw.t, NULL, NULL, &dy.t, c->route, NULL), what);
        od_download_free(g, &dy, acc, what);
        dw.t.scale = wscale;
    }
    /* gate rows: chunk 2 of the [M, 6, N] modulation, rows 6N floats apart; broadcast: its first row */
    wr_tensor gate_rows = wr_tensor_slice(&de.t, 1, 2, 1), gate_row1 = wr_tensor_slice(&gate_rows, 2, 0, 1);
    const float *gh_rows = e6 + 2 * N;
    bool on_emu = wr_gpu_get_kind(g) == WR_GPU_EMU;
    for (int ec = 0; ec < EC_COUNT; ec++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            snprintf(what, sizeof what, "route %d w=%s M=%lld N=%lld K=%lld %s bias=%d nan=%d", (int)c->route,
                     wr_dtype_name(c->dt), (long long)M, (long long)N, (long long)K, epi_names[ec], with_bias,
                     (int)c->nan);
            bool residual = ec >= EC_RESIDUAL;
            wr_act act = ec == EC_SILU ? WR_ACT_SILU : ec == EC_GELU ? WR_ACT_GELU_TANH : WR_ACT_NONE;
            const wr_tensor *gate = ec == EC_GATE_ROWS ? &gate_rows : ec == EC_GATE_BCAST ? &gate_row1 : NULL;
            wr_gpu_matmul_epilogue ep = {.act = act, .residual = residual, .gate = gate};
            cpu_matmul_epi te = {.act = ep.act, .residual = residual,
                                 .gate = ec == EC_GATE_ROWS || ec == EC_GATE_BCAST ? gh_rows : NULL,
                                 .gate_stride = ec == EC_GATE_ROWS ? 6 * N : 0};
            const float *bp = with_bias ? bias : NULL;
            od_buf dy = od_upload(g, WR_DTYPE_F32, 2, ny, residual ? res0 : NULL);
            const wr_tensor *bt = with_bias ? &db.t : NULL;
            gt_check(wr_gpu_matmul_epi(g, &dx.t, &dw.t, bt, &ep, &dy.t, c->route, NULL), what);
            od_download_free(g, &dy, got, what);
            /* 1. the epilogue twin on the kernel's accumulator */
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++)
                    twin[m * N + n] = cpu_matmul_epi_value(&te, acc[m * N + n] * wscale, bp, m, n,
                                                           residual ? res0[m * N + n] : 0.0f);
            if (on_emu || ep.act == WR_ACT_NONE)
                expect_bits(got, twin, M * N, what);
            else
                od_expect(got, twin, M * N, 1e-12, what);
            /* 2. the whole kernel's CPU twin */
            if (c->route == WR_GPU_MM_INT8 || c->route == WR_GPU_MM_FP8) {
                wr_tensor tx, tw, tb, ty;
                memcpy(twin, res0, (size_t)(M * N) * sizeof(float));
                cr_assert(wr_tensor_init(&tx, WR_DTYPE_F32, 2, nx, x) && wr_tensor_init(&tw, c->dt, 2, nw, wq) &&
                          wr_tensor_init(&tb, WR_DTYPE_F32, 1, &N, bias) &&
                          wr_tensor_init(&ty, WR_DTYPE_F32, 2, ny, twin));
                tw.scale = wscale;
                (c->route == WR_GPU_MM_FP8 ? cpu_matmul_f8_a8_ref : cpu_matmul_q8_0_a8_ref)(
                    &tx, &tw, with_bias ? &tb : NULL, &te, &ty);
                if (on_emu)
                    expect_bits(got, twin, M * N, what);
                else
                    od_expect(got, twin, M * N, c->route == WR_GPU_MM_FP8 ? 1e-11 : 1e-12, what);
                continue;
            }
            /* 3. the matmul in double, the epilogue in fp32 */
            bool bf = c->route == WR_GPU_MM_BF16_MMA;
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++)
                        s += bf ? (double)bf16_round(x[m * K + k]) * (double)bf16_round(w[n * K + k])
                                : (double)x[m * K + k] * (double)w[n * K + k];
                    ref[m * N + n] = cpu_matmul_epi_value(&te, (float)(s * (double)wscale), bp, m, n,
                                                          residual ? res0[m * N + n] : 0.0f);
                }
            od_expect(got, ref, M * N, 1e-11, what);
        }
    od_free(g, &dx, what), od_free(g, &dw, what), od_free(g, &db, what), od_free(g, &de, what);
    free(x), free(w), free(bias), free(e6), free(res0), free(acc), free(got), free(twin), free(ref), free(wq);
}

Test(ops, matmul_epilogue_every_kernel)
{
    wr_gpu_options opts = {.arch = 89}; /* the emulator's fp8 tensor cores */
    wr_gpu *g = gt_open(&opts);
    int arch = wr_gpu_arch(g);
    static const struct {
        wr_gpu_matmul_route route;
        wr_dtype dt;
    } kinds[] = {{WR_GPU_MM_FP32, WR_DTYPE_F32},      {WR_GPU_MM_FP32, WR_DTYPE_BF16},
                 {WR_GPU_MM_FP32, WR_DTYPE_F8_E4M3FN}, {WR_GPU_MM_FP32, WR_DTYPE_Q8_0},
                 {WR_GPU_MM_BF16_MMA, WR_DTYPE_F32},   {WR_GPU_MM_BF16_MMA, WR_DTYPE_BF16},
                 {WR_GPU_MM_BF16_MMA, WR_DTYPE_F8_E4M3FN}, {WR_GPU_MM_BF16_MMA, WR_DTYPE_Q8_0},
                 {WR_GPU_MM_INT8, WR_DTYPE_Q8_0},     {WR_GPU_MM_FP8, WR_DTYPE_F8_E4M3FN}};
    /* M, N, K: two tiles each way (ragged), one row; K 40 for the dtypes without 32-blocks */
    static const int64_t shapes[][3] = {{67, 70, 96}, {1, 5, 32}, {3, 33, 40}};
    for (size_t ki = 0; ki < sizeof kinds / sizeof kinds[0]; ki++) {
        if ((kinds[ki].route != WR_GPU_MM_FP32 && arch < 80) || (kinds[ki].route == WR_GPU_MM_FP8 && arch < 89))
            continue;
        for (int si = 0; si < 3; si++) {
            if (si == 2 && kinds[ki].dt == WR_DTYPE_Q8_0)
                continue;
            mm_case c = {kinds[ki].route, kinds[ki].dt, shapes[si][0], shapes[si][1], shapes[si][2], si == 0};
            run_case(g, &c, (uint64_t)(ki * 5 + si));
        }
    }
    cr_assert_gt(wr_gpu_launch_count(g, "matmul_f32_w"), 0);
    if (arch >= 80) {
        cr_assert_gt(wr_gpu_launch_count(g, "matmul_bf16_mma"), 0);
        cr_assert_gt(wr_gpu_launch_count(g, "matmul_q8_0_i8_mma"), 0);
    }
    if (arch >= 89)
        cr_assert_gt(wr_gpu_launch_count(g, "matmul_f8_e4m3_mma"), 0);
    /* what the launcher refuses, naming the problem */
    int64_t nx[2] = {32, 2}, ny[2] = {3, 2}, ng[2] = {4, 2};
    od_buf dx = od_upload(g, WR_DTYPE_F32, 2, nx, NULL), dw = od_upload(g, WR_DTYPE_F32, 2, (int64_t[]){32, 3}, NULL);
    od_buf dy = od_upload(g, WR_DTYPE_F32, 2, ny, NULL), dg = od_upload(g, WR_DTYPE_F32, 2, ng, NULL);
    wr_gpu_matmul_epilogue bad_gate = {.residual = true, .gate = &dg.t};
    cr_assert_eq(wr_gpu_matmul_epi(g, &dx.t, &dw.t, NULL, &bad_gate, &dy.t, WR_GPU_MM_FP32, NULL), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "gate"), "%s", wr_last_error());
    wr_tensor y_as_gate = dy.t; /* the residual cannot gate itself */
    wr_gpu_matmul_epilogue self_gate = {.residual = true, .gate = &y_as_gate};
    cr_assert_eq(wr_gpu_matmul_epi(g, &dx.t, &dw.t, NULL, &self_gate, &dy.t, WR_GPU_MM_FP32, NULL), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "overlaps"), "%s", wr_last_error());
    wr_gpu_matmul_epilogue act_and_residual = {.act = WR_ACT_SILU, .residual = true};
    cr_assert_eq(wr_gpu_matmul_epi(g, &dx.t, &dw.t, NULL, &act_and_residual, &dy.t, WR_GPU_MM_FP32, NULL), WR_E_ARG);
    od_free(g, &dx, "refusal"), od_free(g, &dw, "refusal"), od_free(g, &dy, "refusal"), od_free(g, &dg, "refusal");
    wr_gpu_close(g);
}

/* ---- the op ---------------------------------------------------------------------------------- */

static wr_tensor t2(float *data, int64_t ne0, int64_t ne1)
{
    wr_tensor t;
    int64_t ne[2] = {ne0, ne1};
    cr_assert(wr_tensor_init(&t, WR_DTYPE_F32, 2, ne, data));
    return t;
}

/* Inputs of one op case: x [M, K], w [N, K] in dt, bias [N], a [M, 6, N] modulation whose chunk 2
 * (2-D view, rows 6N floats apart, as dit.c's chunk()) and first row are the gates, residual. */
typedef struct op_inputs {
    int64_t M, N, K;
    float *x, *wf, *bias, *e6, *res0;
    void *wq;
    wr_tensor tx, tw, tb, gate_rows, gate_row1;
} op_inputs;

static void op_inputs_make(op_inputs *in, wr_dtype dt, int64_t M, int64_t N, int64_t K, uint64_t seed)
{
    in->M = M, in->N = N, in->K = K;
    in->x = fbuf(M * K), in->wf = fbuf(N * K), in->bias = fbuf(N), in->e6 = fbuf(M * 6 * N), in->res0 = fbuf(M * N);
    od_fill(in->x, M * K, -1.0f, 1.0f, seed);
    od_fill(in->wf, N * K, -1.0f, 1.0f, seed + 1);
    od_fill(in->bias, N, -1.0f, 1.0f, seed + 2);
    od_fill(in->e6, M * 6 * N, -1.5f, 1.5f, seed + 3);
    od_fill(in->res0, M * N, -4.0f, 4.0f, seed + 4);
    size_t rb;
    in->wq = od_encode_weight(dt, in->wf, N, K, &rb);
    int64_t nw[2] = {K, N};
    cr_assert(wr_tensor_init(&in->tw, dt, 2, nw, in->wq));
    in->tw.scale = dt == WR_DTYPE_F8_E4M3FN ? 0.37f : 1.0f;
    in->tx = t2(in->x, K, M), in->tb = t2(in->bias, N, 1);
    in->gate_rows = t2(in->e6 + 2 * N, N, M);
    in->gate_rows.nb[1] = (size_t)(6 * N) * sizeof(float);
    in->gate_row1 = t2(in->e6 + 2 * N, N, 1);
}

static void op_inputs_free(op_inputs *in)
{
    free(in->x), free(in->wf), free(in->bias), free(in->e6), free(in->res0), free(in->wq);
}

/* residual += (x·Wᵀ + b) · gate by wr_op_matmul_gated_add (into got) and by wr_op_matmul +
 * wr_op_add_gated (into composed), on the current backend, starting from res0. */
static void op_both_ways(op_inputs *in, const wr_tensor *gate, float *got, float *composed)
{
    int64_t M = in->M, N = in->N;
    memcpy(got, in->res0, (size_t)(M * N) * sizeof(float));
    memcpy(composed, in->res0, (size_t)(M * N) * sizeof(float));
    wr_tensor tg = t2(got, N, M), tc = t2(composed, N, M);
    wr_op_matmul_gated_add(&in->tx, &in->tw, &in->tb, gate, &tg);
    float *y = fbuf(M * N), *gexp = NULL;
    wr_tensor ty = t2(y, N, M), gv;
    if (gate && wr_tensor_nrows(gate) == 1 && M > 1) { /* add_gated takes M rows: repeat the one */
        gexp = fbuf(M * N);
        for (int64_t m = 0; m < M; m++)
            memcpy(gexp + m * N, gate->data, (size_t)N * sizeof(float));
        gv = t2(gexp, N, M);
        gate = &gv;
    }
    wr_op_matmul(&in->tx, &in->tw, &in->tb, WR_ACT_NONE, &ty);
    wr_op_add_gated(&tc, &ty, gate);
    free(y), free(gexp);
}

Test(ops, matmul_gated_add_cpu)
{
    wr_backend_select(&wr_backend_cpu);
    wr_dtype dts[] = {WR_DTYPE_F32, WR_DTYPE_BF16, WR_DTYPE_F8_E4M3FN, WR_DTYPE_Q8_0};
    static const int64_t shapes[][3] = {{67, 70, 96}, {1, 5, 32}, {13, 31, 64}};
    for (int di = 0; di < 4; di++)
        for (int si = 0; si < 3; si++) {
            op_inputs in;
            op_inputs_make(&in, dts[di], shapes[si][0], shapes[si][1], shapes[si][2], (uint64_t)(di * 3 + si));
            int64_t M = in.M, N = in.N, K = in.K;
            float *got = fbuf(M * N), *composed = fbuf(M * N), *ref = fbuf(M * N);
            const wr_tensor *gates[3] = {&in.gate_rows, &in.gate_row1, NULL};
            for (int gi = 0; gi < 6; gi++) {
                char what[160];
                /* the second three in bands of 7 rows: the same bits as one pass */
                if (gi == 3)
                    setenv("WANRT_GATED_BAND_ROWS", "7", 1);
                snprintf(what, sizeof what, "cpu matmul_gated_add w=%s M=%lld N=%lld K=%lld gate=%s bands=%s",
                         wr_dtype_name(dts[di]), (long long)M, (long long)N, (long long)K,
                         gi % 3 == 0 ? "rows" : gi % 3 == 1 ? "broadcast" : "none", gi >= 3 ? "7" : "all");
                op_both_ways(&in, gates[gi % 3], got, composed);
                expect_bits(got, composed, M * N, what);
                /* the triple loop: fp64 sum, then residual + (s · scale + b) · g */
                for (int64_t m = 0; m < M; m++)
                    for (int64_t n = 0; n < N; n++) {
                        double s = 0;
                        for (int64_t k = 0; k < K; k++)
                            s += (double)in.x[m * K + k] * (double)in.wf[n * K + k];
                        double v = s * (double)in.tw.scale + (double)in.bias[n];
                        double gv = gi % 3 == 2 ? 1.0 : (double)in.e6[(gi % 3 == 0 ? m * 6 * N : 0) + 2 * N + n];
                        ref[m * N + n] = (float)((double)in.res0[m * N + n] + v * gv);
                    }
                od_expect(got, ref, M * N, 1e-11, what);
            }
            unsetenv("WANRT_GATED_BAND_ROWS");
            free(got), free(composed), free(ref);
            op_inputs_free(&in);
        }
}

/* The GPU backend (emulator): the fused kernel against the CPU backend and against its own
 * matmul + add_gated; a Q4_0 weight takes the composition (CPU matmul fallback). The fused
 * activation is checked too: wr_op_matmul with GELU launches no separate unary kernel. */
Test(backend, matmul_gated_add_and_fused_activation)
{
    const wr_backend *gpu = wr_test_gpu_backend();
    wr_gpu *dev = wr_backend_gpu_device();
    bool on_emu = wr_gpu_get_kind(dev) == WR_GPU_EMU;
    wr_dtype dts[] = {WR_DTYPE_BF16, WR_DTYPE_F8_E4M3FN, WR_DTYPE_Q8_0, WR_DTYPE_Q4_0};
    static const int64_t shapes[][3] = {{67, 70, 96}, {1, 5, 32}};
    for (int di = 0; di < 4; di++)
        for (int si = 0; si < 2; si++) {
            op_inputs in;
            op_inputs_make(&in, dts[di], shapes[si][0], shapes[si][1], shapes[si][2], (uint64_t)(40 + di * 2 + si));
            int64_t M = in.M, N = in.N;
            float *got = fbuf(M * N), *composed = fbuf(M * N), *ref = fbuf(M * N), *ref2 = fbuf(M * N);
            const wr_tensor *gates[3] = {&in.gate_rows, &in.gate_row1, NULL};
            for (int gi = 0; gi < 3; gi++) {
                char what[160];
                snprintf(what, sizeof what, "gpu backend matmul_gated_add w=%s M=%lld N=%lld gate=%s",
                         wr_dtype_name(dts[di]), (long long)M, (long long)N,
                         gi == 0 ? "rows" : gi == 1 ? "broadcast" : "none");
                wr_backend_select(&wr_backend_cpu);
                op_both_ways(&in, gates[gi], ref, ref2);
                wr_backend_select(gpu);
                op_both_ways(&in, gates[gi], got, composed);
                wr_backend_select(&wr_backend_cpu);
                od_expect(got, ref, M * N, 1e-10, what);
                if (on_emu) /* the kernel's epilogue is the unary-free form of matmul + ew_gated_add */
                    expect_bits(got, composed, M * N, what);
                else
                    od_expect(got, composed, M * N, 1e-12, what);
            }
            /* the activation in the matmul kernel: no ew_unary_f32 launch */
            uint64_t unary = wr_gpu_launch_count(dev, "ew_unary_f32");
            wr_tensor tg = t2(got, N, M), tr = t2(ref, N, M);
            wr_backend_select(&wr_backend_cpu);
            wr_op_matmul(&in.tx, &in.tw, &in.tb, WR_ACT_GELU_TANH, &tr);
            wr_backend_select(gpu);
            wr_op_matmul(&in.tx, &in.tw, &in.tb, WR_ACT_GELU_TANH, &tg);
            wr_backend_select(&wr_backend_cpu);
            od_expect(got, ref, M * N, 1e-10, "gpu backend matmul + gelu");
            if (dts[di] != WR_DTYPE_Q4_0)
                cr_assert_eq(wr_gpu_launch_count(dev, "ew_unary_f32"), unary, "%s: gelu ran as a separate kernel",
                             wr_dtype_name(dts[di]));
            free(got), free(composed), free(ref), free(ref2);
            op_inputs_free(&in);
        }
    cr_assert_gt(wr_gpu_launch_count(dev, "matmul_f32_w"), 0);
    wr_backend_gpu_close();
}

/* Operands in backend buffers (device memory: the DiT's activations): the kernel reads the
 * strided gate view and the residual where they are, with the bits of the host-operand path. */
Test(backend, matmul_gated_add_device_buffers)
{
    const wr_backend *gpu = wr_test_gpu_backend();
    wr_backend_select(gpu);
    op_inputs in;
    op_inputs_make(&in, WR_DTYPE_BF16, 67, 70, 96, 77);
    int64_t M = in.M, N = in.N, K = in.K;
    size_t xb = (size_t)(M * K) * 4, eb = (size_t)(M * 6 * N) * 4, rb = (size_t)(M * N) * 4;
    float *dx, *de, *dr, *want = fbuf(M * N), *got = fbuf(M * N), *unused = fbuf(M * N);
    cr_assert_eq(wr_buffer_alloc(xb, (void **)&dx), WR_OK, "%s", wr_last_error());
    cr_assert_eq(wr_buffer_alloc(eb, (void **)&de), WR_OK, "%s", wr_last_error());
    cr_assert_eq(wr_buffer_alloc(rb, (void **)&dr), WR_OK, "%s", wr_last_error());
    wr_buffer_write(dx, in.x, xb), wr_buffer_write(de, in.e6, eb);
    wr_tensor tx = t2(dx, K, M), tr = t2(dr, N, M), g_rows = t2(de + 2 * N, N, M), g_one = t2(de + 2 * N, N, 1);
    g_rows.nb[1] = (size_t)(6 * N) * sizeof(float);
    const wr_tensor *dev_gates[2] = {&g_rows, &g_one}, *host_gates[2] = {&in.gate_rows, &in.gate_row1};
    for (int gi = 0; gi < 2; gi++) {
        const char *what = gi ? "device buffers, one gate row" : "device buffers, strided gate rows";
        op_both_ways(&in, host_gates[gi], want, unused); /* host operands */
        wr_buffer_write(dr, in.res0, rb);
        wr_op_matmul_gated_add(&tx, &in.tw, &in.tb, dev_gates[gi], &tr);
        wr_buffer_read(got, dr, rb);
        expect_bits(got, want, M * N, what);
    }
    wr_buffer_free(dx), wr_buffer_free(de), wr_buffer_free(dr); /* by the backend that made them */
    wr_backend_select(&wr_backend_cpu);
    free(want), free(got), free(unused);
    op_inputs_free(&in);
    wr_backend_gpu_close();
}
