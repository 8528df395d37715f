/* I2V conditioning (mask + image latent) against WanI2V.generate (../shared/golden/glue). */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "models/wan22/pipeline.h"
#include "tests/common/testutil.h"
#include "vae/vae21.h"

Test(glue, i2v_condition_equals_official, .timeout = 60)
{
    wr_weightfile wf, cs;
    wr_test_open(&wf, wr_test_shared("golden/vae21/vae21_weights.safetensors"));
    wr_test_open(&cs, wr_test_shared("golden/glue/i2v_cond_F9_32x32.safetensors"));
    vae21 *vae;
    cr_assert_eq(vae21_load(&vae, &wf), WR_OK, "%s", wr_last_error());
    int64_t n;
    float *vid = wr_test_load_f32(&cs, "vae_input.video", &n);
    vae_vol video = {.c = 3, .t = 9, .h = 32, .w = 32, .d = vid};
    float *y, *want = wr_test_load_f32(&cs, "y", &n);
    cr_assert_eq(n, 20 * 3 * 4 * 4);
    cr_assert_eq(wan22_cond_from_video(vae, &video, 0, &y), WR_OK, "%s", wr_last_error());
    for (int i = 0; i < 4 * 3 * 16; i++) /* the mask part is exact */
        cr_assert_eq(y[i], want[i], "mask element %d", i);
    wr_test_err e = wr_test_compare(y + 4 * 48, want + 4 * 48, 16 * 48);
    cr_assert_leq(e.rel_to_max, 2e-5, "latent part: max abs %g rel %g", e.max_abs, e.rel_to_max);
    free(y), free(want), free(vid);
    vae21_free(vae);
    wr_weightfile_close(&wf), wr_weightfile_close(&cs);
}

Test(glue, flf2v_mask_marks_first_and_last_frames, .timeout = 60)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/vae21/vae21_weights.safetensors"));
    vae21 *vae;
    cr_assert_eq(vae21_load(&vae, &wf), WR_OK);
    vae_vol video;
    cr_assert_eq(vae_vol_alloc(&video, 3, 9, 16, 16), WR_OK);
    for (size_t i = 0; i < vae_vol_size(&video); i++)
        video.d[i] = 0.0f;
    float *y;
    cr_assert_eq(wan22_cond_from_video(vae, &video, 1, &y), WR_OK);
    /* latent frames 0..2, 2x2 each: frame 0 all four channels; frame 2 only channel 3 (pixel 8) */
    for (int j = 0; j < 4; j++)
        for (int t = 0; t < 3; t++) {
            float want = t == 0 || (t == 2 && j == 3) ? 1.0f : 0.0f;
            cr_assert_eq(y[(j * 3 + t) * 4], want, "channel %d frame %d", j, t);
        }
    free(y);
    vae_vol_free(&video);
    vae21_free(vae);
    wr_weightfile_close(&wf);
}

#include "models/wan22/cond_ti2v.h"

Test(glue, ti2v_init_timesteps_and_reimposition_equal_official)
{
    wr_weightfile cs;
    wr_test_open(&cs, wr_test_shared("golden/glue/ti2v_cond_F9_32x64_t937.safetensors"));
    int64_t n;
    float *z = wr_test_load_f32(&cs, "image_latent_z", &n), *noise = wr_test_load_f32(&cs, "noise", &n);
    float *want_init = wr_test_load_f32(&cs, "latent_init", &n), *mask2 = wr_test_load_f32(&cs, "mask2", &n);
    float *ts = wr_test_load_f32(&cs, "timestep_per_token", &n);
    float *lat_in = wr_test_load_f32(&cs, "after_step.latent_in", &n);
    float *want_re = wr_test_load_f32(&cs, "after_step.latent_reimposed", &n);
    float lat[48 * 3 * 2 * 4], tok[6];
    wan22_ti2v_init(lat, z, noise, 48, 3, 2, 4);
    for (int i = 0; i < 48 * 3 * 2 * 4; i++) {
        cr_assert_eq(lat[i], want_init[i], "latent_init %d", i);
        cr_assert_eq(mask2[i], (i / 8) % 3 == 0 ? 0.0f : 1.0f, "mask2 %d", i);
    }
    wan22_ti2v_timesteps(tok, 937.0f, 3, 2, 4);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(tok[i], ts[i], "timestep %d: %g vs %g", i, (double)tok[i], (double)ts[i]);
    wan22_ti2v_reimpose(lat_in, z, 48, 3, 2, 4);
    for (int i = 0; i < 48 * 3 * 2 * 4; i++)
        cr_assert_eq(lat_in[i], want_re[i], "reimposed %d", i);
    free(z), free(noise), free(want_init), free(mask2), free(ts), free(lat_in), free(want_re);
    wr_weightfile_close(&cs);
}
