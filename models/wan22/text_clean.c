/* Prompt cleaning (see text_clean.h). Works on code points: decode UTF-8 (invalid -> U+FFFD),
 * apply the ftfy-like mappings, unescape HTML entities twice, collapse Unicode whitespace
 * (Python's \s for str: the ASCII spaces, NBSP, U+1680, U+2000..U+200A, U+2028/9, U+202F,
 * U+205F, U+3000, U+0085, U+001C..U+001F), strip. */
#include "models/wan22/text_clean.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct cps {
    uint32_t *v;
    size_t n, cap;
} cps;

static int push(cps *c, uint32_t cp)
{
    if (c->n == c->cap) {
        size_t want = c->cap ? c->cap * 2 : 64;
        uint32_t *p = realloc(c->v, want * sizeof *p);
        if (!p)
            return 0;
        c->v = p;
        c->cap = want;
    }
    c->v[c->n++] = cp;
    return 1;
}

static int decode(const char *s, cps *out)
{
    const uint8_t *p = (const uint8_t *)s;
    while (*p) {
        uint32_t cp;
        int n = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3 : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
        int ok = n > 0;
        for (int i = 1; ok && i < n; i++)
            ok = (p[i] & 0xC0) == 0x80;
        if (!ok) {
            cp = 0xFFFD;
            n = 1;
        } else if (n == 1)
            cp = p[0];
        else {
            cp = p[0] & (0x7F >> n);
            for (int i = 1; i < n; i++)
                cp = cp << 6 | (p[i] & 0x3F);
            if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
                (cp >= 0xD800 && cp < 0xE000))
                cp = 0xFFFD;
        }
        if (!push(out, cp))
            return 0;
        p += n;
    }
    return 1;
}

static int is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static uint32_t ftfy_like(uint32_t c)
{
    if (c == 0x2018 || c == 0x2019 || c == 0x201A || c == 0x201B || c == 0x2032)
        return '\'';
    if (c == 0x201C || c == 0x201D || c == 0x201E || c == 0x201F || c == 0x2033)
        return '"';
    if (c >= 0xFF01 && c <= 0xFF5E) /* full-width ASCII forms */
        return c - 0xFF01 + 0x21;
    if (c == 0x3000)
        return ' ';
    return c;
}

typedef struct entity {
    const char *name;
    uint32_t cp;
} entity;

static const entity entities[] = {
    {"amp", '&'},     {"lt", '<'},       {"gt", '>'},      {"quot", '"'},     {"apos", '\''},   {"nbsp", 0xA0},
    {"copy", 0xA9},   {"reg", 0xAE},     {"hellip", 0x2026}, {"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018},
    {"rsquo", 0x2019}, {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"laquo", 0xAB},  {"raquo", 0xBB},  {"deg", 0xB0},
    {"times", 0xD7},  {"eacute", 0xE9},  {"egrave", 0xE8}, {"agrave", 0xE0},  {"ccedil", 0xE7}, {"uuml", 0xFC},
    {"ouml", 0xF6},   {"auml", 0xE4},    {"szlig", 0xDF},  {"middot", 0xB7},
};

/* One pass of html.unescape over the code points (named entities of the table above,
 * decimal and hexadecimal character references; the terminating ';' is required). */
static int unescape(const cps *in, cps *out)
{
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c == '&') {
            size_t j = i + 1;
            char name[16];
            size_t k = 0;
            while (j < in->n && k < sizeof name - 1 && in->v[j] != ';' && in->v[j] < 0x80)
                name[k++] = (char)in->v[j++];
            name[k] = '\0';
            if (j < in->n && in->v[j] == ';' && k > 0) {
                uint32_t cp = 0;
                int found = 0;
                if (name[0] == '#') {
                    char *end;
                    unsigned long v = (name[1] == 'x' || name[1] == 'X') ? strtoul(name + 2, &end, 16)
                                                                       : strtoul(name + 1, &end, 10);
                    if (*end == '\0' && end != name + 1 && v > 0 && v <= 0x10FFFF) {
                        cp = (uint32_t)v;
                        found = 1;
                    }
                } else
                    for (size_t e = 0; e < sizeof entities / sizeof entities[0]; e++)
                        if (strcmp(entities[e].name, name) == 0) {
                            cp = entities[e].cp;
                            found = 1;
                        }
                if (found) {
                    if (!push(out, cp))
                        return 0;
                    i = j;
                    continue;
                }
            }
        }
        if (!push(out, c))
            return 0;
    }
    return 1;
}

static size_t encode_utf8(uint32_t c, char *o)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | c >> 6);
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | c >> 12);
        o[1] = (char)(0x80 | (c >> 6 & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | c >> 18);
    o[1] = (char)(0x80 | (c >> 12 & 0x3F));
    o[2] = (char)(0x80 | (c >> 6 & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

wr_status wan22_text_clean(const char *text, char **out)
{
    cps a = {0}, b = {0};
    *out = NULL;
    int ok = decode(text, &a);
    size_t w = 0;
    for (size_t i = 0; ok && i < a.n; i++) { /* ftfy-like fixes; drop control characters */
        uint32_t c = ftfy_like(a.v[i]);
        if ((c < 0x20 && !is_space(c)) || c == 0x7F)
            continue;
        a.v[w++] = c;
    }
    a.n = w;
    ok = ok && unescape(&a, &b) && unescape(&b, &a);
    char *s = ok ? malloc(a.n * 4 + 1) : NULL;
    if (!s) {
        free(a.v), free(b.v);
        return wr_fail(WR_E_OOM, "prompt cleaning: out of memory");
    }
    size_t n = 0;
    int pending_space = 0;
    for (size_t i = 0; i < a.n; i++) {
        if (is_space(a.v[i])) {
            pending_space = n > 0;
            continue;
        }
        if (pending_space)
            s[n++] = ' ';
        pending_space = 0;
        n += encode_utf8(a.v[i], s + n);
    }
    s[n] = '\0';
    free(a.v), free(b.v);
    *out = s;
    return WR_OK;
}
