/* Shared by the fuzz harnesses: read the first and last byte of every tensor a reader
 * registered, so an offset outside the input shows up under ASan. */
#ifndef WR_FUZZ_TOUCH_H
#define WR_FUZZ_TOUCH_H

#include <stdint.h>

#include "runtime/io/weightfile.h"

static inline void fuzz_touch_tensors(const wr_weightfile *wf)
{
    volatile uint8_t sink = 0;
    for (int64_t i = 0; i < wf->n_tensors; i++) {
        size_t n = wr_tensor_nbytes(&wf->tensors[i].t);
        const uint8_t *p = wf->tensors[i].t.data;
        if (n)
            sink ^= (uint8_t)(p[0] ^ p[n - 1]);
    }
    (void)sink;
}

#endif
