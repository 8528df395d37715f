/* Window attention of one SeedVR2 DiT block (NaSwinAttention; seedvr2.md 4.7, README 2.4).
 *
 * Per sample: q and k get a per-head RMSNorm, then RoPE with window-local positions (each
 * video token lies in exactly one window per layer, so it is rotated in place once), then
 * every window attends over [its video tokens; all of the sample's text tokens]. Video
 * outputs go back to their token rows; a text token's output is the mean of its outputs over
 * the windows. The bf16 mode rounds q, k, v and each window's output to bf16, as upstream
 * casts them around the flash-attn call (softmax itself stays fp32). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/numeric.h"
#include "runtime/ops.h"
#include "runtime/threadpool.h"
#include "upscale/svr_dit_internal.h"
#include "upscale/svr_dit_rope.h"

static const int num_windows[3] = SVR_DIT_NUM_WINDOWS;

static float round_bf16(float x) { return wr_bf16_to_f32(wr_f32_to_bf16(x)); }

/* Per-head RMSNorm of the q (part 0) or k (part 1) slice of rows × [3][heads][hd]. */
static void qk_norm(const upscale_dit_config *c, float *qkv, int64_t rows, int part, const wr_tensor *w)
{
    if (rows == 0)
        return;
    int64_t inner = (int64_t)c->heads * c->head_dim;
    wr_tensor v;
    WR_ASSERT(wr_tensor_init(&v, WR_DTYPE_F32, 2, (int64_t[]){c->head_dim, c->heads}, qkv + part * inner),
              "qk view");
    v.n_dims = 3;
    v.ne[2] = rows;
    v.nb[2] = (size_t)(3 * inner) * sizeof(float); /* rows of the qkv buffer */
    wr_op_rms_norm(&v, w, c->eps, &v);
}

/* Rotates q and k of every head of one token by the angles of pos. */
static void rope_token(const upscale_dit_config *c, const float *freqs, float *row, const float pos[3])
{
    float theta[256], cs[256], sn[256];
    int n_rot = 6 * c->rope_freqs, inner = c->heads * c->head_dim;
    upscale_dit_rope_angles(freqs, c->rope_freqs, pos, theta);
    for (int i = 0; i < n_rot; i += 2) {
        cs[i] = cosf(theta[i]);
        sn[i] = sinf(theta[i]);
    }
    for (int part = 0; part < 2; part++)
        for (int h = 0; h < c->heads; h++) {
            float *x = row + part * inner + h * c->head_dim;
            for (int i = 0; i < n_rot; i += 2) {
                float x0 = x[i], x1 = x[i + 1];
                x[i] = x0 * cs[i] - x1 * sn[i];
                x[i + 1] = x1 * cs[i] + x0 * sn[i];
            }
        }
}

typedef struct rope_ctx {
    const upscale_dit *m;
    const svr_block *blk;
    const upscale_dit_window *win;
    float *qkv; /* the sample's first video row */
    int hp, wp, txt_len;
} rope_ctx;

static void rope_windows(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const rope_ctx *r = vc;
    const upscale_dit_config *c = &r->m->cfg;
    int64_t stride = 3 * (int64_t)c->heads * c->head_dim;
    for (int64_t i = begin; i < end; i++) {
        const upscale_dit_window *w = &r->win[i];
        int nt = w->t1 - w->t0, nh = w->h1 - w->h0, nw = w->w1 - w->w0;
        for (int a = 0; a < nt; a++)
            for (int b = 0; b < nh; b++)
                for (int cc = 0; cc < nw; cc++) {
                    float pos[3];
                    if (c->variant == UPSCALE_DIT_3B)
                        upscale_dit_rope_pos_mm(r->txt_len, a, b, cc, pos);
                    else
                        pos[0] = upscale_dit_rope_pos_pixel(a, nt), pos[1] = upscale_dit_rope_pos_pixel(b, nh),
                        pos[2] = upscale_dit_rope_pos_pixel(cc, nw);
                    int64_t tok = ((int64_t)(w->t0 + a) * r->hp + (w->h0 + b)) * r->wp + (w->w0 + cc);
                    rope_token(c, r->blk->freqs, r->qkv + tok * stride, pos);
                }
    }
}

static int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }

wr_status svr_dit_attention_size(const upscale_dit_sample *samples, int batch, svr_attn_scratch *sc)
{
    sc->max_rows = sc->max_txt = 0;
    sc->max_win = 1;
    for (int shifted = 0; shifted < 2; shifted++) /* count the windows of both layouts */
        for (int s = 0; s < batch; s++) {
            const upscale_dit_sample *sp = &samples[s];
            int nw = upscale_dit_windows(sp->t, sp->h / 2, sp->w / 2, num_windows, shifted, NULL, 0);
            sc->max_win = nw > sc->max_win ? nw : sc->max_win;
            sc->max_txt = max_i64(sc->max_txt, sp->txt_len);
        }
    upscale_dit_window *w = malloc((size_t)sc->max_win * sizeof *w);
    if (!w)
        return wr_fail(WR_E_OOM, "SeedVR2 DiT attention: out of memory for %d windows", sc->max_win);
    for (int shifted = 0; shifted < 2; shifted++) /* then size the largest window */
        for (int s = 0; s < batch; s++) {
            const upscale_dit_sample *sp = &samples[s];
            int nw = upscale_dit_windows(sp->t, sp->h / 2, sp->w / 2, num_windows, shifted, w, sc->max_win);
            for (int i = 0; i < nw; i++)
                sc->max_rows = max_i64(sc->max_rows, (int64_t)(w[i].t1 - w[i].t0) * (w[i].h1 - w[i].h0) *
                                                         (w[i].w1 - w[i].w0) + sp->txt_len);
        }
    free(w);
    return WR_OK;
}

void svr_dit_attention(const upscale_dit *m, const svr_block *blk, const upscale_dit_sample *samples, int batch,
                       float *qkv_vid, float *qkv_txt, upscale_dit_attn mode, const svr_attn_scratch *sc,
                       float *attn_vid, float *attn_txt)
{
    const upscale_dit_config *c = &m->cfg;
    int64_t inner = (int64_t)c->heads * c->head_dim, stride = 3 * inner, L = 0, Lt = 0;
    for (int s = 0; s < batch; s++)
        L += (int64_t)samples[s].t * (samples[s].h / 2) * (samples[s].w / 2), Lt += samples[s].txt_len;
    qk_norm(c, qkv_vid, L, 0, &blk->vid.norm_q);
    qk_norm(c, qkv_vid, L, 1, &blk->vid.norm_k);
    qk_norm(c, qkv_txt, Lt, 0, &blk->txt.norm_q);
    qk_norm(c, qkv_txt, Lt, 1, &blk->txt.norm_k);
    float *Q = sc->q, *K = sc->k, *V = sc->v, *O = sc->o;
    double *acc = sc->acc;
    upscale_dit_window *wins = sc->wins;
    int max_win = sc->max_win;
    float scale = 1.0f / sqrtf((float)c->head_dim);
    int64_t vo = 0, to = 0;
    for (int s = 0; s < batch; s++) {
        const upscale_dit_sample *sp = &samples[s];
        int hp = sp->h / 2, wp = sp->w / 2, lt = sp->txt_len;
        int64_t n = (int64_t)sp->t * hp * wp;
        float *qv = qkv_vid + vo * stride, *qt = qkv_txt + to * stride;
        int nwin = upscale_dit_windows(sp->t, hp, wp, num_windows, blk->shifted, wins, max_win);
        rope_ctx rc = {m, blk, wins, qv, hp, wp, lt};
        wr_parallel_for(nwin, 1, rope_windows, &rc);
        if (c->variant == UPSCALE_DIT_3B) /* mmrope3d also rotates the text, at (j, j, j) */
            for (int j = 0; j < lt; j++)
                rope_token(c, blk->freqs, qt + (int64_t)j * stride, (float[3]){(float)j, (float)j, (float)j});
        if (mode == UPSCALE_DIT_ATTN_BF16) {
            for (int64_t i = 0; i < n * stride; i++)
                qv[i] = round_bf16(qv[i]);
            for (int64_t i = 0; i < lt * stride; i++)
                qt[i] = round_bf16(qt[i]);
        }
        memset(acc, 0, (size_t)(lt * inner) * sizeof *acc);
        for (int wi = 0; wi < nwin; wi++) {
            const upscale_dit_window *w = &wins[wi];
            int64_t rows = 0;
            for (int a = w->t0; a < w->t1; a++) /* gather: window's video tokens, then the text */
                for (int b = w->h0; b < w->h1; b++)
                    for (int cc = w->w0; cc < w->w1; cc++, rows++) {
                        const float *src = qv + (((int64_t)a * hp + b) * wp + cc) * stride;
                        memcpy(Q + rows * inner, src, (size_t)inner * sizeof(float));
                        memcpy(K + rows * inner, src + inner, (size_t)inner * sizeof(float));
                        memcpy(V + rows * inner, src + 2 * inner, (size_t)inner * sizeof(float));
                    }
            int64_t nv = rows;
            for (int j = 0; j < lt; j++, rows++) {
                const float *src = qt + (int64_t)j * stride;
                memcpy(Q + rows * inner, src, (size_t)inner * sizeof(float));
                memcpy(K + rows * inner, src + inner, (size_t)inner * sizeof(float));
                memcpy(V + rows * inner, src + 2 * inner, (size_t)inner * sizeof(float));
            }
            wr_tensor tq, tk, tv, to_;
            int64_t ne[3] = {c->head_dim, c->heads, rows};
            WR_ASSERT(wr_tensor_init(&tq, WR_DTYPE_F32, 3, ne, Q) && wr_tensor_init(&tk, WR_DTYPE_F32, 3, ne, K) &&
                          wr_tensor_init(&tv, WR_DTYPE_F32, 3, ne, V) && wr_tensor_init(&to_, WR_DTYPE_F32, 3, ne, O),
                      "window views");
            wr_op_attention(&tq, &tk, &tv, rows, scale, &to_); /* no mask, no causality */
            if (mode == UPSCALE_DIT_ATTN_BF16)
                for (int64_t i = 0; i < rows * inner; i++)
                    O[i] = round_bf16(O[i]);
            rows = 0;
            for (int a = w->t0; a < w->t1; a++) /* scatter the video rows back */
                for (int b = w->h0; b < w->h1; b++)
                    for (int cc = w->w0; cc < w->w1; cc++, rows++)
                        memcpy(attn_vid + (vo + ((int64_t)a * hp + b) * wp + cc) * inner, O + rows * inner,
                               (size_t)inner * sizeof(float));
            for (int64_t i = 0; i < lt * inner; i++)
                acc[i] += (double)O[nv * inner + i];
        }
        for (int64_t i = 0; i < lt * inner; i++) /* text pooling: mean over the windows */
            attn_txt[to * inner + i] = (float)(acc[i] / (double)nwin);
        vo += n, to += lt;
    }
}
