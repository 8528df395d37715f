/* Tokenizer from GGUF metadata and from HF tokenizer.json (see tokenizer_sources.h). */
#include "models/wan22/tokenizer_sources.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/io/gguf.h"
#include "runtime/json.h"

wr_status wan22_tokenizer_from_gguf(wan22_tokenizer *t, const char *path)
{
    wr_weightfile wf;
    WR_TRY(wr_weightfile_open(&wf, path));
    const wr_gguf *g = wr_gguf_of(&wf);
    const wr_gguf_kv *tok = wr_gguf_find(g, "tokenizer.ggml.tokens"), *sc = wr_gguf_find(g, "tokenizer.ggml.scores"),
                     *ty = wr_gguf_find(g, "tokenizer.ggml.token_type"),
                     *cm = wr_gguf_find(g, "tokenizer.ggml.precompiled_charsmap");
    wr_status st = WR_OK;
    if (!tok || tok->value.type != WR_GGUF_ARRAY || tok->value.elem_type != WR_GGUF_STRING || !sc ||
        sc->value.type != WR_GGUF_ARRAY || sc->value.n != tok->value.n ||
        (ty && (ty->value.type != WR_GGUF_ARRAY || ty->value.n != tok->value.n))) {
        st = wr_fail(WR_E_FORMAT, "%s: no SentencePiece tokenizer in this GGUF (tokenizer.ggml.tokens/scores)", path);
        goto fail;
    }
    uint64_t n = tok->value.n;
    WR_TRY_GOTO(wan22_tokenizer_reserve(t, (int)n, path));
    int has_bytes = 0;
    for (uint64_t i = 0; i < n && st == WR_OK; i++) {
        const wr_gguf_value *s = &tok->value.items[i];
        int type = ty ? (int)ty->value.items[i].num.i : WAN22_PIECE_NORMAL;
        has_bytes |= type == WAN22_PIECE_BYTE;
        st = wan22_tokenizer_add_piece(t, s->str, s->str_len, (float)sc->value.items[i].num.f, type);
    }
    if (st != WR_OK)
        goto fail;
    if (cm && cm->value.type == WR_GGUF_ARRAY && cm->value.n > 0) {
        uint8_t *blob = malloc(cm->value.n);
        if (!blob) {
            st = wr_fail(WR_E_OOM, "%s: out of memory", path);
            goto fail;
        }
        for (uint64_t i = 0; i < cm->value.n; i++)
            blob[i] = (uint8_t)cm->value.items[i].num.u;
        st = wan22_tokenizer_set_charsmap(t, blob, cm->value.n, path);
        free(blob);
    }
    const wr_gguf_kv *asp = wr_gguf_find(g, "tokenizer.ggml.add_space_prefix"),
                     *rew = wr_gguf_find(g, "tokenizer.ggml.remove_extra_whitespaces");
    wan22_tokenizer_set_flags(t, asp ? asp->value.num.u != 0 : 1, rew ? rew->value.num.u != 0 : 1, has_bytes);
fail:
    wr_weightfile_close(&wf);
    return st;
}

static int b64(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static size_t base64_decode(const char *s, size_t n, uint8_t *out)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64((unsigned char)s[i]);
        if (v < 0)
            continue; /* padding and whitespace */
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o;
}

/* The first "precompiled_charsmap" string anywhere under v. */
static const wr_json *find_charsmap(const wr_json *v)
{
    if (!v)
        return NULL;
    const wr_json *c = wr_json_get(v, "precompiled_charsmap");
    if (c && c->type == WR_JSON_STRING)
        return c;
    for (size_t i = 0; i < v->count; i++)
        if ((c = find_charsmap(&v->items[i])))
            return c;
    return NULL;
}

wr_status wan22_tokenizer_from_json(wan22_tokenizer *t, const char *text, size_t len, const char *path)
{
    wr_json root;
    char what[512];
    snprintf(what, sizeof what, "%s", path);
    WR_TRY(wr_json_parse(text, len, what, &root));
    wr_status st = WR_OK;
    const wr_json *model = wr_json_get(&root, "model"), *type = wr_json_get(model, "type"),
                  *vocab = wr_json_get(model, "vocab"), *unk = wr_json_get(model, "unk_id"),
                  *bf = wr_json_get(model, "byte_fallback");
    if (!type || type->type != WR_JSON_STRING || strcmp(type->string, "Unigram") != 0 || !vocab ||
        vocab->type != WR_JSON_ARRAY) {
        st = wr_fail(WR_E_UNSUPPORTED, "%s: not a Unigram tokenizer.json (model.type must be \"Unigram\")", path);
        goto fail;
    }
    int byte_fallback = bf && bf->type == WR_JSON_BOOL && bf->boolean;
    int64_t unk_id = unk && unk->is_int ? unk->integer : -1;
    const wr_json *added = wr_json_get(&root, "added_tokens");
    WR_TRY_GOTO(wan22_tokenizer_reserve(t, (int)vocab->count, path));
    for (size_t i = 0; i < vocab->count && st == WR_OK; i++) {
        const wr_json *e = &vocab->items[i];
        if (e->type != WR_JSON_ARRAY || e->count != 2 || e->items[0].type != WR_JSON_STRING ||
            e->items[1].type != WR_JSON_NUMBER) {
            st = wr_fail(WR_E_FORMAT, "%s: model.vocab entry %zu is not [piece, score]", path, i);
            break;
        }
        const char *p = e->items[0].string;
        int ptype = (int64_t)i == unk_id ? WAN22_PIECE_UNKNOWN : WAN22_PIECE_NORMAL;
        unsigned byte;
        char tail;
        if (byte_fallback && strlen(p) == 6 && sscanf(p, "<0x%2X%c", &byte, &tail) == 2 && tail == '>')
            ptype = WAN22_PIECE_BYTE;
        for (size_t a = 0; added && a < added->count; a++) {
            const wr_json *id = wr_json_get(&added->items[a], "id"), *sp = wr_json_get(&added->items[a], "special");
            if (id && id->is_int && id->integer == (int64_t)i && sp && sp->boolean && ptype != WAN22_PIECE_UNKNOWN)
                ptype = WAN22_PIECE_CONTROL;
        }
        st = wan22_tokenizer_add_piece(t, p, e->items[0].length, (float)e->items[1].number, ptype);
    }
    const wr_json *cm = find_charsmap(wr_json_get(&root, "normalizer"));
    if (st == WR_OK && cm) {
        uint8_t *blob = malloc(cm->length + 1);
        if (!blob) {
            st = wr_fail(WR_E_OOM, "%s: out of memory", path);
            goto fail;
        }
        size_t n = base64_decode(cm->string, cm->length, blob);
        st = wan22_tokenizer_set_charsmap(t, blob, n, path);
        free(blob);
    }
    wan22_tokenizer_set_flags(t, 1, 1, byte_fallback);
fail:
    wr_json_free(&root);
    return st;
}
