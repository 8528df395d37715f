/* Device memory accounting for the run summary: bytes allocated through wr_gpu_alloc now and
 * at the peak. The driver's own pools, module code and the context are not counted. */
#ifndef WR_GPU_MEMSTAT_H
#define WR_GPU_MEMSTAT_H

#include <stddef.h>

typedef struct wr_gpu_memslot {
    void *ptr; /* NULL: empty */
    size_t bytes;
} wr_gpu_memslot;

typedef struct wr_gpu_memstat {
    wr_gpu_memslot *slots; /* open addressing by pointer */
    size_t cap, count;
    size_t in_use, peak;
} wr_gpu_memstat;

/* Records an allocation (returns 0 when the table could not grow: the numbers then undercount). */
int wr_gpu_memstat_add(wr_gpu_memstat *m, void *ptr, size_t bytes);
void wr_gpu_memstat_remove(wr_gpu_memstat *m, void *ptr);
void wr_gpu_memstat_free(wr_gpu_memstat *m);

#endif
