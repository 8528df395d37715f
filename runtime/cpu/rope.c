/* Wan 3-D rotary embedding (wan/modules/model.py rope_params + rope_apply), in float64 like
 * the official code: x is promoted, rotated by exp(i·pos·θ), and rounded back to float32. */
#include <math.h>

#include "kernels/rope_wan.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/threadpool.h"

#define HEAD_DIM ROPE_WAN_HD
#define PAIRS ROPE_WAN_PAIRS
#define PAIRS_F ROPE_WAN_PAIRS_F
#define PAIRS_HW ROPE_WAN_PAIRS_HW

typedef struct rope_ctx {
    wr_tensor *x;
    int gf, gh, gw;
    double theta[PAIRS];
} rope_ctx;

static void rope_tokens(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const rope_ctx *c = vc;
    int64_t heads = c->x->ne[1];
    for (int64_t t = begin; t < end; t++) {
        int64_t pos[3] = {t / ((int64_t)c->gh * c->gw), (t / c->gw) % c->gh, t % c->gw};
        double ang_cos[PAIRS], ang_sin[PAIRS];
        for (int j = 0; j < PAIRS; j++) {
            int axis = j < PAIRS_F ? 0 : j < PAIRS_F + PAIRS_HW ? 1 : 2;
            double a = (double)pos[axis] * c->theta[j];
            ang_cos[j] = cos(a);
            ang_sin[j] = sin(a);
        }
        for (int64_t h = 0; h < heads; h++) {
            float *v = (float *)c->x->data + (t * heads + h) * HEAD_DIM;
            for (int j = 0; j < PAIRS; j++) {
                double re = v[2 * j], im = v[2 * j + 1];
                v[2 * j] = (float)(re * ang_cos[j] - im * ang_sin[j]);
                v[2 * j + 1] = (float)(re * ang_sin[j] + im * ang_cos[j]);
            }
        }
    }
}

void cpu_rope_wan_theta(double theta[ROPE_WAN_PAIRS])
{
    /* rope_params(1024, dim) for dims 44, 42, 42: θ_j = 1 / 10000^(2j / dim), in float64 */
    for (int j = 0; j < PAIRS; j++) {
        int local = j < PAIRS_F ? j : j < PAIRS_F + PAIRS_HW ? j - PAIRS_F : j - PAIRS_F - PAIRS_HW;
        double dim = j < PAIRS_F ? 2.0 * PAIRS_F : 2.0 * PAIRS_HW;
        theta[j] = 1.0 / pow(10000.0, (2.0 * local) / dim);
    }
}

void cpu_rope_wan_table(int grid_f, int grid_h, int grid_w, float *tab)
{
    double theta[PAIRS];
    cpu_rope_wan_theta(theta);
    int len[3] = {grid_f, grid_h, grid_w}, first[3] = {0, PAIRS_F, PAIRS_F + PAIRS_HW};
    int width[3] = {PAIRS_F, PAIRS_HW, PAIRS_HW};
    for (int axis = 0; axis < 3; axis++)
        for (int pos = 0; pos < len[axis]; pos++)
            for (int j = first[axis]; j < first[axis] + width[axis]; j++) {
                double a = (double)pos * theta[j];
                *tab++ = (float)cos(a);
                *tab++ = (float)sin(a);
            }
}

void cpu_rope_wan(wr_tensor *x, int grid_f, int grid_h, int grid_w)
{
    rope_ctx c = {.x = x, .gf = grid_f, .gh = grid_h, .gw = grid_w};
    cpu_rope_wan_theta(c.theta);
    int64_t n = (int64_t)grid_f * grid_h * grid_w;
    if (n > x->ne[2])
        n = x->ne[2];
    wr_parallel_for(n, 4, rope_tokens, &c);
}
