/* Wan 2.1 VAE against the official model (../shared/golden/vae21): encode and decode. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/testutil.h"
#include "vae/vae21.h"

/* README floor (fp32 vs fp64): latent 8e-7, decoded 2.6e-6 relative to max|ref|. We sum in a
 * different order (im2col + tiled matmul): allow 2e-5. */
#define VAE_REL_TOL 2e-5

static void load_vol(const wr_weightfile *wf, const char *name, vae_vol *v)
{
    const wr_wtensor *w = wr_weightfile_find(wf, name);
    cr_assert_not_null(w, "%s missing", name);
    cr_assert_eq(w->t.n_dims, 4);
    int64_t n;
    float *d = wr_test_load_f32(wf, name, &n);
    *v = (vae_vol){.c = (int)w->t.ne[3], .t = (int)w->t.ne[2], .h = (int)w->t.ne[1], .w = (int)w->t.ne[0], .d = d};
}

static void run_case(const char *rel)
{
    wr_weightfile wf, cs;
    wr_test_open(&wf, wr_test_shared("golden/vae21/vae21_weights.safetensors"));
    wr_test_open(&cs, wr_test_shared(rel));
    vae21 *m;
    cr_assert_eq(vae21_load(&m, &wf), WR_OK, "%s", wr_last_error());
    vae_vol video, want_latent, want_decoded, latent, decoded;
    load_vol(&cs, "input.video", &video);
    load_vol(&cs, "output.latent", &want_latent);
    load_vol(&cs, "output.decoded", &want_decoded);
    cr_assert_eq(vae21_encode(m, &video, &latent), WR_OK, "%s", wr_last_error());
    cr_assert_eq(latent.c, want_latent.c);
    cr_assert_eq(latent.t, want_latent.t);
    cr_assert_eq(latent.h, want_latent.h);
    wr_test_err e = wr_test_compare(latent.d, want_latent.d, (int64_t)vae_vol_size(&latent));
    cr_assert_leq(e.rel_to_max, VAE_REL_TOL, "%s latent: max abs %g rel %g", rel, e.max_abs, e.rel_to_max);
    cr_assert_eq(vae21_decode(m, &want_latent, &decoded), WR_OK, "%s", wr_last_error());
    cr_assert_eq(decoded.t, want_decoded.t);
    cr_assert_eq(decoded.h, want_decoded.h);
    e = wr_test_compare(decoded.d, want_decoded.d, (int64_t)vae_vol_size(&decoded));
    cr_assert_leq(e.rel_to_max, VAE_REL_TOL, "%s decoded: max abs %g rel %g", rel, e.max_abs, e.rel_to_max);
    vae_vol_free(&video), vae_vol_free(&want_latent), vae_vol_free(&want_decoded);
    vae_vol_free(&latent), vae_vol_free(&decoded);
    vae21_free(m);
    wr_weightfile_close(&wf), wr_weightfile_close(&cs);
}

Test(vae21, f5_32x32, .timeout = 120) { run_case("golden/vae21/vae21_f5_32x32.safetensors"); }
Test(vae21, f9_32x48, .timeout = 120) { run_case("golden/vae21/vae21_f9_32x48.safetensors"); }

Test(vae21, bad_sizes_are_clear_errors)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/vae21/vae21_weights.safetensors"));
    vae21 *m;
    cr_assert_eq(vae21_load(&m, &wf), WR_OK);
    vae_vol v, out;
    cr_assert_eq(vae_vol_alloc(&v, 3, 6, 32, 32), WR_OK);
    cr_assert_eq(vae21_encode(m, &v, &out), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "4k+1 frames"));
    vae_vol_free(&v);
    cr_assert_eq(vae_vol_alloc(&v, 3, 5, 36, 32), WR_OK);
    cr_assert_eq(vae21_encode(m, &v, &out), WR_E_ARG);
    vae_vol_free(&v);
    vae21_free(m);
    wr_weightfile_close(&wf);
    wr_test_open(&wf, wr_test_shared("golden/dit/dit_t2v_weights.safetensors"));
    cr_assert_eq(vae21_load(&m, &wf), WR_E_FORMAT);
    cr_assert(strstr(wr_last_error(), "not a Wan 2.1 VAE"));
    wr_weightfile_close(&wf);
}
