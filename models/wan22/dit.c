/* Wan 2.2 DiT forward (see dit.h). Straight-line, one op per line, shapes in PyTorch order
 * ([rows, cols] = tokens x features). Scratch is one allocation per forward, cut into named
 * buffers (the CPU reference; the GPU path plans memory ahead). */
#include "models/wan22/dit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffers.h"
#include "runtime/ops.h"

/* The forward's activations: one arena (a backend buffer: device memory on a GPU), cut into
 * named [rows, cols] buffers (arena_layout). Buffers are reused across stages, so at 75,600
 * tokens the forward holds five [L, dim] buffers plus one FFN chunk:
 *   self-attn  xn = LN(x)·(1+e1)+e0 -> q, k, v; attention -> xn; o-proj -> q; x += q·e2
 *   cross-attn xn = LN3(x) -> q; attention(q, ctx_k, ctx_v) -> k; o-proj -> v; x += v
 *   ffn        xn = LN(x)·(1+e4)+e3; per chunk of rows: ffn = gelu(xn·W0) -> q; x += q·e5
 * The modulation e is [R, dim] with R = 1 when every token has the same timestep, else R = L;
 * e0 and e_blk are stored chunk-major ([6][R][dim]) so each chunk is a contiguous [R, dim]. */
typedef struct dit_bufs {
    float *x, *xn, *q, *k, *v; /* [L, dim] */
    float *ffn;                /* [chunk, ffn_dim] */
    float *e, *e0, *e_blk;     /* [R, dim], [6][R][dim], [6][R][dim] */
    float *ctx_in, *ctx, *ctx_h, *ctx_k, *ctx_v; /* [text_len, text_dim], then [text_len, dim] */
    float *sinus, *patches;    /* [R, freq_dim], [L, in_dim·4] */
    int64_t L, R, chunk;
    /* Modulation rows: per_token (R = L, row t for token t), or R runs of tokens sharing a
     * timestep, run r covering tokens [run[r], run[r + 1]) (TI2V: the first frame at t = 0, the
     * rest at t), so e is R rows instead of L. */
    int per_token;
    int64_t run[WAN22_MAX_T_RUNS + 1];
} dit_bufs;

/* A piece of a row range that uses one stretch of modulation rows: rows [r0, r0 + n) with
 * modulation rows [m0, m0 + mn) (mn = 1: one row for all, else one per row). */
typedef struct mod_piece {
    int64_t r0, n, m0, mn;
} mod_piece;

/* Splits rows [r0, r1) where the modulation row changes; returns the number of pieces. */
static int mod_pieces(const dit_bufs *b, int64_t r0, int64_t r1, mod_piece out[WAN22_MAX_T_RUNS])
{
    if (b->per_token) {
        out[0] = (mod_piece){r0, r1 - r0, r0, r1 - r0};
        return 1;
    }
    int n = 0;
    for (int64_t r = 0; r < b->R; r++) {
        int64_t s = r0 > b->run[r] ? r0 : b->run[r], e = r1 < b->run[r + 1] ? r1 : b->run[r + 1];
        if (s < e)
            out[n++] = (mod_piece){s, e - s, r, 1};
    }
    return n;
}

enum { ARENA_BUFFERS = 16 };

/* Rows of the FFN chunk for L tokens (w->ffn_chunk, or the default; at most L). */
static int64_t ffn_chunk_rows(int chunk_setting, int64_t L)
{
    int64_t c = chunk_setting > 0 ? chunk_setting : WAN22_FFN_CHUNK_DEFAULT;
    return c < L ? c : L;
}

/* Sizes in floats, in the order of the dit_bufs fields; returns the total. */
static size_t arena_layout(const wan22_config *c, int64_t L, int64_t R, int64_t chunk, size_t sizes[ARENA_BUFFERS])
{
    int64_t D = c->dim, T = c->text_len;
    const size_t s[ARENA_BUFFERS] = {L * D,     L * D,     L * D, L * D, L * D, chunk * c->ffn_dim,
                                     R * D,     6 * R * D, 6 * R * D, T * c->text_dim, T * D, T * D,
                                     T * D,     T * D,     R * c->freq_dim, L * c->in_dim * 4};
    size_t total = 0;
    for (int i = 0; i < ARENA_BUFFERS; i++)
        total += sizes[i] = s[i];
    return total;
}

size_t wan22_dit_workspace(const wan22_config *c, int f, int h, int w, int mod_rows, int ffn_chunk)
{
    size_t sizes[ARENA_BUFFERS];
    int64_t L = (int64_t)f * (h / 2) * (w / 2);
    return arena_layout(c, L, mod_rows > 0 && mod_rows <= WAN22_MAX_T_RUNS ? mod_rows : L, ffn_chunk_rows(ffn_chunk, L),
                        sizes) * sizeof(float);
}

static wr_tensor mat(float *p, int64_t rows, int64_t cols)
{
    wr_tensor t;
    int64_t ne[2] = {cols, rows};
    WR_ASSERT(wr_tensor_init(&t, WR_DTYPE_F32, 2, ne, p), "bad matrix %lld x %lld", (long long)rows,
              (long long)cols);
    return t;
}

/* Modulation rows [m0, m0 + mn) of a [R, dim] buffer. */
static wr_tensor mod_rows(const float *buf, int64_t dim, const mod_piece *p)
{
    return mat((float *)buf + p->m0 * dim, p->mn, dim);
}

/* [L, NH, HD] view of a [L, dim] buffer, for attention and RoPE. */
static wr_tensor heads(float *p, int64_t rows, int nh)
{
    wr_tensor t;
    int64_t ne[3] = {WAN22_HEAD_DIM, nh, rows};
    WR_ASSERT(wr_tensor_init(&t, WR_DTYPE_F32, 3, ne, p), "bad heads view");
    return t;
}

/* Rows [r0, r0 + n) of a weight matrix or vector (a contiguous slice). */
static wr_tensor weight_rows(const wr_tensor *w, int64_t r0, int64_t n)
{
    wr_tensor t = *w;
    if (w->n_dims == 1) {
        t.ne[0] = n;
        t.data = (char *)w->data + (size_t)r0 * w->nb[0];
    } else {
        t.ne[1] = n;
        t.data = (char *)w->data + (size_t)r0 * w->nb[1];
    }
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
        void *mid;
        wr_status st = wr_buffer_alloc((size_t)(m * rank + m * out) * sizeof(float), &mid);
        WR_ASSERT(st == WR_OK, "LoRA side path %lld x %lld: %s", (long long)m, (long long)rank, wr_last_error());
        wr_tensor tm = mat(mid, m, rank), ty = mat((float *)mid + m * rank, m, out);
        wr_op_matmul(x, &t->down, NULL, WR_ACT_NONE, &tm); /* [M, rank] */
        wr_op_matmul(&tm, &t->up, NULL, WR_ACT_NONE, &ty); /* [M, out], up carries the scale */
        wr_op_add_gated(y, &ty, NULL);
        wr_buffer_free(mid);
    }
    if (act != WR_ACT_NONE)
        wr_op_activate(y, act);
}

/* residual += linear(x) · gate (gate NULL: 1), fused into the matmul's epilogue unless a LoRA side
 * path must join y before the gate (then through y_scratch). */
static void linear_gated_add(const wan22_weights *w, const wr_tensor *x, const wr_tensor *W, const wr_tensor *b,
                             const wr_tensor *gate, wr_tensor *residual, wr_tensor *y_scratch)
{
    for (int i = 0; i < w->n_lora; i++)
        if (w->lora[i].target == W) {
            linear(w, x, W, b, WR_ACT_NONE, y_scratch);
            wr_op_add_gated(residual, y_scratch, gate);
            return;
        }
    wr_op_matmul_gated_add(x, W, b, gate, residual);
}

/* x[r0..r1) += linear(in[r0..r1)) · gate over each run of rows (gate a [R, dim] chunk, or NULL);
 * in and x are [L, *] buffers addressed by row, y a [L, dim] scratch. */
static void linear_gated_rows(const wan22_weights *w, const dit_bufs *b, const float *in, int64_t in_cols,
                              const wr_tensor *W, const wr_tensor *bias, const float *gate, float *x, float *y,
                              int64_t r0, int64_t r1, int64_t in_row0)
{
    int64_t D = w->cfg.dim;
    mod_piece pc[WAN22_MAX_T_RUNS];
    int n = gate ? mod_pieces(b, r0, r1, pc) : 1;
    if (!gate)
        pc[0] = (mod_piece){r0, r1 - r0, 0, 0};
    for (int i = 0; i < n; i++) {
        wr_tensor iv = mat((float *)in + (pc[i].r0 - in_row0) * in_cols, pc[i].n, in_cols);
        wr_tensor xv = mat(x + pc[i].r0 * D, pc[i].n, D), yv = mat(y + pc[i].r0 * D, pc[i].n, D);
        wr_tensor g = gate ? mod_rows(gate, D, &pc[i]) : (wr_tensor){0};
        linear_gated_add(w, &iv, W, bias, gate ? &g : NULL, &xv, &yv);
    }
}

typedef struct tracer {
    wan22_trace_fn fn;
    void *ctx;
} tracer;

/* Hands n floats of a buffer to the trace callback (copied to the host first when the buffer
 * lives on a device). */
static void trace_buf(const tracer *tr, const char *name, const float *buf, int64_t n)
{
    if (!tr->fn)
        return;
    if (wr_buffers_are_host()) {
        tr->fn(tr->ctx, name, buf, n);
        return;
    }
    float *h = malloc((size_t)n * sizeof *h);
    WR_ASSERT(h, "trace: out of memory");
    wr_buffer_read(h, buf, (size_t)n * sizeof *h);
    tr->fn(tr->ctx, name, h, n);
    free(h);
}

#define TRACE(name, ptr, n) trace_buf(tr, name, ptr, n)

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
 * column order (c, q, r) matches the weight's [dim, in, 1, 2, 2] flattening. The gather runs on
 * the host, then the patches go to the arena. */
static wr_status patch_embed(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b)
{
    int hp = in->h / 2, wp = in->w / 2, cin = w->cfg.in_dim;
    int64_t L = b->L;
    size_t plane = (size_t)in->h * (size_t)in->w, chan = plane * (size_t)in->f, bytes = (size_t)(L * cin * 4) * sizeof(float);
    float *patches = malloc(bytes);
    if (!patches)
        return wr_fail(WR_E_OOM, "DiT forward: out of memory for %zu MiB of patches", bytes >> 20);
    for (int64_t tok = 0; tok < L; tok++) {
        int f = (int)(tok / (hp * wp)), hh = (int)(tok / wp % hp), ww = (int)(tok % wp);
        float *row = patches + tok * cin * 4;
        for (int c = 0; c < cin; c++) {
            const float *src = c < in->c_noise ? in->x + (size_t)c * chan : in->y + (size_t)(c - in->c_noise) * chan;
            for (int q = 0; q < 2; q++)
                for (int r = 0; r < 2; r++)
                    row[c * 4 + q * 2 + r] = src[(size_t)f * plane + (size_t)(2 * hh + q) * (size_t)in->w + (size_t)(2 * ww + r)];
        }
    }
    wr_buffer_write(b->patches, patches, bytes);
    free(patches);
    wr_tensor p = mat(b->patches, L, (int64_t)cin * 4), x = mat(b->x, L, w->cfg.dim);
    wr_op_matmul(&p, &w->patch, &w->patch_b, WR_ACT_NONE, &x); /* [L, dim] */
    return WR_OK;
}

/* Chunk k of the block's modulation: a contiguous [R, dim]. */
static wr_tensor mod_chunk(const dit_bufs *b, int dim, int k)
{
    return mat(b->e_blk + (size_t)k * (size_t)(b->R * dim), b->R, dim);
}

/* y = LN(x) · (1 + scale) + shift with [R, dim] shift and scale, over each run of rows. */
static void ln_modulate(const dit_bufs *b, float eps, int64_t D, float *x, const float *shift, const float *scale,
                        float *y)
{
    mod_piece pc[WAN22_MAX_T_RUNS];
    for (int i = 0, n = mod_pieces(b, 0, b->L, pc); i < n; i++) {
        wr_tensor xv = mat(x + pc[i].r0 * D, pc[i].n, D), yv = mat(y + pc[i].r0 * D, pc[i].n, D);
        wr_tensor sh = mod_rows(shift, D, &pc[i]), sc = mod_rows(scale, D, &pc[i]);
        wr_op_layer_norm_modulate(&xv, NULL, NULL, eps, &sh, &sc, &yv);
    }
}

/* x += y · gate over rows [r0, r1), gate a [R, dim] modulation chunk. */
static void add_gated_rows(const dit_bufs *b, int64_t D, float *x, const float *y, const float *gate, int64_t r0,
                           int64_t r1)
{
    mod_piece pc[WAN22_MAX_T_RUNS];
    for (int i = 0, n = mod_pieces(b, r0, r1, pc); i < n; i++) {
        wr_tensor xv = mat(x + pc[i].r0 * D, pc[i].n, D), yv = mat((float *)y + pc[i].r0 * D, pc[i].n, D);
        wr_tensor g = mod_rows(gate, D, &pc[i]);
        wr_op_add_gated(&xv, &yv, &g);
    }
}

static void self_attention(const wan22_weights *w, const wan22_attn *a, const wr_tensor *xn, const wan22_dit_input *din,
                           dit_bufs *b, const tracer *tr, int traced)
{
    const wan22_config *c = &w->cfg;
    int64_t L = b->L;
    wr_tensor q = mat(b->q, L, c->dim), k = mat(b->k, L, c->dim), v = mat(b->v, L, c->dim);
    linear(w, xn, &a->q, &a->q_b, WR_ACT_NONE, &q);                /* [L, dim] */
    wr_op_rms_norm(&q, &a->norm_q, c->eps, &q);                    /* over all heads together */
    linear(w, xn, &a->k, &a->k_b, WR_ACT_NONE, &k);
    wr_op_rms_norm(&k, &a->norm_k, c->eps, &k);
    linear(w, xn, &a->v, &a->v_b, WR_ACT_NONE, &v);
    wr_tensor qh = heads(b->q, L, c->num_heads), kh = heads(b->k, L, c->num_heads);
    wr_tensor vh = heads(b->v, L, c->num_heads), oh = heads(b->xn, L, c->num_heads);
    wr_op_rope_wan(&qh, din->f, din->h / 2, din->w / 2);          /* [L, NH, 128] */
    wr_op_rope_wan(&kh, din->f, din->h / 2, din->w / 2);
    if (traced) {
        TRACE("inter.block0.self_attn.q_after_rope", b->q, L * c->dim);
        TRACE("inter.block0.self_attn.k_after_rope", b->k, L * c->dim);
    }
    wr_op_attention(&qh, &kh, &vh, L, 1.0f / sqrtf((float)WAN22_HEAD_DIM), &oh); /* -> xn */
    if (traced)
        TRACE("inter.block0.self_attn.attn_out", b->xn, L * c->dim);
}

static void cross_attention(const wan22_weights *w, const wan22_attn *a, const wr_tensor *xn, dit_bufs *b)
{
    const wan22_config *c = &w->cfg;
    int64_t L = b->L, T = c->text_len;
    wr_tensor q = mat(b->q, L, c->dim), ctx = mat(b->ctx, T, c->dim);
    wr_tensor k = mat(b->ctx_k, T, c->dim), v = mat(b->ctx_v, T, c->dim);
    linear(w, xn, &a->q, &a->q_b, WR_ACT_NONE, &q);                /* [L, dim] */
    wr_op_rms_norm(&q, &a->norm_q, c->eps, &q);
    linear(w, &ctx, &a->k, &a->k_b, WR_ACT_NONE, &k);              /* [T, dim] */
    wr_op_rms_norm(&k, &a->norm_k, c->eps, &k);
    linear(w, &ctx, &a->v, &a->v_b, WR_ACT_NONE, &v);
    wr_tensor qh = heads(b->q, L, c->num_heads), kh = heads(b->ctx_k, T, c->num_heads);
    wr_tensor vh = heads(b->ctx_v, T, c->num_heads), oh = heads(b->k, L, c->num_heads);
    wr_op_attention(&qh, &kh, &vh, T, 1.0f / sqrtf((float)WAN22_HEAD_DIM), &oh); /* -> k; no text mask */
}

/* x += ffn(xn) · gate, over chunks of rows so the hidden layer is only [chunk, ffn_dim]. Traced:
 * the FFN output goes to q first (the trace reads it before the gate). */
static void ffn_gated(const wan22_weights *w, const wan22_block *blk, dit_bufs *b, const float *gate,
                      const tracer *tr, int traced)
{
    const wan22_config *c = &w->cfg;
    int64_t D = c->dim;
    for (int64_t r0 = 0; r0 < b->L; r0 += b->chunk) {
        int64_t n = b->L - r0 < b->chunk ? b->L - r0 : b->chunk;
        wr_tensor xn = mat(b->xn + r0 * D, n, D), h = mat(b->ffn, n, c->ffn_dim), y = mat(b->q + r0 * D, n, D);
        linear(w, &xn, &blk->ffn0, &blk->ffn0_b, WR_ACT_GELU_TANH, &h); /* [n, ffn] */
        if (traced)
            linear(w, &h, &blk->ffn2, &blk->ffn2_b, WR_ACT_NONE, &y);   /* [n, dim] */
        else
            linear_gated_rows(w, b, b->ffn, c->ffn_dim, &blk->ffn2, &blk->ffn2_b, gate, b->x, b->q, r0, r0 + n, r0);
    }
    if (traced) {
        TRACE("inter.block0.ffn.out", b->q, b->L * D);
        add_gated_rows(b, D, b->x, b->q, gate, 0, b->L);
    }
}

static void dit_block(const wan22_weights *w, const wan22_block *blk, const wan22_dit_input *din, dit_bufs *b,
                      const tracer *tr, int traced)
{
    const wan22_config *c = &w->cfg;
    int64_t L = b->L, D = c->dim;
    wr_tensor x = mat(b->x, L, D), xn = mat(b->xn, L, D), q = mat(b->q, L, D), k = mat(b->k, L, D), v = mat(b->v, L, D);
    for (int i = 0; i < 6; i++) { /* e = modulation + e0, chunk by chunk */
        wr_tensor e0 = mat(b->e0 + (size_t)i * (size_t)(b->R * D), b->R, D), eb = mod_chunk(b, (int)D, i);
        wr_tensor mod = mat((float *)blk->modulation.data + (size_t)i * (size_t)D, 1, D);
        wr_op_add(&e0, &mod, &eb);
    }
    const float *e_[6];
    for (int i = 0; i < 6; i++)
        e_[i] = b->e_blk + (size_t)i * (size_t)(b->R * D);
    if (traced)
        TRACE("inter.block0.in_x", b->x, L * D);
    ln_modulate(b, c->eps, D, b->x, e_[0], e_[1], b->xn);         /* norm1 · (1 + e1) + e0 */
    if (traced)
        TRACE("inter.block0.self_attn.in", b->xn, L * D);
    self_attention(w, &blk->self_attn, &xn, din, b, tr, traced);  /* -> xn */
    if (traced) {
        linear(w, &xn, &blk->self_attn.o, &blk->self_attn.o_b, WR_ACT_NONE, &q);
        TRACE("inter.block0.self_attn.out", b->q, L * D);
        add_gated_rows(b, D, b->x, b->q, e_[2], 0, L);
    } else { /* x += o(y) · e2 */
        linear_gated_rows(w, b, b->xn, D, &blk->self_attn.o, &blk->self_attn.o_b, e_[2], b->x, b->q, 0, L, 0);
    }
    if (traced)
        TRACE("inter.block0.x_after_self_attn", b->x, L * D);
    wr_op_layer_norm(&x, &blk->norm3_w, &blk->norm3_b, c->eps, &xn); /* norm3, affine */
    cross_attention(w, &blk->cross_attn, &xn, b);                  /* -> k */
    if (traced) {
        TRACE("inter.block0.cross_attn.attn_out", b->k, L * D);
        linear(w, &k, &blk->cross_attn.o, &blk->cross_attn.o_b, WR_ACT_NONE, &v);
        TRACE("inter.block0.cross_attn.out", b->v, L * D);
        wr_op_add_gated(&x, &v, NULL);
    } else {
        linear_gated_add(w, &k, &blk->cross_attn.o, &blk->cross_attn.o_b, NULL, &x, &v); /* x += o(cross) */
    }
    if (traced)
        TRACE("inter.block0.x_after_cross_attn", b->x, L * D);
    ln_modulate(b, c->eps, D, b->x, e_[3], e_[4], b->xn);         /* norm2 · (1 + e4) + e3 */
    if (traced)
        TRACE("inter.block0.ffn.in", b->xn, L * D);
    ffn_gated(w, blk, b, e_[5], tr, traced);                       /* x += ffn · e5 */
    if (traced)
        TRACE("inter.block0.out_x_after_ffn", b->x, L * D);
}

/* The modulation rows: runs of tokens sharing a timestep (at most WAN22_MAX_T_RUNS), else one
 * row per token. */
static void timestep_runs(const wan22_dit_input *in, int max_runs, dit_bufs *b)
{
    int limit = max_runs > 0 && max_runs < WAN22_MAX_T_RUNS ? max_runs : WAN22_MAX_T_RUNS;
    b->per_token = 0, b->R = 1, b->run[0] = 0;
    for (int64_t i = 1; in->n_t > 1 && i < b->L; i++)
        if (in->t[i] != in->t[i - 1]) {
            if (b->R == limit) {
                b->per_token = 1, b->R = b->L;
                return;
            }
            b->run[b->R++] = i;
        }
    b->run[b->R] = b->L;
}

/* The modulation row of token t. */
static int64_t row_of(const dit_bufs *b, int64_t t)
{
    if (b->per_token)
        return t;
    int64_t r = 0;
    while (t >= b->run[r + 1])
        r++;
    return r;
}

/* The [R, 6, dim] (or broadcast [L, 6, dim]) layout of a chunk-major [6][R][dim] buffer, for the
 * trace only. */
static void trace_e0(const tracer *tr, const dit_bufs *b, int64_t D)
{
    if (!tr->fn)
        return;
    size_t n6 = (size_t)(6 * b->R * D);
    float *cm = malloc(n6 * sizeof *cm), *out = malloc((size_t)(b->L * 6 * D) * sizeof *out);
    WR_ASSERT(cm && out, "trace: out of memory");
    wr_buffer_read(cm, b->e0, n6 * sizeof *cm);
    for (int64_t t = 0; t < b->L; t++)
        for (int k = 0; k < 6; k++)
            memcpy(out + (t * 6 + k) * D, cm + ((size_t)k * (size_t)b->R + (size_t)row_of(b, t)) * (size_t)D,
                   (size_t)D * sizeof *out);
    tr->fn(tr->ctx, "inter.time_projection.out_e0", out, b->L * 6 * D);
    free(cm), free(out);
}

/* A [R, cols] buffer traced as [L, cols] (each token its modulation row). */
static void trace_rows(const tracer *tr, const char *name, const dit_bufs *b, const float *buf, int64_t cols)
{
    if (!tr->fn)
        return;
    float *rows = malloc((size_t)(b->R * cols) * sizeof *rows), *h = malloc((size_t)(b->L * cols) * sizeof *h);
    WR_ASSERT(rows && h, "trace: out of memory");
    wr_buffer_read(rows, buf, (size_t)(b->R * cols) * sizeof *rows);
    for (int64_t t = 0; t < b->L; t++)
        memcpy(h + t * cols, rows + row_of(b, t) * cols, (size_t)cols * sizeof *h);
    tr->fn(tr->ctx, name, h, b->L * cols);
    free(rows), free(h);
}

/* Sinusoid (host, float64 inside) -> time_embedding -> e [R, dim]; SiLU -> time_projection ->
 * e0, one [R, dim] matmul per chunk (rows k·dim.. of the projection). */
static wr_status time_embed(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, const tracer *tr)
{
    const wan22_config *c = &w->cfg;
    int64_t R = b->R, D = c->dim;
    float *tv = malloc((size_t)R * sizeof *tv), *sin_h = malloc((size_t)(R * c->freq_dim) * sizeof *sin_h);
    if (!tv || !sin_h) {
        free(tv), free(sin_h);
        return wr_fail(WR_E_OOM, "DiT forward: out of memory for the timestep embedding");
    }
    for (int64_t i = 0; i < R; i++)
        tv[i] = in->t[in->n_t == 1 ? 0 : b->per_token ? i : b->run[i]];
    wr_tensor t = mat(tv, R, 1), sh = mat(sin_h, R, c->freq_dim);
    t = wr_tensor_reshape(&t, 1, (int64_t[]){R});
    wr_op_timestep_embedding(&t, &sh); /* host tensors: [R, freq] */
    wr_buffer_write(b->sinus, sin_h, (size_t)(R * c->freq_dim) * sizeof *sin_h);
    free(tv), free(sin_h);
    trace_rows(tr, "inter.time_embedding.in_sinusoidal", b, b->sinus, c->freq_dim);
    wr_tensor s = mat(b->sinus, R, c->freq_dim), h = mat(b->e_blk, R, D), e = mat(b->e, R, D);
    wr_tensor es = mat(b->e_blk + R * D, R, D);
    wr_op_matmul(&s, &w->time0, &w->time0_b, WR_ACT_SILU, &h);     /* Linear, SiLU */
    wr_op_matmul(&h, &w->time2, &w->time2_b, WR_ACT_NONE, &e);     /* Linear -> e */
    trace_rows(tr, "inter.time_embedding.out_e", b, b->e, D);
    wr_buffer_copy(b->e_blk + R * D, b->e, (size_t)(R * D) * sizeof(float));
    wr_op_activate(&es, WR_ACT_SILU);                              /* time_projection.0 = SiLU */
    for (int k = 0; k < 6; k++) {
        wr_tensor wk = weight_rows(&w->tproj, (int64_t)k * D, D), bk = weight_rows(&w->tproj_b, (int64_t)k * D, D);
        wr_tensor e0 = mat(b->e0 + (size_t)k * (size_t)(R * D), R, D);
        wr_op_matmul(&es, &wk, &bk, WR_ACT_NONE, &e0);             /* chunk k of e0 */
    }
    trace_e0(tr, b, D);
    return WR_OK;
}

/* Zero-pad the context to text_len rows, then Linear, GELU(tanh), Linear on every row. */
static wr_status text_embed(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b)
{
    const wan22_config *c = &w->cfg;
    int64_t T = c->text_len;
    size_t bytes = (size_t)(T * c->text_dim) * sizeof(float);
    float *padded = calloc(1, bytes);
    if (!padded)
        return wr_fail(WR_E_OOM, "DiT forward: out of memory for the text context");
    memcpy(padded, in->context, (size_t)in->ctx_len * (size_t)c->text_dim * sizeof(float));
    wr_buffer_write(b->ctx_in, padded, bytes);
    free(padded);
    wr_tensor p = mat(b->ctx_in, T, c->text_dim), h = mat(b->ctx_h, T, c->dim), ctx = mat(b->ctx, T, c->dim);
    wr_op_matmul(&p, &w->text0, &w->text0_b, WR_ACT_GELU_TANH, &h);
    wr_op_matmul(&h, &w->text2, &w->text2_b, WR_ACT_NONE, &ctx);   /* [T, dim] */
    return WR_OK;
}

/* head(LN(x) · (1 + scale) + shift) with (shift, scale) = head.modulation + e, then unpatchify
 * on the host. */
static wr_status head_out(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, float *out, const tracer *tr)
{
    const wan22_config *c = &w->cfg;
    int64_t L = b->L, D = c->dim, C = c->out_dim;
    wr_tensor x = mat(b->x, L, D), xn = mat(b->xn, L, D), e = mat(b->e, b->R, D);
    wr_tensor shift = mat(b->k, b->R, D), scale = mat(b->v, b->R, D);
    wr_tensor m0 = mat(w->head_mod.data, 1, D), m1 = mat((float *)w->head_mod.data + D, 1, D);
    wr_op_add(&e, &m0, &shift);
    wr_op_add(&e, &m1, &scale);
    (void)x, (void)xn;
    ln_modulate(b, c->eps, D, b->x, b->k, b->v, b->xn);
    wr_tensor tok = mat(b->q, L, 4 * C);
    wr_op_matmul(&xn, &w->head, &w->head_b, WR_ACT_NONE, &tok);    /* [L, 4·C_out] */
    size_t bytes = (size_t)(L * 4 * C) * sizeof(float);
    float *h = malloc(bytes);
    if (!h)
        return wr_fail(WR_E_OOM, "DiT forward: out of memory for the output tokens");
    wr_buffer_read(h, b->q, bytes);
    if (tr->fn)
        tr->fn(tr->ctx, "inter.head.out_tokens", h, L * 4 * C);
    int hp = in->h / 2, wp = in->w / 2;
    for (int64_t t = 0; t < L; t++) {
        int f = (int)(t / (hp * wp)), hh = (int)(t / wp % hp), ww = (int)(t % wp);
        for (int q = 0; q < 2; q++)
            for (int r = 0; r < 2; r++)
                for (int64_t ch = 0; ch < C; ch++)
                    out[(((size_t)ch * (size_t)in->f + (size_t)f) * (size_t)in->h + (size_t)(2 * hh + q)) * (size_t)in->w +
                        (size_t)(2 * ww + r)] = h[t * 4 * C + (q * 2 + r) * C + ch];
    }
    free(h);
    return WR_OK;
}

/* What a forward on a GPU keeps between calls: the arena (same addresses every step) and a
 * recording of the block loop, replayed from the third call on (the first runs eagerly and warms
 * the device's caches, the second records). */
struct wan22_run {
    void *arena;
    size_t bytes;
    wr_recording *rec;
    int f, h, w, forwards;
    int64_t R, chunk, run[WAN22_MAX_T_RUNS + 1];
};

void wan22_dit_release(wan22_weights *w)
{
    if (!w->run)
        return;
    wr_recording_free(w->run->rec);
    wr_buffer_free(w->run->arena);
    free(w->run);
    w->run = NULL;
}

/* Whether the block loop can be recorded: every weight placed on the device and resident, no
 * LoRA side path (it allocates per call), no trace (it reads buffers mid-loop). */
static int loop_recordable(const wan22_weights *w, const tracer *tr)
{
    if (tr->fn || !w->placement || w->n_lora)
        return 0;
    wr_placement_stats st;
    wr_placement_stats_get(w->placement, &st);
    return st.pinned_bytes == 0 && st.host_tensors == 0;
}

static void run_blocks(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, const tracer *tr)
{
    wr_attention_mode mode = wr_attention_mode_get();
    for (int l = 0; l < w->cfg.num_layers; l++) {
        wr_placement_use(w->placement, 1 + l);
        if (w->dense_attention_blocks > 0)
            wr_attention_mode_set(l < w->dense_attention_blocks ? WR_ATTENTION_DENSE : mode);
        dit_block(w, &w->blocks[l], in, b, tr, l == 0);
    }
    wr_attention_mode_set(mode);
}

/* The block loop: replayed, recorded or run. */
static wr_status blocks(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, const tracer *tr)
{
    struct wan22_run *r = w->run;
    if (!r || !loop_recordable(w, tr)) {
        run_blocks(w, in, b, tr);
        return WR_OK;
    }
    if (r->f != in->f || r->h != in->h || r->w != in->w || r->R != b->R || r->chunk != b->chunk ||
        memcmp(r->run, b->run, sizeof r->run)) {
        wr_recording_free(r->rec);
        *r = (struct wan22_run){.arena = r->arena, .bytes = r->bytes, .f = in->f, .h = in->h, .w = in->w, .R = b->R,
                                .chunk = b->chunk};
        memcpy(r->run, b->run, sizeof r->run);
    }
    if (r->rec && wr_recording_replay(r->rec))
        return WR_OK;
    wr_recording_free(r->rec);
    r->rec = NULL;
    if (r->forwards++ >= 1 && wr_recording_begin()) {
        run_blocks(w, in, b, tr);
        WR_TRY(wr_recording_end(&r->rec));
        if (wr_recording_replay(r->rec))
            return WR_OK;
        return wr_fail(WR_E_DEVICE, "DiT: a fresh recording of the block loop went stale");
    }
    run_blocks(w, in, b, tr);
    return WR_OK;
}

static wr_status forward_in_arena(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, float *out,
                                  const tracer *tr)
{
    const wan22_config *c = &w->cfg;
    int64_t L = b->L, D = c->dim;
    wr_placement_use(w->placement, 0);
    WR_TRY(patch_embed(w, in, b));
    if (tr->fn) { /* golden layout [dim, F, H/2, W/2] */
        float *h = malloc((size_t)(L * D) * sizeof *h), *t = malloc((size_t)(L * D) * sizeof *t);
        WR_ASSERT(h && t, "trace: out of memory");
        wr_buffer_read(h, b->x, (size_t)(L * D) * sizeof *h);
        for (int64_t i = 0; i < L; i++)
            for (int64_t d = 0; d < D; d++)
                t[d * L + i] = h[i * D + d];
        tr->fn(tr->ctx, "inter.patch_embedding.out", t, L * D);
        free(h), free(t);
    }
    WR_TRY(time_embed(w, in, b, tr));
    WR_TRY(text_embed(w, in, b));
    TRACE("inter.text_embedding.out_context", b->ctx, c->text_len * D);
    WR_TRY(blocks(w, in, b, tr));
    wr_placement_use(w->placement, 0);
    TRACE("inter.blocks_last.out", b->x, L * D);
    return head_out(w, in, b, out, tr);
}

/* The arena: kept between calls when the weights are placed on a device (so a recording's
 * addresses stay valid), else allocated per call. */
static wr_status arena_get(const wan22_weights *cw, size_t bytes, void **arena, int *kept)
{
    wan22_weights *w = (wan22_weights *)cw; /* the run state is a cache, not part of the model */
    *kept = 0;
    if (!w->placement)
        return wr_buffer_alloc(bytes, arena);
    if (!w->run && !(w->run = calloc(1, sizeof *w->run)))
        return wr_fail(WR_E_OOM, "DiT: out of memory");
    if (w->run->bytes != bytes) {
        wr_recording_free(w->run->rec);
        wr_buffer_free(w->run->arena);
        *w->run = (struct wan22_run){0};
        WR_TRY(wr_buffer_alloc(bytes, &w->run->arena));
        w->run->bytes = bytes;
    }
    *arena = w->run->arena, *kept = 1;
    return WR_OK;
}

wr_status wan22_dit_forward(const wan22_weights *w, const wan22_dit_input *in, float *out, wan22_trace_fn trace,
                            void *trace_ctx)
{
    WR_TRY(check_input(w, in));
    const wan22_config *c = &w->cfg;
    dit_bufs b = {.L = (int64_t)in->f * (in->h / 2) * (in->w / 2)};
    timestep_runs(in, w->max_t_runs, &b);
    b.chunk = ffn_chunk_rows(w->ffn_chunk, b.L);
    size_t sizes[ARENA_BUFFERS], total = arena_layout(c, b.L, b.R, b.chunk, sizes);
    void *arena;
    int kept;
    WR_TRY(arena_get(w, total * sizeof(float), &arena, &kept));
    float **fields[ARENA_BUFFERS] = {&b.x,   &b.xn,     &b.q,   &b.k,    &b.v,     &b.ffn,   &b.e,     &b.e0,
                                     &b.e_blk, &b.ctx_in, &b.ctx, &b.ctx_h, &b.ctx_k, &b.ctx_v, &b.sinus, &b.patches};
    float *p = arena;
    for (int i = 0; i < ARENA_BUFFERS; i++) {
        *fields[i] = p;
        p += sizes[i];
    }
    tracer tr = {trace, trace_ctx};
    wr_status st = forward_in_arena(w, in, &b, out, &tr);
    if (!kept)
        wr_buffer_free(arena);
    return st;
}
