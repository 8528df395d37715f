/* The GPU backend behind the op interface (runtime/backend.h) against the CPU backend, op by op,
 * through the same wr_op_* entry points the models call: seeded inputs, shapes with 1, primes and
 * non-tile sizes, strided row views (a modulation chunk of [T, 6, D]), masked keys (kv_len < Tk),
 * tokens past the RoPE grid, in-place forms. Both sides compute in fp32 in different orders:
 * nmse bounds 1e-10 (matmul/attention/norm reductions), 1e-12 (elementwise, rope). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "runtime/gpu/backend_gpu.h"
#include "tests/common/testutil.h"
#include "tests/gpu/op_driver.h"

static const wr_backend *open_gpu(void) { return wr_test_gpu_backend(); }

static float *rnd(int64_t n, float lo, float hi, uint64_t seed)
{
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    od_fill(x, n, lo, hi, seed);
    return x;
}

static wr_tensor t2(float *data, int64_t ne0, int64_t ne1)
{
    wr_tensor t;
    int64_t ne[2] = {ne0, ne1};
    cr_assert(wr_tensor_init(&t, WR_DTYPE_F32, 2, ne, data));
    return t;
}

static wr_tensor t3(float *data, int64_t ne0, int64_t ne1, int64_t ne2)
{
    wr_tensor t;
    int64_t ne[3] = {ne0, ne1, ne2};
    cr_assert(wr_tensor_init(&t, WR_DTYPE_F32, 3, ne, data));
    return t;
}

/* Runs `body` with the CPU backend into ref and with the GPU backend into got. */
#define BOTH(gpu, body_ref, body_got)     \
    do {                                  \
        wr_backend_select(&wr_backend_cpu); \
        body_ref;                         \
        wr_backend_select(gpu);           \
        body_got;                         \
        wr_backend_select(&wr_backend_cpu); \
    } while (0)

Test(backend, matmul_norms_elementwise)
{
    const wr_backend *gpu = open_gpu();
    /* matmul with a Q8_0 weight, bias and GELU; an F32 weight with SiLU; a Q4_0 weight (CPU fallback) */
    int64_t shapes[][3] = {{1, 1, 32}, {37, 67, 96}, {5, 130, 64}};
    wr_dtype dts[] = {WR_DTYPE_Q8_0, WR_DTYPE_F32, WR_DTYPE_Q4_0};
    wr_act acts[] = {WR_ACT_GELU_TANH, WR_ACT_SILU, WR_ACT_NONE};
    for (int di = 0; di < 3; di++)
        for (int si = 0; si < 3; si++) {
            int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
            float *x = rnd(M * K, -1, 1, 1), *wf = rnd(N * K, -1, 1, 2), *bias = rnd(N, -1, 1, 3);
            float *ref = calloc((size_t)(M * N), 4), *got = calloc((size_t)(M * N), 4);
            size_t rb = 0;
            void *wq = od_encode_weight(dts[di], wf, N, K, &rb);
            wr_tensor tx = t2(x, K, M), tb = t2(bias, N, 1), tr = t2(ref, N, M), tg = t2(got, N, M), tw;
            int64_t nw[2] = {K, N};
            cr_assert(wr_tensor_init(&tw, dts[di], 2, nw, wq));
            BOTH(gpu, wr_op_matmul(&tx, &tw, &tb, acts[di], &tr), wr_op_matmul(&tx, &tw, &tb, acts[di], &tg));
            char what[96];
            snprintf(what, sizeof what, "matmul %s M=%lld N=%lld K=%lld", wr_dtype_name(dts[di]), (long long)M,
                     (long long)N, (long long)K);
            od_expect(got, ref, M * N, 1e-10, what);
            free(x), free(wf), free(bias), free(ref), free(got), free(wq);
        }
    cr_assert_gt(wr_gpu_launch_count(wr_backend_gpu_device(), "matmul_f32_w"), 0);

    /* norms, in place and not */
    int64_t R = 7, D = 131;
    float *x = rnd(R * D, -3, 3, 4), *w = rnd(D, 0.5f, 1.5f, 5), *b = rnd(D, -1, 1, 6);
    float *ref = calloc((size_t)(R * D), 4), *got = calloc((size_t)(R * D), 4);
    wr_tensor tx = t2(x, D, R), tw = t2(w, D, 1), tb = t2(b, D, 1), tr = t2(ref, D, R), tg = t2(got, D, R);
    BOTH(gpu, wr_op_layer_norm(&tx, &tw, &tb, 1e-6f, &tr), wr_op_layer_norm(&tx, &tw, &tb, 1e-6f, &tg));
    od_expect(got, ref, R * D, 1e-10, "layer_norm affine");
    BOTH(gpu, wr_op_layer_norm(&tx, NULL, NULL, 1e-6f, &tr), wr_op_layer_norm(&tx, NULL, NULL, 1e-6f, &tg));
    od_expect(got, ref, R * D, 1e-10, "layer_norm");
    BOTH(gpu, wr_op_rms_norm(&tx, &tw, 1e-6f, &tr), wr_op_rms_norm(&tx, &tw, 1e-6f, &tg));
    od_expect(got, ref, R * D, 1e-10, "rms_norm");
    memcpy(ref, x, (size_t)(R * D) * 4), memcpy(got, x, (size_t)(R * D) * 4);
    BOTH(gpu, wr_op_rms_norm(&tr, &tw, 1e-6f, &tr), wr_op_rms_norm(&tg, &tw, 1e-6f, &tg));
    od_expect(got, ref, R * D, 1e-10, "rms_norm in place");

    /* modulate and add_gated with strided chunks of a [R, 6, D] modulation tensor */
    float *e = rnd(R * 6 * D, -1, 1, 7);
    wr_tensor te = t3(e, D, 6, R);
    wr_tensor shift = wr_tensor_slice(&te, 1, 0, 1), scale = wr_tensor_slice(&te, 1, 1, 1),
              gate = wr_tensor_slice(&te, 1, 2, 1);
    cr_assert(!wr_tensor_is_contiguous(&scale));
    BOTH(gpu, wr_op_modulate(&tx, &shift, &scale, &tr), wr_op_modulate(&tx, &shift, &scale, &tg));
    od_expect(got, ref, R * D, 1e-12, "modulate strided");
    cr_assert_gt(wr_gpu_launch_count(wr_backend_gpu_device(), "ew_modulate_f32"), 0);
    float *y = rnd(R * D, -1, 1, 8);
    wr_tensor ty = t2(y, D, R);
    memcpy(ref, x, (size_t)(R * D) * 4), memcpy(got, x, (size_t)(R * D) * 4);
    BOTH(gpu, wr_op_add_gated(&tr, &ty, &gate), wr_op_add_gated(&tg, &ty, &gate));
    od_expect(got, ref, R * D, 1e-12, "add_gated strided");
    BOTH(gpu, wr_op_add_gated(&tr, &ty, NULL), wr_op_add_gated(&tg, &ty, NULL));
    od_expect(got, ref, R * D, 1e-12, "add_gated no gate");
    BOTH(gpu, wr_op_add(&tx, &tb, &tr), wr_op_add(&tx, &tb, &tg));
    od_expect(got, ref, R * D, 1e-12, "add row broadcast");
    BOTH(gpu, wr_op_add(&tx, &ty, &tr), wr_op_add(&tx, &ty, &tg));
    od_expect(got, ref, R * D, 1e-12, "add");
    for (int act = 1; act < WR_ACT_COUNT; act++) {
        memcpy(ref, x, (size_t)(R * D) * 4), memcpy(got, x, (size_t)(R * D) * 4);
        BOTH(gpu, wr_op_activate(&tr, (wr_act)act), wr_op_activate(&tg, (wr_act)act));
        od_expect(got, ref, R * D, 1e-12, "activate");
    }
    free(x), free(w), free(b), free(ref), free(got), free(e), free(y);
    wr_backend_gpu_close();
}

Test(backend, rope_attention_timestep)
{
    const wr_backend *gpu = open_gpu();
    /* RoPE on [T, NH, 128] for a 2x3x4 grid with 5 extra tokens left unrotated */
    int64_t T = 29, NH = 2, HD = 128;
    float *x = rnd(T * NH * HD, -2, 2, 10);
    float *ref = malloc((size_t)(T * NH * HD) * 4), *got = malloc((size_t)(T * NH * HD) * 4);
    memcpy(ref, x, (size_t)(T * NH * HD) * 4), memcpy(got, x, (size_t)(T * NH * HD) * 4);
    wr_tensor tr = t3(ref, HD, NH, T), tg = t3(got, HD, NH, T);
    BOTH(gpu, wr_op_rope_wan(&tr, 2, 3, 4), wr_op_rope_wan(&tg, 2, 3, 4));
    od_expect(got, ref, T * NH * HD, 1e-12, "rope_wan");
    cr_assert_eq(memcmp(got + 24 * NH * HD, x + 24 * NH * HD, (size_t)(5 * NH * HD) * 4), 0, "tokens past the grid");
    free(x), free(ref), free(got);

    /* attention with masked keys (kv_len < Tk) */
    int64_t Tq = 19, Tk = 45, kv = 38;
    float *q = rnd(Tq * NH * HD, -2, 2, 11), *k = rnd(Tk * NH * HD, -2, 2, 12), *v = rnd(Tk * NH * HD, -1, 1, 13);
    float *oref = calloc((size_t)(Tq * NH * HD), 4), *ogot = calloc((size_t)(Tq * NH * HD), 4);
    wr_tensor tq = t3(q, HD, NH, Tq), tk = t3(k, HD, NH, Tk), tv = t3(v, HD, NH, Tk);
    wr_tensor tor = t3(oref, HD, NH, Tq), tog = t3(ogot, HD, NH, Tq);
    float scale = 1.0f / sqrtf((float)HD);
    BOTH(gpu, wr_op_attention(&tq, &tk, &tv, kv, scale, &tor), wr_op_attention(&tq, &tk, &tv, kv, scale, &tog));
    od_expect(ogot, oref, Tq * NH * HD, 1e-10, "attention kv_len 38 of 45");
    cr_assert_gt(wr_gpu_launch_count(wr_backend_gpu_device(), "attn_f32"), 0);
    free(q), free(k), free(v), free(oref), free(ogot);

    /* T5 attention: relative-position bias and a key mask, HD 64 */
    {
        int64_t hd = 64, nh = 3, tq5 = 23, tk5 = 23;
        float *q5 = rnd(tq5 * nh * hd, -2, 2, 14), *k5 = rnd(tk5 * nh * hd, -2, 2, 15), *v5 = rnd(tk5 * nh * hd, -1, 1, 16);
        float *bias = rnd(nh * tq5 * tk5, -3, 3, 17);
        float *r5 = calloc((size_t)(tq5 * nh * hd), 4), *g5 = calloc((size_t)(tq5 * nh * hd), 4);
        int32_t mask[23];
        for (int j = 0; j < 23; j++)
            mask[j] = j < 17;
        wr_tensor a = t3(q5, hd, nh, tq5), bk = t3(k5, hd, nh, tk5), bv = t3(v5, hd, nh, tk5), bb = t3(bias, tk5, tq5, nh);
        wr_tensor ar = t3(r5, hd, nh, tq5), ag = t3(g5, hd, nh, tq5);
        BOTH(gpu, wr_op_attention_bias(&a, &bk, &bv, &bb, mask, 1.0f, &ar),
             wr_op_attention_bias(&a, &bk, &bv, &bb, mask, 1.0f, &ag));
        od_expect(g5, r5, tq5 * nh * hd, 1e-10, "attention_bias bias+mask");
        BOTH(gpu, wr_op_attention_bias(&a, &bk, &bv, NULL, NULL, 0.125f, &ar),
             wr_op_attention_bias(&a, &bk, &bv, NULL, NULL, 0.125f, &ag));
        od_expect(g5, r5, tq5 * nh * hd, 1e-10, "attention_bias plain");
        cr_assert_gt(wr_gpu_launch_count(wr_backend_gpu_device(), "attn_bias_f32"), 0);
        free(q5), free(k5), free(v5), free(bias), free(r5), free(g5);
    }

    /* timestep embedding: computed by the CPU backend on both sides */
    float t[3] = {0.0f, 500.0f, 999.0f}, er[3 * 256], eg[3 * 256];
    wr_tensor tt = t2(t, 3, 1), ter = t2(er, 256, 3), teg = t2(eg, 256, 3);
    tt = wr_tensor_reshape(&tt, 1, (int64_t[]){3});
    BOTH(gpu, wr_op_timestep_embedding(&tt, &ter), wr_op_timestep_embedding(&tt, &teg));
    cr_assert_eq(memcmp(er, eg, sizeof er), 0);
    cr_assert_not(gpu->supports(WR_OP_TIMESTEP_EMBEDDING, WR_DTYPE_F32));
    cr_assert_not(gpu->supports(WR_OP_MATMUL, WR_DTYPE_Q4_K));
    cr_assert(gpu->supports(WR_OP_MATMUL, WR_DTYPE_Q8_0));
    wr_backend_gpu_close();
    cr_assert_eq(wr_backend_current(), &wr_backend_cpu);
}

Test(backend, choose_by_name)
{
    unsetenv("WANRT_DEVICE");
    cr_assert_eq(wr_backend_choose(NULL), WR_OK);
    cr_assert_eq(wr_backend_current(), &wr_backend_cpu);
    cr_assert_eq(wr_backend_choose("emu"), WR_OK);
    cr_assert_str_eq(wr_backend_current()->name, "emu");
    cr_assert_eq(wr_backend_choose("npu"), WR_E_ARG);
    cr_assert_eq(wr_backend_current(), &wr_backend_cpu);
    wr_backend_gpu_close();
}

/* Every member of the backend struct is a pointer; none may be missing (an op added to
 * runtime/backend.h without a GPU entry, even a CPU fallback, fails here, not at run time). */
Test(backend, every_op_has_an_entry)
{
    const wr_backend *gpu = open_gpu();
    void *members[sizeof(wr_backend) / sizeof(void *)];
    _Static_assert(sizeof(wr_backend) % sizeof(void *) == 0, "wr_backend holds only pointers");
    memcpy(members, gpu, sizeof members);
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
        cr_assert_not_null(members[i], "wr_backend member %zu of the GPU backend is NULL", i);
    wr_backend_gpu_close();
}

/* WANRT_GPU_PRECISION=int8 / fp8 through wr_op_matmul on the emulator: Q8_0 weights take
 * matmul_q8_0_i8_mma from sm_80, fp8 weights matmul_f8_e4m3_mma from sm_89 and the fp32 kernel
 * below (warned once); other weights stay fp32. Against the CPU's fp32 route (the kernels' own
 * accuracy is tests/gpu/test_matmul_q.c): nmse bounds 1e-3 for int8 (measured 1.6e-5), 3e-3
 * for fp8 (measured 6.6e-4: e4m3 keeps 3 mantissa bits), 1e-10 for fp32. */
static void precision_case(int arch, wr_dtype dt, const char *want, double bound)
{
    wr_gpu_options opts = {.arch = arch};
    const wr_backend *gpu = NULL;
    cr_assert_eq(wr_backend_gpu_open(WR_GPU_EMU, &opts, &gpu), WR_OK, "%s", wr_last_error());
    int64_t M = 37, N = 67, K = 96;
    float *x = rnd(M * K, -1, 1, 11), *wf = rnd(N * K, -1, 1, 12), *bias = rnd(N, -1, 1, 13);
    float *ref = calloc((size_t)(M * N), 4), *got = calloc((size_t)(M * N), 4);
    size_t rb = 0;
    void *wq = od_encode_weight(dt, wf, N, K, &rb);
    wr_tensor tx = t2(x, K, M), tb = t2(bias, N, 1), tr = t2(ref, N, M), tg = t2(got, N, M), tw;
    int64_t nw[2] = {K, N};
    cr_assert(wr_tensor_init(&tw, dt, 2, nw, wq));
    BOTH(gpu, wr_op_matmul(&tx, &tw, &tb, WR_ACT_GELU_TANH, &tr), wr_op_matmul(&tx, &tw, &tb, WR_ACT_GELU_TANH, &tg));
    char what[96];
    snprintf(what, sizeof what, "%s sm_%d %s", getenv("WANRT_GPU_PRECISION"), arch, wr_dtype_name(dt));
    od_expect(got, ref, M * N, bound, what);
    cr_assert_gt(wr_gpu_launch_count(wr_backend_gpu_device(), want), 0, "%s: %s ran", what, want);
    free(x), free(wf), free(bias), free(ref), free(got), free(wq);
    wr_backend_gpu_close();
}

Test(backend, precision_int8_fp8_selection)
{
    setenv("WANRT_GPU_PRECISION", "int8", 1);
    precision_case(80, WR_DTYPE_Q8_0, "matmul_q8_0_i8_mma", 1e-3);
    precision_case(89, WR_DTYPE_F8_E4M3FN, "matmul_f32_w", 1e-10); /* int8 leaves fp8 weights exact */
    precision_case(80, WR_DTYPE_BF16, "matmul_f32_w", 1e-10);
    setenv("WANRT_GPU_PRECISION", "fp8", 1);
    precision_case(89, WR_DTYPE_F8_E4M3FN, "matmul_f8_e4m3_mma", 3e-3);
    precision_case(89, WR_DTYPE_Q8_0, "matmul_q8_0_i8_mma", 1e-3);
    precision_case(80, WR_DTYPE_F8_E4M3FN, "matmul_f32_w", 1e-10); /* below sm_89: fp32, warned once */
    setenv("WANRT_GPU_PRECISION", "int4", 1);
    wr_gpu_options opts = {.arch = 80};
    const wr_backend *gpu = NULL;
    cr_assert_eq(wr_backend_gpu_open(WR_GPU_EMU, &opts, &gpu), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "int8"), "%s", wr_last_error());
}
