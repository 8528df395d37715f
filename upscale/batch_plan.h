/* How SeedVR2's pipeline cuts a clip in time (../shared/specs/seedvr2.md 2.1 step 4, 2.3, 2.1
 * step 8): batches of batch_size frames advancing by batch_size − overlap, each padded to 4n + 1
 * frames by the mirror rule, and the cosine cross-fade of overlapping frames. */
#ifndef UPSCALE_BATCH_PLAN_H
#define UPSCALE_BATCH_PLAN_H

#include <stdbool.h>

typedef struct upscale_batch {
    int start, len; /* frames [start, start + len) of the clip */
    int padded;     /* frames given to the models: len padded to 4n + 1 (and to batch_size if uniform) */
} upscale_batch;

/* Fills out (cap entries) and returns the number of batches, or −1 when cap is too small.
 * An overlap >= batch_size is reset to 0 (as numz does). */
int upscale_batch_plan(int frames, int batch_size, int overlap, bool uniform, upscale_batch *out, int cap);

/* The effective overlap after that reset. */
int upscale_batch_overlap(int batch_size, int overlap);

/* Source index (within the batch, 0..len−1) of padded frame i (0..padded−1): frames in order,
 * then the mirror rule of numz pad_video_temporal for padded − len appended frames. */
int upscale_batch_source(int len, int padded, int i);

/* Weight of the previous batch for overlapping frame i of k (the current batch gets 1 − w). */
float upscale_overlap_weight(int k, int i);

#endif
