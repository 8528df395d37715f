/* Run-time selected SIMD kernels for the CPU backend (AVX2+FMA where the CPU has it, plain C
 * otherwise). Every path is tested against the plain loop (tests/ops). */
#ifndef WR_SIMD_H
#define WR_SIMD_H

#include <stdint.h>

typedef float (*wr_dot_fn)(const float *a, const float *b, int64_t n);

/* Best dot product for this CPU; WANRT_SIMD=portable forces the plain path. */
wr_dot_fn wr_simd_dot(void);
float wr_dot_portable(const float *a, const float *b, int64_t n);
/* NULL when the CPU lacks AVX2/FMA. */
wr_dot_fn wr_dot_avx2(void);
const char *wr_simd_name(void);

/* y[i] += a · x[i] for i < n: the best path for this CPU (portable when WANRT_SIMD=portable). */
typedef void (*wr_axpy_fn)(float a, const float *x, float *y, int64_t n);
wr_axpy_fn wr_simd_axpy(void);
void wr_axpy_portable(float a, const float *x, float *y, int64_t n);

#endif
