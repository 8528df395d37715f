/* The video API (video.h, video_stream.h) over its two backends: a path ending in '/' or naming
 * an existing directory is a PNG frame directory, anything else a file through FFmpeg. */
#include "media/video.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "media/video_internal.h"

static int is_dir_path(const char *path)
{
    size_t n = strlen(path);
    struct stat st;
    return (n > 0 && path[n - 1] == '/') || (stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

wr_status wr_video_reader_open(const char *path, wr_video_reader **out)
{
    wr_video_reader *r = calloc(1, sizeof *r);
    if (!r)
        return wr_fail(WR_E_OOM, "out of memory");
    r->is_dir = is_dir_path(path);
    wr_status st = r->is_dir ? wr_vdir_reader_open(r, path) : wr_vff_reader_open(r, path);
    if (st != WR_OK) {
        free(r);
        return st;
    }
    *out = r;
    return WR_OK;
}

const wr_video_info *wr_video_reader_info(const wr_video_reader *r) { return &r->info; }

wr_status wr_video_reader_next(wr_video_reader *r, uint8_t *rgb, bool *got)
{
    return r->is_dir ? wr_vdir_reader_next(r, rgb, got) : wr_vff_reader_next(r, rgb, got);
}

void wr_video_reader_close(wr_video_reader *r)
{
    if (!r)
        return;
    if (r->is_dir)
        wr_vdir_reader_close(r);
    else
        wr_vff_reader_close(r);
    free(r);
}

wr_status wr_video_writer_open(const char *path, int width, int height, double fps, const wr_video_opts *opts,
                               wr_video_writer **out)
{
    if (width <= 0 || height <= 0 || width > 32768 || height > 32768)
        return wr_fail(WR_E_ARG, "%s: invalid video size %dx%d", path, width, height);
    wr_video_writer *w = calloc(1, sizeof *w);
    if (!w)
        return wr_fail(WR_E_OOM, "out of memory");
    w->width = width;
    w->height = height;
    w->is_dir = is_dir_path(path);
    wr_status st = w->is_dir ? wr_vdir_writer_open(w, path) : wr_vff_writer_open(w, path, fps, opts);
    if (st != WR_OK) {
        free(w);
        return st;
    }
    *out = w;
    return WR_OK;
}

wr_status wr_video_writer_put(wr_video_writer *w, const uint8_t *rgb)
{
    WR_TRY(w->is_dir ? wr_vdir_writer_put(w, rgb) : wr_vff_writer_put(w, rgb));
    w->frames++;
    return WR_OK;
}

wr_status wr_video_writer_finish(wr_video_writer *w)
{
    wr_status st = w->is_dir ? wr_vdir_writer_finish(w) : wr_vff_writer_finish(w);
    free(w);
    return st;
}

void wr_video_writer_abort(wr_video_writer *w)
{
    if (!w)
        return;
    if (w->is_dir)
        wr_vdir_writer_abort(w);
    else
        wr_vff_writer_abort(w);
    free(w);
}

wr_status wr_video_write(const char *path, const wr_frames *v, const wr_video_opts *opts)
{
    wr_video_writer *w;
    WR_TRY(wr_video_writer_open(path, v->width, v->height, v->fps, opts, &w));
    for (int f = 0; f < v->count; f++) {
        wr_status st = wr_video_writer_put(w, wr_frames_at(v, f));
        if (st != WR_OK) {
            wr_video_writer_abort(w);
            return st;
        }
    }
    return wr_video_writer_finish(w);
}

wr_status wr_video_read(const char *path, wr_frames *out)
{
    memset(out, 0, sizeof *out);
    wr_video_reader *r;
    WR_TRY(wr_video_reader_open(path, &r));
    const wr_video_info *in = wr_video_reader_info(r);
    size_t bytes = (size_t)in->width * in->height * 3;
    int cap = in->count > 0 ? in->count : 32;
    wr_status st = wr_frames_alloc(out, in->width, in->height, cap, in->fps);
    out->count = 0;
    for (bool got = true; st == WR_OK;) {
        if (out->count == cap) { /* the container's frame count was missing or low */
            uint8_t *p = realloc(out->rgb, bytes * (size_t)cap * 2);
            if (!p) {
                st = wr_fail(WR_E_OOM, "%s: out of memory after %d frames", path, out->count);
                break;
            }
            out->rgb = p;
            cap *= 2;
        }
        st = wr_video_reader_next(r, wr_frames_at(out, out->count), &got);
        if (st != WR_OK || !got)
            break;
        out->count++;
    }
    if (st == WR_OK && out->count == 0)
        st = wr_fail(WR_E_FORMAT, "%s: the video has no frames", path);
    wr_video_reader_close(r);
    if (st != WR_OK)
        wr_frames_free(out);
    return st;
}
