/* Pieces of media/ shared between the FFmpeg and PNG-directory halves of video.h. */
#ifndef WR_VIDEO_INTERNAL_H
#define WR_VIDEO_INTERNAL_H

#include "media/frames.h"

wr_status wr_video_write_pngdir(const char *dir, const wr_frames *v);
wr_status wr_video_read_pngdir(const char *dir, wr_frames *out);

#endif
