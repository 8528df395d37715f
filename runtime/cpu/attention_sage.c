/* CPU twin of kernels/attention_sage.cu (see attention_sage.h). The math is
 * torch.nn.functional.scaled_dot_product_attention with q and k quantised as SageAttention's
 * per_block_int8 (smooth_k = True) and P·V in fp16 with fp32 accumulation (sageattn_qk_int8_pv_fp16):
 * one query row at a time, keys in tiles of SAGE_K_ROWS with the online softmax, the row sum
 * kept as the kernel's four per-lane partials and P·V summed per 16 keys as its mma does (the fp8
 * variant, sageattn_qk_int8_pv_fp8 with smooth_v: per 32 keys in the mma's slot order, into a
 * per-tile accumulator). */
#include "runtime/cpu/attention_sage.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "kernels/sage_layout.h"
#include "runtime/err.h"
#include "runtime/numeric.h"
#include "runtime/threadpool.h"

void cpu_sage_k_mean(const float *k, float *mean, int B, int Tk, int NH, int HD)
{
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int d = 0; d < HD; d++) {
                float s = 0.0f;
                for (int j0 = 0; j0 < Tk; j0 += SAGE_SUM_CHUNK) { /* the kernels' chunk sums, in order */
                    float part = 0.0f;
                    for (int j = j0; j < Tk && j < j0 + SAGE_SUM_CHUNK; j++)
                        part += k[(((size_t)b * Tk + j) * NH + h) * HD + d];
                    s += part;
                }
                mean[((size_t)b * NH + h) * HD + d] = s / (float)Tk;
            }
}

void cpu_sage_quant_i8(const float *x, const float *mean, int8_t *x8, float *scales, int B, int T, int NH, int HD,
                       int rows, float extra)
{
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *mu = mean ? mean + ((size_t)b * NH + h) * HD : NULL;
            for (int t0 = 0; t0 < T; t0 += rows) {
                int n = rows < T - t0 ? rows : T - t0;
                float amax = 0.0f;
                for (int r = 0; r < n; r++)
                    for (int d = 0; d < HD; d++)
                        amax = fmaxf(amax, fabsf(x[(((size_t)b * T + t0 + r) * NH + h) * HD + d] - (mu ? mu[d] : 0.0f)));
                float mul = sage_code_mul(amax);
                for (int r = 0; r < n; r++)
                    for (int d = 0; d < HD; d++) {
                        size_t at = (((size_t)b * T + t0 + r) * NH + h) * HD + (size_t)d;
                        x8[at] = (int8_t)sage_code(x[at] - (mu ? mu[d] : 0.0f), mul);
                    }
                scales[sage_scale_index(b, h, t0, NH, T, rows)] = sage_stored_scale(amax, extra);
            }
        }
}

void cpu_sage_quant_v_f8(const float *v, const float *mean, uint8_t *v8, float *vscale, int B, int Tk, int NH,
                         int HD)
{
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int d = 0; d < HD; d++) {
                float amax = 0.0f, mu = mean[((size_t)b * NH + h) * HD + d];
                for (int j = 0; j < Tk; j++)
                    amax = fmaxf(amax, fabsf(v[(((size_t)b * Tk + j) * NH + h) * HD + d] - mu));
                float mul = sage_v_code_mul(amax);
                for (int j = 0; j < Tk; j++) {
                    size_t at = (((size_t)b * Tk + j) * NH + h) * HD + (size_t)d;
                    v8[at] = wr_f32_to_f8e4m3((v[at] - mu) * mul);
                }
                vscale[((size_t)b * NH + h) * HD + d] = sage_v_stored_scale(amax);
            }
}

typedef struct sage_ctx {
    const int8_t *q8, *k8;
    const float *qs, *ks;
    const float *vr;     /* V as the P·V mma sees it: fp16-rounded v, or decoded e4m3 codes (f8) */
    bool f8;             /* P·V in e4m3 (P · 448, 32-key slot order, per-tile accumulator) */
    const float *vscale; /* f8: per-channel scales */
    const float *vmean;  /* f8: V's channel means, added to the output */
    float *o;
    int B, Tq, Tk, NH, HD;
    int key_of_slot[32]; /* f8: the key (0..31) in k slot s of a 32-key chunk (inverse of sage_f8_slot) */
    float *scratch;      /* per thread: 2 SAGE_K_ROWS probabilities + 3 HD accumulators */
} sage_ctx;

#define SAGE_SCRATCH(HD) ((size_t)(2 * SAGE_K_ROWS + 3 * (HD)))

static void sage_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    const sage_ctx *c = vc;
    int HD = c->HD, NH = c->NH, Tq = c->Tq, Tk = c->Tk;
    float *p = c->scratch + (size_t)thread * SAGE_SCRATCH(HD), *pr = p + SAGE_K_ROWS, *acc = pr + SAGE_K_ROWS;
    float *tile = acc + HD, *step = tile + HD;
    for (int64_t item = begin; item < end; item++) { /* item = (b * NH + h) * Tq + row */
        int row = (int)(item % Tq), h = (int)(item / Tq % NH), b = (int)(item / Tq / NH);
        const int8_t *qr = c->q8 + (((size_t)b * Tq + row) * NH + h) * HD;
        float qsc = c->qs[sage_scale_index(b, h, row, NH, Tq, SAGE_Q_ROWS)];
        float m = -INFINITY, l[4] = {0, 0, 0, 0}; /* the kernel's lanes t = 0..3 of the row */
        for (int d = 0; d < HD; d++)
            acc[d] = 0.0f;
        for (int j0 = 0; j0 < Tk; j0 += SAGE_K_ROWS) {
            float sc = qsc * c->ks[sage_scale_index(b, h, j0, NH, Tk, SAGE_K_ROWS)];
            float mx = -INFINITY;
            for (int j = 0; j < SAGE_K_ROWS; j++) {
                if (j0 + j >= Tk) {
                    p[j] = -INFINITY;
                    continue;
                }
                const int8_t *kr = c->k8 + (((size_t)b * Tk + j0 + j) * NH + h) * HD;
                int32_t si = 0;
                for (int d = 0; d < HD; d++)
                    si += (int32_t)qr[d] * (int32_t)kr[d];
                p[j] = (float)si * sc;
                mx = fmaxf(mx, p[j]);
            }
            float m_new = fmaxf(m, mx);
            float corr = exp2f(m - m_new);
            m = m_new;
            for (int t = 0; t < 4; t++)
                l[t] *= corr;
            for (int j = 0; j < SAGE_K_ROWS; j++) {
                p[j] = exp2f(p[j] - m); /* 0 for masked keys */
                l[(j % 8) / 2] += p[j];  /* key j of the tile sits in lane t = (j % 8) / 2 */
                pr[j] = c->f8 ? wr_f8e4m3_to_f32(wr_f32_to_f8e4m3(p[j] * SAGE_F8_MAX))
                              : wr_f16_to_f32(wr_f32_to_f16(p[j]));
            }
            for (int d = 0; d < HD; d++)
                acc[d] *= corr;
            /* one mma k step (16 keys fp16, 32 keys e4m3 in slot order): products summed in
             * increasing k from 0, then + C. Masked keys add exact zeros and are skipped. */
            int kstep = c->f8 ? 32 : 16;
            for (int d = 0; d < HD; d++)
                tile[d] = 0.0f;
            for (int js = 0; js < SAGE_K_ROWS; js += kstep) {
                for (int d = 0; d < HD; d++)
                    step[d] = 0.0f;
                for (int k = 0; k < kstep; k++) {
                    int j = js + (c->f8 ? c->key_of_slot[k] : k);
                    if (j0 + j >= Tk)
                        continue;
                    const float *vrow = c->vr + (((size_t)b * Tk + j0 + j) * NH + h) * HD;
                    for (int d = 0; d < HD; d++)
                        step[d] += pr[j] * vrow[d];
                }
                float *into = c->f8 ? tile : acc; /* f8: the per-tile accumulator, added below */
                for (int d = 0; d < HD; d++)
                    into[d] = step[d] + into[d];
            }
            if (c->f8)
                for (int d = 0; d < HD; d++)
                    acc[d] = acc[d] + tile[d];
        }
        float lsum = (l[0] + l[1]) + (l[2] + l[3]);
        float *orow = c->o + (((size_t)b * Tq + row) * NH + h) * HD;
        for (int d = 0; d < HD; d++) {
            orow[d] = acc[d] / lsum;
            if (c->f8)
                orow[d] = orow[d] * (c->vscale[((size_t)b * NH + h) * HD + d] / SAGE_F8_MAX) +
                          c->vmean[((size_t)b * NH + h) * HD + d];
        }
    }
}

static void sage_run_rows(sage_ctx *c, float *vr)
{
    c->vr = vr;
    for (int j = 0; j < 32; j++)
        c->key_of_slot[sage_f8_slot(j)] = j;
    c->scratch = malloc((size_t)wr_threads_count() * SAGE_SCRATCH(c->HD) * sizeof(float));
    WR_ASSERT(c->scratch, "sage attention: out of memory");
    wr_parallel_for((int64_t)c->B * c->NH * c->Tq, 4, sage_rows, c);
    free(c->scratch);
    free(vr);
}

void cpu_attn_qk_i8_pv_f16(const int8_t *q8, const float *qs, const int8_t *k8, const float *ks, const float *v,
                           float *o, int B, int Tq, int Tk, int NH, int HD)
{
    sage_ctx c = {.q8 = q8, .k8 = k8, .qs = qs, .ks = ks, .o = o, .B = B, .Tq = Tq, .Tk = Tk, .NH = NH, .HD = HD};
    size_t n = (size_t)B * Tk * NH * HD;
    float *vr = malloc(n * sizeof(float));
    WR_ASSERT(vr, "sage attention: out of memory");
    for (size_t i = 0; i < n; i++)
        vr[i] = wr_f16_to_f32(wr_f32_to_f16(v[i]));
    sage_run_rows(&c, vr);
}

void cpu_attn_qk_i8_pv_f8(const int8_t *q8, const float *qs, const int8_t *k8, const float *ks, const uint8_t *v8,
                          const float *vscale, const float *vmean, float *o, int B, int Tq, int Tk, int NH, int HD)
{
    sage_ctx c = {.q8 = q8, .k8 = k8, .qs = qs, .ks = ks, .f8 = true, .vscale = vscale, .vmean = vmean, .o = o,
                  .B = B, .Tq = Tq, .Tk = Tk, .NH = NH, .HD = HD};
    size_t n = (size_t)B * Tk * NH * HD;
    float *vr = malloc(n * sizeof(float));
    WR_ASSERT(vr, "sage attention: out of memory");
    for (size_t i = 0; i < n; i++)
        vr[i] = wr_f8e4m3_to_f32(v8[i]);
    sage_run_rows(&c, vr);
}

void cpu_attention_sage(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len, float scale,
                        wr_tensor *out)
{
    int HD = (int)q->ne[0], NH = (int)q->ne[1], Tq = (int)q->ne[2], Tk = (int)kv_len;
    WR_ASSERT(HD % 32 == 0, "sage attention: head dim %d is not a multiple of 32", HD);
    size_t nq = (size_t)HD * NH * Tq, nk = (size_t)HD * NH * Tk;
    int8_t *q8 = malloc(nq), *k8 = malloc(nk);
    float *qs = malloc((size_t)sage_scale_count(1, NH, Tq, SAGE_Q_ROWS) * sizeof(float));
    float *ks = malloc((size_t)sage_scale_count(1, NH, Tk, SAGE_K_ROWS) * sizeof(float));
    float *mean = malloc((size_t)NH * HD * sizeof(float));
    WR_ASSERT(q8 && k8 && qs && ks && mean, "sage attention: out of memory");
    cpu_sage_k_mean(k->data, mean, 1, Tk, NH, HD);
    cpu_sage_quant_i8(q->data, NULL, q8, qs, 1, Tq, NH, HD, SAGE_Q_ROWS, scale * SAGE_LOG2E);
    cpu_sage_quant_i8(k->data, mean, k8, ks, 1, Tk, NH, HD, SAGE_K_ROWS, 1.0f);
    cpu_attn_qk_i8_pv_f16(q8, qs, k8, ks, v->data, out->data, 1, Tq, Tk, NH, HD);
    free(q8), free(k8), free(qs), free(ks), free(mean);
}
