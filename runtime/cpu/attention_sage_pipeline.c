/* The CPU twin of the whole Sage attention launcher (runtime/gpu/attention_sage.c) on raw arrays:
 * the steps of runtime/cpu/attention_sage.c in the launcher's order. */
#include <stdlib.h>

#include "kernels/sage_layout.h"
#include "runtime/cpu/attention_sage.h"
#include "runtime/err.h"

void cpu_attention_sage_pipeline(const float *q, const float *k, const float *v, float *o, int B, int Tq, int Tk,
                                 int NH, int HD, float scale, bool smooth, bool f8)
{
    int8_t *q8 = malloc((size_t)HD * NH * Tq * B), *k8 = malloc((size_t)HD * NH * Tk * B);
    float *qs = malloc((size_t)sage_scale_count(B, NH, Tq, SAGE_Q_ROWS) * sizeof(float));
    float *ks = malloc((size_t)sage_scale_count(B, NH, Tk, SAGE_K_ROWS) * sizeof(float));
    float *mean = malloc((size_t)B * NH * HD * sizeof(float));
    WR_ASSERT(q8 && k8 && qs && ks && mean, "sage attention: out of memory");
    cpu_sage_k_mean(k, mean, B, Tk, NH, HD);
    cpu_sage_quant_i8(q, NULL, q8, qs, B, Tq, NH, HD, SAGE_Q_ROWS, scale * SAGE_LOG2E);
    cpu_sage_quant_i8(k, smooth ? mean : NULL, k8, ks, B, Tk, NH, HD, SAGE_K_ROWS, 1.0f);
    if (f8) {
        uint8_t *v8 = malloc((size_t)HD * NH * Tk * B);
        float *vs = malloc((size_t)B * NH * HD * sizeof(float)), *vm = malloc((size_t)B * NH * HD * sizeof(float));
        WR_ASSERT(v8 && vs && vm, "sage attention: out of memory");
        cpu_sage_k_mean(v, vm, B, Tk, NH, HD);
        cpu_sage_quant_v_f8(v, vm, v8, vs, B, Tk, NH, HD);
        cpu_attn_qk_i8_pv_f8(q8, qs, k8, ks, v8, vs, vm, o, B, Tq, Tk, NH, HD);
        free(v8), free(vs), free(vm);
    } else {
        cpu_attn_qk_i8_pv_f16(q8, qs, k8, ks, v, o, B, Tq, Tk, NH, HD);
    }
    free(q8), free(k8), free(qs), free(ks), free(mean);
}
