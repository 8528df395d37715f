/* Device memory accounting: the pointer table against a plain list under random alloc/free
 * churn (with table growth and backward-shift deletions), and through the emulated device. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "runtime/gpu/gpu.h"
#include "runtime/gpu/gpu_memstat.h"
#include "tests/gpu/gpu_test.h"

Test(memstat, table_matches_a_plain_list_under_churn)
{
    enum { N = 3000 };
    static uintptr_t live[N];
    static size_t sizes[N];
    int n = 0;
    size_t in_use = 0, peak = 0;
    wr_gpu_memstat m = {0};
    uint64_t s = 1;
    for (int step = 0; step < 20000; step++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        int add = n == 0 || (n < N && (s >> 33) % 3 != 0);
        if (add) {
            uintptr_t p = (uintptr_t)(step + 1) * 256; /* distinct, aligned like device pointers */
            size_t b = (size_t)((s >> 40) % 100000) + 1;
            cr_assert(wr_gpu_memstat_add(&m, (void *)p, b));
            live[n] = p, sizes[n] = b, n++;
            in_use += b;
            peak = in_use > peak ? in_use : peak;
        } else {
            int k = (int)((s >> 20) % (uint64_t)n);
            wr_gpu_memstat_remove(&m, (void *)live[k]);
            in_use -= sizes[k];
            live[k] = live[n - 1], sizes[k] = sizes[n - 1], n--;
        }
        cr_assert_eq(m.in_use, in_use, "step %d", step);
        cr_assert_eq(m.count, (size_t)n);
    }
    cr_assert_eq(m.peak, peak);
    wr_gpu_memstat_remove(&m, (void *)(uintptr_t)12345); /* unknown pointers are ignored */
    cr_assert_eq(m.in_use, in_use);
    wr_gpu_memstat_free(&m);
}

Test(memstat, device_in_use_and_peak)
{
    wr_gpu *g = gt_open(NULL);
    size_t base = wr_gpu_mem_in_use(g);
    void *a, *b, *c;
    gt_check(wr_gpu_alloc(g, 1000, &a), "alloc");
    gt_check(wr_gpu_alloc(g, 5000, &b), "alloc");
    gt_check(wr_gpu_free(g, a), "free");
    gt_check(wr_gpu_alloc(g, 3000, &c), "alloc");
    cr_assert_eq(wr_gpu_mem_in_use(g) - base, 8000);
    cr_assert_geq(wr_gpu_mem_peak(g) - base, 8000);
    gt_check(wr_gpu_free(g, b), "free");
    gt_check(wr_gpu_free(g, c), "free");
    cr_assert_eq(wr_gpu_mem_in_use(g), base);
    wr_gpu_close(g);
}
