/* Arena: alignment, marks, peak accounting, and a clean failure when full. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "runtime/arena.h"

Test(arena, push_mark_release_peak)
{
    wr_arena a;
    cr_assert_eq(wr_arena_init(&a, "test arena", 1000), WR_OK);
    cr_assert_eq(a.capacity, 1024);
    void *p = wr_arena_push(&a, 10);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % WR_ARENA_ALIGN, 0);
    size_t m = wr_arena_mark(&a);
    float *f = wr_arena_push_f32(&a, 100);
    cr_assert_not_null(f);
    cr_assert_eq((uintptr_t)f % WR_ARENA_ALIGN, 0);
    cr_assert_eq(a.used, 64 + 448);
    wr_arena_release(&a, m);
    cr_assert_eq(a.used, 64);
    cr_assert_eq(a.peak, 512);
    cr_assert_null(wr_arena_push(&a, 2000));
    cr_assert(strstr(wr_last_error(), "test arena"));
    cr_assert_null(wr_arena_push(&a, SIZE_MAX - 10));
    wr_arena_reset(&a);
    cr_assert_eq(a.used, 0);
    cr_assert_eq(a.peak, 512);
    wr_arena_free(&a);
    wr_arena_free(&a); /* idempotent on a zeroed arena */
}
