/* The Wan 2.1 VAE decode with its volumes in device buffers (vae/volume.h residency on a GPU
 * backend): the same frames, bit for bit, as the staged decode whose volumes are host arrays
 * copied per op (vae_set_host_volumes), no host operand reaching an op during the decode (the
 * weights are placed; only latent frames go up through wr_buffer_write and decoded frames come
 * down through wr_buffer_read), no device memory left allocated, and the golden frames within
 * the CPU test's 2e-5 — on the emulator here, on CUDA in make test-gpu. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "runtime/gpu/backend_gpu.h"
#include "tests/common/testutil.h"
#include "vae/vae21.h"

static vae_vol load_vol(const wr_weightfile *cs, const char *name)
{
    const wr_wtensor *t = wr_weightfile_find(cs, name);
    cr_assert_not_null(t, "%s missing", name);
    return (vae_vol){.c = (int)t->t.ne[3], .t = (int)t->t.ne[2], .h = (int)t->t.ne[1], .w = (int)t->t.ne[0],
                     .d = wr_test_load_f32(cs, name, NULL)};
}

/* Decodes lat, returning the host operand bytes the decode's ops were handed. */
static size_t decode_counting(const vae21 *m, const vae_vol *lat, vae_vol *out)
{
    size_t before = wr_backend_gpu_host_operand_bytes();
    cr_assert_eq(vae21_decode(m, lat, out), WR_OK, "%s", wr_last_error());
    return wr_backend_gpu_host_operand_bytes() - before;
}

Test(vae_resident, vae21_decode_equals_staged, .timeout = 300)
{
    wr_backend_select(wr_test_gpu_backend());
    wr_weightfile wf, cs;
    wr_test_open(&wf, wr_test_shared("golden/vae21/vae21_weights.safetensors"));
    wr_test_open(&cs, wr_test_shared("golden/vae21/vae21_f5_32x32.safetensors"));
    vae21 *m;
    cr_assert_eq(vae21_load(&m, &wf), WR_OK, "%s", wr_last_error());
    vae_vol lat = load_vol(&cs, "output.latent"), want = load_vol(&cs, "output.decoded");
    vae_vol staged, got;

    vae_set_host_volumes(1);
    size_t staged_bytes = decode_counting(m, &lat, &staged);
    vae_set_host_volumes(0);
    wr_gpu *g = wr_backend_gpu_device();
    size_t in_use = wr_gpu_mem_in_use(g);
    size_t resident_bytes = decode_counting(m, &lat, &got);
    if (getenv("WANRT_TEST_VERBOSE"))
        fprintf(stderr, "vae21 decode: host operand bytes staged %zu, resident %zu\n", staged_bytes, resident_bytes);
    cr_assert_gt(staged_bytes, 0, "the staged reference must stage its operands");
    cr_assert_eq(resident_bytes, 0, "%zu host operand bytes reached ops during the resident decode", resident_bytes);
    cr_assert_eq(wr_gpu_mem_in_use(g), in_use, "the decode left device memory allocated");
    cr_assert(!got.dev && !staged.dev, "decoded videos are host volumes");
    static const char *const entries[] = {"conv3d_f32", "channel_rms_norm_f32", "upsample_nearest2x_f32",
                                          "ew_binary_f32", "scalar_f32", "transpose_f32"};
    for (size_t k = 0; k < sizeof entries / sizeof entries[0]; k++)
        cr_assert_gt(wr_gpu_launch_count(g, entries[k]), 0, "%s never launched", entries[k]);

    int64_t n = (int64_t)vae_vol_size(&got);
    cr_assert_eq(n, (int64_t)vae_vol_size(&staged));
    for (int64_t i = 0; i < n; i++)
        cr_assert(memcmp(&got.d[i], &staged.d[i], sizeof(float)) == 0, "element %lld: resident %a, staged %a",
                  (long long)i, (double)got.d[i], (double)staged.d[i]);
    wr_test_err e = wr_test_compare(got.d, want.d, n);
    cr_assert_eq(e.nan_mismatch, 0);
    cr_assert_leq(e.rel_to_max, 2e-5, "vs golden: rel to max %g", e.rel_to_max);

    vae_vol_free(&staged), vae_vol_free(&got);
    free(lat.d), free(want.d);
    vae21_free(m);
    wr_weightfile_close(&wf), wr_weightfile_close(&cs);
    wr_backend_gpu_close();
}
