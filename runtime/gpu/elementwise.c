/* Launchers for kernels/elementwise.cu (see gpu_ops.h). */
#include "runtime/gpu/ops_util.h"

#define FILE_EW "kernels/elementwise.cu"
#define EW_BLOCK 256u

wr_status wr_gpu_unary(wr_gpu *g, wr_gpu_unary_op op, const wr_tensor *x, wr_tensor *y, wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("unary", "x", x));
    WR_TRY(ops_need_f32("unary", "y", y));
    if ((unsigned)op >= WR_GPU_UNARY_COUNT || !wr_tensor_same_shape(x, y))
        return wr_fail(WR_E_ARG, "unary: bad op %d or x/y shapes differ", (int)op);
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, FILE_EW, "ew_unary_f32", "OP", op, &fn));
    long long n = wr_tensor_nelements(x);
    void *xp = x->data, *yp = y->data;
    void *args[] = {&xp, &yp, &n};
    return wr_gpu_launch(g, fn, wr_dim3_make(ops_grid_1d(n, EW_BLOCK), 1, 1), wr_dim3_make(EW_BLOCK, 1, 1), 0, s, args);
}

wr_status wr_gpu_binary(wr_gpu *g, wr_gpu_binary_op op, const wr_tensor *a, const wr_tensor *b, wr_tensor *y,
                        wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("binary", "a", a));
    WR_TRY(ops_need_f32("binary", "b", b));
    WR_TRY(ops_need_f32("binary", "y", y));
    long long n = wr_tensor_nelements(a), nb = wr_tensor_nelements(b);
    if ((unsigned)op >= WR_GPU_BINARY_COUNT || !wr_tensor_same_shape(a, y) || nb == 0 || n % nb != 0)
        return wr_fail(WR_E_ARG, "binary: bad op %d, a/y shapes differ, or b (%lld elements) does not tile a (%lld)",
                       (int)op, nb, n);
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, FILE_EW, "ew_binary_f32", "OP", op, &fn));
    void *ap = a->data, *bp = b->data, *yp = y->data;
    void *args[] = {&ap, &bp, &yp, &n, &nb};
    return wr_gpu_launch(g, fn, wr_dim3_make(ops_grid_1d(n, EW_BLOCK), 1, 1), wr_dim3_make(EW_BLOCK, 1, 1), 0, s, args);
}

wr_status wr_gpu_gated_add(wr_gpu *g, wr_tensor *x, const wr_tensor *r, const wr_tensor *gate, wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("gated_add", "x", x));
    WR_TRY(ops_need_f32("gated_add", "r", r));
    WR_TRY(ops_need_f32("gated_add", "gate", gate));
    long long n = wr_tensor_nelements(x), ng = wr_tensor_nelements(gate);
    if (!wr_tensor_same_shape(x, r) || ng == 0 || n % ng != 0)
        return wr_fail(WR_E_ARG, "gated_add: x/r shapes differ or gate (%lld elements) does not tile x (%lld)", ng, n);
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, FILE_EW, "ew_gated_add_f32", NULL, 0, &fn));
    void *xp = x->data, *rp = r->data, *gp = gate->data;
    void *args[] = {&xp, &rp, &gp, &n, &ng};
    return wr_gpu_launch(g, fn, wr_dim3_make(ops_grid_1d(n, EW_BLOCK), 1, 1), wr_dim3_make(EW_BLOCK, 1, 1), 0, s, args);
}

wr_status wr_gpu_modulate(wr_gpu *g, const wr_tensor *x, const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y,
                          wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("modulate", "x", x));
    WR_TRY(ops_need_f32("modulate", "shift", shift));
    WR_TRY(ops_need_f32("modulate", "scale", scale));
    WR_TRY(ops_need_f32("modulate", "y", y));
    long long n = wr_tensor_nelements(x);
    if (!wr_tensor_same_shape(x, y) || wr_tensor_nelements(shift) != n || wr_tensor_nelements(scale) != n)
        return wr_fail(WR_E_ARG, "modulate: x, shift, scale and y must have the same %lld elements", n);
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, FILE_EW, "ew_modulate_f32", NULL, 0, &fn));
    void *xp = x->data, *shp = shift->data, *scp = scale->data, *yp = y->data;
    void *args[] = {&xp, &shp, &scp, &yp, &n};
    return wr_gpu_launch(g, fn, wr_dim3_make(ops_grid_1d(n, EW_BLOCK), 1, 1), wr_dim3_make(EW_BLOCK, 1, 1), 0, s, args);
}

void wr_elementwise_kspecs(wr_kcheck_list *l)
{
    wr_kspec s;
    for (int op = 0; op < WR_GPU_UNARY_COUNT; op++) {
        wr_kspec_init(&s, FILE_EW, "ew_unary_f32");
        wr_kspec_define_int(&s, "OP", op);
        wr_kcheck_add(l, &s, 0, false, 0);
    }
    for (int op = 0; op < WR_GPU_BINARY_COUNT; op++) {
        wr_kspec_init(&s, FILE_EW, "ew_binary_f32");
        wr_kspec_define_int(&s, "OP", op);
        wr_kcheck_add(l, &s, 0, false, 0);
    }
    wr_kspec_init(&s, FILE_EW, "ew_gated_add_f32");
    wr_kcheck_add(l, &s, 0, false, 0);
    wr_kspec_init(&s, FILE_EW, "ew_modulate_f32");
    wr_kcheck_add(l, &s, 0, false, 0);
}
