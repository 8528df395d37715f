/* The JIT: kernel specs, the entry scanner, NVRTC and emulator compile errors (log + defines),
 * the disk cache (compiled vs cached counters, no temporary files left), WANRT_KERNEL_DIR, the
 * ptxas report parser, and the clear error of `--device cuda` without a driver. NVRTC tests skip
 * when NVRTC is absent. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/gpu/embedded.h"
#include "runtime/gpu/gpu.h"
#include "runtime/gpu/jit.h"
#include "runtime/gpu/nvrtc.h"

static void need_nvrtc(void)
{
    const wr_nvrtc *nv;
    if (wr_nvrtc_get(&nv) != WR_OK)
        cr_skip_test("NVRTC not available: %s", wr_last_error());
}

/* A fresh cache folder for this test process, removed by the test's .fini. */
static char g_private[64];

static void drop_private(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_private);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_private);
}

static void private_cache(void)
{
    snprintf(g_private, sizeof g_private, "/tmp/wanrt-jit-test-XXXXXX");
    cr_assert_not_null(mkdtemp(g_private));
    setenv("WANRT_CACHE_DIR", g_private, 1);
}

static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        n += l >= s && strcmp(e->d_name + l - s, suffix) == 0;
    }
    closedir(d);
    return n;
}

Test(jit, kspec_defines_sorted_and_printed)
{
    wr_kspec s;
    wr_kspec_init(&s, "kernels/selftest.cu", "selftest_matmul_tiled");
    wr_kspec_define_int(&s, "TILE", 8);
    wr_kspec_define(&s, "ALPHA", "x");
    wr_kspec_define_int(&s, "TILE", 16); /* replaces */
    s.arch = 86;
    char buf[256];
    wr_kspec_str(&s, buf, sizeof buf);
    cr_assert_str_eq(buf, "kernels/selftest.cu:selftest_matmul_tiled[ALPHA=x,TILE=16]@sm_86");
}

Test(jit, scans_entry_points)
{
    char names[32][WR_KSPEC_NAME];
    int n = 0;
    cr_assert_eq(wr_jit_entries("kernels/selftest.cu", names, 32, &n), WR_OK);
    cr_assert_eq(n, 13);
    cr_assert_str_eq(names[0], "selftest_axpy");
    cr_assert_str_eq(names[12], "selftest_mma_pipeline");
    cr_assert_eq(wr_jit_entries("kernels/nope.cu", names, 32, &n), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "kernels/nope.cu"));
}

Test(jit, nvrtc_error_shows_log_and_defines, .fini = drop_private)
{
    need_nvrtc();
    private_cache();
    wr_kspec s;
    wr_kspec_init(&s, "kernels/selftest.cu", "selftest_matmul_tiled");
    wr_kspec_define_int(&s, "TILE", 4);
    void *cubin = NULL;
    size_t size;
    char *info = NULL;
    cr_assert_eq(wr_jit_cubin(&s, 80, &cubin, &size, &info), WR_E_JIT);
    const char *m = wr_last_error();
    cr_assert(strstr(m, "TILE=4") && strstr(m, "TILE must be 8..32") && strstr(m, "sm_80"), "%s", m);
}

Test(jit, emulator_error_shows_log_and_defines, .fini = drop_private)
{
    private_cache();
    wr_kspec s;
    wr_kspec_init(&s, "kernels/selftest.cu", "selftest_matmul_tiled");
    wr_kspec_define_int(&s, "TILE", 4);
    char path[1200];
    cr_assert_eq(wr_jit_emu(&s, 80, path, sizeof path), WR_E_JIT);
    const char *m = wr_last_error();
    cr_assert(strstr(m, "TILE=4") && strstr(m, "TILE must be 8..32"), "%s", m);
}

Test(jit, cubin_cache_compiled_then_cached, .fini = drop_private)
{
    need_nvrtc();
    private_cache();
    wr_kspec s;
    wr_kspec_init(&s, "kernels/selftest.cu", "selftest_axpy");
    for (int round = 0; round < 2; round++) {
        void *cubin = NULL;
        size_t size = 0;
        char *info = NULL;
        cr_assert_eq(wr_jit_cubin(&s, 86, &cubin, &size, &info), WR_OK, "%s", wr_last_error());
        cr_assert_gt(size, 1000);
        cr_assert(memcmp(cubin, "\177ELF", 4) == 0, "a cubin is an ELF file");
        wr_kresources r;
        cr_assert(wr_jit_parse_resources(info, "selftest_axpy", &r), "%s", info);
        cr_assert_gt(r.registers, 0);
        free(cubin);
        free(info);
        wr_jit_stats st = wr_jit_get_stats();
        cr_assert_eq(st.compiled, 1);
        cr_assert_eq(st.cached, (unsigned)round);
    }
    char dir[1024];
    cr_assert_eq(wr_jit_cache_dir(dir, sizeof dir), WR_OK);
    cr_assert_eq(count_files(dir, ".cubin"), 1);
    cr_assert_eq(count_files(dir, ".tmp"), 0);
}

Test(jit, emulator_cache_compiled_then_cached, .fini = drop_private)
{
    private_cache();
    wr_kspec s;
    wr_kspec_init(&s, "kernels/selftest.cu", "selftest_axpy");
    char p1[1200], p2[1200];
    cr_assert_eq(wr_jit_emu(&s, 80, p1, sizeof p1), WR_OK, "%s", wr_last_error());
    wr_kspec_init(&s, "kernels/selftest.cu", "selftest_row_sum"); /* same module */
    cr_assert_eq(wr_jit_emu(&s, 80, p2, sizeof p2), WR_OK);
    cr_assert_str_eq(p1, p2);
    wr_jit_stats st = wr_jit_get_stats();
    cr_assert_eq(st.compiled, 1);
    cr_assert_eq(st.cached, 1);
    wr_kspec_define_int(&s, "TILE", 8); /* a define changes the key */
    cr_assert_eq(wr_jit_emu(&s, 80, p2, sizeof p2), WR_OK);
    cr_assert_str_neq(p1, p2);
    char dir[1024];
    cr_assert_eq(wr_jit_cache_dir(dir, sizeof dir), WR_OK);
    cr_assert_eq(count_files(dir, ".tmp"), 0);
    cr_assert_eq(count_files(dir, ".cpp"), 0);
}

/* WANRT_KERNEL_DIR: sources are read from disk, so an edited kernel is used without a rebuild. */
Test(jit, kernel_dir_overrides_embedded_sources, .fini = drop_private)
{
    char tmpl[] = "/tmp/wanrt-kdir-XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    snprintf(g_private, sizeof g_private, "%s", tmpl);
    char root[600];
    snprintf(root, sizeof root, "%s/src", tmpl);
    /* copy the embedded tree, appending one kernel to selftest.cu */
    for (int i = 0; wr_embedded_kernels[i].path; i++) { /* not wr_jit_source: that would load them */
        const char *p = wr_embedded_kernels[i].path, *b = wr_embedded_kernels[i].bytes;
        size_t n = wr_embedded_kernels[i].size;
        char path[1200], cmd[1400];
        snprintf(path, sizeof path, "%s/%s", root, p);
        snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
        cr_assert_eq(system(cmd), 0);
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        fwrite(b, 1, n, f);
        if (strcmp(p, "kernels/selftest.cu") == 0)
            fputs("\nextern \"C\" __global__ void selftest_extra(int *x) { x[0] = 1; }\n", f);
        fclose(f);
    }
    /* this process has not read any source yet: the variable takes effect now */
    char kdir[700];
    snprintf(kdir, sizeof kdir, "%s/kernels", root);
    setenv("WANRT_KERNEL_DIR", kdir, 1);
    char names[32][WR_KSPEC_NAME];
    int n = 0;
    cr_assert_eq(wr_jit_entries("kernels/selftest.cu", names, 32, &n), WR_OK, "%s", wr_last_error());
    cr_assert_eq(n, 14);
    cr_assert_str_eq(names[13], "selftest_extra");
}

Test(jit, parses_ptxas_report)
{
    const char *log = "ptxas info    : 0 bytes gmem\n"
                      "ptxas info    : Compiling entry function 'a' for 'sm_89'\n"
                      "ptxas info    : Function properties for a\n"
                      "ptxas         .     8 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
                      "ptxas info    : Used 12 registers, used 0 barriers, 368 bytes cmem[0]\n"
                      "ptxas info    : Compiling entry function 'k' for 'sm_89'\n"
                      "ptxas info    : Function properties for k\n"
                      "ptxas         .     256 bytes stack frame, 24 bytes spill stores, 16 bytes spill loads\n"
                      "ptxas info    : Used 255 registers, used 1 barriers, 256 bytes cumulative stack size, "
                      "4096 bytes smem, 368 bytes cmem[0]\n";
    wr_kresources r;
    cr_assert(wr_jit_parse_resources(log, "k", &r));
    cr_assert_eq(r.registers, 255);
    cr_assert_eq(r.spill_stores, 24);
    cr_assert_eq(r.spill_loads, 16);
    cr_assert_eq(r.stack, 256);
    cr_assert_eq(r.smem, 4096);
    cr_assert(wr_jit_parse_resources(log, "a", &r));
    cr_assert_eq(r.registers, 12);
    cr_assert_eq(r.smem, 0);
    cr_assert_not(wr_jit_parse_resources(log, "b", &r));
}

Test(jit, cuda_without_driver_is_a_clear_error)
{
    wr_gpu *g = NULL;
    wr_status st = wr_gpu_open(&g, WR_GPU_CUDA, NULL);
    if (st == WR_OK) {
        wr_gpu_close(g);
        cr_skip_test("a CUDA driver and device are present");
    }
    cr_assert_eq(st, WR_E_DEVICE);
    cr_assert(strstr(wr_last_error(), "--device cuda"), "%s", wr_last_error());
}

Test(jit, device_selection)
{
    bool cpu = false;
    wr_gpu *g = NULL;
    unsetenv("WANRT_DEVICE");
    cr_assert_eq(wr_gpu_select(NULL, NULL, &cpu, &g), WR_OK);
    cr_assert(cpu && !g, "the default is the CPU backend");
    setenv("WANRT_DEVICE", "emu", 1);
    cr_assert_eq(wr_gpu_select(NULL, NULL, &cpu, &g), WR_OK);
    cr_assert(!cpu && g && wr_gpu_get_kind(g) == WR_GPU_EMU);
    wr_gpu_close(g);
    cr_assert_eq(wr_gpu_select("cpu", NULL, &cpu, &g), WR_OK, "--device wins over WANRT_DEVICE");
    cr_assert(cpu && !g);
    cr_assert_eq(wr_gpu_select("tpu", NULL, &cpu, &g), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "--device") && strstr(wr_last_error(), "tpu"), "%s", wr_last_error());
    setenv("WANRT_DEVICE", "gpu0", 1);
    cr_assert_eq(wr_gpu_select(NULL, NULL, &cpu, &g), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "WANRT_DEVICE"), "%s", wr_last_error());
}

/* Without NVRTC the JIT says what it tried (kernels-check turns this into its SKIPPED line). */
Test(jit, missing_nvrtc_is_a_clear_error)
{
    setenv("WANRT_NVRTC", "/nonexistent/libnvrtc.so", 1);
    const wr_nvrtc *nv;
    cr_assert_eq(wr_nvrtc_get(&nv), WR_E_JIT);
    cr_assert(strstr(wr_last_error(), "NVRTC not found") && strstr(wr_last_error(), "/nonexistent/libnvrtc.so"), "%s",
              wr_last_error());
    wr_kspec s;
    wr_kspec_init(&s, "kernels/selftest.cu", "selftest_axpy");
    void *cubin;
    size_t size;
    char *info;
    cr_assert_eq(wr_jit_cubin(&s, 80, &cubin, &size, &info), WR_E_JIT);
}
