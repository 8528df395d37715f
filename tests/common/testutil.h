/* Shared test helpers: locating ../shared, loading golden tensors as float32, error metrics. */
#ifndef WR_TESTUTIL_H
#define WR_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/io/weightfile.h"

/* Path of a file under the shared folder (WANRT_SHARED, default ../shared). Fails the
 * current test with a clear message when the shared folder is missing. Returns a static
 * buffer valid until the next call. */
const char *wr_test_shared(const char *rel);

/* Opens a weight file, failing the test with the reader's message on error. */
void wr_test_open(wr_weightfile *wf, const char *path);

/* Copies tensor `name` of wf as float32 into a new malloc'd buffer (PyTorch row-major order,
 * which is the file order). Fails the test if it is missing. *n receives the element count. */
float *wr_test_load_f32(const wr_weightfile *wf, const char *name, int64_t *n);

typedef struct wr_test_err {
    double max_abs;     /* max |got - ref| */
    double max_ref;     /* max |ref| */
    double rel_to_max;  /* max_abs / max_ref */
    double nmse;        /* sum (got-ref)^2 / sum ref^2 */
    int64_t worst;      /* index of max_abs */
    int64_t nan_mismatch; /* positions where exactly one side is NaN/Inf */
} wr_test_err;

wr_test_err wr_test_compare(const float *got, const float *ref, int64_t n);

/* A seeded xorshift source for test inputs (not the model RNG). */
float wr_test_uniform(uint64_t *state, float lo, float hi);

/* The GPU backend the tests run on: the emulator, or CUDA with WANRT_TEST_DEVICE=cuda (make
 * test-gpu; the test is skipped when no device opens). */
typedef struct wr_backend wr_backend;
const wr_backend *wr_test_gpu_backend(void);

#endif
