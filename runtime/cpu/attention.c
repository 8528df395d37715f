/* Softmax attention (the math of torch.nn.functional.scaled_dot_product_attention with a key
 * padding mask): per head and query, scores over the first kv_len keys, a max-subtracted
 * softmax accumulated in double, then the weighted sum of values. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/simd.h"
#include "runtime/threadpool.h"

typedef struct attn_ctx {
    const wr_tensor *q, *k, *v, *bias;
    const int32_t *key_mask;
    wr_tensor *out;
    int64_t kv_len, heads, hd;
    float scale;
    float *scratch; /* kv_len floats per thread */
    wr_dot_fn dot;
    wr_axpy_fn axpy;
} attn_ctx;

static void attn_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    const attn_ctx *c = vc;
    float *p = c->scratch + (size_t)thread * (size_t)c->kv_len;
    const float *q = c->q->data, *k = c->k->data, *v = c->v->data;
    float *out = c->out->data;
    int64_t hd = c->hd, stride = c->heads * hd;
    for (int64_t row = begin; row < end; row++) { /* row = query * heads + head */
        int64_t t = row / c->heads, h = row % c->heads;
        const float *qv = q + t * stride + h * hd;
        float mx = -INFINITY;
        const float *brow = c->bias ? (const float *)c->bias->data + (h * c->q->ne[2] + t) * c->kv_len : NULL;
        for (int64_t j = 0; j < c->kv_len; j++) {
            p[j] = c->dot(qv, k + j * stride + h * hd, hd) * c->scale;
            if (c->key_mask && !c->key_mask[j])
                p[j] += -FLT_MAX; /* the bias is masked_fill'ed with finfo.min, then added */
            else if (brow)
                p[j] += brow[j];
            if (p[j] > mx)
                mx = p[j];
        }
        double sum = 0;
        for (int64_t j = 0; j < c->kv_len; j++) {
            p[j] = expf(p[j] - mx);
            sum += (double)p[j];
        }
        float inv = (float)(1.0 / sum);
        float *o = out + t * stride + h * hd;
        for (int64_t d = 0; d < hd; d++)
            o[d] = 0;
        for (int64_t j = 0; j < c->kv_len; j++)
            c->axpy(p[j] * inv, v + j * stride + h * hd, o, hd);
    }
}

void cpu_attention(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len, float scale,
                   wr_tensor *out)
{
    attn_ctx c = {.q = q, .k = k, .v = v, .out = out, .kv_len = kv_len, .heads = q->ne[1],
                  .hd = q->ne[0], .scale = scale, .dot = wr_simd_dot(), .axpy = wr_simd_axpy()};
    c.scratch = malloc((size_t)wr_threads_count() * (size_t)kv_len * sizeof(float));
    WR_ASSERT(c.scratch, "attention: out of memory for scores");
    wr_parallel_for(q->ne[2] * c.heads, 4, attn_rows, &c);
    free(c.scratch);
}

void cpu_attention_bias(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, const wr_tensor *bias,
                        const int32_t *key_mask, float scale, wr_tensor *out)
{
    attn_ctx c = {.q = q, .k = k, .v = v, .bias = bias, .key_mask = key_mask, .out = out, .kv_len = k->ne[2],
                  .heads = q->ne[1], .hd = q->ne[0], .scale = scale, .dot = wr_simd_dot(), .axpy = wr_simd_axpy()};
    c.scratch = malloc((size_t)wr_threads_count() * (size_t)c.kv_len * sizeof(float));
    WR_ASSERT(c.scratch, "attention: out of memory for scores");
    wr_parallel_for(q->ne[2] * c.heads, 4, attn_rows, &c);
    free(c.scratch);
}
