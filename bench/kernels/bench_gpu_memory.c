/* The memory-bound GPU ops of a Wan 2.2 block at its activation shapes (issue #7), in GB/s
 * against the device's DRAM bandwidth (gpu_bench.h): each op validated against its CPU twin at
 * small shapes first (every spec it uses, rows that are not block multiples, B = 2), then timed
 * with device events.
 *
 *   build/release/bench/kernels/bench_gpu_memory [--device cuda|emu] [--quick] [--only NAME]
 *                                                [--validate-only] [--reps N]
 * Without a CUDA device it prints "no CUDA device: GPU kernel benchmarks skipped" and exits 0.
 *
 * Ops (x [T][C] f32 activations, C = 5120, T = 32,760 / 75,600 tokens; bytes = the DRAM traffic a
 * perfect kernel needs: every input read once, every output written once):
 *   norm_layer_mod   LayerNorm (no affine) + modulation rows per batch (norm1/norm2 + adaLN)
 *                    wr_gpu_norm: 2 T C 4 + 2 C 4 bytes
 *   norm_rms_affine  RMSNorm with weight (the q/k norms): 2 T C 4 + C 4
 *   modulate         y = x (1 + scale) + shift, all [T][C] (wr_gpu_modulate): 4 T C 4
 *   rope             Wan RoPE in place on [T][40][128] with [T][64] cos/sin tables: 2 T C 4 + 2 T 64 4
 *   gated_add        x += r · gate, gate [C] (wr_gpu_gated_add): 3 T C 4 + C 4
 * Twins (bounds as tests/gpu/test_ops.c): cpu_layer_norm + cpu_modulate, cpu_rms_norm (nmse 1e-11:
 * fp32 statistics over a row), cpu_modulate, cpu_add_gated, and RoPE as the loop kernels/rope.cu
 * documents (1e-12: a few fp32 roundings per element). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/kernels/gpu_bench.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/gpu/gpu_ops.h"

typedef enum mop { M_NORM_MOD, M_RMS, M_MODULATE, M_ROPE, M_GATED, M_COUNT } mop;
static const char *const mop_name[M_COUNT] = {"norm_layer_mod", "norm_rms_affine", "modulate", "rope", "gated_add"};

#define HD 128
#define EPS 1e-6f

typedef struct mbench {
    wr_gpu *g;
    const char *only;
    bool quick, validate_only;
    int max_reps;
    bool ok[M_COUNT];
    int checks, failures;
} mbench;

/* One op's operands (device or host pointers alike): x [B][T][C], y like x, r like x (gated_add's
 * residual, modulate's scale), s like x (modulate's shift), mod [2][B][C] (shift rows, then scale rows),
 * w [C], cs/sn [T][HD/2]. */
typedef struct operands {
    float *x, *y, *r, *s, *mod, *w, *cs, *sn;
} operands;

typedef struct op_ctx {
    wr_gpu *g;
    mop op;
    int64_t B, T, C;
    operands d; /* device */
} op_ctx;

static float *fbuf(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static wr_tensor tensor(void *data, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3)
{
    int64_t ne[4] = {ne0, ne1, ne2, ne3};
    wr_tensor t;
    if (!wr_tensor_init(&t, WR_DTYPE_F32, n_dims, ne, data)) {
        fprintf(stderr, "error: bad bench shape\n");
        exit(1);
    }
    return t;
}

/* Runs the op on the device operands. */
static wr_status run_op(void *p)
{
    op_ctx *c = p;
    int64_t B = c->B, T = c->T, C = c->C;
    wr_tensor x = tensor(c->d.x, 3, C, T, B, 1), y = tensor(c->d.y, 3, C, T, B, 1);
    switch (c->op) {
    case M_NORM_MOD: { /* one shift and one scale row per batch (contiguous [B][C] each) */
        wr_tensor sh = tensor(c->d.mod, 2, C, B, 1, 1), sc = tensor(c->d.mod + B * C, 2, C, B, 1, 1);
        wr_gpu_norm_args a = {.kind = WR_GPU_NORM_LAYER, .eps = EPS, .shift = &sh, .scale = &sc, .mod_div = T};
        return wr_gpu_norm(c->g, &a, &x, &y, NULL);
    }
    case M_RMS: {
        wr_tensor w = tensor(c->d.w, 1, C, 1, 1, 1);
        wr_gpu_norm_args a = {.kind = WR_GPU_NORM_RMS, .eps = EPS, .weight = &w};
        return wr_gpu_norm(c->g, &a, &x, &y, NULL);
    }
    case M_MODULATE: {
        wr_tensor sc = tensor(c->d.r, 3, C, T, B, 1), sh = tensor(c->d.s, 3, C, T, B, 1);
        return wr_gpu_modulate(c->g, &x, &sh, &sc, &y, NULL);
    }
    case M_ROPE: {
        wr_tensor xr = tensor(c->d.x, 4, HD, C / HD, T, B);
        wr_tensor cs = tensor(c->d.cs, 2, HD / 2, T, 1, 1), sn = tensor(c->d.sn, 2, HD / 2, T, 1, 1);
        return wr_gpu_rope(c->g, &xr, &cs, &sn, &xr, NULL);
    }
    case M_GATED: {
        wr_tensor r = tensor(c->d.r, 3, C, T, B, 1), gate = tensor(c->d.w, 1, C, 1, 1, 1);
        return wr_gpu_gated_add(c->g, &x, &r, &gate, NULL);
    }
    default:
        return WR_E_ARG;
    }
}

static double op_bytes(mop op, int64_t B, int64_t T, int64_t C)
{
    double n = (double)(B * T * C) * 4.0, row = (double)C * 4.0;
    switch (op) {
    case M_NORM_MOD:
        return 2.0 * n + 2.0 * (double)B * row;
    case M_RMS:
        return 2.0 * n + row;
    case M_MODULATE:
        return 4.0 * n;
    case M_ROPE:
        return 2.0 * n + 2.0 * (double)(T * HD / 2) * 4.0;
    case M_GATED:
        return 3.0 * n + row;
    default:
        return 0.0;
    }
}

/* ---- validation ------------------------------------------------------------------------------- */

/* The CPU twin on host operands h; the result lands in h->y (h->x for the in-place ops). */
static void twin(mop op, int64_t B, int64_t T, int64_t C, operands *h)
{
    wr_tensor x = tensor(h->x, 2, C, B * T, 1, 1), y = tensor(h->y, 2, C, B * T, 1, 1);
    switch (op) {
    case M_NORM_MOD:
        cpu_layer_norm(&x, NULL, NULL, EPS, &y);
        for (int64_t b = 0; b < B; b++) { /* the batch's rows against its modulation row (stride 0) */
            wr_tensor yb = tensor(h->y + b * T * C, 2, C, T, 1, 1);
            wr_tensor sh = tensor(h->mod + b * C, 2, C, T, 1, 1), sc = tensor(h->mod + (B + b) * C, 2, C, T, 1, 1);
            sh.nb[1] = sc.nb[1] = 0;
            cpu_modulate(&yb, &sh, &sc, &yb);
        }
        return;
    case M_RMS: {
        wr_tensor w = tensor(h->w, 1, C, 1, 1, 1);
        cpu_rms_norm(&x, &w, EPS, &y);
        return;
    }
    case M_MODULATE: {
        wr_tensor sc = tensor(h->r, 2, C, B * T, 1, 1), sh = tensor(h->s, 2, C, B * T, 1, 1);
        cpu_modulate(&x, &sh, &sc, &y);
        return;
    }
    case M_ROPE: /* kernels/rope.cu: pairs (x[2i], x[2i+1]) times (cos, sin) of the token */
        for (int64_t row = 0; row < B * T * (C / HD); row++) {
            int64_t t = row / (C / HD) % T;
            float *v = h->x + row * HD;
            for (int i = 0; i < HD / 2; i++) {
                float c = h->cs[t * HD / 2 + i], s = h->sn[t * HD / 2 + i], x0 = v[2 * i], x1 = v[2 * i + 1];
                v[2 * i] = x0 * c - x1 * s, v[2 * i + 1] = x0 * s + x1 * c;
            }
        }
        return;
    case M_GATED: {
        wr_tensor r = tensor(h->r, 2, C, B * T, 1, 1), gate = tensor(h->w, 2, C, B * T, 1, 1);
        gate.nb[1] = 0;
        cpu_add_gated(&x, &r, &gate);
        return;
    }
    default:
        return;
    }
}

static void check_op(mbench *mb, mop op, int64_t B, int64_t T, int64_t C, uint64_t seed)
{
    wr_gpu *g = mb->g;
    int64_t n = B * T * C;
    operands h = {fbuf(n), fbuf(n), fbuf(n), fbuf(n), fbuf(2 * B * C), fbuf(C), fbuf(T * HD / 2), fbuf(T * HD / 2)};
    gb_fill(h.x, n, -2.0f, 3.0f, seed), gb_fill(h.r, n, -1.0f, 1.0f, seed + 1), gb_fill(h.s, n, -1.0f, 1.0f, seed + 2);
    gb_fill(h.mod, 2 * B * C, -0.5f, 0.5f, seed + 3), gb_fill(h.w, C, 0.5f, 1.5f, seed + 4);
    for (int64_t i = 0; i < T * HD / 2; i++) { /* angles of a real RoPE table: cos² + sin² = 1 */
        double a = 0.001 * (double)i * (double)(i % 7 + 1);
        h.cs[i] = (float)cos(a), h.sn[i] = (float)sin(a);
    }
    op_ctx c = {.g = g, .op = op, .B = B, .T = T, .C = C};
    float **hp[8] = {&h.x, &h.y, &h.r, &h.s, &h.mod, &h.w, &h.cs, &h.sn}, **dp[8] = {&c.d.x, &c.d.y, &c.d.r, &c.d.s,
                                                                                    &c.d.mod, &c.d.w, &c.d.cs, &c.d.sn};
    int64_t sizes[8] = {n, n, n, n, 2 * B * C, C, T * HD / 2, T * HD / 2};
    for (int i = 0; i < 8; i++)
        *dp[i] = gb_upload(g, *hp[i], (size_t)sizes[i] * 4);
    gb_check(run_op(&c), mop_name[op]);
    bool in_place = op == M_ROPE || op == M_GATED;
    float *got = fbuf(n);
    gb_check(wr_gpu_copy_d2h(g, got, in_place ? c.d.x : c.d.y, (size_t)n * 4, NULL), "download");
    gb_check(wr_gpu_sync(g), "sync");
    twin(op, B, T, C, &h);
    double bound = op == M_NORM_MOD || op == M_RMS ? 1e-11 : 1e-12;
    int64_t nan_mismatch;
    double e = gb_nmse(got, in_place ? h.x : h.y, n, &nan_mismatch);
    bool ok = nan_mismatch == 0 && e <= bound;
    mb->checks++, mb->failures += !ok, mb->ok[op] &= ok;
    printf("  %-4s %-16s B=%lld T=%lld C=%-6lld nmse %.2e (bound %.0e)\n", ok ? "ok" : "FAIL", mop_name[op],
           (long long)B, (long long)T, (long long)C, e, bound);
    for (int i = 0; i < 8; i++)
        wr_gpu_free(g, *dp[i]), free(*hp[i]);
    free(got);
}

static bool selected(const mbench *mb, mop op) { return !mb->only || strstr(mop_name[op], mb->only); }

/* Rows that are not multiples of the 256-thread block, C of 5120 (Wan's dim) and a small odd
 * multiple of HD, B = 2 (norm modulation per batch, RoPE's grid y). */
static void validate(mbench *mb)
{
    static const int64_t shapes[][3] = {{1, 7, 5120}, {2, 37, 384}, {1, 3, 128}}; /* B, T, C */
    printf("validation against the CPU twins on %s:\n", wr_gpu_name(mb->g));
    for (int op = 0; op < M_COUNT; op++) {
        mb->ok[op] = true;
        for (int s = 0; selected(mb, (mop)op) && s < 3; s++)
            check_op(mb, (mop)op, shapes[s][0], shapes[s][1], shapes[s][2], (uint64_t)(op * 10 + s));
    }
    printf("validated: %d of %d checks passed\n", mb->checks - mb->failures, mb->checks);
}

/* ---- timing ----------------------------------------------------------------------------------- */

static void time_all(mbench *mb)
{
    wr_gpu *g = mb->g;
    bool emu = wr_gpu_get_kind(g) == WR_GPU_EMU;
    int64_t Ts_full[2] = {32760, 75600}, Ts_quick[1] = {4096}, Ts_tiny[1] = {64};
    const int64_t *Ts = !mb->quick ? Ts_full : emu ? Ts_tiny : Ts_quick;
    int nT = mb->quick ? 1 : 2;
    int64_t C = emu && mb->quick ? 256 : 5120, Tx = Ts[nT - 1], n = Tx * C;
    const gb_peak *peak = gb_peak_find(g);
    int64_t np = (int64_t)1 << 18;
    float *pat = fbuf(np);
    gb_fill(pat, np, -1.0f, 1.0f, 5);
    op_ctx c = {.g = g, .B = 1, .C = C};
    float **dp[8] = {&c.d.x, &c.d.y, &c.d.r, &c.d.s, &c.d.mod, &c.d.w, &c.d.cs, &c.d.sn};
    int64_t sizes[8] = {n, n, n, n, 2 * C, C, Tx * HD / 2, Tx * HD / 2};
    for (int i = 0; i < 8; i++) {
        *dp[i] = gb_alloc(g, (size_t)sizes[i] * 4);
        gb_fill_tiled(g, *dp[i], (size_t)sizes[i] * 4, pat, (size_t)np * 4);
    }
    free(pat);
    printf("\ntimings (median of up to %d calls after a warm-up call; bytes: each input read and output written "
           "once)\n",
           mb->max_reps);
    printf("%-16s %-18s %10s %9s %7s %4s\n", "op", "shape", "ms", "GB/s", "%peak", "reps");
    for (int op = 0; op < M_COUNT; op++)
        for (int ti = 0; ti < nT && selected(mb, (mop)op) && mb->ok[op]; ti++) {
            c.op = (mop)op, c.T = ti == 0 ? 16 : Ts[ti]; /* once at 16 tokens first: JIT */
            if (ti == 0) {
                gb_check(run_op(&c), mop_name[op]);
                c.T = Ts[ti];
            }
            gb_time t = gb_time_op(g, run_op, &c, 200.0, mb->max_reps, mop_name[op]);
            double gbps = op_bytes((mop)op, 1, c.T, C) / (t.median_ms * 1e-3) / 1e9;
            char shape[48], pct[16];
            snprintf(shape, sizeof shape, "T=%lld C=%lld", (long long)c.T, (long long)C);
            gb_pct(pct, sizeof pct, gbps, peak ? peak->tbps * 1e3 : 0.0);
            printf("%-16s %-18s %10.3f %9.1f %7s %4d\n", mop_name[op], shape, t.median_ms, gbps, pct, t.reps);
            fflush(stdout);
        }
    for (int i = 0; i < 8; i++)
        wr_gpu_free(g, *dp[i]);
}

/* ---- main ------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const char *device = "cuda";
    mbench mb = {.max_reps = 10};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else if (strcmp(argv[i], "--quick") == 0)
            mb.quick = true;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            mb.only = argv[++i];
        else if (strcmp(argv[i], "--validate-only") == 0)
            mb.validate_only = true;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            mb.max_reps = atoi(argv[++i]);
        else
            mb.max_reps = 0;
    }
    if (mb.max_reps < 1 || mb.max_reps > 64) {
        fprintf(stderr, "usage: bench_gpu_memory [--device cuda|emu] [--quick] [--only NAME] [--validate-only] "
                        "[--reps N]\n");
        return 2;
    }
    bool skipped;
    mb.g = gb_open(device, &skipped);
    if (!mb.g)
        return skipped ? 0 : 1;
    const gb_peak *peak = gb_peak_find(mb.g);
    printf("wanrt GPU memory-bound ops on %s; DRAM peak: ", wr_gpu_name(mb.g));
    if (peak)
        printf("%.2f TB/s (%s)\n", peak->tbps, peak->label);
    else
        printf("n/a\n");
    if (wr_gpu_get_kind(mb.g) == WR_GPU_EMU && !mb.quick && !mb.validate_only) {
        printf("emulator: validating only (--quick times tiny shapes)\n");
        mb.validate_only = true;
    }
    validate(&mb);
    if (!mb.validate_only)
        time_all(&mb);
    if (mb.failures)
        printf("%d validation checks FAILED: those ops were not timed\n", mb.failures);
    wr_gpu_close(mb.g);
    return mb.failures ? 1 : 0;
}
