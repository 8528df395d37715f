/* See rife_video.h. */
#include "rife/rife_video.h"

#include <stdlib.h>
#include <string.h>

#include "media/video_stream.h"
#include "runtime/interrupt.h"

static void to_planes(const uint8_t *rgb, size_t plane, float *p)
{
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++)
            p[(size_t)c * plane + i] = (float)rgb[i * 3 + (size_t)c] / 255.0f;
}

static void from_planes(const float *p, size_t plane, uint8_t *rgb)
{
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            float x = p[(size_t)c * plane + i] * 255.0f + 0.5f;
            rgb[i * 3 + (size_t)c] = (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
        }
}

typedef struct stream {
    const rife *m;
    const rife_video_opts *o;
    wr_video_writer *w;
    int width, height, have_prev, pairs, pairs_total;
    uint8_t *prev_rgb, *cur_rgb, *tmp_rgb;
    float *a, *b, *mid;
} stream;

/* Emits the frames between the previous frame and cur, then cur itself. */
static wr_status push(stream *s)
{
    size_t plane = (size_t)s->width * s->height;
    if (s->have_prev) {
        if (wr_interrupted())
            return wr_fail(WR_E_INTERRUPTED, "interpolation interrupted after %d frame pairs", s->pairs);
        to_planes(s->cur_rgb, plane, s->b);
        for (int k = 1; k < s->o->multiplier; k++) {
            WR_TRY(rife_interpolate(s->m, s->a, s->b, s->height, s->width, (float)k / (float)s->o->multiplier,
                                    s->o->scale, s->o->ensemble, s->mid));
            from_planes(s->mid, plane, s->tmp_rgb);
            WR_TRY(wr_video_writer_put(s->w, s->tmp_rgb));
        }
        float *t = s->a;
        s->a = s->b, s->b = t;
        s->pairs++;
        if (s->o->progress)
            s->o->progress(s->o->ctx, s->pairs, s->pairs_total);
    } else {
        to_planes(s->cur_rgb, plane, s->a);
    }
    WR_TRY(wr_video_writer_put(s->w, s->cur_rgb));
    uint8_t *t = s->prev_rgb;
    s->prev_rgb = s->cur_rgb, s->cur_rgb = t;
    s->have_prev = 1;
    return WR_OK;
}

static wr_status run_clip(stream *s, wr_video_reader *r, const char *path, int first_clip)
{
    const wr_video_info *in = wr_video_reader_info(r);
    if (in->width != s->width || in->height != s->height)
        return wr_fail(WR_E_ARG, "%s is %dx%d but the first input is %dx%d: clips must have one size", path,
                       in->width, in->height, s->width, s->height);
    size_t bytes = (size_t)s->width * s->height * 3;
    for (int f = 0;; f++) {
        bool got;
        WR_TRY(wr_video_reader_next(r, s->cur_rgb, &got));
        if (!got)
            return WR_OK;
        if (f == 0 && !first_clip && memcmp(s->cur_rgb, s->prev_rgb, bytes) == 0) {
            if (s->pairs_total > 0)
                s->pairs_total--;
            continue; /* the chained clip repeats the joint frame */
        }
        WR_TRY(push(s));
    }
}

wr_status rife_interpolate_video(const rife *m, const char *const *inputs, int n_inputs, const char *out,
                                 const rife_video_opts *o, int *out_frames)
{
    if (o->multiplier < 2)
        return wr_fail(WR_E_ARG, "multiplier %d: interpolation needs 2 or more", o->multiplier);
    if (n_inputs < 1)
        return wr_fail(WR_E_ARG, "no input video");
    wr_video_reader *r[64] = {0};
    if (n_inputs > 64)
        return wr_fail(WR_E_ARG, "at most 64 input clips");
    stream s = {.m = m, .o = o};
    wr_status st = WR_OK;
    int total_frames = 0;
    /* every input opens (and agrees on size) before any output is written */
    for (int i = 0; i < n_inputs && st == WR_OK; i++) {
        st = wr_video_reader_open(inputs[i], &r[i]);
        if (st != WR_OK)
            break;
        const wr_video_info *in = wr_video_reader_info(r[i]);
        if (i == 0)
            s.width = in->width, s.height = in->height;
        else if (in->width != s.width || in->height != s.height)
            st = wr_fail(WR_E_ARG, "%s is %dx%d but %s is %dx%d: clips must have one size", inputs[i], in->width,
                         in->height, inputs[0], s.width, s.height);
        total_frames = total_frames >= 0 && in->count > 0 ? total_frames + in->count : -1;
    }
    s.pairs_total = total_frames > 0 ? total_frames - 1 : -1;
    const wr_video_info *first = st == WR_OK ? wr_video_reader_info(r[0]) : NULL;
    size_t plane = (size_t)s.width * s.height;
    if (st == WR_OK) {
        double fps = o->fps_out > 0 ? o->fps_out : (first->fps > 0 ? first->fps : 16.0) * o->multiplier;
        st = wr_video_writer_open(out, s.width, s.height, fps, &o->video, &s.w);
    }
    if (st == WR_OK) {
        s.prev_rgb = malloc(plane * 3), s.cur_rgb = malloc(plane * 3), s.tmp_rgb = malloc(plane * 3);
        s.a = malloc(plane * 3 * sizeof(float)), s.b = malloc(plane * 3 * sizeof(float));
        s.mid = malloc(plane * 3 * sizeof(float));
        if (!s.prev_rgb || !s.cur_rgb || !s.tmp_rgb || !s.a || !s.b || !s.mid)
            st = wr_fail(WR_E_OOM, "out of memory for %dx%d frames", s.width, s.height);
    }
    for (int i = 0; i < n_inputs && st == WR_OK; i++)
        st = run_clip(&s, r[i], inputs[i], i == 0);
    if (st == WR_OK && wr_interrupted())
        st = wr_fail(WR_E_INTERRUPTED, "interpolation interrupted at the end of the clip");
    if (st == WR_OK && s.pairs == 0)
        st = wr_fail(WR_E_ARG, "%s: needs at least 2 frames to interpolate", inputs[0]);
    int written = s.w ? s.pairs * o->multiplier + 1 : 0;
    if (s.w)
        st = st == WR_OK ? wr_video_writer_finish(s.w) : (wr_video_writer_abort(s.w), st);
    for (int i = 0; i < n_inputs; i++)
        wr_video_reader_close(r[i]);
    free(s.prev_rgb), free(s.cur_rgb), free(s.tmp_rgb), free(s.a), free(s.b), free(s.mid);
    if (st == WR_OK && out_frames)
        *out_frames = written;
    return st;
}
