/* Planar image glue of RIFE, the reference twins of kernels/planar.cu (the loops that were in
 * rife/rife.c, same fp32 expressions, so the CPU backend keeps RIFE's numbers bit for bit):
 *   cpu_scalar             x·a, x/a, LeakyReLU(a), clamp(a, b), fill a (runtime/ops.h wr_op_scalar)
 *   cpu_channel_scale_add  x[c]·scale[c] + r[c] (RIFE ResConv: conv(x)·beta + x)
 *   cpu_pixel_shuffle      torch.nn.PixelShuffle(s)
 *   cpu_mask_blend         x0·sigmoid(m) + x1·(1 − sigmoid(m)) (IFNet's merge before the clamp)
 * Images are planar ne = {W, H, C}. */
#include <math.h>

#include "runtime/cpu/cpu_ops.h"
#include "runtime/threadpool.h"

typedef struct planar_ctx {
    const wr_tensor *x, *x1, *aux;
    wr_tensor *y;
    wr_scalar_op op;
    float a, b;
    int s;
} planar_ctx;

float cpu_scalar_apply(wr_scalar_op op, float v, float a, float b)
{
    switch (op) {
    case WR_SCALAR_MUL:
        return v * a;
    case WR_SCALAR_DIV:
        return v / a;
    case WR_SCALAR_LEAKY_RELU:
        return v >= 0.0f ? v : a * v;
    case WR_SCALAR_CLAMP: /* glibc's fminf(fmaxf(v, a), b) spelled out: fmaxf's choice for ±0 is unspecified */
        v = v >= a ? v : a;
        return v <= b ? v : b;
    default:
        return a;
    }
}

static void scalar_range(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const planar_ctx *c = vc;
    const float *x = c->x->data;
    float *y = c->y->data;
    for (int64_t i = begin; i < end; i++)
        y[i] = cpu_scalar_apply(c->op, c->op == WR_SCALAR_FILL ? 0.0f : x[i], c->a, c->b);
}

void cpu_scalar(const wr_tensor *x, wr_scalar_op op, float a, float b, wr_tensor *y)
{
    planar_ctx c = {.x = x, .y = y, .op = op, .a = a, .b = b};
    wr_parallel_for(wr_tensor_nelements(y), 4096, scalar_range, &c);
}

/* One task per plane: the scale is read once per plane. */
static void scale_add_planes(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const planar_ctx *c = vc;
    int64_t pl = c->x->ne[0] * c->x->ne[1];
    for (int64_t ch = begin; ch < end; ch++) {
        const float *x = (const float *)c->x->data + ch * pl, *r = (const float *)c->x1->data + ch * pl;
        float *y = (float *)c->y->data + ch * pl, s = ((const float *)c->aux->data)[ch];
        for (int64_t p = 0; p < pl; p++)
            y[p] = x[p] * s + r[p];
    }
}

void cpu_channel_scale_add(const wr_tensor *x, const wr_tensor *scale, const wr_tensor *r, wr_tensor *y)
{
    planar_ctx c = {.x = x, .x1 = r, .aux = scale, .y = y};
    wr_parallel_for(x->ne[2], 1, scale_add_planes, &c);
}

/* One task per output row: row oy of plane c reads input row oy / s of planes c·s² + (oy % s)·s + j. */
static void shuffle_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const planar_ctx *c = vc;
    int64_t s = c->s, iw = c->x->ne[0], ih = c->x->ne[1], ow = c->y->ne[0], oh = c->y->ne[1];
    for (int64_t row = begin; row < end; row++) {
        int64_t ch = row / oh, oy = row % oh, i = oy % s;
        float *y = (float *)c->y->data + row * ow;
        for (int64_t ox = 0; ox < ow; ox++) {
            int64_t j = ox % s, plane = ch * s * s + i * s + j;
            y[ox] = ((const float *)c->x->data)[(plane * ih + oy / s) * iw + ox / s];
        }
    }
}

void cpu_pixel_shuffle(const wr_tensor *x, int s, wr_tensor *y)
{
    planar_ctx c = {.x = x, .y = y, .s = s};
    wr_parallel_for(y->ne[1] * y->ne[2], 16, shuffle_rows, &c);
}

static void blend_range(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const planar_ctx *c = vc;
    int64_t pl = c->x->ne[0] * c->x->ne[1], planes = c->x->ne[2];
    const float *x0 = c->x->data, *x1 = c->x1->data, *m = c->aux->data;
    float *y = c->y->data;
    for (int64_t p = begin; p < end; p++) {
        float a = 1.0f / (1.0f + expf(-m[p]));
        for (int64_t ch = 0; ch < planes; ch++)
            y[ch * pl + p] = x0[ch * pl + p] * a + x1[ch * pl + p] * (1.0f - a);
    }
}

void cpu_mask_blend(const wr_tensor *x0, const wr_tensor *x1, const wr_tensor *mask, wr_tensor *y)
{
    planar_ctx c = {.x = x0, .x1 = x1, .aux = mask, .y = y};
    wr_parallel_for(x0->ne[0] * x0->ne[1], 4096, blend_range, &c);
}
