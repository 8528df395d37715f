/* The kernels/ptx.cuh wrappers (mma.sync bf16/s8/e4m3, ldmatrix, cp.async) against plain C
 * matrix products. The selftest kernels build fragments by indexing per the PTX ISA tables, so
 * on the emulator this checks that the twins implement those tables, and on a GPU
 * (make test-gpu) that the tables match the hardware. Inputs are small integers or short fp8
 * values, so every sum is exact and comparisons are exact. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/numeric.h"
#include "tests/gpu/gpu_test.h"

#define SELF "kernels/selftest.cu"

static uint64_t g_rng = 0xfeedbeef;
static int rnd(int lo, int hi)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return lo + (int)(g_rng % (uint64_t)(hi - lo + 1));
}

Test(ptx, mma_m16n8k16_bf16)
{
    wr_gpu *g = gt_open(NULL);
    uint16_t A[16 * 16], Bt[8 * 16];
    float C[16 * 8];
    for (int i = 0; i < 256; i++)
        A[i] = wr_f32_to_bf16((float)rnd(-8, 8));
    for (int i = 0; i < 128; i++)
        Bt[i] = wr_f32_to_bf16((float)rnd(-8, 8));
    void *dA = gt_upload(g, A, sizeof A), *dB = gt_upload(g, Bt, sizeof Bt), *dC = gt_upload(g, NULL, sizeof C);
    void *args[] = {&dA, &dB, &dC};
    gt_launch(g, gt_jit(g, SELF, "selftest_mma_bf16", NULL), 1, 1, 32, 1, 0, args);
    gt_download(g, C, dC, sizeof C);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 8; j++) {
            float ref = 0;
            for (int k = 0; k < 16; k++)
                ref += wr_bf16_to_f32(A[i * 16 + k]) * wr_bf16_to_f32(Bt[j * 16 + k]);
            cr_assert_eq(C[i * 8 + j], ref, "(%d,%d): %g vs %g", i, j, (double)C[i * 8 + j], (double)ref);
        }
    wr_gpu_close(g);
}

Test(ptx, mma_m16n8k32_s8)
{
    wr_gpu *g = gt_open(NULL);
    int8_t A[16 * 32], Bt[8 * 32];
    int C[16 * 8];
    for (int i = 0; i < 512; i++)
        A[i] = (int8_t)rnd(-128, 127);
    for (int i = 0; i < 256; i++)
        Bt[i] = (int8_t)rnd(-128, 127);
    void *dA = gt_upload(g, A, sizeof A), *dB = gt_upload(g, Bt, sizeof Bt), *dC = gt_upload(g, NULL, sizeof C);
    void *args[] = {&dA, &dB, &dC};
    gt_launch(g, gt_jit(g, SELF, "selftest_mma_s8", NULL), 1, 1, 32, 1, 0, args);
    gt_download(g, C, dC, sizeof C);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 8; j++) {
            int ref = 0;
            for (int k = 0; k < 32; k++)
                ref += A[i * 32 + k] * Bt[j * 32 + k];
            cr_assert_eq(C[i * 8 + j], ref, "(%d,%d)", i, j);
        }
    wr_gpu_close(g);
}

Test(ptx, mma_m16n8k32_e4m3)
{
    wr_gpu_options o = {.arch = 89};
    wr_gpu *g = gt_open(&o);
    if (wr_gpu_arch(g) < 89) {
        wr_gpu_close(g);
        cr_skip_test("e4m3 mma needs sm_89");
    }
    uint8_t A[16 * 32], Bt[8 * 32];
    float C[16 * 8];
    /* values k/4 for small k: products and sums of 32 are exact in fp32 */
    for (int i = 0; i < 512; i++)
        A[i] = wr_f32_to_f8e4m3((float)rnd(-12, 12) * 0.25f);
    for (int i = 0; i < 256; i++)
        Bt[i] = wr_f32_to_f8e4m3((float)rnd(-12, 12) * 0.25f);
    void *dA = gt_upload(g, A, sizeof A), *dB = gt_upload(g, Bt, sizeof Bt), *dC = gt_upload(g, NULL, sizeof C);
    void *args[] = {&dA, &dB, &dC};
    gt_launch(g, gt_jit(g, SELF, "selftest_mma_e4m3", NULL), 1, 1, 32, 1, 0, args);
    gt_download(g, C, dC, sizeof C);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 8; j++) {
            float ref = 0.5f; /* the kernel's C operand */
            for (int k = 0; k < 32; k++)
                ref += wr_f8e4m3_to_f32(A[i * 32 + k]) * wr_f8e4m3_to_f32(Bt[j * 32 + k]);
            cr_assert_eq(C[i * 8 + j], ref, "(%d,%d): %g vs %g", i, j, (double)C[i * 8 + j], (double)ref);
        }
    wr_gpu_close(g);
}

/* As on the hardware, an e4m3 mma on an arch below sm_89 fails (the emulator traps). */
Test(ptx, mma_e4m3_needs_sm89)
{
    wr_gpu_options o = {.arch = 80};
    wr_gpu *g = gt_open(&o);
    if (wr_gpu_get_kind(g) != WR_GPU_EMU) {
        wr_gpu_close(g);
        cr_skip_test("emulator-only test");
    }
    uint8_t A[512] = {0}, Bt[256] = {0};
    void *dA = gt_upload(g, A, sizeof A), *dB = gt_upload(g, Bt, sizeof Bt), *dC = gt_upload(g, NULL, 512);
    void *args[] = {&dA, &dB, &dC};
    wr_status st = wr_gpu_launch(g, gt_jit(g, SELF, "selftest_mma_e4m3", NULL), wr_dim3_make(1, 1, 1),
                                 wr_dim3_make(32, 1, 1), 0, NULL, args);
    cr_assert_eq(st, WR_E_DEVICE);
    cr_assert(strstr(wr_last_error(), "sm_89") && strstr(wr_last_error(), "selftest_mma_e4m3"), "%s", wr_last_error());
    wr_gpu_close(g);
}

Test(ptx, ldmatrix_x4_fragments)
{
    wr_gpu *g = gt_open(NULL);
    uint16_t A[256];
    for (int i = 0; i < 256; i++)
        A[i] = (uint16_t)(i * 3 + 1);
    wr_gpu_func *fn = gt_jit(g, SELF, "selftest_ldmatrix", NULL);
    for (int trans = 0; trans < 2; trans++) {
        uint32_t out[128];
        void *dA = gt_upload(g, A, sizeof A), *dO = gt_upload(g, NULL, sizeof out);
        void *args[] = {&dA, &dO, &trans};
        gt_launch(g, fn, 1, 1, 32, 1, 0, args);
        gt_download(g, out, dO, sizeof out);
        for (int l = 0; l < 32; l++)
            for (int j = 0; j < 4; j++) {
                /* lanes 8j..8j+7 pointed at rows of matrix j = tile rows 8(j%2).., columns 8(j/2).. */
                int r0 = (j % 2) * 8, c0 = (j / 2) * 8;
                uint16_t lo, hi;
                if (!trans) {
                    lo = A[(r0 + l / 4) * 16 + c0 + 2 * (l % 4)];
                    hi = A[(r0 + l / 4) * 16 + c0 + 2 * (l % 4) + 1];
                } else {
                    lo = A[(r0 + 2 * (l % 4)) * 16 + c0 + l / 4];
                    hi = A[(r0 + 2 * (l % 4) + 1) * 16 + c0 + l / 4];
                }
                cr_assert_eq(out[l * 4 + j], (uint32_t)lo | ((uint32_t)hi << 16), "trans %d lane %d reg %d", trans,
                             l, j);
            }
    }
    wr_gpu_close(g);
}

Test(ptx, cp_async_ldmatrix_mma_pipeline)
{
    wr_gpu *g = gt_open(NULL);
    uint16_t A[256], Bt[256];
    float C[256];
    for (int i = 0; i < 256; i++) {
        A[i] = wr_f32_to_bf16((float)rnd(-6, 6));
        Bt[i] = wr_f32_to_bf16((float)rnd(-6, 6));
    }
    void *dA = gt_upload(g, A, sizeof A), *dB = gt_upload(g, Bt, sizeof Bt), *dC = gt_upload(g, NULL, sizeof C);
    void *args[] = {&dA, &dB, &dC};
    gt_launch(g, gt_jit(g, SELF, "selftest_mma_pipeline", NULL), 1, 1, 32, 1, 0, args);
    gt_download(g, C, dC, sizeof C);
    for (int i = 0; i < 16; i++)
        for (int n = 0; n < 16; n++) {
            float ref = 0;
            for (int k = 0; k < 16; k++)
                ref += wr_bf16_to_f32(A[i * 16 + k]) * wr_bf16_to_f32(Bt[n * 16 + k]);
            cr_assert_eq(C[i * 16 + n], ref, "(%d,%d)", i, n);
        }
    wr_gpu_close(g);
}
