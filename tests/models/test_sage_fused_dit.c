/* wr_op_self_attention_sage_fused on the golden DiT's block-0 self-attention (../shared/golden/
 * dit: the official Wan2.2 model in fp32, tiny config with dim 256 = 2 heads of 128, 48 tokens
 * on a 3 x 4 x 4 grid): q, k, v projected here from `inter.block0.self_attn.in` with the block's
 * weights, then the fused op (RMSNorm over dim + RoPE + Sage attention) on the CPU backend and on
 * the emulated GPU backend, against the official `inter.block0.self_attn.attn_out` — the op's
 * semantics (norm over all heads, grid (F, H/2, W/2), RoPE layout) pinned to the official code,
 * not to our own. The harness is checked first: the dense unfused sequence (rms_norm → rope_wan →
 * attention) reproduces the official attention to 7e-7 of max |ref|. Bound: max abs error <= 3 %
 * of max |ref| (2x the measured worst: 0.86-1.42 %, the same as the unfused sage sequence's, i.e.
 * the int8 quantisation error of these 48-token rows), cosine >= 0.9999 (measured >= 0.99995). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "runtime/gpu/backend_gpu.h"
#include "runtime/ops.h"
#include "tests/common/testutil.h"

#define FUSED_DIT_REL_TOL 3e-2
#define FUSED_DIT_COS 0.9999

static float *load(const wr_weightfile *wf, const char *name, int64_t want)
{
    int64_t n = 0;
    float *x = wr_test_load_f32(wf, name, &n);
    cr_assert_eq(n, want, "%s: %lld values, expected %lld", name, (long long)n, (long long)want);
    return x;
}

static wr_tensor tensor(float *data, int n_dims, int64_t a, int64_t b, int64_t c)
{
    wr_tensor t;
    int64_t ne[3] = {a, b, c};
    cr_assert(wr_tensor_init(&t, WR_DTYPE_F32, n_dims, ne, data));
    return t;
}

/* y[L, dim] = x · W[name]ᵀ + b[name] with block 0's self-attention projection `which`. */
static float *project(const wr_weightfile *wf, const char *which, const float *x, int64_t L, int64_t dim)
{
    char wn[96], bn[96];
    snprintf(wn, sizeof wn, "blocks.0.self_attn.%s.weight", which);
    snprintf(bn, sizeof bn, "blocks.0.self_attn.%s.bias", which);
    float *w = load(wf, wn, dim * dim), *b = load(wf, bn, dim), *y = malloc((size_t)(L * dim) * sizeof *y);
    wr_tensor tx = tensor((float *)x, 2, dim, L, 1), tw = tensor(w, 2, dim, dim, 1), tb = tensor(b, 1, dim, 1, 1);
    wr_tensor ty = tensor(y, 2, dim, L, 1);
    wr_op_matmul(&tx, &tw, &tb, WR_ACT_NONE, &ty);
    free(w), free(b);
    return y;
}

/* The unfused sequence of models/wan22/dit.c attention_block on copies of q and k. */
static void unfused(const float *q, const float *k, float *v, float *nq, float *nk, const int64_t *grid, int64_t L,
                    int64_t dim, wr_attention_mode mode, float *out)
{
    size_t bytes = (size_t)(L * dim) * sizeof(float);
    float *qc = malloc(bytes), *kc = malloc(bytes);
    memcpy(qc, q, bytes), memcpy(kc, k, bytes);
    wr_tensor rq = tensor(qc, 2, dim, L, 1), rk = tensor(kc, 2, dim, L, 1);
    wr_tensor tnq = tensor(nq, 1, dim, 1, 1), tnk = tensor(nk, 1, dim, 1, 1);
    wr_op_rms_norm(&rq, &tnq, 1e-6f, &rq);
    wr_op_rms_norm(&rk, &tnk, 1e-6f, &rk);
    wr_tensor tq = tensor(qc, 3, 128, dim / 128, L), tk = tensor(kc, 3, 128, dim / 128, L);
    wr_tensor tv = tensor(v, 3, 128, dim / 128, L), to = tensor(out, 3, 128, dim / 128, L);
    wr_op_rope_wan(&tq, (int)grid[0], (int)grid[1], (int)grid[2]);
    wr_op_rope_wan(&tk, (int)grid[0], (int)grid[1], (int)grid[2]);
    wr_attention_mode_set(mode);
    wr_op_attention(&tq, &tk, &tv, L, 1.0f / sqrtf(128.0f), &to);
    wr_attention_mode_set(WR_ATTENTION_DENSE);
    free(qc), free(kc);
}

Test(dit_sage_fused, block0_self_attention_vs_official, .timeout = 300)
{
    const char *variants[] = {"t2v", "i2v", "ti2v"};
    const wr_backend *gpu = wr_test_gpu_backend();
    for (int vi = 0; vi < 3; vi++) {
        char path[128];
        wr_weightfile wf, cs;
        snprintf(path, sizeof path, "golden/dit/dit_%s_weights.safetensors", variants[vi]);
        wr_test_open(&wf, wr_test_shared(path));
        snprintf(path, sizeof path, "golden/dit/dit_%s_case1.safetensors", variants[vi]);
        wr_test_open(&cs, wr_test_shared(path));
        const int64_t L = 48, dim = 256, NH = dim / 128;
        const wr_wtensor *gs = wr_weightfile_find(&cs, "input.grid_sizes");
        cr_assert(gs && gs->t.dtype == WR_DTYPE_I64 && wr_tensor_nelements(&gs->t) == 3);
        int64_t grid[3];
        memcpy(grid, gs->t.data, sizeof grid); /* stored misaligned: read via an aligned copy */
        cr_assert_eq(grid[0] * grid[1] * grid[2], L);
        float *x = load(&cs, "inter.block0.self_attn.in", L * dim), *ref = load(&cs, "inter.block0.self_attn.attn_out", L * dim);
        float *q = project(&wf, "q", x, L, dim), *k = project(&wf, "k", x, L, dim), *v = project(&wf, "v", x, L, dim);
        float *nq = load(&wf, "blocks.0.self_attn.norm_q.weight", dim), *nk = load(&wf, "blocks.0.self_attn.norm_k.weight", dim);
        float *out = malloc((size_t)(L * dim) * sizeof *out);
        wr_tensor tq = tensor(q, 3, 128, NH, L), tk = tensor(k, 3, 128, NH, L), tv = tensor(v, 3, 128, NH, L);
        wr_tensor to = tensor(out, 3, 128, NH, L), tnq = tensor(nq, 1, dim, 1, 1), tnk = tensor(nk, 1, dim, 1, 1);
        /* the harness itself: the dense unfused sequence reproduces the official attention */
        unfused(q, k, v, nq, nk, grid, L, dim, WR_ATTENTION_DENSE, out);
        wr_test_err ed = wr_test_compare(out, ref, L * dim);
        cr_assert_leq(ed.rel_to_max, 5e-6, "%s: dense unfused rel to max %g", variants[vi], ed.rel_to_max);
        unfused(q, k, v, nq, nk, grid, L, dim, WR_ATTENTION_SAGE, out);
        wr_test_err es = wr_test_compare(out, ref, L * dim);
        fprintf(stderr, "dit %s block0 self-attention vs official fp32: dense %.3g, unfused sage %.3g (rel to max)\n",
                variants[vi], ed.rel_to_max, es.rel_to_max);
        const wr_backend *backends[2] = {&wr_backend_cpu, gpu};
        for (int bi = 0; bi < 2; bi++) {
            wr_backend_select(backends[bi]);
            wr_op_self_attention_sage_fused(&tq, &tk, &tv, &tnq, &tnk, 1e-6f, (int)grid[0], (int)grid[1], (int)grid[2],
                                            1.0f / sqrtf(128.0f), &to);
            wr_backend_select(&wr_backend_cpu);
            wr_test_err e = wr_test_compare(out, ref, L * dim);
            double dot = 0, oo = 0, rr = 0;
            for (int64_t i = 0; i < L * dim; i++) {
                double o = out[i], r = ref[i];
                dot += o * r, oo += o * o, rr += r * r;
            }
            double cosine = dot / sqrt(oo * rr);
            fprintf(stderr, "dit %s block0 fused sage self-attention (%s backend) vs official fp32: rel-to-max %.3g, cos %.7f\n",
                    variants[vi], backends[bi]->name, e.rel_to_max, cosine);
            cr_expect_eq(e.nan_mismatch, 0);
            cr_expect_leq(e.rel_to_max, FUSED_DIT_REL_TOL, "%s (%s): max abs err %g, rel to max %g", variants[vi],
                          backends[bi]->name, e.max_abs, e.rel_to_max);
            cr_expect_geq(cosine, FUSED_DIT_COS, "%s (%s): cosine %.7f", variants[vi], backends[bi]->name, cosine);
        }
        free(x), free(ref), free(q), free(k), free(v), free(nq), free(nk), free(out);
        wr_weightfile_close(&wf);
        wr_weightfile_close(&cs);
    }
    wr_backend_gpu_close();
}
