/* Elementwise ops: modulation, gated residual, broadcast add, activations. */
#include <math.h>

#include "runtime/cpu/cpu_ops.h"
#include "runtime/threadpool.h"

float cpu_gelu_tanh(float x)
{
    /* torch: 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))) */
    const float k = 0.7978845608028654f;
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

float cpu_silu(float x) { return x / (1.0f + expf(-x)); }

typedef struct ew_ctx {
    const wr_tensor *a, *b, *c;
    wr_tensor *out;
    wr_act act;
} ew_ctx;

static void modulate_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const ew_ctx *c = vc;
    int64_t d = c->a->ne[0];
    for (int64_t r = begin; r < end; r++) {
        const float *x = wr_tensor_row(c->a, r), *shift = wr_tensor_row(c->b, r),
                    *scale = wr_tensor_row(c->c, r);
        float *y = wr_tensor_row(c->out, r);
        for (int64_t i = 0; i < d; i++)
            y[i] = x[i] * (1.0f + scale[i]) + shift[i];
    }
}

void cpu_modulate(const wr_tensor *x, const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y)
{
    ew_ctx c = {.a = x, .b = shift, .c = scale, .out = y};
    wr_parallel_for(wr_tensor_nrows(x), 16, modulate_rows, &c);
}

static void add_gated_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const ew_ctx *c = vc;
    int64_t d = c->out->ne[0];
    for (int64_t r = begin; r < end; r++) {
        float *x = wr_tensor_row(c->out, r);
        const float *y = wr_tensor_row(c->b, r);
        const float *g = c->c ? wr_tensor_row(c->c, r) : NULL;
        for (int64_t i = 0; i < d; i++)
            x[i] += g ? y[i] * g[i] : y[i];
    }
}

void cpu_add_gated(wr_tensor *x, const wr_tensor *y, const wr_tensor *gate)
{
    ew_ctx c = {.b = y, .c = gate, .out = x};
    wr_parallel_for(wr_tensor_nrows(x), 16, add_gated_rows, &c);
}

static void add_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const ew_ctx *c = vc;
    int64_t d = c->a->ne[0];
    int broadcast = wr_tensor_nrows(c->b) == 1;
    for (int64_t r = begin; r < end; r++) {
        const float *x = wr_tensor_row(c->a, r), *b = wr_tensor_row(c->b, broadcast ? 0 : r);
        float *y = wr_tensor_row(c->out, r);
        for (int64_t i = 0; i < d; i++)
            y[i] = x[i] + b[i];
    }
}

void cpu_add(const wr_tensor *x, const wr_tensor *b, wr_tensor *y)
{
    ew_ctx c = {.a = x, .b = b, .out = y};
    wr_parallel_for(wr_tensor_nrows(x), 16, add_rows, &c);
}

static void activate_range(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const ew_ctx *c = vc;
    float *x = c->out->data;
    for (int64_t i = begin; i < end; i++)
        x[i] = c->act == WR_ACT_GELU_TANH ? cpu_gelu_tanh(x[i]) : c->act == WR_ACT_SILU ? cpu_silu(x[i]) : x[i];
}

void cpu_activate(wr_tensor *x, wr_act act)
{
    ew_ctx c = {.out = x, .act = act};
    wr_parallel_for(wr_tensor_nelements(x), 4096, activate_range, &c);
}
