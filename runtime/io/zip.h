/* Read-only view of a zip archive held in memory (the container of torch.save files).
 *
 * Only what PyTorch's writer produces is accepted: STORED entries (method 0, no encryption),
 * sizes taken from the central directory (the local headers carry zeros, flag bit 3), ZIP64
 * end records and ZIP64 extended-information fields. Entry data is located through the LOCAL
 * header's name and extra lengths, because the local extra field holds the 64-byte alignment
 * padding that the central one lacks. Reference: PKWARE APPNOTE 6.3 sections 4.3 and 4.5,
 * /work/shared/specs/pth-format.md section 2.
 *
 * Every offset and length is checked against the buffer; names point into the buffer (not
 * NUL-terminated). The zip never owns the buffer. */
#ifndef WR_ZIP_H
#define WR_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"

typedef struct wr_zip_entry {
    const char *name;     /* into the buffer, name_len bytes, not NUL-terminated */
    size_t name_len;
    uint64_t data_offset; /* buffer offset of the first data byte */
    uint64_t size;        /* bytes (stored: compressed size == uncompressed size) */
} wr_zip_entry;

typedef struct wr_zip {
    const char *path;     /* for error messages (not owned) */
    const uint8_t *data;  /* the whole archive (not owned) */
    size_t size;
    int64_t n_entries;
    wr_zip_entry *entries; /* central-directory order */
    const wr_zip_entry **by_name; /* entries sorted by name, for wr_zip_find */
} wr_zip;

/* Parses the end records and the central directory of data[0, size). Errors (WR_E_FORMAT /
 * WR_E_UNSUPPORTED) name `path`, the entry and the offending record. */
wr_status wr_zip_open(wr_zip *z, const char *path, const uint8_t *data, size_t size);
/* Accepts a zeroed struct. */
void wr_zip_close(wr_zip *z);

/* The entry called name[0, len), or NULL. */
const wr_zip_entry *wr_zip_find(const wr_zip *z, const char *name, size_t len);

#endif
