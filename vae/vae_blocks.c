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

static wr_status own(vae_binder *m, size_t bytes, float **out)
{
    if (m->n_owned == m->cap) {
        int want = m->cap ? m->cap * 2 : 256;
        void **o = realloc(m->owned, (size_t)want * sizeof *o);
        if (!o)
            return wr_fail(WR_E_OOM, "VAE weights: out of memory");
        m->owned = o;
        m->cap = want;
    }
    float *p = calloc(1, bytes + 1);
    if (!p)
        return wr_fail(WR_E_OOM, "VAE weights: out of memory");
    m->owned[m->n_owned++] = p;
    *out = p;
    return WR_OK;
}

/* F32 copy of a small tensor (bias, gamma) of `expect` values; zeros for a shape-only binder. */
static wr_status to_f32(vae_binder *m, const char *name, int64_t expect, float **out)
{
    if (!m->wf)
        return own(m, (size_t)expect * sizeof(float), out);
    const wr_wtensor *w;
    WR_TRY(find(m, name, &w));
    int64_t count = wr_tensor_nelements(&w->t), rows = wr_tensor_nrows(&w->t);
    if (count != expect)
        return wr_fail(WR_E_FORMAT, "%s: '%s' has %lld values, expected %lld", m->wf->map.path, name, (long long)count,
                       (long long)expect);
    wr_dequant_fn f = wr_dequant_get(w->t.dtype);
    if (!f)
        return wr_fail(WR_E_UNSUPPORTED, "%s: '%s': dtype %s", m->wf->map.path, name, wr_dtype_name(w->t.dtype));
    float *p;
    WR_TRY(own(m, (size_t)count * sizeof *p, &p));
    for (int64_t r = 0; r < rows; r++)
        f(wr_tensor_row(&w->t, r), p + r * w->t.ne[0], w->t.ne[0]);
    for (int64_t i = 0; i < count && w->t.scale != 1.0f; i++)
        p[i] *= w->t.scale;
    *out = p;
    return WR_OK;
}

wr_status vae_bind_conv(vae_binder *m, const char *prefix, int cout, int cin, int kt, int k, vae_conv *c)
{
    char name[160];
    int nd = kt ? 5 : 4;
    int64_t ne[5] = {k, k, kt ? kt : cin, kt ? cin : cout, cout}; /* innermost first */
    snprintf(name, sizeof name, "%s.weight", prefix);
    if (m->wf) {
        const wr_wtensor *w;
        WR_TRY(find(m, name, &w));
        int ok = w->t.n_dims == nd;
        for (int i = 0; i < nd && ok; i++)
            ok = w->t.ne[i] == ne[i];
        if (!ok) {
            char want[64];
            if (kt)
                snprintf(want, sizeof want, "[%d, %d, %d, %d, %d]", cout, cin, kt, k, k);
            else
                snprintf(want, sizeof want, "[%d, %d, %d, %d]", cout, cin, k, k);
            return wr_fail(WR_E_FORMAT, "%s: '%s' should be a conv weight %s", m->wf->map.path, name, want);
        }
        c->w = w->t;
    } else
        WR_ASSERT(wr_tensor_init(&c->w, m->dtype, nd, ne, NULL), "shape-only conv '%s'", name);
    m->weight_bytes += wr_tensor_nbytes(&c->w);
    snprintf(name, sizeof name, "%s.bias", prefix);
    float *b;
    WR_TRY(to_f32(m, name, cout, &b));
    int64_t bne[1] = {cout};
    wr_tensor_init(&c->b, WR_DTYPE_F32, 1, bne, b);
    m->weight_bytes += (size_t)cout * sizeof(float);
    return WR_OK;
}

wr_status vae_bind_gamma(vae_binder *m, const char *name, int c, float **out)
{
    m->weight_bytes += (size_t)c * sizeof(float);
    return to_f32(m, name, c, out);
}

wr_status vae_bind_res(vae_binder *m, const char *prefix, int cin, int cout, vae_resblock *r)
{
    char name[160];
    snprintf(name, sizeof name, "%s.residual.0.gamma", prefix);
    WR_TRY(vae_bind_gamma(m, name, cin, &r->g0));
    snprintf(name, sizeof name, "%s.residual.2", prefix);
    WR_TRY(vae_bind_conv(m, name, cout, cin, 3, 3, &r->c0));
    snprintf(name, sizeof name, "%s.residual.3.gamma", prefix);
    WR_TRY(vae_bind_gamma(m, name, cout, &r->g1));
    snprintf(name, sizeof name, "%s.residual.6", prefix);
    WR_TRY(vae_bind_conv(m, name, cout, cout, 3, 3, &r->c1));
    r->has_sc = cin != cout;
    if (r->has_sc) {
        snprintf(name, sizeof name, "%s.shortcut", prefix);
        WR_TRY(vae_bind_conv(m, name, cout, cin, 1, 1, &r->sc));
    }
    return WR_OK;
}

wr_status vae_bind_attn(vae_binder *m, const char *prefix, int c, vae_attnblock *a)
{
    char name[160];
    snprintf(name, sizeof name, "%s.norm.gamma", prefix);
    WR_TRY(vae_bind_gamma(m, name, c, &a->gamma));
    snprintf(name, sizeof name, "%s.to_qkv", prefix);
    WR_TRY(vae_bind_conv(m, name, 3 * c, c, 0, 1, &a->qkv));
    snprintf(name, sizeof name, "%s.proj", prefix);
    return vae_bind_conv(m, name, c, c, 0, 1, &a->proj);
}

/* ---- temporal caches ---------------------------------------------------------------------- */

void vae_tcache_begin(vae_tcache *tc, int first)
{
    tc->idx = 0;
    tc->first = first;
}

void vae_tcache_free(vae_tcache *tc)
{
    if (!tc)
        return;
    for (int i = 0; i < tc->n; i++)
        vae_vol_free(&tc->slot[i]);
    tc->n = tc->idx = 0;
}

size_t vae_tcache_bytes(const vae_tcache *tc)
{
    size_t n = 0;
    for (int i = 0; i < tc->n; i++)
        n += vae_vol_size(&tc->slot[i]) * sizeof(float);
    return n;
}

/* The next slot of this chunk: [c, t, h, w], zeros when new (nothing before the video). */
static wr_status next_slot(vae_tcache *tc, int c, int t, int h, int w, vae_vol **out)
{
    WR_ASSERT(tc->idx < VAE_MAX_SLOTS, "VAE: more than %d cached convs", VAE_MAX_SLOTS);
    vae_vol *s = &tc->slot[tc->idx];
    if (tc->idx == tc->n) {
        WR_TRY(vae_vol_zeros(s, c, t, h, w));
        tc->n++;
    }
    WR_ASSERT(s->c == c && s->t == t && s->h == h && s->w == w, "VAE cache slot %d: chunk shapes changed", tc->idx);
    tc->idx++;
    *out = s;
    return WR_OK;
}

/* out = [a frames, b frames] along time (same C, H, W). */
static wr_status cat_frames(const vae_vol *a, const vae_vol *b, vae_vol *out)
{
    WR_TRY(vae_vol_alloc(out, b->c, a->t + b->t, b->h, b->w));
    vae_vol_copy_frames(out, 0, a, 0, a->t);
    vae_vol_copy_frames(out, a->t, b, 0, b->t);
    return WR_OK;
}

/* slot = the last slot->t frames of src (src->t >= slot->t). */
static void keep_last(const vae_vol *src, vae_vol *slot) { vae_vol_copy_frames(slot, 0, src, src->t - slot->t, slot->t); }

/* ---- forward pieces ------------------------------------------------------------------------ */

wr_status vae_per_frame(vae_vol *x, vae_tcache *tc, vae_part_fn part, const void *model, const vae_sink *sink, int t0)
{
    int n = x->t, idx0 = tc->idx, have_out = 0;
    vae_vol out = {0};
    wr_status st = WR_OK;
    for (int f = 0; f < n && st == WR_OK; f++) {
        vae_vol xf;
        st = vae_vol_crop(x, f, 1, 0, x->h, 0, x->w, &xf);
        if (st != WR_OK)
            break;
        if (f == n - 1)
            vae_vol_free(x); /* the last frame is out: the chunk is no longer needed */
        tc->idx = idx0;
        st = part(model, &xf, tc);
        if (st == WR_OK && sink && xf.dev) { /* the sink reads host frames: the frame comes down here */
            vae_vol hf;
            st = vae_vol_download(&xf, &hf);
            if (st == WR_OK)
                st = sink->fn(sink->ctx, &hf, t0 + f);
            vae_vol_free(&hf);
        } else if (st == WR_OK && sink)
            st = sink->fn(sink->ctx, &xf, t0 + f);
        else if (st == WR_OK) {
            if (!have_out)
                st = vae_vol_alloc(&out, xf.c, n * xf.t, xf.h, xf.w);
            have_out = 1;
            if (st == WR_OK)
                vae_vol_put_frames(&out, f * xf.t, &xf);
        }
        vae_vol_free(&xf);
    }
    vae_vol_free(x);
    if (st == WR_OK && !sink)
        *x = out;
    else
        vae_vol_free(&out);
    return st;
}

static const vae_pad causal3 = {2, 1, 1, 1, 1};
static const vae_pad none = {0, 0, 0, 0, 0};

wr_status vae_replace(vae_vol *x, vae_vol *y)
{
    vae_vol_free(x);
    *x = *y;
    return WR_OK;
}

wr_status vae_conv_causal(vae_vol *x, const vae_conv *c, vae_tcache *tc)
{
    vae_vol y;
    int k = (int)c->w.ne[0];
    if (k != 3 || !tc) {
        WR_TRY(vae_conv3d(x, &c->w, &c->b, 1, 1, 1, k == 3 ? causal3 : none, &y));
        return vae_replace(x, &y);
    }
    vae_vol *s, cat;
    WR_TRY(next_slot(tc, x->c, 2, x->h, x->w, &s));
    WR_TRY(cat_frames(s, x, &cat)); /* the official torch.cat([cache_x, x], dim=2) */
    vae_vol_free(x);
    vae_pad p = causal3;
    p.t_front = 0;
    wr_status st = vae_conv3d(&cat, &c->w, &c->b, 1, 1, 1, p, &y);
    keep_last(&cat, s);
    vae_vol_free(&cat);
    WR_TRY(st);
    *x = y;
    return WR_OK;
}

wr_status vae_res_forward(vae_vol *x, const vae_resblock *r, vae_tcache *tc)
{
    vae_vol h = {0}, y = {0};
    wr_status st;
    if (r->has_sc)
        WR_TRY_GOTO(vae_conv3d(x, &r->sc.w, &r->sc.b, 1, 1, 1, none, &h));
    WR_TRY_GOTO(vae_vol_clone(x, &y));
    vae_rms_norm(&y, r->g0, 1);
    WR_TRY_GOTO(vae_conv_causal(&y, &r->c0, tc));
    vae_rms_norm(&y, r->g1, 1);
    WR_TRY_GOTO(vae_conv_causal(&y, &r->c1, tc));
    vae_add(&y, r->has_sc ? &h : x);
    vae_vol_free(&h);
    return vae_replace(x, &y);
fail:
    vae_vol_free(&h);
    vae_vol_free(&y);
    return st;
}

/* The attention block on device volumes: the same ops as the host path below, with its
 * channel-major <-> position-major glue as wr_op_transpose on the buffers (one frame at a time). */
static wr_status attn_resident(vae_vol *x, const vae_attnblock *a)
{
    int C = x->c, T = x->t;
    int64_t P = (int64_t)x->h * x->w;
    vae_vol xn = {0}, qkv = {0}, fr = {0}, rows = {0}, of = {0}, att = {0}, y = {0};
    wr_status st;
    WR_TRY_GOTO(vae_vol_clone(x, &xn));
    vae_rms_norm(&xn, a->gamma, 0);
    WR_TRY_GOTO(vae_conv3d(&xn, &a->qkv.w, &a->qkv.b, 1, 1, 1, none, &qkv)); /* [3C, T, h, w] */
    vae_vol_free(&xn);
    WR_TRY_GOTO(vae_vol_alloc(&fr, 3 * C, 1, x->h, x->w));  /* qkv of one frame */
    WR_TRY_GOTO(vae_vol_alloc(&rows, 4, 1, (int)P, C));     /* q, k, v, o as [P, C] rows */
    WR_TRY_GOTO(vae_vol_alloc(&of, C, 1, x->h, x->w));      /* o of one frame, channel-major */
    WR_TRY_GOTO(vae_vol_alloc(&att, C, T, x->h, x->w));
    int64_t cp[2] = {P, C}, pc[3] = {C, 1, P}, pc2[2] = {C, P};
    for (int t = 0; t < T; t++) {
        vae_vol_copy_frames(&fr, 0, &qkv, t, 1);
        wr_tensor planes, tok[4];
        for (int i = 0; i < 4; i++)
            wr_tensor_init(&tok[i], WR_DTYPE_F32, 3, pc, rows.d + (size_t)i * P * C);
        for (int i = 0; i < 3; i++) { /* q, k, v: [C, P] -> [P, C] */
            wr_tensor_init(&planes, WR_DTYPE_F32, 2, cp, fr.d + (size_t)i * C * P);
            wr_tensor r2 = wr_tensor_reshape(&tok[i], 2, pc2);
            wr_op_transpose(&planes, &r2);
        }
        wr_op_attention(&tok[0], &tok[1], &tok[2], P, 1.0f / sqrtf((float)C), &tok[3]);
        wr_tensor o2 = wr_tensor_reshape(&tok[3], 2, pc2);
        wr_tensor_init(&planes, WR_DTYPE_F32, 2, cp, of.d);
        wr_op_transpose(&o2, &planes); /* [P, C] -> [C, P] */
        vae_vol_copy_frames(&att, t, &of, 0, 1);
    }
    vae_vol_free(&qkv), vae_vol_free(&fr), vae_vol_free(&rows), vae_vol_free(&of);
    WR_TRY_GOTO(vae_conv3d(&att, &a->proj.w, &a->proj.b, 1, 1, 1, none, &y));
    vae_vol_free(&att);
    vae_add(x, &y);
    vae_vol_free(&y);
    return WR_OK;
fail:
    vae_vol_free(&xn), vae_vol_free(&qkv), vae_vol_free(&fr), vae_vol_free(&rows), vae_vol_free(&of);
    vae_vol_free(&att), vae_vol_free(&y);
    return st;
}

/* Single-head attention over the H·W positions of each frame, scale 1/√C. */
wr_status vae_attn_forward(vae_vol *x, const vae_attnblock *a)
{
    if (x->dev)
        return attn_resident(x, a);
    int C = x->c, T = x->t;
    int64_t P = (int64_t)x->h * x->w;
    vae_vol xn, qkv;
    WR_TRY(vae_vol_alloc(&xn, C, T, x->h, x->w));
    if (!vae_dry())
        memcpy(xn.d, x->d, vae_vol_size(x) * sizeof(float));
    vae_rms_norm(&xn, a->gamma, 0);
    wr_status st = vae_conv3d(&xn, &a->qkv.w, &a->qkv.b, 1, 1, 1, none, &qkv); /* [3C, T, h, w] */
    vae_vol_free(&xn);
    WR_TRY(st);
    size_t qbytes = (size_t)(4 * P * C) * sizeof(float);
    float *q = vae_scratch_alloc(qbytes);
    if (!q && !vae_dry()) {
        vae_vol_free(&qkv);
        return wr_fail(WR_E_OOM, "VAE attention: out of memory");
    }
    float *k = q + P * C, *v = k + P * C, *o = v + P * C;
    vae_vol att;
    st = vae_vol_alloc(&att, C, T, x->h, x->w);
    for (int t = 0; t < T && st == WR_OK && !vae_dry(); t++) {
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
    vae_scratch_free(q, qbytes);
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

/* Streamed time downsample: the first chunk passes through and leaves its last frame in the
 * cache; later chunks run the stride-2 time conv over [cached frame, chunk]. */
static wr_status down_time_cached(vae_vol *x, const vae_layer *l, vae_tcache *tc)
{
    vae_vol *s, cat, y;
    WR_TRY(next_slot(tc, x->c, 1, x->h, x->w, &s));
    if (tc->first) {
        keep_last(x, s);
        return WR_OK;
    }
    WR_TRY(cat_frames(s, x, &cat));
    wr_status st = vae_conv3d(&cat, &l->time.w, &l->time.b, 2, 1, 1, none, &y);
    vae_vol_free(&cat);
    WR_TRY(st);
    keep_last(x, s);
    return vae_replace(x, &y);
}

wr_status vae_down_forward(vae_vol *x, const vae_layer *l, vae_tcache *tc)
{
    vae_vol s;
    vae_pad zp = {0, 0, 1, 0, 1}; /* ZeroPad2d((0, 1, 0, 1)): right and bottom only */
    WR_TRY(vae_conv3d(x, &l->spatial.w, &l->spatial.b, 1, 2, 2, zp, &s));
    vae_replace(x, &s);
    WR_ASSERT(l->kind != VAE_DOWN3D || tc, "time downsampling needs the streamed caches");
    return l->kind == VAE_DOWN3D ? down_time_cached(x, l, tc) : WR_OK;
}

/* [2C, T] time-conv output -> [C, 2T]: frame 2i + s comes from channel s·C + c (the official
 * reshape(b, 2, c, t, h, w) + stack). */
static wr_status interleave_time(const vae_vol *tc, vae_vol *y)
{
    int C = tc->c / 2, T = tc->t;
    WR_TRY(vae_vol_alloc(y, C, 2 * T, tc->h, tc->w));
    for (int c = 0; c < C && !vae_dry(); c++)
        for (int i = 0; i < T; i++)
            for (int s = 0; s < 2; s++)
                vae_vol_copy_plane(y, c, 2 * i + s, tc, s * C + c, i);
    return WR_OK;
}

/* Streamed time upsample: the first chunk skips the time conv (the official 'Rep' cache, so
 * the next chunk sees zeros before it); later chunks double their frames. */
static wr_status up_time_cached(vae_vol *x, const vae_layer *l, vae_tcache *tc)
{
    vae_vol *s, cat, t2, y;
    WR_TRY(next_slot(tc, x->c, 2, x->h, x->w, &s));
    if (tc->first)
        return WR_OK;
    WR_TRY(cat_frames(s, x, &cat));
    wr_status st = vae_conv3d(&cat, &l->time.w, &l->time.b, 1, 1, 1, none, &t2); /* [2C, T, h, w] */
    keep_last(&cat, s);
    vae_vol_free(&cat);
    WR_TRY(st);
    st = interleave_time(&t2, &y);
    vae_vol_free(&t2);
    WR_TRY(st);
    return vae_replace(x, &y);
}

wr_status vae_up_forward(vae_vol *x, const vae_layer *l, vae_tcache *tc)
{
    WR_ASSERT(l->kind != VAE_UP3D || tc, "time upsampling needs the streamed caches");
    if (l->kind == VAE_UP3D)
        WR_TRY(up_time_cached(x, l, tc));
    vae_vol up, y2;
    WR_TRY(vae_upsample2x(x, &up));
    vae_pad p1 = {0, 1, 1, 1, 1};
    wr_status st = vae_conv3d(&up, &l->spatial.w, &l->spatial.b, 1, 1, 1, p1, &y2);
    vae_vol_free(&up);
    WR_TRY(st);
    return vae_replace(x, &y2);
}

