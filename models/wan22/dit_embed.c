/* The Wan DiT's inputs and outputs (see dit_internal.h): patch embedding, timestep and text
 * embeddings, the head and unpatchify, and the traces of the golden intermediates. Host-side
 * gathers and scatters go through wr_buffer_write/read, so the arena may be device memory. */
#include "models/wan22/dit_internal.h"

#include <stdlib.h>
#include <string.h>

/* Hands n floats of a buffer to the trace callback (copied to the host first when the buffer
 * lives on a device). */
void dit_trace_buf(const tracer *tr, const char *name, const float *buf, int64_t n)
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

/* Conv3d with kernel = stride = (1, 2, 2) as a matmul over gathered patches; the patch
 * column order (c, q, r) matches the weight's [dim, in, 1, 2, 2] flattening. The gather runs on
 * the host, then the patches go to the arena. */
wr_status dit_patch_embed(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b)
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

/* The modulation rows: runs of tokens sharing a timestep (at most WAN22_MAX_T_RUNS), else one
 * row per token. */
void dit_timestep_runs(const wan22_dit_input *in, int max_runs, dit_bufs *b)
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
wr_status dit_time_embed(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, const tracer *tr)
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
wr_status dit_text_embed(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b)
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
wr_status dit_head_out(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, float *out, const tracer *tr)
{
    const wan22_config *c = &w->cfg;
    int64_t L = b->L, D = c->dim, C = c->out_dim;
    wr_tensor x = mat(b->x, L, D), xn = mat(b->xn, L, D), e = mat(b->e, b->R, D);
    wr_tensor shift = mat(b->k, b->R, D), scale = mat(b->v, b->R, D);
    wr_tensor m0 = mat(w->head_mod.data, 1, D), m1 = mat((float *)w->head_mod.data + D, 1, D);
    wr_op_add(&e, &m0, &shift);
    wr_op_add(&e, &m1, &scale);
    (void)x, (void)xn;
    dit_ln_modulate(b, c->eps, D, b->x, b->k, b->v, b->xn);
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
