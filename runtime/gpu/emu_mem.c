/* The emulator's device memory: host allocations with guard zones (see gpu_emu.c for the
 * contract). Normal mode: 256 guard bytes of 0xa5 before and after each allocation. Debug mode:
 * the allocation is mapped so that its (256-rounded) end touches an inaccessible page, new memory
 * is filled with 0xff bytes (NaN in every float format), and the guard bytes are checked the same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/gpu/emu_internal.h"

#define GUARD 256
#define GUARD_BYTE 0xa5

typedef struct emu_alloc {
    unsigned char *base; /* what was mapped or malloc'd */
    size_t map_bytes;    /* debug: the mapping's size (0 = malloc'd) */
    unsigned char *ptr;  /* the device pointer */
    size_t size;         /* bytes asked for */
    size_t tail;         /* guard bytes after ptr + size */
    struct emu_alloc *next;
} emu_alloc;


/* ---- memory ---------------------------------------------------------------------------------- */

static const char *guard_damage(const emu_alloc *a, size_t *off)
{
    for (size_t i = 0; i < GUARD; i++)
        if (a->ptr[-(ptrdiff_t)GUARD + (ptrdiff_t)i] != GUARD_BYTE) {
            *off = GUARD - i;
            return "before the start";
        }
    for (size_t i = 0; i < a->tail; i++)
        if (a->ptr[a->size + i] != GUARD_BYTE) {
            *off = i;
            return "past the end";
        }
    return NULL;
}

/* Checks every allocation's guard zones; `who` names the kernel or call that ran last. */
wr_status emu_mem_check(const emu_mem *d, const char *who)
{
    for (const emu_alloc *a = d->allocs; a; a = a->next) {
        size_t off = 0;
        const char *where = guard_damage(a, &off);
        if (where)
            return wr_fail(WR_E_DEVICE,
                           "emu: %s wrote %s of the %zu-byte allocation at %p (byte %zu of its guard zone)", who,
                           where, a->size, (void *)a->ptr, off);
    }
    return WR_OK;
}

wr_status emu_mem_alloc(emu_mem *d, size_t bytes, void **dptr)
{
    size_t rounded = (bytes + 255) & ~(size_t)255;
    if (rounded < bytes || rounded > SIZE_MAX / 2)
        return wr_fail(WR_E_OOM, "emu: allocation of %zu bytes is too large", bytes);
    emu_alloc *a = calloc(1, sizeof *a);
    if (!a)
        return wr_fail(WR_E_OOM, "emu: out of memory");
    if (d->debug) {
        /* [guard page][... front guard][rounded bytes][no access page]: data ends at the page */
        size_t pg = (size_t)sysconf(_SC_PAGESIZE);
        size_t body = (GUARD + rounded + pg - 1) / pg * pg;
        a->map_bytes = body + pg;
        a->base = mmap(NULL, a->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (a->base == MAP_FAILED) {
            free(a);
            return wr_fail(WR_E_OOM, "emu: cannot map %zu bytes", bytes);
        }
        mprotect(a->base + body, pg, PROT_NONE);
        a->ptr = a->base + body - rounded;
        memset(a->base, GUARD_BYTE, body);
        memset(a->ptr, 0xff, bytes);
    } else {
        a->base = aligned_alloc(256, GUARD + rounded + GUARD);
        if (!a->base) {
            free(a);
            return wr_fail(WR_E_OOM, "emu: cannot allocate %zu bytes", bytes);
        }
        a->ptr = a->base + GUARD;
        memset(a->base, GUARD_BYTE, GUARD);
        memset(a->ptr + bytes, GUARD_BYTE, rounded - bytes + GUARD);
    }
    a->size = bytes;
    a->tail = (size_t)(a->base + (a->map_bytes ? a->map_bytes - (size_t)sysconf(_SC_PAGESIZE) : GUARD + rounded + GUARD) -
                       (a->ptr + bytes));
    a->next = d->allocs;
    d->allocs = a;
    *dptr = a->ptr;
    return WR_OK;
}

static void release(emu_alloc *a)
{
    if (a->map_bytes)
        munmap(a->base, a->map_bytes);
    else
        free(a->base);
    free(a);
}

wr_status emu_mem_free(emu_mem *d, void *dptr)
{
    for (emu_alloc **pa = &d->allocs; *pa; pa = &(*pa)->next) {
        emu_alloc *a = *pa;
        if (a->ptr != dptr)
            continue;
        size_t off = 0;
        const char *where = guard_damage(a, &off);
        *pa = a->next;
        wr_status st = WR_OK;
        if (where)
            st = wr_fail(WR_E_DEVICE, "emu: free: something wrote %s of the %zu-byte allocation at %p", where, a->size,
                         dptr);
        release(a);
        return st;
    }
    return wr_fail(WR_E_ARG, "emu: free of %p, which is not a device allocation", dptr);
}

void emu_mem_release_all(emu_mem *d)
{
    for (emu_alloc *a = d->allocs, *n; a; a = n) {
        n = a->next;
        release(a);
    }
    d->allocs = NULL;
}
