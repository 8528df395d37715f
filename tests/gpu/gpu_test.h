/* Helpers for the device-layer tests: open the device under test (WANRT_TEST_DEVICE=cuda in
 * `make test-gpu`, else the emulator), request kernels, move buffers. Each helper fails the
 * current test with the library's message. */
#ifndef WR_GPU_TEST_H
#define WR_GPU_TEST_H

#include <stddef.h>

#include "runtime/gpu/gpu.h"

/* The device under test; skips the test (cr_skip_test) when cuda is asked for but absent. */
wr_gpu *gt_open(const wr_gpu_options *opts);
wr_gpu_func *gt_jit(wr_gpu *g, const char *file, const char *entry, const char *defines);
void *gt_upload(wr_gpu *g, const void *host, size_t bytes);
void gt_download(wr_gpu *g, void *host, const void *dev, size_t bytes);
void gt_launch(wr_gpu *g, wr_gpu_func *fn, unsigned gx, unsigned gy, unsigned bx, unsigned by, size_t smem, void **args);
void gt_check(wr_status st, const char *what);

#endif
