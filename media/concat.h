/* Joining clips into one video, streamed: one clip in memory at a time (its colour statistics
 * need the whole clip), frames written as they go. Clips must share a size, and a frame rate
 * unless one is given. Optionally each clip is colour-matched to the last frame written before it
 * (the drift users see across chained I2V clips), and a clip's first frame is dropped when it
 * repeats the previous clip's last frame exactly (clips chained by their last frame). */
#ifndef WR_CONCAT_H
#define WR_CONCAT_H

#include <stdbool.h>

#include "media/color_match.h"
#include "media/video.h"

typedef struct wr_concat_opts {
    double fps;               /* > 0: the output's; else the clips' (which must agree) */
    wr_video_opts video;
    wr_color_match color;     /* WR_COLOR_MATCH_NONE: clips as they are */
    bool drop_joint_repeats;
} wr_concat_opts;

/* Writes inputs[0..n) one after the other to out; *frames (may be NULL) gets the count. Nothing
 * is left at out on failure. */
wr_status wr_concat(const char *const *inputs, int n, const char *out, const wr_concat_opts *o, int *frames);

#endif
