/* 3-D convolution on zero-padded input (torch.nn.functional.conv3d; conv2d is kt = 1), the
 * reference twin of kernels/conv.cu: the obvious loop nest, fp32 sums in the order the kernel
 * uses (channel, then kt, kh, kw ascending; bias added last). The VAEs' CPU path keeps its own
 * im2col + matmul (vae/volume.c vae_conv3d); this twin is what the GPU kernels are tested against. */
#include <stdlib.h>

#include "runtime/cpu/cpu_ops.h"
#include "runtime/quant.h"
#include "runtime/threadpool.h"

typedef struct conv_ctx {
    const wr_tensor *x, *w, *bias;
    const wr_conv_params *p;
    wr_tensor *y;
    int64_t kt, kh, kw, cin;
} conv_ctx;

/* One task: one output channel o and one output frame ot. */
static void conv_planes(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const conv_ctx *c = vc;
    const wr_conv_params *p = c->p;
    int64_t W = c->x->ne[0], H = c->x->ne[1], T = c->x->ne[2];
    int64_t wo = c->y->ne[0], ho = c->y->ne[1], to = c->y->ne[2];
    int64_t K = c->cin * c->kt * c->kh * c->kw;
    const float *x = c->x->data;
    float *wrow = malloc((size_t)K * sizeof *wrow);
    WR_ASSERT(wrow, "conv3d: out of memory");
    wr_dequant_fn deq = wr_dequant_get(c->w->dtype);
    size_t row_bytes = (size_t)(wr_tensor_nbytes(c->w) / (size_t)c->y->ne[3]);
    int64_t last_o = -1;
    for (int64_t task = begin; task < end; task++) {
        int64_t o = task / to, ot = task % to;
        if (o != last_o) {
            deq((const char *)c->w->data + (size_t)o * row_bytes, wrow, K);
            last_o = o;
        }
        float b = c->bias ? ((const float *)c->bias->data)[o] : 0.0f;
        float *yp = (float *)c->y->data + ((size_t)o * (size_t)to + (size_t)ot) * (size_t)(ho * wo);
        for (int64_t oy = 0; oy < ho; oy++)
            for (int64_t ox = 0; ox < wo; ox++) {
                float acc = 0.0f;
                const float *wk = wrow;
                for (int64_t ch = 0; ch < c->cin; ch++)
                    for (int64_t dt = 0; dt < c->kt; dt++) {
                        int64_t t = ot * p->st + dt - p->t_front;
                        for (int64_t dy = 0; dy < c->kh; dy++) {
                            int64_t yy = oy * p->sh + dy - p->top;
                            for (int64_t dx = 0; dx < c->kw; dx++, wk++) {
                                int64_t xx = ox * p->sw + dx - p->left;
                                if (t < 0 || t >= T || yy < 0 || yy >= H || xx < 0 || xx >= W)
                                    continue;
                                acc += x[((ch * T + t) * H + yy) * W + xx] * *wk;
                            }
                        }
                    }
                yp[oy * wo + ox] = acc + b;
            }
    }
    free(wrow);
}

void cpu_conv3d(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const wr_conv_params *p, wr_tensor *y)
{
    conv_ctx c = {.x = x, .w = w, .bias = bias, .p = p, .y = y, .kw = w->ne[0], .kh = w->ne[1],
                  .kt = w->n_dims == 5 ? w->ne[2] : 1, .cin = w->ne[w->n_dims - 2]};
    wr_parallel_for(y->ne[3] * y->ne[2], 1, conv_planes, &c);
}
