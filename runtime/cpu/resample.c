/* Resampling of planar images, the reference twins of kernels/resample.cu (moved here from
 * rife/rife.c, which now calls the ops):
 *   cpu_resize_bilinear  F.interpolate(mode="bilinear", align_corners=False, scale_factor=f),
 *                        no antialias, source coordinates in float64 as PyTorch's scale path
 *   cpu_warp             RIFE's backward warp: grid_sample(mode="bilinear",
 *                        padding_mode="border", align_corners=True) of the flow-displaced grid
 * Both are per-pixel formulas in fp32 after the coordinate computation. */
#include <math.h>

#include "runtime/cpu/cpu_ops.h"
#include "runtime/threadpool.h"

typedef struct resample_ctx {
    const wr_tensor *x, *flow;
    double f;
    wr_tensor *y;
} resample_ctx;

static void resize_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const resample_ctx *c = vc;
    int64_t iw = c->x->ne[0], ih = c->x->ne[1], ow = c->y->ne[0], oh = c->y->ne[1];
    int64_t planes = wr_tensor_nrows(c->x) / ih;
    double f = c->f;
    for (int64_t y = begin; y < end; y++) {
        double sy = fmax(((double)y + 0.5) / f - 0.5, 0.0);
        int64_t y0 = (int64_t)sy, y1 = y0 + 1 < ih ? y0 + 1 : ih - 1;
        float ly = (float)(sy - (double)y0);
        for (int64_t x = 0; x < ow; x++) {
            double sx = fmax(((double)x + 0.5) / f - 0.5, 0.0);
            int64_t x0 = (int64_t)sx, x1 = x0 + 1 < iw ? x0 + 1 : iw - 1;
            float lx = (float)(sx - (double)x0);
            for (int64_t ch = 0; ch < planes; ch++) {
                const float *p = (const float *)c->x->data + ch * ih * iw;
                float top = (1.0f - lx) * p[y0 * iw + x0] + lx * p[y0 * iw + x1];
                float bot = (1.0f - lx) * p[y1 * iw + x0] + lx * p[y1 * iw + x1];
                ((float *)c->y->data)[(ch * oh + y) * ow + x] = (1.0f - ly) * top + ly * bot;
            }
        }
    }
}

void cpu_resize_bilinear(const wr_tensor *x, double f, wr_tensor *y)
{
    resample_ctx c = {.x = x, .f = f, .y = y};
    wr_parallel_for(y->ne[1], 4, resize_rows, &c);
}

static void warp_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const resample_ctx *c = vc;
    int64_t w = c->x->ne[0], h = c->x->ne[1], planes = wr_tensor_nrows(c->x) / h;
    const float *src = c->x->data, *u = c->flow->data, *v = u + w * h;
    float *out = c->y->data;
    for (int64_t y = begin; y < end; y++)
        for (int64_t x = 0; x < w; x++) {
            int64_t i = y * w + x;
            float sx = fminf(fmaxf((float)x + u[i], 0.0f), (float)(w - 1));
            float sy = fminf(fmaxf((float)y + v[i], 0.0f), (float)(h - 1));
            int64_t x0 = (int64_t)floorf(sx), y0 = (int64_t)floorf(sy);
            float lx = sx - (float)x0, ly = sy - (float)y0;
            int64_t x1 = x0 + 1, y1 = y0 + 1;
            for (int64_t ch = 0; ch < planes; ch++) {
                const float *p = src + ch * w * h;
                float a = p[y0 * w + x0];
                float b = x1 < w ? p[y0 * w + x1] : 0.0f;
                float cc = y1 < h ? p[y1 * w + x0] : 0.0f;
                float d = x1 < w && y1 < h ? p[y1 * w + x1] : 0.0f;
                out[ch * w * h + i] = (1 - lx) * (1 - ly) * a + lx * (1 - ly) * b + (1 - lx) * ly * cc + lx * ly * d;
            }
        }
}

void cpu_warp(const wr_tensor *x, const wr_tensor *flow, wr_tensor *y)
{
    resample_ctx c = {.x = x, .flow = flow, .y = y};
    wr_parallel_for(x->ne[1], 4, warp_rows, &c);
}
