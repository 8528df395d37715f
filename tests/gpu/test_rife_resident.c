/* RIFE with its images in device buffers and its weights placed (rife/rife.c on a GPU backend):
 * the same output, bit for bit, as the staged run whose images are host arrays copied per op
 * (rife_set_host_images), no host operand reaching an op during an interpolation (only the two
 * padded frames go up through wr_buffer_write and the padded result comes back through
 * wr_buffer_read), the golden output within the README's 5e-5, and a second pair that allocates
 * no device memory (the model's pool hands the first pair's image buffers out again) and gives
 * the same bits — on the emulator here, on CUDA in make test-gpu. Cases: the plain 72x40 golden pair and the 64x64 ensemble one (the
 * reverse passes, the flow swap and the mask merges). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rife/rife.h"
#include "runtime/backend.h"
#include "runtime/gpu/backend_gpu.h"
#include "tests/common/testutil.h"

static void resident_equals_staged(const char *case_rel)
{
    wr_backend_select(wr_test_gpu_backend());
    wr_weightfile wf, cs;
    wr_test_open(&wf, wr_test_shared("golden/post/rife47_weights.safetensors"));
    wr_test_open(&cs, wr_test_shared(case_rel));
    rife *m;
    cr_assert_eq(rife_load(&m, &wf), WR_OK, "%s", wr_last_error());
    const wr_wtensor *i0t = wr_weightfile_find(&cs, "img0");
    int h = (int)i0t->t.ne[1], w = (int)i0t->t.ne[0];
    const char *ens = wr_weightfile_meta(&cs, "ensemble");
    bool ensemble = ens && !strcmp(ens, "True");
    cr_assert_eq(ensemble, strstr(case_rel, "ensemble") != NULL, "%s: ensemble metadata '%s'", case_rel, ens ? ens : "");
    int64_t n, nt;
    float *a = wr_test_load_f32(&cs, "img0", &n), *b = wr_test_load_f32(&cs, "img1", &n);
    float *ts = wr_test_load_f32(&cs, "timestep", &nt), *want = wr_test_load_f32(&cs, "output", &n);
    n = 3 * (int64_t)h * w; /* the first pair of the case */
    float *staged = malloc((size_t)n * sizeof *staged), *got = malloc((size_t)n * sizeof *got);

    rife_set_host_images(true);
    size_t before = wr_backend_gpu_host_operand_bytes();
    cr_assert_eq(rife_interpolate(m, a, b, h, w, ts[0], 1.0f, ensemble, staged), WR_OK, "%s", wr_last_error());
    size_t staged_bytes = wr_backend_gpu_host_operand_bytes() - before;
    rife_set_host_images(false);
    cr_assert_gt(staged_bytes, 0, "the staged reference must stage its images");

    before = wr_backend_gpu_host_operand_bytes();
    cr_assert_eq(rife_interpolate(m, a, b, h, w, ts[0], 1.0f, ensemble, got), WR_OK, "%s", wr_last_error());
    size_t resident_bytes = wr_backend_gpu_host_operand_bytes() - before;
    if (getenv("WANRT_TEST_VERBOSE"))
        fprintf(stderr, "%s: host operand bytes staged %zu, resident %zu\n", case_rel, staged_bytes, resident_bytes);
    cr_assert_eq(resident_bytes, 0, "%s: %zu host operand bytes reached ops", case_rel, resident_bytes);
    for (int64_t i = 0; i < n; i++)
        cr_assert(memcmp(&got[i], &staged[i], sizeof(float)) == 0, "%s: element %lld: resident %a, staged %a", case_rel,
                  (long long)i, (double)got[i], (double)staged[i]);
    wr_gpu *g = wr_backend_gpu_device();
    size_t in_use = wr_gpu_mem_in_use(g);
    wr_gpu_mem_peak_reset(g);
    float *again = malloc((size_t)n * sizeof *again);
    cr_assert_eq(rife_interpolate(m, a, b, h, w, ts[0], 1.0f, ensemble, again), WR_OK, "%s", wr_last_error());
    cr_assert_eq(wr_gpu_mem_peak(g), in_use, "%s: the second pair allocated device memory (peak %zu, before %zu)",
                 case_rel, wr_gpu_mem_peak(g), in_use);
    cr_assert_eq(wr_gpu_mem_in_use(g), in_use);
    cr_assert_eq(wr_backend_gpu_host_operand_bytes() - before, 0);
    cr_assert(memcmp(again, got, (size_t)n * sizeof *got) == 0, "%s: the second pair differs", case_rel);
    free(again);

    wr_test_err e = wr_test_compare(got, want, n);
    cr_assert_eq(e.nan_mismatch, 0);
    cr_assert_leq(e.max_abs, 5e-5, "%s: max abs %g against the golden output", case_rel, e.max_abs);

    static const char *const entries[] = {"conv3d_f32", "conv_transpose2d_f32", "resize_bilinear_f32", "warp_f32",
                                          "scalar_f32", "channel_scale_add_f32", "pixel_shuffle_f32", "mask_blend_f32",
                                          "ew_binary_f32"};
    for (size_t k = 0; k < sizeof entries / sizeof entries[0]; k++)
        cr_assert_gt(wr_gpu_launch_count(g, entries[k]), 0, "%s never launched", entries[k]);
    free(a), free(b), free(ts), free(want), free(staged), free(got);
    rife_free(m);
    wr_weightfile_close(&wf), wr_weightfile_close(&cs);
    wr_backend_gpu_close();
}

Test(rife_resident, golden_72x40_equals_staged, .timeout = 300)
{
    resident_equals_staged("golden/post/rife47_72x40_t0.5.safetensors");
}

Test(rife_resident, ensemble_64x64_equals_staged, .timeout = 300)
{
    resident_equals_staged("golden/post/rife47_64x64_t0.5_ensemble.safetensors");
}
