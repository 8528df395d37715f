/* Device-layer test helpers (see gpu_test.h). */
#include "tests/gpu/gpu_test.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

void gt_check(wr_status st, const char *what)
{
    if (st != WR_OK)
        cr_assert_fail("%s: %s: %s", what, wr_status_name(st), wr_last_error());
}

wr_gpu *gt_open(const wr_gpu_options *opts)
{
    const char *want = getenv("WANRT_TEST_DEVICE");
    wr_gpu_kind kind = WR_GPU_EMU;
    if (want && strcmp(want, "cuda") == 0)
        kind = WR_GPU_CUDA;
    wr_gpu *g = NULL;
    wr_status st = wr_gpu_open(&g, kind, opts);
    if (st != WR_OK && kind == WR_GPU_CUDA)
        cr_skip_test("no CUDA device: %s", wr_last_error());
    gt_check(st, "wr_gpu_open");
    return g;
}

wr_gpu_func *gt_jit(wr_gpu *g, const char *file, const char *entry, const char *defines)
{
    wr_kspec s;
    wr_kspec_init(&s, file, entry);
    /* defines: "A=1,B=2" */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", defines ? defines : "");
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        cr_assert_not_null(eq, "define without '=': %s", tok);
        *eq = 0;
        wr_kspec_define(&s, tok, eq + 1);
    }
    wr_gpu_func *fn = NULL;
    gt_check(wr_gpu_jit(g, &s, &fn), entry);
    return fn;
}

void *gt_upload(wr_gpu *g, const void *host, size_t bytes)
{
    void *d = NULL;
    gt_check(wr_gpu_alloc(g, bytes, &d), "wr_gpu_alloc");
    if (host)
        gt_check(wr_gpu_copy_h2d(g, d, host, bytes, NULL), "wr_gpu_copy_h2d");
    else
        gt_check(wr_gpu_memset(g, d, 0, bytes, NULL), "wr_gpu_memset");
    return d;
}

void gt_download(wr_gpu *g, void *host, const void *dev, size_t bytes)
{
    gt_check(wr_gpu_copy_d2h(g, host, dev, bytes, NULL), "wr_gpu_copy_d2h");
    gt_check(wr_gpu_sync(g), "wr_gpu_sync");
}

void gt_launch(wr_gpu *g, wr_gpu_func *fn, unsigned gx, unsigned gy, unsigned bx, unsigned by, size_t smem, void **args)
{
    gt_check(wr_gpu_launch(g, fn, wr_dim3_make(gx, gy, 1), wr_dim3_make(bx, by, 1), smem, NULL, args),
             wr_gpu_func_name(fn));
}
