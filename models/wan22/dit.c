/* Wan 2.2 DiT forward (see dit.h). Straight-line, one op per line, shapes in PyTorch order
 * ([rows, cols] = tokens x features). Scratch is one allocation per forward, cut into named
 * buffers (the CPU reference; the GPU path plans memory ahead). */
#include "models/wan22/dit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ops.h"

typedef struct dit_bufs {
    float *x, *xn, *q, *k, *v, *attn, *tmp, *ffn; /* [L, dim] except ffn [L, ffn_dim] */
    float *e, *e0, *e_blk;                      /* [L, dim], [L, 6·dim], [L, 6·dim] */
    float *ctx, *ctx_k, *ctx_v, *ctx_tmp;       /* [text_len, dim] */
    float *sinus, *tvals, *patches;             /* [L, freq_dim], [L], [L, in_dim·4] */
} dit_bufs;

static wr_tensor mat(float *p, int64_t rows, int64_t cols)
{
    wr_tensor t;
    int64_t ne[2] = {cols, rows};
    WR_ASSERT(wr_tensor_init(&t, WR_DTYPE_F32, 2, ne, p), "bad matrix %lld x %lld", (long long)rows,
              (long long)cols);
    return t;
}

/* [L, NH, HD] view of a [L, dim] buffer, for attention and RoPE. */
static wr_tensor heads(float *p, int64_t rows, int nh)
{
    wr_tensor t;
    int64_t ne[3] = {WAN22_HEAD_DIM, nh, rows};
    WR_ASSERT(wr_tensor_init(&t, WR_DTYPE_F32, 3, ne, p), "bad heads view");
    return t;
}

/* Chunk k of a [L, 6, dim] modulation as a strided [L, dim] view (e[k] in the official code). */
static wr_tensor chunk(float *e6, int64_t rows, int dim, int k)
{
    wr_tensor t = mat(e6 + (size_t)k * (size_t)dim, rows, dim);
    t.nb[1] = (size_t)6 * (size_t)dim * sizeof(float);
    return t;
}

/* y = act(x·Wᵀ + b) plus the LoRA side paths attached to W: y += (x·downᵀ)·upᵀ. */
static void linear(const wan22_weights *w, const wr_tensor *x, const wr_tensor *W, const wr_tensor *b, wr_act act,
                   wr_tensor *y)
{
    int has_lora = 0;
    for (int i = 0; i < w->n_lora && !has_lora; i++)
        has_lora = w->lora[i].target == W;
    if (!has_lora) {
        wr_op_matmul(x, W, b, act, y);
        return;
    }
    wr_op_matmul(x, W, b, WR_ACT_NONE, y);
    int64_t m = wr_tensor_nrows(x), out = y->ne[0];
    for (int i = 0; i < w->n_lora; i++) {
        const wan22_lora_term *t = &w->lora[i];
        if (t->target != W)
            continue;
        int64_t rank = wr_tensor_nrows(&t->down);
        float *mid = malloc((size_t)(m * rank + m * out) * sizeof(float));
        WR_ASSERT(mid, "LoRA: out of memory for a %lld x %lld side path", (long long)m, (long long)rank);
        wr_tensor tm = mat(mid, m, rank), ty = mat(mid + m * rank, m, out);
        wr_op_matmul(x, &t->down, NULL, WR_ACT_NONE, &tm); /* [M, rank] */
        wr_op_matmul(&tm, &t->up, NULL, WR_ACT_NONE, &ty); /* [M, out], up carries the scale */
        wr_op_add_gated(y, &ty, NULL);
        free(mid);
    }
    if (act != WR_ACT_NONE)
        wr_op_activate(y, act);
}

#define TRACE(name, ptr, n)                   \
    do {                                      \
        if (trace)                            \
            trace(trace_ctx, name, ptr, n);   \
    } while (0)

static wr_status check_input(const wan22_weights *w, const wan22_dit_input *in)
{
    const wan22_config *c = &w->cfg;
    int c_cond = c->in_dim - in->c_noise;
    if (in->c_noise <= 0 || c_cond < 0 || (c_cond > 0) != (in->y != NULL))
        return wr_fail(WR_E_ARG, "the %s model takes %d input channels; got %d noise channels%s",
                       wan22_variant_name(c->variant), c->in_dim, in->c_noise,
                       in->y ? " plus conditioning" : " and no conditioning");
    if (in->f <= 0 || in->h <= 0 || in->w <= 0 || in->h % 2 || in->w % 2)
        return wr_fail(WR_E_ARG, "latent size %dx%dx%d: frames must be >= 1, height and width even", in->f,
                       in->h, in->w);
    if (in->ctx_len < 1 || in->ctx_len > c->text_len)
        return wr_fail(WR_E_ARG, "text context has %d rows; the model takes 1..%d", in->ctx_len, c->text_len);
    int64_t tokens = (int64_t)in->f * (in->h / 2) * (in->w / 2);
    if (in->n_t != 1 && in->n_t < tokens)
        return wr_fail(WR_E_ARG, "%d timesteps for %lld tokens: give one, or one per token", in->n_t,
                       (long long)tokens);
    for (int i = 0; i < in->n_t; i++)
        if (!(in->t[i] >= 0.0f && in->t[i] <= 1000.0f))
            return wr_fail(WR_E_ARG, "timestep %g out of range [0, 1000]", (double)in->t[i]);
    return WR_OK;
}

/* Conv3d with kernel = stride = (1, 2, 2) as a matmul over gathered patches; the patch
 * column order (c, q, r) matches the weight's [dim, in, 1, 2, 2] flattening. */
static void patch_embed(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, int64_t L)
{
    int hp = in->h / 2, wp = in->w / 2, cin = w->cfg.in_dim;
    size_t plane = (size_t)in->h * (size_t)in->w, chan = plane * (size_t)in->f;
    for (int64_t tok = 0; tok < L; tok++) {
        int f = (int)(tok / (hp * wp)), hh = (int)(tok / wp % hp), ww = (int)(tok % wp);
        float *row = b->patches + tok * cin * 4;
        for (int c = 0; c < cin; c++) {
            const float *src = c < in->c_noise ? in->x + (size_t)c * chan : in->y + (size_t)(c - in->c_noise) * chan;
            for (int q = 0; q < 2; q++)
                for (int r = 0; r < 2; r++)
                    row[c * 4 + q * 2 + r] = src[(size_t)f * plane + (size_t)(2 * hh + q) * (size_t)in->w + (size_t)(2 * ww + r)];
        }
    }
    wr_tensor p = mat(b->patches, L, (int64_t)cin * 4), x = mat(b->x, L, w->cfg.dim);
    wr_op_matmul(&p, &w->patch, &w->patch_b, WR_ACT_NONE, &x); /* [L, dim] */
}

static void attention_block(const wan22_weights *w, const wan22_attn *a, const wan22_config *c, wr_tensor *in, int64_t L,
                            const wan22_dit_input *din, dit_bufs *b, wan22_trace_fn trace, void *trace_ctx,
                            int traced)
{
    wr_tensor q = mat(b->q, L, c->dim), k = mat(b->k, L, c->dim), v = mat(b->v, L, c->dim);
    linear(w, in, &a->q, &a->q_b, WR_ACT_NONE, &q);             /* [L, dim] */
    wr_op_rms_norm(&q, &a->norm_q, c->eps, &q);                    /* over all heads together */
    linear(w, in, &a->k, &a->k_b, WR_ACT_NONE, &k);
    wr_op_rms_norm(&k, &a->norm_k, c->eps, &k);
    linear(w, in, &a->v, &a->v_b, WR_ACT_NONE, &v);
    wr_tensor qh = heads(b->q, L, c->num_heads), kh = heads(b->k, L, c->num_heads);
    wr_tensor vh = heads(b->v, L, c->num_heads), oh = heads(b->attn, L, c->num_heads);
    wr_op_rope_wan(&qh, din->f, din->h / 2, din->w / 2);          /* [L, NH, 128] */
    wr_op_rope_wan(&kh, din->f, din->h / 2, din->w / 2);
    if (traced) {
        TRACE("inter.block0.self_attn.q_after_rope", b->q, L * c->dim);
        TRACE("inter.block0.self_attn.k_after_rope", b->k, L * c->dim);
    }
    wr_op_attention(&qh, &kh, &vh, L, 1.0f / sqrtf((float)WAN22_HEAD_DIM), &oh);
    if (traced)
        TRACE("inter.block0.self_attn.attn_out", b->attn, L * c->dim);
    wr_tensor o = mat(b->attn, L, c->dim), out = mat(b->tmp, L, c->dim);
    linear(w, &o, &a->o, &a->o_b, WR_ACT_NONE, &out);           /* [L, dim] */
}

static void cross_attention_block(const wan22_weights *w, const wan22_attn *a, const wan22_config *c, wr_tensor *in, int64_t L,
                                  dit_bufs *b)
{
    int64_t T = c->text_len;
    wr_tensor q = mat(b->q, L, c->dim), ctx = mat(b->ctx, T, c->dim);
    wr_tensor k = mat(b->ctx_k, T, c->dim), v = mat(b->ctx_v, T, c->dim);
    linear(w, in, &a->q, &a->q_b, WR_ACT_NONE, &q);             /* [L, dim] */
    wr_op_rms_norm(&q, &a->norm_q, c->eps, &q);
    linear(w, &ctx, &a->k, &a->k_b, WR_ACT_NONE, &k);           /* [T, dim] */
    wr_op_rms_norm(&k, &a->norm_k, c->eps, &k);
    linear(w, &ctx, &a->v, &a->v_b, WR_ACT_NONE, &v);
    wr_tensor qh = heads(b->q, L, c->num_heads), kh = heads(b->ctx_k, T, c->num_heads);
    wr_tensor vh = heads(b->ctx_v, T, c->num_heads), oh = heads(b->attn, L, c->num_heads);
    wr_op_attention(&qh, &kh, &vh, T, 1.0f / sqrtf((float)WAN22_HEAD_DIM), &oh); /* no text mask */
    wr_tensor o = mat(b->attn, L, c->dim), out = mat(b->tmp, L, c->dim);
    linear(w, &o, &a->o, &a->o_b, WR_ACT_NONE, &out);
}

static void dit_block(const wan22_weights *w, const wan22_block *blk, const wan22_config *c, int64_t L, const wan22_dit_input *din,
                      dit_bufs *b, wan22_trace_fn trace, void *trace_ctx, int traced)
{
    int64_t D = c->dim;
    wr_tensor x = mat(b->x, L, D), xn = mat(b->xn, L, D), tmp = mat(b->tmp, L, D);
    wr_tensor e0 = mat(b->e0, L, 6 * D), eb = mat(b->e_blk, L, 6 * D);
    wr_tensor mod = mat(blk->modulation.data, 1, 6 * D);
    wr_op_add(&e0, &mod, &eb);                                     /* e = modulation + e0: [L, 6, dim] */
    wr_tensor e_[6];
    for (int i = 0; i < 6; i++)
        e_[i] = chunk(b->e_blk, L, (int)D, i);
    if (traced)
        TRACE("inter.block0.in_x", b->x, L * D);
    wr_op_layer_norm(&x, NULL, NULL, c->eps, &xn);                 /* norm1 */
    wr_op_modulate(&xn, &e_[0], &e_[1], &xn);                      /* · (1 + e1) + e0 */
    if (traced)
        TRACE("inter.block0.self_attn.in", b->xn, L * D);
    attention_block(w, &blk->self_attn, c, &xn, L, din, b, trace, trace_ctx, traced);
    if (traced)
        TRACE("inter.block0.self_attn.out", b->tmp, L * D);
    wr_op_add_gated(&x, &tmp, &e_[2]);                             /* x += y · e2 */
    if (traced)
        TRACE("inter.block0.x_after_self_attn", b->x, L * D);
    wr_op_layer_norm(&x, &blk->norm3_w, &blk->norm3_b, c->eps, &xn); /* norm3, affine */
    cross_attention_block(w, &blk->cross_attn, c, &xn, L, b);
    if (traced) {
        TRACE("inter.block0.cross_attn.attn_out", b->attn, L * D);
        TRACE("inter.block0.cross_attn.out", b->tmp, L * D);
    }
    wr_op_add_gated(&x, &tmp, NULL);                               /* x += cross_attn(...) */
    if (traced)
        TRACE("inter.block0.x_after_cross_attn", b->x, L * D);
    wr_op_layer_norm(&x, NULL, NULL, c->eps, &xn);                 /* norm2 */
    wr_op_modulate(&xn, &e_[3], &e_[4], &xn);                      /* · (1 + e4) + e3 */
    if (traced)
        TRACE("inter.block0.ffn.in", b->xn, L * D);
    wr_tensor h = mat(b->ffn, L, c->ffn_dim);
    linear(w, &xn, &blk->ffn0, &blk->ffn0_b, WR_ACT_GELU_TANH, &h); /* [L, ffn] */
    linear(w, &h, &blk->ffn2, &blk->ffn2_b, WR_ACT_NONE, &tmp);     /* [L, dim] */
    if (traced)
        TRACE("inter.block0.ffn.out", b->tmp, L * D);
    wr_op_add_gated(&x, &tmp, &e_[5]);                             /* x += y · e5 */
    if (traced)
        TRACE("inter.block0.out_x_after_ffn", b->x, L * D);
}

/* Sinusoid -> time_embedding -> e [L, dim]; SiLU -> time_projection -> e0 [L, 6·dim]. */
static void time_embed(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, int64_t L)
{
    const wan22_config *c = &w->cfg;
    for (int64_t i = 0; i < L; i++)
        b->tvals[i] = in->n_t == 1 ? in->t[0] : in->t[i];
    wr_tensor t = mat(b->tvals, L, 1);
    t = wr_tensor_reshape(&t, 1, (int64_t[]){L});
    wr_tensor s = mat(b->sinus, L, c->freq_dim), h = mat(b->tmp, L, c->dim), e = mat(b->e, L, c->dim);
    wr_tensor e0 = mat(b->e0, L, 6 * (int64_t)c->dim), es = mat(b->xn, L, c->dim);
    wr_op_timestep_embedding(&t, &s);                              /* [L, freq], float64 inside */
    wr_op_matmul(&s, &w->time0, &w->time0_b, WR_ACT_SILU, &h);     /* Linear, SiLU */
    wr_op_matmul(&h, &w->time2, &w->time2_b, WR_ACT_NONE, &e);     /* Linear -> e */
    memcpy(b->xn, b->e, (size_t)L * (size_t)c->dim * sizeof(float));
    wr_op_activate(&es, WR_ACT_SILU);                              /* time_projection.0 = SiLU */
    wr_op_matmul(&es, &w->tproj, &w->tproj_b, WR_ACT_NONE, &e0);   /* -> e0 [L, 6·dim] */
}

/* Zero-pad the context to text_len rows, then Linear, GELU(tanh), Linear on every row. */
static void text_embed(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b)
{
    const wan22_config *c = &w->cfg;
    int64_t T = c->text_len;
    float *padded = b->ctx_k; /* sized T · max(text_dim, dim) for this */
    memset(padded, 0, (size_t)T * (size_t)c->text_dim * sizeof(float));
    memcpy(padded, in->context, (size_t)in->ctx_len * (size_t)c->text_dim * sizeof(float));
    wr_tensor p = mat(padded, T, c->text_dim), h = mat(b->ctx_tmp, T, c->dim), ctx = mat(b->ctx, T, c->dim);
    wr_op_matmul(&p, &w->text0, &w->text0_b, WR_ACT_GELU_TANH, &h);
    wr_op_matmul(&h, &w->text2, &w->text2_b, WR_ACT_NONE, &ctx);   /* [T, dim] */
}

/* head(LN(x) · (1 + scale) + shift) with (shift, scale) = head.modulation + e, then unpatchify. */
static void head_out(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, int64_t L, float *out,
                     wan22_trace_fn trace, void *trace_ctx)
{
    const wan22_config *c = &w->cfg;
    int64_t D = c->dim, C = c->out_dim;
    wr_tensor x = mat(b->x, L, D), xn = mat(b->xn, L, D), e = mat(b->e, L, D);
    wr_tensor shift = mat(b->q, L, D), scale = mat(b->k, L, D);
    wr_tensor m0 = mat(w->head_mod.data, 1, D), m1 = mat((float *)w->head_mod.data + D, 1, D);
    wr_op_add(&e, &m0, &shift);
    wr_op_add(&e, &m1, &scale);
    wr_op_layer_norm(&x, NULL, NULL, c->eps, &xn);
    wr_op_modulate(&xn, &shift, &scale, &xn);
    wr_tensor tok = mat(b->ffn, L, 4 * C);
    wr_op_matmul(&xn, &w->head, &w->head_b, WR_ACT_NONE, &tok);    /* [L, 4·C_out] */
    TRACE("inter.head.out_tokens", b->ffn, L * 4 * C);
    int hp = in->h / 2, wp = in->w / 2;
    for (int64_t t = 0; t < L; t++) {
        int f = (int)(t / (hp * wp)), hh = (int)(t / wp % hp), ww = (int)(t % wp);
        for (int q = 0; q < 2; q++)
            for (int r = 0; r < 2; r++)
                for (int64_t ch = 0; ch < C; ch++)
                    out[(((size_t)ch * (size_t)in->f + (size_t)f) * (size_t)in->h + (size_t)(2 * hh + q)) * (size_t)in->w +
                        (size_t)(2 * ww + r)] = b->ffn[t * 4 * C + (q * 2 + r) * C + ch];
    }
}

enum { ARENA_BUFFERS = 18 };

/* The forward's buffers, in floats, for L video tokens (one arena; fields[] below names them). */
static size_t arena_sizes(const wan22_config *c, int64_t L, size_t sizes[ARENA_BUFFERS])
{
    int64_t D = c->dim, T = c->text_len;
    int64_t wide = c->ffn_dim > 4 * c->out_dim ? c->ffn_dim : 4 * c->out_dim;
    int64_t text_rows = T * (c->text_dim > D ? c->text_dim : D);
    const size_t s[ARENA_BUFFERS] = {L * D, L * D, L * D, L * D, L * D, L * D, L * D, L * wide, L * D, 6 * L * D,
                                     6 * L * D, T * D, text_rows, T * D, T * D, L * c->freq_dim, L, L * c->in_dim * 4};
    size_t total = 0;
    for (int i = 0; i < ARENA_BUFFERS; i++)
        total += sizes[i] = s[i];
    return total;
}

size_t wan22_dit_workspace(const wan22_config *c, int f, int h, int w)
{
    size_t sizes[ARENA_BUFFERS];
    return arena_sizes(c, (int64_t)f * (h / 2) * (w / 2), sizes) * sizeof(float);
}

wr_status wan22_dit_forward(const wan22_weights *w, const wan22_dit_input *in, float *out, wan22_trace_fn trace,
                            void *trace_ctx)
{
    WR_TRY(check_input(w, in));
    const wan22_config *c = &w->cfg;
    int64_t L = (int64_t)in->f * (in->h / 2) * (in->w / 2), D = c->dim, T = c->text_len;
    size_t sizes[ARENA_BUFFERS], total = arena_sizes(c, L, sizes);
    float *arena = malloc(total * sizeof(float));
    if (!arena)
        return wr_fail(WR_E_OOM, "DiT forward: out of memory for %zu MB of activations", total * 4 >> 20);
    dit_bufs b;
    float *p = arena;
    float **fields[] = {&b.x, &b.xn, &b.q, &b.k, &b.v, &b.attn, &b.tmp, &b.ffn, &b.e, &b.e0, &b.e_blk,
                        &b.ctx, &b.ctx_k, &b.ctx_v, &b.ctx_tmp, &b.sinus, &b.tvals, &b.patches};
    _Static_assert(sizeof fields / sizeof fields[0] == sizeof sizes / sizeof sizes[0], "one size per buffer");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *fields[i] = p;
        p += sizes[i];
    }
    patch_embed(w, in, &b, L);
    if (trace) { /* golden layout [dim, F, H/2, W/2] */
        float *tr = malloc((size_t)(L * D) * sizeof *tr);
        if (tr) {
            for (int64_t t = 0; t < L; t++)
                for (int64_t d = 0; d < D; d++)
                    tr[d * L + t] = b.x[t * D + d];
            trace(trace_ctx, "inter.patch_embedding.out", tr, L * D);
            free(tr);
        }
    }
    time_embed(w, in, &b, L);
    TRACE("inter.time_embedding.in_sinusoidal", b.sinus, L * c->freq_dim);
    TRACE("inter.time_embedding.out_e", b.e, L * D);
    TRACE("inter.time_projection.out_e0", b.e0, 6 * L * D);
    text_embed(w, in, &b);
    TRACE("inter.text_embedding.out_context", b.ctx, T * D);
    for (int l = 0; l < c->num_layers; l++)
        dit_block(w, &w->blocks[l], c, L, in, &b, trace, trace_ctx, l == 0);
    TRACE("inter.blocks_last.out", b.x, L * D);
    head_out(w, in, &b, L, out, trace, trace_ctx);
    free(arena);
    return WR_OK;
}
