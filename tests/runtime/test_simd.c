/* The SIMD paths of the CPU backend against the plain loops, and the attention op against a
 * float64 reference written here from the formula. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "runtime/cpu/simd.h"
#include "runtime/ops.h"
#include "tests/common/testutil.h"

Test(simd, dot_and_axpy_match_the_plain_loops)
{
    uint64_t s = 5;
    float a[301], b[301], y1[301], y2[301];
    for (int i = 0; i < 301; i++)
        a[i] = wr_test_uniform(&s, -1, 1), b[i] = wr_test_uniform(&s, -1, 1), y1[i] = y2[i] = wr_test_uniform(&s, -1, 1);
    wr_dot_fn fast = wr_dot_avx2();
    if (!fast)
        cr_skip_test("this CPU has no AVX2/FMA: only the portable path exists");
    const int lens[] = {1, 7, 8, 16, 17, 128, 301};
    for (int i = 0; i < 7; i++) {
        double ref = 0;
        for (int j = 0; j < lens[i]; j++)
            ref += (double)a[j] * (double)b[j];
        cr_assert_float_eq((double)fast(a, b, lens[i]), ref, 1e-5, "dot n=%d", lens[i]);
        cr_assert_float_eq((double)wr_dot_portable(a, b, lens[i]), ref, 1e-5, "dot n=%d", lens[i]);
    }
    wr_simd_axpy()(0.37f, a, y1, 301);
    wr_axpy_portable(0.37f, a, y2, 301);
    for (int i = 0; i < 301; i++)
        cr_assert_float_eq(y1[i], y2[i], 1e-6f, "axpy %d", i);
}

Test(simd, attention_matches_a_float64_reference)
{
    const int T = 37, H = 3, D = 128, KV = 29; /* a prime length, masked keys beyond 29 */
    float *q = malloc(sizeof(float) * T * H * D), *k = malloc(sizeof(float) * T * H * D),
          *v = malloc(sizeof(float) * T * H * D), *o = malloc(sizeof(float) * T * H * D);
    uint64_t s = 9;
    for (int i = 0; i < T * H * D; i++)
        q[i] = wr_test_uniform(&s, -1, 1), k[i] = wr_test_uniform(&s, -1, 1), v[i] = wr_test_uniform(&s, -1, 1);
    wr_tensor tq, tk, tv, to;
    int64_t ne[3] = {D, H, T};
    wr_tensor_init(&tq, WR_DTYPE_F32, 3, ne, q), wr_tensor_init(&tk, WR_DTYPE_F32, 3, ne, k);
    wr_tensor_init(&tv, WR_DTYPE_F32, 3, ne, v), wr_tensor_init(&to, WR_DTYPE_F32, 3, ne, o);
    float scale = 1.0f / sqrtf((float)D);
    wr_op_attention(&tq, &tk, &tv, KV, scale, &to);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++) {
            double sc[64], mx = -1e300, sum = 0;
            for (int j = 0; j < KV; j++) {
                double d = 0;
                for (int e = 0; e < D; e++)
                    d += (double)q[(t * H + h) * D + e] * (double)k[(j * H + h) * D + e];
                sc[j] = d * (double)scale;
                mx = fmax(mx, sc[j]);
            }
            for (int j = 0; j < KV; j++)
                sum += (sc[j] = exp(sc[j] - mx));
            for (int e = 0; e < D; e++) {
                double ref = 0;
                for (int j = 0; j < KV; j++)
                    ref += sc[j] / sum * (double)v[(j * H + h) * D + e];
                cr_assert_float_eq((double)o[(t * H + h) * D + e], ref, 2e-6, "t %d h %d e %d", t, h, e);
            }
        }
    free(q), free(k), free(v), free(o);
}
