/* SeedVR2 VAE weight binding: every tensor is checked against the shape the config implies,
 * and a missing or misshapen one is reported with the file and the tensor name. Conv and
 * linear weights stay in the file's dtype (the matmul dequantises tiles); biases and norm
 * vectors are copied to F32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/quant.h"
#include "upscale/svr_vae_blocks.h"

void svr_binder_free(svr_binder *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->n_owned; i++)
        free(b->owned[i]);
    free(b->owned);
    b->owned = NULL;
    b->n_owned = b->cap = 0;
}

const wr_wtensor *svr_find(const svr_binder *b, const char *name) { return wr_weightfile_find(b->wf, name); }

/* "[a, b, c]" in PyTorch order (outermost first). */
static const char *shape_str(const int64_t *dims, int n, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
    return buf;
}

/* Finds `name` and checks its PyTorch shape against want[0..n). */
static wr_status need(const svr_binder *b, const char *name, const int64_t *want, int n, const wr_wtensor **out)
{
    const wr_wtensor *t = svr_find(b, name);
    if (!t)
        return wr_fail(WR_E_FORMAT, "%s: missing tensor '%s' (not a SeedVR2 video VAE, or an incomplete file)",
                       b->wf->map.path, name);
    bool ok = t->t.n_dims == n && wr_dequant_get(t->t.dtype) != NULL;
    for (int i = 0; ok && i < n; i++)
        ok = t->t.ne[n - 1 - i] == want[i];
    if (!ok) {
        int64_t have[WR_MAX_DIMS];
        for (int i = 0; i < t->t.n_dims; i++)
            have[i] = t->t.ne[t->t.n_dims - 1 - i];
        char hs[96], ws[96];
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s' is %s %s, expected a float tensor of shape %s", b->wf->map.path,
                       name, wr_dtype_name(t->t.dtype), shape_str(have, t->t.n_dims, hs, sizeof hs),
                       shape_str(want, n, ws, sizeof ws));
    }
    *out = t;
    return WR_OK;
}

static float *own_f32(svr_binder *b, const wr_wtensor *t)
{
    if (b->n_owned == b->cap) {
        int want = b->cap ? b->cap * 2 : 256;
        void **o = realloc(b->owned, (size_t)want * sizeof *o);
        if (!o)
            return NULL;
        b->owned = o;
        b->cap = want;
    }
    int64_t n = wr_tensor_nelements(&t->t);
    float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    if (!p)
        return NULL;
    b->owned[b->n_owned++] = p;
    for (int64_t r = 0; r < wr_tensor_nrows(&t->t); r++)
        wr_dequant_row_f32(t->t.dtype, wr_tensor_row(&t->t, r), p + r * t->t.ne[0], t->t.ne[0]);
    for (int64_t i = 0; i < n && t->t.scale != 1.0f; i++)
        p[i] *= t->t.scale;
    return p;
}

/* An F32 copy of the vector prefix.<suffix> [c]. */
static wr_status bind_vec(svr_binder *b, const char *prefix, const char *suffix, int c, const float **out, wr_tensor *t)
{
    char name[192];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    const wr_wtensor *w;
    WR_TRY(need(b, name, (int64_t[]){c}, 1, &w));
    float *p = own_f32(b, w);
    if (!p)
        return wr_fail(WR_E_OOM, "%s: out of memory for '%s'", b->wf->map.path, name);
    if (out)
        *out = p;
    if (t)
        wr_tensor_init(t, WR_DTYPE_F32, 1, (int64_t[]){c}, p);
    return WR_OK;
}

wr_status svr_bind_conv(svr_binder *b, const char *prefix, int cout, int cin, int kt, int k, svr_conv *c)
{
    char name[192];
    snprintf(name, sizeof name, "%s.weight", prefix);
    const wr_wtensor *w;
    WR_TRY(need(b, name, (int64_t[]){cout, cin, kt, k, k}, 5, &w));
    if (w->t.scale != 1.0f)
        return wr_fail(WR_E_UNSUPPORTED, "%s: '%s': scaled fp8 conv weights are not supported", b->wf->map.path, name);
    c->w = w->t;
    c->kt = kt, c->cin = cin, c->cout = cout;
    c->slot = b->n_slots++;
    return bind_vec(b, prefix, "bias", cout, NULL, &c->b);
}

wr_status svr_bind_norm(svr_binder *b, const char *prefix, int c, svr_norm *n)
{
    n->c = c;
    WR_TRY(bind_vec(b, prefix, "weight", c, &n->w, NULL));
    return bind_vec(b, prefix, "bias", c, &n->b, NULL);
}

wr_status svr_bind_res(svr_binder *b, const char *prefix, int cin, int cout, svr_res *r)
{
    char p[192];
    snprintf(p, sizeof p, "%s.norm1", prefix);
    WR_TRY(svr_bind_norm(b, p, cin, &r->n1));
    snprintf(p, sizeof p, "%s.conv1", prefix);
    WR_TRY(svr_bind_conv(b, p, cout, cin, 3, 3, &r->c1));
    snprintf(p, sizeof p, "%s.norm2", prefix);
    WR_TRY(svr_bind_norm(b, p, cout, &r->n2));
    snprintf(p, sizeof p, "%s.conv2", prefix);
    WR_TRY(svr_bind_conv(b, p, cout, cout, 3, 3, &r->c2));
    r->has_sc = cin != cout;
    if (!r->has_sc)
        return WR_OK;
    snprintf(p, sizeof p, "%s.conv_shortcut", prefix);
    return svr_bind_conv(b, p, cout, cin, 1, 1, &r->sc);
}

/* One attention projection: diffusers name (to_q, ...) or the deprecated one (query, ...),
 * whose weight may also be stored conv-shaped [C, C, 1, 1]. */
static wr_status bind_linear(svr_binder *b, const char *prefix, const char *now, const char *old, int c, wr_tensor *w,
                             wr_tensor *bias)
{
    char p[192], name[200];
    snprintf(p, sizeof p, "%s.%s", prefix, now);
    snprintf(name, sizeof name, "%s.weight", p);
    if (!svr_find(b, name)) {
        char po[192];
        snprintf(po, sizeof po, "%s.%s", prefix, old);
        snprintf(name, sizeof name, "%s.weight", po);
        if (svr_find(b, name))
            memcpy(p, po, sizeof p);
        else
            snprintf(name, sizeof name, "%s.weight", p); /* report the current name */
    }
    const wr_wtensor *t = svr_find(b, name);
    if (t && t->t.n_dims > 2 && wr_tensor_nelements(&t->t) == (int64_t)c * c && t->t.ne[t->t.n_dims - 1] == c) {
        *w = wr_tensor_reshape(&t->t, 2, (int64_t[]){c, c});
    } else {
        WR_TRY(need(b, name, (int64_t[]){c, c}, 2, &t));
        *w = t->t;
    }
    if (w->scale != 1.0f)
        return wr_fail(WR_E_UNSUPPORTED, "%s: '%s': scaled fp8 weights are not supported", b->wf->map.path, name);
    return bind_vec(b, p, "bias", c, NULL, bias);
}

wr_status svr_bind_mid(svr_binder *b, const char *prefix, int c, svr_mid *m)
{
    char p[192];
    snprintf(p, sizeof p, "%s.resnets.0", prefix);
    WR_TRY(svr_bind_res(b, p, c, c, &m->r0));
    snprintf(p, sizeof p, "%s.resnets.1", prefix);
    WR_TRY(svr_bind_res(b, p, c, c, &m->r1));
    svr_attn *a = &m->attn;
    a->c = c;
    snprintf(p, sizeof p, "%s.attentions.0.group_norm", prefix);
    WR_TRY(svr_bind_norm(b, p, c, &a->gn));
    snprintf(p, sizeof p, "%s.attentions.0", prefix);
    WR_TRY(bind_linear(b, p, "to_q", "query", c, &a->wq, &a->bq));
    WR_TRY(bind_linear(b, p, "to_k", "key", c, &a->wk, &a->bk));
    WR_TRY(bind_linear(b, p, "to_v", "value", c, &a->wv, &a->bv));
    return bind_linear(b, p, "to_out.0", "proj_attn", c, &a->wo, &a->bo);
}
