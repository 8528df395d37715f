/* SeedVR2 DiT forward pass (see svr_dit.h; README 2.3 gives the exact op order). Shapes are
 * in PyTorch order ([rows, cols] = tokens x features); the video and text streams of all
 * samples are packed, and everything per sample (modulation, windows, unpatchify) walks the
 * sample offsets. Scratch is allocated once per forward (one arena cut into named buffers, plus
 * the small offset and window tables); nothing is allocated inside the block loop.
 *
 * Where things live on a GPU backend: the weights where upscale_dit_place put them (switched per
 * block by svr_dit_use); the activations in host memory, because host code works on them between
 * the ops of every block (modulation, the SwiGLU product, q/k RoPE, the window gather/scatter and
 * text pooling, bf16 rounding, patchify): each op stages its activation operands (see
 * upscale_dit_staged_bytes). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ops.h"
#include "runtime/threadpool.h"
#include "upscale/svr_dit_internal.h"
#include "upscale/svr_dit_window.h"

#define SINUS_DIM 256 /* emb_in.proj_in takes a 256-wide sinusoid (128 sin, 128 cos) */
#define MAX_TOKENS_PER_SAMPLE ((int64_t)1 << 26)

#define MLP_CHUNK 2048 /* rows per MLP pass: bounds the [rows, hidden] buffers (6912 wide on the 3B) */

typedef struct stream {
    float *x, *xn, *qkv, *attn, *tmp; /* [n, D] [n, D] [n, 3·inner] [n, inner] [n, D] */
    int64_t n;
} stream;

typedef struct fwd {
    const upscale_dit *m;
    const upscale_dit_sample *samples;
    int batch;
    stream vid, txt;
    float *mlp_h, *mlp_g; /* [MLP_CHUNK, H] each, shared by both streams */
    float *emb;      /* [B, 6D] */
    float *modv;     /* [B, 2, D]: one modulation's per-sample vectors */
    int64_t *off[2]; /* [B + 1] row offsets of the vid and txt streams */
    svr_attn_scratch attn_scratch;
    float *sinus;    /* [B, 256] */
    float *eh1, *eh2; /* [B, emb_hidden] */
    float *patches;  /* [L, 4·vid_in], then [L, 4·vid_out] output tokens */
    upscale_dit_attn mode;
    upscale_dit_trace_fn trace;
    void *trace_ctx;
} fwd;

static wr_tensor mat(float *p, int64_t rows, int64_t cols)
{
    wr_tensor t;
    WR_ASSERT(wr_tensor_init(&t, WR_DTYPE_F32, 2, (int64_t[]){cols, rows}, p), "bad matrix %lld x %lld",
              (long long)rows, (long long)cols);
    return t;
}

static void trace(const fwd *f, const char *name, const float *p, int64_t n)
{
    if (f->trace)
        f->trace(f->trace_ctx, name, p, n);
}

/* Per-sample modulation vectors, then a threaded pass over the rows (row r belongs to the
 * sample whose offset range holds it). */
typedef struct mod_ctx {
    const fwd *f;
    const int64_t *off; /* [batch + 1] row offsets of the stream */
    float *x;
    const float *y;     /* gate mode: the branch output; NULL: "in" mode */
} mod_ctx;

static void mod_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const mod_ctx *c = vc;
    const fwd *f = c->f;
    int64_t D = f->m->cfg.dim;
    int s = 0;
    for (int64_t r = begin; r < end; r++) {
        while (r >= c->off[s + 1])
            s++;
        const float *a = f->modv + (size_t)s * 2 * (size_t)D, *b = a + D;
        float *x = c->x + r * D;
        if (c->y)
            for (int64_t d = 0; d < D; d++)
                x[d] += c->y[r * D + d] * a[d];
        else
            for (int64_t d = 0; d < D; d++)
                x[d] = x[d] * a[d] + b[d];
    }
}

/* "in" modulation x·(scale_emb + scale_param) + (shift_emb + shift_param) with emb viewed as
 * [D][2][3] (no "1 +": the learned scale starts near 1), per sample. */
static void ada_in(const fwd *f, bool txt, float *x, int layer, const wr_tensor *shift_p, const wr_tensor *scale_p)
{
    int64_t D = f->m->cfg.dim;
    const float *sh = shift_p->data, *sc = scale_p->data;
    for (int s = 0; s < f->batch; s++) {
        const float *e = f->emb + (size_t)s * 6 * (size_t)D;
        float *a = f->modv + (size_t)s * 2 * (size_t)D, *b = a + D;
        for (int64_t d = 0; d < D; d++) {
            a[d] = e[d * 6 + layer * 3 + 1] + sc[d];
            b[d] = e[d * 6 + layer * 3 + 0] + sh[d];
        }
    }
    mod_ctx c = {f, f->off[txt], x, NULL};
    wr_parallel_for(f->off[txt][f->batch], 64, mod_rows, &c);
}

/* Residual x += y · (gate_emb + gate_param) per sample ("out" modulation); gate NULL: x += y. */
static void add_gated(const fwd *f, bool txt, float *x, const float *y, int layer, const wr_tensor *gate_p)
{
    int64_t D = f->m->cfg.dim;
    for (int s = 0; s < f->batch; s++) {
        const float *e = f->emb + (size_t)s * 6 * (size_t)D;
        float *a = f->modv + (size_t)s * 2 * (size_t)D;
        for (int64_t d = 0; d < D; d++)
            a[d] = gate_p ? e[d * 6 + layer * 3 + 2] + ((const float *)gate_p->data)[d] : 1.0f;
    }
    mod_ctx c = {f, f->off[txt], x, y};
    wr_parallel_for(f->off[txt][f->batch], 64, mod_rows, &c);
}

static void rms(const fwd *f, stream *st)
{
    wr_tensor x = mat(st->x, st->n, f->m->cfg.dim), xn = mat(st->xn, st->n, f->m->cfg.dim);
    wr_op_rms_norm(&x, &f->m->ones, f->m->cfg.eps, &xn);
}

/* Pre-attention half for one stream: xn = ada_in(rms(x)), qkv = xn·W_qkvᵀ. */
static void attn_in(const fwd *f, bool txt, stream *st, const svr_branch *br)
{
    if (st->n == 0)
        return;
    const upscale_dit_config *c = &f->m->cfg;
    rms(f, st);
    if (br->has_ada)
        ada_in(f, txt, st->xn, 0, &br->ada[0][ADA_SHIFT], &br->ada[0][ADA_SCALE]);
    wr_tensor xn = mat(st->xn, st->n, c->dim), qkv = mat(st->qkv, st->n, 3 * (int64_t)c->heads * c->head_dim);
    wr_op_matmul(&xn, &br->qkv, NULL, WR_ACT_NONE, &qkv);
}

static void attn_out(const fwd *f, bool txt, stream *st, const svr_branch *br)
{
    if (st->n == 0)
        return;
    const upscale_dit_config *c = &f->m->cfg;
    wr_tensor a = mat(st->attn, st->n, (int64_t)c->heads * c->head_dim), y = mat(st->tmp, st->n, c->dim);
    wr_op_matmul(&a, &br->proj_out, &br->proj_out_b, WR_ACT_NONE, &y);
    add_gated(f, txt, st->x, st->tmp, 0, br->has_ada ? &br->ada[0][ADA_GATE] : NULL);
}

/* MLP half: x += gate · MLP(ada_in(rms(x))); SwiGLU proj_out(silu(gate·x) ⊙ in·x) on the 3B,
 * proj_out(gelu_tanh(in·x + b)) + b on the 7B. */
static void mlp(const fwd *f, bool txt, stream *st, const svr_branch *br)
{
    if (st->n > 0 && !br->has_mlp) {
        /* 3B last layer: the vid-only MLP hands the text back unchanged and the residual adds
         * it again, so upstream's text leaves as 2·txt. Nothing reads it; kept so the traced
         * block output is upstream's. */
        for (int64_t i = 0; i < st->n * f->m->cfg.dim; i++)
            st->x[i] += st->x[i];
        return;
    }
    if (st->n == 0)
        return;
    const upscale_dit_config *c = &f->m->cfg;
    rms(f, st);
    ada_in(f, txt, st->xn, 1, &br->ada[1][ADA_SHIFT], &br->ada[1][ADA_SCALE]);
    for (int64_t r0 = 0; r0 < st->n; r0 += MLP_CHUNK) { /* rows are independent: chunk them */
        int64_t n = st->n - r0 < MLP_CHUNK ? st->n - r0 : MLP_CHUNK;
        wr_tensor xn = mat(st->xn + r0 * c->dim, n, c->dim), h = mat(f->mlp_h, n, c->mlp_hidden);
        wr_tensor y = mat(st->tmp + r0 * c->dim, n, c->dim);
        if (c->variant == UPSCALE_DIT_3B) {
            wr_tensor g = mat(f->mlp_g, n, c->mlp_hidden);
            wr_op_matmul(&xn, &br->mlp_gate, NULL, WR_ACT_SILU, &g);
            wr_op_matmul(&xn, &br->mlp_in, NULL, WR_ACT_NONE, &h);
            for (int64_t i = 0; i < n * c->mlp_hidden; i++)
                f->mlp_h[i] *= f->mlp_g[i];
            wr_op_matmul(&h, &br->mlp_out, NULL, WR_ACT_NONE, &y);
        } else {
            wr_op_matmul(&xn, &br->mlp_in, &br->mlp_in_b, WR_ACT_GELU_TANH, &h);
            wr_op_matmul(&h, &br->mlp_out, &br->mlp_out_b, WR_ACT_NONE, &y);
        }
    }
    add_gated(f, txt, st->x, st->tmp, 1, &br->ada[1][ADA_GATE]);
}

static void block(fwd *f, int l)
{
    const upscale_dit *m = f->m;
    const svr_block *blk = &m->blocks[l];
    attn_in(f, false, &f->vid, &blk->vid);
    attn_in(f, true, &f->txt, &blk->txt);
    svr_dit_attention(m, blk, f->samples, f->batch, f->vid.qkv, f->txt.qkv, f->mode, &f->attn_scratch, f->vid.attn,
                      f->txt.attn);
    attn_out(f, false, &f->vid, &blk->vid);
    attn_out(f, true, &f->txt, &blk->txt);
    mlp(f, false, &f->vid, &blk->vid);
    mlp(f, true, &f->txt, &blk->txt);
    char name[64];
    snprintf(name, sizeof name, "block%d.vid_out", l);
    trace(f, name, f->vid.x, f->vid.n * m->cfg.dim);
    snprintf(name, sizeof name, "block%d.txt_out", l);
    trace(f, name, f->txt.x, f->txt.n * m->cfg.dim);
}

/* Sinusoid in float32 like diffusers' get_timestep_embedding (t = 1000 reaches 1000 rad, so
 * the float32 product t·e_k matters), then proj_out(silu(proj_hid(silu(proj_in(s))))). */
static void time_embed(fwd *f)
{
    const upscale_dit *m = f->m;
    const float nlog = (float)-log(10000.0);
    for (int s = 0; s < f->batch; s++)
        for (int k = 0; k < SINUS_DIM / 2; k++) {
            float e = expf(nlog * (float)k / (float)(SINUS_DIM / 2));
            float a = f->samples[s].timestep * e;
            f->sinus[s * SINUS_DIM + k] = sinf(a);
            f->sinus[s * SINUS_DIM + SINUS_DIM / 2 + k] = cosf(a);
        }
    wr_tensor sn = mat(f->sinus, f->batch, SINUS_DIM), h1 = mat(f->eh1, f->batch, m->cfg.emb_hidden);
    wr_tensor h2 = mat(f->eh2, f->batch, m->cfg.emb_hidden), e = mat(f->emb, f->batch, 6 * (int64_t)m->cfg.dim);
    wr_op_matmul(&sn, &m->emb_in, &m->emb_in_b, WR_ACT_SILU, &h1);
    wr_op_matmul(&h1, &m->emb_hid, &m->emb_hid_b, WR_ACT_SILU, &h2);
    wr_op_matmul(&h2, &m->emb_out, &m->emb_out_b, WR_ACT_NONE, &e); /* no activation after proj_out */
}

/* (T, H, W, C) -> (T, H/2, W/2, 4·C) with feature (dh·2 + dw)·C + c, then vid_in.proj. */
/* Between the packed latent grids (channel last) and f->patches, 2x2 patches of C channels with
 * feature (dh·2 + dw)·C + c: patchify (to_grid 0) or unpatchify (1). */
static void patches_move(fwd *f, float *grid, int C, int to_grid)
{
    int64_t tok = 0, off = 0;
    for (int s = 0; s < f->batch; s++) {
        const upscale_dit_sample *sp = &f->samples[s];
        int hp = sp->h / 2, wp = sp->w / 2;
        for (int t = 0; t < sp->t; t++)
            for (int i = 0; i < hp; i++)
                for (int j = 0; j < wp; j++, tok++)
                    for (int dh = 0; dh < 2; dh++)
                        for (int dw = 0; dw < 2; dw++) {
                            float *g = grid + (off + ((int64_t)t * sp->h + 2 * i + dh) * sp->w + 2 * j + dw) * C;
                            float *p = f->patches + (tok * 4 + dh * 2 + dw) * C;
                            memcpy(to_grid ? g : p, to_grid ? p : g, (size_t)C * sizeof(float));
                        }
        off += (int64_t)sp->t * sp->h * sp->w;
    }
}

static void patch_in(fwd *f, const float *vid)
{
    const upscale_dit_config *c = &f->m->cfg;
    int C = c->vid_in;
    patches_move(f, (float *)vid, C, 0);
    wr_tensor p = mat(f->patches, f->vid.n, 4 * (int64_t)C), x = mat(f->vid.x, f->vid.n, c->dim);
    wr_op_matmul(&p, &f->m->vid_in, &f->m->vid_in_b, WR_ACT_NONE, &x);
}

/* 3B: rms(vid)·vid_out_norm, then modulation with the ATTENTION slots (l = 0) of the block
 * layout plus out_{scale,shift}: upstream's vid_out_ada reads the per-forward cache entry the
 * blocks filled, never its own [D][1][3] view. 7B: no norm. Then vid_out.proj and unpatchify
 * with feature (dh·2 + dw)·C + c. */
static void patch_out(fwd *f, float *out)
{
    const upscale_dit *m = f->m;
    const upscale_dit_config *c = &m->cfg;
    int64_t D = c->dim, C = c->vid_out;
    float *y = f->vid.x;
    if (c->variant == UPSCALE_DIT_3B) {
        wr_tensor x = mat(f->vid.x, f->vid.n, D), xn = mat(f->vid.xn, f->vid.n, D);
        wr_op_rms_norm(&x, &m->out_norm, c->eps, &xn);
        ada_in(f, false, f->vid.xn, 0, &m->out_shift, &m->out_scale);
        y = f->vid.xn;
    }
    trace(f, "vid_before_patch_out", y, f->vid.n * D); /* upstream's name: the vid_out.proj input */
    wr_tensor yt = mat(y, f->vid.n, D), o = mat(f->patches, f->vid.n, 4 * C);
    wr_op_matmul(&yt, &m->vid_out, &m->vid_out_b, WR_ACT_NONE, &o);
    patches_move(f, out, (int)C, 1);
}

static wr_status check_samples(const upscale_dit_sample *samples, int batch, int64_t *L, int64_t *Lt)
{
    if (batch < 1 || !samples)
        return wr_fail(WR_E_ARG, "SeedVR2 DiT: the batch is empty");
    *L = *Lt = 0;
    for (int s = 0; s < batch; s++) {
        const upscale_dit_sample *sp = &samples[s];
        if (sp->t < 1 || sp->h < 2 || sp->w < 2 || sp->h % 2 || sp->w % 2)
            return wr_fail(WR_E_ARG, "SeedVR2 DiT: sample %d: latent grid %dx%dx%d: frames must be >= 1, height and "
                           "width even and >= 2 (patch 1x2x2)", s, sp->t, sp->h, sp->w);
        int64_t n = (int64_t)sp->t * sp->h * sp->w;
        if (n > MAX_TOKENS_PER_SAMPLE)
            return wr_fail(WR_E_ARG, "SeedVR2 DiT: sample %d: latent grid %dx%dx%d is too large", s, sp->t, sp->h,
                           sp->w);
        static const int num[3] = SVR_DIT_NUM_WINDOWS;
        for (int shifted = 0; shifted < 2; shifted++)
            if (upscale_dit_windows(sp->t, sp->h / 2, sp->w / 2, num, shifted, NULL, 0) < 1)
                return wr_fail(WR_E_ARG, "SeedVR2 DiT: sample %d: latent grid %dx%dx%d has more windows along one "
                               "axis than the partition supports (4096)", s, sp->t, sp->h, sp->w);
        if (sp->txt_len < 1 || sp->txt_len > 65536)
            return wr_fail(WR_E_ARG, "SeedVR2 DiT: sample %d: text length %d (1..65536)", s, sp->txt_len);
        if (!(sp->timestep >= 0.0f && sp->timestep <= 1000.0f))
            return wr_fail(WR_E_ARG, "SeedVR2 DiT: sample %d: timestep %g out of range [0, 1000]", s,
                           (double)sp->timestep);
        *L += n / 4;
        *Lt += sp->txt_len;
    }
    return WR_OK;
}

/* The forward's one arena, in floats: both token streams, the embeddings, the patch buffer, one
 * MLP chunk and the attention gather buffers (sized by the largest window). */
static wr_status arena_floats(const upscale_dit *m, const upscale_dit_sample *samples, int batch, int64_t L, int64_t Lt,
                              svr_attn_scratch *as, size_t *total)
{
    const upscale_dit_config *c = &m->cfg;
    int64_t D = c->dim, inner = (int64_t)c->heads * c->head_dim, H = c->mlp_hidden, B = batch;
    int64_t pw = 4 * (c->vid_in > c->vid_out ? c->vid_in : c->vid_out);
    WR_TRY(svr_dit_attention_size(samples, batch, as));
    size_t per_row = (size_t)(3 * D + 3 * inner + inner);
    int64_t chunk = L > Lt ? L : Lt;
    chunk = chunk < MLP_CHUNK ? chunk : MLP_CHUNK;
    size_t sizes[] = {(size_t)L * per_row, (size_t)Lt * per_row, (size_t)(B * 6 * D), (size_t)(B * SINUS_DIM),
                      (size_t)(2 * B * c->emb_hidden), (size_t)(L * pw), (size_t)(2 * B * D), (size_t)(2 * chunk * H),
                      (size_t)(4 * as->max_rows * inner)};
    *total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        *total += sizes[i];
    return WR_OK;
}

wr_status upscale_dit_workspace(const upscale_dit *m, const upscale_dit_sample *samples, int batch, size_t *bytes)
{
    int64_t L = 0, Lt = 0;
    WR_TRY(check_samples(samples, batch, &L, &Lt));
    svr_attn_scratch as;
    size_t total;
    WR_TRY(arena_floats(m, samples, batch, L, Lt, &as, &total));
    int64_t inner = (int64_t)m->cfg.heads * m->cfg.head_dim;
    *bytes = total * sizeof(float) + (size_t)(2 * (batch + 1)) * sizeof(int64_t) +
             (size_t)(as.max_txt * inner) * sizeof(float) + (size_t)as.max_win * sizeof *as.wins;
    return WR_OK;
}

/* The activation operands of each op the forward issues (its weights are placed), mirroring the
 * calls above op by op; fp32. */
wr_status upscale_dit_op_sizes(const upscale_dit *m, const upscale_dit_sample *samples, int batch, upscale_dit_ops *o)
{
    int64_t L = 0, Lt = 0;
    WR_TRY(check_samples(samples, batch, &L, &Lt));
    svr_attn_scratch as;
    WR_TRY(svr_dit_attention_size(samples, batch, &as));
    const upscale_dit_config *c = &m->cfg;
    int64_t D = c->dim, I = (int64_t)c->heads * c->head_dim, H = c->mlp_hidden, B = batch;
    int64_t n = L > Lt ? L : Lt, chunk = n < MLP_CHUNK ? n : MLP_CHUNK;
    *o = (upscale_dit_ops){.window_rows = as.max_rows};
    const int64_t mm[][2] = {
        {Lt, c->txt_in}, {Lt, D},         /* txt_in */
        {L, 4 * c->vid_in}, {L, D},       /* patch_in: patches, x */
        {B, SINUS_DIM + c->emb_hidden}, {B, 2 * c->emb_hidden}, {B, c->emb_hidden + 6 * D}, /* time_embed */
        {n, 2 * D},                       /* rms: x, xn (L or Lt rows) */
        {n, D + 3 * I},                   /* proj_qkv: xn, qkv */
        {n, I},                           /* q/k norm: the q (or k) slice, packed, in place */
        {4 * as.max_rows, I},             /* window attention: q, k, v, o */
        {n, I + D},                       /* proj_out: attn, tmp */
        {chunk, D + H},                   /* MLP in/gate (xn, h) and out (h, y) */
        {L, D + 4 * c->vid_out},          /* vid_out: y, patches */
    };
    for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++) {
        size_t b = (size_t)(mm[i][0] * mm[i][1]) * sizeof(float);
        o->staged = b > o->staged ? b : o->staged;
    }
    /* the matmul inputs [rows, K] (an act-quant matmul quantises them into a workspace) */
    const int64_t in[UPSCALE_DIT_MATMUL_INPUTS][2] = {{Lt, c->txt_in}, {L, 4 * c->vid_in}, {n, D}, {n, I}, {chunk, H}};
    for (int i = 0; i < UPSCALE_DIT_MATMUL_INPUTS; i++)
        o->matmul_in[i][0] = in[i][0], o->matmul_in[i][1] = in[i][1];
    return WR_OK;
}

wr_status upscale_dit_forward(const upscale_dit *m, const upscale_dit_sample *samples, int batch, const float *vid,
                              const float *txt, upscale_dit_attn attn, float *out, upscale_dit_trace_fn trace_fn,
                              void *trace_ctx)
{
    int64_t L = 0, Lt = 0;
    WR_TRY(check_samples(samples, batch, &L, &Lt));
    if ((unsigned)attn >= UPSCALE_DIT_ATTN_COUNT)
        return wr_fail(WR_E_ARG, "SeedVR2 DiT: unknown attention precision %d", (int)attn);
    const upscale_dit_config *c = &m->cfg;
    int64_t D = c->dim, inner = (int64_t)c->heads * c->head_dim, H = c->mlp_hidden, B = batch;
    int64_t pw = 4 * (c->vid_in > c->vid_out ? c->vid_in : c->vid_out);
    svr_attn_scratch as;
    size_t total;
    WR_TRY(arena_floats(m, samples, batch, L, Lt, &as, &total));
    int64_t chunk = L > Lt ? L : Lt;
    chunk = chunk < MLP_CHUNK ? chunk : MLP_CHUNK;
    fwd f = {.m = m, .samples = samples, .batch = batch, .mode = attn, .trace = trace_fn, .trace_ctx = trace_ctx};
    wr_status st = WR_OK;
    float *arena = malloc(total * sizeof(float));
    int64_t *offs = malloc((size_t)(2 * (B + 1)) * sizeof *offs);
    as.acc = malloc((size_t)(as.max_txt * inner) * sizeof *as.acc);
    as.wins = malloc((size_t)as.max_win * sizeof *as.wins);
    if (!arena || !offs || !as.acc || !as.wins) {
        st = wr_fail(WR_E_OOM, "SeedVR2 DiT: out of memory for %zu MB of activations", total * 4 >> 20);
        goto fail;
    }
    float *p = arena;
    stream *sts[2] = {&f.vid, &f.txt};
    int64_t ns[2] = {L, Lt};
    for (int i = 0; i < 2; i++) {
        stream *sm = sts[i];
        int64_t n = ns[i];
        sm->n = n;
        sm->x = p, p += n * D;
        sm->xn = p, p += n * D;
        sm->tmp = p, p += n * D;
        sm->qkv = p, p += n * 3 * inner;
        sm->attn = p, p += n * inner;
    }
    f.emb = p, p += B * 6 * D;
    f.sinus = p, p += B * SINUS_DIM;
    f.eh1 = p, p += B * c->emb_hidden;
    f.eh2 = p, p += B * c->emb_hidden;
    f.patches = p, p += L * pw;
    f.modv = p, p += 2 * B * D;
    f.mlp_h = p, p += chunk * H;
    f.mlp_g = p, p += chunk * H;
    as.q = p, p += as.max_rows * inner;
    as.k = p, p += as.max_rows * inner;
    as.v = p, p += as.max_rows * inner;
    as.o = p, p += as.max_rows * inner;
    WR_ASSERT((size_t)(p - arena) == total, "arena layout");
    f.attn_scratch = as;
    f.off[0] = offs, f.off[1] = offs + B + 1;
    f.off[0][0] = f.off[1][0] = 0;
    for (int s = 0; s < batch; s++) {
        f.off[0][s + 1] = f.off[0][s] + (int64_t)samples[s].t * (samples[s].h / 2) * (samples[s].w / 2);
        f.off[1][s + 1] = f.off[1][s] + samples[s].txt_len;
    }
    svr_dit_use(m, 0); /* placed weights: the ops outside the blocks */
    wr_tensor tx = mat((float *)txt, Lt, c->txt_in), tt = mat(f.txt.x, Lt, D);
    wr_op_matmul(&tx, &m->txt_in, &m->txt_in_b, WR_ACT_NONE, &tt); /* txt_in: one Linear, no norm */
    trace(&f, "txt_after_txt_in", f.txt.x, Lt * D);
    patch_in(&f, vid);
    trace(&f, "vid_after_patch_in", f.vid.x, L * D);
    time_embed(&f);
    trace(&f, "time_sinusoid", f.sinus, B * SINUS_DIM);
    trace(&f, "emb", f.emb, B * 6 * D);
    for (int l = 0; l < c->num_layers; l++) {
        svr_dit_use(m, 1 + l);
        block(&f, l);
    }
    svr_dit_use(m, 0);
    patch_out(&f, out);
fail:
    free(as.wins), free(as.acc), free(offs), free(arena);
    return st;
}
