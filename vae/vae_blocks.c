/* VAE building blocks (see vae_blocks.h). */
#include "vae/vae_blocks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ops.h"
#include "runtime/quant.h"

void vae_binder_free(vae_binder *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    m->owned = NULL;
    m->n_owned = m->cap = 0;
}

static wr_status find(vae_binder *m, const char *name, const wr_wtensor **out)
{
    *out = wr_weightfile_find(m->wf, name);
    if (!*out)
        return wr_fail(WR_E_FORMAT, "%s: missing tensor '%s' (not this Wan VAE?)", m->wf->map.path, name);
    return WR_OK;
}

static wr_status to_f32(vae_binder *m, const char *name, float **out, int64_t *n)
{
    const wr_wtensor *w;
    WR_TRY(find(m, name, &w));
    int64_t count = wr_tensor_nelements(&w->t), rows = wr_tensor_nrows(&w->t);
    wr_dequant_fn f = wr_dequant_get(w->t.dtype);
    if (!f)
        return wr_fail(WR_E_UNSUPPORTED, "%s: '%s': dtype %s", m->wf->map.path, name, wr_dtype_name(w->t.dtype));
    if (m->n_owned == m->cap) {
        int want = m->cap ? m->cap * 2 : 256;
        void **o = realloc(m->owned, (size_t)want * sizeof *o);
        if (!o)
            return wr_fail(WR_E_OOM, "%s: out of memory", m->wf->map.path);
        m->owned = o;
        m->cap = want;
    }
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

wr_status vae_bind_conv(vae_binder *m, const char *prefix, int cout, int cin, vae_conv *c)
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

wr_status vae_bind_gamma(vae_binder *m, const char *name, int c, float **out)
{
    int64_t n;
    WR_TRY(to_f32(m, name, out, &n));
    if (n != c)
        return wr_fail(WR_E_FORMAT, "%s: '%s' has %lld values, expected %d", m->wf->map.path, name, (long long)n, c);
    return WR_OK;
}

wr_status vae_bind_res(vae_binder *m, const char *prefix, int cin, int cout, vae_resblock *r)
{
    char name[160];
    snprintf(name, sizeof name, "%s.residual.0.gamma", prefix);
    WR_TRY(vae_bind_gamma(m, name, cin, &r->g0));
    snprintf(name, sizeof name, "%s.residual.2", prefix);
    WR_TRY(vae_bind_conv(m, name, cout, cin, &r->c0));
    snprintf(name, sizeof name, "%s.residual.3.gamma", prefix);
    WR_TRY(vae_bind_gamma(m, name, cout, &r->g1));
    snprintf(name, sizeof name, "%s.residual.6", prefix);
    WR_TRY(vae_bind_conv(m, name, cout, cout, &r->c1));
    r->has_sc = cin != cout;
    if (r->has_sc) {
        snprintf(name, sizeof name, "%s.shortcut", prefix);
        WR_TRY(vae_bind_conv(m, name, cout, cin, &r->sc));
    }
    return WR_OK;
}

wr_status vae_bind_attn(vae_binder *m, const char *prefix, int c, vae_attnblock *a)
{
    char name[160];
    snprintf(name, sizeof name, "%s.norm.gamma", prefix);
    WR_TRY(vae_bind_gamma(m, name, c, &a->gamma));
    snprintf(name, sizeof name, "%s.to_qkv", prefix);
    WR_TRY(vae_bind_conv(m, name, 3 * c, c, &a->qkv));
    snprintf(name, sizeof name, "%s.proj", prefix);
    return vae_bind_conv(m, name, c, c, &a->proj);
}


static const vae_pad causal3 = {2, 1, 1, 1, 1};
static const vae_pad none = {0, 0, 0, 0, 0};

wr_status vae_replace(vae_vol *x, vae_vol *y)
{
    vae_vol_free(x);
    *x = *y;
    return WR_OK;
}

wr_status vae_conv_causal(vae_vol *x, const vae_conv *c)
{
    vae_vol y;
    int k = (int)c->w.ne[0];
    vae_pad p = k == 3 ? causal3 : none;
    WR_TRY(vae_conv3d(x, &c->w, &c->b, 1, 1, 1, p, &y));
    return vae_replace(x, &y);
}

wr_status vae_res_forward(vae_vol *x, const vae_resblock *r)
{
    vae_vol h = {0}, y = {0};
    wr_status st;
    if (r->has_sc)
        WR_TRY_GOTO(vae_conv3d(x, &r->sc.w, &r->sc.b, 1, 1, 1, none, &h));
    WR_TRY_GOTO(vae_vol_alloc(&y, x->c, x->t, x->h, x->w));
    memcpy(y.d, x->d, vae_vol_size(x) * sizeof(float));
    vae_rms_norm(&y, r->g0, 1);
    WR_TRY_GOTO(vae_conv_causal(&y, &r->c0));
    vae_rms_norm(&y, r->g1, 1);
    WR_TRY_GOTO(vae_conv_causal(&y, &r->c1));
    vae_add(&y, r->has_sc ? &h : x);
    vae_vol_free(&h);
    return vae_replace(x, &y);
fail:
    vae_vol_free(&h);
    vae_vol_free(&y);
    return st;
}

/* Single-head attention over the H·W positions of each frame, scale 1/√C. */
wr_status vae_attn_forward(vae_vol *x, const vae_attnblock *a)
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

wr_status vae_down_forward(vae_vol *x, const vae_layer *l)
{
    vae_vol s, tc;
    vae_pad zp = {0, 0, 1, 0, 1}; /* ZeroPad2d((0, 1, 0, 1)): right and bottom only */
    WR_TRY(vae_conv3d(x, &l->spatial.w, &l->spatial.b, 1, 2, 2, zp, &s));
    vae_replace(x, &s);
    if (l->kind != VAE_DOWN3D || x->t == 1)
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
        vae_replace(x, &y);
    }
    vae_vol_free(&tc);
    return st;
}

wr_status vae_up_forward(vae_vol *x, const vae_layer *l)
{
    wr_status st = WR_OK;
    size_t plane = (size_t)x->h * x->w;
    if (l->kind == VAE_UP3D && x->t > 1) {
        vae_vol zeroed, tc, y;
        WR_TRY(vae_vol_alloc(&zeroed, x->c, x->t, x->h, x->w));
        memcpy(zeroed.d, x->d, vae_vol_size(x) * sizeof(float));
        for (int c = 0; c < x->c; c++) /* frame 0 never feeds the time vae_conv */
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
            vae_replace(x, &y);
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
    return vae_replace(x, &y2);
}

