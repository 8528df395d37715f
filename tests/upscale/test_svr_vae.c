/* SeedVR2 causal video VAE against the upstream video_vae_v3 run (../shared/golden/post,
 * README section 3): both cases, sliced and in one pass; slicing equals the full pass; the old
 * attention key names; clear errors for missing / misshapen / truncated weights and bad sizes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/io/safetensors_write.h"
#include "tests/common/testutil.h"
#include "upscale/svr_vae.h"
#include "upscale/svr_vae_blocks.h"

#define WEIGHTS "golden/post/seedvr2_vae_tiny_weights.safetensors"

/* README 3 / "Accuracy floor": torch fp32 lands 1.2e-6..8.4e-6 max abs from float64; a correct
 * fp32 implementation is within max_abs 1e-4, mean_abs 1e-5. */
#define MAX_ABS 1e-4
#define MEAN_ABS 1e-5

static double mean_abs(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += fabs((double)a[i] - (double)b[i]);
    return n ? s / (double)n : 0;
}

static void check(const char *what, const float *got, const float *want, int64_t n, double max_abs, double mean_lim)
{
    wr_test_err e = wr_test_compare(got, want, n);
    double ma = mean_abs(got, want, n);
    cr_log_info("%s: max_abs %.3g mean_abs %.3g", what, e.max_abs, ma);
    fprintf(stderr, "  %-58s max_abs %.3g  mean_abs %.3g\n", what, e.max_abs, ma);
    cr_assert_eq(e.nan_mismatch, 0, "%s: NaN/Inf mismatch", what);
    cr_assert_leq(e.max_abs, max_abs, "%s: max abs %g > %g (at %lld)", what, e.max_abs, max_abs, (long long)e.worst);
    cr_assert_leq(ma, mean_lim, "%s: mean abs %g > %g", what, ma, mean_lim);
}

/* Tensor `name` [1, C, T, H, W] of a case as a volume. */
static void load_vol(const wr_weightfile *cs, const char *name, vae_vol *v)
{
    const wr_wtensor *t = wr_weightfile_find(cs, name);
    cr_assert_not_null(t, "%s: no tensor '%s'", cs->map.path, name);
    cr_assert_eq(t->t.n_dims, 5);
    cr_assert_eq(vae_vol_alloc(v, (int)t->t.ne[3], (int)t->t.ne[2], (int)t->t.ne[1], (int)t->t.ne[0]), WR_OK);
    float *d = wr_test_load_f32(cs, name, NULL);
    memcpy(v->d, d, vae_vol_size(v) * sizeof(float));
    free(d);
}

static upscale_vae *open_model(wr_weightfile *wf, const char *path)
{
    wr_test_open(wf, path);
    upscale_vae *m = NULL;
    cr_assert_eq(upscale_vae_load(&m, wf, 0), WR_OK, "%s", wr_last_error());
    return m;
}

static void run_case(const upscale_vae *m, const char *file, int split)
{
    char rel[256], what[160];
    snprintf(rel, sizeof rel, "golden/post/%s", file);
    wr_weightfile cs;
    wr_test_open(&cs, wr_test_shared(rel));
    vae_vol video, ref_m, ref_m64, ref_mean, ref_std, ref_dec, ref_dec64, got_m, mean, sd, dec;
    load_vol(&cs, "video", &video);
    load_vol(&cs, "moments", &ref_m);
    load_vol(&cs, "moments_ref64", &ref_m64);
    load_vol(&cs, "posterior_mean", &ref_mean);
    load_vol(&cs, "posterior_std", &ref_std);
    load_vol(&cs, "decoded_from_mean", &ref_dec);
    load_vol(&cs, "decoded_from_mean_ref64", &ref_dec64);

    cr_assert_eq(upscale_vae_encode(m, &video, split, &got_m), WR_OK, "%s", wr_last_error());
    cr_assert(got_m.c == ref_m.c && got_m.t == ref_m.t && got_m.h == ref_m.h && got_m.w == ref_m.w,
              "%s: moments [%d, %d, %d, %d]", file, got_m.c, got_m.t, got_m.h, got_m.w);
    snprintf(what, sizeof what, "%s split %d moments", file, split);
    check(what, got_m.d, ref_m.d, (int64_t)vae_vol_size(&ref_m), MAX_ABS, MEAN_ABS);
    snprintf(what, sizeof what, "%s split %d moments vs ref64", file, split);
    check(what, got_m.d, ref_m64.d, (int64_t)vae_vol_size(&ref_m), MAX_ABS, MEAN_ABS);

    cr_assert_eq(upscale_vae_posterior(&got_m, &mean, &sd), WR_OK);
    snprintf(what, sizeof what, "%s split %d posterior_mean", file, split);
    check(what, mean.d, ref_mean.d, (int64_t)vae_vol_size(&ref_mean), MAX_ABS, MEAN_ABS);
    snprintf(what, sizeof what, "%s split %d posterior_std", file, split);
    check(what, sd.d, ref_std.d, (int64_t)vae_vol_size(&ref_std), MAX_ABS, MEAN_ABS);

    /* the decoder on the reference mean (isolates it), then on ours (end to end) */
    cr_assert_eq(upscale_vae_decode(m, &ref_mean, split, &dec), WR_OK, "%s", wr_last_error());
    cr_assert(dec.c == ref_dec.c && dec.t == ref_dec.t && dec.h == ref_dec.h && dec.w == ref_dec.w);
    snprintf(what, sizeof what, "%s split %d decoded_from_mean", file, split);
    check(what, dec.d, ref_dec.d, (int64_t)vae_vol_size(&ref_dec), MAX_ABS, MEAN_ABS);
    snprintf(what, sizeof what, "%s split %d decoded_from_mean vs ref64", file, split);
    check(what, dec.d, ref_dec64.d, (int64_t)vae_vol_size(&ref_dec), MAX_ABS, MEAN_ABS);
    vae_vol_free(&dec);
    cr_assert_eq(upscale_vae_decode(m, &mean, split, &dec), WR_OK, "%s", wr_last_error());
    snprintf(what, sizeof what, "%s split %d decoded from our mean", file, split);
    check(what, dec.d, ref_dec.d, (int64_t)vae_vol_size(&ref_dec), MAX_ABS, MEAN_ABS);

    vae_vol *all[] = {&video, &ref_m, &ref_m64, &ref_mean, &ref_std, &ref_dec, &ref_dec64, &got_m, &mean, &sd, &dec};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        vae_vol_free(all[i]);
    wr_weightfile_close(&cs);
}

Test(svr_vae, golden_cases_sliced_and_one_pass, .timeout = 120)
{
    wr_weightfile wf;
    upscale_vae *m = open_model(&wf, wr_test_shared(WEIGHTS));
    const upscale_vae_config *c = upscale_vae_cfg(m);
    /* the config comes from the shapes (and norm_num_groups from the metadata) */
    cr_assert(c->n_blocks == 4 && c->enc_ch[0] == 8 && c->enc_ch[3] == 16 && c->dec_ch[0] == 16 && c->dec_ch[3] == 8);
    cr_assert(c->enc_layers == 2 && c->dec_layers == 3 && c->latent_channels == 16 && c->groups == 4);
    cr_assert(c->spatial_factor == 8 && c->temporal_factor == 4);
    cr_assert(!c->enc_time_down[0] && c->enc_time_down[1] && c->enc_time_down[2] && !c->has_down[3]);
    cr_assert(c->dec_time_up[0] && c->dec_time_up[1] && !c->dec_time_up[2] && !c->has_up[3]);
    const char *cases[] = {"seedvr2_vae_5x32x32.safetensors", "seedvr2_vae_9x16x24_sliced.safetensors"};
    for (int i = 0; i < 2; i++) {
        run_case(m, cases[i], 4); /* the pipeline's causal slicing (split_size 4) */
        run_case(m, cases[i], 0); /* one pass */
    }
    upscale_vae_free(m);
    wr_weightfile_close(&wf);
}

Test(svr_vae, posterior_sample_and_dit_latent_layout, .timeout = 30)
{
    wr_weightfile cs;
    wr_test_open(&cs, wr_test_shared("golden/post/seedvr2_vae_9x16x24_sliced.safetensors"));
    vae_vol mean, sd, eps, sample, back;
    load_vol(&cs, "posterior_mean", &mean);
    load_vol(&cs, "posterior_std", &sd);
    load_vol(&cs, "eps", &eps);
    load_vol(&cs, "latent_sample", &sample);
    int64_t n = (int64_t)vae_vol_size(&mean), n2;
    float *z = malloc((size_t)n * sizeof *z), *dit = malloc((size_t)n * sizeof *dit);
    for (int64_t i = 0; i < n; i++)
        z[i] = mean.d[i] + sd.d[i] * eps.d[i];
    check("latent_sample = mean + std * eps", z, sample.d, n, 1e-6, 1e-7);
    upscale_vae_latent_to_dit(&sample, dit);
    float *want = wr_test_load_f32(&cs, "latent_scaled_btHWc", &n2);
    cr_assert_eq(n2, n);
    check("latent_scaled_btHWc = sample * 0.9152, channel-last", dit, want, n, 1e-6, 1e-7);
    cr_assert_eq(upscale_vae_latent_from_dit(dit, mean.c, mean.t, mean.h, mean.w, &back), WR_OK);
    check("latent_from_dit(latent_to_dit(z)) = z", back.d, sample.d, n, 1e-6, 1e-7);
    free(z), free(dit), free(want);
    vae_vol_free(&mean), vae_vol_free(&sd), vae_vol_free(&eps), vae_vol_free(&sample), vae_vol_free(&back);
    wr_weightfile_close(&cs);
}

/* Spec 3.2: chunks carrying each conv's last frames give the full causal pass. 13 frames so
 * that split 4 makes three encoder chunks (5 + 4 + 4) and the decoder four (2 + 1 + 1). */
Test(svr_vae, slicing_equals_one_pass, .timeout = 60)
{
    wr_weightfile wf;
    upscale_vae *m = open_model(&wf, wr_test_shared(WEIGHTS));
    vae_vol v, m0, m4, m8, d0, d4, d12;
    cr_assert_eq(vae_vol_alloc(&v, 3, 13, 16, 24), WR_OK);
    uint64_t s = 42;
    for (size_t i = 0; i < vae_vol_size(&v); i++)
        v.d[i] = wr_test_uniform(&s, -1.0f, 1.0f);
    cr_assert_eq(upscale_vae_encode(m, &v, 0, &m0), WR_OK, "%s", wr_last_error());
    cr_assert_eq(upscale_vae_encode(m, &v, 4, &m4), WR_OK, "%s", wr_last_error());
    cr_assert_eq(upscale_vae_encode(m, &v, 8, &m8), WR_OK, "%s", wr_last_error());
    cr_assert_eq(m0.t, 4);
    int64_t n = (int64_t)vae_vol_size(&m0);
    check("encode split 4 vs one pass", m4.d, m0.d, n, 1e-5, 1e-6);
    check("encode split 8 vs one pass", m8.d, m0.d, n, 1e-5, 1e-6);
    m0.c = 16; /* the mean half as a latent */
    cr_assert_eq(upscale_vae_decode(m, &m0, 0, &d0), WR_OK, "%s", wr_last_error());
    cr_assert_eq(upscale_vae_decode(m, &m0, 4, &d4), WR_OK, "%s", wr_last_error());
    cr_assert_eq(upscale_vae_decode(m, &m0, 12, &d12), WR_OK, "%s", wr_last_error());
    cr_assert_eq(d0.t, 13);
    n = (int64_t)vae_vol_size(&d0);
    check("decode split 4 vs one pass", d4.d, d0.d, n, 1e-5, 1e-6);
    check("decode split 12 vs one pass", d12.d, d0.d, n, 1e-5, 1e-6);
    vae_vol *all[] = {&v, &m0, &m4, &m8, &d0, &d4, &d12};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        vae_vol_free(all[i]);
    upscale_vae_free(m);
    wr_weightfile_close(&wf);
}

/* Convs above the im2col budget run in bands of output rows (zero padding written into each
 * slab); a budget of one byte forces one-row bands everywhere, including the stride-2
 * downsamplers with their one-sided padding. */
Test(svr_vae, banded_convs_equal_whole_frames, .timeout = 60)
{
    wr_weightfile wf;
    upscale_vae *m = open_model(&wf, wr_test_shared(WEIGHTS));
    wr_weightfile cs;
    wr_test_open(&cs, wr_test_shared("golden/post/seedvr2_vae_9x16x24_sliced.safetensors"));
    vae_vol v, m0, m1, d0, d1;
    load_vol(&cs, "video", &v);
    cr_assert_eq(upscale_vae_encode(m, &v, 4, &m0), WR_OK, "%s", wr_last_error());
    m0.c = 16;
    cr_assert_eq(upscale_vae_decode(m, &m0, 4, &d0), WR_OK, "%s", wr_last_error());
    m0.c = 32;
    svr_conv_band_bytes = 1;
    cr_assert_eq(upscale_vae_encode(m, &v, 4, &m1), WR_OK, "%s", wr_last_error());
    m1.c = 16;
    cr_assert_eq(upscale_vae_decode(m, &m1, 4, &d1), WR_OK, "%s", wr_last_error());
    m1.c = 32;
    check("banded encode vs whole frames", m1.d, m0.d, (int64_t)vae_vol_size(&m0), 1e-6, 1e-7);
    check("banded decode vs whole frames", d1.d, d0.d, (int64_t)vae_vol_size(&d0), 1e-6, 1e-7);
    vae_vol_free(&v), vae_vol_free(&m0), vae_vol_free(&m1), vae_vol_free(&d0), vae_vol_free(&d1);
    upscale_vae_free(m);
    wr_weightfile_close(&cs), wr_weightfile_close(&wf);
}
