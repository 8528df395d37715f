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

/* ---- transposed 2-D convolution --------------------------------------------------------------- */

typedef struct tconv_ctx {
    const wr_tensor *x, *w, *bias;
    int stride, pad;
    wr_tensor *y;
} tconv_ctx;

/* One task: one output channel, scattered from every input pixel (channel, ky, iy, kx, ix
 * ascending: per output element the sum runs channel-major, then ky, kx, after the bias). */
static void tconv_planes(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const tconv_ctx *c = vc;
    int64_t iw = c->x->ne[0], ih = c->x->ne[1], cin = c->x->ne[2];
    int64_t kw = c->w->ne[0], kh = c->w->ne[1], cout = c->w->ne[2];
    int64_t ow = c->y->ne[0], oh = c->y->ne[1];
    const float *x = c->x->data, *w = c->w->data;
    for (int64_t o = begin; o < end; o++) {
        float *op = (float *)c->y->data + o * oh * ow;
        float b = c->bias ? ((const float *)c->bias->data)[o] : 0.0f;
        for (int64_t p = 0; p < oh * ow; p++)
            op[p] = b;
        for (int64_t i = 0; i < cin; i++) {
            const float *ip = x + i * ih * iw, *wk = w + (i * cout + o) * kh * kw;
            for (int64_t ky = 0; ky < kh; ky++)
                for (int64_t iy = 0; iy < ih; iy++) {
                    int64_t oy = c->stride * iy - c->pad + ky;
                    if (oy < 0 || oy >= oh)
                        continue;
                    for (int64_t kx = 0; kx < kw; kx++) {
                        float wv = wk[ky * kw + kx];
                        for (int64_t ix = 0; ix < iw; ix++) {
                            int64_t ox = c->stride * ix - c->pad + kx;
                            if (ox >= 0 && ox < ow)
                                op[oy * ow + ox] += wv * ip[iy * iw + ix];
                        }
                    }
                }
        }
    }
}

void cpu_conv_transpose2d(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, int stride, int pad,
                          wr_tensor *y)
{
    tconv_ctx c = {.x = x, .w = w, .bias = bias, .stride = stride, .pad = pad, .y = y};
    wr_parallel_for(y->ne[2], 1, tconv_planes, &c);
}
