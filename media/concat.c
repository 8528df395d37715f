/* See concat.h. */
#include "media/concat.h"

#include <stdlib.h>
#include <string.h>

#include "media/video_stream.h"

wr_status wr_concat(const char *const *inputs, int n, const char *out, const wr_concat_opts *o, int *frames)
{
    if (n < 1)
        return wr_fail(WR_E_ARG, "concat: no input clips");
    wr_frames clip = {0};
    wr_video_writer *w = NULL;
    uint8_t *last = NULL;
    int written = 0, width = 0, height = 0;
    double fps = 0;
    wr_status st = WR_OK;
    for (int i = 0; i < n && st == WR_OK; i++) {
        st = wr_video_read(inputs[i], &clip);
        if (st != WR_OK)
            break;
        if (i == 0) {
            width = clip.width, height = clip.height, fps = clip.fps;
            last = malloc((size_t)width * height * 3);
            st = last ? wr_video_writer_open(out, width, height, o->fps > 0 ? o->fps : fps > 0 ? fps : 16.0,
                                             &o->video, &w)
                      : wr_fail(WR_E_OOM, "out of memory");
        } else if (clip.width != width || clip.height != height) {
            st = wr_fail(WR_E_ARG, "%s: clip is %dx%d but %s is %dx%d: concat needs equal sizes", inputs[i],
                         clip.width, clip.height, inputs[0], width, height);
        } else if (o->fps <= 0 && clip.fps > 0 && fps > 0 && (clip.fps - fps > 1e-3 || fps - clip.fps > 1e-3)) {
            st = wr_fail(WR_E_ARG, "%s: %g fps but %s is %g fps (give --fps to override)", inputs[i], clip.fps,
                         inputs[0], fps);
        }
        size_t fb = (size_t)width * height * 3;
        int first = 0;
        if (st == WR_OK && i > 0 && o->drop_joint_repeats && memcmp(wr_frames_at(&clip, 0), last, fb) == 0)
            first = 1; /* chained from our last frame: already written */
        if (st == WR_OK && i > 0 && o->color != WR_COLOR_MATCH_NONE)
            st = wr_color_match_apply(&clip, last, width, height, o->color);
        for (int f = first; st == WR_OK && f < clip.count; f++, written++)
            st = wr_video_writer_put(w, wr_frames_at(&clip, f));
        if (st == WR_OK && clip.count > 0)
            memcpy(last, wr_frames_at(&clip, clip.count - 1), fb);
        wr_frames_free(&clip);
    }
    free(last);
    if (w)
        st = st == WR_OK ? wr_video_writer_finish(w) : (wr_video_writer_abort(w), st);
    if (st == WR_OK && frames)
        *frames = written;
    return st;
}
