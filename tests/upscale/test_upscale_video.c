/* The SeedVR2 upscaling pipeline on the tiny golden-config models: sizes and frame counts,
 * batches equal to separate runs (each batch is independent and reseeded), determinism,
 * overlap cross-fades emitting every frame once, and bad input or Ctrl-C leaving nothing. No
 * reference output exists for the whole pipeline (its noise comes from CUDA's generator). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/video.h"
#include "runtime/interrupt.h"
#include "tests/common/testutil.h"
#include "upscale/upscale.h"

static char dir[256];
static wr_weightfile dwf, vwf;
static upscale_dit *dit;
static upscale_vae *vae;
static float txt[5 * 48];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/wanrt-upscale-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    wr_test_open(&dwf, wr_test_shared("golden/post/seedvr2_dit_tiny_weights.safetensors"));
    wr_test_open(&vwf, wr_test_shared("golden/post/seedvr2_vae_tiny_weights.safetensors"));
    cr_assert_eq(upscale_dit_load(&dit, &dwf), WR_OK, "%s", wr_last_error());
    cr_assert_eq(upscale_vae_load(&vae, &vwf, 0), WR_OK, "%s", wr_last_error());
    cr_assert_eq(upscale_dit_config_get(dit)->txt_in, 48);
    uint64_t s = 5;
    for (int i = 0; i < 5 * 48; i++)
        txt[i] = wr_test_uniform(&s, -1, 1);
    wr_interrupt_clear();
}

static void teardown(void)
{
    upscale_dit_free(dit), upscale_vae_free(vae);
    wr_weightfile_close(&dwf), wr_weightfile_close(&vwf);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    wr_interrupt_clear();
}

/* frames first..first+n−1 of one moving pattern, written as a PNG folder */
static void make_clip(const char *name, int first, int n)
{
    wr_frames v;
    cr_assert_eq(wr_frames_alloc(&v, 40, 24, n, 16.0), WR_OK);
    for (int f = 0; f < n; f++)
        for (int y = 0; y < 24; y++)
            for (int x = 0; x < 40; x++) {
                uint8_t *p = wr_frames_at(&v, f) + ((size_t)y * 40 + x) * 3;
                int s = x + 2 * (f + first);
                p[0] = (uint8_t)(s * 5), p[1] = (uint8_t)(y * 9), p[2] = (uint8_t)(128 + ((s * y) % 97));
            }
    char p[400];
    snprintf(p, sizeof p, "%s/%s/", dir, name);
    cr_assert_eq(wr_video_write(p, &v, NULL), WR_OK, "%s", wr_last_error());
    wr_frames_free(&v);
}

static wr_status run(const char *in, const char *out, upscale_opts *o, wr_frames *got)
{
    char ip[400], op[400];
    snprintf(ip, sizeof ip, "%s/%s", dir, in);
    snprintf(op, sizeof op, "%s/%s", dir, out);
    upscale_models m = {.dit = dit, .vae = vae, .txt = txt, .txt_len = 5};
    wr_status st = upscale_video(&m, ip, op, o, NULL, NULL, NULL);
    if (st == WR_OK && got)
        cr_assert_eq(wr_video_read(op, got), WR_OK, "%s", wr_last_error());
    return st;
}

static upscale_opts small(void)
{
    upscale_opts o = upscale_opts_default();
    o.resolution = 32; /* 40x24 -> 53x32, written 52x32 (even), padded to 64x32 inside */
    return o;
}

TestSuite(upscale_video, .init = setup, .fini = teardown, .timeout = 120);

Test(upscale_video, batches_equal_separate_runs_and_runs_repeat)
{
    make_clip("all", 0, 10);
    make_clip("first", 0, 5);
    make_clip("second", 5, 5);
    upscale_opts o = small();
    wr_frames all, a, b, again;
    cr_assert_eq(run("all", "all.mkv", &o, &all), WR_OK, "%s", wr_last_error());
    cr_assert(all.count == 10 && all.width == 52 && all.height == 32, "%d frames %dx%d", all.count, all.width,
              all.height);
    cr_assert_eq(run("first", "a.mkv", &o, &a), WR_OK);
    cr_assert_eq(run("second", "b.mkv", &o, &b), WR_OK);
    size_t fb = (size_t)52 * 32 * 3;
    cr_assert_eq(memcmp(all.rgb, a.rgb, 5 * fb), 0, "batch 1 differs from its own run");
    cr_assert_eq(memcmp(all.rgb + 5 * fb, b.rgb, 5 * fb), 0, "batch 2 differs from its own run");
    cr_assert_eq(run("all", "again.mkv", &o, &again), WR_OK);
    cr_assert_eq(memcmp(all.rgb, again.rgb, 10 * fb), 0, "same seed, different output");
    wr_frames_free(&again);
    o.vae_tile = (upscale_vae_tiling){.tile_px = 64, .overlap_px = 16}; /* one tile covers 64x32 */
    cr_assert_eq(run("all", "again.mkv", &o, &again), WR_OK);
    cr_assert_eq(memcmp(all.rgb, again.rgb, 10 * fb), 0, "a covering VAE tile changed the output");
    wr_frames_free(&again);
    o.vae_tile = (upscale_vae_tiling){.tile_px = 32, .overlap_px = 16};
    cr_assert_eq(run("all", "again.mkv", &o, &again), WR_OK, "%s", wr_last_error());
    cr_assert_eq(again.count, 10);
    wr_frames_free(&again);
    o.vae_tile = (upscale_vae_tiling){0};
    o.seed = 43;
    cr_assert_eq(run("all", "again.mkv", &o, &again), WR_OK);
    cr_assert_neq(memcmp(all.rgb, again.rgb, 10 * fb), 0, "the seed changes nothing");
    wr_frames_free(&all), wr_frames_free(&a), wr_frames_free(&b), wr_frames_free(&again);
}

Test(upscale_video, overlap_padding_and_single_images)
{
    make_clip("all", 0, 10);
    make_clip("one", 3, 1);
    make_clip("seven", 0, 7);
    upscale_opts o = small();
    o.overlap = 2; /* batches start at 0, 3, 6: frames 3-4 and 6-7 are cross-faded */
    wr_frames v;
    cr_assert_eq(run("all", "ov.mkv", &o, &v), WR_OK, "%s", wr_last_error());
    cr_assert_eq(v.count, 10);
    wr_frames_free(&v);
    o = small();
    o.color = UPSCALE_COLOR_WAVELET;
    cr_assert_eq(run("seven", "seven/", &o, &v), WR_OK, "%s", wr_last_error()); /* 5 + 2 padded to 5 */
    cr_assert_eq(v.count, 7);
    wr_frames_free(&v);
    o.color = UPSCALE_COLOR_ADAIN;
    cr_assert_eq(run("one", "one.mkv", &o, &v), WR_OK, "%s", wr_last_error());
    cr_assert_eq(v.count, 1);
    wr_frames_free(&v);
    /* numz options: prepended frames leave the count unchanged, a uniform last batch too, and
     * max_resolution caps the longer edge (40x24 -> 106x64 -> 80x48) */
    o = small();
    o.prepend = 2;
    wr_frames plain;
    cr_assert_eq(run("seven", "pre.mkv", &o, &v), WR_OK, "%s", wr_last_error());
    cr_assert_eq(v.count, 7);
    o.prepend = 0;
    cr_assert_eq(run("seven", "plain.mkv", &o, &plain), WR_OK);
    cr_assert_neq(memcmp(v.rgb, plain.rgb, (size_t)v.width * v.height * 3), 0, "prepending changed nothing");
    wr_frames_free(&v), wr_frames_free(&plain);
    o.uniform = true;
    cr_assert_eq(run("seven", "uni.mkv", &o, &v), WR_OK, "%s", wr_last_error());
    cr_assert_eq(v.count, 7);
    wr_frames_free(&v);
    o = small();
    o.resolution = 64, o.max_resolution = 80;
    cr_assert_eq(run("one", "cap.mkv", &o, &v), WR_OK, "%s", wr_last_error());
    cr_assert(v.width == 80 && v.height == 48, "%dx%d", v.width, v.height);
    wr_frames_free(&v);
}

static void assert_nothing_left(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        cr_assert(e->d_name[0] == '.' ? !strstr(e->d_name, "tmp") : strcmp(e->d_name, "x.mkv") != 0,
                  "%s was left behind", e->d_name);
    closedir(d);
}

static void stop_after_first(void *ctx, int done, int total)
{
    (void)ctx, (void)total;
    if (done == 1)
        wr_interrupt_raise();
}

Test(upscale_video, bad_input_and_ctrl_c_leave_nothing)
{
    make_clip("all", 0, 10);
    upscale_opts o = small();
    o.batch = 4;
    cr_assert_eq(run("all", "x.mkv", &o, NULL), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "4n + 1"), "%s", wr_last_error());
    o = small();
    o.resolution = 1;
    cr_assert_eq(run("all", "x.mkv", &o, NULL), WR_E_ARG);
    o = small();
    cr_assert_neq(run("missing", "x.mkv", &o, NULL), WR_OK);
    o.progress = stop_after_first;
    cr_assert_eq(run("all", "x.mkv", &o, NULL), WR_E_INTERRUPTED);
    assert_nothing_left();
    float *t;
    int n;
    cr_assert_eq(upscale_text_load(wr_test_shared("golden/post/seedvr2_vae_tiny_weights.safetensors"), 48, &t, &n),
                 WR_E_FORMAT, "a VAE file is not a text embedding");
}
