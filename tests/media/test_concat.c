/* wr_concat: clips joined in order and streamed to the output, repeated joint frames dropped on
 * request, colour matching pulling a clip towards the frame before it, and size / frame-rate
 * mismatches refused with nothing written. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/concat.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/wanrt-concat-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(concat, .init = setup, .fini = teardown);

/* frame f of a clip: value base + 10 f, with a colour cast (dr, dg, db) */
static void make_clip(const char *name, int n, int w, int h, double fps, int base, int dr, int dg, int db)
{
    wr_frames v;
    cr_assert_eq(wr_frames_alloc(&v, w, h, n, fps), WR_OK);
    for (int f = 0; f < n; f++)
        for (int p = 0; p < w * h; p++) {
            uint8_t *px = wr_frames_at(&v, f) + p * 3;
            int g = base + 10 * f + (p % w) * 2;
            px[0] = (uint8_t)(g + dr), px[1] = (uint8_t)(g + dg), px[2] = (uint8_t)(g + db);
        }
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(wr_video_write(path, &v, NULL), WR_OK, "%s", wr_last_error());
    wr_frames_free(&v);
}

static wr_status join(const char *a, const char *b, const char *out, const wr_concat_opts *o, int *frames)
{
    static char pa[400], pb[400], po[400];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    snprintf(po, sizeof po, "%s/%s", dir, out);
    const char *in[2] = {pa, pb};
    return wr_concat(in, 2, po, o, frames);
}

static void read_out(const char *name, wr_frames *v)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    cr_assert_eq(wr_video_read(p, v), WR_OK, "%s", wr_last_error());
}

Test(concat, order_and_joint_repeats)
{
    make_clip("a.mkv", 3, 16, 8, 16, 50, 0, 0, 0);
    make_clip("b.mkv", 2, 16, 8, 16, 70, 0, 0, 0); /* b's first frame equals a's last (50 + 20) */
    wr_concat_opts o = {.color = WR_COLOR_MATCH_NONE};
    int n;
    cr_assert_eq(join("a.mkv", "b.mkv", "ab.mkv", &o, &n), WR_OK, "%s", wr_last_error());
    cr_assert_eq(n, 5);
    wr_frames v;
    read_out("ab.mkv", &v);
    cr_assert_eq(v.count, 5);
    cr_assert_eq(wr_frames_at(&v, 3)[0], 70);
    cr_assert_eq(wr_frames_at(&v, 4)[0], 80);
    wr_frames_free(&v);
    o.drop_joint_repeats = true;
    cr_assert_eq(join("a.mkv", "b.mkv", "ab2.mkv", &o, &n), WR_OK);
    cr_assert_eq(n, 4, "the repeated joint frame is written once");
    read_out("ab2.mkv", &v);
    cr_assert_eq(v.count, 4);
    cr_assert_eq(wr_frames_at(&v, 3)[0], 80);
    wr_frames_free(&v);
}

static double mean_channel(const wr_frames *v, int f, int c)
{
    double s = 0;
    for (int p = 0; p < v->width * v->height; p++)
        s += wr_frames_at(v, f)[p * 3 + c];
    return s / (v->width * v->height);
}

Test(concat, colour_match_pulls_towards_the_previous_frame)
{
    make_clip("a.mkv", 2, 16, 8, 16, 60, 0, 0, 0);
    make_clip("b.mkv", 2, 16, 8, 16, 70, 30, 0, -20); /* a red/yellow cast */
    wr_concat_opts o = {.color = WR_COLOR_MATCH_LAB_MEANSTD};
    int n;
    cr_assert_eq(join("a.mkv", "b.mkv", "m.mkv", &o, &n), WR_OK, "%s", wr_last_error());
    wr_frames v;
    read_out("m.mkv", &v);
    double before = 30.0, after = mean_channel(&v, 2, 0) - mean_channel(&v, 2, 1);
    cr_assert_lt(after < 0 ? -after : after, before / 3, "red-green cast %g (was %g)", after, before);
    wr_frames_free(&v);
}

Test(concat, mismatches_are_refused_and_leave_nothing)
{
    make_clip("a.mkv", 2, 16, 8, 16, 60, 0, 0, 0);
    make_clip("wide.mkv", 2, 24, 8, 16, 60, 0, 0, 0);
    make_clip("fast.mkv", 2, 16, 8, 24, 60, 0, 0, 0);
    wr_concat_opts o = {.color = WR_COLOR_MATCH_NONE};
    cr_assert_eq(join("a.mkv", "wide.mkv", "x.mkv", &o, NULL), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "equal sizes"), "%s", wr_last_error());
    cr_assert_eq(join("a.mkv", "fast.mkv", "x.mkv", &o, NULL), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "fps"), "%s", wr_last_error());
    char p[400];
    snprintf(p, sizeof p, "%s/x.mkv", dir);
    cr_assert_neq(access(p, F_OK), 0, "a failed concat left %s", p);
    o.fps = 24;
    int n;
    cr_assert_eq(join("a.mkv", "fast.mkv", "x.mkv", &o, &n), WR_OK, "--fps overrides: %s", wr_last_error());
    cr_assert_eq(n, 4);
}
