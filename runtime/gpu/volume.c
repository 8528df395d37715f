/* Launchers for kernels/volume.cu (see gpu_ops.h): grid-stride loops, 256 threads per block. */
#include "runtime/gpu/ops_util.h"

#define FILE_VOLUME "kernels/volume.cu"
#define VOLUME_BLOCK 256u

wr_status wr_gpu_channel_rms_norm(wr_gpu *g, const wr_tensor *x, const wr_tensor *gamma, int silu, wr_tensor *y,
                                  wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("channel_rms_norm", "x", x));
    WR_TRY(ops_need_f32("channel_rms_norm", "gamma", gamma));
    WR_TRY(ops_need_f32("channel_rms_norm", "y", y));
    int64_t c = x->ne[x->n_dims - 1];
    if (!wr_tensor_same_shape(x, y) || wr_tensor_nelements(gamma) != c || c > INT32_MAX)
        return wr_fail(WR_E_ARG, "channel_rms_norm: x and y must match and gamma be [C]");
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, FILE_VOLUME, "channel_rms_norm_f32", "SILU", silu ? 1 : 0, &fn));
    void *xp = x->data, *gp = gamma->data, *yp = y->data;
    int ci = (int)c;
    long long pos = wr_tensor_nelements(x) / c;
    void *args[] = {&xp, &gp, &yp, &ci, &pos};
    return wr_gpu_launch(g, fn, wr_dim3_make(ops_grid_1d(pos, VOLUME_BLOCK), 1, 1), wr_dim3_make(VOLUME_BLOCK, 1, 1), 0,
                         s, args);
}

wr_status wr_gpu_upsample_nearest2x(wr_gpu *g, const wr_tensor *x, wr_tensor *y, wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("upsample_nearest2x", "x", x));
    WR_TRY(ops_need_f32("upsample_nearest2x", "y", y));
    int64_t pl = x->ne[0] * x->ne[1], planes = pl ? wr_tensor_nelements(x) / pl : 0;
    if (y->ne[0] != 2 * x->ne[0] || y->ne[1] != 2 * x->ne[1] || wr_tensor_nelements(y) != 4 * wr_tensor_nelements(x))
        return wr_fail(WR_E_ARG, "upsample_nearest2x: y must be x with W and H doubled");
    if (planes > INT32_MAX || y->ne[0] > INT32_MAX / 2 || y->ne[1] > INT32_MAX / 2)
        return wr_fail(WR_E_UNSUPPORTED, "upsample_nearest2x: volume exceeds the kernel's int range");
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, FILE_VOLUME, "upsample_nearest2x_f32", NULL, 0, &fn));
    void *xp = x->data, *yp = y->data;
    int np = (int)planes, ih = (int)x->ne[1], iw = (int)x->ne[0];
    void *args[] = {&xp, &yp, &np, &ih, &iw};
    return wr_gpu_launch(g, fn, wr_dim3_make(ops_grid_1d(wr_tensor_nelements(y), VOLUME_BLOCK), 1, 1),
                         wr_dim3_make(VOLUME_BLOCK, 1, 1), 0, s, args);
}

wr_status wr_gpu_transpose(wr_gpu *g, const wr_tensor *x, wr_tensor *y, wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("transpose", "x", x));
    WR_TRY(ops_need_f32("transpose", "y", y));
    if (x->n_dims != 2 || y->n_dims != 2 || y->ne[0] != x->ne[1] || y->ne[1] != x->ne[0])
        return wr_fail(WR_E_ARG, "transpose: x {cols, rows} -> y {rows, cols}");
    if (x->ne[0] > INT32_MAX || x->ne[1] > INT32_MAX)
        return wr_fail(WR_E_UNSUPPORTED, "transpose: matrix exceeds the kernel's int range");
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, FILE_VOLUME, "transpose_f32", NULL, 0, &fn));
    void *xp = x->data, *yp = y->data;
    int rows = (int)x->ne[1], cols = (int)x->ne[0];
    void *args[] = {&xp, &yp, &rows, &cols};
    return wr_gpu_launch(g, fn, wr_dim3_make(ops_grid_1d(wr_tensor_nelements(x), VOLUME_BLOCK), 1, 1),
                         wr_dim3_make(VOLUME_BLOCK, 1, 1), 0, s, args);
}

wr_status wr_gpu_dup_up3d(wr_gpu *g, const wr_tensor *x, int ft, int fs, int drop, wr_tensor *y, wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("dup_up3d", "x", x));
    WR_TRY(ops_need_f32("dup_up3d", "y", y));
    if (x->n_dims != 4 || y->n_dims != 4 || ft < 1 || fs < 1 || drop < 0 || drop >= ft || y->ne[0] != x->ne[0] * fs ||
        y->ne[1] != x->ne[1] * fs || y->ne[2] != x->ne[2] * ft - drop || (y->ne[3] * ft * fs * fs) % x->ne[3] != 0)
        return wr_fail(WR_E_ARG, "dup_up3d: x [Ci, T, H, W] -> y [Co, T*%d - %d, H*%d, W*%d]", ft, drop, fs, fs);
    if (wr_tensor_nelements(y) > INT32_MAX || wr_tensor_nelements(x) > INT32_MAX)
        return wr_fail(WR_E_UNSUPPORTED, "dup_up3d: volume exceeds the kernel's int range");
    wr_gpu_func *fn;
    WR_TRY(ops_jit1(g, FILE_VOLUME, "dup_up3d_f32", NULL, 0, &fn));
    void *xp = x->data, *yp = y->data;
    int ci = (int)x->ne[3], ti = (int)x->ne[2], hi = (int)x->ne[1], wi = (int)x->ne[0], co = (int)y->ne[3],
        to = (int)y->ne[2];
    void *args[] = {&xp, &yp, &ci, &ti, &hi, &wi, &co, &to, &ft, &fs, &drop};
    return wr_gpu_launch(g, fn, wr_dim3_make(ops_grid_1d(wr_tensor_nelements(y), VOLUME_BLOCK), 1, 1),
                         wr_dim3_make(VOLUME_BLOCK, 1, 1), 0, s, args);
}

/* Both SiLU variants (every VAE norm uses one), the upsample, the transpose and DupUp3D. */
void wr_volume_kspecs(wr_kcheck_list *l)
{
    wr_kspec s;
    for (int silu = 0; silu < 2; silu++) {
        wr_kspec_init(&s, FILE_VOLUME, "channel_rms_norm_f32");
        wr_kspec_define_int(&s, "SILU", silu);
        wr_kcheck_add(l, &s, 0, false, 0);
    }
    wr_kspec_init(&s, FILE_VOLUME, "upsample_nearest2x_f32");
    wr_kcheck_add(l, &s, 0, false, 0);
    wr_kspec_init(&s, FILE_VOLUME, "transpose_f32");
    wr_kcheck_add(l, &s, 0, false, 0);
    wr_kspec_init(&s, FILE_VOLUME, "dup_up3d_f32");
    wr_kcheck_add(l, &s, 0, false, 0);
}
