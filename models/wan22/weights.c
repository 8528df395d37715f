/* The binding table of the Wan DiT (see weights.h): one row per tensor with its name pattern,
 * expected PyTorch shape in terms of the config, and whether it is used as a matrix (file
 * dtype kept) or a vector (converted to F32). */
#include "models/wan22/weights.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/quant.h"

/* Shape symbols; values below SYM_BASE are literal sizes. */
enum { SYM_BASE = 1 << 20, S_DIM, S_FFN, S_FREQ, S_TEXT, S_6DIM, S_OUT4, S_IN };

typedef enum bind_kind { MATRIX, VECTOR } bind_kind;

typedef struct binding {
    size_t offset;       /* in wan22_weights (global) or wan22_block (per block) */
    const char *pattern; /* "%d" = block index */
    bind_kind kind;
    int n_dims;
    int shape[5];
} binding;

#define G(field) offsetof(wan22_weights, field)
#define B(field) offsetof(wan22_block, field)

static const binding global_bindings[] = {
    {G(patch), "patch_embedding.weight", MATRIX, 5, {S_DIM, S_IN, 1, 2, 2}},
    {G(patch_b), "patch_embedding.bias", VECTOR, 1, {S_DIM}},
    {G(text0), "text_embedding.0.weight", MATRIX, 2, {S_DIM, S_TEXT}},
    {G(text0_b), "text_embedding.0.bias", VECTOR, 1, {S_DIM}},
    {G(text2), "text_embedding.2.weight", MATRIX, 2, {S_DIM, S_DIM}},
    {G(text2_b), "text_embedding.2.bias", VECTOR, 1, {S_DIM}},
    {G(time0), "time_embedding.0.weight", MATRIX, 2, {S_DIM, S_FREQ}},
    {G(time0_b), "time_embedding.0.bias", VECTOR, 1, {S_DIM}},
    {G(time2), "time_embedding.2.weight", MATRIX, 2, {S_DIM, S_DIM}},
    {G(time2_b), "time_embedding.2.bias", VECTOR, 1, {S_DIM}},
    {G(tproj), "time_projection.1.weight", MATRIX, 2, {S_6DIM, S_DIM}},
    {G(tproj_b), "time_projection.1.bias", VECTOR, 1, {S_6DIM}},
    {G(head_mod), "head.modulation", VECTOR, 3, {1, 2, S_DIM}},
    {G(head), "head.head.weight", MATRIX, 2, {S_OUT4, S_DIM}},
    {G(head_b), "head.head.bias", VECTOR, 1, {S_OUT4}},
};

#define ATTN_BINDINGS(which)                                                               \
    {B(which.q), "blocks.%d." #which ".q.weight", MATRIX, 2, {S_DIM, S_DIM}},              \
    {B(which.k), "blocks.%d." #which ".k.weight", MATRIX, 2, {S_DIM, S_DIM}},              \
    {B(which.v), "blocks.%d." #which ".v.weight", MATRIX, 2, {S_DIM, S_DIM}},              \
    {B(which.o), "blocks.%d." #which ".o.weight", MATRIX, 2, {S_DIM, S_DIM}},              \
    {B(which.q_b), "blocks.%d." #which ".q.bias", VECTOR, 1, {S_DIM}},                     \
    {B(which.k_b), "blocks.%d." #which ".k.bias", VECTOR, 1, {S_DIM}},                     \
    {B(which.v_b), "blocks.%d." #which ".v.bias", VECTOR, 1, {S_DIM}},                     \
    {B(which.o_b), "blocks.%d." #which ".o.bias", VECTOR, 1, {S_DIM}},                     \
    {B(which.norm_q), "blocks.%d." #which ".norm_q.weight", VECTOR, 1, {S_DIM}},           \
    {B(which.norm_k), "blocks.%d." #which ".norm_k.weight", VECTOR, 1, {S_DIM}}

static const binding block_bindings[] = {
    {B(modulation), "blocks.%d.modulation", VECTOR, 3, {1, 6, S_DIM}},
    ATTN_BINDINGS(self_attn),
    {B(norm3_w), "blocks.%d.norm3.weight", VECTOR, 1, {S_DIM}},
    {B(norm3_b), "blocks.%d.norm3.bias", VECTOR, 1, {S_DIM}},
    ATTN_BINDINGS(cross_attn),
    {B(ffn0), "blocks.%d.ffn.0.weight", MATRIX, 2, {S_FFN, S_DIM}},
    {B(ffn0_b), "blocks.%d.ffn.0.bias", VECTOR, 1, {S_FFN}},
    {B(ffn2), "blocks.%d.ffn.2.weight", MATRIX, 2, {S_DIM, S_FFN}},
    {B(ffn2_b), "blocks.%d.ffn.2.bias", VECTOR, 1, {S_DIM}},
};

static int64_t resolve(int sym, const wan22_config *c)
{
    switch (sym) {
    case S_DIM: return c->dim;
    case S_FFN: return c->ffn_dim;
    case S_FREQ: return c->freq_dim;
    case S_TEXT: return c->text_dim;
    case S_6DIM: return 6 * (int64_t)c->dim;
    case S_OUT4: return 4 * (int64_t)c->out_dim;
    case S_IN: return c->in_dim;
    default: return sym;
    }
}

wr_status wan22_weights_own(wan22_weights *w, void *p)
{
    if (w->n_owned == w->owned_cap) {
        int want = w->owned_cap ? w->owned_cap * 2 : 256;
        void **q = realloc(w->owned, (size_t)want * sizeof *q);
        if (!q) {
            free(p);
            return wr_fail(WR_E_OOM, "out of memory binding weights");
        }
        w->owned = q;
        w->owned_cap = want;
    }
    w->owned[w->n_owned++] = p;
    return WR_OK;
}

static wr_status bind_one(wan22_weights *w, const wr_weightfile *wf, const binding *b, const char *name,
                          wr_tensor *dst)
{
    const char *path = wf->map.path;
    const wr_wtensor *src = wr_weightfile_find(wf, name);
    if (!src)
        return wr_fail(WR_E_FORMAT, "%s: missing tensor '%s'", path, name);
    int64_t want[5];
    int ok = src->t.n_dims == b->n_dims;
    for (int i = 0; i < b->n_dims; i++) {
        want[i] = resolve(b->shape[i], &w->cfg);
        ok = ok && src->t.ne[b->n_dims - 1 - i] == want[i];
    }
    if (!ok) {
        char got[128], exp[128];
        size_t pos = 0;
        wr_tensor_shape_str(&src->t, got, sizeof got);
        pos += (size_t)snprintf(exp, sizeof exp, "[");
        for (int i = 0; i < b->n_dims; i++)
            pos += (size_t)snprintf(exp + pos, sizeof exp - pos, "%lld%s", (long long)want[i],
                                    i + 1 < b->n_dims ? ", " : "]");
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s' has shape %s, the model config needs %s", path, name, got,
                       exp);
    }
    wr_dequant_fn conv = wr_dequant_get(src->t.dtype);
    if (!conv)
        return wr_fail(WR_E_UNSUPPORTED, "%s: tensor '%s': dtype %s cannot be used as a weight", path, name,
                       wr_dtype_name(src->t.dtype));
    if (b->kind == MATRIX) {
        *dst = src->t;
        if (b->n_dims == 5) { /* the patch conv as a [dim, in·2·2] matrix */
            int64_t ne[2] = {src->t.ne[0] * src->t.ne[1] * src->t.ne[2] * src->t.ne[3], src->t.ne[4]};
            if (ne[0] % wr_dtype_info(src->t.dtype)->block_elems != 0)
                return wr_fail(WR_E_UNSUPPORTED, "%s: '%s' in %s cannot be viewed as a matrix", path, name,
                               wr_dtype_name(src->t.dtype));
            *dst = wr_tensor_reshape(&src->t, 2, ne);
        }
        return WR_OK;
    }
    int64_t n = wr_tensor_nelements(&src->t);
    float *f = malloc((size_t)n * sizeof *f);
    if (!f)
        return wr_fail(WR_E_OOM, "%s: out of memory for '%s'", path, name);
    WR_TRY(wan22_weights_own(w, f));
    int64_t rows = wr_tensor_nrows(&src->t);
    for (int64_t r = 0; r < rows; r++)
        conv(wr_tensor_row(&src->t, r), f + r * src->t.ne[0], src->t.ne[0]);
    for (int64_t i = 0; i < n && src->t.scale != 1.0f; i++)
        f[i] *= src->t.scale;
    int64_t ne[5];
    for (int i = 0; i < b->n_dims; i++)
        ne[i] = src->t.ne[i];
    wr_tensor_init(dst, WR_DTYPE_F32, b->n_dims, ne, f);
    return WR_OK;
}

wr_status wan22_weights_bind(wan22_weights *w, const wr_weightfile *wf, int text_len_override)
{
    memset(w, 0, sizeof *w);
    wr_status st;
    WR_TRY_GOTO(wan22_config_read(wf, text_len_override, &w->cfg));
    for (size_t i = 0; i < sizeof global_bindings / sizeof global_bindings[0]; i++) {
        const binding *b = &global_bindings[i];
        WR_TRY_GOTO(bind_one(w, wf, b, b->pattern, (wr_tensor *)((char *)w + b->offset)));
    }
    w->blocks = calloc((size_t)w->cfg.num_layers, sizeof *w->blocks);
    if (!w->blocks) {
        st = wr_fail(WR_E_OOM, "%s: out of memory for %d blocks", wf->map.path, w->cfg.num_layers);
        goto fail;
    }
    for (int l = 0; l < w->cfg.num_layers; l++)
        for (size_t i = 0; i < sizeof block_bindings / sizeof block_bindings[0]; i++) {
            const binding *b = &block_bindings[i];
            char name[128];
            snprintf(name, sizeof name, b->pattern, l);
            WR_TRY_GOTO(bind_one(w, wf, b, name, (wr_tensor *)((char *)&w->blocks[l] + b->offset)));
        }
    return WR_OK;
fail:
    wan22_weights_free(w);
    return st;
}

/* The group of a tensor pointer inside w: 1 + l within blocks[l], else 0. */
static int group_of(const wan22_weights *w, const wr_tensor *t)
{
    const char *p = (const char *)t, *lo = (const char *)w->blocks;
    if (w->blocks && p >= lo && p < lo + (size_t)w->cfg.num_layers * sizeof *w->blocks)
        return 1 + (int)((size_t)(p - lo) / sizeof *w->blocks);
    return 0;
}

wr_status wan22_weights_list(wan22_weights *w, wr_tensor ***tensors, int **groups, int *n)
{
    size_t ng = sizeof global_bindings / sizeof global_bindings[0], nb = sizeof block_bindings / sizeof block_bindings[0];
    size_t cap = ng + nb * (size_t)w->cfg.num_layers + 2 * (size_t)w->n_lora;
    wr_tensor **t = malloc(cap * sizeof *t);
    int *g = malloc(cap * sizeof *g), k = 0;
    if (!t || !g) {
        free(t), free(g);
        return wr_fail(WR_E_OOM, "out of memory listing weights");
    }
    for (size_t i = 0; i < ng; i++, k++)
        t[k] = (wr_tensor *)((char *)w + global_bindings[i].offset), g[k] = 0;
    for (int l = 0; l < w->cfg.num_layers; l++)
        for (size_t i = 0; i < nb; i++, k++)
            t[k] = (wr_tensor *)((char *)&w->blocks[l] + block_bindings[i].offset), g[k] = 1 + l;
    for (int i = 0; i < w->n_lora; i++) {
        int grp = group_of(w, w->lora[i].target);
        t[k] = &w->lora[i].down, g[k++] = grp;
        t[k] = &w->lora[i].up, g[k++] = grp;
    }
    *tensors = t, *groups = g, *n = k;
    return WR_OK;
}

static void describe_one(const binding *b, const wan22_config *c, wr_dtype matrix_dtype, wr_tensor *dst)
{
    int64_t ne[5] = {1, 1, 1, 1, 1};
    for (int i = 0; i < b->n_dims; i++)
        ne[b->n_dims - 1 - i] = resolve(b->shape[i], c);
    int nd = b->n_dims;
    wr_dtype dt = WR_DTYPE_F32;
    if (b->kind == MATRIX && nd == 5) { /* bound as [dim, in·2·2]; converters keep the conv in F32 unless 16-bit */
        ne[0] = ne[0] * ne[1] * ne[2] * ne[3], ne[1] = ne[4], nd = 2;
        dt = matrix_dtype == WR_DTYPE_BF16 || matrix_dtype == WR_DTYPE_F16 ? matrix_dtype : WR_DTYPE_F32;
    } else if (b->kind == MATRIX) {
        dt = ne[0] % wr_dtype_info(matrix_dtype)->block_elems == 0 ? matrix_dtype : WR_DTYPE_F16;
    }
    WR_ASSERT(wr_tensor_init(dst, dt, nd, ne, NULL), "describe: bad shape");
}

wr_status wan22_weights_describe(const wan22_config *cfg, wr_dtype matrix_dtype, wan22_weights *w)
{
    memset(w, 0, sizeof *w);
    w->cfg = *cfg;
    w->blocks = calloc((size_t)cfg->num_layers, sizeof *w->blocks);
    if (!w->blocks)
        return wr_fail(WR_E_OOM, "out of memory describing %d blocks", cfg->num_layers);
    for (size_t i = 0; i < sizeof global_bindings / sizeof global_bindings[0]; i++)
        describe_one(&global_bindings[i], cfg, matrix_dtype, (wr_tensor *)((char *)w + global_bindings[i].offset));
    for (int l = 0; l < cfg->num_layers; l++)
        for (size_t i = 0; i < sizeof block_bindings / sizeof block_bindings[0]; i++)
            describe_one(&block_bindings[i], cfg, matrix_dtype,
                         (wr_tensor *)((char *)&w->blocks[l] + block_bindings[i].offset));
    return WR_OK;
}

wr_tensor *wan22_weights_tensor(wan22_weights *w, const char *name, int *vector)
{
    for (size_t i = 0; i < sizeof global_bindings / sizeof global_bindings[0]; i++)
        if (strcmp(global_bindings[i].pattern, name) == 0) {
            *vector = global_bindings[i].kind == VECTOR;
            return (wr_tensor *)((char *)w + global_bindings[i].offset);
        }
    int block, used = 0;
    if (sscanf(name, "blocks.%d.%n", &block, &used) != 1 || used == 0 || block < 0 || block >= w->cfg.num_layers)
        return NULL;
    for (size_t i = 0; i < sizeof block_bindings / sizeof block_bindings[0]; i++)
        if (strcmp(block_bindings[i].pattern + strlen("blocks.%d."), name + used) == 0) {
            *vector = block_bindings[i].kind == VECTOR;
            return (wr_tensor *)((char *)&w->blocks[block] + block_bindings[i].offset);
        }
    return NULL;
}

void wan22_weights_free(wan22_weights *w)
{
    if (!w)
        return;
    wan22_weights_unplace(w);
    free(w->lora);
    for (int i = 0; i < w->n_owned; i++)
        free(w->owned[i]);
    free(w->owned);
    free(w->blocks);
    memset(w, 0, sizeof *w);
}
