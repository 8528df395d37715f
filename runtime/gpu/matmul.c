/* Launcher for kernels/matmul.cu (see gpu_ops.h): 64x64 output tiles (fp32: 256 threads; bf16 mma:
 * 128 threads), the weight dequantised in shared memory from its file format. */
#include "runtime/gpu/ops_util.h"

#define FILE_MM "kernels/matmul.cu"

/* WTYPE of a weight dtype, -1 when the kernel has none. */
static int wtype_of(wr_dtype t)
{
    switch (t) {
    case WR_DTYPE_F32:
        return 0;
    case WR_DTYPE_BF16:
        return 1;
    case WR_DTYPE_F8_E4M3FN:
        return 2;
    case WR_DTYPE_Q8_0:
        return 3;
    default:
        return -1;
    }
}

static const char *const entry_of[WR_GPU_MATMUL_PRECISION_COUNT] = {"matmul_f32_w", "matmul_bf16_mma"};
static const unsigned threads_of[WR_GPU_MATMUL_PRECISION_COUNT] = {256, 128};

static void mm_spec(wr_kspec *s, wr_gpu_matmul_precision prec, int wtype, int bias)
{
    wr_kspec_init(s, FILE_MM, entry_of[prec]);
    wr_kspec_define_int(s, "WTYPE", wtype);
    wr_kspec_define_int(s, "HAS_BIAS", bias);
}

wr_status wr_gpu_matmul(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_tensor *y,
                        wr_gpu_stream *s)
{
    return wr_gpu_matmul_ex(g, x, w, bias, y, WR_GPU_MATMUL_FP32, s);
}

wr_status wr_gpu_matmul_ex(wr_gpu *g, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_tensor *y,
                           wr_gpu_matmul_precision prec, wr_gpu_stream *s)
{
    if ((unsigned)prec >= WR_GPU_MATMUL_PRECISION_COUNT)
        return wr_fail(WR_E_ARG, "matmul: unknown precision %d", (int)prec);
    if (prec == WR_GPU_MATMUL_BF16_MMA && wr_gpu_arch(g) < 80)
        return wr_fail(WR_E_UNSUPPORTED, "matmul: bf16 tensor-core path needs sm_80, device is sm_%d", wr_gpu_arch(g));
    WR_TRY(ops_need_f32("matmul", "x", x));
    WR_TRY(ops_need_f32("matmul", "y", y));
    int wt = wtype_of(w->dtype);
    if (wt < 0)
        return wr_fail(WR_E_UNSUPPORTED, "matmul: weight dtype %s has no GPU kernel yet (F32, BF16, F8_E4M3FN, Q8_0)",
                       wr_dtype_name(w->dtype));
    int64_t K = x->ne[0], M = wr_tensor_nrows(x), N = w->ne[1];
    if (w->ne[0] != K || wr_tensor_nrows(w) != N || y->ne[0] != N || wr_tensor_nrows(y) != M)
        return wr_fail(WR_E_ARG, "matmul: x {K=%lld, M=%lld}, w {%lld, %lld}, y {%lld, %lld} do not agree", (long long)K,
                       (long long)M, (long long)w->ne[0], (long long)w->ne[1], (long long)y->ne[0],
                       (long long)wr_tensor_nrows(y));
    if (w->nb[0] * (size_t)w->ne[0] / (size_t)wr_dtype_info(w->dtype)->block_elems != w->nb[1])
        return wr_fail(WR_E_UNSUPPORTED, "matmul: weight rows must be contiguous");
    if (bias) {
        WR_TRY(ops_need_f32("matmul", "bias", bias));
        if (wr_tensor_nelements(bias) != N)
            return wr_fail(WR_E_ARG, "matmul: bias has %lld elements, N = %lld", (long long)wr_tensor_nelements(bias),
                           (long long)N);
    }
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || (M + 63) / 64 > 65535)
        return wr_fail(WR_E_UNSUPPORTED, "matmul: M=%lld N=%lld K=%lld exceed the kernel's grid", (long long)M,
                       (long long)N, (long long)K);
    wr_kspec spec;
    mm_spec(&spec, prec, wt, bias != NULL);
    wr_gpu_func *fn;
    WR_TRY(wr_gpu_jit(g, &spec, &fn));
    void *xp = x->data, *wp = w->data, *bp = bias ? bias->data : NULL, *yp = y->data;
    int m = (int)M, n = (int)N, k = (int)K;
    long long row_bytes = (long long)w->nb[1];
    float scale = w->scale;
    void *args[] = {&xp, &wp, &bp, &yp, &m, &n, &k, &row_bytes, &scale};
    return wr_gpu_launch(g, fn, wr_dim3_make((unsigned)((N + 63) / 64), (unsigned)((M + 63) / 64), 1),
                         wr_dim3_make(threads_of[prec], 1, 1), 0, s, args);
}

/* Every Wan2.2 linear layer is one of these (weights BF16, fp8 scaled, or GGUF Q8_0; biases on). */
void wr_matmul_kspecs(wr_kcheck_list *l)
{
    wr_kspec s;
    for (int p = 0; p < WR_GPU_MATMUL_PRECISION_COUNT; p++)
        for (int wt = 0; wt < 4; wt++)
            for (int b = 0; b < 2; b++) {
                mm_spec(&s, (wr_gpu_matmul_precision)p, wt, b);
                wr_kcheck_add(l, &s, 0, true, 0);
            }
}
