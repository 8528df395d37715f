/* CPU twin of kernels/sage_prepare.cu (see sage_prepare.h). The math is Wan's self-attention
 * preparation (wan/modules/model.py WanSelfAttention: norm_q/norm_k = WanRMSNorm over the model
 * dim, then rope_apply) followed by SageAttention's per-block int8 quantisation with K smoothed
 * by its mean over tokens (taken after norm and RoPE); each value is reduced in the kernels'
 * order, so the work is split across threads only where the kernels split it (rows, chunks,
 * blocks), never inside one sum. */
#include "runtime/cpu/sage_prepare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/sage_prepare.h"
#include "runtime/cpu/attention_sage.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/err.h"
#include "runtime/threadpool.h"

/* What every part of the preparation reads: the raw rows, their 1/rms, the norm weight, the
 * angle table, the shape and the grid. */
typedef struct prep_ctx {
    const float *x, *inv, *w, *tab, *mean;
    float *out; /* rms_inv: inv; k_mean: the chunk sums [B][nc][D] */
    int8_t *x8;
    float *scales, extra, eps;
    int B, T, NH, D, rows, gf, gh, gw; /* D = NH · 128, the row length */
} prep_ctx;

/* __shfl_xor butterfly over one warp's 32 values: every lane ends with the same sum (each step
 * adds a lane's value to its partner's, and a + b == b + a exactly). */
static float warp_sum(const float *lanes)
{
    float v[32], nv[32];
    memcpy(v, lanes, sizeof v);
    for (int o = 16; o > 0; o >>= 1) {
        for (int i = 0; i < 32; i++)
            nv[i] = v[i] + v[i ^ o];
        memcpy(v, nv, sizeof v);
    }
    return v[0];
}

static void rms_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const prep_ctx *c = vc;
    int D = c->D;
    for (int64_t row = begin; row < end; row++) {
        const float *xr = c->x + (size_t)row * D;
        float part[SAGE_RMS_THREADS], red[32] = {0};
        for (int i = 0; i < SAGE_RMS_THREADS; i++) {
            float s = 0.0f;
            for (int col = i; col < D; col += SAGE_RMS_THREADS)
                s += xr[col] * xr[col];
            part[i] = s;
        }
        for (int w = 0; w < SAGE_RMS_THREADS / 32; w++)
            red[w] = warp_sum(part + 32 * w);
        c->out[row] = 1.0f / sqrtf(warp_sum(red) / (float)D + c->eps);
    }
}

void cpu_sage_prep_rms_inv(const float *x, float *inv, int B, int T, int D, float eps)
{
    prep_ctx c = {.x = x, .out = inv, .eps = eps, .D = D};
    wr_parallel_for((int64_t)B * T, 16, rms_rows, &c);
}

/* item = b · nc + chunk: the in-order sum of the chunk's tokens for every (h, d) */
static void k_chunk_sums(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const prep_ctx *c = vc;
    int D = c->NH * ROPE_WAN_HD, nc = sage_nblocks(c->T, SAGE_SUM_CHUNK);
    for (int64_t item = begin; item < end; item++) {
        int b = (int)(item / nc), j0 = (int)(item % nc) * SAGE_SUM_CHUNK;
        float *part = c->out + (size_t)item * D;
        for (int i = 0; i < D; i++)
            part[i] = 0.0f;
        for (int j = j0; j < c->T && j < j0 + SAGE_SUM_CHUNK; j++) {
            size_t tok = (size_t)b * c->T + j;
            for (int i = 0; i < D; i++)
                part[i] += sage_prep_value(c->x + tok * D, c->w, c->inv[tok], c->tab, j, i / ROPE_WAN_HD,
                                           i % ROPE_WAN_HD, c->gf, c->gh, c->gw);
        }
    }
}

void cpu_sage_prep_k_mean(const float *k, const float *inv, const float *w, const float *rope_tab, float *mean, int B,
                          int T, int NH, int gf, int gh, int gw)
{
    int D = NH * ROPE_WAN_HD, nc = sage_nblocks(T, SAGE_SUM_CHUNK);
    float *parts = malloc((size_t)B * nc * D * sizeof *parts);
    WR_ASSERT(parts, "sage prepare: out of memory");
    prep_ctx c = {.x = k, .inv = inv, .w = w, .tab = rope_tab, .out = parts, .B = B, .T = T, .NH = NH,
                  .gf = gf, .gh = gh, .gw = gw};
    wr_parallel_for((int64_t)B * nc, 1, k_chunk_sums, &c);
    for (int b = 0; b < B; b++) /* sage_k_mean: the chunk sums in order, / T */
        for (int i = 0; i < D; i++) {
            float s = 0.0f;
            for (int ch = 0; ch < nc; ch++)
                s += parts[((size_t)b * nc + ch) * D + i];
            mean[(size_t)b * D + i] = s / (float)T;
        }
    free(parts);
}

/* item = (b · NH + h) · nblocks + block: amax of the block's values, then their codes; the
 * values are computed twice, as the kernel does */
static void quant_blocks(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const prep_ctx *c = vc;
    const int HD = ROPE_WAN_HD, D = c->NH * HD, nb = sage_nblocks(c->T, c->rows);
    for (int64_t item = begin; item < end; item++) {
        int t0 = (int)(item % nb) * c->rows, h = (int)(item / nb % c->NH), b = (int)(item / nb / c->NH);
        int n = c->rows < c->T - t0 ? c->rows : c->T - t0;
        const float *mu = c->mean ? c->mean + ((size_t)b * c->NH + h) * HD : NULL;
        float amax = 0.0f;
        for (int pass = 0; pass < 2; pass++) {
            float mul = sage_code_mul(amax);
            for (int r = 0; r < n; r++)
                for (int d = 0; d < HD; d++) {
                    size_t tok = (size_t)b * c->T + t0 + r;
                    float v = sage_prep_value(c->x + tok * D, c->w, c->inv[tok], c->tab, t0 + r, h, d, c->gf, c->gh,
                                              c->gw) -
                              (mu ? mu[d] : 0.0f);
                    if (pass == 0)
                        amax = fmaxf(amax, fabsf(v));
                    else
                        c->x8[(tok * c->NH + h) * HD + d] = (int8_t)sage_code(v, mul);
                }
        }
        c->scales[sage_scale_index(b, h, t0, c->NH, c->T, c->rows)] = sage_stored_scale(amax, c->extra);
    }
}

void cpu_sage_prep_quant_i8(const float *x, const float *inv, const float *w, const float *rope_tab,
                            const float *mean, int8_t *x8, float *scales, int B, int T, int NH, int rows, float extra,
                            int gf, int gh, int gw)
{
    prep_ctx c = {.x = x, .inv = inv, .w = w, .tab = rope_tab, .mean = mean, .x8 = x8, .scales = scales,
                  .extra = extra, .B = B, .T = T, .NH = NH, .rows = rows, .gf = gf, .gh = gh, .gw = gw};
    wr_parallel_for((int64_t)B * NH * sage_nblocks(T, rows), 1, quant_blocks, &c);
}

void cpu_self_attention_sage_fused(const wr_tensor *q_raw, const wr_tensor *k_raw, const wr_tensor *v,
                                   const wr_tensor *norm_q, const wr_tensor *norm_k, float eps, int grid_f,
                                   int grid_h, int grid_w, float scale, wr_tensor *out)
{
    int NH = (int)q_raw->ne[1], T = (int)q_raw->ne[2], HD = ROPE_WAN_HD;
    size_t n = (size_t)HD * NH * T;
    int8_t *q8 = malloc(n), *k8 = malloc(n);
    float *qs = malloc((size_t)sage_scale_count(1, NH, T, SAGE_Q_ROWS) * sizeof(float));
    float *ks = malloc((size_t)sage_scale_count(1, NH, T, SAGE_K_ROWS) * sizeof(float));
    float *qinv = malloc((size_t)T * sizeof(float)), *kinv = malloc((size_t)T * sizeof(float));
    float *mean = malloc((size_t)NH * HD * sizeof(float));
    float *tab = malloc((size_t)(2 * rope_wan_table_pairs(grid_f, grid_h, grid_w) + 1) * sizeof(float));
    WR_ASSERT(q8 && k8 && qs && ks && qinv && kinv && mean && tab, "sage fused attention: out of memory");
    cpu_rope_wan_table(grid_f, grid_h, grid_w, tab);
    cpu_sage_prep_rms_inv(q_raw->data, qinv, 1, T, NH * HD, eps);
    cpu_sage_prep_rms_inv(k_raw->data, kinv, 1, T, NH * HD, eps);
    cpu_sage_prep_k_mean(k_raw->data, kinv, norm_k->data, tab, mean, 1, T, NH, grid_f, grid_h, grid_w);
    cpu_sage_prep_quant_i8(q_raw->data, qinv, norm_q->data, tab, NULL, q8, qs, 1, T, NH, SAGE_Q_ROWS,
                           scale * SAGE_LOG2E, grid_f, grid_h, grid_w);
    cpu_sage_prep_quant_i8(k_raw->data, kinv, norm_k->data, tab, mean, k8, ks, 1, T, NH, SAGE_K_ROWS, 1.0f, grid_f,
                           grid_h, grid_w);
    cpu_attn_qk_i8_pv_f16(q8, qs, k8, ks, v->data, out->data, 1, T, T, NH, HD);
    free(q8), free(k8), free(qs), free(ks), free(qinv), free(kinv), free(mean), free(tab);
}
