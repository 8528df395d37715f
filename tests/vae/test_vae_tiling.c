/* Tiled and streamed VAE passes (vae/tiling.h) against the untiled ones, on the golden-case
 * weights of both VAEs (base dims 16 and 8/16, the official layouts) with seeded random inputs
 * larger than one tile. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/testutil.h"
#include "vae/tiling.h"

static void open_vae(int is22, wr_weightfile *wf, wan_vae *v)
{
    wr_test_open(wf, wr_test_shared(is22 ? "golden/vae22/vae22_weights.safetensors" : "golden/vae21/vae21_weights.safetensors"));
    cr_assert_eq(wan_vae_load(v, wf), WR_OK, "%s", wr_last_error());
    cr_assert_eq(v->scale, is22 ? 16 : 8);
}

static vae_vol random_vol(int c, int t, int h, int w, float lo, float hi, uint64_t seed)
{
    vae_vol v;
    cr_assert_eq(vae_vol_alloc(&v, c, t, h, w), WR_OK);
    for (size_t i = 0; i < vae_vol_size(&v); i++)
        v.d[i] = wr_test_uniform(&seed, lo, hi);
    return v;
}

/* Error of a against b split into the pixels inside a blend band (a seam: covered by more than one
 * tile) and the rest. */
typedef struct seam_err {
    double seam, interior, max_ref;
} seam_err;

static int in_overlap(int p, int n, int t, int s, int len)
{
    int covered = 0;
    for (int i = 0; i < n; i++)
        covered += p >= i * s && p < i * s + t && p < len;
    return covered > 1;
}

static seam_err compare_tiles(const vae_vol *a, const vae_vol *b, const vae_tile_grid *g, int scale)
{
    seam_err e = {0};
    for (int c = 0; c < a->c; c++)
        for (int t = 0; t < a->t; t++)
            for (int y = 0; y < a->h; y++)
                for (int x = 0; x < a->w; x++) {
                    size_t i = (((size_t)c * a->t + (size_t)t) * a->h + (size_t)y) * a->w + (size_t)x;
                    double d = fabs((double)a->d[i] - (double)b->d[i]);
                    int seam = in_overlap(y / scale, g->ny, g->th, g->sh, a->h / scale) ||
                               in_overlap(x / scale, g->nx, g->tw, g->sw, a->w / scale);
                    if (seam && d > e.seam)
                        e.seam = d;
                    if (!seam && d > e.interior)
                        e.interior = d;
                    if (fabs(b->d[i]) > e.max_ref)
                        e.max_ref = fabs(b->d[i]);
                }
    return e;
}

static void measure(int is22)
{
    wr_weightfile wf;
    wan_vae v;
    open_vae(is22, &wf, &v);
    int lh = is22 ? 7 : 12, lw = is22 ? 9 : 14;
    vae_vol lat = random_vol(v.z_dim, 3, lh, lw, -2, 2, 11), ref, got;
    cr_assert_eq(wan_vae_decode(&v, &lat, &ref), WR_OK);
    vae_tiling t = {.mode = VAE_TILE_ON, .tile_w = 6 * v.scale, .tile_h = 6 * v.scale, .stride_w = 4 * v.scale, .stride_h = 4 * v.scale};
    vae_tile_grid g;
    cr_assert_eq(vae_tiling_grid(&t, v.scale, lh, lw, &g), WR_OK);
    cr_assert_eq(wan_vae_decode_tiled(&v, &lat, &t, &got), WR_OK, "%s", wr_last_error());
    seam_err e = compare_tiles(&got, &ref, &g, v.scale);
    printf("decode %s grid %dx%d: seam %g interior %g max_ref %g\n", is22 ? "22" : "21", g.ny, g.nx, e.seam / e.max_ref, e.interior / e.max_ref, e.max_ref);
    vae_vol video = random_vol(3, 9, lh * v.scale, lw * v.scale, -1, 1, 5), lref, lgot;
    cr_assert_eq(wan_vae_encode(&v, &video, &lref), WR_OK);
    cr_assert_eq(wan_vae_encode_tiled(&v, &video, &t, &lgot), WR_OK, "%s", wr_last_error());
    e = compare_tiles(&lgot, &lref, &g, 1);
    printf("encode %s: seam %g interior %g max_ref %g\n", is22 ? "22" : "21", e.seam / e.max_ref, e.interior / e.max_ref, e.max_ref);
}
Test(measure, m21) { measure(0); }
Test(measure, m22) { measure(1); }
