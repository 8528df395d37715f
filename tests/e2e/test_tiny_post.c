/* The tiny post-processing models of make-tiny-models: each loads with the real loader and runs
 * (RIFE interpolation, SeedVR2 VAE encode/decode, one DiT step) to finite, non-constant output;
 * then `wanrt upscale` and `wanrt interpolate` on a clip from `wanrt generate` give the frame
 * counts and sizes they promise, with pictures that are neither constant nor static. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "media/png_io.h"
#include "media/video.h"
#include "models/tiny_models.h"
#include "rife/rife.h"
#include "runtime/io/weightfile.h"
#include "tests/common/testutil.h"
#include "upscale/svr_dit.h"
#include "upscale/svr_vae.h"
#include "upscale/upscale.h"
#include "vae/volume.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/wanrt-tinypost-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(wr_make_tiny_models(dir), WR_OK, "%s", wr_last_error());
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(tiny_post, .init = setup, .fini = teardown, .timeout = 300);

static const char *model(const char *file)
{
    static char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return p;
}

/* Every value finite and not all equal: random weights that blow up or die out fail here. */
static void expect_alive(const char *what, const float *x, size_t n)
{
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        cr_assert(isfinite(x[i]), "%s: value %zu is %g", what, i, (double)x[i]);
        lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
    }
    cr_assert_gt(hi - lo, 1e-3f, "%s is constant (%g)", what, (double)lo);
}

Test(tiny_post, rife_loads_and_interpolates)
{
    wr_weightfile wf;
    wr_test_open(&wf, model("rife_tiny.safetensors"));
    rife *m;
    cr_assert_eq(rife_load(&m, &wf), WR_OK, "%s", wr_last_error());
    enum { H = 24, W = 40 };
    static float a[3 * H * W], b[3 * H * W], out[3 * H * W];
    uint64_t s = 7;
    for (int i = 0; i < 3 * H * W; i++)
        a[i] = wr_test_uniform(&s, 0, 1), b[i] = wr_test_uniform(&s, 0, 1);
    cr_assert_eq(rife_interpolate(m, a, b, H, W, 0.5f, 1.0f, false, out), WR_OK, "%s", wr_last_error());
    expect_alive("RIFE frame", out, 3 * H * W);
    for (int i = 0; i < 3 * H * W; i++)
        cr_assert(out[i] >= 0.0f && out[i] <= 1.0f, "RIFE output %d = %g outside [0, 1]", i, (double)out[i]);
    rife_free(m);
    wr_weightfile_close(&wf);
}

Test(tiny_post, seedvr2_vae_loads_encodes_decodes)
{
    wr_weightfile wf;
    wr_test_open(&wf, model("seedvr2_vae_tiny.safetensors"));
    upscale_vae *m;
    cr_assert_eq(upscale_vae_load(&m, &wf, 0), WR_OK, "%s", wr_last_error());
    const upscale_vae_config *c = upscale_vae_cfg(m);
    cr_assert(c->groups == 4 && c->latent_channels == 16 && c->spatial_factor == 8 && c->temporal_factor == 4,
              "groups %d latent %d factors %d/%d", c->groups, c->latent_channels, c->spatial_factor, c->temporal_factor);
    vae_vol video = {0}, moments = {0}, mean = {0}, sd = {0}, back = {0};
    cr_assert_eq(vae_vol_alloc(&video, 3, 5, 16, 16), WR_OK);
    uint64_t s = 9;
    for (size_t i = 0; i < vae_vol_size(&video); i++)
        video.d[i] = wr_test_uniform(&s, -1, 1);
    cr_assert_eq(upscale_vae_encode(m, &video, 0, &moments), WR_OK, "%s", wr_last_error());
    cr_assert(moments.c == 32 && moments.t == 2 && moments.h == 2 && moments.w == 2);
    expect_alive("VAE moments", moments.d, vae_vol_size(&moments));
    cr_assert_eq(upscale_vae_posterior(&moments, &mean, &sd), WR_OK);
    cr_assert_eq(upscale_vae_decode(m, &mean, 0, &back), WR_OK, "%s", wr_last_error());
    cr_assert(back.c == 3 && back.t == 5 && back.h == 16 && back.w == 16);
    expect_alive("VAE decoded", back.d, vae_vol_size(&back));
    vae_vol_free(&video), vae_vol_free(&moments), vae_vol_free(&mean), vae_vol_free(&sd), vae_vol_free(&back);
    upscale_vae_free(m);
    wr_weightfile_close(&wf);
}

Test(tiny_post, seedvr2_dit_loads_and_steps)
{
    wr_weightfile wf;
    wr_test_open(&wf, model("seedvr2_dit_tiny.safetensors"));
    upscale_dit *m;
    cr_assert_eq(upscale_dit_load(&m, &wf), WR_OK, "%s", wr_last_error());
    const upscale_dit_config *c = upscale_dit_config_get(m);
    cr_assert(c->variant == UPSCALE_DIT_3B && c->dim == 64 && c->heads == 2 && c->head_dim == 32 &&
                  c->num_layers == 4 && c->mm_layers == 2 && c->vid_in == 33 && c->vid_out == 16 && c->txt_in == 48,
              "config: %s dim %d heads %d layers %d/%d", upscale_dit_variant_name(c->variant), c->dim, c->heads,
              c->mm_layers, c->num_layers);
    float *txt;
    int txt_len;
    cr_assert_eq(upscale_text_load(model("seedvr2_pos_emb.safetensors"), c->txt_in, &txt, &txt_len), WR_OK, "%s",
                 wr_last_error());
    upscale_dit_sample smp = {.t = 2, .h = 6, .w = 8, .txt_len = txt_len, .timestep = 1000.0f};
    enum { L = 2 * 6 * 8 };
    static float vid[L * 33], out[L * 16];
    uint64_t s = 11;
    for (int i = 0; i < L * 33; i++)
        vid[i] = i % 33 == 32 ? 1.0f : wr_test_uniform(&s, -1, 1);
    cr_assert_eq(upscale_dit_forward(m, &smp, 1, vid, txt, UPSCALE_DIT_ATTN_FP32, out, NULL, NULL), WR_OK, "%s",
                 wr_last_error());
    expect_alive("DiT velocity", out, L * 16);
    free(txt);
    upscale_dit_free(m);
    wr_weightfile_close(&wf);
}

/* ---- through the binary ------------------------------------------------------------------- */

static const char *bin(void)
{
    static char abs[4096];
    const char *b = getenv("WANRT_BIN");
    cr_assert_not_null(realpath(b && *b ? b : "build/release/wanrt", abs), "the wanrt binary is not built");
    return abs;
}

static void run(const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && %s %s > log.txt 2>&1", dir, bin(), args);
    int rc = system(cmd);
    if (rc != 0) {
        char log[8192] = "", p[400];
        snprintf(p, sizeof p, "%s/log.txt", dir);
        FILE *f = fopen(p, "r");
        if (f)
            log[fread(log, 1, sizeof log - 1, f)] = '\0', fclose(f);
        cr_assert_fail("wanrt %s failed:\n%s", args, log);
    }
}

/* Reads a video and checks its size, that its pixels vary within a frame (not a flat or NaN =
 * black picture) and that consecutive frames differ somewhere. */
static void expect_video(const char *file, int count, int width, int height)
{
    wr_frames v;
    cr_assert_eq(wr_video_read(model(file), &v), WR_OK, "%s", wr_last_error());
    cr_assert(v.count == count && v.width == width && v.height == height, "%s: %d frames %dx%d, expected %d %dx%d",
              file, v.count, v.width, v.height, count, width, height);
    size_t fsize = (size_t)width * height * 3;
    for (int f = 0; f < v.count; f++) {
        const uint8_t *p = wr_frames_at(&v, f);
        uint8_t lo = 255, hi = 0;
        for (size_t i = 0; i < fsize; i++)
            lo = p[i] < lo ? p[i] : lo, hi = p[i] > hi ? p[i] : hi;
        cr_assert_gt(hi - lo, 16, "%s: frame %d is flat (%d..%d)", file, f, lo, hi);
        if (f > 0)
            cr_assert_neq(memcmp(p, p - fsize, fsize), 0, "%s: frame %d repeats frame %d", file, f, f - 1);
    }
    wr_frames_free(&v);
}

Test(tiny_post, upscale_and_interpolate_a_generated_clip)
{
    run("generate --t5 umt5_tiny.safetensors --tokenizer tokenizer.model --vae wan21_vae_tiny.safetensors "
        "--high-noise wan22_i2v_high_noise.safetensors --low-noise wan22_i2v_low_noise.safetensors --image start.png "
        "--width 32 --height 32 --frames 5 --steps 2 --threads 2 --prompt \"a cat walks\" -o clip.mkv");
    expect_video("clip.mkv", 5, 32, 32);
    run("upscale clip.mkv -o up.mkv --model seedvr2_dit_tiny.safetensors --vae seedvr2_vae_tiny.safetensors "
        "--text seedvr2_pos_emb.safetensors --resolution 64 --threads 2");
    expect_video("up.mkv", 5, 64, 64);
    run("interpolate up.mkv -o smooth.mkv --model rife_tiny.safetensors --multiplier 2");
    expect_video("smooth.mkv", 9, 64, 64);
}

/* Reads frame_NNNNN.png i of a written folder. */
static uint8_t *folder_frame(const char *folder, int i, int *w, int *h)
{
    char rel[128];
    snprintf(rel, sizeof rel, "%s/frame_%05d.png", folder, i);
    uint8_t *rgb;
    cr_assert_eq(wr_png_read_rgb(model(rel), w, h, &rgb), WR_OK, "%s", wr_last_error());
    return rgb;
}

/* `wanrt upscale --vram/--block-swap` budget a GPU: refused on the CPU backend; on the emulator
 * the DiT placed with blocks swapped writes the same frames as the unbudgeted device run. */
Test(tiny_post, upscale_block_swap_on_the_device)
{
    cr_assert_eq(mkdir(model("in5"), 0755), 0);
    uint8_t rgb[24 * 16 * 3];
    for (int f = 0; f < 5; f++) {
        for (int i = 0; i < 24 * 16 * 3; i++)
            rgb[i] = (uint8_t)((i * 7 + f * 31 + (i / 72) * 13) & 255);
        char rel[64];
        snprintf(rel, sizeof rel, "in5/%02d.png", f);
        cr_assert_eq(wr_png_write_rgb(model(rel), 24, 16, rgb), WR_OK, "%s", wr_last_error());
    }
    const char *common = "--model seedvr2_dit_tiny.safetensors --vae seedvr2_vae_tiny.safetensors "
                         "--text seedvr2_pos_emb.safetensors --resolution 32 --threads 2";
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && %s upscale in5 -o cpu_out/ %s --device cpu --vram 4 > log.txt 2>&1", dir, bin(),
             common);
    cr_assert_neq(system(cmd), 0, "the CPU backend must refuse --vram");
    char log[2048] = "", p[400];
    snprintf(p, sizeof p, "%s/log.txt", dir);
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f);
    log[fread(log, 1, sizeof log - 1, f)] = '\0', fclose(f);
    cr_assert(strstr(log, "--device cuda"), "the error names the way out: %s", log);
    snprintf(cmd, sizeof cmd, "upscale in5 -o emu_plain/ %s --device emu", common);
    run(cmd);
    snprintf(cmd, sizeof cmd, "upscale in5 -o emu_swap/ %s --device emu --block-swap 3", common);
    run(cmd);
    /* 0.5 GiB is the driver reserve alone: refused before anything runs, naming the planner */
    snprintf(cmd, sizeof cmd, "cd %s && %s upscale in5 -o emu_none/ %s --device emu --vram 0.5 > log.txt 2>&1", dir,
             bin(), common);
    cr_assert_neq(system(cmd), 0, "a budget below the plan must be refused");
    f = fopen(p, "r");
    cr_assert_not_null(f);
    log[fread(log, 1, sizeof log - 1, f)] = '\0', fclose(f);
    cr_assert(strstr(log, "wanrt plan upscale"), "%s", log);
    snprintf(cmd, sizeof cmd, "upscale in5 -o emu_vram/ %s --device emu --vram 0.6", common);
    run(cmd);
    for (int i = 0; i < 5; i++) {
        int w0, h0, w1, h1, w2, h2;
        uint8_t *a = folder_frame("emu_plain", i, &w0, &h0), *b = folder_frame("emu_swap", i, &w1, &h1);
        uint8_t *c = folder_frame("emu_vram", i, &w2, &h2);
        cr_assert(w0 == 48 && h0 == 32 && w1 == w0 && h1 == h0 && w2 == w0 && h2 == h0, "frame %d: %dx%d", i, w1, h1);
        cr_assert_eq(memcmp(a, b, (size_t)w0 * h0 * 3), 0, "frame %d differs with 3 blocks swapped", i);
        cr_assert_eq(memcmp(a, c, (size_t)w0 * h0 * 3), 0, "frame %d differs under --vram", i);
        free(a), free(b), free(c);
    }
}

/* `wanrt interpolate --device emu`: RIFE with its images and weights in device buffers writes the
 * frames the CPU backend writes (8-bit PNGs; the device convolutions sum in another order than
 * the CPU's im2col + matmul, so a code may differ by one at a rounding boundary). */
Test(tiny_post, interpolate_on_the_device)
{
    cr_assert_eq(mkdir(model("in3"), 0755), 0);
    uint8_t rgb[40 * 24 * 3];
    for (int f = 0; f < 3; f++) {
        for (int i = 0; i < 40 * 24 * 3; i++)
            rgb[i] = (uint8_t)((i * 5 + f * 17 + (i / 120) * 11) & 255);
        char rel[64];
        snprintf(rel, sizeof rel, "in3/%02d.png", f);
        cr_assert_eq(wr_png_write_rgb(model(rel), 40, 24, rgb), WR_OK, "%s", wr_last_error());
    }
    run("interpolate in3 -o rife_cpu/ --model rife_tiny.safetensors --multiplier 2 --device cpu");
    run("interpolate in3 -o rife_emu/ --model rife_tiny.safetensors --multiplier 2 --device emu");
    for (int i = 0; i < 5; i++) {
        int w, h, we, he;
        uint8_t *c = folder_frame("rife_cpu", i, &w, &h), *e = folder_frame("rife_emu", i, &we, &he);
        cr_assert(w == 40 && h == 24 && we == w && he == h, "frame %d: %dx%d and %dx%d", i, w, h, we, he);
        for (int k = 0; k < w * h * 3; k++)
            cr_assert_leq(abs((int)c[k] - (int)e[k]), 1, "frame %d byte %d: cpu %d, emu %d", i, k, c[k], e[k]);
        free(c), free(e);
    }
}
