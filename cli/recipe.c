/* See recipe.h. */
#include "cli/recipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* Unquotes a value in place ("..." with \" \\ \n \t escapes) and drops a trailing comment. */
static wr_status parse_value(char *v, const char *name, int line, char **out)
{
    if (*v != '"') {
        char *hash = strchr(v, '#');
        if (hash)
            *hash = '\0';
        *out = trim(v);
        return WR_OK;
    }
    char *w = v, *r = v + 1;
    for (; *r && *r != '"'; r++) {
        if (*r == '\\') {
            r++;
            if (*r == 'n') *w++ = '\n';
            else if (*r == 't') *w++ = '\t';
            else if (*r == '"' || *r == '\\') *w++ = *r;
            else return wr_fail(WR_E_FORMAT, "%s:%d: unknown escape \\%c in a string", name, line, *r ? *r : ' ');
        } else {
            *w++ = *r;
        }
    }
    if (*r != '"')
        return wr_fail(WR_E_FORMAT, "%s:%d: unterminated string", name, line);
    char *rest = trim(r + 1);
    if (*rest && *rest != '#')
        return wr_fail(WR_E_FORMAT, "%s:%d: unexpected text after the string: %s", name, line, rest);
    *w = '\0';
    *out = v;
    return WR_OK;
}

wr_status recipe_parse(recipe *r, const char *name, const char *text)
{
    memset(r, 0, sizeof *r);
    r->text = strdup(text);
    if (!r->text)
        return wr_fail(WR_E_OOM, "out of memory");
    r->n = 1;
    r->sec[0].name = "";
    int line = 0;
    wr_status st = WR_OK;
    /* strtok_r would merge empty lines and lose the line numbers: split by hand */
    for (char *p = r->text; p && st == WR_OK;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        line++;
        char *s = trim(p);
        p = nl ? nl + 1 : NULL;
        if (!*s || *s == '#')
            continue;
        recipe_section *cur = &r->sec[r->n - 1];
        if (*s == '[') {
            char *close = strchr(s, ']');
            char *rest = close ? trim(close + 1) : NULL;
            if (!close || (*rest && *rest != '#'))
                st = wr_fail(WR_E_FORMAT, "%s:%d: a section header is [name]", name, line);
            else if (r->n == RECIPE_MAX_STAGES + 1)
                st = wr_fail(WR_E_FORMAT, "%s:%d: more than %d sections", name, line, RECIPE_MAX_STAGES);
            else {
                *close = '\0';
                recipe_section *ns = &r->sec[r->n++];
                ns->name = trim(s + 1);
                ns->line = line;
                for (int i = 1; i < r->n - 1; i++)
                    if (!strcmp(r->sec[i].name, ns->name))
                        st = wr_fail(WR_E_FORMAT, "%s:%d: section [%s] appears twice", name, line, ns->name);
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            st = wr_fail(WR_E_FORMAT, "%s:%d: expected key = value, got: %s", name, line, s);
            continue;
        }
        *eq = '\0';
        char *key = trim(s), *value = NULL;
        if (!*key) {
            st = wr_fail(WR_E_FORMAT, "%s:%d: missing key before '='", name, line);
            continue;
        }
        if ((st = parse_value(trim(eq + 1), name, line, &value)) != WR_OK)
            continue;
        if (cur->n == RECIPE_MAX_KEYS)
            st = wr_fail(WR_E_FORMAT, "%s:%d: more than %d keys in one section", name, line, RECIPE_MAX_KEYS);
        else
            cur->kv[cur->n++] = (recipe_kv){.key = key, .value = value, .line = line};
    }
    if (st != WR_OK)
        recipe_free(r);
    return st;
}

wr_status recipe_load(recipe *r, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return wr_fail(WR_E_IO, "recipe %s cannot be opened", path);
    enum { MAX = 1 << 20 };
    char *buf = malloc(MAX + 1);
    size_t n = buf ? fread(buf, 1, MAX + 1, f) : 0;
    fclose(f);
    if (!buf)
        return wr_fail(WR_E_OOM, "out of memory");
    if (n > MAX) {
        free(buf);
        return wr_fail(WR_E_FORMAT, "recipe %s is larger than 1 MiB: not a recipe", path);
    }
    buf[n] = '\0';
    wr_status st = strlen(buf) == n ? recipe_parse(r, path, buf)
                                    : wr_fail(WR_E_FORMAT, "recipe %s contains NUL bytes: not a text file", path);
    free(buf);
    return st;
}

void recipe_free(recipe *r)
{
    free(r->text);
    memset(r, 0, sizeof *r);
}

const recipe_section *recipe_find(const recipe *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->sec[i].name, name))
            return &r->sec[i];
    return NULL;
}

const char *recipe_get(const recipe_section *s, const char *key)
{
    const char *v = NULL;
    for (int i = 0; s && i < s->n; i++)
        if (!strcmp(s->kv[i].key, key))
            v = s->kv[i].value;
    return v;
}
