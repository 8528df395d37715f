/* SIMD row converters for the GEMM's weight panels: the same values as the reference
 * converters in runtime/quant.c, bit for bit (checked for every code in
 * tests/runtime/test_matmul_paths.c), 16 or 8 elements per step:
 *   BF16      zero-extend and shift left 16;
 *   F16       vcvtph2ps (F16C), exact for every code;
 *   F8 E5M2   the top byte of an f16, then as F16;
 *   F8 E4M3FN as the f16 s|0eeeemmm|0000000 (bias 15 instead of 7: one f16 subnormal range
 *             covers E4M3's subnormals) times 2^8, exact; 0x7f/0xff -> NaN;
 *   Q8_0      int8 -> float32 times the block's f16 d (the reference's one multiply).
 * Other dtypes use the reference converter. */
#include "runtime/cpu/gemm.h"
#include "runtime/quant.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

#include "kernels/quant_blocks.h"
#include "runtime/numeric.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,f16c")))
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX512 static void bf16_avx512(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(s + i)));
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
    }
    for (; i < n; i++)
        dst[i] = wr_bf16_to_f32(s[i]);
}

AVX512 static void f16_avx512(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + i))));
    for (; i < n; i++)
        dst[i] = wr_f16_to_f32(s[i]);
}

AVX512 static __m512 f8e4m3_16(__m128i b)
{
    __m256i v = _mm256_cvtepu8_epi16(b);
    __m256i h = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(v, _mm256_set1_epi16(0x80)), 8),
                                _mm256_slli_epi16(_mm256_and_si256(v, _mm256_set1_epi16(0x7f)), 7));
    __m512 f = _mm512_mul_ps(_mm512_cvtph_ps(h), _mm512_set1_ps(256.0f));
    __mmask16 nan = _mm256_cmpeq_epi16_mask(_mm256_and_si256(v, _mm256_set1_epi16(0x7f)), _mm256_set1_epi16(0x7f));
    return _mm512_mask_mov_ps(f, nan, _mm512_set1_ps(__builtin_nanf("")));
}

AVX512 static void f8e4m3_avx512(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, f8e4m3_16(_mm_loadu_si128((const __m128i *)(s + i))));
    for (; i < n; i++)
        dst[i] = wr_f8e4m3_to_f32(s[i]);
}

AVX512 static void f8e5m2_avx512(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_slli_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(s + i))), 8);
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(h));
    }
    for (; i < n; i++)
        dst[i] = wr_f8e5m2_to_f32(s[i]);
}

AVX512 static void q8_0_avx512(const void *src, float *dst, int64_t n)
{
    const block_q8_0 *x = src;
    for (int64_t b = 0; b < n / QK8_0; b++, dst += QK8_0) {
        __m512 d = _mm512_set1_ps(wr_f16_to_f32(x[b].d));
        __m128i q0, q1;
        memcpy(&q0, x[b].qs, 16), memcpy(&q1, x[b].qs + 16, 16);
        _mm512_storeu_ps(dst, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), d));
        _mm512_storeu_ps(dst + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), d));
    }
}

AVX2 static void bf16_avx2(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; i++)
        dst[i] = wr_bf16_to_f32(s[i]);
}

AVX2 static void f16_avx2(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
    for (; i < n; i++)
        dst[i] = wr_f16_to_f32(s[i]);
}

AVX2 static void f8e4m3_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i b;
        memcpy(&b, s + i, 8);
        __m128i v = _mm_cvtepu8_epi16(b), low = _mm_and_si128(v, _mm_set1_epi16(0x7f));
        __m128i h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(v, _mm_set1_epi16(0x80)), 8), _mm_slli_epi16(low, 7));
        __m256 f = _mm256_mul_ps(_mm256_cvtph_ps(h), _mm256_set1_ps(256.0f));
        __m256 nan = _mm256_castsi256_ps(_mm256_cvtepi16_epi32(_mm_cmpeq_epi16(low, _mm_set1_epi16(0x7f))));
        _mm256_storeu_ps(dst + i, _mm256_blendv_ps(f, _mm256_set1_ps(__builtin_nanf("")), nan));
    }
    for (; i < n; i++)
        dst[i] = wr_f8e4m3_to_f32(s[i]);
}

AVX2 static void f8e5m2_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i b;
        memcpy(&b, s + i, 8);
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_slli_epi16(_mm_cvtepu8_epi16(b), 8)));
    }
    for (; i < n; i++)
        dst[i] = wr_f8e5m2_to_f32(s[i]);
}

AVX2 static void q8_0_avx2(const void *src, float *dst, int64_t n)
{
    const block_q8_0 *x = src;
    for (int64_t b = 0; b < n / QK8_0; b++, dst += QK8_0) {
        __m256 d = _mm256_set1_ps(wr_f16_to_f32(x[b].d));
        for (int j = 0; j < QK8_0; j += 8) {
            __m128i q;
            memcpy(&q, x[b].qs + j, 8);
            _mm256_storeu_ps(dst + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
        }
    }
}

/* CPUID leaf 1, ECX bit 29: clang's __builtin_cpu_supports has no "f16c" (the fuzz build). */
static int has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}
#endif

wr_dequant_fn cpu_gemm_converter(cpu_gemm_kind kind, wr_dtype dt)
{
#if defined(__x86_64__) || defined(__i386__)
    if (kind == CPU_GEMM_AVX512 && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && has_f16c())
        switch (dt) {
        case WR_DTYPE_BF16: return bf16_avx512;
        case WR_DTYPE_F16: return f16_avx512;
        case WR_DTYPE_F8_E4M3FN: return f8e4m3_avx512;
        case WR_DTYPE_F8_E5M2: return f8e5m2_avx512;
        case WR_DTYPE_Q8_0: return q8_0_avx512;
        default: break;
        }
    if (kind >= CPU_GEMM_AVX2 && has_f16c())
        switch (dt) {
        case WR_DTYPE_BF16: return bf16_avx2;
        case WR_DTYPE_F16: return f16_avx2;
        case WR_DTYPE_F8_E4M3FN: return f8e4m3_avx2;
        case WR_DTYPE_F8_E5M2: return f8e5m2_avx2;
        case WR_DTYPE_Q8_0: return q8_0_avx2;
        default: break;
        }
#else
    (void)kind;
#endif
    return wr_dequant_get(dt);
}
