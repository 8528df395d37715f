/* Streamed interpolation of whole videos: frame counts, inputs passed through exactly, the
 * in-between frames equal to rife_interpolate on the same pair, joint duplicates skipped across
 * chained clips, and failures or Ctrl-C leaving no output behind. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/video.h"
#include "rife/rife_video.h"
#include "runtime/interrupt.h"
#include "tests/common/testutil.h"

static char dir[256];
static rife *model;
static wr_weightfile weights;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/wanrt-rifev-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    wr_test_open(&weights, wr_test_shared("golden/post/rife47_weights.safetensors"));
    cr_assert_eq(rife_load(&model, &weights), WR_OK, "%s", wr_last_error());
    wr_interrupt_clear();
}

static void teardown(void)
{
    rife_free(model);
    wr_weightfile_close(&weights);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    wr_interrupt_clear();
}

/* A moving gradient: frame f is shifted by 3f pixels. */
static void make_clip(const char *name, int frames, int shift0, int w, int h, wr_frames *v)
{
    cr_assert_eq(wr_frames_alloc(v, w, h, frames, 16.0), WR_OK);
    for (int f = 0; f < frames; f++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *p = wr_frames_at(v, f) + ((size_t)y * w + x) * 3;
                int s = x + 3 * (f + shift0);
                p[0] = (uint8_t)(s * 4), p[1] = (uint8_t)(y * 4), p[2] = (uint8_t)((s + y) * 2);
            }
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(wr_video_write(path, v, NULL), WR_OK, "%s", wr_last_error());
}

static int run(const char *const *names, int n, const char *out, int mult)
{
    char paths[4][400], outp[400];
    const char *in[4];
    for (int i = 0; i < n; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", dir, names[i]);
        in[i] = paths[i];
    }
    snprintf(outp, sizeof outp, "%s/%s", dir, out);
    rife_video_opts o = {.multiplier = mult, .scale = 1.0f, .video = {.crf = -1}};
    int frames = -1;
    wr_status st = rife_interpolate_video(model, in, n, outp, &o, &frames);
    return st == WR_OK ? frames : -(int)st;
}

static void read_out(const char *name, wr_frames *v)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    cr_assert_eq(wr_video_read(p, v), WR_OK, "%s", wr_last_error());
}

TestSuite(rife_video, .init = setup, .fini = teardown, .timeout = 120);

Test(rife_video, inputs_pass_through_and_middles_equal_rife_interpolate)
{
    wr_frames src, got;
    make_clip("in/", 4, 0, 64, 64, &src);
    cr_assert_eq(run((const char *[]){"in"}, 1, "out.mkv", 2), 7);
    read_out("out.mkv", &got);
    cr_assert_eq(got.count, 7);
    cr_assert_float_eq(got.fps, 32.0, 1e-9);
    size_t bytes = (size_t)64 * 64 * 3, plane = 64 * 64;
    for (int f = 0; f < 4; f++)
        cr_assert_eq(memcmp(wr_frames_at(&got, 2 * f), wr_frames_at(&src, f), bytes), 0, "input frame %d changed", f);
    static float a[3 * 64 * 64], b[3 * 64 * 64], mid[3 * 64 * 64];
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            a[c * plane + i] = (float)wr_frames_at(&src, 1)[i * 3 + c] / 255.0f;
            b[c * plane + i] = (float)wr_frames_at(&src, 2)[i * 3 + c] / 255.0f;
        }
    cr_assert_eq(rife_interpolate(model, a, b, 64, 64, 0.5f, 1.0f, false, mid), WR_OK);
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            float want = mid[c * plane + i] * 255.0f + 0.5f;
            uint8_t w8 = (uint8_t)(want < 0 ? 0 : want > 255 ? 255 : want);
            cr_assert_eq(wr_frames_at(&got, 3)[i * 3 + c], w8, "pixel %zu channel %d", i, c);
        }
    wr_frames_free(&src), wr_frames_free(&got);
}

Test(rife_video, chained_clips_skip_the_repeated_joint_frame)
{
    wr_frames a, b, c, got;
    make_clip("a/", 3, 0, 40, 24, &a);
    make_clip("b/", 3, 2, 40, 24, &b); /* b's first frame is a's last */
    make_clip("c/", 2, 7, 40, 24, &c); /* c does not repeat b's last: kept */
    cr_assert_eq(run((const char *[]){"a", "b", "c"}, 3, "out/", 3), (7 - 1) * 3 + 1);
    read_out("out", &got);
    cr_assert_eq(got.count, 19);
    size_t bytes = (size_t)40 * 24 * 3;
    cr_assert_eq(memcmp(wr_frames_at(&got, 6), wr_frames_at(&b, 0), bytes), 0);
    cr_assert_eq(memcmp(wr_frames_at(&got, 18), wr_frames_at(&c, 1), bytes), 0);
    wr_frames_free(&a), wr_frames_free(&b), wr_frames_free(&c), wr_frames_free(&got);
}

static void assert_no_file(const char *name)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    cr_assert_neq(access(p, F_OK), 0, "%s was left behind", name);
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        cr_assert_null(strstr(e->d_name, ".tmp"), "temporary file %s left behind", e->d_name);
    closedir(d);
}

static void stop_after_first(void *ctx, int done, int total)
{
    (void)ctx, (void)total;
    if (done == 1)
        wr_interrupt_raise();
}

Test(rife_video, bad_inputs_and_ctrl_c_leave_nothing)
{
    wr_frames a, b, one;
    make_clip("a/", 3, 0, 40, 24, &a);
    make_clip("b/", 3, 0, 48, 24, &b);
    make_clip("one/", 1, 0, 40, 24, &one);
    cr_assert_eq(run((const char *[]){"a", "b"}, 2, "x.mkv", 2), -WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "clips must have one size"), "%s", wr_last_error());
    assert_no_file("x.mkv");
    cr_assert_eq(run((const char *[]){"a"}, 1, "x.mkv", 1), -WR_E_ARG);
    cr_assert_eq(run((const char *[]){"one"}, 1, "x.mkv", 2), -WR_E_ARG);
    assert_no_file("x.mkv");
    char in[400], outp[400];
    snprintf(in, sizeof in, "%s/a", dir);
    snprintf(outp, sizeof outp, "%s/x.mkv", dir);
    const char *ins[1] = {in};
    rife_video_opts o = {.multiplier = 2, .scale = 1.0f, .video = {.crf = -1}, .progress = stop_after_first};
    cr_assert_eq(rife_interpolate_video(model, ins, 1, outp, &o, NULL), WR_E_INTERRUPTED);
    assert_no_file("x.mkv");
    wr_frames_free(&a), wr_frames_free(&b), wr_frames_free(&one);
}
