/* Tiled SeedVR2 VAE passes (numz's tiling, ../shared/specs/seedvr2.md 3.11): the ramp weights
 * by hand, a covering tile equal to the untiled pass bit for bit, and small tiles within a
 * measured seam bound of the untiled pass on the tiny golden-config VAE. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tests/common/testutil.h"
#include "upscale/svr_vae_tiling.h"

static wr_weightfile wf;
static upscale_vae *vae;

static void setup(void)
{
    wr_test_open(&wf, wr_test_shared("golden/post/seedvr2_vae_tiny_weights.safetensors"));
    cr_assert_eq(upscale_vae_load(&vae, &wf, 0), WR_OK, "%s", wr_last_error());
}

static void teardown(void)
{
    upscale_vae_free(vae);
    wr_weightfile_close(&wf);
}

TestSuite(svr_vae_tiling, .init = setup, .fini = teardown, .timeout = 120);

Test(svr_vae_tiling, ramp_weights_by_hand)
{
    float w[6];
    upscale_vae_tile_weights(5, 3, 0, 0, w); /* r = 0.5 − 0.5·cos(π·i/2) = 0, 0.5, 1 */
    const float inner[5] = {0, 0.5f, 1, 0.5f, 0};
    for (int i = 0; i < 5; i++)
        cr_assert_float_eq(w[i], inner[i], 1e-6, "inner %d: %g", i, (double)w[i]);
    upscale_vae_tile_weights(5, 3, 1, 0, w);
    const float left[5] = {1, 1, 1, 0.5f, 0};
    for (int i = 0; i < 5; i++)
        cr_assert_float_eq(w[i], left[i], 1e-6, "left edge %d", i);
    upscale_vae_tile_weights(3, 8, 0, 1, w); /* ov = min(8, 2): the first 2 of an 8-step ramp */
    cr_assert_float_eq(w[0], 0.0f, 1e-6);
    cr_assert_float_eq(w[1], (float)(0.5 - 0.5 * cos(M_PI / 7)), 1e-6);
    cr_assert_float_eq(w[2], 1.0f, 0);
    upscale_vae_tiling t;
    cr_assert_eq(upscale_vae_tiling_parse("1024,128", &t), WR_OK);
    cr_assert(t.tile_px == 1024 && t.overlap_px == 128);
    cr_assert_eq(upscale_vae_tiling_parse("512", &t), WR_OK);
    cr_assert(t.tile_px == 512 && t.overlap_px == 128);
    cr_assert_eq(upscale_vae_tiling_parse("off", &t), WR_OK);
    cr_assert_eq(t.tile_px, 0);
    cr_assert_eq(upscale_vae_tiling_parse("100,10", &t), WR_E_ARG, "not a multiple of 8");
    cr_assert_eq(upscale_vae_tiling_parse("64,64", &t), WR_E_ARG, "overlap as large as the tile");
    cr_assert_eq(upscale_vae_tiling_parse("64x", &t), WR_E_ARG);
}

static double max_diff(const vae_vol *a, const vae_vol *b, double *scale)
{
    cr_assert(a->c == b->c && a->t == b->t && a->h == b->h && a->w == b->w);
    double d = 0, s = 0;
    for (size_t i = 0; i < vae_vol_size(a); i++) {
        d = fmax(d, fabs((double)a->d[i] - (double)b->d[i]));
        s = fmax(s, fabs((double)b->d[i]));
    }
    *scale = s;
    return d;
}

Test(svr_vae_tiling, covering_tile_is_exact_small_tiles_bounded)
{
    vae_vol video = {0}, m0 = {0}, m1 = {0}, d0 = {0}, d1 = {0}, mean = {0}, std = {0};
    cr_assert_eq(vae_vol_alloc(&video, 3, 5, 48, 64), WR_OK);
    uint64_t s = 3;
    for (size_t i = 0; i < vae_vol_size(&video); i++)
        video.d[i] = wr_test_uniform(&s, -1, 1);
    cr_assert_eq(upscale_vae_encode(vae, &video, 0, &m0), WR_OK, "%s", wr_last_error());
    upscale_vae_tiling cover = {.tile_px = 64, .overlap_px = 16}, small = {.tile_px = 32, .overlap_px = 16};
    cr_assert_eq(upscale_vae_encode_tiled(vae, &video, 0, &cover, &m1), WR_OK, "%s", wr_last_error());
    double scale, d = max_diff(&m1, &m0, &scale);
    cr_assert_eq(d, 0.0, "a covering tile must be the untiled encode (diff %g)", d);
    vae_vol_free(&m1);
    cr_assert_eq(upscale_vae_encode_tiled(vae, &video, 0, &small, &m1), WR_OK, "%s", wr_last_error());
    d = max_diff(&m1, &m0, &scale);
    /* measured: 0.51 of max|moments| (encode) and 0.86 of max|video| (decode) with 32 px tiles
     * overlapping by 16 on a 64x48 frame: the mid-block attention spans the whole frame and the
     * random-init weights are not smooth, so tiny tiles are far from the full pass (64/48 px
     * tiles on 128x64: 0.15). Bounds are the measured values + 25 %. */
    cr_assert_leq(d / scale, 0.64, "tiled encode seam error %g of %g", d, scale);
    cr_assert_gt(d, 0.0, "small tiles were not used");
    cr_assert_eq(upscale_vae_posterior(&m0, &mean, &std), WR_OK);
    cr_assert_eq(upscale_vae_decode(vae, &mean, 0, &d0), WR_OK, "%s", wr_last_error());
    cr_assert_eq(upscale_vae_decode_tiled(vae, &mean, 0, &cover, &d1), WR_OK, "%s", wr_last_error());
    d = max_diff(&d1, &d0, &scale);
    cr_assert_eq(d, 0.0, "a covering tile must be the untiled decode (diff %g)", d);
    vae_vol_free(&d1);
    cr_assert_eq(upscale_vae_decode_tiled(vae, &mean, 0, &small, &d1), WR_OK, "%s", wr_last_error());
    d = max_diff(&d1, &d0, &scale);
    cr_assert_leq(d / scale, 1.08, "tiled decode seam error %g of %g", d, scale);
    cr_assert_gt(d, 0.0);
    vae_vol_free(&video), vae_vol_free(&m0), vae_vol_free(&m1), vae_vol_free(&d0), vae_vol_free(&d1);
    vae_vol_free(&mean), vae_vol_free(&std);
}
