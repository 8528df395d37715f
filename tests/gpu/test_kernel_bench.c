/* The GPU benchmarks (bench/kernels/bench_gpu_kernels.c, bench_gpu_memory.c) as `make test` runs
 * them, so their validation code is executed and kept honest without a GPU:
 *   - each built binary with --device emu --quick --reps 1 validates every version against its CPU
 *     twin (exit 0 only when every check passed), then runs the timing path at tiny shapes (tiled
 *     inputs, events, the table); WANRT_TEST_DEVICE=cuda runs --device cuda --validate-only;
 *   - without a CUDA driver, the plain `make bench` invocation says it skipped and exits 0;
 *   - the cuBLASLt wrapper refuses the emulator with WR_E_UNSUPPORTED naming it;
 *   - the peak table matches the names the driver reports (only a GPU run would otherwise).
 * The binary comes from WANRT_BENCH_DIR (set by the Makefile), else build/release/bench. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bench/kernels/gpu_bench.h"
#include "runtime/gpu/cublaslt.h"
#include "tests/gpu/gpu_test.h"

static const char *bench_bin(const char *name)
{
    static char path[4096];
    const char *dir = getenv("WANRT_BENCH_DIR");
    snprintf(path, sizeof path, "%s/kernels/%s", dir && *dir ? dir : "build/release/bench", name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s is not built (make %s)", path, path);
    fclose(f);
    return path;
}

/* Runs the bench with args; returns its output (malloc'd) and exit status. */
static char *run_bench(const char *name, const char *args, int *status)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bench_bin(name), args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "cannot run %s", cmd);
    size_t cap = 1 << 16, len = 0, n;
    char *out = malloc(cap);
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 4096)
            out = realloc(out, cap *= 2);
    }
    out[len] = 0;
    *status = pclose(p);
    return out;
}

/* Runs one bench; asserts its validation passed, at least min_checks ran and each name in names
 * has an "ok" line and (emulator) a timing row (skips the test when cuda is asked for and absent). */
static void validation_passes(const char *bench, const char *const *names, size_t n_names, int min_checks)
{
    const char *dev = getenv("WANRT_TEST_DEVICE");
    bool cuda = dev && strcmp(dev, "cuda") == 0;
    int status;
    char *out = run_bench(bench, cuda ? "--device cuda --validate-only" : "--device emu --quick --reps 1", &status);
    if (cuda && strstr(out, "no CUDA device")) {
        free(out);
        cr_skip_test("no CUDA device");
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: validation failed:\n%s", bench, out);
    int passed = -1, total = -2;
    const char *v = strstr(out, "validated: ");
    cr_assert(v && sscanf(v, "validated: %d of %d", &passed, &total) == 2, "no summary line:\n%s", out);
    cr_assert_eq(passed, total, "%s", out);
    for (size_t i = 0; i < n_names; i++) {
        char line[64];
        snprintf(line, sizeof line, "ok   %s ", names[i]);
        cr_assert(strstr(out, line), "%s was not validated:\n%s", names[i], out);
        const char *table = strstr(out, "\ntimings");
        snprintf(line, sizeof line, "\n%s ", names[i]);
        cr_assert(cuda || (table && strstr(table, line)), "%s has no timing row:\n%s", names[i], out);
    }
    cr_assert(total >= min_checks, "only %d checks ran:\n%s", total, out);
    cr_assert_null(strstr(out, "FAIL"), "%s", out);
    free(out);
}

Test(kernel_bench, matmul_attention_validation_passes, .timeout = 300)
{
    /* every version of ours ran (the emulator is sm_89: fp8 included); cuBLASLt only on a device */
    const char *names[] = {"matmul_fp32_w_f32", "matmul_fp32_w_bf16", "matmul_fp32_w_f8", "matmul_fp32_w_q8_0",
                           "matmul_bf16_w_f32", "matmul_bf16_w_bf16", "matmul_bf16_w_f8", "matmul_bf16_w_q8_0",
                           "mmq_int8_w_q8_0",   "mmq_fp8_w_e4m3",     "attn_f32",         "attn_bf16",
                           "sage_pv_f16",       "sage_pv_f8"};
    validation_passes("bench_gpu_kernels", names, sizeof names / sizeof names[0], 77);
}

Test(kernel_bench, memory_ops_validation_passes, .timeout = 120)
{
    const char *names[] = {"norm_layer_mod", "norm_rms_affine", "modulate", "rope", "gated_add"};
    validation_passes("bench_gpu_memory", names, sizeof names / sizeof names[0], 15);
}

Test(kernel_bench, skips_without_cuda)
{
    wr_gpu *g = NULL;
    if (wr_gpu_open(&g, WR_GPU_CUDA, NULL) == WR_OK) {
        wr_gpu_close(g);
        cr_skip_test("a CUDA device is present: the bench runs instead of skipping");
    }
    const char *benches[] = {"bench_gpu_kernels", "bench_gpu_memory"};
    for (int i = 0; i < 2; i++) {
        int status;
        char *out = run_bench(benches[i], "", &status);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", out);
        cr_assert(strstr(out, "no CUDA device: GPU kernel benchmarks skipped"), "%s", out);
        free(out);
    }
}

Test(kernel_bench, cublaslt_refuses_the_emulator)
{
    wr_gpu *g = NULL;
    gt_check(wr_gpu_open(&g, WR_GPU_EMU, NULL), "emu");
    wr_cublaslt *lt = (wr_cublaslt *)1;
    cr_assert_eq(wr_cublaslt_open(g, 0, &lt), WR_E_UNSUPPORTED);
    cr_assert_null(lt);
    cr_assert(strstr(wr_last_error(), "CUDA device only"), "%s", wr_last_error());
    wr_cublaslt_close(NULL);
    wr_gpu_close(g);
}

Test(kernel_bench, peak_table_matches_device_names)
{
    static const struct {
        const char *name, *label;
    } cases[] = {{"NVIDIA H100 80GB HBM3 (sm_90, cuBLASLt)", "H100 SXM"},
                 {"NVIDIA H100 PCIe (sm_90)", "H100 PCIe"},
                 {"NVIDIA H100 NVL (sm_90)", "H100 NVL"},
                 {"NVIDIA H200 (sm_90)", "H200 SXM"},
                 {"NVIDIA H200 NVL (sm_90)", "H200 NVL"},
                 {"NVIDIA GH200 480GB (sm_90)", "GH200"},
                 {"NVIDIA A100-SXM4-80GB (sm_80)", "A100 80GB"},
                 {"NVIDIA A100-PCIE-40GB (sm_80)", "A100 40GB"},
                 {"NVIDIA GeForce RTX 4090 (sm_89)", "RTX 4090"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const gb_peak *p = gb_peak_for_name(cases[i].name);
        cr_assert(p && strcmp(p->label, cases[i].label) == 0, "%s -> %s", cases[i].name, p ? p->label : "none");
    }
    cr_assert_null(gb_peak_for_name("NVIDIA L4 (sm_89)"));
    const gb_peak *h100 = gb_peak_for_name("NVIDIA H100 80GB HBM3");
    cr_assert_float_eq(gb_peak_of(h100, GB_BF16), 989.4, 1e-9);
    /* Sage: half the flops at the int8 rate, half at the fp16 one: 1 / (0.5/1978.9 + 0.5/989.4) */
    cr_assert_float_eq(gb_peak_of(h100, GB_SAGE_F16), 1319.2, 0.1);
    cr_assert_float_eq(gb_peak_of(h100, GB_SAGE_F8), 1978.9, 1e-9);
    cr_assert_float_eq(gb_peak_of(gb_peak_for_name("NVIDIA A100-SXM4-80GB"), GB_FP8), 0.0, 0.0); /* no fp8: n/a */
    cr_assert_float_eq(gb_peak_of(NULL, GB_FP32), 0.0, 0.0);
}
