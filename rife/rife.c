/* RIFE IFNet 4.7 (see rife.h). Images are planar float [C, H, W] at the padded size. The
 * convolutions reuse the VAE volume ops (a single frame; vae_conv3d runs wr_op_conv3d on a
 * device backend); the transposed convolution, bilinear resize and warp are ops (runtime/ops.h);
 * pixel shuffle and the elementwise glue are here. */
#include "rife/rife.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ops.h"
#include "runtime/quant.h"
#include "vae/volume.h"

#define PAD_MULTIPLE 64

typedef struct conv {
    wr_tensor w; /* file dtype, [out, in, k, k] */
    wr_tensor b; /* F32 [out] */
} conv;

typedef struct tconv {
    float *w; /* F32 [in, out, 4, 4] */
    float *b; /* F32 [out] */
    int cin, cout;
} tconv;

typedef struct ifblock {
    conv c0, c1;
    conv res[8];
    float *beta[8]; /* [c] */
    tconv last;     /* c -> 24, then PixelShuffle(2) -> 6 */
    int c;
} ifblock;

struct rife {
    conv enc0;
    tconv enc1;
    ifblock blocks[4];
    void **owned;
    int n_owned;
    const wr_weightfile *wf;
};

static float *own_f32(rife *m, const wr_wtensor *t)
{
    int64_t n = wr_tensor_nelements(&t->t);
    float *p = malloc((size_t)n * sizeof *p);
    void **o = realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *o);
    if (!p || !o) {
        free(p);
        if (o)
            m->owned = o;
        return NULL;
    }
    m->owned = o;
    m->owned[m->n_owned++] = p;
    wr_dequant_fn f = wr_dequant_get(t->t.dtype);
    for (int64_t r = 0; r < wr_tensor_nrows(&t->t); r++)
        f(wr_tensor_row(&t->t, r), p + r * t->t.ne[0], t->t.ne[0]);
    return p;
}

static wr_status need(rife *m, const char *name, int64_t count, const wr_wtensor **out)
{
    *out = wr_weightfile_find(m->wf, name);
    if (!*out)
        return wr_fail(WR_E_FORMAT, "%s: missing tensor '%s': not a RIFE 4.7/4.9 checkpoint", m->wf->map.path, name);
    if (wr_tensor_nelements(&(*out)->t) != count || !wr_dequant_get((*out)->t.dtype))
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s' has the wrong size or dtype for RIFE 4.7", m->wf->map.path, name);
    return WR_OK;
}

static wr_status bind_conv(rife *m, const char *prefix, int cout, int cin, conv *c)
{
    char name[128];
    const wr_wtensor *w, *b;
    snprintf(name, sizeof name, "%s.weight", prefix);
    WR_TRY(need(m, name, (int64_t)cout * cin * 9, &w));
    snprintf(name, sizeof name, "%s.bias", prefix);
    WR_TRY(need(m, name, cout, &b));
    c->w = w->t;
    float *bp = own_f32(m, b);
    if (!bp)
        return wr_fail(WR_E_OOM, "out of memory");
    wr_tensor_init(&c->b, WR_DTYPE_F32, 1, (int64_t[]){cout}, bp);
    return WR_OK;
}

static wr_status bind_tconv(rife *m, const char *prefix, int cin, int cout, tconv *c)
{
    char name[128];
    const wr_wtensor *w, *b;
    snprintf(name, sizeof name, "%s.weight", prefix);
    WR_TRY(need(m, name, (int64_t)cin * cout * 16, &w));
    snprintf(name, sizeof name, "%s.bias", prefix);
    WR_TRY(need(m, name, cout, &b));
    c->w = own_f32(m, w);
    c->b = own_f32(m, b);
    c->cin = cin, c->cout = cout;
    return c->w && c->b ? WR_OK : wr_fail(WR_E_OOM, "out of memory");
}

wr_status rife_load(rife **out, const wr_weightfile *wf)
{
    static const int cs[4] = {192, 128, 96, 64}, cins[4] = {15, 20, 20, 20};
    *out = NULL;
    rife *m = calloc(1, sizeof *m);
    if (!m)
        return wr_fail(WR_E_OOM, "out of memory");
    m->wf = wf;
    wr_status st;
    if (wr_weightfile_find(wf, "encode.cnn0.weight") || wr_weightfile_find(wf, "block4.conv0.0.0.weight")) {
        st = wr_fail(WR_E_UNSUPPORTED, "%s: a RIFE 4.10+ checkpoint; only the 4.7/4.8/4.9 architecture is implemented",
                     wf->map.path);
        goto fail;
    }
    WR_TRY_GOTO(bind_conv(m, "encode.0", 16, 3, &m->enc0));
    WR_TRY_GOTO(bind_tconv(m, "encode.1", 16, 4, &m->enc1));
    for (int b = 0; b < 4; b++) {
        ifblock *blk = &m->blocks[b];
        int c = cs[b];
        char p[128];
        blk->c = c;
        snprintf(p, sizeof p, "block%d.conv0.0.0", b);
        WR_TRY_GOTO(bind_conv(m, p, c / 2, cins[b], &blk->c0));
        snprintf(p, sizeof p, "block%d.conv0.1.0", b);
        WR_TRY_GOTO(bind_conv(m, p, c, c / 2, &blk->c1));
        for (int k = 0; k < 8; k++) {
            snprintf(p, sizeof p, "block%d.convblock.%d.conv", b, k);
            WR_TRY_GOTO(bind_conv(m, p, c, c, &blk->res[k]));
            const wr_wtensor *beta;
            snprintf(p, sizeof p, "block%d.convblock.%d.beta", b, k);
            WR_TRY_GOTO(need(m, p, c, &beta));
            if (!(blk->beta[k] = own_f32(m, beta))) {
                st = wr_fail(WR_E_OOM, "out of memory");
                goto fail;
            }
        }
        snprintf(p, sizeof p, "block%d.lastconv.0", b);
        WR_TRY_GOTO(bind_tconv(m, p, c, 24, &blk->last));
    }
    *out = m;
    return WR_OK;
fail:
    rife_free(m);
    return st;
}

void rife_free(rife *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m);
}

/* ---- primitives on planar images ---------------------------------------------------------- */

typedef struct img {
    int c, h, w;
    float *d;
} img;

static wr_status img_alloc(img *x, int c, int h, int w)
{
    x->c = c, x->h = h, x->w = w;
    x->d = calloc((size_t)c * h * w + 1, sizeof(float));
    return x->d ? WR_OK : wr_fail(WR_E_OOM, "RIFE: out of memory for [%d, %d, %d]", c, h, w);
}

static void img_free(img *x)
{
    free(x->d);
    x->d = NULL;
}

static float *plane(const img *x, int c) { return x->d + (size_t)c * x->h * x->w; }

/* Conv2d k3 with padding 1 and the given stride, through the VAE's im2col + matmul. */
static wr_status conv2d(const img *in, const conv *c, int stride, img *out)
{
    vae_vol vin = {.c = in->c, .t = 1, .h = in->h, .w = in->w, .d = in->d}, vo;
    vae_pad p = {0, 1, 1, 1, 1};
    WR_TRY(vae_conv3d(&vin, &c->w, &c->b, 1, stride, stride, p, &vo));
    *out = (img){.c = vo.c, .h = vo.h, .w = vo.w, .d = vo.d};
    return WR_OK;
}

static void lrelu(img *x)
{
    size_t n = (size_t)x->c * x->h * x->w;
    for (size_t i = 0; i < n; i++)
        x->d[i] = x->d[i] >= 0.0f ? x->d[i] : 0.2f * x->d[i];
}

/* ConvTranspose2d(k4, s2, p1): input pixel (iy, ix) adds to out(2iy − 1 + ky, 2ix − 1 + kx)
 * (wr_op_conv_transpose2d). */
static wr_status tconv2d(const img *in, const tconv *c, img *out)
{
    WR_TRY(img_alloc(out, c->cout, in->h * 2, in->w * 2));
    wr_tensor tx, tw, tb, ty;
    int64_t xne[3] = {in->w, in->h, in->c}, wne[4] = {4, 4, c->cout, c->cin}, yne[3] = {out->w, out->h, c->cout};
    int64_t bne = c->cout;
    WR_ASSERT(wr_tensor_init(&tx, WR_DTYPE_F32, 3, xne, in->d) && wr_tensor_init(&tw, WR_DTYPE_F32, 4, wne, c->w) &&
                  wr_tensor_init(&tb, WR_DTYPE_F32, 1, &bne, c->b) && wr_tensor_init(&ty, WR_DTYPE_F32, 3, yne, out->d),
              "RIFE tconv: bad shape");
    wr_op_conv_transpose2d(&tx, &tw, &tb, 2, 1, &ty);
    return WR_OK;
}

/* Bilinear resize by factor f (F.interpolate, align_corners=False, no antialias): wr_op_resize_bilinear. */
static wr_status resize(const img *in, double f, img *out)
{
    int oh = (int)floor(in->h * f), ow = (int)floor(in->w * f);
    WR_TRY(img_alloc(out, in->c, oh, ow));
    wr_tensor tx, ty;
    int64_t xne[3] = {in->w, in->h, in->c}, yne[3] = {ow, oh, in->c};
    WR_ASSERT(wr_tensor_init(&tx, WR_DTYPE_F32, 3, xne, in->d) && wr_tensor_init(&ty, WR_DTYPE_F32, 3, yne, out->d),
              "RIFE resize: bad shape");
    wr_op_resize_bilinear(&tx, f, &ty);
    return WR_OK;
}

/* Backward warp: out(x, y) = src(x + u, y + v), position clamped to the image, bilinear
 * (wr_op_warp); flow is [2, H, W] (u, v). */
static void warp(const img *src, const float *flow, img *out)
{
    wr_tensor tx, tf, ty;
    int64_t ne[3] = {src->w, src->h, src->c}, fne[3] = {src->w, src->h, 2};
    WR_ASSERT(wr_tensor_init(&tx, WR_DTYPE_F32, 3, ne, src->d) && wr_tensor_init(&ty, WR_DTYPE_F32, 3, ne, out->d) &&
                  wr_tensor_init(&tf, WR_DTYPE_F32, 3, fne, (void *)(uintptr_t)flow),
              "RIFE warp: bad shape");
    wr_op_warp(&tx, &tf, &ty);
}

/* Concatenates planes: parts[k] has cs[k] channels at (h, w). */
static wr_status concat(const float *const *parts, const int *cs, int n, int h, int w, img *out)
{
    int total = 0;
    for (int k = 0; k < n; k++)
        total += cs[k];
    WR_TRY(img_alloc(out, total, h, w));
    size_t pl = (size_t)h * w, at = 0;
    for (int k = 0; k < n; k++) {
        memcpy(out->d + at, parts[k], (size_t)cs[k] * pl * sizeof(float));
        at += (size_t)cs[k] * pl;
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
        for (size_t i = 0; i < (size_t)4 * fs.h * fs.w; i++)
            fs.d[i] = fs.d[i] / (float)s;
        const float *parts[2] = {xs.d, fs.d};
        int cs[2] = {xs.c, 4};
        WR_TRY_GOTO(concat(parts, cs, 2, xs.h, xs.w, &in));
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
        size_t pl = (size_t)g.h * g.w;
        for (int c = 0; c < g.c; c++)
            for (size_t p = 0; p < pl; p++)
                r.d[(size_t)c * pl + p] = r.d[(size_t)c * pl + p] * b->beta[k][c] + g.d[(size_t)c * pl + p];
        lrelu(&r);
        img_free(&g);
        g = r;
    }
    WR_TRY_GOTO(tconv2d(&g, &b->last, &t));
    WR_TRY_GOTO(img_alloc(&ps, 6, t.h * 2, t.w * 2)); /* PixelShuffle(2): ps[c,2h+i,2w+j] = t[4c+2i+j,h,w] */
    for (int c = 0; c < 6; c++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                for (int hh = 0; hh < t.h; hh++)
                    for (int ww = 0; ww < t.w; ww++)
                        plane(&ps, c)[(size_t)(2 * hh + i) * ps.w + (size_t)(2 * ww + j)] =
                            plane(&t, 4 * c + 2 * i + j)[(size_t)hh * t.w + (size_t)ww];
    WR_TRY_GOTO(resize(&ps, s, &o));
    WR_TRY_GOTO(img_alloc(flow_out, 4, o.h, o.w));
    WR_TRY_GOTO(img_alloc(mask, 1, o.h, o.w));
    size_t pl = (size_t)o.h * o.w;
    for (size_t i = 0; i < 4 * pl; i++)
        flow_out->d[i] = o.d[i] * (float)s;
    memcpy(mask->d, o.d + 4 * pl, pl * sizeof(float));
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

wr_status rife_interpolate(const rife *m, const float *img0, const float *img1, int h, int w, float t,
                           float scale_factor, bool ensemble, float *out)
{
    if (h < 1 || w < 1 || !(t > 0.0f && t < 1.0f) || !(scale_factor >= 0.25f && scale_factor <= 4.0f))
        return wr_fail(WR_E_ARG, "RIFE: size %dx%d, t %g, scale %g: need t in (0, 1) and scale in [0.25, 4]", w, h,
                       (double)t, (double)scale_factor);
    int ph = (h + PAD_MULTIPLE - 1) / PAD_MULTIPLE * PAD_MULTIPLE, pw = (w + PAD_MULTIPLE - 1) / PAD_MULTIPLE * PAD_MULTIPLE;
    size_t pl = (size_t)ph * pw;
    img i0 = {0}, i1 = {0}, tp = {0}, tn = {0}, f0 = {0}, f1 = {0}, flow = {0}, mask = {0}, w0 = {0}, w1 = {0},
        wf0 = {0}, wf1 = {0}, x = {0}, fd = {0}, mk = {0}, xr = {0}, fr = {0}, mr = {0}, sw = {0};
    wr_status st;
    WR_TRY_GOTO(img_alloc(&i0, 3, ph, pw));
    WR_TRY_GOTO(img_alloc(&i1, 3, ph, pw));
    for (int c = 0; c < 3; c++) /* clamp to [0, 1], zero-pad right and bottom */
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                size_t s = ((size_t)c * h + y) * w + xx, d = (size_t)c * pl + (size_t)y * pw + xx;
                i0.d[d] = fminf(fmaxf(img0[s], 0.0f), 1.0f);
                i1.d[d] = fminf(fmaxf(img1[s], 0.0f), 1.0f);
            }
    WR_TRY_GOTO(img_alloc(&tp, 1, ph, pw));
    WR_TRY_GOTO(img_alloc(&tn, 1, ph, pw));
    for (size_t p = 0; p < pl; p++)
        tp.d[p] = t, tn.d[p] = 1.0f - t;
    WR_TRY_GOTO(encode(m, &i0, &f0));
    WR_TRY_GOTO(encode(m, &i1, &f1));
    double sf = (double)scale_factor, sl[4] = {8.0 / sf, 4.0 / sf, 2.0 / sf, 1.0 / sf};
    {
        const float *parts[5] = {i0.d, i1.d, f0.d, f1.d, tp.d};
        int cs[5] = {3, 3, 4, 4, 1};
        WR_TRY_GOTO(concat(parts, cs, 5, ph, pw, &x));
        WR_TRY_GOTO(ifblock_forward(&m->blocks[0], &x, NULL, sl[0], &flow, &mask));
        img_free(&x);
        if (ensemble) {
            const float *rp[5] = {i1.d, i0.d, f1.d, f0.d, tn.d};
            WR_TRY_GOTO(concat(rp, cs, 5, ph, pw, &xr));
            WR_TRY_GOTO(ifblock_forward(&m->blocks[0], &xr, NULL, sl[0], &fr, &mr));
            img_free(&xr);
            for (size_t p = 0; p < 2 * pl; p++) { /* flow = (flow + swap(fr)) / 2 */
                flow.d[p] = (flow.d[p] + fr.d[2 * pl + p]) / 2.0f;
                flow.d[2 * pl + p] = (flow.d[2 * pl + p] + fr.d[p]) / 2.0f;
            }
            for (size_t p = 0; p < pl; p++)
                mask.d[p] = (mask.d[p] - mr.d[p]) / 2.0f;
            img_free(&fr), img_free(&mr);
        }
    }
    WR_TRY_GOTO(img_alloc(&w0, 3, ph, pw));
    WR_TRY_GOTO(img_alloc(&w1, 3, ph, pw));
    WR_TRY_GOTO(img_alloc(&wf0, 4, ph, pw));
    WR_TRY_GOTO(img_alloc(&wf1, 4, ph, pw));
    warp(&i0, flow.d, &w0);
    warp(&i1, flow.d + 2 * pl, &w1);
    for (int b = 1; b < 4; b++) {
        warp(&f0, flow.d, &wf0);
        warp(&f1, flow.d + 2 * pl, &wf1);
        const float *parts[6] = {w0.d, w1.d, wf0.d, wf1.d, tp.d, mask.d};
        int cs[6] = {3, 3, 4, 4, 1, 1};
        WR_TRY_GOTO(concat(parts, cs, 6, ph, pw, &x));
        WR_TRY_GOTO(ifblock_forward(&m->blocks[b], &x, &flow, sl[b], &fd, &mk));
        img_free(&x);
        for (size_t p = 0; p < 4 * pl; p++)
            flow.d[p] += fd.d[p];
        img_free(&fd);
        if (ensemble) { /* the node's variant: reverse pass with the updated flow and the old mask */
            warp(&f0, flow.d, &wf0);
            warp(&f1, flow.d + 2 * pl, &wf1);
            for (size_t p = 0; p < pl; p++)
                mask.d[p] = -mask.d[p];
            const float *rp[6] = {w1.d, w0.d, wf1.d, wf0.d, tn.d, mask.d};
            WR_TRY_GOTO(concat(rp, cs, 6, ph, pw, &xr));
            WR_TRY_GOTO(img_alloc(&sw, 4, ph, pw));
            memcpy(sw.d, flow.d + 2 * pl, 2 * pl * sizeof(float));
            memcpy(sw.d + 2 * pl, flow.d, 2 * pl * sizeof(float));
            WR_TRY_GOTO(ifblock_forward(&m->blocks[b], &xr, &sw, sl[b], &fr, &mr));
            img_free(&xr), img_free(&sw);
            for (size_t p = 0; p < pl; p++)
                mask.d[p] = (mk.d[p] - mr.d[p]) / 2.0f;
            img_free(&fr), img_free(&mr), img_free(&mk);
        } else {
            img_free(&mask);
            mask = mk;
            mk.d = NULL;
        }
        warp(&i0, flow.d, &w0);
        warp(&i1, flow.d + 2 * pl, &w1);
    }
    for (int c = 0; c < 3; c++) /* sigmoid blend, crop, clamp */
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                size_t p = (size_t)y * pw + xx;
                float a = 1.0f / (1.0f + expf(-mask.d[p]));
                float v = plane(&w0, c)[p] * a + plane(&w1, c)[p] * (1.0f - a);
                out[((size_t)c * h + y) * w + xx] = fminf(fmaxf(v, 0.0f), 1.0f);
            }
fail:
    img_free(&i0), img_free(&i1), img_free(&tp), img_free(&tn), img_free(&f0), img_free(&f1), img_free(&flow);
    img_free(&mask), img_free(&w0), img_free(&w1), img_free(&wf0), img_free(&wf1), img_free(&x), img_free(&fd);
    img_free(&mk), img_free(&xr), img_free(&fr), img_free(&mr), img_free(&sw);
    return st;
}
