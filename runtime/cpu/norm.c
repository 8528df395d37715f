/* Row normalisations (torch.nn.LayerNorm, WanRMSNorm / T5LayerNorm) and the AdaLN modulation.
 * Statistics accumulate in double: the result is then as close to the exact value as a float
 * can be, which keeps us within the references' own float32 error. */
#include <math.h>

#include "runtime/cpu/cpu_ops.h"
#include "runtime/threadpool.h"

typedef struct norm_ctx {
    const wr_tensor *x, *w, *b;
    float eps;
    wr_tensor *y;
} norm_ctx;

static void layer_norm_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const norm_ctx *c = vc;
    int64_t d = c->x->ne[0];
    const float *w = c->w ? c->w->data : NULL, *b = c->b ? c->b->data : NULL;
    for (int64_t r = begin; r < end; r++) {
        const float *x = wr_tensor_row(c->x, r);
        float *y = wr_tensor_row(c->y, r);
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < d; i++)
            sum += (double)x[i];
        double mean = sum / (double)d;
        for (int64_t i = 0; i < d; i++)
            sq += ((double)x[i] - mean) * ((double)x[i] - mean);
        double inv = 1.0 / sqrt(sq / (double)d + (double)c->eps);
        for (int64_t i = 0; i < d; i++) {
            float v = (float)(((double)x[i] - mean) * inv);
            y[i] = w ? v * w[i] + b[i] : v;
        }
    }
}

void cpu_layer_norm(const wr_tensor *x, const wr_tensor *w, const wr_tensor *b, float eps, wr_tensor *y)
{
    norm_ctx c = {x, w, b, eps, y};
    wr_parallel_for(wr_tensor_nrows(x), 16, layer_norm_rows, &c);
}

static void rms_norm_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const norm_ctx *c = vc;
    int64_t d = c->x->ne[0];
    const float *w = c->w->data;
    for (int64_t r = begin; r < end; r++) {
        const float *x = wr_tensor_row(c->x, r);
        float *y = wr_tensor_row(c->y, r);
        double sq = 0;
        for (int64_t i = 0; i < d; i++)
            sq += (double)x[i] * (double)x[i];
        float inv = (float)(1.0 / sqrt(sq / (double)d + (double)c->eps));
        for (int64_t i = 0; i < d; i++)
            y[i] = x[i] * inv * w[i];
    }
}

void cpu_rms_norm(const wr_tensor *x, const wr_tensor *w, float eps, wr_tensor *y)
{
    norm_ctx c = {x, w, NULL, eps, y};
    wr_parallel_for(wr_tensor_nrows(x), 16, rms_norm_rows, &c);
}
