/* Kernel specs, kernel sources (embedded or from WANRT_KERNEL_DIR) and the entry scanner.
 * The compilers and the disk cache are in jit_cache.c (see jit.h for the contract). */
#include "runtime/gpu/jit.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/gpu/embedded.h"
#include "runtime/gpu/jit_internal.h"

/* ---- specs --------------------------------------------------------------------------------- */

void wr_kspec_init(wr_kspec *s, const char *file, const char *entry)
{
    memset(s, 0, sizeof *s);
    WR_ASSERT(strlen(file) < sizeof s->file && strlen(entry) < sizeof s->entry, "kspec name too long: %s:%s",
              file, entry);
    strcpy(s->file, file);
    strcpy(s->entry, entry);
}

void wr_kspec_define(wr_kspec *s, const char *name, const char *value)
{
    WR_ASSERT(strlen(name) < sizeof s->defines[0].name && strlen(value) < sizeof s->defines[0].value,
              "kspec define too long: %s=%s", name, value);
    int i = 0;
    while (i < s->n_defines && strcmp(s->defines[i].name, name) < 0)
        i++;
    if (i < s->n_defines && strcmp(s->defines[i].name, name) == 0) {
        strcpy(s->defines[i].value, value);
        return;
    }
    WR_ASSERT(s->n_defines < WR_KSPEC_MAX_DEFINES, "kspec %s: more than %d defines", s->file,
              WR_KSPEC_MAX_DEFINES);
    memmove(&s->defines[i + 1], &s->defines[i], (size_t)(s->n_defines - i) * sizeof s->defines[0]);
    strcpy(s->defines[i].name, name);
    strcpy(s->defines[i].value, value);
    s->n_defines++;
}

void wr_kspec_define_int(wr_kspec *s, const char *name, long long value)
{
    char v[32];
    snprintf(v, sizeof v, "%lld", value);
    wr_kspec_define(s, name, v);
}

void wr_kspec_str(const wr_kspec *s, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "%s:%s[", s->file, s->entry);
    for (int i = 0; i < s->n_defines && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s=%s", i ? "," : "", s->defines[i].name,
                                 s->defines[i].value);
    if (used < len)
        snprintf(buf + used, len - used, "]@sm_%d", s->arch);
}

/* ---- sources ------------------------------------------------------------------------------- */

static pthread_once_t g_src_once = PTHREAD_ONCE_INIT;
static const char **g_src_bytes; /* per embedded entry: bytes in use (embedded or from disk) */
static size_t *g_src_size;
static int g_src_count;
static char g_src_error[512];

static void load_sources(void)
{
    while (wr_embedded_kernels[g_src_count].path)
        g_src_count++;
    g_src_bytes = calloc((size_t)g_src_count + 1, sizeof *g_src_bytes);
    g_src_size = calloc((size_t)g_src_count + 1, sizeof *g_src_size);
    WR_ASSERT(g_src_bytes && g_src_size, "out of memory");
    /* WANRT_KERNEL_DIR names the kernels/ folder; every embedded path (kernels/..., runtime/...)
     * is read relative to its parent, the repository root. */
    const char *dir = getenv("WANRT_KERNEL_DIR");
    char root[1024] = "";
    if (dir && *dir) {
        snprintf(root, sizeof root, "%s", dir);
        size_t n = strlen(root);
        while (n > 1 && root[n - 1] == '/')
            root[--n] = 0;
        char *slash = strrchr(root, '/');
        if (slash)
            slash[1] = 0;
        else
            root[0] = 0;
    }
    for (int i = 0; i < g_src_count; i++) {
        g_src_bytes[i] = wr_embedded_kernels[i].bytes;
        g_src_size[i] = wr_embedded_kernels[i].size;
        if (!dir || !*dir)
            continue;
        char p[2048];
        snprintf(p, sizeof p, "%s%s", root, wr_embedded_kernels[i].path);
        size_t n;
        char *b = wr_jit_slurp(p, &n);
        if (!b) {
            snprintf(g_src_error, sizeof g_src_error, "WANRT_KERNEL_DIR=%.200s: cannot read %.250s", dir, p);
            continue;
        }
        g_src_bytes[i] = b;
        g_src_size[i] = n;
    }
}

int wr_jit_source_count(void)
{
    pthread_once(&g_src_once, load_sources);
    return g_src_count;
}

const char *wr_jit_source_path(int i)
{
    pthread_once(&g_src_once, load_sources);
    WR_ASSERT(i >= 0 && i < g_src_count, "source index %d out of range", i);
    return wr_embedded_kernels[i].path;
}

wr_status wr_jit_source(const char *path, const char **bytes, size_t *size)
{
    pthread_once(&g_src_once, load_sources);
    if (g_src_error[0])
        return wr_fail(WR_E_IO, "%s", g_src_error);
    for (int i = 0; i < g_src_count; i++)
        if (strcmp(wr_embedded_kernels[i].path, path) == 0) {
            *bytes = g_src_bytes[i];
            *size = g_src_size[i];
            return WR_OK;
        }
    return wr_fail(WR_E_ARG, "kernel source '%s' is not embedded in this build (see the Makefile's KERNEL_SRCS)",
                   path);
}

/* ---- scanning kernel sources --------------------------------------------------------------- */

char *wr_jit_strip_comments(const char *src)
{
    size_t n = strlen(src);
    char *out = malloc(n + 1);
    WR_ASSERT(out, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (src[i] == '/' && src[i + 1] == '/') {
            while (i < n && src[i] != '\n')
                i++;
        } else if (src[i] == '/' && src[i + 1] == '*') {
            i += 2;
            while (i < n && !(src[i] == '*' && src[i + 1] == '/'))
                i++;
            i = i < n ? i + 2 : n;
            out[o++] = ' ';
        } else if (src[i] == '"') { /* copy string literals whole */
            out[o++] = src[i++];
            while (i < n && src[i] != '"') {
                if (src[i] == '\\' && i + 1 < n)
                    out[o++] = src[i++];
                out[o++] = src[i++];
            }
            if (i < n)
                out[o++] = src[i++];
        } else {
            out[o++] = src[i++];
        }
    }
    out[o] = 0;
    return out;
}

static const char *skip_space(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

/* Reads an identifier at p into buf; returns the position after it (p itself when none). */
static const char *ident(const char *p, char *buf, size_t len)
{
    size_t n = 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '_')
        n++;
    if (n >= len)
        n = len - 1;
    memcpy(buf, p, n);
    buf[n] = 0;
    return p + n;
}

wr_status wr_jit_entries(const char *file, char (*names)[WR_KSPEC_NAME], int max, int *count)
{
    const char *src;
    size_t size;
    WR_TRY(wr_jit_source(file, &src, &size));
    char *text = wr_jit_strip_comments(src);
    int n = 0;
    wr_status st = WR_OK;
    for (const char *p = strstr(text, "__global__"); p; p = strstr(p + 1, "__global__")) {
        const char *q = skip_space(p + strlen("__global__"));
        char word[WR_KSPEC_NAME];
        if (strncmp(q, "__launch_bounds__", 17) == 0) {
            q = strchr(q, ')');
            if (!q)
                break;
            q = skip_space(q + 1);
        }
        q = skip_space(ident(q, word, sizeof word));
        if (strcmp(word, "void") != 0)
            continue; /* a macro definition or other mention */
        if (strncmp(q, "__launch_bounds__", 17) == 0) { /* may also follow the return type */
            q = strchr(q, ')');
            if (!q)
                break;
            q = skip_space(q + 1);
        }
        ident(q, word, sizeof word);
        if (!word[0])
            continue;
        if (n == max) {
            st = wr_fail(WR_E_ARG, "%s: more than %d kernel entry points", file, max);
            break;
        }
        snprintf(names[n++], WR_KSPEC_NAME, "%s", word);
    }
    free(text);
    *count = n;
    return st;
}
