/* umT5 encoder (see t5.h). Matrices stay in their file dtype; norm weights and the relative
 * position tables are converted to F32 once at load. */
#include "models/wan22/t5.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ops.h"
#include "runtime/quant.h"

typedef struct t5_block {
    wr_tensor norm1, norm2;   /* blocks.N.norm{1,2}.weight [dim] (F32) */
    wr_tensor q, k, v, o;     /* blocks.N.attn.{q,k,v,o}.weight, no biases */
    wr_tensor gate, fc1, fc2; /* blocks.N.ffn.gate.0 / fc1 / fc2 .weight */
    float *pos;               /* blocks.N.pos_embedding.embedding.weight [num_buckets, heads] */
} t5_block;

struct wan22_t5 {
    wan22_t5_config cfg;
    const wr_wtensor *emb; /* token_embedding.weight [vocab, dim] */
    t5_block *blocks;
    wr_tensor norm;        /* norm.weight [dim] (F32) */
    void **owned;
    int n_owned;
    const wr_weightfile *wf;
};

static int64_t tdim(const wr_wtensor *w, int i) { return w->t.ne[w->t.n_dims - 1 - i]; }

/* The same tensor under the names of HF/ComfyUI (T5EncoderModel / UMT5: umt5_xxl_fp16,
 * umt5_xxl_fp8_e4m3fn_scaled) and llama.cpp/city96 GGUF files. */
static const struct { const char *official, *hf, *gguf; } block_names[] = {
    {"norm1.weight", "layer.0.layer_norm.weight", "attn_norm.weight"},
    {"attn.q.weight", "layer.0.SelfAttention.q.weight", "attn_q.weight"},
    {"attn.k.weight", "layer.0.SelfAttention.k.weight", "attn_k.weight"},
    {"attn.v.weight", "layer.0.SelfAttention.v.weight", "attn_v.weight"},
    {"attn.o.weight", "layer.0.SelfAttention.o.weight", "attn_o.weight"},
    {"pos_embedding.embedding.weight", "layer.0.SelfAttention.relative_attention_bias.weight", "attn_rel_b.weight"},
    {"norm2.weight", "layer.1.layer_norm.weight", "ffn_norm.weight"},
    {"ffn.gate.0.weight", "layer.1.DenseReluDense.wi_0.weight", "ffn_gate.weight"},
    {"ffn.fc1.weight", "layer.1.DenseReluDense.wi_1.weight", "ffn_up.weight"},
    {"ffn.fc2.weight", "layer.1.DenseReluDense.wo.weight", "ffn_down.weight"},
};
static const struct { const char *official, *alt[3]; } top_names[] = {
    {"token_embedding.weight", {"shared.weight", "encoder.embed_tokens.weight", "token_embd.weight"}},
    {"norm.weight", {"encoder.final_layer_norm.weight", "enc.output_norm.weight", NULL}},
};

static const wr_wtensor *find_any(const wr_weightfile *wf, const char *official)
{
    const wr_wtensor *w = wr_weightfile_find(wf, official);
    char alt[256];
    int block, used = 0;
    if (w)
        return w;
    if (sscanf(official, "blocks.%d.%n", &block, &used) == 1 && used > 0) {
        for (size_t i = 0; i < sizeof block_names / sizeof block_names[0]; i++)
            if (strcmp(official + used, block_names[i].official) == 0) {
                snprintf(alt, sizeof alt, "encoder.block.%d.%s", block, block_names[i].hf);
                if ((w = wr_weightfile_find(wf, alt)))
                    return w;
                snprintf(alt, sizeof alt, "enc.blk.%d.%s", block, block_names[i].gguf);
                return wr_weightfile_find(wf, alt);
            }
        return NULL;
    }
    for (size_t i = 0; i < sizeof top_names / sizeof top_names[0]; i++)
        if (strcmp(official, top_names[i].official) == 0)
            for (int k = 0; k < 3 && top_names[i].alt[k]; k++)
                if ((w = wr_weightfile_find(wf, top_names[i].alt[k])))
                    return w;
    return NULL;
}

static wr_status need(const wan22_t5 *m, const char *name, const wr_wtensor **out, int64_t d0, int64_t d1)
{
    *out = find_any(m->wf, name);
    if (!*out)
        return wr_fail(WR_E_FORMAT, "%s: missing tensor '%s' (or its HF / GGUF spelling): not a umT5 encoder?",
                       m->wf->map.path, name);
    if ((d0 && tdim(*out, 0) != d0) || (d1 && ((*out)->t.n_dims < 2 || tdim(*out, 1) != d1)))
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s' does not have the shape the config needs", m->wf->map.path, name);
    return WR_OK;
}

static wr_status f32_copy(wan22_t5 *m, const wr_wtensor *w, float **out)
{
    int64_t n = wr_tensor_nelements(&w->t), rows = wr_tensor_nrows(&w->t);
    wr_dequant_fn f = wr_dequant_get(w->t.dtype);
    float *p = malloc((size_t)n * sizeof *p);
    if (!p || !f) {
        free(p);
        return wr_fail(WR_E_UNSUPPORTED, "%s: '%s': cannot convert %s", m->wf->map.path, w->name,
                       wr_dtype_name(w->t.dtype));
    }
    void **o = realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *o);
    if (!o) {
        free(p);
        return wr_fail(WR_E_OOM, "out of memory");
    }
    m->owned = o;
    m->owned[m->n_owned++] = p;
    for (int64_t r = 0; r < rows; r++)
        f(wr_tensor_row(&w->t, r), p + r * w->t.ne[0], w->t.ne[0]);
    for (int64_t i = 0; i < n && w->t.scale != 1.0f; i++)
        p[i] *= w->t.scale;
    *out = p;
    return WR_OK;
}

static wr_status vec(wan22_t5 *m, const char *name, int64_t n, wr_tensor *out)
{
    const wr_wtensor *w;
    float *p;
    WR_TRY(need(m, name, &w, n, 0));
    WR_TRY(f32_copy(m, w, &p));
    wr_tensor_init(out, WR_DTYPE_F32, 1, (int64_t[]){n}, p);
    return WR_OK;
}

static wr_status mat(wan22_t5 *m, const char *name, int64_t rows, int64_t cols, wr_tensor *out)
{
    const wr_wtensor *w;
    WR_TRY(need(m, name, &w, rows, cols));
    *out = w->t;
    return WR_OK;
}

wr_status wan22_t5_load(wan22_t5 **out, const wr_weightfile *wf)
{
    *out = NULL;
    wan22_t5 *m = calloc(1, sizeof *m);
    if (!m)
        return wr_fail(WR_E_OOM, "out of memory");
    m->wf = wf;
    wr_status st;
    const wr_wtensor *q, *fc1, *pos;
    wan22_t5_config *c = &m->cfg;
    WR_TRY_GOTO(need(m, "token_embedding.weight", &m->emb, 0, 0));
    WR_TRY_GOTO(need(m, "blocks.0.attn.q.weight", &q, 0, 0));
    WR_TRY_GOTO(need(m, "blocks.0.ffn.fc1.weight", &fc1, 0, 0));
    WR_TRY_GOTO(need(m, "blocks.0.pos_embedding.embedding.weight", &pos, 0, 0));
    c->vocab = (int)tdim(m->emb, 0);
    c->dim = (int)tdim(m->emb, 1);
    c->dim_attn = (int)tdim(q, 0);
    c->dim_ffn = (int)tdim(fc1, 0);
    c->num_buckets = (int)tdim(pos, 0);
    c->num_heads = (int)tdim(pos, 1);
    if (c->num_heads <= 0 || c->dim_attn % c->num_heads != 0 || c->num_buckets < 2) {
        st = wr_fail(WR_E_FORMAT, "%s: inconsistent umT5 shapes (heads %d, attention dim %d)", wf->map.path,
                     c->num_heads, c->dim_attn);
        goto fail;
    }
    char name[128];
    while (c->num_layers < 1024) {
        snprintf(name, sizeof name, "blocks.%d.attn.q.weight", c->num_layers);
        if (!find_any(wf, name))
            break;
        c->num_layers++;
    }
    m->blocks = calloc((size_t)c->num_layers, sizeof *m->blocks);
    if (!m->blocks) {
        st = wr_fail(WR_E_OOM, "out of memory");
        goto fail;
    }
    for (int l = 0; l < c->num_layers; l++) {
        t5_block *b = &m->blocks[l];
#define NAME(fmt) (snprintf(name, sizeof name, fmt, l), name)
        WR_TRY_GOTO(vec(m, NAME("blocks.%d.norm1.weight"), c->dim, &b->norm1));
        WR_TRY_GOTO(vec(m, NAME("blocks.%d.norm2.weight"), c->dim, &b->norm2));
        WR_TRY_GOTO(mat(m, NAME("blocks.%d.attn.q.weight"), c->dim_attn, c->dim, &b->q));
        WR_TRY_GOTO(mat(m, NAME("blocks.%d.attn.k.weight"), c->dim_attn, c->dim, &b->k));
        WR_TRY_GOTO(mat(m, NAME("blocks.%d.attn.v.weight"), c->dim_attn, c->dim, &b->v));
        WR_TRY_GOTO(mat(m, NAME("blocks.%d.attn.o.weight"), c->dim, c->dim_attn, &b->o));
        WR_TRY_GOTO(mat(m, NAME("blocks.%d.ffn.gate.0.weight"), c->dim_ffn, c->dim, &b->gate));
        WR_TRY_GOTO(mat(m, NAME("blocks.%d.ffn.fc1.weight"), c->dim_ffn, c->dim, &b->fc1));
        WR_TRY_GOTO(mat(m, NAME("blocks.%d.ffn.fc2.weight"), c->dim, c->dim_ffn, &b->fc2));
        const wr_wtensor *pe;
        WR_TRY_GOTO(need(m, NAME("blocks.%d.pos_embedding.embedding.weight"), &pe, c->num_buckets, c->num_heads));
        WR_TRY_GOTO(f32_copy(m, pe, &b->pos));
#undef NAME
    }
    WR_TRY_GOTO(vec(m, "norm.weight", c->dim, &m->norm));
    *out = m;
    return WR_OK;
fail:
    wan22_t5_free(m);
    return st;
}

void wan22_t5_free(wan22_t5 *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->blocks);
    free(m);
}

const wan22_t5_config *wan22_t5_config_of(const wan22_t5 *m) { return &m->cfg; }

int wan22_t5_bucket(int rel, int num_buckets)
{
    int half = num_buckets / 2, bucket = rel > 0 ? half : 0;
    int n = rel < 0 ? -rel : rel, max_exact = half / 2;
    if (n < max_exact)
        return bucket + n;
    /* float32 as torch: log(n / max_exact) / log(max_dist / max_exact) · (half − max_exact) */
    float large = logf((float)n / (float)max_exact) / (float)log(128.0 / max_exact) * (float)(half - max_exact);
    int v = max_exact + (int)large;
    return bucket + (v < half - 1 ? v : half - 1);
}

static wr_tensor rows_of(float *p, int64_t rows, int64_t cols)
{
    wr_tensor t;
    wr_tensor_init(&t, WR_DTYPE_F32, 2, (int64_t[]){cols, rows}, p);
    return t;
}

wr_status wan22_t5_encode(const wan22_t5 *m, const int32_t *ids, const int32_t *mask, int len, float *hidden)
{
    const wan22_t5_config *c = &m->cfg;
    if (len < 1)
        return wr_fail(WR_E_ARG, "umT5: empty input");
    for (int i = 0; i < len; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab)
            return wr_fail(WR_E_ARG, "umT5: token id %d out of the vocabulary (%d)", ids[i], c->vocab);
    int64_t L = len, D = c->dim, A = c->dim_attn, F = c->dim_ffn, H = c->num_heads;
    size_t need_f = (size_t)(L * D + L * A * 4 + L * F * 2 + H * L * L);
    float *buf = malloc(need_f * sizeof(float));
    if (!buf)
        return wr_fail(WR_E_OOM, "umT5: out of memory for %d tokens", len);
    float *h = buf, *q = h + L * D, *k = q + L * A, *v = k + L * A, *att = v + L * A, *g = att + L * A,
          *f = g + L * F, *bias = f + L * F;
    wr_dequant_fn conv = wr_dequant_get(m->emb->t.dtype);
    for (int i = 0; i < len; i++) /* token embedding */
        conv(wr_tensor_row(&m->emb->t, ids[i]), hidden + (size_t)i * (size_t)D, D);
    wr_tensor x = rows_of(hidden, L, D), ht = rows_of(h, L, D), qt = rows_of(q, L, A), kt = rows_of(k, L, A),
              vt = rows_of(v, L, A), at = rows_of(att, L, A), gt = rows_of(g, L, F), ft = rows_of(f, L, F);
    int64_t hne[3] = {A / H, H, L}, bne[3] = {L, L, H};
    wr_tensor qh, kh, vh, ah, bt;
    wr_tensor_init(&qh, WR_DTYPE_F32, 3, hne, q);
    wr_tensor_init(&kh, WR_DTYPE_F32, 3, hne, k);
    wr_tensor_init(&vh, WR_DTYPE_F32, 3, hne, v);
    wr_tensor_init(&ah, WR_DTYPE_F32, 3, hne, att);
    wr_tensor_init(&bt, WR_DTYPE_F32, 3, bne, bias);
    for (int l = 0; l < c->num_layers; l++) {
        const t5_block *b = &m->blocks[l];
        for (int64_t hd = 0; hd < H; hd++) /* bias[h, i, j] = table[bucket(j − i), h] */
            for (int64_t i = 0; i < L; i++)
                for (int64_t j = 0; j < L; j++)
                    bias[(hd * L + i) * L + j] = b->pos[wan22_t5_bucket((int)(j - i), c->num_buckets) * H + hd];
        wr_op_rms_norm(&x, &b->norm1, 1e-6f, &ht);                    /* [L, dim] */
        wr_op_matmul(&ht, &b->q, NULL, WR_ACT_NONE, &qt);             /* [L, dim_attn] */
        wr_op_matmul(&ht, &b->k, NULL, WR_ACT_NONE, &kt);
        wr_op_matmul(&ht, &b->v, NULL, WR_ACT_NONE, &vt);
        wr_op_attention_bias(&qh, &kh, &vh, &bt, mask, 1.0f, &ah);    /* no 1/√d in T5 */
        wr_op_matmul(&at, &b->o, NULL, WR_ACT_NONE, &ht);             /* [L, dim] */
        wr_op_add_gated(&x, &ht, NULL);                               /* x += attn */
        wr_op_rms_norm(&x, &b->norm2, 1e-6f, &ht);
        wr_op_matmul(&ht, &b->gate, NULL, WR_ACT_GELU_TANH, &gt);     /* gelu(gate(h)) [L, ffn] */
        wr_op_matmul(&ht, &b->fc1, NULL, WR_ACT_NONE, &ft);           /* fc1(h) */
        for (int64_t i = 0; i < L * F; i++)
            f[i] *= g[i];
        wr_op_matmul(&ft, &b->fc2, NULL, WR_ACT_NONE, &ht);           /* [L, dim] */
        wr_op_add_gated(&x, &ht, NULL);                               /* x += ffn */
    }
    wr_op_rms_norm(&x, &m->norm, 1e-6f, &x);
    free(buf);
    return WR_OK;
}
