/* Launchers for kernels/planar.cu (see gpu_ops.h): grid-stride loops, 256 threads per block. */
#include "runtime/gpu/ops_util.h"

#define FILE_PLANAR "kernels/planar.cu"
#define PLANAR_BLOCK 256u

static wr_status launch_1d(wr_gpu *g, wr_gpu_func *fn, int64_t n, wr_gpu_stream *s, void **args)
{
    return wr_gpu_launch(g, fn, wr_dim3_make(ops_grid_1d(n, PLANAR_BLOCK), 1, 1), wr_dim3_make(PLANAR_BLOCK, 1, 1), 0, s,
                         args);
}

wr_status wr_gpu_scalar(wr_gpu *g, const wr_tensor *x, wr_scalar_op op, float a, float b, wr_tensor *y,
                        wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("scalar", "x", x));
    WR_TRY(ops_need_f32("scalar", "y", y));
    long long n = wr_tensor_nelements(y);
    if ((unsigned)op >= WR_SCALAR_OP_COUNT || wr_tensor_nelements(x) != n)
        return wr_fail(WR_E_ARG, "scalar: bad op %d or x/y sizes differ", (int)op);
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, FILE_PLANAR, "scalar_f32", "OP", op, &fn));
    void *xp = x->data, *yp = y->data;
    void *args[] = {&xp, &yp, &n, &a, &b};
    return launch_1d(g, fn, n, s, args);
}

wr_status wr_gpu_channel_scale_add(wr_gpu *g, const wr_tensor *x, const wr_tensor *scale, const wr_tensor *r,
                                   wr_tensor *y, wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("channel_scale_add", "x", x));
    WR_TRY(ops_need_f32("channel_scale_add", "scale", scale));
    WR_TRY(ops_need_f32("channel_scale_add", "r", r));
    WR_TRY(ops_need_f32("channel_scale_add", "y", y));
    if (!wr_tensor_same_shape(x, r) || !wr_tensor_same_shape(x, y) || wr_tensor_nelements(scale) != x->ne[2] ||
        x->ne[3] != 1 || x->ne[2] > INT32_MAX)
        return wr_fail(WR_E_ARG, "channel_scale_add: x, r, y must be {W, H, C} alike and scale [C]");
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, FILE_PLANAR, "channel_scale_add_f32", NULL, 0, &fn));
    void *xp = x->data, *sp = scale->data, *rp = r->data, *yp = y->data;
    int planes = (int)x->ne[2];
    long long pl = x->ne[0] * x->ne[1];
    void *args[] = {&xp, &sp, &rp, &yp, &planes, &pl};
    return launch_1d(g, fn, wr_tensor_nelements(x), s, args);
}

wr_status wr_gpu_pixel_shuffle(wr_gpu *g, const wr_tensor *x, int sc, wr_tensor *y, wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("pixel_shuffle", "x", x));
    WR_TRY(ops_need_f32("pixel_shuffle", "y", y));
    if (sc < 1 || x->ne[2] % ((int64_t)sc * sc) != 0 || y->ne[0] != x->ne[0] * sc || y->ne[1] != x->ne[1] * sc ||
        y->ne[2] != x->ne[2] / ((int64_t)sc * sc) || x->ne[3] != 1 || y->ne[3] != 1)
        return wr_fail(WR_E_ARG, "pixel_shuffle: x {W, H, C*s^2} -> y {W*s, H*s, C} with s = %d", sc);
    if (wr_tensor_nelements(y) > INT32_MAX)
        return wr_fail(WR_E_UNSUPPORTED, "pixel_shuffle: images exceed the kernel's int range");
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, FILE_PLANAR, "pixel_shuffle_f32", NULL, 0, &fn));
    void *xp = x->data, *yp = y->data;
    int planes = (int)y->ne[2], ih = (int)x->ne[1], iw = (int)x->ne[0];
    void *args[] = {&xp, &yp, &planes, &ih, &iw, &sc};
    return launch_1d(g, fn, wr_tensor_nelements(y), s, args);
}

wr_status wr_gpu_mask_blend(wr_gpu *g, const wr_tensor *x0, const wr_tensor *x1, const wr_tensor *mask, wr_tensor *y,
                            wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("mask_blend", "x0", x0));
    WR_TRY(ops_need_f32("mask_blend", "x1", x1));
    WR_TRY(ops_need_f32("mask_blend", "mask", mask));
    WR_TRY(ops_need_f32("mask_blend", "y", y));
    long long pl = x0->ne[0] * x0->ne[1];
    if (!wr_tensor_same_shape(x0, x1) || !wr_tensor_same_shape(x0, y) || wr_tensor_nelements(mask) != pl ||
        x0->ne[3] != 1 || x0->ne[2] > INT32_MAX)
        return wr_fail(WR_E_ARG, "mask_blend: x0, x1, y must be {W, H, C} alike and mask {W, H}");
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, FILE_PLANAR, "mask_blend_f32", NULL, 0, &fn));
    void *ap = x0->data, *bp = x1->data, *mp = mask->data, *yp = y->data;
    int planes = (int)x0->ne[2];
    void *args[] = {&ap, &bp, &mp, &yp, &planes, &pl};
    return launch_1d(g, fn, pl, s, args);
}

/* Every scalar op (RIFE uses all five) and the three plain kernels. */
void wr_planar_kspecs(wr_kcheck_list *l)
{
    wr_kspec s;
    for (int op = 0; op < WR_SCALAR_OP_COUNT; op++) {
        wr_kspec_init(&s, FILE_PLANAR, "scalar_f32");
        wr_kspec_define_int(&s, "OP", op);
        wr_kcheck_add(l, &s, 0, false, 0);
    }
    static const char *const plain[] = {"channel_scale_add_f32", "pixel_shuffle_f32", "mask_blend_f32"};
    for (int i = 0; i < 3; i++) {
        wr_kspec_init(&s, FILE_PLANAR, plain[i]);
        wr_kcheck_add(l, &s, 0, false, 0);
    }
}
