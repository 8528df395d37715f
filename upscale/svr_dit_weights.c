/* SeedVR2 DiT config detection and weight binding (see svr_dit.h). The variant comes from the
 * keys (SwiGLU "proj_in_gate" = 3B dit_v2, biased GELU MLP = 7B dit) and every size from the
 * shapes, then every tensor is checked against the config so a mixed or truncated checkpoint
 * is named, not run. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/quant.h"
#include "upscale/svr_dit_internal.h"
#include "upscale/svr_dit_rope.h"

#define MAX_NAME 160

static const char *const variant_names[UPSCALE_DIT_VARIANT_COUNT] = {"SeedVR2 3B (dit_v2)", "SeedVR2 7B (dit)"};
_Static_assert(sizeof variant_names / sizeof variant_names[0] == UPSCALE_DIT_VARIANT_COUNT, "one name per variant");

const char *upscale_dit_variant_name(upscale_dit_variant v)
{
    return (unsigned)v < UPSCALE_DIT_VARIANT_COUNT ? variant_names[v] : "?";
}

const upscale_dit_config *upscale_dit_config_get(const upscale_dit *m) { return &m->cfg; }

static wr_status own(upscale_dit *m, void *p)
{
    if (!p)
        return wr_fail(WR_E_OOM, "%s: out of memory binding the SeedVR2 DiT", m->wf->map.path);
    if (m->n_owned == m->owned_cap) {
        int want = m->owned_cap ? 2 * m->owned_cap : 256;
        void **q = realloc(m->owned, (size_t)want * sizeof *q);
        if (!q) {
            free(p);
            return wr_fail(WR_E_OOM, "%s: out of memory binding the SeedVR2 DiT", m->wf->map.path);
        }
        m->owned = q, m->owned_cap = want;
    }
    m->owned[m->n_owned++] = p;
    return WR_OK;
}

static const wr_wtensor *find(const upscale_dit *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const wr_wtensor *find(const upscale_dit *m, const char *fmt, ...)
{
    char name[MAX_NAME];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return wr_weightfile_find(m->wf, name);
}

/* A described model (no file): the shape with NULL data; vectors F32, matrices in the described
 * dtype where their rows hold whole blocks of it, else F16 (as converters keep odd widths). */
static wr_status describe_tensor(const upscale_dit *m, int64_t d0, int64_t d1, bool vector, wr_tensor *dst)
{
    wr_dtype dt = vector ? WR_DTYPE_F32 : m->described;
    if (!vector && d1 % wr_dtype_info(dt)->block_elems != 0)
        dt = WR_DTYPE_F16;
    int64_t ne[2] = {d1 < 0 ? d0 : d1, d0};
    WR_ASSERT(wr_tensor_init(dst, dt, d1 < 0 ? 1 : 2, ne, NULL), "describe: bad shape");
    return WR_OK;
}

/* Binds `name` with the PyTorch shape (d0[, d1]) (d1 < 0: 1-D). Vectors become F32 copies. */
static wr_status bind(upscale_dit *m, const char *name, int64_t d0, int64_t d1, bool vector, wr_tensor *dst)
{
    if (!m->wf)
        return describe_tensor(m, d0, d1, vector, dst);
    const char *path = m->wf->map.path;
    const wr_wtensor *src = wr_weightfile_find(m->wf, name);
    if (!src)
        return wr_fail(WR_E_FORMAT, "%s: missing tensor '%s' (a %s checkpoint needs it)", path, name,
                       upscale_dit_variant_name(m->cfg.variant));
    int nd = d1 < 0 ? 1 : 2;
    bool ok = src->t.n_dims == nd && (nd == 1 ? src->t.ne[0] == d0 : src->t.ne[1] == d0 && src->t.ne[0] == d1);
    if (!ok) {
        char got[96];
        wr_tensor_shape_str(&src->t, got, sizeof got);
        if (nd == 1)
            return wr_fail(WR_E_FORMAT, "%s: tensor '%s' has shape %s, the %s config needs [%lld]", path, name, got,
                           upscale_dit_variant_name(m->cfg.variant), (long long)d0);
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s' has shape %s, the %s config needs [%lld, %lld]", path, name, got,
                       upscale_dit_variant_name(m->cfg.variant), (long long)d0, (long long)d1);
    }
    wr_dequant_fn conv = wr_dequant_get(src->t.dtype);
    if (!conv)
        return wr_fail(WR_E_UNSUPPORTED, "%s: tensor '%s': dtype %s cannot be used as a weight", path, name,
                       wr_dtype_name(src->t.dtype));
    if (!vector) {
        if (!wr_tensor_is_contiguous(&src->t))
            return wr_fail(WR_E_FORMAT, "%s: tensor '%s' is not contiguous", path, name);
        *dst = src->t;
        return WR_OK;
    }
    int64_t n = wr_tensor_nelements(&src->t);
    float *f = malloc((size_t)n * sizeof *f);
    WR_TRY(own(m, f));
    conv(src->t.data, f, n);
    for (int64_t i = 0; i < n && src->t.scale != 1.0f; i++)
        f[i] *= src->t.scale;
    wr_tensor_init(dst, WR_DTYPE_F32, 1, (int64_t[]){n}, f);
    return WR_OK;
}

static wr_status bindf(upscale_dit *m, int64_t d0, int64_t d1, bool vector, wr_tensor *dst, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static wr_status bindf(upscale_dit *m, int64_t d0, int64_t d1, bool vector, wr_tensor *dst, const char *fmt, ...)
{
    char name[MAX_NAME];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return bind(m, name, d0, d1, vector, dst);
}

static int64_t rows_of(const wr_wtensor *t) { return t->t.n_dims == 2 ? t->t.ne[1] : -1; }

/* Reads the config from keys and shapes (seedvr2.md 4.9 and 5 list them). */
static wr_status detect(upscale_dit *m)
{
    const char *path = m->wf->map.path;
    upscale_dit_config *c = &m->cfg;
    const wr_wtensor *vin = find(m, "vid_in.proj.weight"), *qkv0 = find(m, "blocks.0.attn.proj_qkv.vid.weight");
    const wr_wtensor *nq0 = find(m, "blocks.0.attn.norm_q.vid.weight");
    if (!qkv0) { /* a model whose layer 0 is already shared */
        qkv0 = find(m, "blocks.0.attn.proj_qkv.all.weight");
        nq0 = find(m, "blocks.0.attn.norm_q.all.weight");
    }
    if (!vin || !qkv0 || !nq0)
        return wr_fail(WR_E_FORMAT, "%s: not a SeedVR2 DiT checkpoint: missing '%s'", path,
                       !vin ? "vid_in.proj.weight" : !qkv0 ? "blocks.0.attn.proj_qkv.vid.weight" : "blocks.0.attn.norm_q.vid.weight");
    if (vin->t.n_dims != 2 || vin->t.ne[0] % 4 != 0 || nq0->t.n_dims != 1 || qkv0->t.n_dims != 2)
        return wr_fail(WR_E_FORMAT, "%s: 'vid_in.proj.weight' must be [dim, 4·channels] (patch 1x2x2) and the "
                       "q/k norms 1-D", path);
    c->dim = (int)vin->t.ne[1];
    c->vid_in = (int)(vin->t.ne[0] / 4);
    c->head_dim = (int)nq0->t.ne[0];
    int64_t q3 = rows_of(qkv0);
    if (c->head_dim <= 0 || q3 % (3 * (int64_t)c->head_dim) != 0)
        return wr_fail(WR_E_FORMAT, "%s: 'blocks.0.attn.proj_qkv' has %lld rows, not 3 x heads x head_dim (%d)", path,
                       (long long)q3, c->head_dim);
    c->heads = (int)(q3 / (3 * c->head_dim));
    c->eps = 1e-5f;
    const char *b0 = find(m, "blocks.0.attn.proj_qkv.vid.weight") ? "vid" : "all";
    bool gate = find(m, "blocks.0.mlp.%s.proj_in_gate.weight", b0) != NULL;
    bool mlp_bias = find(m, "blocks.0.mlp.%s.proj_in.bias", b0) != NULL;
    bool out_norm = find(m, "vid_out_norm.weight") != NULL;
    if (gate == mlp_bias)
        return wr_fail(WR_E_FORMAT, "%s: blocks.0.mlp.%s has %s: neither the 3B SwiGLU (proj_in_gate, no biases) "
                       "nor the 7B GELU MLP (proj_in with bias)", path, b0, gate ? "both a gate and biases" : "neither a gate nor biases");
    c->variant = gate ? UPSCALE_DIT_3B : UPSCALE_DIT_7B;
    if (gate != out_norm)
        return wr_fail(WR_E_FORMAT, "%s: mixed 3B/7B checkpoint: the MLP is %s but 'vid_out_norm.weight' is %s", path,
                       gate ? "the 3B SwiGLU" : "the 7B GELU", out_norm ? "present (3B only)" : "missing (the 3B needs it)");
    const wr_wtensor *mi = find(m, "blocks.0.mlp.%s.proj_in.weight", b0);
    const wr_wtensor *ti = find(m, "txt_in.weight"), *ei = find(m, "emb_in.proj_in.weight");
    const wr_wtensor *vo = find(m, "vid_out.proj.weight");
    if (!mi || !ti || !ei || !vo || rows_of(mi) < 1 || rows_of(vo) < 4 || rows_of(vo) % 4 || rows_of(ei) < 1)
        return wr_fail(WR_E_FORMAT, "%s: missing or malformed '%s'", path,
                       !mi || rows_of(mi) < 1 ? "blocks.0.mlp proj_in.weight"
                       : !ti ? "txt_in.weight" : !ei || rows_of(ei) < 1 ? "emb_in.proj_in.weight" : "vid_out.proj.weight");
    c->mlp_hidden = (int)rows_of(mi);
    c->txt_in = (int)ti->t.ne[0];
    c->emb_hidden = (int)rows_of(ei);
    c->vid_out = (int)(rows_of(vo) / 4);
    for (c->num_layers = 0;; c->num_layers++)
        if (!find(m, "blocks.%d.attn.proj_qkv.vid.weight", c->num_layers) &&
            !find(m, "blocks.%d.attn.proj_qkv.all.weight", c->num_layers))
            break;
    for (c->mm_layers = 0; c->mm_layers < c->num_layers; c->mm_layers++)
        if (!find(m, "blocks.%d.attn.proj_qkv.vid.weight", c->mm_layers))
            break;
    for (int l = c->mm_layers; l < c->num_layers; l++)
        if (find(m, "blocks.%d.attn.proj_qkv.vid.weight", l))
            return wr_fail(WR_E_FORMAT, "%s: layer %d has separate vid/txt weights after shared layer %d", path, l,
                           c->mm_layers);
    if (c->variant == UPSCALE_DIT_7B && c->mm_layers != c->num_layers)
        return wr_fail(WR_E_FORMAT, "%s: mixed 3B/7B checkpoint: 7B-style MLP but layers %d.. share '.all' weights",
                       path, c->mm_layers);
    const wr_wtensor *fr = find(m, "blocks.0.attn.rope.rope.freqs");
    float tmp[256];
    c->rope_freqs = fr ? (int)wr_tensor_nelements(&fr->t)
                       : upscale_dit_rope_default_freqs(c->variant == UPSCALE_DIT_3B, c->head_dim, tmp, 256);
    if (c->rope_freqs < 1 || 6 * c->rope_freqs > c->head_dim)
        return wr_fail(WR_E_FORMAT, "%s: %d rope frequencies per axis do not fit head_dim %d (3 axes x 2 x freqs)", path,
                       c->rope_freqs, c->head_dim);
    if (c->num_layers < 1 || c->dim < 1 || c->vid_in < 1 || c->txt_in < 1)
        return wr_fail(WR_E_FORMAT, "%s: empty SeedVR2 DiT config", path);
    return WR_OK;
}

static wr_status bind_branch(upscale_dit *m, int l, const char *b, bool txt_of_last, svr_branch *br)
{
    const upscale_dit_config *c = &m->cfg;
    int64_t D = c->dim, inner = (int64_t)c->heads * c->head_dim, H = c->mlp_hidden;
    WR_TRY(bindf(m, 3 * inner, D, false, &br->qkv, "blocks.%d.attn.proj_qkv.%s.weight", l, b));
    WR_TRY(bindf(m, D, inner, false, &br->proj_out, "blocks.%d.attn.proj_out.%s.weight", l, b));
    WR_TRY(bindf(m, D, -1, true, &br->proj_out_b, "blocks.%d.attn.proj_out.%s.bias", l, b));
    WR_TRY(bindf(m, c->head_dim, -1, true, &br->norm_q, "blocks.%d.attn.norm_q.%s.weight", l, b));
    WR_TRY(bindf(m, c->head_dim, -1, true, &br->norm_k, "blocks.%d.attn.norm_k.%s.weight", l, b));
    /* the 3B's last layer has vid-only ada and MLP modules: its text is neither modulated nor
     * sent through an MLP (with shared ".all" weights the tensors exist but are not used) */
    br->has_ada = br->has_mlp = !txt_of_last;
    if (txt_of_last)
        return WR_OK;
    static const char *const lname[ADA_LAYERS] = {"attn", "mlp"}, *const kname[ADA_KINDS] = {"shift", "scale", "gate"};
    for (int i = 0; i < ADA_LAYERS; i++)
        for (int k = 0; k < ADA_KINDS; k++)
            WR_TRY(bindf(m, D, -1, true, &br->ada[i][k], "blocks.%d.ada.%s.%s_%s", l, b, lname[i], kname[k]));
    WR_TRY(bindf(m, H, D, false, &br->mlp_in, "blocks.%d.mlp.%s.proj_in.weight", l, b));
    WR_TRY(bindf(m, D, H, false, &br->mlp_out, "blocks.%d.mlp.%s.proj_out.weight", l, b));
    if (c->variant == UPSCALE_DIT_3B)
        return bindf(m, H, D, false, &br->mlp_gate, "blocks.%d.mlp.%s.proj_in_gate.weight", l, b);
    WR_TRY(bindf(m, H, -1, true, &br->mlp_in_b, "blocks.%d.mlp.%s.proj_in.bias", l, b));
    return bindf(m, D, -1, true, &br->mlp_out_b, "blocks.%d.mlp.%s.proj_out.bias", l, b);
}

void svr_dit_share_txt(svr_block *b)
{
    bool ada = b->txt.has_ada, mlp = b->txt.has_mlp;
    b->txt = b->vid;
    b->txt.has_ada = ada, b->txt.has_mlp = mlp;
}

static wr_status bind_block(upscale_dit *m, int l, svr_block *blk)
{
    const upscale_dit_config *c = &m->cfg;
    bool last3b = c->variant == UPSCALE_DIT_3B && l == c->num_layers - 1;
    blk->shared = l >= c->mm_layers;
    WR_TRY(bind_branch(m, l, blk->shared ? "all" : "vid", false, &blk->vid));
    if (blk->shared) { /* the same ".all" tensors: bound (and later placed) once */
        blk->txt.has_ada = blk->txt.has_mlp = !last3b;
        svr_dit_share_txt(blk);
    } else {
        WR_TRY(bind_branch(m, l, "txt", last3b, &blk->txt));
    }
    blk->shifted = l % 2 == 1;
    if (!m->wf)
        return WR_OK; /* described: no frequencies (host data, not placed) */
    char name[MAX_NAME];
    snprintf(name, sizeof name, "blocks.%d.attn.rope.rope.freqs", l);
    if (wr_weightfile_find(m->wf, name)) {
        wr_tensor t;
        WR_TRY(bind(m, name, c->rope_freqs, -1, true, &t));
        blk->freqs = t.data;
        return WR_OK;
    }
    blk->freqs = malloc((size_t)c->rope_freqs * sizeof(float));
    WR_TRY(own(m, blk->freqs));
    upscale_dit_rope_default_freqs(c->variant == UPSCALE_DIT_3B, c->head_dim, blk->freqs, c->rope_freqs);
    return WR_OK;
}

/* Every tensor of the config in m->cfg, from m->wf (or described when there is none). */
static wr_status bind_model(upscale_dit *m)
{
    const upscale_dit_config *c = &m->cfg;
    int64_t D = c->dim;
    WR_TRY(bind(m, "vid_in.proj.weight", D, 4 * (int64_t)c->vid_in, false, &m->vid_in));
    WR_TRY(bind(m, "vid_in.proj.bias", D, -1, true, &m->vid_in_b));
    WR_TRY(bind(m, "txt_in.weight", D, c->txt_in, false, &m->txt_in));
    WR_TRY(bind(m, "txt_in.bias", D, -1, true, &m->txt_in_b));
    WR_TRY(bind(m, "emb_in.proj_in.weight", c->emb_hidden, 256, false, &m->emb_in));
    WR_TRY(bind(m, "emb_in.proj_in.bias", c->emb_hidden, -1, true, &m->emb_in_b));
    WR_TRY(bind(m, "emb_in.proj_hid.weight", c->emb_hidden, c->emb_hidden, false, &m->emb_hid));
    WR_TRY(bind(m, "emb_in.proj_hid.bias", c->emb_hidden, -1, true, &m->emb_hid_b));
    WR_TRY(bind(m, "emb_in.proj_out.weight", 6 * D, c->emb_hidden, false, &m->emb_out));
    WR_TRY(bind(m, "emb_in.proj_out.bias", 6 * D, -1, true, &m->emb_out_b));
    WR_TRY(bind(m, "vid_out.proj.weight", 4 * (int64_t)c->vid_out, D, false, &m->vid_out));
    WR_TRY(bind(m, "vid_out.proj.bias", 4 * (int64_t)c->vid_out, -1, true, &m->vid_out_b));
    if (c->variant == UPSCALE_DIT_3B) {
        WR_TRY(bind(m, "vid_out_norm.weight", D, -1, true, &m->out_norm));
        WR_TRY(bind(m, "vid_out_ada.out_shift", D, -1, true, &m->out_shift));
        WR_TRY(bind(m, "vid_out_ada.out_scale", D, -1, true, &m->out_scale));
    }
    float *ones = NULL;
    if (m->wf) {
        ones = malloc((size_t)D * sizeof *ones);
        WR_TRY(own(m, ones));
        for (int64_t i = 0; i < D; i++)
            ones[i] = 1.0f;
    }
    wr_tensor_init(&m->ones, WR_DTYPE_F32, 1, (int64_t[]){D}, ones);
    m->blocks = calloc((size_t)c->num_layers, sizeof *m->blocks);
    if (!m->blocks)
        return wr_fail(WR_E_OOM, "out of memory for %d SeedVR2 DiT blocks", c->num_layers);
    for (int l = 0; l < c->num_layers; l++)
        WR_TRY(bind_block(m, l, &m->blocks[l]));
    return WR_OK;
}

wr_status upscale_dit_load(upscale_dit **out, const wr_weightfile *wf)
{
    *out = NULL;
    upscale_dit *m = calloc(1, sizeof *m);
    if (!m)
        return wr_fail(WR_E_OOM, "%s: out of memory", wf->map.path);
    m->wf = wf;
    wr_status st = detect(m);
    if (st == WR_OK)
        st = bind_model(m);
    if (st != WR_OK) {
        upscale_dit_free(m);
        return st;
    }
    *out = m;
    return WR_OK;
}

wr_status upscale_dit_describe(const upscale_dit_config *cfg, wr_dtype matrix_dtype, upscale_dit **out)
{
    *out = NULL;
    if ((unsigned)cfg->variant >= UPSCALE_DIT_VARIANT_COUNT || cfg->num_layers < 1 || cfg->dim < 1 ||
        cfg->mm_layers < 0 || cfg->mm_layers > cfg->num_layers || !wr_dtype_info(matrix_dtype)->block_elems)
        return wr_fail(WR_E_ARG, "describe: not a SeedVR2 DiT config (%d layers of width %d)", cfg->num_layers,
                       cfg->dim);
    upscale_dit *m = calloc(1, sizeof *m);
    if (!m)
        return wr_fail(WR_E_OOM, "describe: out of memory");
    m->cfg = *cfg;
    m->described = matrix_dtype;
    wr_status st = bind_model(m);
    if (st != WR_OK) {
        upscale_dit_free(m);
        return st;
    }
    *out = m;
    return WR_OK;
}

upscale_dit_config upscale_dit_config_released(upscale_dit_variant v)
{
    if (v == UPSCALE_DIT_7B) /* seedvr2.md 5 */
        return (upscale_dit_config){.variant = v, .dim = 3072, .heads = 24, .head_dim = 128, .num_layers = 36,
                                    .mm_layers = 36, .vid_in = 33, .vid_out = 16, .txt_in = 5120, .emb_hidden = 3072,
                                    .mlp_hidden = 12288, .rope_freqs = 10, .eps = 1e-5f};
    return (upscale_dit_config){.variant = UPSCALE_DIT_3B, .dim = 2560, .heads = 20, .head_dim = 128, /* 4.9 */
                                .num_layers = 32, .mm_layers = 10, .vid_in = 33, .vid_out = 16, .txt_in = 5120,
                                .emb_hidden = 2560, .mlp_hidden = 6912, .rope_freqs = 21, .eps = 1e-5f};
}

void upscale_dit_free(upscale_dit *m)
{
    if (!m)
        return;
    upscale_dit_unplace(m);
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->blocks);
    free(m);
}
