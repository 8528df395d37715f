/* Placement of the DiT weights for the current backend (see weights.h, runtime/buffers.h). */
#include "models/wan22/weights.h"

#include "models/wan22/dit.h"

#include <stdlib.h>

wr_status wan22_weights_place(wan22_weights *w, int swap_blocks)
{
    wan22_weights_unplace(w);
    int L = w->cfg.num_layers;
    if (swap_blocks < 0 || swap_blocks > L)
        return wr_fail(WR_E_ARG, "block swap: %d blocks asked, the model has %d", swap_blocks, L);
    wr_tensor **t;
    int *g, n;
    WR_TRY(wan22_weights_list(w, &t, &g, &n));
    bool *swapped = calloc((size_t)L + 1, sizeof *swapped);
    if (!swapped) {
        free(t), free(g);
        return wr_fail(WR_E_OOM, "out of memory placing weights");
    }
    for (int l = L - swap_blocks; l < L; l++)
        swapped[1 + l] = true;
    wr_placement_spec spec = {.tensors = t, .group = g, .n = n, .n_groups = L + 1, .swapped = swapped};
    wr_status st = wr_placement_create(&spec, &w->placement);
    free(t), free(g), free(swapped);
    return st;
}

void wan22_weights_unplace(wan22_weights *w)
{
    wan22_dit_release(w); /* its arena and recording point into the placement's memory */
    wr_placement_free(w->placement);
    w->placement = NULL;
}
