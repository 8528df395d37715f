/* Video files through FFmpeg's libraries, and PNG frame directories.
 *
 * The output format follows the path: ".mp4"/".mov" H.264 (libx264, yuv420p; yuv444p when a
 * dimension is odd), ".mkv" FFV1 in RGB (bgr0) (lossless: frames decode back bit-exact),
 * ".y4m" raw YUV 4:4:4, a path ending in "/" or an existing directory: numbered PNG frames
 * (frame_00000.png ...). Every file is written under a temporary name and renamed when
 * complete. */
#ifndef WR_VIDEO_H
#define WR_VIDEO_H

#include "media/frames.h"

typedef struct wr_video_opts {
    int crf; /* H.264 quality, 0 (lossless) .. 51; 19 when 0 is not intended: use -1 for default */
} wr_video_opts;

wr_status wr_video_write(const char *path, const wr_frames *v, const wr_video_opts *opts);

/* Reads a whole video file, or a directory of PNG frames (sorted by name), as RGB frames. */
wr_status wr_video_read(const char *path, wr_frames *out);

#endif
