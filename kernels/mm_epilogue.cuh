/* The fused epilogue of the matmul kernels (kernels/matmul.cu, kernels/matmul_q.cu): what becomes
 * of one output element after the k loop, chosen at compile time so the inner loops are the same
 * for every variant (issue #7: "fused epilogues (bias, GELU-tanh, residual + y·gate)").
 * Defines (each kernel file passes them on from its spec):
 *   HAS_BIAS 0/1
 *   EPI   0 none, 1 silu (torch.nn.SiLU), 2 gelu_tanh (torch.nn.GELU(approximate="tanh")),
 *         3 gated_residual: y is the residual, read and rewritten in place (no separate y buffer)
 *   GATE  EPI 3 only: 0 no gate (g = 1), 1 one gate row per output row, gate[m * gate_stride + n]
 *         (a strided view such as one chunk of Wan's [M, 6, N] modulation: stride 6 N), 2 one row
 *         broadcast to every output row, gate[n]
 * Arithmetic for element (m, n), v the accumulator times the kernel's scales:
 *   v = v + bias[n]                          (HAS_BIAS)
 *   EPI 0..2:  y[m][n] = act(v)
 *   EPI 3:     y[m][n] = y[m][n] + v * g      (GATE 0: y[m][n] + v)
 * Each add and multiply is rounded on its own (__fadd_rn / __fmul_rn), so NVRTC cannot contract
 * them into an FMA and a device rounds exactly as the CPU twin does (runtime/cpu/matmul_epilogue.c,
 * cpu_matmul_epi_value; the CPU backend's matmul + add_gated is the same sequence). The activations
 * are wr_silu / wr_gelu_tanh (kernels/common.cuh): equal bits on the emulator, last-bit differences
 * of expf / tanhf on a device. Each element is read and written by exactly one thread. */
#ifndef WR_MM_EPILOGUE_CUH
#define WR_MM_EPILOGUE_CUH

#include "kernels/common.cuh"

#ifndef HAS_BIAS
#define HAS_BIAS 0
#endif
#ifndef EPI
#define EPI 0
#endif
#ifndef GATE
#define GATE 0
#endif
static_assert(HAS_BIAS == 0 || HAS_BIAS == 1, "HAS_BIAS is 0 or 1");
static_assert(EPI >= 0 && EPI <= 3, "EPI is 0 none, 1 silu, 2 gelu_tanh, 3 gated_residual");
static_assert(GATE >= 0 && GATE <= 2, "GATE is 0 none, 1 per row (strided), 2 one broadcast row");
static_assert(EPI == 3 || GATE == 0, "GATE only applies to the gated residual (EPI 3)");

__device__ __forceinline__ void mm_epilogue(float *__restrict__ y, const float *__restrict__ bias,
                                            const float *__restrict__ gate, long long gate_stride, int N, int m,
                                            int n, float v)
{
#if HAS_BIAS
    v = __fadd_rn(v, bias[n]);
#endif
    float *dst = y + (size_t)m * N + n;
#if EPI == 0
    *dst = v;
#elif EPI == 1
    *dst = wr_silu(v);
#elif EPI == 2
    *dst = wr_gelu_tanh(v);
#elif GATE == 0
    *dst = __fadd_rn(*dst, v);
#else
    float g = GATE == 1 ? gate[(size_t)m * gate_stride + n] : gate[n];
    *dst = __fadd_rn(*dst, __fmul_rn(v, g));
#endif
    (void)bias, (void)gate, (void)gate_stride;
}

#endif
