/* The frames SeedVR2's pipeline sees: the input stream, optionally with `prepend` mirrored frames
 * in front (numz's prepend_frames, ../shared/specs/seedvr2.md 2.1 step 1 and 2.3) that
 * stabilise the start and are dropped from the output again. */
#ifndef UPSCALE_FRAME_SOURCE_H
#define UPSCALE_FRAME_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "media/video_stream.h"

typedef struct upscale_source {
    wr_video_reader *r;
    int prepend, t;      /* t: clip length when the clip has at most prepend + 1 frames, else 0 */
    uint8_t **prefix;    /* the first min(prepend + 1, length) frames */
    int n_prefix, pos;   /* pos: frames handed out so far */
    size_t fbytes;
} upscale_source;

/* Reads the prefix from r (which stays owned by the caller). */
wr_status upscale_source_open(upscale_source *s, wr_video_reader *r, int prepend);
wr_status upscale_source_next(upscale_source *s, uint8_t *rgb, bool *got);
void upscale_source_close(upscale_source *s);

/* Clip frame shown as prepended frame i (0 .. k − 1) of a clip of t frames: k, k − 1, ..., 1
 * when k < t; else the last frame k − t + 1 times, then t − 1, ..., 1. */
int upscale_prepend_source(int k, int t, int i);

#endif
