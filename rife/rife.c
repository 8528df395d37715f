/* RIFE IFNet 4.7 forward (see rife.h). Images are planar float [C, H, W] at the padded size, held
 * in buffers of the current backend (runtime/buffers.h): device memory on a GPU backend, where
 * every step is an op (runtime/ops.h) on those buffers and the weights were placed at load
 * (rife_weights.c), so a frame pair crosses to the device once (the two padded frames) and back
 * once (the padded result); host memory on the CPU backend, where the convolutions run the VAE's
 * im2col + matmul (vae_conv3d) as before. Concatenation is buffer copies of whole channel blocks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rife/rife_internal.h"
#include "runtime/ops.h"
#include "vae/volume.h"

#define PAD_MULTIPLE 64

/* Set by tests only: images in host memory even on a GPU backend, so every op stages them (the
 * reference the device-resident forward is checked against). */
static bool host_images;

void rife_set_host_images(bool on) { host_images = on; }

/* ---- primitives on planar images ---------------------------------------------------------- */

typedef struct img {
    int c, h, w;
    float *d;        /* buffer (host memory with host_images) */
    rife_pool *pool; /* where d goes back when freed (NULL: wr_buffer_free) */
} img;

static size_t img_size(const img *x) { return (size_t)x->c * x->h * x->w; }

/* A kept buffer of exactly `bytes`, taken out of the pool; NULL when there is none. */
static void *pool_take(rife_pool *pool, size_t bytes)
{
    for (int i = pool ? pool->n - 1 : -1; i >= 0; i--)
        if (pool->items[i].bytes == bytes) {
            void *p = pool->items[i].p;
            pool->items[i] = pool->items[--pool->n];
            return p;
        }
    return NULL;
}

static void pool_put(rife_pool *pool, void *p, size_t bytes)
{
    if (pool->n == pool->cap) {
        int cap = pool->cap ? 2 * pool->cap : 64;
        struct rife_pooled *items = realloc(pool->items, (size_t)cap * sizeof *items);
        if (!items) { /* no room to keep it: give it back */
            wr_buffer_free(p);
            return;
        }
        pool->items = items, pool->cap = cap;
    }
    pool->items[pool->n++] = (struct rife_pooled){p, bytes};
}

void rife_pool_free(rife_pool *pool)
{
    if (!pool)
        return;
    for (int i = 0; i < pool->n; i++)
        wr_buffer_free(pool->items[i].p);
    free(pool->items);
    free(pool);
}

/* pool: the model's (rife_interpolate) or the one of the image a step reads. */
static wr_status img_alloc(img *x, rife_pool *pool, int c, int h, int w)
{
    x->c = c, x->h = h, x->w = w, x->pool = host_images ? NULL : pool;
    size_t bytes = img_size(x) * sizeof(float);
    if (host_images) {
        x->d = malloc(bytes ? bytes : 1);
        return x->d ? WR_OK : wr_fail(WR_E_OOM, "RIFE: out of memory for [%d, %d, %d]", c, h, w);
    }
    if ((x->d = pool_take(pool, bytes)))
        return WR_OK;
    return wr_buffer_alloc(bytes, (void **)&x->d);
}

static void img_free(img *x)
{
    if (host_images)
        free(x->d);
    else if (x->d && x->pool)
        pool_put(x->pool, x->d, img_size(x) * sizeof(float));
    else
        wr_buffer_free(x->d);
    x->d = NULL;
}

/* n floats between images (device to device on a GPU backend). */
static void img_copy(float *dst, const float *src, size_t n)
{
    if (host_images)
        memcpy(dst, src, n * sizeof(float));
    else
        wr_buffer_copy(dst, src, n * sizeof(float));
}

/* An image as a tensor ne = {W, H, C}; n floats at d as a flat one. */
static wr_tensor ten(const img *x)
{
    wr_tensor t;
    WR_ASSERT(wr_tensor_init(&t, WR_DTYPE_F32, 3, (int64_t[]){x->w, x->h, x->c}, x->d), "RIFE: bad image shape");
    return t;
}

static wr_tensor flat(const float *d, size_t n)
{
    wr_tensor t;
    WR_ASSERT(wr_tensor_init(&t, WR_DTYPE_F32, 1, (int64_t[]){(int64_t)n}, (void *)(uintptr_t)d), "RIFE: bad size");
    return t;
}

/* y = op(x) on n floats (y may be x). */
static void scalar(const float *x, float *y, size_t n, wr_scalar_op op, float a, float b)
{
    wr_tensor tx = flat(x, n), ty = flat(y, n);
    wr_op_scalar(&tx, op, a, b, &ty);
}

static void lrelu(img *x) { scalar(x->d, x->d, img_size(x), WR_SCALAR_LEAKY_RELU, 0.2f, 0.0f); }

/* y = a + b on n floats (y may be a). */
static void add(const float *a, const float *b, float *y, size_t n)
{
    wr_tensor ta = flat(a, n), tb = flat(b, n), ty = flat(y, n);
    wr_op_add(&ta, &tb, &ty);
}

/* Conv2d k3 with padding 1 and the given stride. The CPU backend keeps the VAE's im2col + matmul
 * (its numbers since RIFE landed); a GPU backend runs the conv kernel on the buffers. */
static wr_status conv2d(const img *in, const conv *c, int stride, img *out)
{
    if (wr_buffers_are_host()) {
        vae_vol vin = {.c = in->c, .t = 1, .h = in->h, .w = in->w, .d = in->d}, vo;
        vae_pad p = {0, 1, 1, 1, 1};
        WR_TRY(vae_conv3d(&vin, &c->w, &c->b, 1, stride, stride, p, &vo));
        wr_status st = img_alloc(out, in->pool, vo.c, vo.h, vo.w);
        if (st == WR_OK)
            memcpy(out->d, vo.d, img_size(out) * sizeof(float)); /* host buffers on the CPU backend */
        vae_vol_free(&vo);
        return st;
    }
    WR_TRY(img_alloc(out, in->pool, (int)c->w.ne[3], (in->h - 1) / stride + 1, (in->w - 1) / stride + 1));
    wr_conv_params p = {.st = 1, .sh = stride, .sw = stride, .top = 1, .bottom = 1, .left = 1, .right = 1};
    wr_tensor tx, ty;
    WR_ASSERT(wr_tensor_init(&tx, WR_DTYPE_F32, 4, (int64_t[]){in->w, in->h, 1, in->c}, in->d) &&
                  wr_tensor_init(&ty, WR_DTYPE_F32, 4, (int64_t[]){out->w, out->h, 1, out->c}, out->d),
              "RIFE conv: bad shape");
    wr_op_conv3d(&tx, &c->w, &c->b, &p, &ty);
    return WR_OK;
}

/* ConvTranspose2d(k4, s2, p1): input pixel (iy, ix) adds to out(2iy − 1 + ky, 2ix − 1 + kx)
 * (wr_op_conv_transpose2d). */
static wr_status tconv2d(const img *in, const tconv *c, img *out)
{
    WR_TRY(img_alloc(out, in->pool, c->cout, in->h * 2, in->w * 2));
    wr_tensor tx = ten(in), ty = ten(out);
    wr_op_conv_transpose2d(&tx, &c->w, &c->b, 2, 1, &ty);
    return WR_OK;
}

/* Bilinear resize by factor f (F.interpolate, align_corners=False, no antialias): wr_op_resize_bilinear. */
static wr_status resize(const img *in, double f, img *out)
{
    WR_TRY(img_alloc(out, in->pool, in->c, (int)floor(in->h * f), (int)floor(in->w * f)));
    wr_tensor tx = ten(in), ty = ten(out);
    wr_op_resize_bilinear(&tx, f, &ty);
    return WR_OK;
}

/* Backward warp: out(x, y) = src(x + u, y + v), position clamped to the image, bilinear
 * (wr_op_warp); flow is [2, H, W] (u, v). */
static void warp(const img *src, const float *flow, img *out)
{
    wr_tensor tx = ten(src), ty = ten(out), tf;
    WR_ASSERT(wr_tensor_init(&tf, WR_DTYPE_F32, 3, (int64_t[]){src->w, src->h, 2}, (void *)(uintptr_t)flow),
              "RIFE warp: bad shape");
    wr_op_warp(&tx, &tf, &ty);
}

/* Concatenates the channels of n images of one size. */
static wr_status concat(const img *const *parts, int n, img *out)
{
    int total = 0;
    for (int k = 0; k < n; k++)
        total += parts[k]->c;
    WR_TRY(img_alloc(out, parts[0]->pool, total, parts[0]->h, parts[0]->w));
    size_t at = 0;
    for (int k = 0; k < n; k++) {
        img_copy(out->d + at, parts[k]->d, img_size(parts[k]));
        at += img_size(parts[k]);
    }
    return WR_OK;
}

/* IFBlock(x, flow, s) -> flow_out [4] and mask [1] at x's size. */
static wr_status ifblock_forward(const ifblock *b, const img *x, const img *flow, double s, img *flow_out, img *mask)
{
    img xs = {0}, fs = {0}, in = {0}, f = {0}, g = {0}, t = {0}, ps = {0}, o = {0};
    wr_status st;
    WR_TRY_GOTO(resize(x, 1.0 / s, &xs));
    if (flow) {
        WR_TRY_GOTO(resize(flow, 1.0 / s, &fs));
        scalar(fs.d, fs.d, img_size(&fs), WR_SCALAR_DIV, (float)s, 0.0f); /* flow / s */
        const img *parts[2] = {&xs, &fs};
        WR_TRY_GOTO(concat(parts, 2, &in));
    } else {
        in = xs;
        xs.d = NULL;
    }
    WR_TRY_GOTO(conv2d(&in, &b->c0, 2, &f));
    lrelu(&f);
    WR_TRY_GOTO(conv2d(&f, &b->c1, 2, &g));
    lrelu(&g);
    for (int k = 0; k < 8; k++) { /* ResConv: lrelu(conv(x)·beta + x) */
        img r;
        WR_TRY_GOTO(conv2d(&g, &b->res[k], 1, &r));
        wr_tensor tr = ten(&r), tg = ten(&g);
        wr_op_channel_scale_add(&tr, &b->beta[k], &tg, &tr);
        lrelu(&r);
        img_free(&g);
        g = r;
    }
    WR_TRY_GOTO(tconv2d(&g, &b->last, &t));
    WR_TRY_GOTO(img_alloc(&ps, x->pool, 6, t.h * 2, t.w * 2));
    wr_tensor tt = ten(&t), tps = ten(&ps);
    wr_op_pixel_shuffle(&tt, 2, &tps); /* [24, h, w] -> [6, 2h, 2w] */
    WR_TRY_GOTO(resize(&ps, s, &o));
    if (o.h != x->h || o.w != x->w) { /* PyTorch's concat would refuse these sizes as well */
        st = wr_fail(WR_E_UNSUPPORTED, "RIFE: the IFBlock at scale %g returns %dx%d for a %dx%d input (the "
                     "padding multiple %d must be a multiple of 32 / scale_factor)", s, o.w, o.h, x->w, x->h, PAD_MULTIPLE);
        goto fail;
    }
    WR_TRY_GOTO(img_alloc(flow_out, x->pool, 4, o.h, o.w));
    WR_TRY_GOTO(img_alloc(mask, x->pool, 1, o.h, o.w));
    size_t pl = (size_t)o.h * o.w;
    scalar(o.d, flow_out->d, 4 * pl, WR_SCALAR_MUL, (float)s, 0.0f);
    img_copy(mask->d, o.d + 4 * pl, pl);
fail:
    img_free(&xs), img_free(&fs), img_free(&in), img_free(&f), img_free(&g), img_free(&t), img_free(&ps), img_free(&o);
    return st;
}

static wr_status encode(const rife *m, const img *x, img *f)
{
    img a;
    WR_TRY(conv2d(x, &m->enc0, 2, &a));
    wr_status st = tconv2d(&a, &m->enc1, f);
    img_free(&a);
    return st;
}

/* A frame [3, h, w] zero-padded to [3, ph, pw] on the host, written to x in one copy, then
 * clamped to [0, 1] by an op (the zeros stay zeros). */
static wr_status upload_frame(const float *src, int h, int w, int ph, int pw, rife_pool *pool, img *x)
{
    float *pad = calloc((size_t)3 * ph * pw, sizeof *pad);
    if (!pad)
        return wr_fail(WR_E_OOM, "RIFE: out of memory for a %dx%d frame", pw, ph);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            memcpy(pad + ((size_t)c * ph + y) * pw, src + ((size_t)c * h + y) * w, (size_t)w * sizeof *pad);
    wr_status st = img_alloc(x, pool, 3, ph, pw);
    if (st == WR_OK) {
        if (host_images)
            memcpy(x->d, pad, img_size(x) * sizeof(float));
        else
            wr_buffer_write(x->d, pad, img_size(x) * sizeof(float));
        scalar(x->d, x->d, img_size(x), WR_SCALAR_CLAMP, 0.0f, 1.0f);
    }
    free(pad);
    return st;
}

/* The padded result read back in one copy and cropped to [3, h, w]. */
static wr_status download_frame(const img *x, int h, int w, float *out)
{
    size_t n = img_size(x);
    float *host = malloc(n * sizeof *host);
    if (!host)
        return wr_fail(WR_E_OOM, "RIFE: out of memory for a %dx%d frame", x->w, x->h);
    if (host_images)
        memcpy(host, x->d, n * sizeof(float));
    else
        wr_buffer_read(host, x->d, n * sizeof(float));
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            memcpy(out + ((size_t)c * h + y) * w, host + ((size_t)c * x->h + y) * x->w, (size_t)w * sizeof *out);
    free(host);
    return WR_OK;
}

/* mask = (mk − mr) / 2, written mk + (−mr): the same float as the subtraction. mr is negated in
 * place; mask may be mk. */
static void mask_merge(const img *mk, img *mr, img *mask)
{
    size_t pl = img_size(mask);
    scalar(mr->d, mr->d, pl, WR_SCALAR_MUL, -1.0f, 0.0f);
    add(mk->d, mr->d, mask->d, pl);
    scalar(mask->d, mask->d, pl, WR_SCALAR_DIV, 2.0f, 0.0f);
}

wr_status rife_interpolate(const rife *m, const float *img0, const float *img1, int h, int w, float t,
                           float scale_factor, bool ensemble, float *out)
{
    if (h < 1 || w < 1 || !(t > 0.0f && t < 1.0f) || !(scale_factor >= 0.25f && scale_factor <= 4.0f))
        return wr_fail(WR_E_ARG, "RIFE: size %dx%d, t %g, scale %g: need t in (0, 1) and scale in [0.25, 4]", w, h,
                       (double)t, (double)scale_factor);
    int ph = (h + PAD_MULTIPLE - 1) / PAD_MULTIPLE * PAD_MULTIPLE, pw = (w + PAD_MULTIPLE - 1) / PAD_MULTIPLE * PAD_MULTIPLE;
    size_t pl = (size_t)ph * pw;
    img i0 = {0}, i1 = {0}, tp = {0}, tn = {0}, f0 = {0}, f1 = {0}, flow = {0}, mask = {0}, w0 = {0}, w1 = {0},
        wf0 = {0}, wf1 = {0}, x = {0}, fd = {0}, mk = {0}, xr = {0}, fr = {0}, mr = {0}, sw = {0}, res = {0};
    wr_status st;
    WR_TRY_GOTO(upload_frame(img0, h, w, ph, pw, m->pool, &i0));
    WR_TRY_GOTO(upload_frame(img1, h, w, ph, pw, m->pool, &i1));
    WR_TRY_GOTO(img_alloc(&tp, m->pool, 1, ph, pw));
    WR_TRY_GOTO(img_alloc(&tn, m->pool, 1, ph, pw));
    scalar(tp.d, tp.d, pl, WR_SCALAR_FILL, t, 0.0f);
    scalar(tn.d, tn.d, pl, WR_SCALAR_FILL, 1.0f - t, 0.0f);
    WR_TRY_GOTO(encode(m, &i0, &f0));
    WR_TRY_GOTO(encode(m, &i1, &f1));
    double sf = (double)scale_factor, sl[4] = {8.0 / sf, 4.0 / sf, 2.0 / sf, 1.0 / sf};
    {
        const img *parts[5] = {&i0, &i1, &f0, &f1, &tp};
        WR_TRY_GOTO(concat(parts, 5, &x));
        WR_TRY_GOTO(ifblock_forward(&m->blocks[0], &x, NULL, sl[0], &flow, &mask));
        img_free(&x);
        if (ensemble) {
            const img *rp[5] = {&i1, &i0, &f1, &f0, &tn};
            WR_TRY_GOTO(concat(rp, 5, &xr));
            WR_TRY_GOTO(ifblock_forward(&m->blocks[0], &xr, NULL, sl[0], &fr, &mr));
            img_free(&xr);
            add(flow.d, fr.d + 2 * pl, flow.d, 2 * pl); /* flow = (flow + swap(fr)) / 2 */
            add(flow.d + 2 * pl, fr.d, flow.d + 2 * pl, 2 * pl);
            scalar(flow.d, flow.d, 4 * pl, WR_SCALAR_DIV, 2.0f, 0.0f);
            mask_merge(&mask, &mr, &mask);
            img_free(&fr), img_free(&mr);
        }
    }
    WR_TRY_GOTO(img_alloc(&w0, m->pool, 3, ph, pw));
    WR_TRY_GOTO(img_alloc(&w1, m->pool, 3, ph, pw));
    WR_TRY_GOTO(img_alloc(&wf0, m->pool, 4, ph, pw));
    WR_TRY_GOTO(img_alloc(&wf1, m->pool, 4, ph, pw));
    warp(&i0, flow.d, &w0);
    warp(&i1, flow.d + 2 * pl, &w1);
    for (int b = 1; b < 4; b++) {
        warp(&f0, flow.d, &wf0);
        warp(&f1, flow.d + 2 * pl, &wf1);
        const img *parts[6] = {&w0, &w1, &wf0, &wf1, &tp, &mask};
        WR_TRY_GOTO(concat(parts, 6, &x));
        WR_TRY_GOTO(ifblock_forward(&m->blocks[b], &x, &flow, sl[b], &fd, &mk));
        img_free(&x);
        add(flow.d, fd.d, flow.d, 4 * pl);
        img_free(&fd);
        if (ensemble) { /* the node's variant: reverse pass with the updated flow and the old mask */
            warp(&f0, flow.d, &wf0);
            warp(&f1, flow.d + 2 * pl, &wf1);
            scalar(mask.d, mask.d, pl, WR_SCALAR_MUL, -1.0f, 0.0f);
            const img *rp[6] = {&w1, &w0, &wf1, &wf0, &tn, &mask};
            WR_TRY_GOTO(concat(rp, 6, &xr));
            WR_TRY_GOTO(img_alloc(&sw, m->pool, 4, ph, pw));
            img_copy(sw.d, flow.d + 2 * pl, 2 * pl);
            img_copy(sw.d + 2 * pl, flow.d, 2 * pl);
            WR_TRY_GOTO(ifblock_forward(&m->blocks[b], &xr, &sw, sl[b], &fr, &mr));
            img_free(&xr), img_free(&sw);
            mask_merge(&mk, &mr, &mask); /* the reverse flow delta is unused, as in the node */
            img_free(&fr), img_free(&mr), img_free(&mk);
        } else {
            img_free(&mask);
            mask = mk;
            mk.d = NULL;
        }
        warp(&i0, flow.d, &w0);
        warp(&i1, flow.d + 2 * pl, &w1);
    }
    WR_TRY_GOTO(img_alloc(&res, m->pool, 3, ph, pw)); /* sigmoid blend, clamp, crop */
    wr_tensor t0 = ten(&w0), t1 = ten(&w1), tm = ten(&mask), tr = ten(&res);
    wr_op_mask_blend(&t0, &t1, &tm, &tr);
    scalar(res.d, res.d, img_size(&res), WR_SCALAR_CLAMP, 0.0f, 1.0f);
    WR_TRY_GOTO(download_frame(&res, h, w, out));
fail:
    img_free(&i0), img_free(&i1), img_free(&tp), img_free(&tn), img_free(&f0), img_free(&f1), img_free(&flow);
    img_free(&mask), img_free(&w0), img_free(&w1), img_free(&wf0), img_free(&wf1), img_free(&x), img_free(&fd);
    img_free(&mk), img_free(&xr), img_free(&fr), img_free(&mr), img_free(&sw), img_free(&res);
    return st;
}
