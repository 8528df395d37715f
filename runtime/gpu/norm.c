/* Launcher for kernels/norm.cu (see gpu_ops.h): one block of NORM_BLOCK threads per row. */
#include "runtime/gpu/ops_util.h"

#define FILE_NORM "kernels/norm.cu"
#define NORM_BLOCK 256

static void norm_spec(wr_kspec *s, int kind, int affine, int mod)
{
    wr_kspec_init(s, FILE_NORM, "norm_f32");
    wr_kspec_define_int(s, "NORM", kind);
    wr_kspec_define_int(s, "AFFINE", affine);
    wr_kspec_define_int(s, "MOD", mod);
    wr_kspec_define_int(s, "BLOCK", NORM_BLOCK);
}

wr_status wr_gpu_norm(wr_gpu *g, const wr_gpu_norm_args *a, const wr_tensor *x, wr_tensor *y, wr_gpu_stream *s)
{
    WR_TRY(ops_need_f32("norm", "x", x));
    WR_TRY(ops_need_f32("norm", "y", y));
    if ((unsigned)a->kind >= WR_GPU_NORM_COUNT || !wr_tensor_same_shape(x, y))
        return wr_fail(WR_E_ARG, "norm: bad kind %d or x/y shapes differ", (int)a->kind);
    int64_t C = x->ne[0], R = wr_tensor_nrows(x);
    bool affine = a->weight != NULL, mod = a->shift != NULL || a->scale != NULL;
    if (affine) {
        WR_TRY(ops_need_f32("norm", "weight", a->weight));
        if (wr_tensor_nelements(a->weight) != C)
            return wr_fail(WR_E_ARG, "norm: weight has %lld elements, rows have %lld",
                           (long long)wr_tensor_nelements(a->weight), (long long)C);
        if (a->kind == WR_GPU_NORM_LAYER) {
            WR_TRY(ops_need_f32("norm", "bias", a->bias));
            if (wr_tensor_nelements(a->bias) != C)
                return wr_fail(WR_E_ARG, "norm: bias has %lld elements, rows have %lld",
                               (long long)wr_tensor_nelements(a->bias), (long long)C);
        }
    }
    if (mod) {
        WR_TRY(ops_need_f32("norm", "shift", a->shift));
        WR_TRY(ops_need_f32("norm", "scale", a->scale));
        if (a->mod_div < 1 || R % a->mod_div != 0 || wr_tensor_nelements(a->shift) != R / a->mod_div * C ||
            wr_tensor_nelements(a->scale) != R / a->mod_div * C)
            return wr_fail(WR_E_ARG, "norm: modulation needs [rows/%lld][%lld] shift and scale",
                           (long long)a->mod_div, (long long)C);
    }
    if (C > INT32_MAX || R > INT32_MAX)
        return wr_fail(WR_E_UNSUPPORTED, "norm: %lld rows of %lld elements exceed the kernel's int range", (long long)R,
                       (long long)C);
    wr_kspec spec;
    norm_spec(&spec, a->kind, affine, mod);
    wr_gpu_func *fn;
    WR_TRY(wr_gpu_jit(g, &spec, &fn));
    void *xp = x->data, *yp = y->data;
    void *wp = affine ? a->weight->data : NULL, *bp = affine && a->bias ? a->bias->data : NULL;
    void *shp = mod ? a->shift->data : NULL, *scp = mod ? a->scale->data : NULL;
    int cols = (int)C, div = (int)(mod ? a->mod_div : 1);
    float eps = a->eps;
    void *args[] = {&xp, &yp, &wp, &bp, &shp, &scp, &cols, &div, &eps};
    return wr_gpu_launch(g, fn, wr_dim3_make((unsigned)R, 1, 1), wr_dim3_make(NORM_BLOCK, 1, 1), 0, s, args);
}

/* Wan2.2: LayerNorm without affine + modulation (norm1/norm2), LayerNorm with affine (norm3,
 * cross-attention input), RMSNorm with weight (q/k norms), head LayerNorm + modulation. */
void wr_norm_kspecs(wr_kcheck_list *l)
{
    wr_kspec s;
    for (int kind = 0; kind < 2; kind++)
        for (int affine = 0; affine < 2; affine++)
            for (int mod = 0; mod < 2; mod++) {
                norm_spec(&s, kind, affine, mod);
                wr_kcheck_add(l, &s, 0, false, 0);
            }
}
