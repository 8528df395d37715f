/* Which model a weight file holds, from its tensor names and shapes (for `wanrt info`). */
#ifndef WR_DETECT_H
#define WR_DETECT_H

#include <stddef.h>

#include "runtime/io/weightfile.h"

typedef enum wr_model_kind {
    WR_MODEL_UNKNOWN,
    WR_MODEL_WAN_DIT,
    WR_MODEL_WAN_VAE21,
    WR_MODEL_WAN_VAE22,
    WR_MODEL_UMT5,
    WR_MODEL_RIFE,
    WR_MODEL_SEEDVR2,
    WR_MODEL_KIND_COUNT
} wr_model_kind;

/* Returns the kind and writes a one-line description with the config read from shapes. */
wr_model_kind wr_detect_model(const wr_weightfile *wf, char *desc, size_t len);

#endif
