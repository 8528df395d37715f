/* CPU twin of kernels/sage_prepare.cu (see sage_prepare.h). The math is Wan's self-attention
 * preparation (wan/modules/model.py WanSelfAttention: norm_q/norm_k = WanRMSNorm over the model
 * dim, then rope_apply) followed by SageAttention's per-block int8 quantisation with K smoothed
 * by its mean over tokens (taken after norm and RoPE); the reductions follow the kernels' order. */
#include "runtime/cpu/sage_prepare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/sage_prepare.h"
#include "runtime/cpu/attention_sage.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/err.h"

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

void cpu_sage_prep_rms_inv(const float *x, float *inv, int B, int T, int D, float eps)
{
    for (size_t row = 0; row < (size_t)B * T; row++) {
        const float *xr = x + row * D;
        float part[SAGE_RMS_THREADS], red[32] = {0};
        for (int i = 0; i < SAGE_RMS_THREADS; i++) {
            float s = 0.0f;
            for (int c = i; c < D; c += SAGE_RMS_THREADS)
                s += xr[c] * xr[c];
            part[i] = s;
        }
        for (int w = 0; w < SAGE_RMS_THREADS / 32; w++)
            red[w] = warp_sum(part + 32 * w);
        inv[row] = 1.0f / sqrtf(warp_sum(red) / (float)D + eps);
    }
}

void cpu_sage_prep_k_mean(const float *k, const float *inv, const float *w, const float *rope_tab, float *mean, int B,
                          int T, int NH, int gf, int gh, int gw)
{
    const int HD = ROPE_WAN_HD, D = NH * HD;
    float *sum = malloc((size_t)D * sizeof *sum), *part = malloc((size_t)D * sizeof *part);
    WR_ASSERT(sum && part, "sage prepare: out of memory");
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < D; i++)
            sum[i] = 0.0f;
        for (int j0 = 0; j0 < T; j0 += SAGE_SUM_CHUNK) { /* per element: the kernels' chunk sums, in order */
            for (int i = 0; i < D; i++)
                part[i] = 0.0f;
            for (int j = j0; j < T && j < j0 + SAGE_SUM_CHUNK; j++) {
                size_t tok = (size_t)b * T + j;
                for (int i = 0; i < D; i++)
                    part[i] += sage_prep_value(k + tok * D, w, inv[tok], rope_tab, j, i / HD, i % HD, gf, gh, gw);
            }
            for (int i = 0; i < D; i++)
                sum[i] += part[i];
        }
        for (int i = 0; i < D; i++)
            mean[(size_t)b * D + i] = sum[i] / (float)T;
    }
    free(sum), free(part);
}

void cpu_sage_prep_quant_i8(const float *x, const float *inv, const float *w, const float *rope_tab,
                            const float *mean, int8_t *x8, float *scales, int B, int T, int NH, int rows, float extra,
                            int gf, int gh, int gw)
{
    const int HD = ROPE_WAN_HD;
    float *val = malloc((size_t)rows * HD * sizeof *val);
    WR_ASSERT(val, "sage prepare: out of memory");
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *mu = mean ? mean + ((size_t)b * NH + h) * HD : NULL;
            for (int t0 = 0; t0 < T; t0 += rows) {
                int n = rows < T - t0 ? rows : T - t0;
                float amax = 0.0f;
                for (int r = 0; r < n; r++)
                    for (int d = 0; d < HD; d++) {
                        size_t tok = (size_t)b * T + t0 + r;
                        float v = sage_prep_value(x + tok * NH * HD, w, inv[tok], rope_tab, t0 + r, h, d, gf, gh, gw);
                        val[r * HD + d] = v - (mu ? mu[d] : 0.0f);
                        amax = fmaxf(amax, fabsf(val[r * HD + d]));
                    }
                float mul = sage_code_mul(amax);
                for (int r = 0; r < n; r++)
                    for (int d = 0; d < HD; d++)
                        x8[(((size_t)b * T + t0 + r) * NH + h) * HD + d] = (int8_t)sage_code(val[r * HD + d], mul);
                scales[sage_scale_index(b, h, t0, NH, T, rows)] = sage_stored_scale(amax, extra);
            }
        }
    free(val);
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
