/* AVX2 weight packers that convert while they transpose: panel[k·32 + j] = convert(rows[j])[k]
 * straight from the stored bytes, 8 rows × 8 k at a time (one ymm per row, then the 8 × 8
 * transpose of pack_avx2 in gemm_kernels.c), instead of converting 32 rows into a float32 row
 * buffer and transposing that (a 32 KiB write and re-read per panel). The values are those of
 * the AVX2 row converters in gemm_convert.c (and so of the reference converters), bit for bit:
 *   F16 vcvtph2ps; BF16 zero-extend, shift 16; F8 E5M2 as the f16 top byte; F8 E4M3FN as the
 *   f16 s|0eeeemmm|0000000 times 2^8 (0x7f/0xff -> NaN); Q8_0 int8 -> float32 times the
 *   block's f16 d. A K tail shorter than 8 goes through the scalar converters. */
#include "runtime/cpu/gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>

#include "kernels/quant_blocks.h"
#include "runtime/numeric.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE __attribute__((always_inline)) inline

/* Stands in for rows past N: zero bits are +0 in every dtype (a Q8_0 block with d = 0). */
static const unsigned char zero_row[GEMM_KC * 4] __attribute__((aligned(64)));

/* Eight converted elements of row r from element k (k + 8 within the row's block range). */
AVX2 static INLINE __m256 load8(wr_dtype dt, const unsigned char *r, int64_t k, __m256 d)
{
    switch (dt) {
    case WR_DTYPE_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + 2 * k)));
    case WR_DTYPE_BF16:
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(r + 2 * k))), 16));
    case WR_DTYPE_F8_E5M2:
        return _mm256_cvtph_ps(_mm_slli_epi16(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(r + k))), 8));
    case WR_DTYPE_F8_E4M3FN: {
        __m128i v = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(r + k)));
        __m128i low = _mm_and_si128(v, _mm_set1_epi16(0x7f));
        __m128i h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(v, _mm_set1_epi16(0x80)), 8), _mm_slli_epi16(low, 7));
        __m256 f = _mm256_mul_ps(_mm256_cvtph_ps(h), _mm256_set1_ps(256.0f));
        __m256 nan = _mm256_castsi256_ps(_mm256_cvtepi16_epi32(_mm_cmpeq_epi16(low, _mm_set1_epi16(0x7f))));
        return _mm256_blendv_ps(f, _mm256_set1_ps(__builtin_nanf("")), nan);
    }
    case WR_DTYPE_Q8_0: {
        const block_q8_0 *b = (const block_q8_0 *)r + k / QK8_0;
        __m128i q = _mm_loadl_epi64((const __m128i *)(b->qs + k % QK8_0));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d);
    }
    default: return _mm256_loadu_ps((const float *)r + k);
    }
}

static float convert1(wr_dtype dt, const unsigned char *r, int64_t k)
{
    switch (dt) {
    case WR_DTYPE_F16: {
        uint16_t h;
        memcpy(&h, r + 2 * k, 2);
        return wr_f16_to_f32(h);
    }
    case WR_DTYPE_BF16: {
        uint16_t h;
        memcpy(&h, r + 2 * k, 2);
        return wr_bf16_to_f32(h);
    }
    case WR_DTYPE_F8_E5M2: return wr_f8e5m2_to_f32(r[k]);
    case WR_DTYPE_F8_E4M3FN: return wr_f8e4m3_to_f32(r[k]);
    default: return 0.0f; /* Q8_0 K blocks are whole blocks of 32: no tail */
    }
}

/* Columns c < kk of the 8 × 8 transpose of r[0..7] at dst (row stride GEMM_NR floats). */
AVX2 static INLINE void transpose_store(const __m256 *r, float *dst, int kk)
{
    __m256 t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        if (c < kk)
            _mm256_store_ps(dst + c * GEMM_NR, _mm256_permute2f128_ps(u[c], u[4 + c], 0x20));
        if (c + 4 < kk)
            _mm256_store_ps(dst + (c + 4) * GEMM_NR, _mm256_permute2f128_ps(u[c], u[4 + c], 0x31));
    }
}

AVX2 static INLINE void pack(wr_dtype dt, const void *const *rows, int64_t kc, float *panel)
{
    for (int g = 0; g < GEMM_NR / 8; g++) {
        const unsigned char *rw[8];
        for (int j = 0; j < 8; j++)
            rw[j] = rows[8 * g + j] ? rows[8 * g + j] : zero_row;
        __m256 d[8];
        for (int j = 0; j < 8; j++)
            d[j] = _mm256_setzero_ps();
        int64_t k0 = 0;
        for (; k0 + 8 <= kc; k0 += 8) {
            if (dt == WR_DTYPE_Q8_0 && k0 % QK8_0 == 0)
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++)
                    d[j] = _mm256_set1_ps(wr_f16_to_f32(((const block_q8_0 *)rw[j])[k0 / QK8_0].d));
            __m256 r[8];
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                r[j] = load8(dt, rw[j], k0, d[j]);
            transpose_store(r, panel + k0 * GEMM_NR + 8 * g, 8);
        }
        if (k0 < kc) {
            float tmp[8][8] __attribute__((aligned(32))) = {{0}};
            int kk = (int)(kc - k0);
            __m256 r[8];
            for (int j = 0; j < 8; j++) {
                for (int c = 0; c < kk; c++)
                    tmp[j][c] = convert1(dt, rw[j], k0 + c);
                r[j] = _mm256_load_ps(tmp[j]);
            }
            transpose_store(r, panel + k0 * GEMM_NR + 8 * g, kk);
        }
    }
}

AVX2 static void pack_f16(const void *const *rows, int64_t kc, float *panel) { pack(WR_DTYPE_F16, rows, kc, panel); }
AVX2 static void pack_bf16(const void *const *rows, int64_t kc, float *panel) { pack(WR_DTYPE_BF16, rows, kc, panel); }
AVX2 static void pack_e4m3(const void *const *rows, int64_t kc, float *panel)
{
    pack(WR_DTYPE_F8_E4M3FN, rows, kc, panel);
}
AVX2 static void pack_e5m2(const void *const *rows, int64_t kc, float *panel) { pack(WR_DTYPE_F8_E5M2, rows, kc, panel); }
AVX2 static void pack_q8_0(const void *const *rows, int64_t kc, float *panel) { pack(WR_DTYPE_Q8_0, rows, kc, panel); }
#endif

cpu_gemm_pack_conv_fn cpu_gemm_pack_converter(cpu_gemm_kind kind, wr_dtype dt)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (kind == CPU_GEMM_AVX2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c"))
        switch (dt) {
        case WR_DTYPE_F16: return pack_f16;
        case WR_DTYPE_BF16: return pack_bf16;
        case WR_DTYPE_F8_E4M3FN: return pack_e4m3;
        case WR_DTYPE_F8_E5M2: return pack_e5m2;
        case WR_DTYPE_Q8_0: return pack_q8_0;
        default: break;
        }
#else
    (void)kind, (void)dt;
#endif
    return NULL;
}
