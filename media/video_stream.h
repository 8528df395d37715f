/* Frame-at-a-time video I/O, so long clips go through interpolation and upscaling in bounded
 * memory: a reader hands out one RGB frame per call, a writer encodes one per call. The formats
 * are those of video.h (files through FFmpeg, PNG frame directories). A writer encodes into a
 * temporary name and only wr_video_writer_finish renames it into place, so an aborted or failed
 * run never leaves a half-written video (a PNG directory gets each frame atomically). */
#ifndef WR_VIDEO_STREAM_H
#define WR_VIDEO_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "media/video.h"

typedef struct wr_video_reader wr_video_reader;
typedef struct wr_video_writer wr_video_writer;

typedef struct wr_video_info {
    int width, height;
    double fps; /* 0 when unknown (a PNG directory) */
    int count;  /* frames, or -1 when the container does not say */
} wr_video_info;

wr_status wr_video_reader_open(const char *path, wr_video_reader **out);
const wr_video_info *wr_video_reader_info(const wr_video_reader *r);
/* Decodes the next frame into rgb (width * height * 3 bytes); *got is false at the end. */
wr_status wr_video_reader_next(wr_video_reader *r, uint8_t *rgb, bool *got);
/* Accepts NULL. */
void wr_video_reader_close(wr_video_reader *r);

wr_status wr_video_writer_open(const char *path, int width, int height, double fps, const wr_video_opts *opts,
                               wr_video_writer **out);
wr_status wr_video_writer_put(wr_video_writer *w, const uint8_t *rgb);
/* Flushes, closes and renames the file into place; frees w in every case. */
wr_status wr_video_writer_finish(wr_video_writer *w);
/* Drops the temporary file and frees w (accepts NULL). */
void wr_video_writer_abort(wr_video_writer *w);

#endif
