/* See gpu_memstat.h. Linear probing with backward-shift deletion, so no tombstones. */
#include "runtime/gpu/gpu_memstat.h"

#include <stdint.h>
#include <stdlib.h>

static size_t slot_of(const wr_gpu_memstat *m, const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (m->cap - 1);
}

static int grow(wr_gpu_memstat *m)
{
    size_t old_cap = m->cap, cap = old_cap ? old_cap * 2 : 256;
    wr_gpu_memslot *old = m->slots, *s = calloc(cap, sizeof *s);
    if (!s)
        return 0;
    m->slots = s, m->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].ptr) {
            size_t j = slot_of(m, old[i].ptr);
            while (s[j].ptr)
                j = (j + 1) & (cap - 1);
            s[j] = old[i];
        }
    free(old);
    return 1;
}

int wr_gpu_memstat_add(wr_gpu_memstat *m, void *ptr, size_t bytes)
{
    if (!ptr)
        return 1;
    if ((m->count + 1) * 2 > m->cap && !grow(m))
        return 0;
    size_t j = slot_of(m, ptr);
    while (m->slots[j].ptr)
        j = (j + 1) & (m->cap - 1);
    m->slots[j].ptr = ptr, m->slots[j].bytes = bytes;
    m->count++;
    m->in_use += bytes;
    if (m->in_use > m->peak)
        m->peak = m->in_use;
    return 1;
}

void wr_gpu_memstat_remove(wr_gpu_memstat *m, void *ptr)
{
    if (!ptr || !m->cap)
        return;
    size_t j = slot_of(m, ptr);
    while (m->slots[j].ptr && m->slots[j].ptr != ptr)
        j = (j + 1) & (m->cap - 1);
    if (!m->slots[j].ptr)
        return;
    m->in_use -= m->slots[j].bytes;
    m->count--;
    m->slots[j].ptr = NULL;
    for (size_t k = (j + 1) & (m->cap - 1); m->slots[k].ptr; k = (k + 1) & (m->cap - 1)) {
        size_t home = slot_of(m, m->slots[k].ptr);
        /* move k back into the hole when its home does not lie cyclically in (j, k] */
        if ((k > j && (home <= j || home > k)) || (k < j && (home <= j && home > k))) {
            m->slots[j] = m->slots[k];
            m->slots[k].ptr = NULL;
            j = k;
        }
    }
}

void wr_gpu_memstat_free(wr_gpu_memstat *m)
{
    free(m->slots);
    *m = (wr_gpu_memstat){0};
}
