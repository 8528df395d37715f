/* The backends behind video_stream.h: FFmpeg files and PNG frame directories. video.c picks
 * one by the path and owns the public structs; each backend keeps its state in impl. */
#ifndef WR_VIDEO_INTERNAL_H
#define WR_VIDEO_INTERNAL_H

#include "media/video_stream.h"

struct wr_video_reader {
    wr_video_info info;
    int is_dir;
    void *impl;
};

struct wr_video_writer {
    int width, height, is_dir, frames;
    void *impl;
};

wr_status wr_vdir_reader_open(wr_video_reader *r, const char *dir);
wr_status wr_vdir_reader_next(wr_video_reader *r, uint8_t *rgb, bool *got);
void wr_vdir_reader_close(wr_video_reader *r);
wr_status wr_vdir_writer_open(wr_video_writer *w, const char *dir);
wr_status wr_vdir_writer_put(wr_video_writer *w, const uint8_t *rgb);
wr_status wr_vdir_writer_finish(wr_video_writer *w);
void wr_vdir_writer_abort(wr_video_writer *w);

wr_status wr_vff_reader_open(wr_video_reader *r, const char *path);
wr_status wr_vff_reader_next(wr_video_reader *r, uint8_t *rgb, bool *got);
void wr_vff_reader_close(wr_video_reader *r);
wr_status wr_vff_writer_open(wr_video_writer *w, const char *path, double fps, const wr_video_opts *opts);
wr_status wr_vff_writer_put(wr_video_writer *w, const uint8_t *rgb);
wr_status wr_vff_writer_finish(wr_video_writer *w);
void wr_vff_writer_abort(wr_video_writer *w);

#endif
