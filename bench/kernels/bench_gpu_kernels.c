/* GPU matmul and attention kernels at the Wan 2.2 shapes (issue #7), llm.c dev/cuda style:
 * every kernel version is first validated against its CPU twin at small shapes that reach each
 * launch configuration its launcher uses (every kernel spec: precision × weight dtype × bias, HD
 * 64/128; grids with partial tiles, several blocks, B > 1), then timed with device events.
 *
 *   build/release/bench/kernels/bench_gpu_kernels [--device cuda|emu] [--quick] [--only NAME]
 *                                                 [--validate-only] [--reps N]
 *     --device emu --validate-only   the validation on the emulator (sm_89), part of `make test`
 *     --quick                        small shapes (a smoke run; on the emulator it times those)
 *     --only NAME                    variants whose name contains NAME (references still run)
 * Without a CUDA device it prints "no CUDA device: GPU kernel benchmarks skipped" and exits 0.
 *
 * Versions (arithmetic → the peak its % column uses, gpu_bench.h):
 *   matmul_fp32_w_{f32,bf16,f8,q8_0}      wr_gpu_matmul_ex FP32: fp32 FMA             → fp32
 *   matmul_bf16_w_{f32,bf16,f8,q8_0}      wr_gpu_matmul_ex BF16_MMA: bf16 mma         → bf16
 *   matmul_bf16_w_q8_0_gated,              the DiT's o-projection / FFN-down: the same with the
 *   mmq_int8_w_q8_0_gated                  fused epilogue y += (x·Wᵀ + b) · gate (wr_gpu_matmul_epi)
 *   mmq_int8_w_q8_0, mmq_fp8_w_e4m3      wr_gpu_matmul_q (activation quantiser incl.) → int8 / fp8
 *   cublaslt_bf16, cublaslt_fp8          runtime/gpu/cublaslt.c, bf16 / e4m3 operands already in
 *                                        device memory (ours read f32 x), f32 out, no bias (ours add one)
 *   attn_f32, attn_bf16                  wr_gpu_attention_ex                          → fp32 / bf16
 *   sage_pv_f16, sage_pv_f8              wr_gpu_attention_sage_ex (quantisers incl.)  → mixed (gpu_bench.h)
 * Timed shapes: y[M, N] = x[M, K] wᵀ with M = 32,760 / 75,600 tokens (Wan 2.2 A14B at 832×480 and
 * 1280×720, 81 frames) and N×K = 5120×5120 (q/k/v/o), 13824×5120 (ffn up), 5120×13824 (ffn down);
 * attention 40 heads × HD 128 over 32,760 and 75,600 tokens (self-attention, Tq = Tk). cuBLASLt's
 * e4m3 GEMM needs M % 16 == 0, so it runs 32,760 as 32,768 (the shape column says so).
 * Columns: median ms of the timed calls, TFLOP/s (2·M·N·K, or 4·Tq·Tk·HD·NH; TOPS for int8),
 * % of the datasheet peak of the version's arithmetic, and throughput ratios (ours / reference):
 * /lt-bf16, /lt-fp8 against cuBLASLt at the same shape, /attn-bf16 against our dense bf16 attention. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/kernels/gpu_bench.h"
#include "runtime/cpu/attention_sage.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/gemm.h"
#include "runtime/gpu/cublaslt.h"
#include "runtime/gpu/gpu_ops.h"
#include "runtime/numeric.h"
#include "runtime/quant_encode.h"

/* ---- the versions ----------------------------------------------------------------------------- */

typedef enum vkind { V_MATMUL, V_MMQ, V_LT, V_ATTN, V_SAGE } vkind;

typedef struct variant {
    const char *name;
    vkind kind;
    int arith_sel;  /* V_MATMUL/V_ATTN: wr_gpu_matmul_precision; V_MMQ: wr_gpu_mmq; V_LT: wr_cublaslt_op;
                     * V_SAGE: wr_gpu_sage_pv */
    wr_dtype wdt;   /* weight dtype (matmul versions) */
    int min_arch;
    gb_arith arith;
    bool gated;     /* matmul versions: the DiT's fused epilogue, y += (x·Wᵀ + b) · gate in place */
} variant;

static const variant variants[] = {
    {"matmul_fp32_w_f32", V_MATMUL, WR_GPU_MATMUL_FP32, WR_DTYPE_F32, 0, GB_FP32, false},
    {"matmul_fp32_w_bf16", V_MATMUL, WR_GPU_MATMUL_FP32, WR_DTYPE_BF16, 0, GB_FP32, false},
    {"matmul_fp32_w_f8", V_MATMUL, WR_GPU_MATMUL_FP32, WR_DTYPE_F8_E4M3FN, 0, GB_FP32, false},
    {"matmul_fp32_w_q8_0", V_MATMUL, WR_GPU_MATMUL_FP32, WR_DTYPE_Q8_0, 0, GB_FP32, false},
    {"matmul_bf16_w_f32", V_MATMUL, WR_GPU_MATMUL_BF16_MMA, WR_DTYPE_F32, 80, GB_BF16, false},
    {"matmul_bf16_w_bf16", V_MATMUL, WR_GPU_MATMUL_BF16_MMA, WR_DTYPE_BF16, 80, GB_BF16, false},
    {"matmul_bf16_w_f8", V_MATMUL, WR_GPU_MATMUL_BF16_MMA, WR_DTYPE_F8_E4M3FN, 80, GB_BF16, false},
    {"matmul_bf16_w_q8_0", V_MATMUL, WR_GPU_MATMUL_BF16_MMA, WR_DTYPE_Q8_0, 80, GB_BF16, false},
    {"mmq_int8_w_q8_0", V_MMQ, WR_GPU_MMQ_INT8, WR_DTYPE_Q8_0, 80, GB_INT8, false},
    {"mmq_fp8_w_e4m3", V_MMQ, WR_GPU_MMQ_FP8, WR_DTYPE_F8_E4M3FN, 89, GB_FP8, false},
    {"matmul_bf16_w_q8_0_gated", V_MATMUL, WR_GPU_MATMUL_BF16_MMA, WR_DTYPE_Q8_0, 80, GB_BF16, true},
    {"mmq_int8_w_q8_0_gated", V_MMQ, WR_GPU_MMQ_INT8, WR_DTYPE_Q8_0, 80, GB_INT8, true},
    {"cublaslt_bf16", V_LT, WR_CUBLASLT_BF16, WR_DTYPE_BF16, 80, GB_BF16, false},
    {"cublaslt_fp8", V_LT, WR_CUBLASLT_FP8, WR_DTYPE_F8_E4M3FN, 89, GB_FP8, false},
    {"attn_f32", V_ATTN, WR_GPU_MATMUL_FP32, WR_DTYPE_F32, 0, GB_FP32, false},
    {"attn_bf16", V_ATTN, WR_GPU_MATMUL_BF16_MMA, WR_DTYPE_F32, 80, GB_BF16, false},
    {"sage_pv_f16", V_SAGE, WR_GPU_SAGE_PV_F16, WR_DTYPE_F32, 80, GB_SAGE_F16, false},
    {"sage_pv_f8", V_SAGE, WR_GPU_SAGE_PV_F8, WR_DTYPE_F32, 89, GB_SAGE_F8, false},
};
#define N_VARIANTS ((int)(sizeof variants / sizeof variants[0]))

typedef struct bench {
    wr_gpu *g;
    wr_cublaslt *lt; /* NULL: no cuBLASLt (emulator, or the library is missing) */
    const char *only;
    bool quick, validate_only;
    int max_reps;
    bool ok[N_VARIANTS]; /* validated */
    int checks, failures;
} bench;

static bool selected(const bench *b, const variant *v) { return !b->only || strstr(v->name, b->only); }
/* The ratios' references run (validated, then timed) whatever --only says. */
static bool is_reference(const variant *v) { return v->kind == V_LT || strcmp(v->name, "attn_bf16") == 0; }
static bool runs_here(const bench *b, const variant *v)
{
    return wr_gpu_arch(b->g) >= v->min_arch && (v->kind != V_LT || b->lt);
}

static float *fbuf(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }
static float bf16_round(float v) { return wr_bf16_to_f32(wr_f32_to_bf16(v)); }

/* ---- validation ------------------------------------------------------------------------------- */

/* Records one comparison: nmse within bound and NaN/Inf parity. */
static bool expect(bench *b, const variant *v, const char *shape, const float *got, const float *ref, int64_t n,
                   double bound)
{
    int64_t nan_mismatch;
    double e = gb_nmse(got, ref, n, &nan_mismatch);
    bool ok = nan_mismatch == 0 && e <= bound;
    b->checks++;
    b->failures += !ok;
    printf("  %-4s %-20s %-34s nmse %.2e (bound %.0e)%s\n", ok ? "ok" : "FAIL", v->name, shape, e, bound,
           nan_mismatch ? " NaN/Inf parity differs" : "");
    return ok;
}

/* t = {ne0, ne1} (ne1 = 0: the 1-D {ne0}) of dtype dt over data. */
static void tensor2(wr_tensor *t, wr_dtype dt, int64_t ne0, int64_t ne1, void *data)
{
    int64_t ne[2] = {ne0, ne1};
    if (!wr_tensor_init(t, dt, ne1 ? 2 : 1, ne, data)) {
        fprintf(stderr, "error: bad bench shape %lld x %lld\n", (long long)ne0, (long long)ne1);
        exit(1);
    }
}

/* Encodes a [N][K] weight row by row; w is overwritten with the decoded values. */
static void *encode_weight(wr_dtype dt, float *w, int64_t N, int64_t K, size_t *row_bytes)
{
    if (!wr_dtype_row_bytes(dt, K, row_bytes))
        exit(1);
    unsigned char *out = calloc((size_t)N, *row_bytes);
    for (int64_t n = 0; n < N; n++)
        if (!wr_quant_encode_row(dt, w + n * K, out + (size_t)n * *row_bytes, K)) {
            fprintf(stderr, "error: no encoder for %s\n", wr_dtype_name(dt));
            exit(1);
        }
    return out;
}

/* Our matmul launchers for version v: plain, or with the gated residual epilogue (y is the
 * residual, gate one row for all rows as the DiT's one-timestep modulation). */
static wr_status launch_matmul(wr_gpu *g, const variant *v, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias,
                               const wr_tensor *gate, wr_tensor *y)
{
    wr_gpu_matmul_route route = v->kind == V_MMQ ? (v->arith_sel == WR_GPU_MMQ_FP8 ? WR_GPU_MM_FP8 : WR_GPU_MM_INT8)
                                : v->arith_sel == WR_GPU_MATMUL_BF16_MMA ? WR_GPU_MM_BF16_MMA : WR_GPU_MM_FP32;
    wr_gpu_matmul_epilogue epi = {.act = WR_ACT_NONE, .residual = true, .gate = gate};
    return wr_gpu_matmul_epi(g, x, w, bias, v->gated ? &epi : NULL, y, route, NULL);
}

/* One matmul-family case (our launchers, or cuBLASLt) against its CPU twin:
 *   fp32 path    cpu_matmul on the decoded weight: fp32 sums of <= 160 products in another order,
 *                nmse 1e-10 (test_ops.c holds the kernel to 1e-11 against double sums)
 *   bf16 mma     cpu_matmul of bf16-rounded x and decoded-then-bf16-rounded w (what the kernel
 *                feeds the mma): the same products, fp32 sums: 1e-10
 *   mmq int8/fp8 the runtime's portable twins cpu_matmul_{q8_0,f8}_a8_ref: equal on the emulator
 *                (its order is theirs; bound 0), 1e-14 / 1e-11 on a device (test_matmul_q.c)
 *   cuBLASLt     bf16: as the bf16 mma, 1e-10 (K = 2048: fp32 sums, maybe split over K); fp8:
 *                cpu_matmul of the e4m3-decoded operands times both scales, 1e-8 (Hopper's fp8 mma
 *                keeps fewer accumulator bits between cuBLASLt's fp32 promotions; a first bound,
 *                to be tightened to the value a GPU run records) */
static void check_matmul(bench *b, const variant *v, int64_t M, int64_t N, int64_t K, bool with_bias, uint64_t seed)
{
    wr_gpu *g = b->g;
    bool emu = wr_gpu_get_kind(g) == WR_GPU_EMU;
    char shape[96];
    snprintf(shape, sizeof shape, "M=%lld N=%lld K=%lld%s%s", (long long)M, (long long)N, (long long)K,
             with_bias ? " bias" : "", v->gated ? " gated" : "");
    float *x = fbuf(M * K), *w = fbuf(N * K), *bias = fbuf(N), *y = fbuf(M * N), *ref = fbuf(M * N);
    float *residual = fbuf(M * N), *gate = fbuf(N);
    void *dgate_mem = NULL;
    gb_fill(residual, M * N, -1.0f, 1.0f, seed + 3), gb_fill(gate, N, -1.0f, 1.0f, seed + 4);
    gb_fill(x, M * K, -1.0f, 1.0f, seed);
    gb_fill(w, N * K, -2.0f, 2.0f, seed + 1);
    gb_fill(bias, N, -1.0f, 1.0f, seed + 2);
    float wscale = v->wdt == WR_DTYPE_F8_E4M3FN ? 0.5f : 1.0f;
    size_t rb;
    void *wbytes = encode_weight(v->wdt, w, N, K, &rb); /* w: decoded */
    wr_tensor tx, tw, tb, ty;
    tensor2(&tx, WR_DTYPE_F32, K, M, x), tensor2(&tb, WR_DTYPE_F32, N, 0, bias), tensor2(&ty, WR_DTYPE_F32, N, M, ref);
    double bound = 1e-10;
    void *dx = NULL, *dw = NULL, *db = gb_upload(g, bias, (size_t)N * 4), *dy = gb_alloc(g, (size_t)(M * N) * 4);
    void *dscale = NULL;
    if (v->kind == V_LT) {
        bool f8 = v->arith_sel == WR_CUBLASLT_FP8;
        size_t es = f8 ? 1 : 2;
        unsigned char *xe = malloc((size_t)(M * K) * es);
        float sx = f8 ? 1.0f / 448.0f : 1.0f, scales[2] = {sx, wscale};
        for (int64_t i = 0; i < M * K; i++) { /* x encoded like the weight; the twin uses the decoded values */
            float xv = x[i] / sx;
            if (!wr_quant_encode_row(v->wdt, &xv, xe + (size_t)i * es, 1))
                exit(1);
            x[i] = xv * sx;
        }
        tensor2(&tw, WR_DTYPE_F32, K, N, w), tw.scale = f8 ? wscale : 1.0f; /* bf16 has no scale (wscale is 1) */
        cpu_matmul(&tx, &tw, NULL, WR_ACT_NONE, &ty);
        dx = gb_upload(g, xe, (size_t)(M * K) * es), dw = gb_upload(g, wbytes, (size_t)N * rb);
        dscale = gb_upload(g, scales, sizeof scales);
        wr_cublaslt_gemm p = {.op = (wr_cublaslt_op)v->arith_sel, .M = M, .N = N, .K = K, .x = dx, .w = dw, .y = dy,
                              .y_dtype = WR_DTYPE_F32, .x_scale = f8 ? (const float *)dscale : NULL,
                              .w_scale = f8 ? (const float *)dscale + 1 : NULL};
        gb_check(wr_cublaslt_matmul(b->lt, &p, NULL), v->name);
        bound = f8 ? 1e-8 : 1e-10;
        free(xe);
    } else {
        wr_tensor dtx, dtw, dtb, dty, dgate;
        dx = gb_upload(g, x, (size_t)(M * K) * 4), dw = gb_upload(g, wbytes, (size_t)N * rb);
        if (v->gated) { /* the kernel adds to y: start it from the residual */
            gb_check(wr_gpu_copy_h2d(g, dy, residual, (size_t)(M * N) * 4, NULL), "upload");
            dgate_mem = gb_upload(g, gate, (size_t)N * 4);
        }
        tensor2(&dgate, WR_DTYPE_F32, N, 0, dgate_mem);
        tensor2(&dtx, WR_DTYPE_F32, K, M, dx), tensor2(&dtw, v->wdt, K, N, dw), tensor2(&dty, WR_DTYPE_F32, N, M, dy);
        dtb = tb, dtb.data = db, dtw.scale = wscale;
        const wr_tensor *pb = with_bias ? &dtb : NULL;
        if (v->kind == V_MMQ) {
            tensor2(&tw, v->wdt, K, N, wbytes), tw.scale = wscale;
            (v->arith_sel == WR_GPU_MMQ_FP8 ? cpu_matmul_f8_a8_ref : cpu_matmul_q8_0_a8_ref)(
                &tx, &tw, with_bias ? &tb : NULL, NULL, &ty);
            bound = emu ? 0.0 : v->arith_sel == WR_GPU_MMQ_FP8 ? 1e-11 : 1e-14;
            gb_check(launch_matmul(g, v, &dtx, &dtw, pb, &dgate, &dty), v->name);
        } else {
            bool mma = v->arith_sel == WR_GPU_MATMUL_BF16_MMA;
            float *xr = fbuf(M * K), *wr = fbuf(N * K);
            for (int64_t i = 0; i < M * K; i++)
                xr[i] = mma ? bf16_round(x[i]) : x[i];
            for (int64_t i = 0; i < N * K; i++)
                wr[i] = mma ? bf16_round(w[i]) : w[i];
            wr_tensor trx = tx;
            trx.data = xr;
            tensor2(&tw, WR_DTYPE_F32, K, N, wr), tw.scale = wscale;
            cpu_matmul(&trx, &tw, with_bias ? &tb : NULL, WR_ACT_NONE, &ty);
            gb_check(launch_matmul(g, v, &dtx, &dtw, pb, &dgate, &dty), v->name);
            free(xr), free(wr);
        }
    }
    gb_check(wr_gpu_copy_d2h(g, y, dy, (size_t)(M * N) * 4, NULL), "download");
    gb_check(wr_gpu_sync(g), "sync");
    for (int64_t i = 0; v->gated && i < M * N; i++) /* the epilogue's order: y + v · gate */
        ref[i] = residual[i] + ref[i] * gate[i % N];
    if (!expect(b, v, shape, y, ref, M * N, bound))
        b->ok[v - variants] = false;
    wr_gpu_free(g, dx), wr_gpu_free(g, dw), wr_gpu_free(g, db), wr_gpu_free(g, dy), wr_gpu_free(g, dscale);
    wr_gpu_free(g, dgate_mem);
    free(x), free(w), free(bias), free(y), free(ref), free(wbytes), free(residual), free(gate);
}

/* One attention case against its twin:
 *   attn fp32   cpu_attention: fp32 dot products and softmax in another order, nmse 1e-10
 *   attn bf16   cpu_attention of bf16-rounded q, k, v; the kernel also rounds the probabilities
 *               (2^-9 relative per term: nmse ~1.3e-6 measured in test_ops.c), bound 1e-5
 *   sage        cpu_attention_sage_pipeline, the same quantisation and summation order: equal on
 *               the emulator (bound 1e-12); on a device exp2f's ulps and the mma order move a
 *               probability across a fp16 / e4m3 rounding boundary: 1e-8 / 1e-5 (test_attention_sage.c) */
static void check_attention(bench *b, const variant *v, int HD, int NH, int Tq, int Tk, int B, uint64_t seed)
{
    wr_gpu *g = b->g;
    bool emu = wr_gpu_get_kind(g) == WR_GPU_EMU;
    char shape[96];
    snprintf(shape, sizeof shape, "HD=%d NH=%d Tq=%d Tk=%d B=%d", HD, NH, Tq, Tk, B);
    int64_t nq = (int64_t)HD * NH * Tq * B, nk = (int64_t)HD * NH * Tk * B;
    float *q = fbuf(nq), *k = fbuf(nk), *vv = fbuf(nk), *o = fbuf(nq), *ref = fbuf(nq);
    gb_fill(q, nq, -2.0f, 2.0f, seed), gb_fill(k, nk, -2.0f, 2.0f, seed + 1), gb_fill(vv, nk, -1.0f, 1.0f, seed + 2);
    for (int64_t i = 0; i < nk; i += HD) /* an outlier channel, the case Sage's K smoothing is for */
        k[i + 5] += 3.0f;
    float scale = 1.0f / sqrtf((float)HD);
    double bound;
    if (v->kind == V_SAGE) {
        bool f8 = v->arith_sel == WR_GPU_SAGE_PV_F8;
        cpu_attention_sage_pipeline(q, k, vv, ref, B, Tq, Tk, NH, HD, scale, true, f8);
        bound = emu ? 1e-12 : f8 ? 1e-5 : 1e-8;
    } else {
        bool mma = v->arith_sel == WR_GPU_MATMUL_BF16_MMA;
        float *qr = fbuf(nq), *kr = fbuf(nk), *vr = fbuf(nk);
        for (int64_t i = 0; i < nq; i++)
            qr[i] = mma ? bf16_round(q[i]) : q[i];
        for (int64_t i = 0; i < nk; i++)
            kr[i] = mma ? bf16_round(k[i]) : k[i], vr[i] = mma ? bf16_round(vv[i]) : vv[i];
        for (int bi = 0; bi < B; bi++) {
            int64_t neq[3] = {HD, NH, Tq}, nek[3] = {HD, NH, Tk};
            wr_tensor tq, tk, tv, to;
            if (!wr_tensor_init(&tq, WR_DTYPE_F32, 3, neq, qr + bi * nq / B) ||
                !wr_tensor_init(&tk, WR_DTYPE_F32, 3, nek, kr + bi * nk / B) ||
                !wr_tensor_init(&tv, WR_DTYPE_F32, 3, nek, vr + bi * nk / B) ||
                !wr_tensor_init(&to, WR_DTYPE_F32, 3, neq, ref + bi * nq / B))
                exit(1);
            cpu_attention(&tq, &tk, &tv, Tk, scale, &to);
        }
        free(qr), free(kr), free(vr);
        bound = mma ? 1e-5 : 1e-10;
    }
    int64_t neq[4] = {HD, NH, Tq, B}, nek[4] = {HD, NH, Tk, B};
    wr_tensor dq, dk, dv, dout;
    if (!wr_tensor_init(&dq, WR_DTYPE_F32, 4, neq, gb_upload(g, q, (size_t)nq * 4)) ||
        !wr_tensor_init(&dk, WR_DTYPE_F32, 4, nek, gb_upload(g, k, (size_t)nk * 4)) ||
        !wr_tensor_init(&dv, WR_DTYPE_F32, 4, nek, gb_upload(g, vv, (size_t)nk * 4)) ||
        !wr_tensor_init(&dout, WR_DTYPE_F32, 4, neq, gb_alloc(g, (size_t)nq * 4)))
        exit(1);
    if (v->kind == V_SAGE)
        gb_check(wr_gpu_attention_sage_ex(g, &dq, &dk, &dv, scale, &dout, (wr_gpu_sage_pv)v->arith_sel, NULL), v->name);
    else
        gb_check(wr_gpu_attention_ex(g, &dq, &dk, &dv, scale, &dout, (wr_gpu_matmul_precision)v->arith_sel, NULL),
                 v->name);
    gb_check(wr_gpu_copy_d2h(g, o, dout.data, (size_t)nq * 4, NULL), "download");
    gb_check(wr_gpu_sync(g), "sync");
    if (!expect(b, v, shape, o, ref, nq, bound))
        b->ok[v - variants] = false;
    wr_gpu_free(g, dq.data), wr_gpu_free(g, dk.data), wr_gpu_free(g, dv.data), wr_gpu_free(g, dout.data);
    free(q), free(k), free(vv), free(o), free(ref);
}

/* Every version at shapes that reach each of its launch configurations: M and N not multiples of
 * the 64×64 tile with several tiles each way, K of several 32-blocks (fp8: and a K that is not);
 * bias on and off (two kernel specs); attention HD 64 and 128 (two specs each), partial query
 * blocks, Tq ≠ Tk, B = 2 (grid z), Sage's K/V mean over several chunks. cuBLASLt: multiples of 16
 * (its fp8 rule). */
static void validate(bench *b)
{
    static const int64_t mm[][3] = {{70, 67, 96}, {129, 130, 64}, {1, 5, 32}};
    /* HD, NH, Tq, Tk, B; Tk = 300 spans two of Sage's 256-key mean chunks (grid x of its sums) */
    static const int at[][5] = {{64, 2, 37, 41, 1}, {128, 2, 70, 100, 2}, {128, 1, 5, 33, 1}, {128, 1, 20, 300, 1}};
    printf("validation against the CPU twins on %s:\n", wr_gpu_name(b->g));
    for (int i = 0; i < N_VARIANTS; i++) {
        const variant *v = &variants[i];
        b->ok[i] = true;
        if (!selected(b, v) && !is_reference(v))
            continue;
        if (!runs_here(b, v)) {
            printf("  skip %-20s %s\n", v->name, v->kind == V_LT && !b->lt ? "(no cuBLASLt on this device)"
                                                                           : "(needs a newer arch)");
            continue;
        }
        if (v->kind == V_LT) {
            check_matmul(b, v, 64, 96, 128, false, 7);
            check_matmul(b, v, 32, 48, 2048, false, 8);
        } else if (v->kind == V_MATMUL || v->kind == V_MMQ) {
            for (int s = 0; s < 3; s++)
                for (int bias = 0; bias < 2; bias++)
                    check_matmul(b, v, mm[s][0], mm[s][1], mm[s][2], bias, (uint64_t)(s * 2 + bias));
            if (v->kind == V_MMQ && v->arith_sel == WR_GPU_MMQ_FP8)
                check_matmul(b, v, 3, 70, 40, true, 99); /* K not a multiple of 32 */
        } else {
            for (int s = 0; s < 4; s++)
                check_attention(b, v, at[s][0], at[s][1], at[s][2], at[s][3], at[s][4], (uint64_t)s);
        }
    }
    printf("validated: %d of %d checks passed\n", b->checks - b->failures, b->checks);
}

/* ---- timing ----------------------------------------------------------------------------------- */

typedef struct run_ctx {
    wr_gpu *g;
    const variant *v;
    wr_cublaslt *lt;
    wr_cublaslt_gemm lg;
    wr_tensor x, w, bias, y, gate; /* matmul (gate: [N], the gated versions) */
    wr_tensor q, k, vt, o;      /* attention */
} run_ctx;

static wr_status run_once(void *p)
{
    run_ctx *c = p;
    const variant *v = c->v;
    switch (v->kind) {
    case V_MATMUL:
    case V_MMQ:
        return launch_matmul(c->g, v, &c->x, &c->w, &c->bias, &c->gate, &c->y);
    case V_LT:
        return wr_cublaslt_matmul(c->lt, &c->lg, NULL);
    case V_ATTN:
        return wr_gpu_attention_ex(c->g, &c->q, &c->k, &c->vt, 1.0f / sqrtf(128.0f), &c->o,
                                   (wr_gpu_matmul_precision)v->arith_sel, NULL);
    case V_SAGE:
        return wr_gpu_attention_sage_ex(c->g, &c->q, &c->k, &c->vt, 1.0f / sqrtf(128.0f), &c->o,
                                        (wr_gpu_sage_pv)v->arith_sel, NULL);
    }
    return WR_E_ARG;
}

static void print_header(void)
{
    printf("%-20s %-30s %10s %9s %7s %8s %8s %10s %4s\n", "kernel", "shape", "ms", "TFLOP/s", "%peak", "/lt-bf16",
           "/lt-fp8", "/attn-bf16", "reps");
}

static void ratio(char *buf, size_t len, double tflops, double ref)
{
    if (ref > 0)
        snprintf(buf, len, "%.2f", tflops / ref);
    else
        snprintf(buf, len, "-");
}

static void print_row(const bench *b, const variant *v, const char *shape, gb_time t, double flops, double lt_bf16,
                      double lt_fp8, double attn_bf16)
{
    double tflops = flops / (t.median_ms * 1e-3) / 1e12;
    char pct[16], r1[16], r2[16], r3[16];
    gb_pct(pct, sizeof pct, tflops, gb_peak_of(gb_peak_find(b->g), v->arith));
    ratio(r1, sizeof r1, tflops, lt_bf16), ratio(r2, sizeof r2, tflops, lt_fp8), ratio(r3, sizeof r3, tflops, attn_bf16);
    printf("%-20s %-30s %10.3f %9.1f %7s %8s %8s %10s %4d\n", v->name, shape, t.median_ms, tflops, pct, r1, r2, r3,
           t.reps);
    fflush(stdout);
}

static int find(const char *name)
{
    for (int i = 0; i < N_VARIANTS; i++)
        if (strcmp(variants[i].name, name) == 0)
            return i;
    return -1;
}

/* A [rows][K] weight pattern in dtype dt (decoded values discarded), for tiling over N rows. */
static void *weight_pattern(wr_dtype dt, int64_t rows, int64_t K, size_t *bytes)
{
    float *w = fbuf(rows * K);
    gb_fill(w, rows * K, -1.0f, 1.0f, 42);
    size_t rb;
    void *p = encode_weight(dt, w, rows, K, &rb);
    free(w);
    *bytes = (size_t)rows * rb;
    return p;
}

typedef struct shapes {
    int64_t M[2], NK[3][2], T[2];
    int nM, nNK, nT, NH;
} shapes;

static shapes shapes_for(const bench *b)
{
    shapes full = {{32760, 75600}, {{5120, 5120}, {13824, 5120}, {5120, 13824}}, {32760, 75600}, 2, 3, 2, 40};
    shapes quick = {{4096, 0}, {{5120, 5120}, {0, 0}, {0, 0}}, {4096, 0}, 1, 1, 1, 40}; /* a minute on a GPU */
    shapes tiny = {{128, 0}, {{128, 256}, {0, 0}, {0, 0}}, {128, 0}, 1, 1, 1, 2};      /* the emulator */
    return !b->quick ? full : wr_gpu_get_kind(b->g) == WR_GPU_EMU ? tiny : quick;
}

static bool timed(const bench *b, const variant *v) { return b->ok[v - variants] && runs_here(b, v); }

/* Whether --only leaves a version of the matmul family (attention: false) to time. */
static bool family_selected(const bench *b, bool matmul)
{
    for (int i = 0; i < N_VARIANTS; i++) {
        vkind k = variants[i].kind;
        if ((k == V_MATMUL || k == V_MMQ || k == V_LT) == matmul && selected(b, &variants[i]))
            return true;
    }
    return false;
}

/* The matmul versions at each N×K, cuBLASLt first (the ratios' references). */
static void time_matmuls(bench *b, const shapes *sh)
{
    wr_gpu *g = b->g;
    int64_t Mx = 0, Nx = 0, Kx = 0;
    for (int i = 0; i < sh->nM; i++)
        Mx = sh->M[i] > Mx ? sh->M[i] : Mx;
    Mx = (Mx + 15) / 16 * 16; /* cuBLASLt's e4m3 GEMM runs M rounded up to 16 (below) */
    for (int i = 0; i < sh->nNK; i++)
        Nx = sh->NK[i][0] > Nx ? sh->NK[i][0] : Nx, Kx = sh->NK[i][1] > Kx ? sh->NK[i][1] : Kx;
    int64_t np = (int64_t)1 << 18; /* input pattern, tiled over x */
    float *xp = fbuf(np);
    gb_fill(xp, np, -1.0f, 1.0f, 1);
    run_ctx c = {.g = g, .lt = b->lt};
    void *x = gb_alloc(g, (size_t)(Mx * Kx) * 4), *y = gb_alloc(g, (size_t)(Mx * Nx) * 4);
    void *bias = gb_alloc(g, (size_t)Nx * 4), *w = gb_alloc(g, (size_t)(Nx * Kx) * 4);
    gb_check(wr_gpu_memset(g, bias, 0, (size_t)Nx * 4, NULL), "memset");
    gb_fill_tiled(g, x, (size_t)(Mx * Kx) * 4, xp, (size_t)np * 4);
    void *xl[2] = {NULL, NULL}, *wl[2] = {NULL, NULL}, *scales = NULL; /* cuBLASLt operands: bf16, e4m3 */
    if (b->lt) {
        for (int f8 = 0; f8 < 2; f8++) {
            size_t es = f8 ? 1 : 2;
            unsigned char *enc = malloc((size_t)np * es);
            for (int64_t i = 0; i < np; i++) {
                float xv = f8 ? xp[i] * 448.0f : xp[i];
                if (!wr_quant_encode_row(f8 ? WR_DTYPE_F8_E4M3FN : WR_DTYPE_BF16, &xv, enc + (size_t)i * es, 1))
                    exit(1);
            }
            xl[f8] = gb_alloc(g, (size_t)(Mx * Kx) * es), wl[f8] = gb_alloc(g, (size_t)(Nx * Kx) * es);
            gb_fill_tiled(g, xl[f8], (size_t)(Mx * Kx) * es, enc, (size_t)np * es);
            free(enc);
        }
        float sc[2] = {1.0f / 448.0f, 1.0f};
        scales = gb_upload(g, sc, sizeof sc);
    }
    free(xp);
    for (int s = 0; s < sh->nNK; s++) {
        int64_t N = sh->NK[s][0], K = sh->NK[s][1];
        double ref[2][2] = {{0, 0}, {0, 0}}; /* [bf16, fp8][M] TFLOP/s of cuBLASLt */
        for (int pass = 0; pass < 2; pass++) /* 0: cuBLASLt, 1: ours */
            for (int i = 0; i < N_VARIANTS; i++) {
                const variant *v = &variants[i];
                bool is_lt = v->kind == V_LT;
                if (is_lt != (pass == 0) || (v->kind != V_MATMUL && v->kind != V_MMQ && !is_lt) || !timed(b, v) ||
                    (!is_lt && !selected(b, v)))
                    continue;
                size_t pb;
                void *pat = weight_pattern(v->wdt, 64, K, &pb);
                void *wdst = is_lt ? wl[v->arith_sel == WR_CUBLASLT_FP8] : w;
                gb_fill_tiled(g, wdst, pb / 64 * (size_t)N, pat, pb);
                free(pat);
                for (int mi = -1; mi < sh->nM; mi++) { /* -1: once at M = 64 (JIT, cuBLASLt plan) */
                    int64_t M = mi < 0 ? 64 : sh->M[mi];
                    if (is_lt && v->arith_sel == WR_CUBLASLT_FP8) /* its TN e4m3 kernels take multiples of 16: */
                        M = (M + 15) / 16 * 16;                  /* 32,760 runs as 32,768, flops counted so */
                    c.v = v;
                    tensor2(&c.x, WR_DTYPE_F32, K, M, x), tensor2(&c.w, v->wdt, K, N, w);
                    tensor2(&c.y, WR_DTYPE_F32, N, M, y), tensor2(&c.bias, WR_DTYPE_F32, N, 0, bias);
                    tensor2(&c.gate, WR_DTYPE_F32, N, 0, bias); /* zeros: timing only */
                    if (is_lt) {
                        bool f8 = v->arith_sel == WR_CUBLASLT_FP8;
                        wr_cublaslt_gemm p = {.op = (wr_cublaslt_op)v->arith_sel, .M = M, .N = N, .K = K, .x = xl[f8],
                                              .w = wl[f8], .y = y, .y_dtype = WR_DTYPE_F32,
                                              .x_scale = f8 ? (const float *)scales : NULL,
                                              .w_scale = f8 ? (const float *)scales + 1 : NULL};
                        c.lg = p;
                    }
                    if (mi < 0) {
                        gb_check(run_once(&c), v->name);
                        gb_check(wr_gpu_sync(g), v->name);
                        continue;
                    }
                    char shape[64];
                    snprintf(shape, sizeof shape, "M=%lld N=%lld K=%lld", (long long)M, (long long)N, (long long)K);
                    gb_time t = gb_time_op(g, run_once, &c, 300.0, b->max_reps, v->name);
                    double flops = 2.0 * (double)M * (double)N * (double)K;
                    if (is_lt)
                        ref[v->arith_sel == WR_CUBLASLT_FP8][mi] = flops / (t.median_ms * 1e-3) / 1e12;
                    print_row(b, v, shape, t, flops, ref[0][mi], ref[1][mi], 0.0);
                }
            }
    }
    wr_gpu_free(g, x), wr_gpu_free(g, y), wr_gpu_free(g, bias), wr_gpu_free(g, w), wr_gpu_free(g, scales);
    for (int f8 = 0; f8 < 2; f8++)
        wr_gpu_free(g, xl[f8]), wr_gpu_free(g, wl[f8]);
}

/* q, k, v, o ne {HD, NH, T, 1} over the four buffers. */
static void attn_tensors(run_ctx *c, void *const *buf, int64_t T, int64_t NH, int64_t HD)
{
    int64_t ne[4] = {HD, NH, T, 1};
    if (!wr_tensor_init(&c->q, WR_DTYPE_F32, 4, ne, buf[0]) || !wr_tensor_init(&c->k, WR_DTYPE_F32, 4, ne, buf[1]) ||
        !wr_tensor_init(&c->vt, WR_DTYPE_F32, 4, ne, buf[2]) || !wr_tensor_init(&c->o, WR_DTYPE_F32, 4, ne, buf[3]))
        exit(1);
}

/* Self-attention over T tokens (Tq = Tk, B = 1), our dense bf16 attention first (the reference). */
static void time_attention(bench *b, const shapes *sh)
{
    wr_gpu *g = b->g;
    int64_t Tx = sh->T[0] > sh->T[1] ? sh->T[0] : sh->T[1], HD = 128, NH = sh->NH, n = HD * NH * Tx;
    int64_t np = (int64_t)1 << 18;
    float *pat = fbuf(np);
    gb_fill(pat, np, -2.0f, 2.0f, 3);
    void *buf[4];
    for (int i = 0; i < 4; i++) {
        buf[i] = gb_alloc(g, (size_t)n * 4);
        gb_fill_tiled(g, buf[i], (size_t)n * 4, pat, (size_t)np * 4);
    }
    free(pat);
    int order[N_VARIANTS], no = 0, ref_i = find("attn_bf16");
    order[no++] = ref_i;
    for (int i = 0; i < N_VARIANTS; i++)
        if ((variants[i].kind == V_ATTN || variants[i].kind == V_SAGE) && i != ref_i)
            order[no++] = i;
    for (int ti = 0; ti < sh->nT; ti++) {
        int64_t T = sh->T[ti];
        run_ctx c = {.g = g};
        attn_tensors(&c, buf, T, NH, HD);
        double ref = 0.0;
        for (int oi = 0; oi < no; oi++) {
            const variant *v = &variants[order[oi]];
            if (!timed(b, v) || (order[oi] != ref_i && !selected(b, v)))
                continue;
            c.v = v;
            if (ti == 0) { /* once at 64 tokens: JIT */
                run_ctx small = c;
                attn_tensors(&small, buf, 64, NH, HD);
                gb_check(run_once(&small), v->name);
                gb_check(wr_gpu_sync(g), v->name);
            }
            char shape[64];
            snprintf(shape, sizeof shape, "T=%lld NH=%lld HD=%lld", (long long)T, (long long)NH, (long long)HD);
            gb_time t = gb_time_op(g, run_once, &c, 300.0, b->max_reps, v->name);
            double flops = 4.0 * (double)T * (double)T * (double)HD * (double)NH;
            if (order[oi] == ref_i)
                ref = flops / (t.median_ms * 1e-3) / 1e12;
            print_row(b, v, shape, t, flops, 0.0, 0.0, ref);
        }
    }
    for (int i = 0; i < 4; i++)
        wr_gpu_free(g, buf[i]);
}

static void time_all(bench *b)
{
    shapes sh = shapes_for(b);
    printf("\ntimings (median of up to %d calls after a warm-up call, or one call when it takes >= 300 ms; "
           "ratios: our TFLOP/s / the reference's)\n",
           b->max_reps);
    print_header();
    if (family_selected(b, true))
        time_matmuls(b, &sh);
    if (family_selected(b, false))
        time_attention(b, &sh);
}

/* ---- main ------------------------------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: bench_gpu_kernels [--device cuda|emu] [--quick] [--only NAME] [--validate-only] "
                    "[--reps N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *device = "cuda";
    bench b = {.max_reps = 10};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else if (strcmp(argv[i], "--quick") == 0)
            b.quick = true;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            b.only = argv[++i];
        else if (strcmp(argv[i], "--validate-only") == 0)
            b.validate_only = true;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            b.max_reps = atoi(argv[++i]);
        else
            return usage();
    }
    if (b.max_reps < 1 || b.max_reps > 64)
        return usage();
    bool skipped;
    b.g = gb_open(device, &skipped);
    if (!b.g)
        return skipped ? 0 : 1;
    const gb_peak *peak = gb_peak_find(b.g);
    printf("wanrt GPU kernel bench on %s; peak table: %s\n", wr_gpu_name(b.g), peak ? peak->label : "n/a");
    if (wr_gpu_get_kind(b.g) == WR_GPU_CUDA) {
        if (wr_cublaslt_open(b.g, 0, &b.lt) != WR_OK)
            printf("cuBLASLt unavailable, its columns print '-': %s\n", wr_last_error());
        else
            printf("reference: %s\n", wr_cublaslt_version(b.lt));
    } else if (!b.validate_only && !b.quick) {
        printf("emulator: timings at the Wan shapes would take days; validating only (--quick times tiny shapes)\n");
        b.validate_only = true;
    }
    validate(&b);
    if (!b.validate_only)
        time_all(&b);
    int rc = b.failures ? 1 : 0;
    if (b.failures)
        printf("%d validation checks FAILED: those versions were not timed\n", b.failures);
    wr_cublaslt_close(b.lt);
    wr_gpu_close(b.g);
    return rc;
}
