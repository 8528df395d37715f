/* The CUDA device dialect for the host C++ compiler: force-included (g++ -include) before an
 * unchanged kernels/<op>.cu file so the emulator (runtime/gpu/gpu_emu.c) can run it on the CPU.
 *
 * What it provides and how:
 *   __global__/__device__/__forceinline__/...  plain C++ functions
 *   __shared__                                  thread_local: one copy per host thread, and all the
 *                                               fibers of a block run on one host thread, so it is
 *                                               per-block memory; `extern __shared__ T x[]` is defined
 *                                               by the generated wrapper (runtime/gpu/jit.c)
 *   threadIdx/blockIdx/blockDim/gridDim         read from the host's wr_emu_rt (kernels/emu/emu_abi.h)
 *   __syncthreads/__syncwarp                    fiber switches into the host scheduler
 *   __shfl_*_sync/__ballot_sync/__any/__all     writes to the warp's exchange area between two warp
 *                                               barriers
 *   atomics                                     plain read-modify-write: fibers only switch at barriers
 *   __half/__nv_bfloat16/__nv_fp8_e4m3          bit-exact conversions from runtime/numeric.h
 * Kernels see WR_EMU=1 and __CUDA_ARCH__ set to the emulated architecture (e.g. 800). */
#ifndef WR_EMU_H
#define WR_EMU_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmath>
#include <type_traits>
#include <utility>

#include "kernels/emu/emu_abi.h"
#include "runtime/numeric.h"

#define WR_EMU 1

/* ---- qualifiers ---------------------------------------------------------------------------- */
#define __global__
#define __device__
#define __host__
#define __constant__
#define __shared__ thread_local
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __ldg(p) (*(p))

/* Modules are built with -fvisibility=hidden; these are the symbols the host looks up. */
#define WR_EMU_EXPORT __attribute__((visibility("default")))

/* The runtime pointer: one per module, set by wr_emu_bind before any launch. */
static wr_emu_rt *wr_emu_rt_;
extern "C" WR_EMU_EXPORT void wr_emu_bind(wr_emu_rt *rt) { wr_emu_rt_ = rt; }

typedef wr_emu_dim3 uint3;
struct dim3 {
    unsigned x, y, z;
};

#define threadIdx (wr_emu_rt_->cur->tid)
#define blockIdx (wr_emu_rt_->block_idx)
#define blockDim (wr_emu_rt_->block_dim)
#define gridDim (wr_emu_rt_->grid_dim)
#define warpSize 32

static inline void __syncthreads(void) { wr_emu_rt_->sync_block(); }
static inline void __syncwarp(unsigned mask = 0xffffffffu) { wr_emu_rt_->sync_warp(mask); }
static inline void __trap(void) { wr_emu_rt_->trap("__trap() called"); }
static inline void __threadfence(void) {}
static inline void __threadfence_block(void) {}

/* ---- vector types -------------------------------------------------------------------------- */
#define WR_EMU_VEC2(T, N, A)                                                    \
    struct alignas(A) N { T x, y; };                                            \
    static inline N make_##N(T x, T y) { N v = {x, y}; return v; }
#define WR_EMU_VEC4(T, N, A)                                                    \
    struct alignas(A) N { T x, y, z, w; };                                      \
    static inline N make_##N(T x, T y, T z, T w) { N v = {x, y, z, w}; return v; }
WR_EMU_VEC2(float, float2, 8)
WR_EMU_VEC4(float, float4, 16)
WR_EMU_VEC2(int, int2, 8)
WR_EMU_VEC4(int, int4, 16)
WR_EMU_VEC2(unsigned, uint2, 8)
WR_EMU_VEC4(unsigned, uint4, 16)
WR_EMU_VEC4(signed char, char4, 4)
WR_EMU_VEC4(unsigned char, uchar4, 4)
#undef WR_EMU_VEC2
#undef WR_EMU_VEC4

/* ---- integer / bit intrinsics -------------------------------------------------------------- */
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(unsigned x) { return x ? __builtin_clz(x) : 32; }
static inline int __ffs(unsigned x) { return __builtin_ffs((int)x); }
static inline float __int_as_float(int x) { float f; memcpy(&f, &x, 4); return f; }
static inline int __float_as_int(float f) { int x; memcpy(&x, &f, 4); return x; }
static inline float __uint_as_float(unsigned x) { float f; memcpy(&f, &x, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned x; memcpy(&x, &f, 4); return x; }

/* ---- float intrinsics (the accurate versions; the GPU's approximate ones differ by ulps) ---- */
#define __expf(x) expf(x)
#define __logf(x) logf(x)
static inline float __fdividef(float a, float b) { return a / b; }
static inline float __frcp_rn(float a) { return 1.0f / a; }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline int __float2int_rn(float x) { return (int)nearbyintf(x); }

/* ---- 16- and 8-bit floats (storage types with the conversions of cuda_fp16/bf16/fp8.h) ------- */
struct __half {
    uint16_t __x;
    __half() = default;
    __half(float f) : __x(wr_f32_to_f16(f)) {}
    operator float() const { return wr_f16_to_f32(__x); }
};
struct __nv_bfloat16 {
    uint16_t __x;
    __nv_bfloat16() = default;
    __nv_bfloat16(float f) : __x(wr_f32_to_bf16(f)) {}
    operator float() const { return wr_bf16_to_f32(__x); }
};
struct __nv_fp8_e4m3 {
    uint8_t __x;
    __nv_fp8_e4m3() = default;
    explicit __nv_fp8_e4m3(float f) : __x(wr_f32_to_f8e4m3(f)) {}
    explicit operator float() const { return wr_f8e4m3_to_f32(__x); }
};
struct __nv_bfloat162 {
    __nv_bfloat16 x, y;
};
struct __half2 {
    __half x, y;
};
typedef __half half;
typedef __half2 half2;
typedef __nv_bfloat16 nv_bfloat16;
typedef __nv_bfloat162 nv_bfloat162;

static inline __half __float2half(float f) { return __half(f); }
static inline __half __float2half_rn(float f) { return __half(f); }
static inline float __half2float(__half h) { return (float)h; }
static inline unsigned short __half_as_ushort(__half h) { return h.__x; }
static inline __half __ushort_as_half(unsigned short x) { __half h; h.__x = x; return h; }
static inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
static inline float __bfloat162float(__nv_bfloat16 h) { return (float)h; }
static inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
static inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short x) { __nv_bfloat16 h; h.__x = x; return h; }
static inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b)
{
    __nv_bfloat162 r;
    r.x = __nv_bfloat16(a);
    r.y = __nv_bfloat16(b);
    return r;
}
static inline float2 __bfloat1622float2(__nv_bfloat162 v) { return make_float2((float)v.x, (float)v.y); }

/* ---- warp exchange ------------------------------------------------------------------------- */
namespace wr_emu {
template <typename T> static inline unsigned long long to_bits(T v)
{
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type over 8 bytes");
    unsigned long long b = 0;
    memcpy(&b, &v, sizeof v);
    return b;
}
template <typename T> static inline T from_bits(unsigned long long b)
{
    T v;
    memcpy(&v, &b, sizeof v);
    return v;
}
/* Every lane of mask publishes v, then reads the value of lane src (an index within the warp). */
template <typename T> static inline T exchange(unsigned mask, T v, unsigned src)
{
    wr_emu_thread *t = wr_emu_rt_->cur;
    unsigned long long *x = t->xchg;
    x[t->lane * WR_EMU_XCHG_WORDS] = to_bits(v);
    wr_emu_rt_->sync_warp(mask);
    T r = from_bits<T>(x[(src & 31u) * WR_EMU_XCHG_WORDS]);
    wr_emu_rt_->sync_warp(mask);
    return r;
}
static inline unsigned lane(void) { return wr_emu_rt_->cur->lane; }
} // namespace wr_emu

template <typename T> static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32)
{
    unsigned l = wr_emu::lane();
    unsigned base = l & ~(unsigned)(width - 1);
    return wr_emu::exchange(mask, v, base + ((unsigned)src & (unsigned)(width - 1)));
}
template <typename T> static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32)
{
    unsigned l = wr_emu::lane();
    unsigned s = l ^ (unsigned)lane_mask;
    if ((s & ~(unsigned)(width - 1)) != (l & ~(unsigned)(width - 1)))
        s = l;
    return wr_emu::exchange(mask, v, s);
}
template <typename T> static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    unsigned l = wr_emu::lane();
    unsigned s = (l % (unsigned)width) + delta < (unsigned)width ? l + delta : l;
    return wr_emu::exchange(mask, v, s);
}
template <typename T> static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    unsigned l = wr_emu::lane();
    unsigned s = (l % (unsigned)width) >= delta ? l - delta : l;
    return wr_emu::exchange(mask, v, s);
}
static inline unsigned __ballot_sync(unsigned mask, int pred)
{
    wr_emu_thread *t = wr_emu_rt_->cur;
    unsigned long long *x = t->xchg;
    x[t->lane * WR_EMU_XCHG_WORDS] = pred ? 1u : 0u;
    wr_emu_rt_->sync_warp(mask);
    unsigned r = 0;
    for (unsigned i = 0; i < 32; i++)
        if (((mask >> i) & 1u) && x[i * WR_EMU_XCHG_WORDS])
            r |= 1u << i;
    wr_emu_rt_->sync_warp(mask);
    return r;
}
static inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
static inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }

/* ---- atomics: fibers switch only at barriers, so a plain read-modify-write is atomic --------- */
#define WR_EMU_ATOMIC(T)                                                                   \
    static inline T atomicAdd(T *p, T v) { T o = *p; *p = (T)(o + v); return o; }          \
    static inline T atomicExch(T *p, T v) { T o = *p; *p = v; return o; }
WR_EMU_ATOMIC(int)
WR_EMU_ATOMIC(unsigned)
WR_EMU_ATOMIC(unsigned long long)
WR_EMU_ATOMIC(float)
WR_EMU_ATOMIC(double)
#undef WR_EMU_ATOMIC
#define WR_EMU_ATOMIC_INT(T)                                                               \
    static inline T atomicSub(T *p, T v) { T o = *p; *p = (T)(o - v); return o; }          \
    static inline T atomicMax(T *p, T v) { T o = *p; *p = o > v ? o : v; return o; }       \
    static inline T atomicMin(T *p, T v) { T o = *p; *p = o < v ? o : v; return o; }       \
    static inline T atomicCAS(T *p, T cmp, T v) { T o = *p; if (o == cmp) *p = v; return o; } \
    static inline T atomicOr(T *p, T v) { T o = *p; *p = o | v; return o; }                \
    static inline T atomicAnd(T *p, T v) { T o = *p; *p = o & v; return o; }
WR_EMU_ATOMIC_INT(int)
WR_EMU_ATOMIC_INT(unsigned)
WR_EMU_ATOMIC_INT(unsigned long long)
#undef WR_EMU_ATOMIC_INT

/* ---- entry trampolines: unpack cuLaunchKernel-style void **args into typed parameters -------- */
namespace wr_emu {
template <typename... A, std::size_t... I>
static inline void invoke_impl(void (*f)(A...), void **args, std::index_sequence<I...>)
{
    (void)args;
    f(*static_cast<typename std::remove_cv<typename std::remove_reference<A>::type>::type *>(args[I])...);
}
template <typename... A> static inline void invoke(void (*f)(A...), void **args)
{
    invoke_impl(f, args, std::index_sequence_for<A...>{});
}
/* Parameter sizes (graph capture copies the argument values). Returns the count, up to max. */
template <typename... A> static inline int arg_sizes(void (*)(A...), unsigned long *out, int max)
{
    unsigned long s[] = {sizeof(A)..., 0};
    int n = (int)sizeof...(A);
    for (int i = 0; i < n && i < max; i++)
        out[i] = s[i];
    return n;
}
} // namespace wr_emu

#endif
