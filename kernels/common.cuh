/* What every kernel includes first: fixed-width integer types and the 16/8-bit float types,
 * from the CUDA headers under NVRTC and from kernels/emu/emu.h (already force-included) in the
 * emulator. Also WR_CEIL_DIV and the warp-reduction helpers shared by several kernels. */
#ifndef WR_COMMON_CUH
#define WR_COMMON_CUH

#if defined(__CUDACC_RTC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
typedef unsigned char uint8_t;
typedef signed char int8_t;
typedef unsigned short uint16_t;
typedef short int16_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned long long uint64_t;
typedef long long int64_t;
#elif !defined(WR_EMU)
#error "kernels are compiled by NVRTC or by the emulator (kernels/emu/emu.h)"
#endif

#define WR_CEIL_DIV(a, b) (((a) + (b)-1) / (b))
#define WR_FULL_MASK 0xffffffffu
#define WR_NEG_INF __int_as_float((int)0xff800000u)

/* Sum / max over the 32 lanes of a warp; every lane gets the result. */
__device__ __forceinline__ float wr_warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(WR_FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float wr_warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(WR_FULL_MASK, v, o));
    return v;
}

/* Max over a block of 128 threads (4 warps) through red[4] in shared memory; every thread gets
 * the result. Contains a __syncthreads: call it from all threads. */
__device__ __forceinline__ float wr_block128_max(float v, float *red)
{
    v = wr_warp_max(v);
    if (threadIdx.x % 32 == 0)
        red[threadIdx.x / 32] = v;
    __syncthreads();
    return fmaxf(fmaxf(red[0], red[1]), fmaxf(red[2], red[3]));
}

/* torch.nn.SiLU and torch.nn.GELU(approximate="tanh"), written as runtime/cpu/elementwise.c's
 * cpu_silu / cpu_gelu_tanh (the emulator calls the same libm: equal bits; a device's expf/tanhf
 * differ in the last bits). */
__device__ __forceinline__ float wr_silu(float v) { return v / (1.0f + expf(-v)); }
__device__ __forceinline__ float wr_gelu_tanh(float v)
{
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
}

/* bf16 / f16 / fp8 bits -> float, the same conversions as runtime/numeric.h. */
__device__ __forceinline__ float wr_bf16_bits_to_f32(uint16_t b) { return __uint_as_float((uint32_t)b << 16); }
__device__ __forceinline__ float wr_f16_bits_to_f32(uint16_t b) { return __half2float(__ushort_as_half(b)); }
__device__ __forceinline__ uint16_t wr_f32_to_bf16_bits(float f) { return __bfloat16_as_ushort(__float2bfloat16(f)); }
__device__ __forceinline__ uint16_t wr_f32_to_f16_bits(float f) { return __half_as_ushort(__float2half_rn(f)); }
/* float -> fp8 e4m3 (round to nearest even, saturating at 448 as __NV_SATFINITE) */
__device__ __forceinline__ uint8_t wr_f32_to_e4m3_bits(float f) { return (uint8_t)__nv_fp8_e4m3(f).__x; }

#endif
