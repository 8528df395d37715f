/* Media I/O: PNG, PNG directories and FFmpeg containers round-trip; errors are clean. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/png_io.h"
#include "media/video.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/wanrt-media-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.' || strstr(e->d_name, ".tmp-") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* A smooth moving gradient: compresses well, so lossy codecs stay close. */
static void fill_clip(wr_frames *v)
{
    for (int f = 0; f < v->count; f++)
        for (int y = 0; y < v->height; y++)
            for (int x = 0; x < v->width; x++) {
                uint8_t *p = wr_frames_at(v, f) + ((size_t)y * (size_t)v->width + (size_t)x) * 3;
                p[0] = (uint8_t)(x * 255 / v->width);
                p[1] = (uint8_t)(y * 255 / v->height);
                p[2] = (uint8_t)((f * 20 + x + y) & 255);
            }
}

TestSuite(media, .init = make_tmpdir, .fini = remove_tmpdir);

Test(media, png_round_trip_exact)
{
    wr_frames v;
    cr_assert_eq(wr_frames_alloc(&v, 17, 9, 1, 0), WR_OK);
    for (size_t i = 0; i < 17 * 9 * 3; i++)
        v.rgb[i] = (uint8_t)(i * 7);
    char path[300];
    snprintf(path, sizeof path, "%s/a.png", tmpdir);
    cr_assert_eq(wr_png_write_rgb(path, 17, 9, v.rgb), WR_OK, "%s", wr_last_error());
    int w, h;
    uint8_t *rgb;
    cr_assert_eq(wr_png_read_rgb(path, &w, &h, &rgb), WR_OK, "%s", wr_last_error());
    cr_assert_eq(w, 17);
    cr_assert_eq(h, 9);
    cr_assert_eq(memcmp(rgb, v.rgb, 17 * 9 * 3), 0);
    free(rgb);
    wr_frames_free(&v);
    cr_assert_eq(count_entries(tmpdir), 1, "no temporary files may be left");
}

Test(media, png_corrupt_is_an_error)
{
    char path[300];
    snprintf(path, sizeof path, "%s/bad.png", tmpdir);
    FILE *f = fopen(path, "wb");
    fwrite("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0", 1, 18, f);
    fclose(f);
    int w, h;
    uint8_t *rgb;
    cr_assert_neq(wr_png_read_rgb(path, &w, &h, &rgb), WR_OK);
    cr_assert(strstr(wr_last_error(), "bad.png") != NULL);
    cr_assert_neq(wr_png_read_rgb("/nonexistent/x.png", &w, &h, &rgb), WR_OK);
    cr_assert(strstr(wr_last_error(), "/nonexistent/x.png") != NULL);
}

Test(media, ffv1_mkv_is_lossless)
{
    wr_frames v, back;
    cr_assert_eq(wr_frames_alloc(&v, 48, 32, 5, 16), WR_OK);
    fill_clip(&v);
    v.rgb[123] = 0;
    v.rgb[124] = 255; /* extremes survive */
    char path[300];
    snprintf(path, sizeof path, "%s/clip.mkv", tmpdir);
    cr_assert_eq(wr_video_write(path, &v, NULL), WR_OK, "%s", wr_last_error());
    cr_assert_eq(wr_video_read(path, &back), WR_OK, "%s", wr_last_error());
    cr_assert_eq(back.count, 5);
    cr_assert_eq(back.width, 48);
    cr_assert_eq(back.height, 32);
    cr_assert_float_eq(back.fps, 16.0, 1e-6);
    cr_assert_eq(memcmp(back.rgb, v.rgb, (size_t)48 * 32 * 3 * 5), 0);
    wr_frames_free(&v);
    wr_frames_free(&back);
}

Test(media, h264_mp4_frame_count_size_fps_and_quality)
{
    wr_frames v, back;
    cr_assert_eq(wr_frames_alloc(&v, 64, 48, 9, 16), WR_OK);
    fill_clip(&v);
    char path[300];
    snprintf(path, sizeof path, "%s/clip.mp4", tmpdir);
    wr_video_opts o = {.crf = 10};
    cr_assert_eq(wr_video_write(path, &v, &o), WR_OK, "%s", wr_last_error());
    cr_assert_eq(wr_video_read(path, &back), WR_OK, "%s", wr_last_error());
    cr_assert_eq(back.count, 9);
    cr_assert_eq(back.width, 64);
    cr_assert_eq(back.height, 48);
    cr_assert_float_eq(back.fps, 16.0, 1e-6);
    double se = 0;
    size_t n = (size_t)64 * 48 * 3 * 9;
    for (size_t i = 0; i < n; i++)
        se += ((double)back.rgb[i] - v.rgb[i]) * ((double)back.rgb[i] - v.rgb[i]);
    double psnr = 10 * log10(255.0 * 255.0 / (se / (double)n + 1e-12));
    /* crf 10 on a smooth gradient with 4:2:0 chroma: well above 30 dB */
    cr_assert_gt(psnr, 30.0, "PSNR %.1f dB", psnr);
    wr_frames_free(&v);
    wr_frames_free(&back);
}

Test(media, y4m_and_png_directory)
{
    wr_frames v, back;
    cr_assert_eq(wr_frames_alloc(&v, 33, 21, 3, 24), WR_OK); /* odd sizes */
    fill_clip(&v);
    char path[300];
    snprintf(path, sizeof path, "%s/clip.y4m", tmpdir);
    cr_assert_eq(wr_video_write(path, &v, NULL), WR_OK, "%s", wr_last_error());
    cr_assert_eq(wr_video_read(path, &back), WR_OK, "%s", wr_last_error());
    cr_assert_eq(back.count, 3);
    cr_assert_eq(back.width, 33);
    wr_frames_free(&back);
    snprintf(path, sizeof path, "%s/frames/", tmpdir);
    cr_assert_eq(wr_video_write(path, &v, NULL), WR_OK, "%s", wr_last_error());
    cr_assert_eq(wr_video_read(path, &back), WR_OK, "%s", wr_last_error());
    cr_assert_eq(back.count, 3);
    cr_assert_eq(memcmp(back.rgb, v.rgb, (size_t)33 * 21 * 3 * 3), 0);
    wr_frames_free(&v);
    wr_frames_free(&back);
}

Test(media, bad_outputs_leave_nothing)
{
    wr_frames v;
    cr_assert_eq(wr_frames_alloc(&v, 16, 16, 2, 16), WR_OK);
    fill_clip(&v);
    char path[300];
    snprintf(path, sizeof path, "%s/clip.avi2", tmpdir);
    cr_assert_eq(wr_video_write(path, &v, NULL), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), ".avi2") != NULL);
    snprintf(path, sizeof path, "%s/missing/clip.mp4", tmpdir);
    cr_assert_neq(wr_video_write(path, &v, NULL), WR_OK);
    cr_assert(strstr(wr_last_error(), "missing/clip.mp4") != NULL);
    cr_assert_eq(count_entries(tmpdir), 0, "no partial or temporary files may be left");
    wr_frames_free(&v);
}

Test(media, float_conversion_matches_comfyui)
{
    wr_frames v;
    cr_assert_eq(wr_frames_alloc(&v, 2, 1, 1, 0), WR_OK);
    /* [3, F=1, H=1, W=2]: channel-major */
    float chw[6] = {-1.0f, 1.0f, 0.0f, 2.0f, NAN, 0.5f};
    wr_frames_from_f32(&v, chw, 0, 1);
    cr_assert_eq(v.rgb[0], 0);   /* R of pixel 0: -1 */
    cr_assert_eq(v.rgb[1], 127); /* G of pixel 0: 0 -> 0.5*255 = 127.5 truncated */
    cr_assert_eq(v.rgb[2], 0);   /* B of pixel 0: NaN */
    cr_assert_eq(v.rgb[3], 255); /* R of pixel 1: 1 */
    cr_assert_eq(v.rgb[4], 255); /* G of pixel 1: 2 clamps */
    cr_assert_eq(v.rgb[5], 191); /* B of pixel 1: 0.75*255 = 191.25 */
    wr_frames_free(&v);
}

Test(media, unreadable_inputs)
{
    wr_frames v;
    cr_assert_neq(wr_video_read("/nonexistent.mp4", &v), WR_OK);
    cr_assert(strstr(wr_last_error(), "/nonexistent.mp4") != NULL);
    char path[300];
    snprintf(path, sizeof path, "%s/junk.mp4", tmpdir);
    FILE *f = fopen(path, "wb");
    fwrite("this is not a video", 1, 19, f);
    fclose(f);
    cr_assert_neq(wr_video_read(path, &v), WR_OK);
    cr_assert(strstr(wr_last_error(), "junk.mp4") != NULL);
    snprintf(path, sizeof path, "%s/empty/", tmpdir);
    cr_assert_neq(wr_video_read(path, &v), WR_OK);
}

#include "media/contact_sheet.h"

Test(media, contact_sheet_layout)
{
    wr_frames v;
    cr_assert_eq(wr_frames_alloc(&v, 8, 4, 9, 16), WR_OK);
    for (int f = 0; f < 9; f++)
        memset(wr_frames_at(&v, f), f * 10, 8 * 4 * 3);
    char path[300];
    snprintf(path, sizeof path, "%s/sheet.png", tmpdir);
    /* 3 cells of frames 0, 4, 8; 2 columns; cells shrunk 2x to 4x2 */
    cr_assert_eq(wr_contact_sheet_write(path, &v, 3, 2, 4), WR_OK, "%s", wr_last_error());
    int w, h;
    uint8_t *rgb;
    cr_assert_eq(wr_png_read_rgb(path, &w, &h, &rgb), WR_OK);
    cr_assert_eq(w, 2 * 4 + 3 * 2);
    cr_assert_eq(h, 2 * 2 + 3 * 2);
    cr_assert_eq(rgb[0], 24);                               /* gutter */
    cr_assert_eq(rgb[(2 * w + 2) * 3], 0);                  /* cell 0 = frame 0 */
    cr_assert_eq(rgb[(2 * w + 2 + 4 + 2) * 3], 40);         /* cell 1 = frame 4 */
    cr_assert_eq(rgb[((2 + 2 + 2) * w + 2) * 3], 80);       /* cell 2 = frame 8 */
    free(rgb);
    wr_frames_free(&v);
}

#include "media/image.h"

Test(media, image_read_png_and_jpeg)
{
    char path[300], cmd[700];
    snprintf(path, sizeof path, "%s/img.jpg", tmpdir);
    snprintf(cmd, sizeof cmd,
             "ffmpeg -loglevel error -f lavfi -i color=c=red:size=40x24 -frames:v 1 '%s'", path);
    if (system(cmd) != 0)
        cr_skip_test("the ffmpeg command is not installed (./setup.sh installs it)");
    wr_frames v;
    cr_assert_eq(wr_image_read(path, &v), WR_OK, "%s", wr_last_error());
    cr_assert_eq(v.width, 40);
    cr_assert_eq(v.height, 24);
    cr_assert_eq(v.count, 1);
    cr_assert_gt(v.rgb[0], 200); /* red */
    cr_assert_lt(v.rgb[1], 60);
    wr_frames_free(&v);
}
