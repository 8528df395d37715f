/* Seeded noise equals PyTorch's CPU torch.randn (../shared/golden/rng). */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "runtime/rng.h"
#include "tests/common/testutil.h"

Test(rng, matches_torch_randn)
{
    const char *cases[] = {"wrapper_seed1", "comfy_seed42", "seed_0_small", "seed_123_odd"};
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/rng/torch_cpu_randn.safetensors"));
    for (int c = 0; c < 4; c++) {
        char name[64];
        snprintf(name, sizeof name, "seed.%s", cases[c]);
        int64_t ns;
        float *seedv = wr_test_load_f32(&wf, name, &ns);
        const wr_wtensor *st = wr_weightfile_find(&wf, name);
        int64_t seed = st->t.dtype == WR_DTYPE_I64 ? *(const int64_t *)st->t.data : (int64_t)seedv[0];
        snprintf(name, sizeof name, "noise.%s", cases[c]);
        int64_t n;
        float *want = wr_test_load_f32(&wf, name, &n);
        float *got = malloc((size_t)n * sizeof *got);
        wr_rng r;
        wr_rng_seed(&r, (uint64_t)seed);
        wr_rng_randn(&r, got, n);
        wr_test_err e = wr_test_compare(got, want, n);
        /* PyTorch's vectorised path uses SLEEF log/sin/cos: a few ulps of difference */
        cr_assert_leq(e.max_abs, 2e-6 * (e.max_ref > 1 ? e.max_ref : 1), "%s (seed %lld): max abs %g at %lld",
                      cases[c], (long long)seed, e.max_abs, (long long)e.worst);
        free(seedv), free(want), free(got);
    }
    wr_weightfile_close(&wf);
}

Test(rng, mt19937_reference_sequence)
{
    /* the 10000th output of the standard mt19937 seeded with 5489 is 4123659995 (C++ std) */
    wr_rng r;
    wr_rng_seed(&r, 5489);
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++)
        v = wr_rng_u32(&r);
    cr_assert_eq(v, 4123659995u);
}
