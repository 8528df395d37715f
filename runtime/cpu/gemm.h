/* The packed, register-blocked GEMM behind cpu_matmul (runtime/cpu/matmul.c), BLIS-style.
 *
 * y[M, N] = x[M, K] · W[N, K]ᵀ is computed in K blocks of GEMM_KC. Within a block:
 *   x is packed per tile of MR rows as [kc][MR] (rows past M are zero),
 *   W is packed per panel of GEMM_NR = 32 rows as [kc][32] (dequantised to float32, rows past
 *   N zero), one chunk of panels at a time per thread, never the whole weight,
 * and a micro-kernel keeps the MR × 32 output tile in registers while it walks k:
 *   c[r][j] (+)= Σ_k xp[k·MR + r] · wp[k·32 + j]       (float32 FMA, k in order)
 * Paths differ only in MR and the kernel's ISA; they are chosen at run time (cpu_gemm_path_best)
 * and each is tested against a float64 loop (tests/runtime/test_matmul_paths.c). */
#ifndef WR_CPU_GEMM_H
#define WR_CPU_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/ops.h"
#include "runtime/quant.h"

#define GEMM_NR 32     /* weight rows (output columns) per packed panel */
#define GEMM_KC 256    /* K block (runtime/cpu/matmul.c explains the sizes) */
#define GEMM_MR_MAX 12 /* largest MR of any path */

typedef enum cpu_gemm_kind {
    CPU_GEMM_PORTABLE, /* plain C, MR 4 */
    CPU_GEMM_AVX2,     /* AVX2 + FMA, MR 6, two 6x16 halves per panel */
    CPU_GEMM_AVX512,   /* AVX-512F, MR 12, 24 zmm accumulators */
    CPU_GEMM_COUNT
} cpu_gemm_kind;

/* c[r·ldc + j] = (accumulate ? c[r·ldc + j] : 0) + Σ_{k<kc} xp[k·mr + r] · wp[k·32 + j]
 * for r < mr, j < 32. wp is 64-byte aligned. */
typedef void (*cpu_gemm_kernel_fn)(int64_t kc, const float *xp, const float *wp, float *c, int64_t ldc,
                                   int accumulate);

/* panel[k·32 + j] = rows[j][k] for k < kc, j < 32; a NULL row is a row of zeros. panel is
 * 64-byte aligned (a transpose of 32 float32 rows). */
typedef void (*cpu_gemm_pack_fn)(const float *const *rows, int64_t kc, float *panel);

/* y[r·ldy + j] = act(y[r·ldy + j] · scale + bias[j]) for r < rows, j < cols (bias may be NULL). */
typedef void (*cpu_gemm_epilogue_fn)(float *y, int64_t ldy, int rows, int cols, float scale, const float *bias,
                                     wr_act act);

typedef struct cpu_gemm_path {
    const char *name;
    cpu_gemm_kind kind;
    int mr;
    cpu_gemm_kernel_fn kernel;
    cpu_gemm_pack_fn pack;
    cpu_gemm_kernel_fn kernel_m4; /* the same contract with mr = 4, for M <= 4; NULL if mr is 4 */
    cpu_gemm_epilogue_fn epilogue;
} cpu_gemm_path;

/* The path of that kind, or NULL when this CPU (or build) lacks it. */
const cpu_gemm_path *cpu_gemm_path_get(cpu_gemm_kind kind);
/* The fastest path this CPU has; WANRT_SIMD=portable|avx2 caps it. */
const cpu_gemm_path *cpu_gemm_path_best(void);

/* The row converter to float32 the path uses for dtype dt (runtime/cpu/gemm_convert.c): a
 * SIMD twin of the reference converter, equal bit for bit, or the reference itself. */
wr_dequant_fn cpu_gemm_converter(cpu_gemm_kind kind, wr_dtype dt);

/* panel[k·32 + j] = convert(rows[j])[k] for k < kc <= GEMM_KC, j < 32: a converter and the
 * pack in one pass, equal bit for bit to cpu_gemm_converter then the path's pack. rows[j]
 * points at the stored bytes of the K block's first element (a NULL row is zeros). */
typedef void (*cpu_gemm_pack_conv_fn)(const void *const *rows, int64_t kc, float *panel);
/* The path's fused converting packer for dtype dt (runtime/cpu/gemm_pack_avx2.c), or NULL
 * where it has none (then pack_w converts rows with cpu_gemm_converter and packs them). */
cpu_gemm_pack_conv_fn cpu_gemm_pack_converter(cpu_gemm_kind kind, wr_dtype dt);

/* The scalar epilogue (cpu_gelu_tanh, cpu_silu); paths may have a SIMD twin. */
void cpu_gemm_epilogue(float *y, int64_t ldy, int rows, int cols, float scale, const float *bias, wr_act act);

/* The matmuls' kept scratch block (64-byte aligned, grown to the largest request); *cached
 * says whether it is the shared block. NULL when out of memory. Give it back with _put. */
float *cpu_gemm_scratch_get(size_t bytes, int *cached);
void cpu_gemm_scratch_put(float *p, int cached);

/* Q8_0 weights × activations quantised to int8 per 32-block, on AVX512-VNNI
 * (runtime/cpu/matmul_q8.c). Needs cpu_gemm_has_vnni(). */
bool cpu_gemm_has_vnni(void);
/* Whether cpu_matmul sends Q8_0 weights to cpu_matmul_q8_0_w8a8: only with WANRT_Q8_ACT=int8
 * (read once) on a CPU with AVX512-VNNI and the AVX-512 path. The default is float32
 * activations: exact products of the stored weights, the same numbers as every other path. */
bool cpu_matmul_q8_int8_activations(void);
void cpu_matmul_q8_0_w8a8(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_act act, wr_tensor *y);
/* The GPU matmul kernels' fused epilogue (kernels/mm_epilogue.cuh) on the CPU, its twin
 * (runtime/cpu/matmul_epilogue.c). NULL means none: y = v + bias. */
typedef struct cpu_matmul_epi {
    wr_act act;          /* when not residual: y = act(v + bias) */
    bool residual;       /* y = y + (v + bias) · g, y the element's current value */
    const float *gate;   /* residual: g = gate[m · gate_stride + n]; NULL: g = 1 */
    int64_t gate_stride; /* elements between gate rows; 0: one row broadcast to every m */
} cpu_matmul_epi;
/* Output element (m, n) from its scaled accumulator v and its current value y. */
float cpu_matmul_epi_value(const cpu_matmul_epi *e, float v, const float *bias, int64_t m, int64_t n, float y);

/* Portable single-threaded twins of kernels/matmul_q.cu (runtime/cpu/matmul_qact.c): Q8_0 ×
 * int8 activations with the arithmetic above, and F8_E4M3FN × per-row e4m3 activations; then
 * the epilogue epi (NULL: + bias), y read as the residual where epi says so. */
void cpu_matmul_q8_0_a8_ref(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const cpu_matmul_epi *epi,
                            wr_tensor *y);
void cpu_matmul_f8_a8_ref(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const cpu_matmul_epi *epi,
                          wr_tensor *y);

/* cpu_matmul on a chosen path (tests and the bench compare paths with it). */
void cpu_matmul_path(const cpu_gemm_path *path, const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias,
                     wr_act act, wr_tensor *y);

#endif
