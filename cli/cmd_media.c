/* Video tools: wanrt frames | last-frame | encode | concat (the seed workflow's glue steps). */
#include <stdio.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "media/concat.h"
#include "media/png_io.h"
#include "media/video.h"

/* Parses "IN... -o OUT [--fps N] [--crf N]"; positional inputs are collected in order. */
typedef struct media_args {
    const char *inputs[64];
    int n_inputs;
    const char *out;
    double fps;
    int crf;
} media_args;

static int parse_media_args(const char *cmd, int argc, char **argv, media_args *a, const char *usage)
{
    memset(a, 0, sizeof *a);
    a->crf = -1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            printf("usage: wanrt %s %s\n", cmd, usage);
            return 0;
        } else if ((strcmp(s, "-o") == 0 || strcmp(s, "--out") == 0) && i + 1 < argc) {
            a->out = argv[++i];
        } else if (strcmp(s, "--fps") == 0 && i + 1 < argc) {
            if (!cli_parse_float("--fps", argv[++i], &a->fps) || a->fps <= 0 || a->fps > 1000) {
                fprintf(stderr, "wanrt %s: --fps must be in (0, 1000]\n", cmd);
                return 2;
            }
        } else if (strcmp(s, "--crf") == 0 && i + 1 < argc) {
            long long v;
            if (!cli_parse_int("--crf", argv[++i], 0, 51, &v))
                return 2;
            a->crf = (int)v;
        } else if (s[0] == '-' && s[1] != '\0') {
            fprintf(stderr, "wanrt %s: unknown or incomplete option '%s'\nusage: wanrt %s %s\n", cmd,
                    s, cmd, usage);
            return 2;
        } else if (a->n_inputs < 64) {
            a->inputs[a->n_inputs++] = s;
        } else {
            fprintf(stderr, "wanrt %s: too many inputs (at most 64)\n", cmd);
            return 2;
        }
    }
    if (!a->out || a->n_inputs == 0) {
        fprintf(stderr, "usage: wanrt %s %s\n", cmd, usage);
        return 2;
    }
    return -1; /* parsed: go on */
}

int cmd_frames(int argc, char **argv)
{
    media_args a;
    int rc = parse_media_args("frames", argc, argv, &a, "IN.mp4 -o DIR/");
    if (rc >= 0)
        return rc;
    wr_frames v;
    wr_status st = wr_video_read(a.inputs[0], &v);
    if (st != WR_OK)
        return cli_report("frames", st);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s", a.out, a.out[strlen(a.out) - 1] == '/' ? "" : "/");
    st = wr_video_write(dir, &v, NULL);
    if (st == WR_OK)
        printf("wrote %d frames (%dx%d) to %s\n", v.count, v.width, v.height, dir);
    wr_frames_free(&v);
    return st == WR_OK ? 0 : cli_report("frames", st);
}

int cmd_last_frame(int argc, char **argv)
{
    media_args a;
    int rc = parse_media_args("last-frame", argc, argv, &a, "IN.mp4|DIR -o last.png");
    if (rc >= 0)
        return rc;
    wr_frames v;
    wr_status st = wr_video_read(a.inputs[0], &v);
    if (st != WR_OK)
        return cli_report("last-frame", st);
    st = wr_png_write_rgb(a.out, v.width, v.height, wr_frames_at(&v, v.count - 1));
    if (st == WR_OK)
        printf("wrote frame %d of %d (%dx%d) to %s\n", v.count - 1, v.count, v.width, v.height, a.out);
    wr_frames_free(&v);
    return st == WR_OK ? 0 : cli_report("last-frame", st);
}

int cmd_encode(int argc, char **argv)
{
    media_args a;
    int rc = parse_media_args("encode", argc, argv, &a, "DIR|IN -o OUT.mp4|.mkv|.y4m [--fps 16] [--crf 19]");
    if (rc >= 0)
        return rc;
    wr_frames v;
    wr_status st = wr_video_read(a.inputs[0], &v);
    if (st != WR_OK)
        return cli_report("encode", st);
    if (a.fps > 0)
        v.fps = a.fps;
    if (v.fps <= 0)
        v.fps = 16.0;
    wr_video_opts o = {.crf = a.crf};
    st = wr_video_write(a.out, &v, &o);
    if (st == WR_OK)
        printf("wrote %d frames (%dx%d, %g fps) to %s\n", v.count, v.width, v.height, v.fps, a.out);
    wr_frames_free(&v);
    return st == WR_OK ? 0 : cli_report("encode", st);
}

/* wanrt concat: media/concat.h, with its two options on top of the common ones. */
int cmd_concat(int argc, char **argv)
{
    static const char usage[] = "A B [C...] -o OUT [--fps N] [--crf N] [--color-match none|lab|histogram]\n"
                                "       [--drop-joint-repeats]  (skip a clip's first frame when it repeats the last one)";
    wr_concat_opts o = {.color = WR_COLOR_MATCH_NONE};
    char *rest[130];
    int n = 0;
    for (int i = 0; i < argc && n < 128; i++) { /* take concat's own flags out, the rest is common */
        if (!strcmp(argv[i], "--drop-joint-repeats")) {
            o.drop_joint_repeats = true;
        } else if (!strcmp(argv[i], "--color-match") && i + 1 < argc) {
            if (!wr_color_match_parse(argv[++i], &o.color)) {
                fprintf(stderr, "wanrt concat: --color-match takes none, lab or histogram\n");
                return 2;
            }
        } else {
            rest[n++] = argv[i];
        }
    }
    rest[n] = NULL;
    media_args a;
    int rc = parse_media_args("concat", n, rest, &a, usage);
    if (rc >= 0)
        return rc;
    o.fps = a.fps;
    o.video.crf = a.crf;
    int frames = 0;
    wr_status st = wr_concat(a.inputs, a.n_inputs, a.out, &o, &frames);
    if (st == WR_OK)
        printf("wrote %d frames from %d clips to %s\n", frames, a.n_inputs, a.out);
    return st == WR_OK ? 0 : cli_report("concat", st);
}

#include "models/tiny_models.h"

int cmd_make_tiny_models(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(argc == 2 ? stdout : stderr, "usage: wanrt make-tiny-models DIR\n");
        return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    wr_status st = wr_make_tiny_models(argv[1]);
    if (st != WR_OK)
        return cli_report("make-tiny-models", st);
    printf("wrote tiny random-weight models to %s\n", argv[1]);
    return 0;
}
