/* Internal to the Wan DiT forward (dit.c: the blocks and the forward; dit_embed.c: inputs,
 * embeddings, head and traces; dit_run.c: what a device run keeps between forwards). */
#ifndef WAN22_DIT_INTERNAL_H
#define WAN22_DIT_INTERNAL_H

#include "models/wan22/dit.h"
#include "runtime/buffers.h"
#include "runtime/ops.h"

/* The forward's activations: one arena (a backend buffer: device memory on a GPU), cut into
 * named [rows, cols] buffers (arena_layout). Buffers are reused across stages, so at 75,600
 * tokens the forward holds five [L, dim] buffers plus one FFN chunk:
 *   self-attn  xn = LN(x)·(1+e1)+e0 -> q, k, v; attention -> xn; o-proj -> q; x += q·e2
 *   cross-attn xn = LN3(x) -> q; attention(q, ctx_k, ctx_v) -> k; o-proj -> v; x += v
 *   ffn        xn = LN(x)·(1+e4)+e3; per chunk of rows: ffn = gelu(xn·W0) -> q; x += q·e5
 * The modulation e is [R, dim], one row per run of tokens sharing a timestep (or per token);
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
static inline int mod_pieces(const dit_bufs *b, int64_t r0, int64_t r1, mod_piece out[WAN22_MAX_T_RUNS])
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

static inline wr_tensor mat(float *p, int64_t rows, int64_t cols)
{
    wr_tensor t;
    int64_t ne[2] = {cols, rows};
    WR_ASSERT(wr_tensor_init(&t, WR_DTYPE_F32, 2, ne, p), "bad matrix %lld x %lld", (long long)rows,
              (long long)cols);
    return t;
}

/* Modulation rows [m0, m0 + mn) of a [R, dim] buffer. */
static inline wr_tensor mod_rows(const float *buf, int64_t dim, const mod_piece *p)
{
    return mat((float *)buf + p->m0 * dim, p->mn, dim);
}

/* [L, NH, HD] view of a [L, dim] buffer, for attention and RoPE. */
static inline wr_tensor heads(float *p, int64_t rows, int nh)
{
    wr_tensor t;
    int64_t ne[3] = {WAN22_HEAD_DIM, nh, rows};
    WR_ASSERT(wr_tensor_init(&t, WR_DTYPE_F32, 3, ne, p), "bad heads view");
    return t;
}

/* Rows [r0, r0 + n) of a weight matrix or vector (a contiguous slice). */
static inline wr_tensor weight_rows(const wr_tensor *w, int64_t r0, int64_t n)
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

typedef struct tracer {
    wan22_trace_fn fn;
    void *ctx;
} tracer;

/* Hands n floats of a buffer to the trace callback (copied to the host first on a device). */
void dit_trace_buf(const tracer *tr, const char *name, const float *buf, int64_t n);
#define TRACE(name, ptr, n) dit_trace_buf(tr, name, ptr, n)

/* dit_embed.c */
void dit_timestep_runs(const wan22_dit_input *in, int max_runs, dit_bufs *b);
wr_status dit_patch_embed(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b);
wr_status dit_time_embed(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, const tracer *tr);
wr_status dit_text_embed(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b);
wr_status dit_head_out(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, float *out, const tracer *tr);

/* dit.c */
void dit_ln_modulate(const dit_bufs *b, float eps, int64_t D, float *x, const float *shift, const float *scale,
                     float *y);
void dit_block(const wan22_weights *w, const wan22_block *blk, const wan22_dit_input *din, dit_bufs *b,
               const tracer *tr, int traced);

/* dit_run.c: the block loop (replayed, recorded or run) and the arena (kept between calls when the
 * weights are placed on a device). */
wr_status dit_blocks(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, const tracer *tr);
wr_status dit_arena_get(const wan22_weights *w, size_t bytes, void **arena, int *kept);

#endif
