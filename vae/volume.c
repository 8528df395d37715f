/* Volume ops for the VAEs (see volume.h). The convolution is an im2col per output frame
 * followed by the threaded matmul of runtime/ops.h, so weights stay in their file dtype. */
#include "vae/volume.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ops.h"
#include "runtime/threadpool.h"

wr_status vae_vol_alloc(vae_vol *v, int c, int t, int h, int w)
{
    v->c = c, v->t = t, v->h = h, v->w = w;
    v->d = malloc(vae_vol_size(v) * sizeof(float) + 1);
    if (!v->d)
        return wr_fail(WR_E_OOM, "VAE: out of memory for a [%d, %d, %d, %d] activation", c, t, h, w);
    return WR_OK;
}

void vae_vol_free(vae_vol *v)
{
    if (!v)
        return;
    free(v->d);
    v->d = NULL;
}

typedef struct im2col_ctx {
    const vae_vol *in;
    float *cols; /* [ho·wo, C·kt·kh·kw] */
    int frame0;  /* first (padded) input frame of the window */
    int kt, kh, kw, sh, sw, ho, wo;
    vae_pad pad;
} im2col_ctx;

static void im2col_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const im2col_ctx *c = vc;
    const vae_vol *in = c->in;
    int64_t k = (int64_t)in->c * c->kt * c->kh * c->kw;
    for (int64_t r = begin; r < end; r++) {
        int oy = (int)(r / c->wo), ox = (int)(r % c->wo);
        float *row = c->cols + r * k;
        for (int ch = 0; ch < in->c; ch++)
            for (int dt = 0; dt < c->kt; dt++) {
                int t = c->frame0 + dt - c->pad.t_front; /* frame in the unpadded input */
                for (int dy = 0; dy < c->kh; dy++) {
                    int y = oy * c->sh + dy - c->pad.top;
                    for (int dx = 0; dx < c->kw; dx++) {
                        int x = ox * c->sw + dx - c->pad.left;
                        float v = 0.0f;
                        if (t >= 0 && y >= 0 && y < in->h && x >= 0 && x < in->w)
                            v = in->d[(((size_t)ch * in->t + (size_t)t) * in->h + (size_t)y) * in->w + (size_t)x];
                        *row++ = v;
                    }
                }
            }
    }
}

wr_status vae_conv3d(const vae_vol *in, const wr_tensor *weight, const wr_tensor *bias, int st, int sh, int sw,
                     vae_pad pad, vae_vol *out)
{
    WR_ASSERT(weight->n_dims >= 4, "conv weight must be 4-D or 5-D");
    int kw = (int)weight->ne[0], kh = (int)weight->ne[1];
    int kt = weight->n_dims == 5 ? (int)weight->ne[2] : 1;
    int cin = (int)weight->ne[weight->n_dims == 5 ? 3 : 2], cout = (int)weight->ne[weight->n_dims - 1];
    WR_ASSERT(cin == in->c, "conv: weight takes %d channels, input has %d", cin, in->c);
    int tp = in->t + pad.t_front, hp = in->h + pad.top + pad.bottom, wp = in->w + pad.left + pad.right;
    int to = (tp - kt) / st + 1, ho = (hp - kh) / sh + 1, wo = (wp - kw) / sw + 1;
    WR_ASSERT(to >= 1 && ho >= 1 && wo >= 1, "conv: empty output");
    WR_TRY(vae_vol_alloc(out, cout, to, ho, wo));
    int64_t k = (int64_t)cin * kt * kh * kw, rows = (int64_t)ho * wo;
    float *cols = malloc((size_t)(rows * k) * sizeof(float));
    float *res = malloc((size_t)(rows * cout) * sizeof(float));
    if (!cols || !res) {
        free(cols), free(res), vae_vol_free(out);
        return wr_fail(WR_E_OOM, "VAE conv: out of memory for the im2col buffer (%lld x %lld)", (long long)rows,
                       (long long)k);
    }
    int64_t wne[2] = {k, cout};
    wr_tensor w2 = wr_tensor_reshape(weight, 2, wne);
    wr_tensor a, y;
    int64_t ane[2] = {k, rows}, yne[2] = {cout, rows};
    wr_tensor_init(&a, WR_DTYPE_F32, 2, ane, cols);
    wr_tensor_init(&y, WR_DTYPE_F32, 2, yne, res);
    for (int ot = 0; ot < to; ot++) {
        im2col_ctx c = {.in = in, .cols = cols, .frame0 = ot * st, .kt = kt, .kh = kh, .kw = kw, .sh = sh,
                        .sw = sw, .ho = ho, .wo = wo, .pad = pad};
        wr_parallel_for(rows, 16, im2col_rows, &c);
        wr_op_matmul(&a, &w2, bias, WR_ACT_NONE, &y); /* [ho·wo, cout] */
        for (int o = 0; o < cout; o++) {
            float *dst = out->d + ((size_t)o * to + (size_t)ot) * (size_t)rows;
            for (int64_t r = 0; r < rows; r++)
                dst[r] = res[r * cout + o];
        }
    }
    free(cols);
    free(res);
    return WR_OK;
}

typedef struct norm_ctx {
    vae_vol *x;
    const float *gamma;
    int silu;
} norm_ctx;

static void rms_norm_positions(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const norm_ctx *c = vc;
    vae_vol *x = c->x;
    size_t plane = (size_t)x->t * x->h * x->w;
    float scale = sqrtf((float)x->c);
    for (int64_t p = begin; p < end; p++) {
        double sq = 0;
        for (int ch = 0; ch < x->c; ch++) {
            float v = x->d[(size_t)ch * plane + (size_t)p];
            sq += (double)v * (double)v;
        }
        double nrm = sqrt(sq);
        float inv = (float)(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
        for (int ch = 0; ch < x->c; ch++) {
            float *v = &x->d[(size_t)ch * plane + (size_t)p];
            float y = *v * inv * scale * c->gamma[ch];
            *v = c->silu ? y / (1.0f + expf(-y)) : y;
        }
    }
}

void vae_rms_norm(vae_vol *x, const float *gamma, int silu)
{
    norm_ctx c = {x, gamma, silu};
    wr_parallel_for((int64_t)x->t * x->h * x->w, 256, rms_norm_positions, &c);
}

wr_status vae_upsample2x(const vae_vol *in, vae_vol *out)
{
    WR_TRY(vae_vol_alloc(out, in->c, in->t, in->h * 2, in->w * 2));
    for (size_t ct = 0; ct < (size_t)in->c * in->t; ct++) {
        const float *src = in->d + ct * in->h * in->w;
        float *dst = out->d + ct * out->h * out->w;
        for (int y = 0; y < out->h; y++)
            for (int x = 0; x < out->w; x++)
                dst[(size_t)y * out->w + x] = src[(size_t)(y / 2) * in->w + x / 2];
    }
    return WR_OK;
}

void vae_add(vae_vol *x, const vae_vol *y)
{
    size_t n = vae_vol_size(x);
    for (size_t i = 0; i < n; i++)
        x->d[i] += y->d[i];
}
