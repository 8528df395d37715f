/* Tiled and streamed VAE passes (vae/tiling.h) against the untiled ones, on the golden-case
 * weights of both VAEs (base dims 16 and 8/16, the official layouts) with seeded random inputs
 * larger than one tile. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/testutil.h"
#include "vae/tiling.h"
#include "vae/vae_plan.h"

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


/* ---- tiled vs untiled ----------------------------------------------------------------------------
 * Small tiles (6 latent positions, stride 4: 48/32 px for 2.1, 96/64 px for 2.2) on latents of
 * 10 x 12 x 1 frame (2.1, a 2 x 3 grid) and 7 x 9 x 2 frames (2.2, 2 x 2); the encodes run on
 * random videos of the matching size. The golden weights are the
 * official modules at random init, which are not local: every decoder conv stack spans more than
 * a tile and the middle attention block sees the whole frame, so a tiled pass differs from the
 * untiled one everywhere, most at the seams. Measured max |tiled − untiled| / max|untiled|
 * (seam band / elsewhere):
 *   2.1 decode 0.461 / 0.311, encode 0.235 / 0.184; 2.2 decode 0.544 / 0.506, encode 0.339 / 0.152.
 * With the default geometry (272 px tiles, strides 144 x 128) on a 320 x 320 frame (2 x 2 tiles)
 * the same weights give 2.1 decode 0.083 / 0.038, encode 0.072 / 0.020; 2.2 decode 0.161 / 0.218,
 * encode 0.191 / 0.040 (bench numbers, too slow for the suite). The bounds below are the measured
 * values + 25 %; the exact test of the blending itself is blend_equals_per_tile_reference. */
typedef struct tiled_case {
    int is22, frames, lh, lw; /* latent frames (video 4·frames − 3) */
    double dec_bound, enc_bound;
} tiled_case;

static vae_tiling small_tiles(int scale)
{
    return (vae_tiling){.mode = VAE_TILE_ON, .tile_w = 6 * scale, .tile_h = 6 * scale, .stride_w = 4 * scale,
                        .stride_h = 4 * scale};
}

static void tiled_vs_untiled(tiled_case tc)
{
    wr_weightfile wf;
    wan_vae v;
    open_vae(tc.is22, &wf, &v);
    vae_tiling t = small_tiles(v.scale);
    vae_tile_grid g;
    cr_assert_eq(vae_tiling_grid(&t, v.scale, tc.lh, tc.lw, &g), WR_OK);
    cr_assert(g.tiled && g.ny * g.nx > 1);
    vae_vol lat = random_vol(v.z_dim, tc.frames, tc.lh, tc.lw, -2, 2, 11), ref, got;
    cr_assert_eq(wan_vae_decode(&v, &lat, &ref), WR_OK);
    cr_assert_eq(wan_vae_decode_tiled(&v, &lat, &t, &got), WR_OK, "%s", wr_last_error());
    cr_assert(got.c == ref.c && got.t == ref.t && got.h == ref.h && got.w == ref.w);
    seam_err e = compare_tiles(&got, &ref, &g, v.scale);
    double worst = fmax(e.seam, e.interior) / e.max_ref;
    cr_assert_leq(worst, tc.dec_bound, "decode: seam %g interior %g of max %g", e.seam / e.max_ref,
                  e.interior / e.max_ref, e.max_ref);
    cr_assert_gt(e.seam, 0.0);
    vae_vol video = random_vol(3, 4 * tc.frames - 3, tc.lh * v.scale, tc.lw * v.scale, -1, 1, 5), lref, lgot;
    cr_assert_eq(wan_vae_encode(&v, &video, &lref), WR_OK);
    cr_assert_eq(wan_vae_encode_tiled(&v, &video, &t, &lgot), WR_OK, "%s", wr_last_error());
    e = compare_tiles(&lgot, &lref, &g, 1);
    worst = fmax(e.seam, e.interior) / e.max_ref;
    cr_assert_leq(worst, tc.enc_bound, "encode: seam %g interior %g of max %g", e.seam / e.max_ref,
                  e.interior / e.max_ref, e.max_ref);
    vae_vol_free(&lat), vae_vol_free(&ref), vae_vol_free(&got);
    vae_vol_free(&video), vae_vol_free(&lref), vae_vol_free(&lgot);
    wan_vae_free(&v);
    wr_weightfile_close(&wf);
}

Test(tiling, vae21_tiled_vs_untiled, .timeout = 120) { tiled_vs_untiled((tiled_case){0, 1, 10, 12, 0.58, 0.30}); }
Test(tiling, vae22_tiled_vs_untiled, .timeout = 120) { tiled_vs_untiled((tiled_case){1, 2, 7, 9, 0.68, 0.43}); }

/* The blend written out from the DiffSynth reference: every tile decoded on its own (untiled
 * pass over the crop), weighted by min(ramp_y, ramp_x), summed and divided by the summed
 * weights. Must equal the tiled decode up to float summation order (none here: same order). */
static float ramp_ref(int i, int len, int lo_edge, int hi_edge, int border)
{
    float m = 1.0f;
    if (border > 0 && !lo_edge && i < border)
        m = (float)(i + 1) / (float)border;
    if (border > 0 && !hi_edge && len - 1 - i < border)
        m = (float)(len - i) / (float)border;
    return m;
}

Test(tiling, blend_equals_per_tile_reference, .timeout = 120)
{
    wr_weightfile wf;
    wan_vae v;
    open_vae(0, &wf, &v);
    int lh = 8, lw = 11, s = v.scale;
    vae_tiling t = {.mode = VAE_TILE_ON, .tile_w = 48, .tile_h = 40, .stride_w = 32, .stride_h = 24}; /* 6x5 / 4x3 */
    vae_vol lat = random_vol(v.z_dim, 2, lh, lw, -2, 2, 3), got;
    cr_assert_eq(wan_vae_decode_tiled(&v, &lat, &t, &got), WR_OK, "%s", wr_last_error());
    size_t plane = (size_t)got.h * got.w;
    double *acc = calloc(vae_vol_size(&got), sizeof *acc), *wsum = calloc(plane, sizeof *wsum);
    int tiles = 0;
    for (int h0 = 0; h0 < lh; h0 += 3) { /* DiffSynth's task loop, verbatim */
        if (h0 - 3 >= 0 && h0 - 3 + 5 >= lh)
            continue;
        for (int w0 = 0; w0 < lw; w0 += 4) {
            if (w0 - 4 >= 0 && w0 - 4 + 6 >= lw)
                continue;
            int h1 = h0 + 5 < lh ? h0 + 5 : lh, w1 = w0 + 6 < lw ? w0 + 6 : lw;
            vae_vol crop, dec;
            cr_assert_eq(vae_vol_crop(&lat, 0, lat.t, h0, h1 - h0, w0, w1 - w0, &crop), WR_OK);
            cr_assert_eq(wan_vae_decode(&v, &crop, &dec), WR_OK);
            for (int y = 0; y < dec.h; y++)
                for (int x = 0; x < dec.w; x++) {
                    float my = ramp_ref(y, dec.h, h0 == 0, h0 + 5 >= lh, (5 - 3) * s);
                    float mx = ramp_ref(x, dec.w, w0 == 0, w0 + 6 >= lw, (6 - 4) * s);
                    float m = my < mx ? my : mx;
                    size_t p = (size_t)(h0 * s + y) * got.w + (size_t)(w0 * s + x);
                    wsum[p] += (double)m;
                    for (int c = 0; c < 3; c++)
                        for (int f = 0; f < dec.t; f++)
                            acc[((size_t)c * got.t + (size_t)f) * plane + p] +=
                                (double)(m * dec.d[(((size_t)c * dec.t + (size_t)f) * dec.h + (size_t)y) * dec.w + (size_t)x]);
                }
            vae_vol_free(&crop), vae_vol_free(&dec);
            tiles++;
        }
    }
    cr_assert_eq(tiles, 2 * 3);
    float *want = malloc(vae_vol_size(&got) * sizeof *want);
    for (size_t i = 0; i < vae_vol_size(&got); i++)
        want[i] = (float)(acc[i] / wsum[i % plane]);
    wr_test_err e = wr_test_compare(got.d, want, (int64_t)vae_vol_size(&got));
    cr_assert_leq(e.rel_to_max, 1e-6, "tiled vs per-tile reference: max abs %g rel %g", e.max_abs, e.rel_to_max);
    free(acc), free(wsum), free(want);
    vae_vol_free(&lat), vae_vol_free(&got);
    wan_vae_free(&v);
    wr_weightfile_close(&wf);
}

/* A tile at least as large as the frame: the grid has one tile with weight 1 everywhere, so
 * decode and encode equal the untiled passes bit for bit. */
static void one_tile(int is22)
{
    wr_weightfile wf;
    wan_vae v;
    open_vae(is22, &wf, &v);
    int lh = 3, lw = 4;
    vae_tiling t = {.mode = VAE_TILE_ON, .tile_w = 8 * v.scale, .tile_h = 4 * v.scale, .stride_w = 4 * v.scale,
                    .stride_h = 2 * v.scale};
    vae_vol lat = random_vol(v.z_dim, 2, lh, lw, -2, 2, 9), ref, got;
    cr_assert_eq(wan_vae_decode(&v, &lat, &ref), WR_OK);
    cr_assert_eq(wan_vae_decode_tiled(&v, &lat, &t, &got), WR_OK, "%s", wr_last_error());
    cr_assert_eq(memcmp(got.d, ref.d, vae_vol_size(&ref) * sizeof(float)), 0, "one tile must equal untiled exactly");
    vae_vol video = random_vol(3, 5, lh * v.scale, lw * v.scale, -1, 1, 4), lref, lgot;
    cr_assert_eq(wan_vae_encode(&v, &video, &lref), WR_OK);
    cr_assert_eq(wan_vae_encode_tiled(&v, &video, &t, &lgot), WR_OK, "%s", wr_last_error());
    cr_assert_eq(memcmp(lgot.d, lref.d, vae_vol_size(&lref) * sizeof(float)), 0);
    vae_tiling off = vae_tiling_defaults(VAE_TILE_AUTO); /* auto: 272 px covers the frame -> untiled */
    vae_vol got2;
    cr_assert_eq(wan_vae_decode_tiled(&v, &lat, &off, &got2), WR_OK);
    cr_assert_eq(memcmp(got2.d, ref.d, vae_vol_size(&ref) * sizeof(float)), 0);
    vae_vol_free(&lat), vae_vol_free(&ref), vae_vol_free(&got), vae_vol_free(&got2);
    vae_vol_free(&video), vae_vol_free(&lref), vae_vol_free(&lgot);
    wan_vae_free(&v);
    wr_weightfile_close(&wf);
}

Test(tiling, vae21_one_tile_is_untiled, .timeout = 60) { one_tile(0); }
Test(tiling, vae22_one_tile_is_untiled, .timeout = 60) { one_tile(1); }

/* ---- streaming ---------------------------------------------------------------------------------- */

typedef struct collect {
    vae_vol all;
    int next, calls;
} collect;

static wr_status collect_frames(void *ctx, const vae_vol *f, int t0)
{
    collect *c = ctx;
    cr_assert_eq(t0, c->next, "frames out of order");
    cr_assert(f->t >= 1 && f->t <= 4, "call %d has %d frames", c->calls, f->t);
    vae_vol_put_frames(&c->all, t0, f);
    c->next += f->t;
    c->calls++;
    return WR_OK;
}

static void stream(int is22)
{
    wr_weightfile wf;
    wan_vae v;
    open_vae(is22, &wf, &v);
    vae_vol lat = random_vol(v.z_dim, 4, 3, 5, -2, 2, 8), ref;
    cr_assert_eq(wan_vae_decode(&v, &lat, &ref), WR_OK);
    for (int tiled = 0; tiled < 2; tiled++) {
        vae_tiling t = small_tiles(v.scale);
        t.tile_w = t.tile_h = 3 * v.scale, t.stride_w = t.stride_h = 2 * v.scale;
        vae_vol want;
        if (tiled)
            cr_assert_eq(wan_vae_decode_tiled(&v, &lat, &t, &want), WR_OK);
        collect c = {0};
        cr_assert_eq(vae_vol_alloc(&c.all, 3, ref.t, ref.h, ref.w), WR_OK);
        cr_assert_eq(wan_vae_decode_tiled_stream(&v, &lat, tiled ? &t : NULL, (vae_sink){collect_frames, &c}), WR_OK);
        cr_assert_eq(c.next, 13);
        cr_assert_eq(c.calls, tiled ? 4 : 13); /* untiled: frame by frame; tiled: the latent chunks */
        cr_assert_eq(memcmp(c.all.d, tiled ? want.d : ref.d, vae_vol_size(&ref) * sizeof(float)), 0);
        vae_vol_free(&c.all);
        if (tiled)
            vae_vol_free(&want);
    }
    vae_vol_free(&lat), vae_vol_free(&ref);
    wan_vae_free(&v);
    wr_weightfile_close(&wf);
}

Test(tiling, vae21_stream_delivers_frames_in_order, .timeout = 60) { stream(0); }
Test(tiling, vae22_stream_delivers_frames_in_order, .timeout = 60) { stream(1); }

/* ---- sizes and options -------------------------------------------------------------------------- */

Test(tiling, odd_sizes_are_clear_errors)
{
    wr_weightfile wf;
    wan_vae v;
    open_vae(1, &wf, &v);
    vae_tiling t = vae_tiling_defaults(VAE_TILE_ON);
    vae_vol video, lat;
    cr_assert_eq(vae_vol_zeros(&video, 3, 6, 32, 32), WR_OK); /* 6 frames: not 4k + 1 */
    cr_assert_eq(wan_vae_encode_tiled(&v, &video, &t, &lat), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "4k+1 frames"), "%s", wr_last_error());
    vae_vol_free(&video);
    cr_assert_eq(vae_vol_zeros(&video, 3, 5, 40, 32), WR_OK); /* 40 px: not a multiple of 16 */
    cr_assert_eq(wan_vae_encode_tiled(&v, &video, &t, &lat), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "multiples of 16"), "%s", wr_last_error());
    vae_vol_free(&video);
    vae_tiling bad = {.mode = VAE_TILE_ON, .tile_w = 136, .tile_h = 272, .stride_w = 64, .stride_h = 128};
    cr_assert_eq(vae_vol_zeros(&lat, 48, 2, 20, 20), WR_OK); /* 136 px is 8.5 latent positions of 2.2 */
    vae_vol out;
    cr_assert_eq(wan_vae_decode_tiled(&v, &lat, &bad, &out), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "tile width 136 px"), "%s", wr_last_error());
    vae_vol_free(&lat);
    cr_assert_eq(vae_vol_zeros(&lat, 16, 2, 20, 20), WR_OK); /* 2.1 latent into the 2.2 VAE */
    cr_assert_eq(wan_vae_decode_tiled(&v, &lat, &t, &out), WR_E_ARG);
    vae_vol_free(&lat);
    wan_vae_free(&v);
    wr_weightfile_close(&wf);
}

Test(tiling, parse_options)
{
    vae_tiling t;
    cr_assert_eq(vae_tiling_parse("off", &t), WR_OK);
    cr_assert_eq(t.mode, VAE_TILE_OFF);
    cr_assert_eq(vae_tiling_parse("auto", &t), WR_OK);
    cr_assert(t.mode == VAE_TILE_AUTO && t.tile_w == 272 && t.stride_w == 144 && t.stride_h == 128);
    cr_assert_eq(vae_tiling_parse("on", &t), WR_OK);
    cr_assert_eq(t.mode, VAE_TILE_ON);
    cr_assert_eq(vae_tiling_parse("320,256", &t), WR_OK);
    cr_assert(t.mode == VAE_TILE_ON && t.tile_w == 320 && t.tile_h == 256 && t.stride_w == 160 && t.stride_h == 128);
    cr_assert_eq(vae_tiling_parse("272,272,144,128", &t), WR_OK);
    cr_assert(t.tile_w == 272 && t.stride_w == 144 && t.stride_h == 128);
    const char *bad[] = {"", "272", "272,272,144", "272,272,300,128", "a,b", "272,272,", "-8,8", "on,1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(vae_tiling_parse(bad[i], &t), WR_E_ARG, "'%s' accepted", bad[i]);
        cr_assert(strstr(wr_last_error(), "--vae-tile"));
    }
    vae_tile_grid g; /* WanVideoWrapper defaults on a 1280x720 frame of the 2.1 VAE: latent 90 x 160 */
    t = vae_tiling_defaults(VAE_TILE_ON);
    cr_assert_eq(vae_tiling_grid(&t, 8, 90, 160, &g), WR_OK);
    cr_assert(g.tiled && g.th == 34 && g.tw == 34 && g.sh == 16 && g.sw == 18 && g.ny == 5 && g.nx == 8);
    cr_assert_eq(vae_tiling_grid(&t, 16, 45, 80, &g), WR_OK); /* 2.2: 17 x 17 / 8, 9 */
    cr_assert(g.th == 17 && g.sh == 8 && g.sw == 9 && g.ny == 5 && g.nx == 8, "%d %d", g.ny, g.nx);
}

/* ---- planner ------------------------------------------------------------------------------------- */

typedef struct plan_case {
    int is22, decode, frames, h, w, tiled;
} plan_case;

/* The plan is a dry run of the same code, so the counted peak of a real run equals it to the
 * byte (this catches any allocation that skips the accounting or differs between the modes). */
Test(plan, equals_the_counted_peak_of_real_runs, .timeout = 60)
{
    static const plan_case cases[] = {
        {0, 1, 5, 64, 80, 0}, {0, 1, 5, 64, 80, 1}, {0, 0, 5, 64, 80, 0}, {0, 0, 5, 64, 80, 1},
        {1, 1, 5, 64, 96, 0}, {1, 1, 5, 64, 96, 1}, {1, 0, 5, 64, 96, 0}, {1, 0, 5, 64, 96, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        plan_case c = cases[i];
        wr_weightfile wf;
        wan_vae v;
        open_vae(c.is22, &wf, &v);
        vae_tiling t = {.mode = VAE_TILE_ON, .tile_w = 3 * v.scale, .tile_h = 3 * v.scale, .stride_w = 2 * v.scale,
                        .stride_h = 2 * v.scale};
        vae_plan p;
        cr_assert_eq(vae_plan_model(&v, c.decode, c.frames, c.h, c.w, c.tiled ? &t : NULL, &p), WR_OK, "%s",
                     wr_last_error());
        vae_vol in = c.decode ? random_vol(v.z_dim, (c.frames - 1) / 4 + 1, c.h / v.scale, c.w / v.scale, -1, 1, 2)
                              : random_vol(3, c.frames, c.h, c.w, -1, 1, 2);
        vae_vol out;
        size_t base = vae_mem_current();
        vae_mem_reset_peak();
        cr_assert_eq(c.decode ? wan_vae_decode_tiled(&v, &in, c.tiled ? &t : NULL, &out)
                              : wan_vae_encode_tiled(&v, &in, c.tiled ? &t : NULL, &out), WR_OK);
        size_t measured = vae_mem_peak() - base;
        cr_assert_eq(measured, p.work, "case %zu: planned %zu bytes, measured %zu", i, p.work, measured);
        cr_assert_eq(p.output, vae_vol_size(&out) * sizeof(float));
        cr_assert_gt(p.tiles, c.tiled ? 1 : 0);
        vae_vol_free(&out);
        cr_assert_eq(vae_mem_current(), base, "case %zu leaks counted memory", i);
        vae_vol_free(&in);
        wan_vae_free(&v);
        wr_weightfile_close(&wf);
    }
}

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key)))
            sscanf(line + strlen(key), "%ld", &v);
    if (f)
        fclose(f);
    return v;
}

/* Against the operating system: the peak RSS growth of a real decode (2.2 golden weights,
 * 5 frames of 128 x 128) over the planned working memory. Measured 26.4 MiB for a plan of
 * 25.2 MiB (1.05x; malloc headers, the thread pool and allocator slack make the rest); the
 * same check gave 1.01x to 1.05x on 2.1 and tiled runs. Bound: 0.8x .. 1.5x. */
Test(plan, within_a_factor_of_peak_rss, .timeout = 60)
{
#ifdef __SANITIZE_ADDRESS__
    cr_skip_test("peak RSS means nothing under AddressSanitizer (shadow memory, quarantine)");
#endif
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        cr_skip_test("no /proc/self/clear_refs: cannot reset the peak RSS");
    /* a fixed mmap threshold: freed activations go back to the system instead of staying in a
     * heap the measured run would reuse (glibc raises the threshold after large frees) */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    wr_weightfile wf;
    wan_vae v;
    open_vae(1, &wf, &v);
    vae_plan p;
    cr_assert_eq(vae_plan_model(&v, 1, 5, 128, 128, NULL, &p), WR_OK);
    vae_vol lat = random_vol(v.z_dim, 2, 8, 8, -1, 1, 6), out, warm_out;
    /* a first decode of the same size pays the one-time costs: the thread pool, first touches and
     * the matmul's kept packing scratch (it grows once to the largest GEMM and is reused) */
    cr_assert_eq(wan_vae_decode(&v, &lat, &warm_out), WR_OK);
    vae_vol_free(&warm_out);
    fputs("5", f); /* resets VmHWM to the current RSS (Linux >= 4.0) */
    fclose(f);
    long base = status_kb("VmRSS:");
    cr_assert_eq(wan_vae_decode(&v, &lat, &out), WR_OK);
    long hwm = status_kb("VmHWM:");
    if (base < 0 || hwm < 0)
        cr_skip_test("no VmRSS/VmHWM in /proc/self/status");
    double ratio = (double)(hwm - base) * 1024.0 / (double)p.work;
    cr_assert(ratio >= 0.8 && ratio <= 1.5, "peak RSS growth %ld KiB vs planned %zu KiB (%.2fx)", hwm - base,
              p.work / 1024, ratio);
    vae_vol_free(&lat), vae_vol_free(&out);
    wan_vae_free(&v);
    wr_weightfile_close(&wf);
}

/* The official configs at 1280x720x81 (BF16 weights): tiling bounds the working memory by the
 * tile (plus the output, which the caller needs anyway), and the streamed passes do not grow with
 * the frame count beyond the output. Numbers are printed by `make bench`. */
Test(plan, official_configs_at_720p, .timeout = 60)
{
    vae_tiling t = vae_tiling_defaults(VAE_TILE_ON);
    for (int is22 = 0; is22 < 2; is22++) {
        vae_plan_config c = vae_plan_config_official(is22);
        vae_plan full, tiled, tiled480, full41;
        cr_assert_eq(vae_plan_decode(&c, 81, 720, 1280, NULL, &full), WR_OK, "%s", wr_last_error());
        cr_assert_eq(vae_plan_decode(&c, 81, 720, 1280, &t, &tiled), WR_OK, "%s", wr_last_error());
        cr_assert_eq(vae_plan_decode(&c, 81, 480, 832, &t, &tiled480), WR_OK);
        cr_assert_eq(vae_plan_decode(&c, 41, 720, 1280, NULL, &full41), WR_OK);
        cr_assert_eq(tiled.tiles, 40);
        cr_assert_eq(full.output, (size_t)3 * 81 * 720 * 1280 * sizeof(float));
        cr_assert_lt(tiled.work * 4, full.work, "tiled %zu vs untiled %zu", tiled.work, full.work);
        /* beyond the output and the H x W weight plane, tiled memory is the same for 720p and 480p */
        double a = (double)(tiled.work - tiled.output - (size_t)720 * 1280 * 4);
        double b = (double)(tiled480.work - tiled480.output - (size_t)480 * 832 * 4);
        cr_assert_lt(fabs(a - b), 8.0 * 1048576.0, "tile working set 720p %.0f vs 480p %.0f bytes", a, b);
        /* untiled streaming: 41 frames need the same working memory beyond the output as 81 */
        cr_assert_eq(full.work - full.output, full41.work - full41.output);
        cr_assert(full.weights > 100u << 20 && full.weights < 2u << 30, "weights %zu", full.weights);
        vae_plan enc;
        cr_assert_eq(vae_plan_encode(&c, 81, 720, 1280, &t, &enc), WR_OK);
        cr_assert_lt(enc.work, tiled.work);
    }
}

/* ---- CLI ------------------------------------------------------------------------------------------ */

/* wanrt vae-decode --vae-tile W,H,SX,SY writes what wan_vae_decode_tiled computes. */
Test(tiling, cli_vae_decode_tiled, .timeout = 60)
{
    const char *bin = getenv("WANRT_BIN");
    if (!bin)
        bin = "build/release/wanrt";
    char dir[] = "/tmp/wanrt-vae-tile-XXXXXX", cmd[2048], out[600];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/o.safetensors", dir);
    char weights[512], cs[512];
    snprintf(weights, sizeof weights, "%s", wr_test_shared("golden/vae21/vae21_weights.safetensors"));
    snprintf(cs, sizeof cs, "%s", wr_test_shared("golden/vae21/vae21_f9_32x48.safetensors"));
    snprintf(cmd, sizeof cmd, "%s vae-decode --vae %s --inputs %s --out %s --vae-tile 32,24,16,16 > /dev/null", bin,
             weights, cs, out);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    wr_weightfile wf, in, got;
    wan_vae v;
    open_vae(0, &wf, &v);
    wr_test_open(&in, cs);
    wr_test_open(&got, out);
    const wr_wtensor *w = wr_weightfile_find(&in, "output.latent");
    cr_assert_not_null(w);
    int64_t n;
    vae_vol lat = {.c = (int)w->t.ne[3], .t = (int)w->t.ne[2], .h = (int)w->t.ne[1], .w = (int)w->t.ne[0],
                   .d = wr_test_load_f32(&in, "output.latent", &n)},
            want;
    vae_tiling t = {.mode = VAE_TILE_ON, .tile_w = 32, .tile_h = 24, .stride_w = 16, .stride_h = 16};
    cr_assert_eq(wan_vae_decode_tiled(&v, &lat, &t, &want), WR_OK);
    float *d = wr_test_load_f32(&got, "output.decoded", &n);
    cr_assert_eq((size_t)n, vae_vol_size(&want));
    cr_assert_eq(memcmp(d, want.d, (size_t)n * sizeof(float)), 0);
    free(d);
    vae_vol_free(&lat), vae_vol_free(&want);
    wan_vae_free(&v);
    wr_weightfile_close(&wf), wr_weightfile_close(&in), wr_weightfile_close(&got);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Picking a tiling for a memory budget: the untiled pass when it fits, the defaults when they
 * fit, smaller tiles below that, a clear error when nothing fits. */
Test(plan, pick_tiling_for_a_budget)
{
    wan_vae v;
    cr_assert_eq(wan_vae_init_shape(&v, 0, 96, 0, WR_DTYPE_BF16), WR_OK);
    vae_tiling t;
    cr_assert_eq(vae_plan_pick_tiling(&v, 1, 81, 720, 1280, (size_t)64 << 30, &t), WR_OK);
    cr_assert_eq(t.mode, VAE_TILE_OFF);
    cr_assert_eq(vae_plan_pick_tiling(&v, 1, 81, 720, 1280, (size_t)4 << 30, &t), WR_OK);
    cr_assert(t.mode == VAE_TILE_ON && t.tile_w == 272 && t.stride_w == 144);
    vae_plan p272, p208;
    vae_tiling d = vae_tiling_defaults(VAE_TILE_ON);
    cr_assert_eq(vae_plan_model(&v, 1, 81, 720, 1280, &d, &p272), WR_OK);
    cr_assert_eq(vae_plan_pick_tiling(&v, 1, 81, 720, 1280, p272.peak - 1, &t), WR_OK);
    cr_assert_eq(t.tile_w, 208);
    cr_assert_eq(vae_plan_model(&v, 1, 81, 720, 1280, &t, &p208), WR_OK);
    cr_assert_lt(p208.peak, p272.peak);
    cr_assert_eq(vae_plan_pick_tiling(&v, 1, 81, 720, 1280, (size_t)1 << 30, &t), WR_E_OOM);
    cr_assert(strstr(wr_last_error(), "over the budget"), "%s", wr_last_error());
    wan_vae_free(&v);
}

/* The grid against DiffSynth's task loop (for h in range(0, H, stride): skip when the previous
 * tile already reached the edge) for every size up to 100 and several tile/stride pairs. */
Test(tiling, grid_matches_the_reference_task_loop)
{
    static const int ts[][2] = {{34, 16}, {34, 18}, {17, 8}, {17, 9}, {6, 4}, {5, 5}, {3, 1}};
    for (size_t k = 0; k < sizeof ts / sizeof *ts; k++)
        for (int n = 1; n <= 100; n++) {
            int t = ts[k][0], s = ts[k][1], want = 0;
            for (int h = 0; h < n; h += s)
                want += !(h - s >= 0 && h - s + t >= n);
            vae_tiling tl = {.mode = VAE_TILE_ON, .tile_w = t * 8, .tile_h = t * 8, .stride_w = s * 8, .stride_h = s * 8};
            vae_tile_grid g;
            cr_assert_eq(vae_tiling_grid(&tl, 8, n, n, &g), WR_OK);
            cr_assert_eq(g.ny, want, "tile %d stride %d size %d: %d tiles, reference %d", t, s, n, g.ny, want);
            cr_assert_eq(g.nx, want);
            cr_assert_geq((g.ny - 1) * s + t, n, "the last tile must reach the edge");
        }
}
