/* SentencePiece unigram tokenizer (see tokenizer.h). Follows sentencepiece's normalizer.cc
 * (Normalize, NormalizePrefix) and unigram_model.cc (EncodeOptimized) and the byte fallback
 * of sentencepiece_processor.cc. Only the protobuf fields it needs are read. */
#include "models/wan22/tokenizer.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/wan22/tokenizer_sources.h"
#include "runtime/io/mapped_file.h"

enum piece_type { PT_NORMAL = 1, PT_UNKNOWN = 2, PT_CONTROL = 3, PT_USER = 4, PT_UNUSED = 5, PT_BYTE = 6 };

typedef struct piece {
    char *text;
    int len;
    float score;
    int type;
} piece;

struct wan22_tokenizer {
    piece *pieces;
    int n_pieces;
    int32_t unk_id, eos_id, pad_id;
    int32_t byte_ids[256];
    int byte_fallback, add_dummy_prefix, remove_extra_ws, escape_ws;
    uint32_t *trie;      /* charsmap double array */
    uint32_t trie_units;
    char *norm_strings;  /* charsmap replacement strings */
    uint32_t norm_len;
    int32_t *hash;       /* open addressing over matchable pieces */
    uint32_t hash_cap;
    int max_piece_len;
    float min_score;
};

/* ---- protobuf ----------------------------------------------------------------------------- */

typedef struct pb {
    const uint8_t *p, *end;
} pb;

static int pb_varint(pb *b, uint64_t *v)
{
    *v = 0;
    for (int s = 0; s < 64; s += 7) {
        if (b->p >= b->end)
            return 0;
        uint8_t x = *b->p++;
        *v |= (uint64_t)(x & 0x7f) << s;
        if (!(x & 0x80))
            return 1;
    }
    return 0;
}

/* Next field: number, wire type, and for length-delimited fields the payload. */
static int pb_next(pb *b, uint32_t *field, uint32_t *wire, uint64_t *val, pb *sub)
{
    uint64_t key;
    if (b->p >= b->end || !pb_varint(b, &key))
        return 0;
    *field = (uint32_t)(key >> 3);
    *wire = (uint32_t)(key & 7);
    switch (*wire) {
    case 0: return pb_varint(b, val);
    case 1:
        if (b->end - b->p < 8)
            return 0;
        memcpy(val, b->p, 8);
        b->p += 8;
        return 1;
    case 5: {
        if (b->end - b->p < 4)
            return 0;
        uint32_t v32;
        memcpy(&v32, b->p, 4);
        *val = v32;
        b->p += 4;
        return 1;
    }
    case 2: {
        uint64_t len;
        if (!pb_varint(b, &len) || len > (uint64_t)(b->end - b->p))
            return 0;
        sub->p = b->p;
        sub->end = b->p + len;
        b->p += len;
        return 1;
    }
    default: return 0;
    }
}

static uint64_t hash_bytes(const char *s, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int32_t lookup(const wan22_tokenizer *t, const char *s, int n)
{
    uint32_t mask = t->hash_cap - 1;
    for (uint32_t i = (uint32_t)hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        int32_t id = t->hash[i];
        if (id < 0)
            return -1;
        if (t->pieces[id].len == n && memcmp(t->pieces[id].text, s, (size_t)n) == 0)
            return id;
    }
}

static wr_status parse_piece(wan22_tokenizer *t, pb *m, const char *path)
{
    piece *pc = &t->pieces[t->n_pieces];
    memset(pc, 0, sizeof *pc);
    pc->type = PT_NORMAL;
    uint32_t f, w;
    uint64_t v;
    pb sub;
    while (pb_next(m, &f, &w, &v, &sub)) {
        if (f == 1 && w == 2) {
            free(pc->text);
            pc->len = (int)(sub.end - sub.p);
            pc->text = malloc((size_t)pc->len + 1);
            if (!pc->text)
                return wr_fail(WR_E_OOM, "%s: out of memory", path);
            memcpy(pc->text, sub.p, (size_t)pc->len);
            pc->text[pc->len] = '\0';
        } else if (f == 2 && w == 5) {
            uint32_t bits = (uint32_t)v;
            memcpy(&pc->score, &bits, 4);
        } else if (f == 3 && w == 0)
            pc->type = (int)v;
    }
    if (m->p != m->end || !pc->text)
        return wr_fail(WR_E_FORMAT, "%s: piece %d is malformed", path, t->n_pieces);
    t->n_pieces++;
    return WR_OK;
}

/* The precompiled charsmap blob: u32 trie size, the Darts trie, then the replacement strings. */
static wr_status set_charsmap(wan22_tokenizer *t, const uint8_t *blob, size_t len, const char *path)
{
    uint32_t trie_bytes;
    if (len == 0)
        return WR_OK;
    if (len < 4 || (memcpy(&trie_bytes, blob, 4), trie_bytes % 4) || trie_bytes > len - 4)
        return wr_fail(WR_E_FORMAT, "%s: precompiled charsmap is malformed", path);
    free(t->trie);
    free(t->norm_strings);
    t->trie_units = trie_bytes / 4;
    t->trie = malloc(trie_bytes + 4);
    t->norm_len = (uint32_t)(len - 4 - trie_bytes);
    t->norm_strings = malloc(t->norm_len + 1);
    if (!t->trie || !t->norm_strings)
        return wr_fail(WR_E_OOM, "%s: out of memory", path);
    memcpy(t->trie, blob + 4, trie_bytes);
    memcpy(t->norm_strings, blob + 4 + trie_bytes, t->norm_len);
    t->norm_strings[t->norm_len] = '\0';
    return WR_OK;
}

static wr_status parse_normalizer(wan22_tokenizer *t, pb *m, const char *path)
{
    uint32_t f, w;
    uint64_t v;
    pb sub;
    while (pb_next(m, &f, &w, &v, &sub)) {
        if (f == 2 && w == 2)
            WR_TRY(set_charsmap(t, sub.p, (size_t)(sub.end - sub.p), path));
        else if (f == 3 && w == 0)
            t->add_dummy_prefix = v != 0;
        else if (f == 4 && w == 0)
            t->remove_extra_ws = v != 0;
        else if (f == 5 && w == 0)
            t->escape_ws = v != 0;
    }
    return m->p == m->end ? WR_OK : wr_fail(WR_E_FORMAT, "%s: normalizer spec is malformed", path);
}

static wr_status parse_model(wan22_tokenizer *t, const uint8_t *data, size_t size, const char *path)
{
    pb b = {data, data + size}, sub;
    uint32_t f, w;
    uint64_t v;
    size_t max_pieces = size / 2 + 1;
    t->pieces = calloc(max_pieces, sizeof *t->pieces);
    if (!t->pieces)
        return wr_fail(WR_E_OOM, "%s: out of memory", path);
    while (pb_next(&b, &f, &w, &v, &sub)) {
        if (f == 1 && w == 2)
            WR_TRY(parse_piece(t, &sub, path));
        else if (f == 2 && w == 2) {
            pb tr = sub;
            uint32_t tf, tw;
            uint64_t tv;
            pb ts;
            while (pb_next(&tr, &tf, &tw, &tv, &ts))
                if (tf == 35 && tw == 0) /* TrainerSpec.byte_fallback */
                    t->byte_fallback = tv != 0;
        } else if (f == 3 && w == 2)
            WR_TRY(parse_normalizer(t, &sub, path));
    }
    if (b.p != b.end)
        return wr_fail(WR_E_FORMAT, "%s: not a SentencePiece model (protobuf ends at byte %zu of %zu)", path,
                       (size_t)(b.p - data), size);
    if (t->n_pieces == 0)
        return wr_fail(WR_E_FORMAT, "%s: no pieces: not a SentencePiece model", path);
    return WR_OK;
}

static wr_status build_index(wan22_tokenizer *t, const char *path)
{
    t->unk_id = t->eos_id = t->pad_id = -1;
    for (int i = 0; i < 256; i++)
        t->byte_ids[i] = -1;
    t->hash_cap = 16;
    while (t->hash_cap < (uint32_t)t->n_pieces * 2)
        t->hash_cap *= 2;
    t->hash = malloc(t->hash_cap * sizeof *t->hash);
    if (!t->hash)
        return wr_fail(WR_E_OOM, "%s: out of memory", path);
    for (uint32_t i = 0; i < t->hash_cap; i++)
        t->hash[i] = -1;
    t->min_score = FLT_MAX;
    for (int i = 0; i < t->n_pieces; i++) {
        piece *p = &t->pieces[i];
        unsigned byte;
        if (p->type == PT_UNKNOWN)
            t->unk_id = i;
        else if (p->type == PT_CONTROL && strcmp(p->text, "</s>") == 0)
            t->eos_id = i;
        else if (p->type == PT_CONTROL && strcmp(p->text, "<pad>") == 0)
            t->pad_id = i;
        else if (p->type == PT_BYTE && sscanf(p->text, "<0x%02X>", &byte) == 1 && byte < 256)
            t->byte_ids[byte] = i;
        if (p->type != PT_NORMAL && p->type != PT_USER && p->type != PT_UNUSED)
            continue;
        if (p->type == PT_NORMAL && p->score < t->min_score)
            t->min_score = p->score;
        if (p->len > t->max_piece_len)
            t->max_piece_len = p->len;
        uint32_t mask = t->hash_cap - 1, slot = (uint32_t)hash_bytes(p->text, p->len) & mask;
        while (t->hash[slot] >= 0)
            slot = (slot + 1) & mask;
        t->hash[slot] = i;
    }
    if (t->unk_id < 0)
        return wr_fail(WR_E_FORMAT, "%s: the model has no unknown piece", path);
    return WR_OK;
}

wr_status wan22_tokenizer_load(wan22_tokenizer **out, const char *path)
{
    *out = NULL;
    wr_mapped_file f;
    WR_TRY(wr_mapped_file_open(&f, path));
    wan22_tokenizer *t = calloc(1, sizeof *t);
    wr_status st = t ? WR_OK : wr_fail(WR_E_OOM, "%s: out of memory", path);
    if (t) {
        t->add_dummy_prefix = t->remove_extra_ws = t->escape_ws = 1; /* protobuf defaults */
        if (f.size == 0)
            st = wr_fail(WR_E_FORMAT, "%s: empty file", path);
        else if (f.size >= 4 && memcmp(f.data, "GGUF", 4) == 0)
            st = wan22_tokenizer_from_gguf(t, path);
        else if (f.data[0] == '{')
            st = wan22_tokenizer_from_json(t, (const char *)f.data, f.size, path);
        else
            st = parse_model(t, f.data, f.size, path);
    }
    if (st == WR_OK)
        st = build_index(t, path);
    wr_mapped_file_close(&f);
    if (st != WR_OK) {
        wan22_tokenizer_free(t);
        return st;
    }
    *out = t;
    return WR_OK;
}

void wan22_tokenizer_free(wan22_tokenizer *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_pieces; i++)
        free(t->pieces[i].text);
    free(t->pieces);
    free(t->trie);
    free(t->norm_strings);
    free(t->hash);
    free(t);
}

const char *wan22_tokenizer_piece(const wan22_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_pieces ? t->pieces[id].text : "";
}
int wan22_tokenizer_vocab_size(const wan22_tokenizer *t) { return t->n_pieces; }
int32_t wan22_tokenizer_eos_id(const wan22_tokenizer *t) { return t->eos_id; }
int32_t wan22_tokenizer_pad_id(const wan22_tokenizer *t) { return t->pad_id; }

wr_status wan22_tokenizer_reserve(wan22_tokenizer *t, int n, const char *path)
{
    free(t->pieces);
    t->pieces = calloc((size_t)(n > 0 ? n : 1), sizeof *t->pieces);
    t->n_pieces = 0;
    return t->pieces ? WR_OK : wr_fail(WR_E_OOM, "%s: out of memory for %d pieces", path, n);
}

wr_status wan22_tokenizer_add_piece(wan22_tokenizer *t, const char *text, size_t len, float score, int type)
{
    piece *p = &t->pieces[t->n_pieces];
    p->text = malloc(len + 1);
    if (!p->text)
        return wr_fail(WR_E_OOM, "tokenizer: out of memory");
    memcpy(p->text, text, len);
    p->text[len] = '\0';
    p->len = (int)len;
    p->score = score;
    p->type = type;
    t->n_pieces++;
    return WR_OK;
}

wr_status wan22_tokenizer_set_charsmap(wan22_tokenizer *t, const uint8_t *blob, size_t len, const char *path)
{
    return set_charsmap(t, blob, len, path);
}

void wan22_tokenizer_set_flags(wan22_tokenizer *t, int add_dummy_prefix, int remove_extra_ws, int byte_fallback)
{
    t->add_dummy_prefix = add_dummy_prefix;
    t->remove_extra_ws = remove_extra_ws;
    t->byte_fallback = byte_fallback;
}

float wan22_tokenizer_score(const wan22_tokenizer *t, int32_t id) { return t->pieces[id].score; }
int wan22_tokenizer_type(const wan22_tokenizer *t, int32_t id) { return t->pieces[id].type; }
int wan22_tokenizer_byte_fallback(const wan22_tokenizer *t) { return t->byte_fallback; }

size_t wan22_tokenizer_charsmap(const wan22_tokenizer *t, uint8_t *out, size_t cap)
{
    if (!t->trie)
        return 0;
    size_t trie_bytes = (size_t)t->trie_units * 4, n = 4 + trie_bytes + t->norm_len;
    if (out && cap >= n) {
        uint32_t tb = (uint32_t)trie_bytes;
        memcpy(out, &tb, 4);
        memcpy(out + 4, t->trie, trie_bytes);
        memcpy(out + 4 + trie_bytes, t->norm_strings, t->norm_len);
    }
    return n;
}

/* ---- normalisation ------------------------------------------------------------------------ */

/* Length of the UTF-8 character at s (1..4), or 0 when invalid (then U+FFFD, 1 byte). */
static int utf8_len(const uint8_t *s, size_t avail)
{
    uint8_t c = s[0];
    int n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || (size_t)n > avail)
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (n == 2 && c < 0xC2)
        return 0; /* overlong */
    return n;
}

/* Darts-clone common prefix search: the longest key of the charsmap that prefixes s. */
static int charsmap_match(const wan22_tokenizer *t, const uint8_t *s, size_t n, uint32_t *value)
{
    if (!t->trie || t->trie_units == 0)
        return 0;
    const uint32_t *a = t->trie;
#define OFFSET(u) (((u) >> 10) << (((u) & (1u << 9)) >> 6))
#define LABEL(u) ((u) & ((1u << 31) | 0xFFu))
#define HAS_LEAF(u) (((u) >> 8) & 1u)
#define VALUE(u) ((u) & ((1u << 31) - 1))
    uint32_t pos = 0, unit = a[0];
    pos ^= OFFSET(unit);
    int best = 0;
    for (size_t i = 0; i < n; i++) {
        pos ^= s[i];
        if (pos >= t->trie_units)
            break;
        unit = a[pos];
        if (LABEL(unit) != s[i])
            break;
        pos ^= OFFSET(unit);
        if (pos >= t->trie_units)
            break;
        if (HAS_LEAF(unit)) {
            *value = VALUE(a[pos]);
            best = (int)i + 1;
        }
    }
    return best;
#undef OFFSET
#undef LABEL
#undef HAS_LEAF
#undef VALUE
}

/* Normalises one prefix of s: rep and rep_len get the replacement; returns bytes consumed. */
static size_t normalize_prefix(const wan22_tokenizer *t, const uint8_t *s, size_t n, const char **rep, size_t *rep_len)
{
    static const char replacement_char[] = "\xEF\xBF\xBD";
    uint32_t value;
    int m = charsmap_match(t, s, n, &value);
    if (m > 0 && value < t->norm_len) {
        *rep = t->norm_strings + value;
        *rep_len = strlen(*rep);
        return (size_t)m;
    }
    int len = utf8_len(s, n);
    if (len == 0) {
        *rep = replacement_char;
        *rep_len = 3;
        return 1;
    }
    *rep = (const char *)s;
    *rep_len = (size_t)len;
    return (size_t)len;
}

typedef struct strbuf {
    char *p;
    size_t n, cap;
} strbuf;

static int sb_put(strbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t want = (b->n + n + 1) * 2;
        char *q = realloc(b->p, want);
        if (!q)
            return 0;
        b->p = q;
        b->cap = want;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 1;
}

#define SPACE_SYMBOL "\xE2\x96\x81" /* U+2581 */

static wr_status normalize(const wan22_tokenizer *t, const char *text, strbuf *out)
{
    const uint8_t *s = (const uint8_t *)text;
    size_t n = strlen(text);
    const char *rep;
    size_t rep_len, used;
    int ok = 1;
    if (t->remove_extra_ws)
        while (n > 0 && (used = normalize_prefix(t, s, n, &rep, &rep_len)) && rep_len == 1 && rep[0] == ' ') {
            s += used;
            n -= used;
        }
    if (n == 0)
        return WR_OK;
    if (t->add_dummy_prefix)
        ok &= sb_put(out, t->escape_ws ? SPACE_SYMBOL : " ", t->escape_ws ? 3 : 1);
    int prev_space = t->remove_extra_ws;
    while (n > 0) {
        used = normalize_prefix(t, s, n, &rep, &rep_len);
        while (prev_space && rep_len > 0 && rep[0] == ' ')
            rep++, rep_len--;
        if (rep_len > 0) {
            for (size_t i = 0; i < rep_len; i++)
                ok &= (t->escape_ws && rep[i] == ' ') ? sb_put(out, SPACE_SYMBOL, 3) : sb_put(out, rep + i, 1);
            prev_space = rep[rep_len - 1] == ' ';
        }
        s += used;
        n -= used;
    }
    if (t->remove_extra_ws) {
        const char *sp = t->escape_ws ? SPACE_SYMBOL : " ";
        size_t sl = strlen(sp);
        while (out->n >= sl && memcmp(out->p + out->n - sl, sp, sl) == 0)
            out->n -= sl;
        if (out->p)
            out->p[out->n] = '\0';
    }
    return ok ? WR_OK : wr_fail(WR_E_OOM, "tokenizer: out of memory");
}

/* ---- Viterbi ------------------------------------------------------------------------------- */

typedef struct node {
    int starts_at; /* -1: unreached */
    int32_t id;
    float score;
} node;

wr_status wan22_tokenizer_encode(const wan22_tokenizer *t, const char *text, int32_t **ids, int *n_ids)
{
    *ids = NULL;
    *n_ids = 0;
    strbuf norm = {0};
    WR_TRY(normalize(t, text, &norm));
    size_t n = norm.n;
    const char *s = norm.p;
    node *best = malloc((n + 1) * sizeof *best);
    int32_t *out = malloc((n * 4 + 1) * sizeof *out);
    if (!best || !out) {
        free(best), free(out), free(norm.p);
        return wr_fail(WR_E_OOM, "tokenizer: out of memory for %zu bytes of text", n);
    }
    for (size_t i = 0; i <= n; i++)
        best[i] = (node){-1, -1, 0.0f};
    best[0].starts_at = 0;
    const float unk_score = t->min_score - 10.0f;
    for (size_t pos = 0; pos < n;) {
        int mblen = utf8_len((const uint8_t *)s + pos, n - pos);
        if (mblen == 0)
            mblen = 1;
        if (best[pos].starts_at < 0) {
            pos += (size_t)mblen;
            continue;
        }
        float base = best[pos].score;
        int single = 0;
        for (int len = 1; len <= t->max_piece_len && pos + (size_t)len <= n; len++) {
            int32_t id = lookup(t, s + pos, len);
            if (id < 0 || t->pieces[id].type == PT_UNUSED)
                continue;
            float score = base + (t->pieces[id].type == PT_USER ? 0.0f : t->pieces[id].score);
            node *tgt = &best[pos + (size_t)len];
            if (tgt->starts_at < 0 || score > tgt->score)
                *tgt = (node){(int)pos, id, score};
            if (len == mblen)
                single = 1;
        }
        if (!single) {
            node *tgt = &best[pos + (size_t)mblen];
            float score = base + unk_score;
            if (tgt->starts_at < 0 || score > tgt->score)
                *tgt = (node){(int)pos, t->unk_id, score};
        }
        pos += (size_t)mblen;
    }
    /* backtrack, then expand unknown pieces to bytes when the model has byte fallback */
    int count = 0;
    size_t pos = n;
    int32_t *rev = malloc((n + 1) * sizeof *rev);
    int *starts = malloc((n + 1) * sizeof *starts);
    wr_status st = WR_OK;
    if (!rev || !starts)
        st = wr_fail(WR_E_OOM, "tokenizer: out of memory");
    while (st == WR_OK && pos > 0) {
        if (best[pos].starts_at < 0) {
            st = wr_fail(WR_E_FORMAT, "tokenizer: no segmentation found (internal)");
            break;
        }
        rev[count] = best[pos].id;
        starts[count++] = best[pos].starts_at;
        pos = (size_t)best[pos].starts_at;
    }
    int k = 0;
    for (int i = count - 1; i >= 0 && st == WR_OK; i--) {
        size_t end = i > 0 ? (size_t)starts[i - 1] : n;
        if (rev[i] == t->unk_id && t->byte_fallback) {
            for (size_t b = (size_t)starts[i]; b < end; b++) {
                int32_t bid = t->byte_ids[(uint8_t)s[b]];
                out[k++] = bid >= 0 ? bid : t->unk_id;
            }
        } else
            out[k++] = rev[i];
    }
    free(rev), free(starts), free(best), free(norm.p);
    if (st != WR_OK) {
        free(out);
        return st;
    }
    *ids = out;
    *n_ids = k;
    return WR_OK;
}

int wan22_tokenizer_pad(const wan22_tokenizer *t, const int32_t *ids, int n, int text_len, int32_t *out_ids,
                        int32_t *out_mask)
{
    int real = n + 1 > text_len ? text_len : n + 1;
    for (int i = 0; i < real - 1; i++)
        out_ids[i] = ids[i];
    out_ids[real - 1] = t->eos_id;
    for (int i = 0; i < text_len; i++) {
        if (i >= real)
            out_ids[i] = t->pad_id >= 0 ? t->pad_id : 0;
        out_mask[i] = i < real;
    }
    return real;
}
