/* Recursive-descent JSON parser (see json.h). Every read is bounds-checked against the input
 * length; depth is limited so hostile input cannot exhaust the stack. */
#include "runtime/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *s;
    size_t len, pos;
    const char *what;
    int depth;
} parser;

static wr_status perr(const parser *p, const char *msg)
{
    return wr_fail(WR_E_FORMAT, "%s: invalid JSON at byte %zu: %s", p->what, p->pos, msg);
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int hex4(const parser *p, size_t at, unsigned *out)
{
    if (at + 4 > p->len)
        return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[at + (size_t)i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *dst, unsigned cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses a string starting at the opening quote; the decoded text is never longer than the
 * escaped source, so one allocation of the source span suffices. */
static wr_status parse_string(parser *p, char **out, size_t *out_len)
{
    size_t start = ++p->pos, end = start;
    while (end < p->len && p->s[end] != '"')
        end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->len)
        return perr(p, "unterminated string");
    char *buf = malloc(end - start + 1);
    if (!buf)
        return wr_fail(WR_E_OOM, "%s: out of memory parsing JSON", p->what);
    size_t n = 0;
    while (p->pos < end) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) {
            free(buf);
            return perr(p, "control character in string");
        }
        if (c != '\\') {
            buf[n++] = (char)c;
            p->pos++;
            continue;
        }
        char e = p->s[p->pos + 1];
        p->pos += 2;
        switch (e) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (!hex4(p, p->pos, &cp)) {
                free(buf);
                return perr(p, "bad \\u escape");
            }
            p->pos += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (p->pos + 6 > end || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
                    !hex4(p, p->pos + 2, &lo) || lo < 0xDC00 || lo >= 0xE000) {
                    free(buf);
                    return perr(p, "unpaired UTF-16 surrogate");
                }
                p->pos += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                free(buf);
                return perr(p, "unpaired UTF-16 surrogate");
            }
            n += put_utf8(buf + n, cp);
            break;
        }
        default:
            free(buf);
            return perr(p, "unknown escape");
        }
    }
    p->pos = end + 1;
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return WR_OK;
}

static wr_status parse_number(parser *p, wr_json *v)
{
    size_t start = p->pos;
    if (p->pos < p->len && p->s[p->pos] == '-')
        p->pos++;
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
        return perr(p, "bad number");
    if (p->s[p->pos] == '0' && p->pos + 1 < p->len && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
        return perr(p, "leading zero in number");
    int is_int = 1;
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c >= '0' && c <= '9')
            p->pos++;
        else if (c == '.' || c == 'e' || c == 'E' || c == '+' || (c == '-' && p->pos > start)) {
            is_int = 0;
            p->pos++;
        } else
            break;
    }
    char tmp[64];
    size_t n = p->pos - start;
    if (n >= sizeof tmp)
        return perr(p, "number too long");
    memcpy(tmp, p->s + start, n);
    tmp[n] = '\0';
    char *endp;
    errno = 0;
    v->type = WR_JSON_NUMBER;
    v->number = strtod(tmp, &endp);
    if (endp != tmp + n || !isfinite(v->number))
        return perr(p, "bad number");
    if (is_int) {
        errno = 0;
        long long iv = strtoll(tmp, &endp, 10);
        if (errno == 0 && endp == tmp + n) {
            v->is_int = true;
            v->integer = iv;
        }
    }
    return WR_OK;
}

static wr_status parse_value(parser *p, wr_json *v);

static wr_status append(parser *p, wr_json *v, size_t *cap)
{
    if (v->count < *cap)
        return WR_OK;
    size_t want = *cap ? *cap * 2 : 8;
    wr_json *items = realloc(v->items, want * sizeof *items);
    if (!items)
        return wr_fail(WR_E_OOM, "%s: out of memory parsing JSON", p->what);
    v->items = items;
    if (v->type == WR_JSON_OBJECT) {
        char **keys = realloc(v->keys, want * sizeof *keys);
        if (!keys)
            return wr_fail(WR_E_OOM, "%s: out of memory parsing JSON", p->what);
        v->keys = keys;
    }
    *cap = want;
    return WR_OK;
}

static wr_status parse_container(parser *p, wr_json *v, char close)
{
    size_t cap = 0;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return WR_OK;
    }
    for (;;) {
        WR_TRY(append(p, v, &cap));
        if (close == '}') {
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return perr(p, "expected a member name");
            size_t klen;
            WR_TRY(parse_string(p, &v->keys[v->count], &klen));
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                free(v->keys[v->count]);
                return perr(p, "expected ':'");
            }
            p->pos++;
        }
        memset(&v->items[v->count], 0, sizeof v->items[0]);
        v->count++; /* counted before parsing so a failure frees what was built */
        WR_TRY(parse_value(p, &v->items[v->count - 1]));
        skip_ws(p);
        if (p->pos >= p->len)
            return perr(p, "unterminated array or object");
        char c = p->s[p->pos++];
        if (c == close)
            return WR_OK;
        if (c != ',')
            return perr(p, "expected ',' or the closing bracket");
    }
}

static int match_word(parser *p, const char *w)
{
    size_t n = strlen(w);
    if (p->pos + n > p->len || memcmp(p->s + p->pos, w, n) != 0)
        return 0;
    p->pos += n;
    return 1;
}

static wr_status parse_value(parser *p, wr_json *v)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return perr(p, "unexpected end of input");
    char c = p->s[p->pos];
    switch (c) {
    case '{':
    case '[':
        if (++p->depth > WR_JSON_MAX_DEPTH)
            return perr(p, "nesting too deep");
        v->type = c == '{' ? WR_JSON_OBJECT : WR_JSON_ARRAY;
        WR_TRY(parse_container(p, v, c == '{' ? '}' : ']'));
        p->depth--;
        return WR_OK;
    case '"':
        v->type = WR_JSON_STRING;
        return parse_string(p, &v->string, &v->length);
    case 't':
    case 'f':
        v->type = WR_JSON_BOOL;
        v->boolean = c == 't';
        return match_word(p, c == 't' ? "true" : "false") ? WR_OK : perr(p, "bad literal");
    case 'n':
        v->type = WR_JSON_NULL;
        return match_word(p, "null") ? WR_OK : perr(p, "bad literal");
    default:
        return parse_number(p, v);
    }
}

wr_status wr_json_parse(const char *text, size_t len, const char *what, wr_json *out)
{
    parser p = {.s = text, .len = len, .what = what};
    memset(out, 0, sizeof *out);
    wr_status st = parse_value(&p, out);
    if (st == WR_OK) {
        skip_ws(&p);
        if (p.pos != p.len)
            st = perr(&p, "trailing characters after the value");
    }
    if (st != WR_OK)
        wr_json_free(out);
    return st;
}

void wr_json_free(wr_json *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->count; i++) {
        wr_json_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
    memset(v, 0, sizeof *v);
}

const wr_json *wr_json_get(const wr_json *v, const char *key)
{
    if (!v || v->type != WR_JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < v->count; i++)
        if (strcmp(v->keys[i], key) == 0)
            return &v->items[i];
    return NULL;
}
