/* Wan 2.1 VAE weights and forward passes (see vae21.h). Key names follow the official
 * state dict: encoder.conv1, encoder.downsamples.N.{residual.{0,2,3,6},shortcut,resample.1,
 * time_conv}, encoder.middle.{0,1,2}, encoder.head.{0,2}, conv1, conv2, decoder.* alike. */
#include "vae/vae21.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ops.h"
#include "runtime/quant.h"

#define MAX_OWNED 1024
#define NUM_RES 2

/* The official Wan2_1_VAE latent statistics (wan/modules/vae2_1.py). */
static const float latent_mean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f, -0.1517f, 1.5508f,
                                      0.4134f,  -0.0715f, 0.5517f,  -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f};
static const float latent_std[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                     3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

typedef struct conv {
    wr_tensor w, b; /* weight in file dtype; bias F32 */
} conv;

typedef struct resblock {
    float *g0, *g1; /* residual.0.gamma, residual.3.gamma [C] */
    conv c0, c1;    /* residual.2, residual.6 */
    conv sc;        /* shortcut (1x1x1) when in != out */
    int has_sc;
} resblock;

typedef struct attnblock {
    float *gamma;    /* norm.gamma [C] */
    conv qkv, proj;  /* to_qkv [3C, C, 1, 1], proj [C, C, 1, 1] */
} attnblock;

typedef enum layer_kind { L_RES, L_DOWN2D, L_DOWN3D, L_UP2D, L_UP3D } layer_kind;

typedef struct layer {
    layer_kind kind;
    resblock res;
    conv spatial, time; /* resample.1, time_conv */
} layer;

typedef struct half {
    conv conv1;
    layer layers[24];
    int n_layers;
    resblock mid0, mid1;
    attnblock mid_attn;
    float *head_gamma;
    conv head;
} half;

struct vae21 {
    int dim, z_dim;
    half enc, dec;
    conv post_quant_enc, pre_dec; /* conv1 (encoder side), conv2 (decoder side) */
    const wr_weightfile *wf;
    void *owned[MAX_OWNED];
    int n_owned;
};

static wr_status find(vae21 *m, const char *name, const wr_wtensor **out)
{
    *out = wr_weightfile_find(m->wf, name);
    if (!*out)
        return wr_fail(WR_E_FORMAT, "%s: missing tensor '%s' (not a Wan 2.1 VAE?)", m->wf->map.path, name);
    return WR_OK;
}

static wr_status to_f32(vae21 *m, const char *name, float **out, int64_t *n)
{
    const wr_wtensor *w;
    WR_TRY(find(m, name, &w));
    int64_t count = wr_tensor_nelements(&w->t), rows = wr_tensor_nrows(&w->t);
    wr_dequant_fn f = wr_dequant_get(w->t.dtype);
    if (!f)
        return wr_fail(WR_E_UNSUPPORTED, "%s: '%s': dtype %s", m->wf->map.path, name, wr_dtype_name(w->t.dtype));
    if (m->n_owned == MAX_OWNED)
        return wr_fail(WR_E_OOM, "%s: too many tensors", m->wf->map.path);
    float *p = malloc((size_t)count * sizeof *p);
    if (!p)
        return wr_fail(WR_E_OOM, "%s: out of memory for '%s'", m->wf->map.path, name);
    m->owned[m->n_owned++] = p;
    for (int64_t r = 0; r < rows; r++)
        f(wr_tensor_row(&w->t, r), p + r * w->t.ne[0], w->t.ne[0]);
    for (int64_t i = 0; i < count && w->t.scale != 1.0f; i++)
        p[i] *= w->t.scale;
    *out = p;
    if (n)
        *n = count;
    return WR_OK;
}

static wr_status bind_conv(vae21 *m, const char *prefix, int cout, int cin, conv *c)
{
    char name[160];
    const wr_wtensor *w;
    snprintf(name, sizeof name, "%s.weight", prefix);
    WR_TRY(find(m, name, &w));
    int nd = w->t.n_dims;
    if ((nd != 4 && nd != 5) || w->t.ne[nd - 1] != cout || w->t.ne[nd - 2] != cin)
        return wr_fail(WR_E_FORMAT, "%s: '%s' should be a conv weight [%d, %d, ...]", m->wf->map.path, name, cout, cin);
    c->w = w->t;
    snprintf(name, sizeof name, "%s.bias", prefix);
    float *b;
    int64_t n;
    WR_TRY(to_f32(m, name, &b, &n));
    if (n != cout)
        return wr_fail(WR_E_FORMAT, "%s: '%s' has %lld values, expected %d", m->wf->map.path, name, (long long)n, cout);
    int64_t ne[1] = {cout};
    wr_tensor_init(&c->b, WR_DTYPE_F32, 1, ne, b);
    return WR_OK;
}

static wr_status bind_gamma(vae21 *m, const char *name, int c, float **out)
{
    int64_t n;
    WR_TRY(to_f32(m, name, out, &n));
    if (n != c)
        return wr_fail(WR_E_FORMAT, "%s: '%s' has %lld values, expected %d", m->wf->map.path, name, (long long)n, c);
    return WR_OK;
}

static wr_status bind_res(vae21 *m, const char *prefix, int cin, int cout, resblock *r)
{
    char name[160];
    snprintf(name, sizeof name, "%s.residual.0.gamma", prefix);
    WR_TRY(bind_gamma(m, name, cin, &r->g0));
    snprintf(name, sizeof name, "%s.residual.2", prefix);
    WR_TRY(bind_conv(m, name, cout, cin, &r->c0));
    snprintf(name, sizeof name, "%s.residual.3.gamma", prefix);
    WR_TRY(bind_gamma(m, name, cout, &r->g1));
    snprintf(name, sizeof name, "%s.residual.6", prefix);
    WR_TRY(bind_conv(m, name, cout, cout, &r->c1));
    r->has_sc = cin != cout;
    if (r->has_sc) {
        snprintf(name, sizeof name, "%s.shortcut", prefix);
        WR_TRY(bind_conv(m, name, cout, cin, &r->sc));
    }
    return WR_OK;
}

static wr_status bind_attn(vae21 *m, const char *prefix, int c, attnblock *a)
{
    char name[160];
    snprintf(name, sizeof name, "%s.norm.gamma", prefix);
    WR_TRY(bind_gamma(m, name, c, &a->gamma));
    snprintf(name, sizeof name, "%s.to_qkv", prefix);
    WR_TRY(bind_conv(m, name, 3 * c, c, &a->qkv));
    snprintf(name, sizeof name, "%s.proj", prefix);
    return bind_conv(m, name, c, c, &a->proj);
}

static const int dim_mult[4] = {1, 2, 4, 4};
static const int temporal_down[3] = {0, 1, 1};

static wr_status bind_encoder(vae21 *m)
{
    half *e = &m->enc;
    int d = m->dim, k = 0;
    char name[160];
    WR_TRY(bind_conv(m, "encoder.conv1", d, 3, &e->conv1));
    int in = d;
    for (int i = 0; i < 4; i++) {
        int out = d * dim_mult[i];
        for (int r = 0; r < NUM_RES; r++, k++) {
            snprintf(name, sizeof name, "encoder.downsamples.%d", k);
            e->layers[k].kind = L_RES;
            WR_TRY(bind_res(m, name, in, out, &e->layers[k].res));
            in = out;
        }
        if (i < 3) {
            layer *l = &e->layers[k];
            l->kind = temporal_down[i] ? L_DOWN3D : L_DOWN2D;
            snprintf(name, sizeof name, "encoder.downsamples.%d.resample.1", k);
            WR_TRY(bind_conv(m, name, out, out, &l->spatial));
            if (temporal_down[i]) {
                snprintf(name, sizeof name, "encoder.downsamples.%d.time_conv", k);
                WR_TRY(bind_conv(m, name, out, out, &l->time));
            }
            k++;
        }
    }
    e->n_layers = k;
    WR_TRY(bind_res(m, "encoder.middle.0", in, in, &e->mid0));
    WR_TRY(bind_attn(m, "encoder.middle.1", in, &e->mid_attn));
    WR_TRY(bind_res(m, "encoder.middle.2", in, in, &e->mid1));
    WR_TRY(bind_gamma(m, "encoder.head.0.gamma", in, &e->head_gamma));
    return bind_conv(m, "encoder.head.2", 2 * m->z_dim, in, &e->head);
}

static wr_status bind_decoder(vae21 *m)
{
    half *dc = &m->dec;
    int d = m->dim, k = 0;
    char name[160];
    int dims[5] = {d * dim_mult[3], d * dim_mult[3], d * dim_mult[2], d * dim_mult[1], d * dim_mult[0]};
    WR_TRY(bind_conv(m, "decoder.conv1", dims[0], m->z_dim, &dc->conv1));
    WR_TRY(bind_res(m, "decoder.middle.0", dims[0], dims[0], &dc->mid0));
    WR_TRY(bind_attn(m, "decoder.middle.1", dims[0], &dc->mid_attn));
    WR_TRY(bind_res(m, "decoder.middle.2", dims[0], dims[0], &dc->mid1));
    for (int i = 0; i < 4; i++) {
        int in = dims[i], out = dims[i + 1];
        if (i >= 1)
            in /= 2; /* the previous upsample halved the channels */
        for (int r = 0; r < NUM_RES + 1; r++, k++) {
            snprintf(name, sizeof name, "decoder.upsamples.%d", k);
            dc->layers[k].kind = L_RES;
            WR_TRY(bind_res(m, name, in, out, &dc->layers[k].res));
            in = out;
        }
        if (i < 3) {
            layer *l = &dc->layers[k];
            int temporal = temporal_down[2 - i]; /* temperal_upsample = reversed */
            l->kind = temporal ? L_UP3D : L_UP2D;
            snprintf(name, sizeof name, "decoder.upsamples.%d.resample.1", k);
            WR_TRY(bind_conv(m, name, out / 2, out, &l->spatial));
            if (temporal) {
                snprintf(name, sizeof name, "decoder.upsamples.%d.time_conv", k);
                WR_TRY(bind_conv(m, name, 2 * out, out, &l->time));
            }
            k++;
        }
    }
    dc->n_layers = k;
    WR_TRY(bind_gamma(m, "decoder.head.0.gamma", dims[4], &dc->head_gamma));
    return bind_conv(m, "decoder.head.2", 3, dims[4], &dc->head);
}

wr_status vae21_load(vae21 **out, const wr_weightfile *wf)
{
    *out = NULL;
    vae21 *m = calloc(1, sizeof *m);
    if (!m)
        return wr_fail(WR_E_OOM, "%s: out of memory", wf->map.path);
    m->wf = wf;
    wr_status st;
    const wr_wtensor *c1, *c2;
    WR_TRY_GOTO(find(m, "encoder.conv1.weight", &c1));
    WR_TRY_GOTO(find(m, "conv2.weight", &c2));
    m->dim = (int)c1->t.ne[c1->t.n_dims - 1];
    m->z_dim = (int)c2->t.ne[c2->t.n_dims - 1];
    if (m->z_dim != 16) {
        st = wr_fail(WR_E_UNSUPPORTED, "%s: latent channels %d: this is not a Wan 2.1 VAE (16)", wf->map.path, m->z_dim);
        goto fail;
    }
    WR_TRY_GOTO(bind_encoder(m));
    WR_TRY_GOTO(bind_decoder(m));
    WR_TRY_GOTO(bind_conv(m, "conv1", 2 * m->z_dim, 2 * m->z_dim, &m->post_quant_enc));
    WR_TRY_GOTO(bind_conv(m, "conv2", m->z_dim, m->z_dim, &m->pre_dec));
    *out = m;
    return WR_OK;
fail:
    vae21_free(m);
    return st;
}

void vae21_free(vae21 *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m);
}

int vae21_z_dim(const vae21 *m) { return m->z_dim; }

/* ---- forward pieces (every function consumes *x and replaces it) ---------------------------- */

static const vae_pad causal3 = {2, 1, 1, 1, 1};
static const vae_pad none = {0, 0, 0, 0, 0};

static wr_status replace(vae_vol *x, vae_vol *y)
{
    vae_vol_free(x);
    *x = *y;
    return WR_OK;
}

static wr_status conv_causal(vae_vol *x, const conv *c)
{
    vae_vol y;
    int k = (int)c->w.ne[0];
    vae_pad p = k == 3 ? causal3 : none;
    WR_TRY(vae_conv3d(x, &c->w, &c->b, 1, 1, 1, p, &y));
    return replace(x, &y);
}

static wr_status res_forward(vae_vol *x, const resblock *r)
{
    vae_vol h = {0}, y = {0};
    wr_status st;
    if (r->has_sc)
        WR_TRY_GOTO(vae_conv3d(x, &r->sc.w, &r->sc.b, 1, 1, 1, none, &h));
    WR_TRY_GOTO(vae_vol_alloc(&y, x->c, x->t, x->h, x->w));
    memcpy(y.d, x->d, vae_vol_size(x) * sizeof(float));
    vae_rms_norm(&y, r->g0, 1);
    WR_TRY_GOTO(conv_causal(&y, &r->c0));
    vae_rms_norm(&y, r->g1, 1);
    WR_TRY_GOTO(conv_causal(&y, &r->c1));
    vae_add(&y, r->has_sc ? &h : x);
    vae_vol_free(&h);
    return replace(x, &y);
fail:
    vae_vol_free(&h);
    vae_vol_free(&y);
    return st;
}

/* Single-head attention over the H·W positions of each frame, scale 1/√C. */
static wr_status attn_forward(vae_vol *x, const attnblock *a)
{
    int C = x->c, T = x->t;
    int64_t P = (int64_t)x->h * x->w;
    vae_vol xn, qkv;
    WR_TRY(vae_vol_alloc(&xn, C, T, x->h, x->w));
    memcpy(xn.d, x->d, vae_vol_size(x) * sizeof(float));
    vae_rms_norm(&xn, a->gamma, 0);
    wr_status st = vae_conv3d(&xn, &a->qkv.w, &a->qkv.b, 1, 1, 1, none, &qkv); /* [3C, T, h, w] */
    vae_vol_free(&xn);
    WR_TRY(st);
    float *q = malloc((size_t)(4 * P * C) * sizeof(float));
    if (!q) {
        vae_vol_free(&qkv);
        return wr_fail(WR_E_OOM, "VAE attention: out of memory");
    }
    float *k = q + P * C, *v = k + P * C, *o = v + P * C;
    vae_vol att;
    st = vae_vol_alloc(&att, C, T, x->h, x->w);
    for (int t = 0; t < T && st == WR_OK; t++) {
        for (int c = 0; c < C; c++)
            for (int64_t p = 0; p < P; p++) {
                size_t plane = (size_t)T * P;
                q[p * C + c] = qkv.d[(size_t)c * plane + (size_t)t * P + p];
                k[p * C + c] = qkv.d[(size_t)(C + c) * plane + (size_t)t * P + p];
                v[p * C + c] = qkv.d[(size_t)(2 * C + c) * plane + (size_t)t * P + p];
            }
        wr_tensor tq, tk, tv, to;
        int64_t ne[3] = {C, 1, P};
        wr_tensor_init(&tq, WR_DTYPE_F32, 3, ne, q);
        wr_tensor_init(&tk, WR_DTYPE_F32, 3, ne, k);
        wr_tensor_init(&tv, WR_DTYPE_F32, 3, ne, v);
        wr_tensor_init(&to, WR_DTYPE_F32, 3, ne, o);
        wr_op_attention(&tq, &tk, &tv, P, 1.0f / sqrtf((float)C), &to);
        for (int c = 0; c < C; c++)
            for (int64_t p = 0; p < P; p++)
                att.d[((size_t)c * T + (size_t)t) * P + p] = o[p * C + c];
    }
    free(q);
    vae_vol_free(&qkv);
    WR_TRY(st);
    vae_vol y;
    st = vae_conv3d(&att, &a->proj.w, &a->proj.b, 1, 1, 1, none, &y);
    vae_vol_free(&att);
    WR_TRY(st);
    vae_add(x, &y);
    vae_vol_free(&y);
    return WR_OK;
}

static wr_status down_forward(vae_vol *x, const layer *l)
{
    vae_vol s, tc;
    vae_pad zp = {0, 0, 1, 0, 1}; /* ZeroPad2d((0, 1, 0, 1)): right and bottom only */
    WR_TRY(vae_conv3d(x, &l->spatial.w, &l->spatial.b, 1, 2, 2, zp, &s));
    replace(x, &s);
    if (l->kind != L_DOWN3D || x->t == 1)
        return WR_OK;
    WR_TRY(vae_conv3d(x, &l->time.w, &l->time.b, 2, 1, 1, none, &tc)); /* windows start at 0, 2, 4, ... */
    vae_vol y;
    wr_status st = vae_vol_alloc(&y, x->c, 1 + tc.t, x->h, x->w);
    if (st == WR_OK) {
        size_t plane = (size_t)x->h * x->w;
        for (int c = 0; c < x->c; c++) {
            memcpy(y.d + (size_t)c * y.t * plane, x->d + (size_t)c * x->t * plane, plane * sizeof(float));
            memcpy(y.d + ((size_t)c * y.t + 1) * plane, tc.d + (size_t)c * tc.t * plane, (size_t)tc.t * plane * sizeof(float));
        }
        replace(x, &y);
    }
    vae_vol_free(&tc);
    return st;
}

static wr_status up_forward(vae_vol *x, const layer *l)
{
    wr_status st = WR_OK;
    size_t plane = (size_t)x->h * x->w;
    if (l->kind == L_UP3D && x->t > 1) {
        vae_vol zeroed, tc, y;
        WR_TRY(vae_vol_alloc(&zeroed, x->c, x->t, x->h, x->w));
        memcpy(zeroed.d, x->d, vae_vol_size(x) * sizeof(float));
        for (int c = 0; c < x->c; c++) /* frame 0 never feeds the time conv */
            memset(zeroed.d + (size_t)c * x->t * plane, 0, plane * sizeof(float));
        vae_pad p = {2, 0, 0, 0, 0};
        st = vae_conv3d(&zeroed, &l->time.w, &l->time.b, 1, 1, 1, p, &tc); /* [2C, T, h, w] */
        vae_vol_free(&zeroed);
        WR_TRY(st);
        int C = x->c, T = x->t;
        st = vae_vol_alloc(&y, C, 1 + 2 * (T - 1), x->h, x->w);
        if (st == WR_OK) {
            for (int c = 0; c < C; c++) {
                memcpy(y.d + (size_t)c * y.t * plane, x->d + (size_t)c * T * plane, plane * sizeof(float));
                for (int i = 1; i < T; i++)
                    for (int s = 0; s < 2; s++)
                        memcpy(y.d + ((size_t)c * y.t + (size_t)(2 * i - 1 + s)) * plane,
                               tc.d + ((size_t)(s * C + c) * T + (size_t)i) * plane, plane * sizeof(float));
            }
            replace(x, &y);
        }
        vae_vol_free(&tc);
        WR_TRY(st);
    }
    vae_vol up, y2;
    WR_TRY(vae_upsample2x(x, &up));
    vae_pad p1 = {0, 1, 1, 1, 1};
    st = vae_conv3d(&up, &l->spatial.w, &l->spatial.b, 1, 1, 1, p1, &y2);
    vae_vol_free(&up);
    WR_TRY(st);
    return replace(x, &y2);
}

static wr_status half_forward(vae_vol *x, const half *h, int encoder)
{
    WR_TRY(conv_causal(x, &h->conv1));
    if (!encoder) {
        WR_TRY(res_forward(x, &h->mid0));
        WR_TRY(attn_forward(x, &h->mid_attn));
        WR_TRY(res_forward(x, &h->mid1));
    }
    for (int i = 0; i < h->n_layers; i++) {
        const layer *l = &h->layers[i];
        switch (l->kind) {
        case L_RES: WR_TRY(res_forward(x, &l->res)); break;
        case L_DOWN2D:
        case L_DOWN3D: WR_TRY(down_forward(x, l)); break;
        default: WR_TRY(up_forward(x, l)); break;
        }
    }
    if (encoder) {
        WR_TRY(res_forward(x, &h->mid0));
        WR_TRY(attn_forward(x, &h->mid_attn));
        WR_TRY(res_forward(x, &h->mid1));
    }
    vae_rms_norm(x, h->head_gamma, 1);
    return conv_causal(x, &h->head);
}

wr_status vae21_encode(const vae21 *m, const vae_vol *video, vae_vol *latent)
{
    if (video->c != 3 || video->t < 1 || (video->t - 1) % 4 != 0 || video->h % 8 || video->w % 8 || video->h < 8 ||
        video->w < 8)
        return wr_fail(WR_E_ARG, "VAE encode: video [%d, %d, %d, %d]: need 3 channels, 4k+1 frames, height and width "
                                 "multiples of 8", video->c, video->t, video->h, video->w);
    vae_vol x;
    WR_TRY(vae_vol_alloc(&x, 3, video->t, video->h, video->w));
    memcpy(x.d, video->d, vae_vol_size(video) * sizeof(float));
    wr_status st = half_forward(&x, &m->enc, 1);
    if (st == WR_OK)
        st = conv_causal(&x, &m->post_quant_enc);
    if (st != WR_OK) {
        vae_vol_free(&x);
        return st;
    }
    st = vae_vol_alloc(latent, m->z_dim, x.t, x.h, x.w);
    if (st == WR_OK) {
        size_t n = (size_t)x.t * x.h * x.w;
        for (int c = 0; c < m->z_dim; c++) { /* μ = first z channels; the log-variance is dropped */
            float inv_std = 1.0f / latent_std[c];
            for (size_t i = 0; i < n; i++)
                latent->d[(size_t)c * n + i] = (x.d[(size_t)c * n + i] - latent_mean[c]) * inv_std;
        }
    }
    vae_vol_free(&x);
    return st;
}

wr_status vae21_decode(const vae21 *m, const vae_vol *latent, vae_vol *video)
{
    if (latent->c != m->z_dim || latent->t < 1 || latent->h < 1 || latent->w < 1)
        return wr_fail(WR_E_ARG, "VAE decode: latent [%d, %d, %d, %d]: need %d channels", latent->c, latent->t,
                       latent->h, latent->w, m->z_dim);
    vae_vol x;
    WR_TRY(vae_vol_alloc(&x, latent->c, latent->t, latent->h, latent->w));
    size_t n = (size_t)latent->t * latent->h * latent->w;
    for (int c = 0; c < m->z_dim; c++) { /* z / (1/std) + mean, as the official code writes it */
        float inv_std = 1.0f / latent_std[c];
        for (size_t i = 0; i < n; i++)
            x.d[(size_t)c * n + i] = latent->d[(size_t)c * n + i] / inv_std + latent_mean[c];
    }
    wr_status st = conv_causal(&x, &m->pre_dec);
    if (st == WR_OK)
        st = half_forward(&x, &m->dec, 0);
    if (st != WR_OK) {
        vae_vol_free(&x);
        return st;
    }
    *video = x;
    return WR_OK;
}
