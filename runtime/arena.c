/* Bump allocator with marks and peak accounting (see arena.h). */
#include "runtime/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

wr_status wr_arena_init(wr_arena *a, const char *name, size_t capacity)
{
    memset(a, 0, sizeof *a);
    a->name = name;
    size_t rounded = (capacity + WR_ARENA_ALIGN - 1) / WR_ARENA_ALIGN * WR_ARENA_ALIGN;
    if (rounded < capacity)
        return wr_fail(WR_E_OOM, "%s: %zu bytes is too large", name, capacity);
    a->base = rounded ? aligned_alloc(WR_ARENA_ALIGN, rounded) : NULL;
    if (rounded && !a->base)
        return wr_fail(WR_E_OOM, "%s: cannot reserve %zu MB", name, rounded >> 20);
    a->capacity = rounded;
    return WR_OK;
}

void wr_arena_free(wr_arena *a)
{
    if (!a)
        return;
    free(a->base);
    memset(a, 0, sizeof *a);
}

void *wr_arena_push(wr_arena *a, size_t n)
{
    size_t size = (n + WR_ARENA_ALIGN - 1) / WR_ARENA_ALIGN * WR_ARENA_ALIGN;
    if (size < n || size > a->capacity - a->used) {
        wr_fail(WR_E_OOM, "%s: %zu more bytes do not fit (%zu of %zu used)", a->name ? a->name : "arena", n,
                a->used, a->capacity);
        return NULL;
    }
    void *p = a->base + a->used;
    a->used += size;
    if (a->used > a->peak)
        a->peak = a->used;
    return p;
}

float *wr_arena_push_f32(wr_arena *a, size_t n)
{
    if (n > SIZE_MAX / sizeof(float)) {
        wr_fail(WR_E_OOM, "%s: %zu floats overflow", a->name ? a->name : "arena", n);
        return NULL;
    }
    return wr_arena_push(a, n * sizeof(float));
}

void wr_arena_release(wr_arena *a, size_t mark)
{
    WR_ASSERT(mark <= a->used, "arena %s: release to %zu past the top %zu", a->name ? a->name : "", mark, a->used);
    a->used = mark;
}
