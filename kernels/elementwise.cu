/* Elementwise kernels on contiguous f32 tensors (grid-stride loops, one element per thread step).
 * Entry points:
 *   ew_unary_f32(x, y, n)                   y[i] = f(x[i]); y may alias x
 *   ew_binary_f32(a, b, y, n, nb)           y[i] = a[i] (op) b[i % nb]   (b broadcast by repetition)
 *   ew_gated_add_f32(x, r, gate, n, ng)     x[i] += r[i] * gate[i % ng]  (DiT residual with gate)
 *   ew_modulate_f32(x, shift, scale, y, n)  y[i] = x[i] * (1 + scale[i]) + shift[i]  (AdaLN)
 * Defines:
 *   OP   unary: 0 copy, 1 silu, 2 gelu (tanh approximation), 3 gelu (erf)
 *        binary: 0 add, 1 mul, 2 sub
 * CPU twins: the loops in tests/gpu/test_ops.c until runtime/cpu/elementwise.c lands
 * (torch.nn.functional.silu / gelu(approximate="tanh") / gelu). */
#include "kernels/common.cuh"

#ifndef OP
#define OP 0
#endif
static_assert(OP >= 0 && OP <= 3, "OP is 0..3");

__device__ __forceinline__ float ew_unary(float v)
{
#if OP == 0
    return v;
#elif OP == 1
    return wr_silu(v);
#elif OP == 2
    return wr_gelu_tanh(v);
#else
    return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
#endif
}

extern "C" __global__ void ew_unary_f32(const float *x, float *y, long long n)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = ew_unary(x[i]);
}

extern "C" __global__ void ew_binary_f32(const float *a, const float *b, float *y, long long n, long long nb)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float u = a[i], v = b[i % nb];
#if OP == 0
        y[i] = u + v;
#elif OP == 1
        y[i] = u * v;
#else
        y[i] = u - v;
#endif
    }
}

extern "C" __global__ void ew_gated_add_f32(float *x, const float *r, const float *gate, long long n, long long ng)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        x[i] += r[i] * gate[i % ng];
}

extern "C" __global__ void ew_modulate_f32(const float *x, const float *shift, const float *scale, float *y, long long n)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = x[i] * (1.0f + scale[i]) + shift[i];
}
