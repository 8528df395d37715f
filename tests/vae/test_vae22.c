/* Wan 2.2 VAE against the official model (../shared/golden/vae22): encode and decode. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "tests/common/testutil.h"
#include "vae/vae22.h"

/* README floor: latent 8.6e-7, decoded 1.7e-6 relative to max|ref|; allow 2e-5 as for 2.1. */
#define VAE_REL_TOL 2e-5

static vae_vol load(const wr_weightfile *wf, const char *name)
{
    const wr_wtensor *w = wr_weightfile_find(wf, name);
    cr_assert_not_null(w);
    int64_t n;
    return (vae_vol){.c = (int)w->t.ne[3], .t = (int)w->t.ne[2], .h = (int)w->t.ne[1], .w = (int)w->t.ne[0],
                     .d = wr_test_load_f32(wf, name, &n)};
}

static void run_case(const char *rel)
{
    wr_weightfile wf, cs;
    wr_test_open(&wf, wr_test_shared("golden/vae22/vae22_weights.safetensors"));
    wr_test_open(&cs, wr_test_shared(rel));
    vae22 *m;
    cr_assert_eq(vae22_load(&m, &wf), WR_OK, "%s", wr_last_error());
    vae_vol video = load(&cs, "input.video"), wl = load(&cs, "output.latent"), wd = load(&cs, "output.decoded");
    vae_vol lat, dec;
    cr_assert_eq(vae22_encode(m, &video, &lat), WR_OK, "%s", wr_last_error());
    cr_assert_eq(lat.t, wl.t);
    cr_assert_eq(lat.h, wl.h);
    wr_test_err e = wr_test_compare(lat.d, wl.d, (int64_t)vae_vol_size(&lat));
    cr_assert_leq(e.rel_to_max, VAE_REL_TOL, "%s latent: max abs %g rel %g", rel, e.max_abs, e.rel_to_max);
    cr_assert_eq(vae22_decode(m, &wl, &dec), WR_OK, "%s", wr_last_error());
    cr_assert_eq(dec.t, wd.t);
    cr_assert_eq(dec.w, wd.w);
    e = wr_test_compare(dec.d, wd.d, (int64_t)vae_vol_size(&dec));
    cr_assert_leq(e.rel_to_max, VAE_REL_TOL, "%s decoded: max abs %g rel %g", rel, e.max_abs, e.rel_to_max);
    vae_vol_free(&video), vae_vol_free(&wl), vae_vol_free(&wd), vae_vol_free(&lat), vae_vol_free(&dec);
    vae22_free(m);
    wr_weightfile_close(&wf), wr_weightfile_close(&cs);
}

Test(vae22, f5_32x32, .timeout = 120) { run_case("golden/vae22/vae22_f5_32x32.safetensors"); }
Test(vae22, f9_32x48, .timeout = 120) { run_case("golden/vae22/vae22_f9_32x48.safetensors"); }
