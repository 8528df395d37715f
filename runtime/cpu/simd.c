/* SIMD dot products (see simd.h). The portable path keeps 8 partial sums like the AVX2 path
 * so both round similarly. */
#include "runtime/cpu/simd.h"

#include <stdlib.h>
#include <string.h>

float wr_dot_portable(const float *a, const float *b, int64_t n)
{
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void wr_axpy_portable(float a, const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static void axpy_avx2(float a, const float *x, float *y, int64_t n)
{
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, int64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float s = _mm_cvtss_f32(h);
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static int have_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

wr_dot_fn wr_dot_avx2(void) { return have_avx2() ? dot_avx2 : NULL; }
static wr_axpy_fn axpy_best(void) { return have_avx2() ? axpy_avx2 : wr_axpy_portable; }
#else
wr_dot_fn wr_dot_avx2(void) { return NULL; }
static wr_axpy_fn axpy_best(void) { return wr_axpy_portable; }
#endif

static int force_portable(void)
{
    const char *e = getenv("WANRT_SIMD");
    return e && strcmp(e, "portable") == 0;
}

wr_dot_fn wr_simd_dot(void)
{
    wr_dot_fn f = force_portable() ? NULL : wr_dot_avx2();
    return f ? f : wr_dot_portable;
}

wr_axpy_fn wr_simd_axpy(void) { return force_portable() ? wr_axpy_portable : axpy_best(); }

const char *wr_simd_name(void) { return wr_simd_dot() == wr_dot_portable ? "portable" : "avx2+fma"; }
