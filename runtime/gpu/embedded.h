/* Kernel sources embedded at build time by tools/embed.c (build/gen/kernels_embed.c). */
#ifndef WR_EMBEDDED_H
#define WR_EMBEDDED_H

#include <stddef.h>

typedef struct wr_embedded_file {
    const char *path;  /* repository-relative, e.g. "kernels/norm.cu" */
    const char *bytes; /* NUL-terminated */
    size_t size;       /* without the NUL */
} wr_embedded_file;

/* Terminated by an entry with path == NULL. */
extern const wr_embedded_file wr_embedded_kernels[];

#endif
