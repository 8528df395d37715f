/* LoRA loading (see lora.h): key normalisation, pairing down/up/alpha, side paths and deltas. */
#include "models/wan22/lora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/quant.h"

static const char *const prefixes[] = {"model.diffusion_model.", "diffusion_model.", "base_model.model.",
                                       "transformer.", "lora_unet_"};

/* Wan module paths that kohya writes with underscores. */
static const char *const modules[] = {
    "self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "self_attn.norm_q", "self_attn.norm_k",
    "cross_attn.q", "cross_attn.k", "cross_attn.v", "cross_attn.o", "cross_attn.norm_q", "cross_attn.norm_k",
    "ffn.0", "ffn.2", "norm3", "modulation",
};

typedef enum part { P_DOWN, P_UP, P_ALPHA, P_DIFF, P_DIFF_B, P_DIFF_M, P_NONE } part;

static const struct { const char *suffix; part p; } suffixes[] = {
    {".lora_down.weight", P_DOWN}, {".lora_up.weight", P_UP}, {".lora_A.weight", P_DOWN},
    {".lora_B.weight", P_UP},      {".lora_A.default.weight", P_DOWN}, {".lora_B.default.weight", P_UP},
    {".alpha", P_ALPHA},           {".diff_b", P_DIFF_B},  {".diff_m", P_DIFF_M}, {".diff", P_DIFF},
};

/* Splits a key into the official module path (e.g. "blocks.0.self_attn.q") and its part. */
static part parse_key(const char *key, char *module, size_t len)
{
    const char *k = key;
    int kohya = 0;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(k, prefixes[i], n) == 0) {
            kohya = strcmp(prefixes[i], "lora_unet_") == 0;
            k += n;
        }
    }
    size_t kl = strlen(k);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t sl = strlen(suffixes[i].suffix);
        if (kl > sl && strcmp(k + kl - sl, suffixes[i].suffix) == 0) {
            size_t ml = kl - sl;
            if (ml >= len)
                return P_NONE;
            memcpy(module, k, ml);
            module[ml] = '\0';
            if (kohya) { /* blocks_0_self_attn_q -> blocks.0.self_attn.q */
                int block, used = 0;
                if (sscanf(module, "blocks_%d_%n", &block, &used) != 1 || !used)
                    return P_NONE;
                char rest[256];
                snprintf(rest, sizeof rest, "%s", module + used);
                const char *found = NULL;
                for (size_t m = 0; m < sizeof modules / sizeof modules[0]; m++) {
                    char under[64];
                    snprintf(under, sizeof under, "%s", modules[m]);
                    for (char *c = under; *c; c++)
                        if (*c == '.')
                            *c = '_';
                    if (strcmp(under, rest) == 0)
                        found = modules[m];
                }
                if (!found)
                    return P_NONE;
                snprintf(module, len, "blocks.%d.%s", block, found);
            }
            return suffixes[i].p;
        }
    }
    return P_NONE;
}

static float *to_f32(const wr_wtensor *t, int64_t *n)
{
    *n = wr_tensor_nelements(&t->t);
    wr_dequant_fn f = wr_dequant_get(t->t.dtype);
    float *p = malloc((size_t)(*n ? *n : 1) * sizeof *p);
    if (!p || !f) {
        free(p);
        return NULL;
    }
    for (int64_t r = 0; r < wr_tensor_nrows(&t->t); r++)
        f(wr_tensor_row(&t->t, r), p + r * t->t.ne[0], t->t.ne[0]);
    for (int64_t i = 0; i < *n && t->t.scale != 1.0f; i++)
        p[i] *= t->t.scale;
    return p;
}

static void note_unmatched(wan22_lora_report *r, const char *key)
{
    if (r->unmatched++ < 3) {
        size_t used = strlen(r->first_unmatched);
        snprintf(r->first_unmatched + used, sizeof r->first_unmatched - used, "%s%s", used ? ", " : "", key);
    }
}

static wr_status add_term(wan22_weights *w, const wr_tensor *target, float *down, float *up, int64_t rank)
{
    if (w->n_lora == w->lora_cap) {
        int want = w->lora_cap ? w->lora_cap * 2 : 64;
        wan22_lora_term *p = realloc(w->lora, (size_t)want * sizeof *p);
        if (!p)
            return wr_fail(WR_E_OOM, "LoRA: out of memory");
        w->lora = p;
        w->lora_cap = want;
    }
    wan22_lora_term *t = &w->lora[w->n_lora++];
    t->target = target;
    int64_t in = target->ne[0], out = wr_tensor_nrows(target);
    wr_tensor_init(&t->down, WR_DTYPE_F32, 2, (int64_t[]){in, rank}, down);
    wr_tensor_init(&t->up, WR_DTYPE_F32, 2, (int64_t[]){rank, out}, up);
    return WR_OK;
}

/* Adds strength·delta to the tensor: in place for owned F32 vectors, into a new F32 copy for
 * a matrix in file dtype. */
static wr_status add_delta(wan22_weights *w, wr_tensor *dst, int vector, const float *delta, int64_t n, float strength,
                           const char *what)
{
    if (n != wr_tensor_nelements(dst))
        return wr_fail(WR_E_FORMAT, "LoRA delta for %s has %lld values, the weight %lld", what, (long long)n,
                       (long long)wr_tensor_nelements(dst));
    float *v = dst->data;
    if (!vector) {
        float *copy = malloc((size_t)n * sizeof *copy);
        if (!copy)
            return wr_fail(WR_E_OOM, "LoRA: out of memory for %s", what);
        WR_TRY(wan22_weights_own(w, copy));
        wr_dequant_fn f = wr_dequant_get(dst->dtype);
        for (int64_t r = 0; r < wr_tensor_nrows(dst); r++)
            f(wr_tensor_row(dst, r), copy + r * dst->ne[0], dst->ne[0]);
        for (int64_t i = 0; i < n && dst->scale != 1.0f; i++)
            copy[i] *= dst->scale;
        wr_tensor t;
        wr_tensor_init(&t, WR_DTYPE_F32, dst->n_dims, dst->ne, copy);
        *dst = t;
        v = copy;
    }
    for (int64_t i = 0; i < n; i++)
        v[i] += strength * delta[i];
    return WR_OK;
}

wr_status wan22_lora_apply(wan22_weights *w, const wr_weightfile *lf, float strength, wan22_lora_report *rep)
{
    memset(rep, 0, sizeof *rep);
    const char *path = lf->map.path;
    for (int64_t i = 0; i < lf->n_tensors; i++) {
        char module[256], name[300];
        const char *key = lf->tensors[i].name;
        part p = parse_key(key, module, sizeof module);
        if (p == P_UP || p == P_ALPHA || p == P_NONE) {
            if (p == P_NONE)
                note_unmatched(rep, key);
            continue; /* handled with their down matrix */
        }
        int vector = 0;
        snprintf(name, sizeof name, p == P_DIFF_B ? "%s.bias" : p == P_DIFF_M ? "%s.modulation" : "%s.weight", module);
        if (p == P_DIFF_M) /* Kijai writes blocks.N.diff_m for blocks.N.modulation */
            snprintf(name, sizeof name, "%s.modulation", module);
        wr_tensor *target = wan22_weights_tensor(w, name, &vector);
        if (!target && p == P_DIFF) { /* norm weights named as the module itself */
            snprintf(name, sizeof name, "%s", module);
            target = wan22_weights_tensor(w, name, &vector);
        }
        if (!target) {
            note_unmatched(rep, key);
            continue;
        }
        int64_t n;
        float *delta = to_f32(&lf->tensors[i], &n);
        if (!delta)
            return wr_fail(WR_E_UNSUPPORTED, "%s: '%s': cannot read dtype %s", path, key, wr_dtype_name(lf->tensors[i].t.dtype));
        wr_status st = WR_OK;
        if (p != P_DOWN) {
            st = add_delta(w, target, vector, delta, n, strength, name);
            free(delta);
            WR_TRY(st);
            rep->applied++;
            continue;
        }
        /* a down matrix: find its up and alpha */
        const wr_wtensor *up = NULL, *alpha = NULL;
        for (int64_t j = 0; j < lf->n_tensors; j++) {
            char m2[256];
            part q = parse_key(lf->tensors[j].name, m2, sizeof m2);
            if (strcmp(m2, module) != 0)
                continue;
            if (q == P_UP)
                up = &lf->tensors[j];
            else if (q == P_ALPHA)
                alpha = &lf->tensors[j];
        }
        const wr_wtensor *dn = &lf->tensors[i];
        int64_t rank = dn->t.n_dims == 2 ? dn->t.ne[1] : 0;
        if (!up || vector || dn->t.n_dims != 2 || dn->t.ne[0] != target->ne[0] || up->t.n_dims != 2 ||
            up->t.ne[0] != rank || up->t.ne[1] != wr_tensor_nrows(target)) {
            free(delta);
            return wr_fail(WR_E_FORMAT, "%s: LoRA '%s' does not fit %s (missing up matrix or wrong shapes)", path, key, name);
        }
        float scale = strength, a;
        if (alpha) {
            int64_t na;
            float *av = alpha->t.dtype == WR_DTYPE_I64 ? NULL : to_f32(alpha, &na);
            a = av ? av[0] : (float)*(const int64_t *)alpha->t.data;
            free(av);
            scale *= a / (float)rank;
        }
        float *upv = to_f32(up, &n);
        if (!upv) {
            free(delta);
            return wr_fail(WR_E_UNSUPPORTED, "%s: cannot read '%s'", path, up->name);
        }
        for (int64_t k = 0; k < n; k++)
            upv[k] *= scale;
        if (wan22_weights_own(w, delta) != WR_OK || wan22_weights_own(w, upv) != WR_OK)
            return wr_fail(WR_E_OOM, "LoRA: out of memory");
        WR_TRY(add_term(w, target, delta, upv, rank));
        rep->applied++;
    }
    return WR_OK;
}
