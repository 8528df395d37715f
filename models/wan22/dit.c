/* Wan 2.2 DiT forward (see dit.h): the blocks and the forward over one activation arena.
 * Straight-line, one op per line, shapes in PyTorch order ([rows, cols] = tokens x features).
 * Inputs, embeddings and head: dit_embed.c; what a device run keeps between calls: dit_run.c. */
#include "models/wan22/dit_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    int64_t m = wr_tensor_nrows(x);
    for (int i = 0; i < w->n_lora; i++) {
        const wan22_lora_term *t = &w->lora[i];
        if (t->target != W)
            continue;
        int64_t rank = wr_tensor_nrows(&t->down);
        void *mid; /* only [M, rank]: the up-projection adds into y in its epilogue */
        wr_status st = wr_buffer_alloc((size_t)(m * rank) * sizeof(float), &mid);
        WR_ASSERT(st == WR_OK, "LoRA side path %lld x %lld: %s", (long long)m, (long long)rank, wr_last_error());
        wr_tensor tm = mat(mid, m, rank);
        wr_op_matmul(x, &t->down, NULL, WR_ACT_NONE, &tm);   /* [M, rank] */
        wr_op_matmul_gated_add(&tm, &t->up, NULL, NULL, y);  /* y += tm·upᵀ, up carries the scale */
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

/* Chunk k of the block's modulation: a contiguous [R, dim]. */
static wr_tensor mod_chunk(const dit_bufs *b, int dim, int k)
{
    return mat(b->e_blk + (size_t)k * (size_t)(b->R * dim), b->R, dim);
}

/* y = LN(x) · (1 + scale) + shift with [R, dim] shift and scale, over each run of rows. */
void dit_ln_modulate(const dit_bufs *b, float eps, int64_t D, float *x, const float *shift, const float *scale,
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
    float scale = 1.0f / sqrtf((float)WAN22_HEAD_DIM);
    wr_tensor q = mat(b->q, L, c->dim), k = mat(b->k, L, c->dim), v = mat(b->v, L, c->dim);
    wr_tensor qh = heads(b->q, L, c->num_heads), kh = heads(b->k, L, c->num_heads);
    wr_tensor vh = heads(b->v, L, c->num_heads), oh = heads(b->xn, L, c->num_heads);
    linear(w, xn, &a->q, &a->q_b, WR_ACT_NONE, &q);                /* [L, dim] */
    linear(w, xn, &a->k, &a->k_b, WR_ACT_NONE, &k);
    linear(w, xn, &a->v, &a->v_b, WR_ACT_NONE, &v);
    if (wr_attention_mode_get() == WR_ATTENTION_SAGE && !traced) { /* norms, RoPE and int8 codes in one pass */
        wr_op_self_attention_sage_fused(&qh, &kh, &vh, &a->norm_q, &a->norm_k, c->eps, din->f, din->h / 2, din->w / 2,
                                        scale, &oh);               /* -> xn */
        return;
    }
    wr_op_rms_norm(&q, &a->norm_q, c->eps, &q);                    /* over all heads together */
    wr_op_rms_norm(&k, &a->norm_k, c->eps, &k);
    wr_op_rope_wan(&qh, din->f, din->h / 2, din->w / 2);          /* [L, NH, 128] */
    wr_op_rope_wan(&kh, din->f, din->h / 2, din->w / 2);
    if (traced) {
        TRACE("inter.block0.self_attn.q_after_rope", b->q, L * c->dim);
        TRACE("inter.block0.self_attn.k_after_rope", b->k, L * c->dim);
    }
    wr_op_attention(&qh, &kh, &vh, L, scale, &oh);                 /* -> xn */
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

void dit_block(const wan22_weights *w, const wan22_block *blk, const wan22_dit_input *din, dit_bufs *b,
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
    dit_ln_modulate(b, c->eps, D, b->x, e_[0], e_[1], b->xn);         /* norm1 · (1 + e1) + e0 */
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
    dit_ln_modulate(b, c->eps, D, b->x, e_[3], e_[4], b->xn);         /* norm2 · (1 + e4) + e3 */
    if (traced)
        TRACE("inter.block0.ffn.in", b->xn, L * D);
    ffn_gated(w, blk, b, e_[5], tr, traced);                       /* x += ffn · e5 */
    if (traced)
        TRACE("inter.block0.out_x_after_ffn", b->x, L * D);
}

static wr_status forward_in_arena(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, float *out,
                                  const tracer *tr)
{
    const wan22_config *c = &w->cfg;
    int64_t L = b->L, D = c->dim;
    wr_placement_use(w->placement, 0);
    WR_TRY(dit_patch_embed(w, in, b));
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
    WR_TRY(dit_time_embed(w, in, b, tr));
    WR_TRY(dit_text_embed(w, in, b));
    TRACE("inter.text_embedding.out_context", b->ctx, c->text_len * D);
    WR_TRY(dit_blocks(w, in, b, tr));
    wr_placement_use(w->placement, 0);
    TRACE("inter.blocks_last.out", b->x, L * D);
    return dit_head_out(w, in, b, out, tr);
}

wr_status wan22_dit_forward(const wan22_weights *w, const wan22_dit_input *in, float *out, wan22_trace_fn trace,
                            void *trace_ctx)
{
    WR_TRY(check_input(w, in));
    const wan22_config *c = &w->cfg;
    dit_bufs b = {.L = (int64_t)in->f * (in->h / 2) * (in->w / 2)};
    dit_timestep_runs(in, w->max_t_runs, &b);
    b.chunk = ffn_chunk_rows(w->ffn_chunk, b.L);
    size_t sizes[ARENA_BUFFERS], total = arena_layout(c, b.L, b.R, b.chunk, sizes);
    void *arena;
    int kept;
    WR_TRY(dit_arena_get(w, total * sizeof(float), &arena, &kept));
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
