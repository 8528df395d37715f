/* SeedVR2 VAE building blocks (see svr_vae_blocks.h). The convolution itself is the VAE
 * volume conv (im2col + threaded matmul); what differs from the Wan VAE is the causal
 * padding (replicated first frame instead of zeros), the chunk carry, and GroupNorm. */
#include "upscale/svr_vae_blocks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ops.h"
#include "runtime/threadpool.h"

wr_status svr_run_init(svr_run *r, int n_slots, int groups)
{
    r->carry = calloc((size_t)(n_slots ? n_slots : 1), sizeof *r->carry);
    if (!r->carry)
        return wr_fail(WR_E_OOM, "SeedVR2 VAE: out of memory");
    r->n_slots = n_slots;
    r->first = true;
    r->groups = groups;
    return WR_OK;
}

void svr_run_free(svr_run *r)
{
    if (!r || !r->carry)
        return;
    for (int i = 0; i < r->n_slots; i++)
        vae_vol_free(&r->carry[i]);
    free(r->carry);
    r->carry = NULL;
}

static void replace(vae_vol *x, vae_vol *y)
{
    vae_vol_free(x);
    *x = *y;
}

/* Frames [f0, f0 + n) of src into dst at frame d0 (same C, H, W). */
static void copy_frames(const vae_vol *src, int f0, int n, vae_vol *dst, int d0)
{
    if (vae_dry())
        return;
    size_t plane = (size_t)src->h * src->w;
    for (int c = 0; c < src->c; c++)
        memcpy(dst->d + ((size_t)c * dst->t + (size_t)d0) * plane, src->d + ((size_t)c * src->t + (size_t)f0) * plane,
               (size_t)n * plane * sizeof(float));
}

/* vae_conv3d builds an im2col buffer of (output rows x C·kt·kh·kw) floats per output frame:
 * 12 GB for a 720p frame at 128 channels. Above this size the output is made in bands of rows,
 * each from a slab of input rows with its zero padding written out, so memory stays bounded
 * (the reference's set_memory_limit splits its convs for the same reason); the arithmetic per
 * output element is unchanged. */
size_t svr_conv_band_bytes = (size_t)256 << 20;

static wr_status conv_banded(const vae_vol *p, const svr_conv *c, int st, int ss, vae_pad sp, vae_vol *y)
{
    int kh = (int)c->w.ne[1], kw = (int)c->w.ne[0];
    int ho = (p->h + sp.top + sp.bottom - kh) / ss + 1, wo = (p->w + sp.left + sp.right - kw) / ss + 1;
    size_t row_bytes = (size_t)wo * (size_t)c->cin * (size_t)c->kt * (size_t)kh * (size_t)kw * sizeof(float);
    size_t nb = svr_conv_band_bytes / (row_bytes ? row_bytes : 1);
    int band = nb > (size_t)ho ? ho : (int)nb;
    if (band >= ho)
        return vae_conv3d(p, &c->w, &c->b, st, ss, ss, sp, y);
    band = band < 1 ? 1 : band;
    int to = (p->t - c->kt) / st + 1;
    WR_TRY(vae_vol_alloc(y, c->cout, to, ho, wo));
    size_t plane = (size_t)p->h * p->w;
    for (int y0 = 0; y0 < ho; y0 += band) {
        int y1 = y0 + band < ho ? y0 + band : ho;
        int r0 = y0 * ss - sp.top, rows = (y1 - 1 - y0) * ss + kh; /* input rows r0 .. r0 + rows */
        vae_vol slab, part;
        wr_status s = vae_vol_alloc(&slab, p->c, p->t, rows, p->w);
        if (s != WR_OK) {
            vae_vol_free(y);
            return s;
        }
        for (size_t ct = 0; !vae_dry() && ct < (size_t)p->c * p->t; ct++)
            for (int i = 0; i < rows; i++) {
                float *dst = slab.d + (ct * rows + (size_t)i) * p->w;
                int src = r0 + i;
                if (src < 0 || src >= p->h)
                    memset(dst, 0, (size_t)p->w * sizeof(float));
                else
                    memcpy(dst, p->d + ct * plane + (size_t)src * p->w, (size_t)p->w * sizeof(float));
            }
        vae_pad bp = {0, 0, 0, sp.left, sp.right};
        s = vae_conv3d(&slab, &c->w, &c->b, st, ss, ss, bp, &part);
        vae_vol_free(&slab);
        if (s != WR_OK) {
            vae_vol_free(y);
            return s;
        }
        WR_ASSERT(part.h == y1 - y0 && part.w == wo && part.t == to, "conv band: %d rows, expected %d", part.h, y1 - y0);
        for (size_t ct = 0; !vae_dry() && ct < (size_t)c->cout * to; ct++)
            memcpy(y->d + (ct * ho + (size_t)y0) * wo, part.d + ct * (size_t)part.h * wo,
                   (size_t)part.h * wo * sizeof(float));
        vae_vol_free(&part);
    }
    return WR_OK;
}

wr_status svr_conv_forward(svr_run *r, const svr_conv *c, int st, int ss, vae_pad sp, vae_vol *x)
{
    vae_vol *carry = &r->carry[c->slot];
    int front = r->first ? c->kt - 1 : (carry->acct ? carry->t : 0); /* acct: also set in dry runs */
    vae_vol p = *x, y = {0};
    if (front > 0) { /* the causal front: copies of frame 0, or the previous chunk's frames */
        WR_TRY(vae_vol_alloc(&p, x->c, front + x->t, x->h, x->w));
        for (int f = 0; r->first && f < front; f++)
            copy_frames(x, 0, 1, &p, f);
        if (!r->first)
            copy_frames(carry, 0, front, &p, 0);
        copy_frames(x, 0, x->t, &p, front);
    }
    WR_ASSERT(p.t >= c->kt, "SeedVR2 VAE: a chunk of %d frames is too short for a conv with kt %d", p.t, c->kt);
    int n = (p.t - c->kt) / st + 1, keep = p.t - n * st; /* the next window starts at n·st */
    sp.t_front = 0;
    wr_status s = conv_banded(&p, c, st, ss, sp, &y);
    if (s == WR_OK) {
        vae_vol_free(carry);
        if (keep > 0 && (s = vae_vol_alloc(carry, p.c, keep, p.h, p.w)) == WR_OK)
            copy_frames(&p, p.t - keep, keep, carry, 0);
    }
    if (front > 0)
        vae_vol_free(&p);
    if (s != WR_OK) {
        vae_vol_free(&y);
        return s;
    }
    replace(x, &y);
    return WR_OK;
}

typedef struct gn_ctx {
    vae_vol *x;
    const svr_norm *n;
    int groups;
    bool silu;
} gn_ctx;

/* Item i = (frame, group); statistics in double over the group's channels × H × W. */
static void gn_items(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const gn_ctx *g = vc;
    vae_vol *x = g->x;
    int cpg = x->c / g->groups;
    size_t plane = (size_t)x->h * x->w;
    for (int64_t i = begin; i < end; i++) {
        int t = (int)(i / g->groups), grp = (int)(i % g->groups);
        double sum = 0, sq = 0;
        for (int c = grp * cpg; c < (grp + 1) * cpg; c++) {
            const float *v = x->d + ((size_t)c * x->t + (size_t)t) * plane;
            for (size_t k = 0; k < plane; k++)
                sum += (double)v[k];
        }
        double cnt = (double)cpg * (double)plane, mean = sum / cnt;
        for (int c = grp * cpg; c < (grp + 1) * cpg; c++) {
            const float *v = x->d + ((size_t)c * x->t + (size_t)t) * plane;
            for (size_t k = 0; k < plane; k++)
                sq += ((double)v[k] - mean) * ((double)v[k] - mean);
        }
        double rstd = 1.0 / sqrt(sq / cnt + 1e-6);
        for (int c = grp * cpg; c < (grp + 1) * cpg; c++) {
            float *v = x->d + ((size_t)c * x->t + (size_t)t) * plane;
            double wc = (double)g->n->w[c];
            float a = (float)(rstd * wc), b = (float)((double)g->n->b[c] - mean * rstd * wc);
            for (size_t k = 0; k < plane; k++) {
                float y = v[k] * a + b;
                v[k] = g->silu ? y / (1.0f + expf(-y)) : y;
            }
        }
    }
}

void svr_group_norm(const svr_run *r, vae_vol *x, const svr_norm *n, bool silu)
{
    WR_ASSERT(n->c == x->c && x->c % r->groups == 0, "GroupNorm: %d channels, %d groups, weight [%d]", x->c, r->groups,
              n->c);
    if (vae_dry())
        return;
    gn_ctx g = {x, n, r->groups, silu};
    wr_parallel_for((int64_t)x->t * r->groups, 1, gn_items, &g);
}

static const vae_pad same3 = {0, 1, 1, 1, 1};
static const vae_pad none = {0, 0, 0, 0, 0};

wr_status svr_res_forward(svr_run *r, const svr_res *res, vae_vol *x)
{
    vae_vol h, s = {0};
    WR_TRY(vae_vol_alloc(&h, x->c, x->t, x->h, x->w));
    if (!vae_dry())
        memcpy(h.d, x->d, vae_vol_size(x) * sizeof(float));
    wr_status st;
    svr_group_norm(r, &h, &res->n1, true);
    WR_TRY_GOTO(svr_conv_forward(r, &res->c1, 1, 1, same3, &h));
    svr_group_norm(r, &h, &res->n2, true);
    WR_TRY_GOTO(svr_conv_forward(r, &res->c2, 1, 1, same3, &h));
    if (res->has_sc) { /* the 1x1x1 shortcut carries nothing across chunks */
        WR_TRY_GOTO(vae_vol_alloc(&s, x->c, x->t, x->h, x->w));
        if (!vae_dry())
            memcpy(s.d, x->d, vae_vol_size(x) * sizeof(float));
        WR_TRY_GOTO(svr_conv_forward(r, &res->sc, 1, 1, none, &s));
        replace(x, &s);
    }
    vae_add(x, &h);
    vae_vol_free(&h);
    return WR_OK;
fail:
    vae_vol_free(&h);
    vae_vol_free(&s);
    return st;
}

/* Per frame: tokens = GroupNorm(x) as (H·W, C); one head over all positions; + x. */
wr_status svr_attn_forward(const svr_run *r, const svr_attn *a, vae_vol *x)
{
    int C = x->c, T = x->t;
    int64_t P = (int64_t)x->h * x->w;
    vae_vol xn;
    WR_TRY(vae_vol_alloc(&xn, C, T, x->h, x->w));
    if (!vae_dry())
        memcpy(xn.d, x->d, vae_vol_size(x) * sizeof(float));
    svr_group_norm(r, &xn, &a->gn, false);
    size_t buf_bytes = (size_t)(5 * P * C) * sizeof(float);
    /* per frame: a projection (tokens, weight, bias, output) and the attention (q, k, v, o) */
    size_t proj = (size_t)(2 * P * C) * sizeof(float) + wr_tensor_nbytes(&a->wq) + wr_tensor_nbytes(&a->bq);
    size_t attn = (size_t)(4 * P * C) * sizeof(float);
    vae_op_note(proj > attn ? proj : attn);
    float *buf = vae_scratch_alloc(buf_bytes);
    if (vae_dry()) { /* planned: the buffers, not the arithmetic */
        vae_scratch_free(buf, buf_bytes);
        vae_vol_free(&xn);
        return WR_OK;
    }
    if (!buf) {
        vae_vol_free(&xn);
        return wr_fail(WR_E_OOM, "SeedVR2 VAE attention: out of memory for %lld tokens", (long long)P);
    }
    float *tok = buf, *q = tok + P * C, *k = q + P * C, *v = k + P * C, *o = v + P * C;
    wr_tensor tt, tq, tk, tv, to, t2;
    int64_t ne2[2] = {C, P}, ne3[3] = {C, 1, P};
    wr_tensor_init(&tt, WR_DTYPE_F32, 2, ne2, tok);
    wr_tensor_init(&t2, WR_DTYPE_F32, 2, ne2, o);
    size_t plane = (size_t)T * P;
    for (int t = 0; t < T; t++) {
        for (int c = 0; c < C; c++)
            for (int64_t p = 0; p < P; p++)
                tok[p * C + c] = xn.d[(size_t)c * plane + (size_t)t * P + (size_t)p];
        wr_tensor_init(&tq, WR_DTYPE_F32, 2, ne2, q);
        wr_tensor_init(&tk, WR_DTYPE_F32, 2, ne2, k);
        wr_tensor_init(&tv, WR_DTYPE_F32, 2, ne2, v);
        wr_op_matmul(&tt, &a->wq, &a->bq, WR_ACT_NONE, &tq);
        wr_op_matmul(&tt, &a->wk, &a->bk, WR_ACT_NONE, &tk);
        wr_op_matmul(&tt, &a->wv, &a->bv, WR_ACT_NONE, &tv);
        wr_tensor_init(&tq, WR_DTYPE_F32, 3, ne3, q);
        wr_tensor_init(&tk, WR_DTYPE_F32, 3, ne3, k);
        wr_tensor_init(&tv, WR_DTYPE_F32, 3, ne3, v);
        wr_tensor_init(&to, WR_DTYPE_F32, 3, ne3, tok); /* tok is free again */
        wr_op_attention(&tq, &tk, &tv, P, 1.0f / sqrtf((float)C), &to);
        wr_op_matmul(&tt, &a->wo, &a->bo, WR_ACT_NONE, &t2);
        for (int c = 0; c < C; c++)
            for (int64_t p = 0; p < P; p++)
                x->d[(size_t)c * plane + (size_t)t * P + (size_t)p] += o[p * C + c];
    }
    vae_scratch_free(buf, buf_bytes);
    vae_vol_free(&xn);
    return WR_OK;
}

wr_status svr_mid_forward(svr_run *r, const svr_mid *m, vae_vol *x)
{
    WR_TRY(svr_res_forward(r, &m->r0, x));
    WR_TRY(svr_attn_forward(r, &m->attn, x));
    return svr_res_forward(r, &m->r1, x);
}

/* upscale_conv (plain 1x1x1), then out[c, f·z + q, 2h + i, 2w + j] = y[((i·2 + j)·z + q)·C + c, f, h, w];
 * the clip's first chunk drops output frame 1 (the second copy of frame 0) when z = 2. */
wr_status svr_up_forward(svr_run *r, const svr_up *u, vae_vol *x)
{
    int C = x->c, T = x->t, H = x->h, W = x->w, z = u->z;
    WR_TRY(svr_conv_forward(r, &u->expand, 1, 1, none, x)); /* kt = 1: no padding, no carry */
    int drop = z == 2 && r->first;
    vae_vol y;
    WR_TRY(vae_vol_alloc(&y, C, T * z - drop, 2 * H, 2 * W));
    size_t in_plane = (size_t)H * W, out_plane = (size_t)4 * in_plane;
    for (int c = 0; !vae_dry() && c < C; c++)
        for (int f = 0; f < T; f++)
            for (int q = 0; q < z; q++) {
                int of = f * z + q;
                if (drop && of == 1)
                    continue;
                of -= drop && of > 1;
                float *dst = y.d + ((size_t)c * y.t + (size_t)of) * out_plane;
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++) {
                        int src_c = ((i * 2 + j) * z + q) * C + c;
                        const float *src = x->d + ((size_t)src_c * T + (size_t)f) * in_plane;
                        for (int h = 0; h < H; h++)
                            for (int w = 0; w < W; w++)
                                dst[(size_t)(2 * h + i) * (2 * W) + (size_t)(2 * w + j)] = src[(size_t)h * W + w];
                    }
            }
    replace(x, &y);
    return svr_conv_forward(r, &u->conv, 1, 1, same3, x);
}
