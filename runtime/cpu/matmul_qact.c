/* Portable CPU twins of kernels/matmul_q.cu (matmul with quantised activations), written as the
 * obvious loop nests, single-threaded: the references the op tests hold the GPU kernels to
 * (torch.nn.functional.linear of the dequantised operands). The fast CPU route for Q8_0 is the
 * AVX512-VNNI kernel of runtime/cpu/matmul_q8.c; this file repeats its arithmetic on any CPU.
 *   cpu_matmul_q8_0_a8_ref  Q8_0 weights; x per row and 32-block: d = max|x| / 127 (fp32), codes
 *                           rint(x · (1 / d)) (0 when d = 0); per block the exact int32 sum s, then
 *                           acc = fma(float(s) · d_x, d_w, acc), blocks ascending; v = acc · scale.
 *   cpu_matmul_f8_a8_ref    F8_E4M3FN weights (w->scale per tensor); x per row: s_x = max|x| / 448,
 *                           codes e4m3(x · (448 / max|x|)); per 32 columns an fp32 sum of the exact
 *                           code products in k order added to acc (the emulated mma's order);
 *                           v = acc · s_x · scale.
 * Then y = the epilogue of v (cpu_matmul_epi_value: + bias, activation or gated residual).
 * A NaN in a row of x gives d_x / s_x = NaN, so that row of y is NaN (as the fp32 matmul). */
#include <math.h>
#include <stdlib.h>

#include "kernels/quant_blocks.h"
#include "runtime/cpu/gemm.h"
#include "runtime/numeric.h"

void cpu_matmul_q8_0_a8_ref(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const cpu_matmul_epi *epi,
                            wr_tensor *y)
{
    int64_t M = wr_tensor_nrows(x), N = wr_tensor_nrows(w), K = x->ne[0], nb = K / 32;
    WR_ASSERT(w->dtype == WR_DTYPE_Q8_0 && K % 32 == 0, "matmul W8A8 reference: Q8_0 weights, K %% 32 == 0");
    int8_t *q = malloc((size_t)(M * K) + 1);
    float *d = malloc((size_t)(M * nb + 1) * sizeof *d);
    WR_ASSERT(q && d, "out of memory");
    for (int64_t m = 0; m < M; m++) {
        const float *row = wr_tensor_row(x, m);
        for (int64_t b = 0; b < nb; b++) {
            float amax = 0.0f;
            int nan = 0;
            for (int e = 0; e < 32; e++) {
                amax = fmaxf(amax, fabsf(row[b * 32 + e]));
                nan |= isnan(row[b * 32 + e]);
            }
            float db = amax / 127.0f, id = db > 0.0f ? 1.0f / db : 0.0f;
            for (int e = 0; e < 32; e++)
                q[m * K + b * 32 + e] = (int8_t)(nan ? 0 : (int)lrintf(row[b * 32 + e] * id));
            d[m * nb + b] = nan ? NAN : db;
        }
    }
    const float *bi = bias ? bias->data : NULL;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            const block_q8_0 *blk = (const block_q8_0 *)wr_tensor_row(w, n);
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                int s = 0;
                for (int e = 0; e < 32; e++)
                    s += (int)q[m * K + b * 32 + e] * (int)blk[b].qs[e];
                acc = fmaf((float)s * d[m * nb + b], wr_f16_to_f32(blk[b].d), acc);
            }
            float v = acc * w->scale, *dst = (float *)wr_tensor_row(y, m) + n;
            *dst = cpu_matmul_epi_value(epi, v, bi, m, n, epi && epi->residual ? *dst : 0.0f);
        }
    free(q), free(d);
}

void cpu_matmul_f8_a8_ref(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const cpu_matmul_epi *epi,
                          wr_tensor *y)
{
    int64_t M = wr_tensor_nrows(x), N = wr_tensor_nrows(w), K = x->ne[0];
    WR_ASSERT(w->dtype == WR_DTYPE_F8_E4M3FN, "matmul fp8-activation reference: F8_E4M3FN weights");
    float *xd = malloc((size_t)(M * K + 1) * sizeof *xd), *sx = malloc((size_t)(M + 1) * sizeof *sx);
    WR_ASSERT(xd && sx, "out of memory");
    for (int64_t m = 0; m < M; m++) {
        const float *row = wr_tensor_row(x, m);
        float amax = 0.0f;
        int nan = 0;
        for (int64_t k = 0; k < K; k++) {
            amax = fmaxf(amax, fabsf(row[k]));
            nan |= isnan(row[k]);
        }
        float mul = amax > 0.0f ? 448.0f / amax : 0.0f;
        for (int64_t k = 0; k < K; k++)
            xd[m * K + k] = wr_f8e4m3_to_f32(wr_f32_to_f8e4m3(row[k] * mul));
        sx[m] = nan ? NAN : amax / 448.0f;
    }
    const float *bi = bias ? bias->data : NULL;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            const uint8_t *wr = wr_tensor_row(w, n);
            float acc = 0.0f;
            for (int64_t k0 = 0; k0 < K; k0 += 32) {
                float s = 0.0f;
                for (int64_t k = k0; k < k0 + 32 && k < K; k++)
                    s += xd[m * K + k] * wr_f8e4m3_to_f32(wr[k]);
                acc = s + acc;
            }
            float v = acc * sx[m];
            v *= w->scale;
            float *dst = (float *)wr_tensor_row(y, m) + n;
            *dst = cpu_matmul_epi_value(epi, v, bi, m, n, epi && epi->residual ? *dst : 0.0f);
        }
    free(xd), free(sx);
}
