/* Launcher for kernels/resample.cu (see gpu_ops.h): one thread per output pixel, 256 per block. */
#include "runtime/gpu/ops_util.h"

#include <math.h>

#define FILE_RESAMPLE "kernels/resample.cu"

wr_status wr_gpu_resize_bilinear(wr_gpu *g, const wr_tensor *x, double f, wr_tensor *y, wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("resize", "x", x));
    WR_TRY(ops_need_f32("resize", "y", y));
    int64_t iw = x->ne[0], ih = x->ne[1], ow = y->ne[0], oh = y->ne[1];
    int64_t planes = ih ? wr_tensor_nrows(x) / ih : 0;
    if (!(f > 0.0) || ow != (int64_t)floor((double)iw * f) || oh != (int64_t)floor((double)ih * f) || ow < 1 ||
        oh < 1 || wr_tensor_nrows(y) != planes * oh)
        return wr_fail(WR_E_ARG, "resize: y must be {floor(W*f), floor(H*f), planes} of x");
    if (wr_tensor_nelements(x) > INT32_MAX || wr_tensor_nelements(y) > INT32_MAX)
        return wr_fail(WR_E_UNSUPPORTED, "resize: images exceed the kernel's int range");
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, FILE_RESAMPLE, "resize_bilinear_f32", NULL, 0, &fn));
    void *xp = x->data, *yp = y->data;
    int pl = (int)planes, a = (int)ih, b = (int)iw, c = (int)oh, d = (int)ow;
    void *args[] = {&xp, &yp, &pl, &a, &b, &c, &d, &f};
    return wr_gpu_launch(g, fn, wr_dim3_make(ops_grid_1d(oh * ow, 256), 1, 1), wr_dim3_make(256, 1, 1), 0, s, args);
}

wr_status wr_gpu_warp(wr_gpu *g, const wr_tensor *x, const wr_tensor *flow, wr_tensor *y, wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("warp", "x", x));
    WR_TRY(ops_need_f32("warp", "flow", flow));
    WR_TRY(ops_need_f32("warp", "y", y));
    int64_t w = x->ne[0], h = x->ne[1];
    if (!wr_tensor_same_shape(x, y) || flow->ne[0] != w || flow->ne[1] != h || wr_tensor_nelements(flow) != 2 * w * h ||
        h < 1 || w < 1)
        return wr_fail(WR_E_ARG, "warp: x and y must agree and flow be {W, H, 2}");
    if (wr_tensor_nelements(x) > INT32_MAX)
        return wr_fail(WR_E_UNSUPPORTED, "warp: images exceed the kernel's int range");
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, FILE_RESAMPLE, "warp_f32", NULL, 0, &fn));
    void *xp = x->data, *fp = flow->data, *yp = y->data;
    int pl = (int)(wr_tensor_nrows(x) / h), hh = (int)h, ww = (int)w;
    void *args[] = {&xp, &fp, &yp, &pl, &hh, &ww};
    return wr_gpu_launch(g, fn, wr_dim3_make(ops_grid_1d(h * w, 256), 1, 1), wr_dim3_make(256, 1, 1), 0, s, args);
}

/* No defines: one spec per entry (RIFE's resizes by 1/8 .. 8 and its warps). */
void wr_resample_kspecs(wr_kcheck_list *l)
{
    wr_kspec s;
    wr_kspec_init(&s, FILE_RESAMPLE, "resize_bilinear_f32");
    wr_kcheck_add(l, &s, 0, false, 0);
    wr_kspec_init(&s, FILE_RESAMPLE, "warp_f32");
    wr_kcheck_add(l, &s, 0, false, 0);
}
