/* GEMM micro-kernels, one per ISA path (contract in gemm.h). Each keeps its MR × 32 output
 * tile in registers for the whole k loop and issues one broadcast of x and one FMA per
 * (row, 16-lane vector) per k: AVX-512 12 × 2 zmm accumulators, AVX2 6 × 2 ymm per half
 * panel, portable a plain 4 × 32 loop. All accumulate in float32 in k order. */
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu/gemm.h"

static void kernel_portable(int64_t kc, const float *xp, const float *wp, float *c, int64_t ldc, int accumulate)
{
    float acc[4][GEMM_NR];
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < GEMM_NR; j++)
            acc[r][j] = accumulate ? c[r * ldc + j] : 0.0f;
    for (int64_t k = 0; k < kc; k++, xp += 4, wp += GEMM_NR)
        for (int r = 0; r < 4; r++)
            for (int j = 0; j < GEMM_NR; j++)
                acc[r][j] += xp[r] * wp[j];
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < GEMM_NR; j++)
            c[r * ldc + j] = acc[r][j];
}

static void pack_portable(const float *const *rows, int64_t kc, float *panel)
{
    for (int j = 0; j < GEMM_NR; j++)
        for (int64_t k = 0; k < kc; k++)
            panel[k * GEMM_NR + j] = rows[j] ? rows[j][k] : 0.0f;
}

static const cpu_gemm_path path_portable = {"portable", CPU_GEMM_PORTABLE, 4, kernel_portable, pack_portable, NULL, cpu_gemm_epilogue};

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* One 6 × 16 half panel: 12 ymm accumulators, 2 weight vectors, 1 broadcast. */
__attribute__((target("avx2,fma"))) static inline void half_avx2(int64_t kc, const float *xp, const float *wp,
                                                                float *c, int64_t ldc, int accumulate)
{
    __m256 a0[6], a1[6];
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
        a0[r] = accumulate ? _mm256_loadu_ps(c + r * ldc) : _mm256_setzero_ps();
        a1[r] = accumulate ? _mm256_loadu_ps(c + r * ldc + 8) : _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < kc; k++, xp += 6, wp += GEMM_NR) {
        __m256 w0 = _mm256_load_ps(wp), w1 = _mm256_load_ps(wp + 8);
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) {
            __m256 b = _mm256_broadcast_ss(xp + r);
            a0[r] = _mm256_fmadd_ps(b, w0, a0[r]);
            a1[r] = _mm256_fmadd_ps(b, w1, a1[r]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
        _mm256_storeu_ps(c + r * ldc, a0[r]);
        _mm256_storeu_ps(c + r * ldc + 8, a1[r]);
    }
}

__attribute__((target("avx2,fma"))) static void kernel_avx2(int64_t kc, const float *xp, const float *wp, float *c,
                                                           int64_t ldc, int accumulate)
{
    half_avx2(kc, xp, wp, c, ldc, accumulate);
    half_avx2(kc, xp, wp + 16, c + 16, ldc, accumulate);
}

/* MR × 32 with MR·2 zmm accumulators; MR is a constant after inlining (12, or 4 for tiny M). */
__attribute__((target("avx512f"), always_inline)) static inline void tile_avx512(int mr, int64_t kc, const float *xp,
                                                                                const float *wp, float *c,
                                                                                int64_t ldc, int accumulate)
{
    __m512 a0[12], a1[12];
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        a0[r] = accumulate ? _mm512_loadu_ps(c + r * ldc) : _mm512_setzero_ps();
        a1[r] = accumulate ? _mm512_loadu_ps(c + r * ldc + 16) : _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < kc; k++, xp += mr, wp += GEMM_NR) {
        __m512 w0 = _mm512_load_ps(wp), w1 = _mm512_load_ps(wp + 16);
#pragma GCC unroll 12
        for (int r = 0; r < mr; r++) {
            __m512 b = _mm512_set1_ps(xp[r]);
            a0[r] = _mm512_fmadd_ps(b, w0, a0[r]);
            a1[r] = _mm512_fmadd_ps(b, w1, a1[r]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        _mm512_storeu_ps(c + r * ldc, a0[r]);
        _mm512_storeu_ps(c + r * ldc + 16, a1[r]);
    }
}

__attribute__((target("avx512f"))) static void kernel_avx512(int64_t kc, const float *xp, const float *wp, float *c,
                                                            int64_t ldc, int accumulate)
{
    tile_avx512(12, kc, xp, wp, c, ldc, accumulate);
}

__attribute__((target("avx512f"))) static void kernel_avx512_m4(int64_t kc, const float *xp, const float *wp,
                                                               float *c, int64_t ldc, int accumulate)
{
    tile_avx512(4, kc, xp, wp, c, ldc, accumulate);
}

/* 8 × 8 transposes: unpack pairs of rows, gather 4-row groups per 128-bit lane, swap lanes. */
__attribute__((target("avx2,fma"))) static void pack_avx2(const float *const *rows, int64_t kc, float *panel)
{
    static const int32_t ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int g = 0; g < GEMM_NR / 8; g++) {
        const float *const *rw = rows + 8 * g;
        for (int64_t k0 = 0; k0 < kc; k0 += 8) {
            int kk = kc - k0 < 8 ? (int)(kc - k0) : 8;
            __m256i mask = _mm256_loadu_si256((const __m256i *)(ones + 8 - kk));
            __m256 r[8], t[8], u[8];
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                r[j] = rw[j] ? _mm256_maskload_ps(rw[j] + k0, mask) : _mm256_setzero_ps();
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
            float *dst = panel + k0 * GEMM_NR + 8 * g;
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                if (c < kk)
                    _mm256_store_ps(dst + c * GEMM_NR, _mm256_permute2f128_ps(u[c], u[4 + c], 0x20));
                if (c + 4 < kk)
                    _mm256_store_ps(dst + (c + 4) * GEMM_NR, _mm256_permute2f128_ps(u[c], u[4 + c], 0x31));
            }
        }
    }
}

/* 16 × 16 transposes: unpack, gather 4-row groups per lane, then two rounds of lane shuffles. */
__attribute__((target("avx512f"))) static void pack_avx512(const float *const *rows, int64_t kc, float *panel)
{
    for (int h = 0; h < GEMM_NR / 16; h++) {
        const float *const *rw = rows + 16 * h;
        for (int64_t k0 = 0; k0 < kc; k0 += 16) {
            int kk = kc - k0 < 16 ? (int)(kc - k0) : 16;
            __mmask16 m = (__mmask16)((1u << kk) - 1u);
            __m512 r[16], t[16], u[16];
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++)
                r[j] = rw[j] ? _mm512_maskz_loadu_ps(m, rw[j] + k0) : _mm512_setzero_ps();
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
            }
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
                u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
                u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
                u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
            }
            /* u[4g + c] = rows 4g..4g+3 at columns c + 4L in lane L */
            float *dst = panel + k0 * GEMM_NR + 16 * h;
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), w0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
                __m512 v1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
                __m512 w1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
                if (c < kk)
                    _mm512_store_ps(dst + c * GEMM_NR, _mm512_shuffle_f32x4(v0, v1, 0x88));
                if (c + 4 < kk)
                    _mm512_store_ps(dst + (c + 4) * GEMM_NR, _mm512_shuffle_f32x4(w0, w1, 0x88));
                if (c + 8 < kk)
                    _mm512_store_ps(dst + (c + 8) * GEMM_NR, _mm512_shuffle_f32x4(v0, v1, 0xDD));
                if (c + 12 < kk)
                    _mm512_store_ps(dst + (c + 12) * GEMM_NR, _mm512_shuffle_f32x4(w0, w1, 0xDD));
            }
        }
    }
}

/* e^x, Cephes expf (range reduction by ln 2 split in two, degree-6 polynomial; about 1 ulp)
 * with 2^n applied by vscalefps, so large |x| saturates to 0 or +inf without integer tricks. */
__attribute__((target("avx512f"))) static __m512 exp_avx512(__m512 x)
{
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.5f)), _mm512_set1_ps(-104.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* The epilogue 16 columns at a time: GELU-tanh as v / (1 + e^(-2u)) = 0.5·v·(1 + tanh u),
 * u = sqrt(2/pi)·(v + 0.044715·v³); SiLU as v / (1 + e^(-v)). */
__attribute__((target("avx512f"))) static void epilogue_avx512(float *y, int64_t ldy, int rows, int cols, float scale,
                                                              const float *bias, wr_act act)
{
    if (scale == 1.0f && !bias && act == WR_ACT_NONE)
        return;
    const __m512 one = _mm512_set1_ps(1.0f), vs = _mm512_set1_ps(scale);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j += 16) {
            __mmask16 m = (__mmask16)(cols - j >= 16 ? 0xFFFFu : (1u << (cols - j)) - 1u);
            float *p = y + r * ldy + j;
            __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p), vs);
            if (bias)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + j));
            if (act == WR_ACT_GELU_TANH) {
                __m512 u = _mm512_mul_ps(_mm512_mul_ps(v, _mm512_set1_ps(-2.0f * 0.7978845608028654f)),
                                         _mm512_fmadd_ps(_mm512_mul_ps(v, v), _mm512_set1_ps(0.044715f), one));
                v = _mm512_div_ps(v, _mm512_add_ps(one, exp_avx512(u)));
            } else if (act == WR_ACT_SILU)
                v = _mm512_div_ps(v, _mm512_add_ps(one, exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), v))));
            _mm512_mask_storeu_ps(p, m, v);
        }
}

/* exp_avx512 in AVX2: the same Cephes steps, with 2^n (n in [-150, 128] after the clamp) as
 * two exact power-of-two factors 2^(n>>1)·2^(n-(n>>1)), each a normal float, so the result
 * rounds once, where vscalefps would: the same bits as exp_avx512. */
__attribute__((target("avx2,fma"))) static __m256 exp_avx2(__m256 x)
{
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.5f)), _mm256_set1_ps(-104.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* epilogue_avx512 8 columns at a time (masked tail), with exp_avx2: the same formulas. */
__attribute__((target("avx2,fma"))) static void epilogue_avx2(float *y, int64_t ldy, int rows, int cols, float scale,
                                                             const float *bias, wr_act act)
{
    if (scale == 1.0f && !bias && act == WR_ACT_NONE)
        return;
    static const int32_t ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    const __m256 one = _mm256_set1_ps(1.0f), vs = _mm256_set1_ps(scale);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j += 8) {
            int left = cols - j < 8 ? cols - j : 8;
            __m256i m = _mm256_loadu_si256((const __m256i *)(ones + 8 - left));
            float *p = y + r * ldy + j;
            __m256 v = _mm256_mul_ps(_mm256_maskload_ps(p, m), vs);
            if (bias)
                v = _mm256_add_ps(v, _mm256_maskload_ps(bias + j, m));
            if (act == WR_ACT_GELU_TANH) {
                __m256 u = _mm256_mul_ps(_mm256_mul_ps(v, _mm256_set1_ps(-2.0f * 0.7978845608028654f)),
                                         _mm256_fmadd_ps(_mm256_mul_ps(v, v), _mm256_set1_ps(0.044715f), one));
                v = _mm256_div_ps(v, _mm256_add_ps(one, exp_avx2(u)));
            } else if (act == WR_ACT_SILU)
                v = _mm256_div_ps(v, _mm256_add_ps(one, exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), v))));
            _mm256_maskstore_ps(p, m, v);
        }
}

static const cpu_gemm_path path_avx2 = {"avx2+fma", CPU_GEMM_AVX2, 6, kernel_avx2, pack_avx2, NULL, epilogue_avx2};
static const cpu_gemm_path path_avx512 = {"avx512f", CPU_GEMM_AVX512, 12, kernel_avx512, pack_avx512, kernel_avx512_m4, epilogue_avx512};

static int cpu_has(cpu_gemm_kind kind)
{
    __builtin_cpu_init();
    if (kind == CPU_GEMM_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (kind == CPU_GEMM_AVX512)
        return __builtin_cpu_supports("avx512f");
    return 1;
}
#endif

const cpu_gemm_path *cpu_gemm_path_get(cpu_gemm_kind kind)
{
    switch (kind) {
    case CPU_GEMM_PORTABLE: return &path_portable;
#if defined(__x86_64__) || defined(__i386__)
    case CPU_GEMM_AVX2: return cpu_has(kind) ? &path_avx2 : NULL;
    case CPU_GEMM_AVX512: return cpu_has(kind) ? &path_avx512 : NULL;
#endif
    default: return NULL;
    }
}

const cpu_gemm_path *cpu_gemm_path_best(void)
{
    static const cpu_gemm_path *best;
    if (best)
        return best;
    const char *e = getenv("WANRT_SIMD");
    int cap = CPU_GEMM_COUNT - 1;
    if (e && strcmp(e, "portable") == 0)
        cap = CPU_GEMM_PORTABLE;
    else if (e && strcmp(e, "avx2") == 0)
        cap = CPU_GEMM_AVX2;
    const cpu_gemm_path *p = NULL;
    for (int k = cap; k >= 0 && !p; k--)
        p = cpu_gemm_path_get((cpu_gemm_kind)k);
    return best = p;
}
