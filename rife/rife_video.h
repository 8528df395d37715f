/* RIFE over whole videos, streamed: frames are read, interpolated and written one pair at a
 * time, so memory stays at a few frames plus the network's working set whatever the length
 * (the node's clear_cache_after_n_frames has nothing to clear here). Several inputs form one
 * stream: where a clip starts with exactly the previous clip's last frame (a chained clip), that
 * duplicate is skipped so the joint is not interpolated between two identical frames. Input
 * frames pass through unchanged; n frames give (n − 1)·m + 1. */
#ifndef RIFE_RIFE_VIDEO_H
#define RIFE_RIFE_VIDEO_H

#include "media/video.h"
#include "rife/rife.h"

typedef struct rife_video_opts {
    int multiplier;      /* >= 2: frames at t = k / m between each pair */
    float scale;         /* the node's scale_factor, 1 by default */
    bool ensemble;
    double fps_out;      /* <= 0: the input's fps (16 when unknown) times the multiplier */
    wr_video_opts video; /* encoder options for the output */
    void (*progress)(void *ctx, int pairs_done, int pairs_total); /* total -1 when unknown */
    void *ctx;
} rife_video_opts;

/* Stops between pairs with WR_E_INTERRUPTED after Ctrl-C (runtime/interrupt.h), writing
 * nothing. out_frames (may be NULL) receives the number of frames written. */
wr_status rife_interpolate_video(const rife *m, const char *const *inputs, int n_inputs, const char *out,
                                 const rife_video_opts *o, int *out_frames);

#endif
