/* A read-only memory mapping of a whole file: the zero-copy base of every reader. */
#ifndef WR_MAPPED_FILE_H
#define WR_MAPPED_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"

typedef struct wr_mapped_file {
    char *path;          /* owned copy, for error messages */
    const uint8_t *data; /* NULL for an empty file */
    size_t size;
} wr_mapped_file;

/* Errors: WR_E_IO naming the path and the OS reason (missing, directory, unreadable). */
wr_status wr_mapped_file_open(wr_mapped_file *f, const char *path);
/* Accepts a zeroed struct. */
void wr_mapped_file_close(wr_mapped_file *f);

/* True when [offset, offset + len) lies inside the file (overflow-safe). */
static inline int wr_mapped_file_has(const wr_mapped_file *f, uint64_t offset, uint64_t len)
{
    return offset <= f->size && len <= f->size - offset;
}

#endif
