/* Launcher for kernels/rope.cu (see gpu_ops.h). */
#include "runtime/gpu/ops_util.h"

wr_status wr_gpu_rope(wr_gpu *g, const wr_tensor *x, const wr_tensor *cos_t, const wr_tensor *sin_t, wr_tensor *y,
                      wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("rope", "x", x));
    WR_TRY(ops_need_f32("rope", "y", y));
    WR_TRY(ops_need_f32("rope", "cos", cos_t));
    WR_TRY(ops_need_f32("rope", "sin", sin_t));
    int64_t HD = x->ne[0], NH = x->ne[1], T = x->ne[2], B = 1;
    for (int d = 3; d < WR_MAX_DIMS; d++)
        B *= x->ne[d];
    if (HD % 2 || !wr_tensor_same_shape(x, y) || wr_tensor_nelements(cos_t) != T * HD / 2 ||
        wr_tensor_nelements(sin_t) != T * HD / 2)
        return wr_fail(WR_E_ARG, "rope: x must be {HD even, NH, T, B} like y, with cos/sin tables of T*HD/2 = %lld",
                       (long long)(T * HD / 2));
    if (B > 65535 || T * NH * HD > INT32_MAX)
        return wr_fail(WR_E_UNSUPPORTED, "rope: shape too large for the kernel's grid");
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, "kernels/rope.cu", "rope_f32", NULL, 0, &fn));
    void *xp = x->data, *yp = y->data, *cp = cos_t->data, *sp = sin_t->data;
    int t = (int)T, nh = (int)NH, hd = (int)HD;
    void *args[] = {&xp, &yp, &cp, &sp, &t, &nh, &hd};
    return wr_gpu_launch(g, fn, wr_dim3_make(ops_grid_1d(T * NH * HD / 2, 256), (unsigned)B, 1), wr_dim3_make(256, 1, 1),
                         0, s, args);
}

void wr_rope_kspecs(wr_kcheck_list *l)
{
    wr_kspec s;
    wr_kspec_init(&s, "kernels/rope.cu", "rope_f32");
    wr_kcheck_add(l, &s, 0, false, 0);
}
