/* Arena allocation for activations and scratch (STYLE.md 9.4): one buffer, a bump pointer,
 * marks to release back to, and peak accounting so a run can report (and plan) its memory. */
#ifndef WR_ARENA_H
#define WR_ARENA_H

#include <stddef.h>

#include "runtime/err.h"

#define WR_ARENA_ALIGN 64

typedef struct wr_arena {
    unsigned char *base; /* owned, WR_ARENA_ALIGN-aligned */
    size_t capacity, used, peak;
    const char *name;    /* for messages, e.g. "DiT activations" */
} wr_arena;

/* Reserves capacity bytes. Errors: WR_E_OOM naming the arena and size. */
wr_status wr_arena_init(wr_arena *a, const char *name, size_t capacity);
/* Accepts a zeroed arena. */
void wr_arena_free(wr_arena *a);

/* n bytes aligned to WR_ARENA_ALIGN, or NULL with WR_E_OOM recorded when it does not fit. */
void *wr_arena_push(wr_arena *a, size_t n);
/* Typed helper: n floats. */
float *wr_arena_push_f32(wr_arena *a, size_t n);

static inline size_t wr_arena_mark(const wr_arena *a) { return a->used; }
/* Frees everything pushed after mark (a mark taken from this arena). */
void wr_arena_release(wr_arena *a, size_t mark);
/* Frees everything; the peak is kept. */
static inline void wr_arena_reset(wr_arena *a) { a->used = 0; }

#endif
