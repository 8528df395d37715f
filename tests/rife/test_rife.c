/* RIFE 4.7 against the ComfyUI node's outputs (../shared/golden/post): every case, from the
 * .pth and the safetensors weights; identical frames interpolate to themselves. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rife/rife.h"
#include "tests/common/testutil.h"

/* README: a correct fp32 implementation lands within max_abs 5e-5, mean_abs 5e-6. */
static void run_case(const rife *m, const char *file)
{
    char rel[256];
    snprintf(rel, sizeof rel, "golden/post/%s", file);
    wr_weightfile cs;
    wr_test_open(&cs, wr_test_shared(rel));
    const wr_wtensor *i0t = wr_weightfile_find(&cs, "img0");
    int n = (int)i0t->t.ne[3], h = (int)i0t->t.ne[1], w = (int)i0t->t.ne[0];
    int64_t cnt;
    float *a = wr_test_load_f32(&cs, "img0", &cnt), *b = wr_test_load_f32(&cs, "img1", &cnt);
    float *ts = wr_test_load_f32(&cs, "timestep", &cnt), *want = wr_test_load_f32(&cs, "output", &cnt);
    const char *sf = wr_weightfile_meta(&cs, "scale_factor"), *ens = wr_weightfile_meta(&cs, "ensemble");
    float *got = malloc((size_t)cnt * sizeof *got);
    size_t per = (size_t)3 * h * w;
    for (int i = 0; i < n; i++)
        cr_assert_eq(rife_interpolate(m, a + i * per, b + i * per, h, w, ts[i], sf ? strtof(sf, NULL) : 1.0f,
                                      ens && !strcmp(ens, "True"), got + i * per), WR_OK, "%s", wr_last_error());
    wr_test_err e = wr_test_compare(got, want, cnt);
    double mean = 0;
    for (int64_t i = 0; i < cnt; i++)
        mean += fabs((double)got[i] - (double)want[i]);
    mean /= (double)cnt;
    cr_assert_leq(e.max_abs, 5e-5, "%s: max abs %g", file, e.max_abs);
    cr_assert_leq(mean, 5e-6, "%s: mean abs %g", file, mean);
    free(a), free(b), free(ts), free(want), free(got);
    wr_weightfile_close(&cs);
}

static const char *const cases[] = {
    "rife47_64x64_t0.5.safetensors",          "rife47_64x64_t0.333.safetensors",
    "rife47_72x40_t0.5.safetensors",          "rife47_72x40_t0.5_scale0.5.safetensors",
    "rife47_72x40_t0.5_scale2.safetensors",   "rife47_64x64_t0.5_ensemble.safetensors",
    "rife47_pattern96x64_shift2_t0.5.safetensors", "rife47_batch2_48x32_t0.25_0.75.safetensors",
};

Test(rife, golden_cases_from_pth_and_safetensors, .timeout = 300)
{
    const char *weights[2] = {"golden/post/rife47_weights.pth", "golden/post/rife47_weights.safetensors"};
    for (int wi = 0; wi < 2; wi++) {
        wr_weightfile wf;
        wr_test_open(&wf, wr_test_shared(weights[wi]));
        rife *m;
        cr_assert_eq(rife_load(&m, &wf), WR_OK, "%s", wr_last_error());
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            if (wi == 0 || c == 0) /* both weight files for one case; all cases from the .pth */
                run_case(m, cases[c]);
        rife_free(m);
        wr_weightfile_close(&wf);
    }
}

Test(rife, identical_frames_give_that_frame, .timeout = 60)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/post/rife47_weights.safetensors"));
    rife *m;
    cr_assert_eq(rife_load(&m, &wf), WR_OK);
    /* the golden weights are random, so their flows are arbitrary: a frame that is constant per
     * channel is unchanged by any warp (border clamping, weights summing to one), so identical
     * frames must come back exactly whatever the flow and mask (64x64: no zero padding that a
     * flow could pull in) */
    static float img[3 * 64 * 64], out[3 * 64 * 64];
    const float rgb[3] = {0.2f, 0.55f, 0.9f};
    for (int i = 0; i < 3 * 64 * 64; i++)
        img[i] = rgb[i / (64 * 64)];
    cr_assert_eq(rife_interpolate(m, img, img, 64, 64, 0.5f, 1.0f, false, out), WR_OK);
    for (int i = 0; i < 3 * 64 * 64; i++)
        cr_assert_float_eq(out[i], img[i], 2e-6f, "element %d: %g", i, (double)out[i]);
    cr_assert_eq(rife_interpolate(m, img, img, 64, 64, 0.3f, 2.0f, true, out), WR_OK);
    for (int i = 0; i < 3 * 64 * 64; i++)
        cr_assert_float_eq(out[i], img[i], 2e-6f, "ensemble element %d", i);
    cr_assert_eq(rife_interpolate(m, img, img, 64, 64, 1.5f, 1.0f, false, out), WR_E_ARG);
    /* scale 0.25 needs a padding multiple of 128: the first IFBlock returns 128x128 for 64x64 (the
     * node's torch.cat refuses it; this used to read past the flow planes) */
    cr_assert_eq(rife_interpolate(m, img, img, 64, 64, 0.5f, 0.25f, false, out), WR_E_UNSUPPORTED);
    cr_assert(strstr(wr_last_error(), "padding multiple"), "%s", wr_last_error());
    rife_free(m);
    wr_weightfile_close(&wf);
    wr_test_open(&wf, wr_test_shared("golden/dit/dit_t2v_weights.safetensors"));
    cr_assert_eq(rife_load(&m, &wf), WR_E_FORMAT);
    cr_assert(strstr(wr_last_error(), "not a RIFE"));
    wr_weightfile_close(&wf);
}
