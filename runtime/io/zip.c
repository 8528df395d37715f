/* Zip central-directory reader for torch.save archives (see zip.h).
 *
 * Layout, from the end of the file backwards (all little-endian):
 *   EOCD (22 bytes + comment) <- ZIP64 locator (20 bytes, just before the EOCD)
 *   <- ZIP64 EOCD record (56+ bytes) <- central directory (46 bytes + name + extra + comment
 *   per entry) <- entries (local header 30 bytes + name + extra, then the data).
 * The ZIP64 values are preferred whenever the locator is present (torch always writes it). */
#include "runtime/io/zip.h"

#include <stdlib.h>
#include <string.h>

enum {
    SIG_LOCAL = 0x04034b50,
    SIG_CENTRAL = 0x02014b50,
    SIG_EOCD = 0x06054b50,
    SIG_ZIP64_EOCD = 0x06064b50,
    SIG_ZIP64_LOCATOR = 0x07064b50,
    EOCD_SIZE = 22,
    LOCATOR_SIZE = 20,
    ZIP64_EOCD_SIZE = 56,
    CENTRAL_SIZE = 46,
    LOCAL_SIZE = 30,
    EXTRA_ZIP64 = 0x0001,
    MAX_COMMENT = 0xffff,
};
#define U32_SENTINEL 0xffffffffu
#define U16_SENTINEL 0xffffu

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* [off, off + len) inside the archive (overflow-safe). */
static int has(const wr_zip *z, uint64_t off, uint64_t len)
{
    return off <= z->size && len <= z->size - off;
}

typedef struct end_info {
    uint64_t n_total, cd_size, cd_offset;
} end_info;

static wr_status find_end(const wr_zip *z, end_info *out)
{
    if (z->size < EOCD_SIZE)
        return wr_fail(WR_E_FORMAT, "%s: zip: file too small (%zu bytes) for an end record",
                       z->path, z->size);
    /* The EOCD is followed only by its comment (torch writes none): scan backwards. */
    uint64_t lo = z->size - EOCD_SIZE > MAX_COMMENT ? z->size - EOCD_SIZE - MAX_COMMENT : 0;
    uint64_t pos = z->size - EOCD_SIZE;
    for (;; pos--) {
        const uint8_t *p = z->data + pos;
        if (rd32(p) == SIG_EOCD && rd16(p + 20) <= z->size - pos - EOCD_SIZE)
            break;
        if (pos == lo)
            return wr_fail(WR_E_FORMAT,
                           "%s: zip: no end-of-central-directory record (50 4B 05 06) in the "
                           "last %llu bytes",
                           z->path, (unsigned long long)(z->size - lo));
    }
    const uint8_t *e = z->data + pos;
    out->n_total = rd16(e + 10);
    out->cd_size = rd32(e + 12);
    out->cd_offset = rd32(e + 16);
    int need64 = out->n_total == U16_SENTINEL || out->cd_size == U32_SENTINEL ||
                 out->cd_offset == U32_SENTINEL;
    if (pos >= LOCATOR_SIZE && rd32(e - LOCATOR_SIZE) == SIG_ZIP64_LOCATOR) {
        uint64_t off64 = rd64(e - LOCATOR_SIZE + 8);
        if (!has(z, off64, ZIP64_EOCD_SIZE) || rd32(z->data + off64) != SIG_ZIP64_EOCD)
            return wr_fail(WR_E_FORMAT,
                           "%s: zip: the ZIP64 locator at offset %llu points to %llu, which is "
                           "not a ZIP64 end record",
                           z->path, (unsigned long long)(pos - LOCATOR_SIZE),
                           (unsigned long long)off64);
        const uint8_t *r = z->data + off64;
        out->n_total = rd64(r + 32);
        out->cd_size = rd64(r + 40);
        out->cd_offset = rd64(r + 48);
    } else if (need64) {
        return wr_fail(WR_E_FORMAT,
                       "%s: zip: the end record at offset %llu needs ZIP64 values but there is "
                       "no ZIP64 locator",
                       z->path, (unsigned long long)pos);
    }
    if (!has(z, out->cd_offset, out->cd_size))
        return wr_fail(WR_E_FORMAT,
                       "%s: zip: central directory [%llu, +%llu) lies beyond the end of the file "
                       "(%zu bytes)",
                       z->path, (unsigned long long)out->cd_offset,
                       (unsigned long long)out->cd_size, z->size);
    if (out->n_total > out->cd_size / CENTRAL_SIZE)
        return wr_fail(WR_E_FORMAT,
                       "%s: zip: %llu entries cannot fit in a central directory of %llu bytes",
                       z->path, (unsigned long long)out->n_total,
                       (unsigned long long)out->cd_size);
    return WR_OK;
}

/* Replaces the 0xFFFFFFFF fields of one central header with the ZIP64 extra's values. */
static wr_status apply_zip64_extra(const wr_zip *z, const uint8_t *extra, uint32_t extra_len,
                                   int64_t idx, uint64_t *uncomp, uint64_t *comp, uint64_t *lho)
{
    uint64_t *fields[3] = {uncomp, comp, lho};
    int want[3] = {*uncomp == U32_SENTINEL, *comp == U32_SENTINEL, *lho == U32_SENTINEL};
    uint32_t at = 0;
    while (extra_len - at >= 4) {
        uint16_t id = rd16(extra + at), len = rd16(extra + at + 2);
        at += 4;
        if (len > extra_len - at)
            return wr_fail(WR_E_FORMAT,
                           "%s: zip: central entry %lld: extra block 0x%04x of %u bytes overruns "
                           "its extra field",
                           z->path, (long long)idx, id, len);
        if (id == EXTRA_ZIP64) {
            uint32_t p = 0;
            for (int i = 0; i < 3; i++) {
                if (!want[i])
                    continue;
                if (len - p < 8)
                    return wr_fail(WR_E_FORMAT,
                                   "%s: zip: central entry %lld: ZIP64 extra field too short "
                                   "(%u bytes)",
                                   z->path, (long long)idx, len);
                *fields[i] = rd64(extra + at + p);
                want[i] = 0;
                p += 8;
            }
        }
        at += len;
    }
    if (want[0] || want[1] || want[2])
        return wr_fail(WR_E_FORMAT,
                       "%s: zip: central entry %lld has a 32-bit size or offset of 0xFFFFFFFF but "
                       "no ZIP64 extra field",
                       z->path, (long long)idx);
    return WR_OK;
}

/* Reads central header idx at *pos (advanced past it) and locates its data. */
static wr_status read_entry(wr_zip *z, uint64_t *pos, uint64_t cd_end, int64_t idx)
{
    uint64_t p = *pos;
    if (cd_end - p < CENTRAL_SIZE || rd32(z->data + p) != SIG_CENTRAL)
        return wr_fail(WR_E_FORMAT,
                       "%s: zip: central directory entry %lld at offset %llu: bad signature or "
                       "truncated",
                       z->path, (long long)idx, (unsigned long long)p);
    const uint8_t *h = z->data + p;
    uint16_t flags = rd16(h + 8), method = rd16(h + 10);
    uint64_t comp = rd32(h + 20), uncomp = rd32(h + 24);
    uint32_t name_len = rd16(h + 28), extra_len = rd16(h + 30), comment_len = rd16(h + 32);
    uint64_t lho = rd32(h + 42);
    uint64_t total = (uint64_t)CENTRAL_SIZE + name_len + extra_len + comment_len;
    if (cd_end - p < total)
        return wr_fail(WR_E_FORMAT,
                       "%s: zip: central directory entry %lld at offset %llu overruns the "
                       "directory",
                       z->path, (long long)idx, (unsigned long long)p);
    const char *name = (const char *)h + CENTRAL_SIZE;
    int nl = name_len > 200 ? 200 : (int)name_len; /* message length cap */
    if (flags & 1)
        return wr_fail(WR_E_UNSUPPORTED, "%s: zip: entry '%.*s' is encrypted", z->path, nl, name);
    if (method != 0)
        return wr_fail(WR_E_UNSUPPORTED,
                       "%s: zip: entry '%.*s' is compressed (method %u); only stored entries "
                       "(method 0, as torch.save writes) are supported",
                       z->path, nl, name, method);
    WR_TRY(apply_zip64_extra(z, h + CENTRAL_SIZE + name_len, extra_len, idx, &uncomp, &comp,
                             &lho));
    if (comp != uncomp)
        return wr_fail(WR_E_FORMAT,
                       "%s: zip: stored entry '%.*s' has compressed size %llu != uncompressed "
                       "size %llu",
                       z->path, nl, name, (unsigned long long)comp, (unsigned long long)uncomp);
    if (!has(z, lho, LOCAL_SIZE) || rd32(z->data + lho) != SIG_LOCAL)
        return wr_fail(WR_E_FORMAT,
                       "%s: zip: entry '%.*s': no local header at offset %llu", z->path, nl, name,
                       (unsigned long long)lho);
    const uint8_t *l = z->data + lho;
    uint32_t lname = rd16(l + 26), lextra = rd16(l + 28);
    if (lname != name_len || !has(z, lho + LOCAL_SIZE, lname) ||
        memcmp(l + LOCAL_SIZE, name, name_len) != 0)
        return wr_fail(WR_E_FORMAT,
                       "%s: zip: entry '%.*s': the local header at offset %llu names another "
                       "entry",
                       z->path, nl, name, (unsigned long long)lho);
    uint64_t data = lho + LOCAL_SIZE + lname + lextra;
    if (!has(z, data, uncomp))
        return wr_fail(WR_E_FORMAT,
                       "%s: zip: entry '%.*s': data [%llu, +%llu) lies beyond the end of the "
                       "file (%zu bytes)",
                       z->path, nl, name, (unsigned long long)data, (unsigned long long)uncomp,
                       z->size);
    z->entries[idx] = (wr_zip_entry){
        .name = name, .name_len = name_len, .data_offset = data, .size = uncomp};
    *pos = p + total;
    return WR_OK;
}

static int cmp_name(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int cmp_entry(const void *a, const void *b)
{
    const wr_zip_entry *x = *(const wr_zip_entry *const *)a, *y = *(const wr_zip_entry *const *)b;
    return cmp_name(x->name, x->name_len, y->name, y->name_len);
}

wr_status wr_zip_open(wr_zip *z, const char *path, const uint8_t *data, size_t size)
{
    wr_status st;
    memset(z, 0, sizeof *z);
    z->path = path;
    z->data = data;
    z->size = size;
    end_info end = {0};
    WR_TRY(find_end(z, &end));
    /* n_total <= cd_size / 46 <= file size / 46, so these allocations are bounded. */
    size_t n = (size_t)end.n_total;
    z->entries = calloc(n ? n : 1, sizeof *z->entries);
    z->by_name = calloc(n ? n : 1, sizeof *z->by_name);
    if (!z->entries || !z->by_name) {
        st = wr_fail(WR_E_OOM, "%s: zip: out of memory for %zu entries", path, n);
        goto fail;
    }
    uint64_t pos = end.cd_offset, cd_end = end.cd_offset + end.cd_size;
    for (size_t i = 0; i < n; i++) {
        WR_TRY_GOTO(read_entry(z, &pos, cd_end, (int64_t)i));
        z->by_name[i] = &z->entries[i];
    }
    z->n_entries = (int64_t)n;
    qsort(z->by_name, n, sizeof *z->by_name, cmp_entry);
    for (size_t i = 1; i < n; i++)
        if (cmp_entry(&z->by_name[i - 1], &z->by_name[i]) == 0) {
            const wr_zip_entry *d = z->by_name[i];
            st = wr_fail(WR_E_FORMAT, "%s: zip: duplicate entry '%.*s'", path,
                         d->name_len > 200 ? 200 : (int)d->name_len, d->name);
            goto fail;
        }
    return WR_OK;
fail:
    wr_zip_close(z);
    return st;
}

void wr_zip_close(wr_zip *z)
{
    if (!z)
        return;
    free(z->entries);
    free(z->by_name);
    memset(z, 0, sizeof *z);
}

const wr_zip_entry *wr_zip_find(const wr_zip *z, const char *name, size_t len)
{
    int64_t lo = 0, hi = z->n_entries;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const wr_zip_entry *e = z->by_name[mid];
        int c = cmp_name(e->name, e->name_len, name, len);
        if (c == 0)
            return e;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
