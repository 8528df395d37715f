/* One expert's weights bound at a time (A14B swaps high -> low noise between steps), with the
 * LoRAs meant for it merged at load. Private to the pipeline. */
#ifndef WAN22_PIPELINE_EXPERTS_H
#define WAN22_PIPELINE_EXPERTS_H

#include "models/wan22/pipeline.h"
#include "models/wan22/weights.h"
#include "runtime/io/weightfile.h"

typedef struct wan22_expert {
    wr_weightfile wf;
    wan22_weights w;
    int loaded;
    const char *path;
} wan22_expert;

/* Binds path (expert_bit 1: high noise, 2: low noise) unless it is the one already bound. */
wr_status wan22_expert_load(wan22_expert *e, const wan22_gen *g, const char *path, int expert_bit);
void wan22_expert_free(wan22_expert *e);

#endif
