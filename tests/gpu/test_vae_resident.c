/* The Wan 2.1 and 2.2 VAE decodes with their volumes in device buffers (vae/volume.h residency on a GPU
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
#include "vae/vae22.h"

static vae_vol load_vol(const wr_weightfile *cs, const char *name)
{
    const wr_wtensor *t = wr_weightfile_find(cs, name);
    cr_assert_not_null(t, "%s missing", name);
    return (vae_vol){.c = (int)t->t.ne[3], .t = (int)t->t.ne[2], .h = (int)t->t.ne[1], .w = (int)t->t.ne[0],
                     .d = wr_test_load_f32(cs, name, NULL)};
}

typedef struct vae_api {
    const char *name, *weights, *case_file;
    wr_status (*load)(void **m, const wr_weightfile *wf);
    wr_status (*decode)(const void *m, const vae_vol *latent, vae_vol *video);
    void (*free)(void *m);
    const char *extra_kernel; /* a kernel only this VAE's decode launches, or NULL */
} vae_api;

static wr_status v21_load(void **m, const wr_weightfile *wf) { return vae21_load((vae21 **)m, wf); }
static wr_status v21_decode(const void *m, const vae_vol *l, vae_vol *v) { return vae21_decode(m, l, v); }
static void v21_free(void *m) { vae21_free(m); }
static wr_status v22_load(void **m, const wr_weightfile *wf) { return vae22_load((vae22 **)m, wf); }
static wr_status v22_decode(const void *m, const vae_vol *l, vae_vol *v) { return vae22_decode(m, l, v); }
static void v22_free(void *m) { vae22_free(m); }

/* Decodes lat, returning the host operand bytes the decode's ops were handed. */
static size_t decode_counting(const vae_api *api, const void *m, const vae_vol *lat, vae_vol *out)
{
    size_t before = wr_backend_gpu_host_operand_bytes();
    cr_assert_eq(api->decode(m, lat, out), WR_OK, "%s", wr_last_error());
    return wr_backend_gpu_host_operand_bytes() - before;
}

static void resident_equals_staged(const vae_api *api)
{
    wr_backend_select(wr_test_gpu_backend());
    wr_weightfile wf, cs;
    wr_test_open(&wf, wr_test_shared(api->weights));
    wr_test_open(&cs, wr_test_shared(api->case_file));
    void *m;
    cr_assert_eq(api->load(&m, &wf), WR_OK, "%s", wr_last_error());
    vae_vol lat = load_vol(&cs, "output.latent"), want = load_vol(&cs, "output.decoded");
    vae_vol staged, got;

    vae_set_host_volumes(1);
    size_t staged_bytes = decode_counting(api, m, &lat, &staged);
    vae_set_host_volumes(0);
    wr_gpu *g = wr_backend_gpu_device();
    size_t in_use = wr_gpu_mem_in_use(g);
    size_t resident_bytes = decode_counting(api, m, &lat, &got);
    if (getenv("WANRT_TEST_VERBOSE"))
        fprintf(stderr, "%s decode: host operand bytes staged %zu, resident %zu\n", api->name, staged_bytes,
                resident_bytes);
    cr_assert_gt(staged_bytes, 0, "the staged reference must stage its operands");
    cr_assert_eq(resident_bytes, 0, "%zu host operand bytes reached ops during the resident decode", resident_bytes);
    cr_assert_eq(wr_gpu_mem_in_use(g), in_use, "the decode left device memory allocated");
    cr_assert(!got.dev && !staged.dev, "decoded videos are host volumes");
    static const char *const entries[] = {"conv3d_f32", "channel_rms_norm_f32", "upsample_nearest2x_f32",
                                          "ew_binary_f32", "scalar_f32", "transpose_f32"};
    for (size_t k = 0; k < sizeof entries / sizeof entries[0]; k++)
        cr_assert_gt(wr_gpu_launch_count(g, entries[k]), 0, "%s never launched", entries[k]);
    if (api->extra_kernel)
        cr_assert_gt(wr_gpu_launch_count(g, api->extra_kernel), 0, "%s never launched", api->extra_kernel);

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
    api->free(m);
    wr_weightfile_close(&wf), wr_weightfile_close(&cs);
    wr_backend_gpu_close();
}

Test(vae_resident, vae21_decode_equals_staged, .timeout = 300)
{
    vae_api api = {"vae21", "golden/vae21/vae21_weights.safetensors", "golden/vae21/vae21_f5_32x32.safetensors",
                   v21_load, v21_decode, v21_free, NULL};
    resident_equals_staged(&api);
}

Test(vae_resident, vae22_decode_equals_staged, .timeout = 300)
{
    vae_api api = {"vae22", "golden/vae22/vae22_weights.safetensors", "golden/vae22/vae22_f5_32x32.safetensors",
                   v22_load, v22_decode, v22_free, "dup_up3d_f32"};
    resident_equals_staged(&api);
}
