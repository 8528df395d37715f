/* RIFE IFNet 4.7 weights (see rife.h): binding from rife47.pth / flownet.pkl / safetensors by
 * name and size, F32 copies of the small tensors, and on a GPU backend one placement of every
 * weight in device memory for the life of the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rife/rife_internal.h"
#include "runtime/quant.h"

static float *own_f32(rife *m, const wr_tensor *t)
{
    int64_t n = wr_tensor_nelements(t);
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
    wr_dequant_fn f = wr_dequant_get(t->dtype);
    for (int64_t r = 0; r < wr_tensor_nrows(t); r++)
        f(wr_tensor_row(t, r), p + r * t->ne[0], t->ne[0]);
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
    float *bp = own_f32(m, &b->t);
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
    float *wp = own_f32(m, &w->t), *bp = own_f32(m, &b->t);
    if (!wp || !bp)
        return wr_fail(WR_E_OOM, "out of memory");
    wr_tensor_init(&c->w, WR_DTYPE_F32, 4, (int64_t[]){4, 4, cout, cin}, wp);
    wr_tensor_init(&c->b, WR_DTYPE_F32, 1, (int64_t[]){cout}, bp);
    c->cin = cin, c->cout = cout;
    return WR_OK;
}

/* A conv weight in the file's dtype (F16 in the usual checkpoints) becomes F32: placement keeps
 * dtypes no matmul kernel reads in host memory, and the conv kernel widens f16 exactly anyway. */
static wr_status conv_weight_f32(rife *m, conv *c)
{
    if (c->w.dtype == WR_DTYPE_F32)
        return WR_OK;
    float *p = own_f32(m, &c->w);
    if (!p)
        return wr_fail(WR_E_OOM, "out of memory");
    int64_t ne[WR_MAX_DIMS];
    memcpy(ne, c->w.ne, sizeof ne);
    wr_tensor_init(&c->w, WR_DTYPE_F32, c->w.n_dims, ne, p);
    return WR_OK;
}

/* On a GPU backend every weight goes to device memory once (one resident group), so no op of
 * the forward stages a weight; on the CPU backend nothing happens (placed stays NULL). */
static wr_status place_weights(rife *m)
{
    if (wr_buffers_are_host())
        return WR_OK;
    enum { PER_BLOCK = 2 + 2 + 8 * 3 + 2, N = 4 + 4 * PER_BLOCK };
    wr_tensor *ts[N];
    int group[N] = {0}, n = 0;
    WR_TRY(conv_weight_f32(m, &m->enc0));
    ts[n++] = &m->enc0.w, ts[n++] = &m->enc0.b, ts[n++] = &m->enc1.w, ts[n++] = &m->enc1.b;
    for (int b = 0; b < 4; b++) {
        ifblock *blk = &m->blocks[b];
        WR_TRY(conv_weight_f32(m, &blk->c0));
        WR_TRY(conv_weight_f32(m, &blk->c1));
        ts[n++] = &blk->c0.w, ts[n++] = &blk->c0.b, ts[n++] = &blk->c1.w, ts[n++] = &blk->c1.b;
        for (int k = 0; k < 8; k++) {
            WR_TRY(conv_weight_f32(m, &blk->res[k]));
            ts[n++] = &blk->res[k].w, ts[n++] = &blk->res[k].b, ts[n++] = &blk->beta[k];
        }
        ts[n++] = &blk->last.w, ts[n++] = &blk->last.b;
    }
    WR_ASSERT(n == N, "RIFE: %d weight tensors, expected %d", n, (int)N);
    wr_placement_spec spec = {.tensors = ts, .group = group, .n = n, .n_groups = 1};
    WR_TRY(wr_placement_create(&spec, &m->placed));
    wr_placement_use(m->placed, 0);
    return WR_OK;
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
            float *bp = own_f32(m, &beta->t);
            if (!bp) {
                st = wr_fail(WR_E_OOM, "out of memory");
                goto fail;
            }
            wr_tensor_init(&blk->beta[k], WR_DTYPE_F32, 1, (int64_t[]){c}, bp);
        }
        snprintf(p, sizeof p, "block%d.lastconv.0", b);
        WR_TRY_GOTO(bind_tconv(m, p, c, 24, &blk->last));
    }
    WR_TRY_GOTO(place_weights(m));
    if (!wr_buffers_are_host() && !(m->pool = calloc(1, sizeof *m->pool))) {
        st = wr_fail(WR_E_OOM, "out of memory");
        goto fail;
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
    rife_pool_free(m->pool);
    wr_placement_free(m->placed); /* restores the tensors' host pointers before they are freed */
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m);
}
