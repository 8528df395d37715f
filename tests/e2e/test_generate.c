/* End to end on the tiny models: `wanrt make-tiny-models` then `wanrt generate` for t2v, i2v
 * and flf2v; the video is checked with ffprobe (codec, frames, fps, size) and the last-frame
 * PNG must equal the last decoded frame exactly. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/png_io.h"
#include "media/video.h"

static char dir[256];

static const char *bin(void)
{
    const char *b = getenv("WANRT_BIN");
    return b && *b ? b : "build/release/wanrt";
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/wanrt-e2e-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s make-tiny-models %s/m > /dev/null", bin(), dir);
    cr_assert_eq(system(cmd), 0, "make-tiny-models failed (is %s built?)", bin());
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static int run_generate(const char *mode_args, const char *out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s generate --t5 %s/m/umt5_tiny.safetensors --tokenizer %s/m/tokenizer.model "
             "--vae %s/m/wan21_vae_tiny.safetensors --width 32 --height 32 --frames 5 --steps 3 --split 1 "
             "--shift 8 --cfg 2,1,1 --seed 7 --prompt 'a cat walks on the grass' %s -o %s/%s 2> %s/log.txt",
             bin(), dir, dir, dir, mode_args, dir, out, dir);
    return system(cmd);
}

static void check_video(const char *name, const char *codec)
{
    char cmd[1024], line[256] = "";
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -count_frames -show_entries stream=codec_name,width,height,r_frame_rate,nb_read_frames "
             "-of csv=p=0 %s/%s", dir, name);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    if (!fgets(line, sizeof line, p)) {
        pclose(p);
        cr_skip_test("ffprobe is not installed (./setup.sh installs ffmpeg)");
    }
    pclose(p);
    line[strcspn(line, "\n")] = '\0';
    char want[128];
    snprintf(want, sizeof want, "%s,32,32,16/1,5", codec);
    cr_assert_str_eq(line, want, "%s: ffprobe says '%s'", name, line);
}

static void check_last_frame(const char *video, const char *png)
{
    char vp[512], pp[512];
    snprintf(vp, sizeof vp, "%s/%s", dir, video);
    snprintf(pp, sizeof pp, "%s/%s", dir, png);
    wr_frames v;
    cr_assert_eq(wr_video_read(vp, &v), WR_OK, "%s", wr_last_error());
    int w, h;
    uint8_t *rgb;
    cr_assert_eq(wr_png_read_rgb(pp, &w, &h, &rgb), WR_OK, "%s", wr_last_error());
    cr_assert_eq(w, v.width);
    cr_assert_eq(memcmp(rgb, wr_frames_at(&v, v.count - 1), (size_t)w * h * 3), 0, "last frame differs");
    free(rgb);
    wr_frames_free(&v);
}

TestSuite(e2e, .init = setup, .fini = teardown, .timeout = 300);

Test(e2e, every_mode_writes_a_video_and_the_exact_last_frame)
{
    char a[1024];
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_t2v_high_noise.safetensors --low-noise %s/m/wan22_t2v_low_noise.safetensors",
             dir, dir);
    cr_assert_eq(run_generate(a, "t2v.mkv"), 0, "t2v failed (see %s/log.txt)", dir);
    check_video("t2v.mkv", "ffv1");
    check_last_frame("t2v.mkv", "t2v.last.png"); /* FFV1 is lossless: the PNG equals the last frame */
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_i2v_high_noise.safetensors --low-noise %s/m/wan22_i2v_low_noise.safetensors "
             "--image %s/m/start.png", dir, dir, dir);
    cr_assert_eq(run_generate(a, "i2v.mp4"), 0, "i2v failed");
    check_video("i2v.mp4", "h264");
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_i2v_high_noise.safetensors --image %s/m/start.png --end-image %s/m/end.png",
             dir, dir, dir);
    cr_assert_eq(run_generate(a, "flf2v.mkv"), 0, "flf2v failed");
    check_last_frame("flf2v.mkv", "flf2v.last.png");
}

Test(e2e, bad_inputs_fail_before_work_and_leave_nothing)
{
    char a[1024];
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_t2v_high_noise.safetensors --frames 6", dir);
    cr_assert_neq(run_generate(a, "x.mp4"), 0);
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_t2v_high_noise.safetensors --mode i2v --image %s/m/start.png", dir, dir);
    cr_assert_neq(run_generate(a, "x.mp4"), 0); /* wrong model for the mode */
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_t2v_high_noise.safetensors --cfg-low 3", dir);
    cr_assert_neq(run_generate(a, "x.mp4"), 0); /* a per-step list and per-expert values conflict */
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_t2v_high_noise.safetensors --sampler dpm3", dir);
    cr_assert_neq(run_generate(a, "x.mp4"), 0);
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_t2v_high_noise.safetensors --attention int4", dir);
    cr_assert_neq(run_generate(a, "x.mp4"), 0);
    snprintf(a, sizeof a, "--high-noise %s/m/missing.safetensors", dir);
    cr_assert_neq(run_generate(a, "x.mp4"), 0);
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_i2v_high_noise.safetensors --image %s/m/nope.png", dir, dir);
    cr_assert_neq(run_generate(a, "x.mp4"), 0);
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_t2v_high_noise.safetensors", dir);
    cr_assert_neq(run_generate(a, "no/such/dir/x.mp4"), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/x.mp4", dir);
    cr_assert_neq(access(path, F_OK), 0, "no output may be left behind");
}

/* --attention sage runs (the CPU twin on the CPU backend, the kernel on the emulator) and says so;
 * its video differs from dense attention's only by the quantisation (same frame count and size). */
Test(e2e, sage_attention_generates)
{
    char a[1024], log[512], line[512];
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_t2v_high_noise.safetensors --attention sage", dir);
    cr_assert_eq(run_generate(a, "sage.mkv"), 0, "generate --attention sage failed (see %s/log.txt)", dir);
    check_video("sage.mkv", "ffv1");
    snprintf(log, sizeof log, "%s/log.txt", dir);
    FILE *f = fopen(log, "r");
    cr_assert_not_null(f);
    bool said = false;
    while (fgets(line, sizeof line, f))
        said |= strstr(line, "sage attention") != NULL;
    fclose(f);
    cr_assert(said, "the run names its attention");
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_t2v_high_noise.safetensors --attention sage --device emu", dir);
    cr_assert_eq(run_generate(a, "sage_emu.mkv"), 0, "generate --attention sage --device emu failed");
    check_video("sage_emu.mkv", "ffv1");
}

/* The bytes of a file (for comparing saved latents); caller frees. */
static unsigned char *slurp(const char *name, long *n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc((size_t)*n);
    cr_assert_eq(fread(d, 1, (size_t)*n, f), (size_t)*n);
    fclose(f);
    return d;
}

static bool same_file(const char *a, const char *b)
{
    long na, nb;
    unsigned char *da = slurp(a, &na), *db = slurp(b, &nb);
    bool same = na == nb && memcmp(da, db, (size_t)na) == 0;
    free(da), free(db);
    return same;
}

/* Sage runs can stay dense for the first steps or blocks: all of them dense is the dense run to
 * the bit, one dense step is neither run. */
Test(e2e, sage_attention_dense_steps_and_blocks)
{
    char a[1024];
    const char *variants[][2] = {{"", "dense"},
                                 {"--attention sage", "sage"},
                                 {"--attention sage --attention-dense-steps 3", "steps3"},
                                 {"--attention sage --attention-dense-blocks 2", "blocks2"},
                                 {"--attention sage --attention-dense-steps 1", "steps1"}};
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        char out[64];
        snprintf(out, sizeof out, "%s.mkv", variants[i][1]);
        snprintf(a, sizeof a, "--high-noise %s/m/wan22_t2v_high_noise.safetensors %s --save-latent %s/%s.lat", dir,
                 variants[i][0], dir, variants[i][1]);
        cr_assert_eq(run_generate(a, out), 0, "%s failed (see %s/log.txt)", variants[i][0], dir);
    }
    cr_assert(!same_file("dense.lat", "sage.lat"), "sage attention changes the latent");
    cr_assert(same_file("dense.lat", "steps3.lat"), "every step dense is the dense run");
    cr_assert(same_file("dense.lat", "blocks2.lat"), "every block dense (the tiny model has 2) is the dense run");
    cr_assert(!same_file("dense.lat", "steps1.lat") && !same_file("sage.lat", "steps1.lat"));
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_t2v_high_noise.safetensors --attention-dense-steps 1", dir);
    cr_assert_neq(run_generate(a, "bad.mkv"), 0, "dense steps without sage attention is an error");
}

/* On a device, each expert's weights are placed (resident or block-swapped) when it is bound and
 * released when the other takes over: the latent does not depend on the swap. */
Test(e2e, device_block_swap_and_vram_budget_keep_the_latent)
{
    char a[1024];
    const char *runs[][2] = {{"", "resident"}, {"--block-swap 1", "swap1"}, {"--vram 1", "budget"}};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char out[64];
        snprintf(out, sizeof out, "%s.mkv", runs[i][1]);
        snprintf(a, sizeof a, "--device emu --high-noise %s/m/wan22_t2v_high_noise.safetensors --low-noise "
                 "%s/m/wan22_t2v_low_noise.safetensors %s --save-latent %s/%s.lat", dir, dir, runs[i][0], dir,
                 runs[i][1]);
        cr_assert_eq(run_generate(a, out), 0, "%s failed (see %s/log.txt)", runs[i][0], dir);
    }
    cr_assert(same_file("resident.lat", "swap1.lat"), "block swap changes nothing but where weights live");
    cr_assert(same_file("resident.lat", "budget.lat"));
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_t2v_high_noise.safetensors --block-swap 1", dir);
    cr_assert_neq(run_generate(a, "cpu_swap.mkv"), 0, "block swap on the CPU backend is an error");
    snprintf(a, sizeof a, "--device emu --high-noise %s/m/wan22_t2v_high_noise.safetensors --vram 1M", dir);
    cr_assert_neq(run_generate(a, "tiny_budget.mkv"), 0, "a budget nothing fits is an error");
}

#include <dirent.h>

Test(e2e, text_cache_gives_the_same_video)
{
    char a[1024];
    snprintf(a, sizeof a, "--high-noise %s/m/wan22_t2v_high_noise.safetensors --text-cache %s", dir, dir);
    cr_assert_eq(run_generate(a, "c1.mkv"), 0);
    cr_assert_eq(run_generate(a, "c2.mkv"), 0);
    int cached = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        cached += strncmp(e->d_name, "t5-", 3) == 0;
    closedir(d);
    cr_assert_eq(cached, 2, "prompt and negative prompt are cached (%d files)", cached);
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/c1.mkv", dir);
    snprintf(p2, sizeof p2, "%s/c2.mkv", dir);
    wr_frames v1, v2;
    cr_assert_eq(wr_video_read(p1, &v1), WR_OK);
    cr_assert_eq(wr_video_read(p2, &v2), WR_OK);
    cr_assert_eq(memcmp(v1.rgb, v2.rgb, (size_t)v1.width * v1.height * 3 * (size_t)v1.count), 0);
    wr_frames_free(&v1), wr_frames_free(&v2);
}

#include "media/image.h"
#include "media/resize.h"
#include "runtime/io/weightfile.h"
#include "tests/common/testutil.h"
#include "vae/vae22.h"

/* TI2V with a start image: latent frame 0 must stay exactly the Wan 2.2 VAE encoding of the
 * (resized) image after every step; without an image the run is plain text-to-video. */
Test(e2e, ti2v_keeps_the_image_latent_in_frame_0)
{
    char a[1024];
    snprintf(a, sizeof a, "--mode ti2v --model %s/m/wan22_ti2v_5b.safetensors --image %s/m/start.png "
             "--save-latent %s/lat.safetensors", dir, dir, dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s generate --t5 %s/m/umt5_tiny.safetensors --tokenizer %s/m/tokenizer.model "
             "--vae %s/m/wan22_vae_tiny.safetensors --width 64 --height 32 --frames 5 --steps 3 "
             "--shift 5 --seed 3 --prompt 'a cat' %s -o %s/ti2v.mkv 2> %s/log.txt",
             bin(), dir, dir, dir, a, dir, dir);
    cr_assert_eq(system(cmd), 0, "ti2v failed (see %s/log.txt)", dir);
    check_last_frame("ti2v.mkv", "ti2v.last.png");
    char p[512];
    snprintf(p, sizeof p, "%s/m/wan22_vae_tiny.safetensors", dir);
    wr_weightfile vf, lf;
    wr_test_open(&vf, p);
    vae22 *vae;
    cr_assert_eq(vae22_load(&vae, &vf), WR_OK, "%s", wr_last_error());
    snprintf(p, sizeof p, "%s/m/start.png", dir);
    wr_frames img;
    cr_assert_eq(wr_image_read(p, &img), WR_OK);
    vae_vol frame, z;
    cr_assert_eq(vae_vol_alloc(&frame, 3, 1, 32, 64), WR_OK);
    cr_assert_eq(wr_resize_cover_crop(img.rgb, img.width, img.height, 64, 32, frame.d), WR_OK);
    cr_assert_eq(vae22_encode(vae, &frame, &z), WR_OK);
    snprintf(p, sizeof p, "%s/lat.safetensors", dir);
    wr_test_open(&lf, p);
    int64_t n;
    float *lat = wr_test_load_f32(&lf, "latent", &n);
    cr_assert_eq(n, 48 * 2 * 2 * 4); /* [48, T=2, 2, 4] */
    for (int c = 0; c < 48; c++)
        for (int i = 0; i < 8; i++)
            cr_assert_eq(lat[(c * 2 + 0) * 8 + i], z.d[c * 8 + i], "channel %d position %d", c, i);
    free(lat);
    vae_vol_free(&frame), vae_vol_free(&z);
    wr_frames_free(&img);
    vae22_free(vae);
    wr_weightfile_close(&vf), wr_weightfile_close(&lf);
}

/* extend = generate, then generate from that clip's exact last frame with the next seed, joined
 * without the repeated frame: the frames must match the two separate runs exactly. */
Test(e2e, extend_chains_segments_by_the_exact_last_frame)
{
    char common[2048], cmd[4096];
    snprintf(common, sizeof common,
             "--t5 %s/m/umt5_tiny.safetensors --tokenizer %s/m/tokenizer.model --vae %s/m/wan21_vae_tiny.safetensors "
             "--high-noise %s/m/wan22_i2v_high_noise.safetensors --width 32 --height 32 --frames 5 --steps 2 --prompt cat",
             dir, dir, dir, dir);
    snprintf(cmd, sizeof cmd, "%s generate %s --image %s/m/start.png --seed 7 -o %s/a.mkv 2>/dev/null", bin(), common, dir, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s generate %s --image %s/a.last.png --seed 8 -o %s/b.mkv 2>/dev/null", bin(), common, dir, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s extend %s --image %s/m/start.png --seed 7 --segments 2 -o %s/e.mkv 2>/dev/null", bin(),
             common, dir, dir);
    cr_assert_eq(system(cmd), 0);
    char p[512];
    wr_frames a, b, e;
    snprintf(p, sizeof p, "%s/a.mkv", dir);
    cr_assert_eq(wr_video_read(p, &a), WR_OK);
    snprintf(p, sizeof p, "%s/b.mkv", dir);
    cr_assert_eq(wr_video_read(p, &b), WR_OK);
    snprintf(p, sizeof p, "%s/e.mkv", dir);
    cr_assert_eq(wr_video_read(p, &e), WR_OK);
    cr_assert_eq(e.count, a.count + b.count - 1);
    size_t fb = (size_t)a.width * a.height * 3;
    cr_assert_eq(memcmp(e.rgb, a.rgb, fb * (size_t)a.count), 0, "segment 1 differs");
    cr_assert_eq(memcmp(e.rgb + fb * (size_t)a.count, b.rgb + fb, fb * (size_t)(b.count - 1)), 0, "segment 2 differs");
    wr_frames_free(&a), wr_frames_free(&b), wr_frames_free(&e);
}

/* interpolate: (n − 1)·m + 1 frames at m × fps, the input frames kept at every m-th position. */
Test(e2e, interpolate_a_clip)
{
    char cmd[4096], p[512];
    snprintf(cmd, sizeof cmd,
             "%s generate --t5 %s/m/umt5_tiny.safetensors --tokenizer %s/m/tokenizer.model --vae %s/m/wan21_vae_tiny.safetensors "
             "--high-noise %s/m/wan22_t2v_high_noise.safetensors --width 32 --height 32 --frames 5 --steps 2 --prompt cat "
             "-o %s/src.mkv 2>/dev/null && %s interpolate %s/src.mkv -o %s/x3.mkv --multiplier 3 --model %s 2>/dev/null",
             bin(), dir, dir, dir, dir, dir, bin(), dir, dir, wr_test_shared("golden/post/rife47_weights.pth"));
    cr_assert_eq(system(cmd), 0);
    wr_frames src, out;
    snprintf(p, sizeof p, "%s/src.mkv", dir);
    cr_assert_eq(wr_video_read(p, &src), WR_OK);
    snprintf(p, sizeof p, "%s/x3.mkv", dir);
    cr_assert_eq(wr_video_read(p, &out), WR_OK);
    cr_assert_eq(out.count, (src.count - 1) * 3 + 1);
    cr_assert_float_eq(out.fps, src.fps * 3, 1e-6);
    size_t fb = (size_t)src.width * src.height * 3;
    for (int i = 0; i < src.count; i++)
        cr_assert_eq(memcmp(wr_frames_at(&out, i * 3), wr_frames_at(&src, i), fb), 0, "input frame %d moved", i);
    wr_frames_free(&src), wr_frames_free(&out);
    snprintf(cmd, sizeof cmd, "%s interpolate %s/src.mkv -o %s/bad.mkv --multiplier 1 --model x 2>/dev/null", bin(), dir, dir);
    cr_assert_neq(system(cmd), 0);
}
