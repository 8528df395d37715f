/* Shared test helpers (see testutil.h). */
#include "tests/common/testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/gpu/backend_gpu.h"
#include "runtime/quant.h"

const char *wr_test_shared(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("WANRT_SHARED");
    if (!root || !*root)
        root = "../shared";
    struct stat st;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
        cr_assert_fail("the shared reference folder '%s' is missing: the tests need ../shared beside "
                 "the checkout (or WANRT_SHARED pointing at it)", root);
    snprintf(buf, sizeof buf, "%s/%s", root, rel);
    return buf;
}

void wr_test_open(wr_weightfile *wf, const char *path)
{
    wr_status st = wr_weightfile_open(wf, path);
    if (st != WR_OK)
        cr_assert_fail("open %s: %s: %s", path, wr_status_name(st), wr_last_error());
}

float *wr_test_load_f32(const wr_weightfile *wf, const char *name, int64_t *n)
{
    const wr_wtensor *w = wr_weightfile_find(wf, name);
    if (!w)
        cr_assert_fail("%s: tensor '%s' not found", wf->map.path, name);
    int64_t count = wr_tensor_nelements(&w->t);
    float *out = malloc((size_t)(count ? count : 1) * sizeof *out);
    cr_assert_not_null(out);
    int64_t rows = wr_tensor_nrows(&w->t);
    for (int64_t r = 0; r < rows; r++)
        if (!wr_dequant_row_f32(w->t.dtype, wr_tensor_row(&w->t, r), out + r * w->t.ne[0], w->t.ne[0]))
            cr_assert_fail("%s: tensor '%s': no float conversion for %s", wf->map.path, name,
                     wr_dtype_name(w->t.dtype));
    for (int64_t i = 0; i < count && w->t.scale != 1.0f; i++)
        out[i] *= w->t.scale;
    if (n)
        *n = count;
    return out;
}

wr_test_err wr_test_compare(const float *got, const float *ref, int64_t n)
{
    wr_test_err e = {0};
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        int fg = isfinite(got[i]), fr = isfinite(ref[i]);
        if (fg != fr) {
            e.nan_mismatch++;
            continue;
        }
        if (!fr)
            continue;
        double d = fabs((double)got[i] - (double)ref[i]);
        if (d > e.max_abs) {
            e.max_abs = d;
            e.worst = i;
        }
        if (fabs((double)ref[i]) > e.max_ref)
            e.max_ref = fabs((double)ref[i]);
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
    }
    e.rel_to_max = e.max_ref > 0 ? e.max_abs / e.max_ref : e.max_abs;
    e.nmse = den > 0 ? num / den : num;
    return e;
}

float wr_test_uniform(uint64_t *state, float lo, float hi)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return lo + (hi - lo) * (float)((x >> 40) * (1.0 / 16777216.0));
}

const wr_backend *wr_test_gpu_backend(void)
{
    const char *want = getenv("WANRT_TEST_DEVICE");
    wr_gpu_kind kind = want && strcmp(want, "cuda") == 0 ? WR_GPU_CUDA : WR_GPU_EMU;
    const wr_backend *b = NULL;
    wr_status st = wr_backend_gpu_open(kind, NULL, &b);
    if (st != WR_OK && kind == WR_GPU_CUDA)
        cr_skip_test("no CUDA device: %s", wr_last_error());
    cr_assert_eq(st, WR_OK, "%s", wr_last_error());
    return b;
}
