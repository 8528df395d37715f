/* safetensors writer (see safetensors_write.h). The header is padded with spaces to a
 * multiple of 8 bytes so every tensor that starts at an 8-aligned offset stays aligned. */
#include "runtime/io/safetensors_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/io/atomic_file.h"

typedef struct strbuf {
    char *p;
    size_t n, cap;
    int oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t want = (b->n + n + 1) * 2;
        char *q = realloc(b->p, want);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = want;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_json_string(strbuf *b, const char *s)
{
    sb_str(b, "\"");
    for (; *s; s++) {
        char esc[8];
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_str(b, esc);
        } else
            sb_put(b, (const char *)&c, 1);
    }
    sb_str(b, "\"");
}

static size_t entry_bytes(const wr_st_entry *e)
{
    size_t n = wr_dtype_info(e->dtype)->block_bytes;
    for (int d = 0; d < e->n_dims; d++)
        n *= (size_t)e->shape[d];
    return n;
}

wr_status wr_safetensors_write(const char *path, const wr_st_entry *entries, int n_entries,
                               const char *const (*meta)[2], int n_meta)
{
    strbuf h = {0};
    char num[64];
    size_t offset = 0;
    sb_str(&h, "{");
    if (n_meta > 0) {
        sb_str(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            sb_str(&h, i ? "," : "");
            sb_json_string(&h, meta[i][0]);
            sb_str(&h, ":");
            sb_json_string(&h, meta[i][1]);
        }
        sb_str(&h, "}");
    }
    for (int i = 0; i < n_entries; i++) {
        const wr_st_entry *e = &entries[i];
        const wr_dtype_traits *tr = wr_dtype_info(e->dtype);
        if (!tr || tr->is_quant || e->n_dims < 0 || e->n_dims > 6) {
            free(h.p);
            return wr_fail(WR_E_ARG, "%s: tensor '%s': cannot store dtype %s / %d dims in safetensors",
                           path, e->name, wr_dtype_name(e->dtype), e->n_dims);
        }
        const char *st_name = e->dtype == WR_DTYPE_F8_E4M3FN ? "F8_E4M3" : tr->name;
        sb_str(&h, (n_meta > 0 || i) ? "," : "");
        sb_json_string(&h, e->name);
        sb_str(&h, ":{\"dtype\":\"");
        sb_str(&h, st_name);
        sb_str(&h, "\",\"shape\":[");
        for (int d = 0; d < e->n_dims; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)e->shape[d]);
            sb_str(&h, num);
        }
        size_t nb = entry_bytes(e);
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", offset, offset + nb);
        sb_str(&h, num);
        offset += nb;
    }
    sb_str(&h, "}");
    while (!h.oom && h.n % 8)
        sb_str(&h, " ");
    if (h.oom) {
        free(h.p);
        return wr_fail(WR_E_OOM, "%s: out of memory building the header", path);
    }
    char tmp[4096];
    wr_status st = wr_atomic_tmp_name(path, tmp, sizeof tmp);
    FILE *f = st == WR_OK ? fopen(tmp, "wb") : NULL;
    if (st == WR_OK && !f)
        st = wr_fail(WR_E_IO, "%s: cannot create: %s", path, strerror(errno));
    if (st == WR_OK) {
        uint8_t len8[8];
        for (int i = 0; i < 8; i++)
            len8[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
        int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h.p, 1, h.n, f) == h.n;
        for (int i = 0; ok && i < n_entries; i++) {
            size_t nb = entry_bytes(&entries[i]);
            ok = nb == 0 || fwrite(entries[i].data, 1, nb, f) == nb;
        }
        if (fclose(f) != 0 || !ok) {
            wr_atomic_abandon(tmp);
            st = wr_fail(WR_E_IO, "%s: write failed: %s", path, strerror(errno));
        } else
            st = wr_atomic_commit(tmp, path);
    }
    free(h.p);
    return st;
}
