/* The CPU twin of the GPU matmul kernels' fused epilogue (kernels/mm_epilogue.cuh): what one
 * output element becomes once its accumulator is scaled, in the kernels' order of fp32
 * operations, each rounded on its own (one operation per statement: no compiler may contract a
 * multiply and an add into an FMA here):
 *   v = v + bias[n]                 (bias not NULL)
 *   act:      y = act(v)            (cpu_silu, cpu_gelu_tanh: torch.nn.SiLU / GELU(approximate="tanh"))
 *   residual: y = y + v · g         (g = gate[m · gate_stride + n]; gate NULL: y = y + v)
 * The residual form is also cpu_matmul (y = acc · scale + bias) then cpu_add_gated (x += y · g)
 * operation for operation, so wr_op_matmul_gated_add gives the same bits whichever runs it. */
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/gemm.h"

float cpu_matmul_epi_value(const cpu_matmul_epi *e, float v, const float *bias, int64_t m, int64_t n, float y)
{
    if (bias)
        v = v + bias[n];
    if (!e)
        return v;
    if (!e->residual) {
        switch (e->act) {
        case WR_ACT_GELU_TANH: return cpu_gelu_tanh(v);
        case WR_ACT_SILU: return cpu_silu(v);
        default: return v;
        }
    }
    if (e->gate) {
        float g = e->gate[m * e->gate_stride + n];
        float p = v * g;
        return y + p;
    }
    return y + v;
}
