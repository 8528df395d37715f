/* The device layer and the emulator against plain C references, through the self-test kernels
 * of kernels/selftest.cu: elementwise, shuffle reductions, shared-memory tiles, dynamic shared
 * memory, atomics, scans/ballots, the tensor-core wrappers and their fragment layouts, streams,
 * events, graphs, guard zones and the debug mode's barrier check. Small integer-valued inputs
 * make float sums exact, so most comparisons are exact. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/numeric.h"
#include "tests/gpu/gpu_test.h"

#define SELF "kernels/selftest.cu"

static uint64_t g_rng = 0x1234567;
static int rnd_int(int lo, int hi)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return lo + (int)(g_rng % (uint64_t)(hi - lo + 1));
}

Test(selftest, axpy_elementwise)
{
    wr_gpu *g = gt_open(NULL);
    wr_gpu_func *fn = gt_jit(g, SELF, "selftest_axpy", NULL);
    int sizes[] = {1, 7, 257, 1000};
    for (size_t s = 0; s < 4; s++) {
        int n = sizes[s];
        float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n), *r = malloc(sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++) {
            x[i] = (float)rnd_int(-50, 50);
            y[i] = (float)rnd_int(-50, 50);
        }
        void *dx = gt_upload(g, x, sizeof(float) * (size_t)n), *dy = gt_upload(g, y, sizeof(float) * (size_t)n);
        float a = 3.0f;
        void *args[] = {&dx, &dy, &a, &n};
        gt_launch(g, fn, 3, 1, 128, 1, 0, args);
        gt_download(g, r, dy, sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++)
            cr_assert_eq(r[i], a * x[i] + y[i], "n=%d i=%d", n, i);
        gt_check(wr_gpu_free(g, dx), "free");
        gt_check(wr_gpu_free(g, dy), "free");
        free(x), free(y), free(r);
    }
    cr_assert_eq(wr_gpu_launch_count(g, "selftest_axpy"), 4);
    wr_gpu_close(g);
}

Test(selftest, row_sum_shuffles)
{
    wr_gpu *g = gt_open(NULL);
    wr_gpu_func *fn = gt_jit(g, SELF, "selftest_row_sum", NULL);
    int shapes[][3] = {{1, 1, 32}, {3, 37, 64}, {2, 1000, 256}, {5, 31, 96}}; /* rows, cols, threads */
    for (size_t s = 0; s < 4; s++) {
        int rows = shapes[s][0], cols = shapes[s][1];
        size_t n = (size_t)rows * (size_t)cols;
        float *x = malloc(n * sizeof(float)), out[8], ref[8];
        for (size_t i = 0; i < n; i++)
            x[i] = (float)rnd_int(-9, 9);
        for (int r = 0; r < rows; r++) {
            ref[r] = 0;
            for (int c = 0; c < cols; c++)
                ref[r] += x[(size_t)r * (size_t)cols + (size_t)c];
        }
        void *dx = gt_upload(g, x, n * sizeof(float)), *dout = gt_upload(g, NULL, (size_t)rows * sizeof(float));
        void *args[] = {&dx, &dout, &cols};
        gt_launch(g, fn, (unsigned)rows, 1, (unsigned)shapes[s][2], 1, 0, args);
        gt_download(g, out, dout, (size_t)rows * sizeof(float));
        for (int r = 0; r < rows; r++)
            cr_assert_eq(out[r], ref[r], "shape %zu row %d: %g vs %g", s, r, (double)out[r], (double)ref[r]);
        wr_gpu_free(g, dx);
        wr_gpu_free(g, dout);
        free(x);
    }
    wr_gpu_close(g);
}

static void matmul_case(wr_gpu *g, wr_gpu_func *fn, int tile, int M, int N, int K)
{
    float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(K * N));
    float *C = malloc(sizeof(float) * (size_t)(M * N));
    for (int i = 0; i < M * K; i++)
        A[i] = (float)rnd_int(-4, 4);
    for (int i = 0; i < K * N; i++)
        B[i] = (float)rnd_int(-4, 4);
    void *dA = gt_upload(g, A, sizeof(float) * (size_t)(M * K)), *dB = gt_upload(g, B, sizeof(float) * (size_t)(K * N));
    void *dC = gt_upload(g, NULL, sizeof(float) * (size_t)(M * N));
    void *args[] = {&dA, &dB, &dC, &M, &N, &K};
    gt_launch(g, fn, (unsigned)((N + tile - 1) / tile), (unsigned)((M + tile - 1) / tile), (unsigned)tile,
              (unsigned)tile, 0, args);
    gt_download(g, C, dC, sizeof(float) * (size_t)(M * N));
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float ref = 0;
            for (int k = 0; k < K; k++)
                ref += A[i * K + k] * B[k * N + j];
            cr_assert_eq(C[i * N + j], ref, "M%d N%d K%d tile %d at (%d,%d)", M, N, K, tile, i, j);
        }
    wr_gpu_free(g, dA), wr_gpu_free(g, dB), wr_gpu_free(g, dC);
    free(A), free(B), free(C);
}

Test(selftest, matmul_tiled_shared_memory)
{
    wr_gpu *g = gt_open(NULL);
    wr_gpu_func *f16 = gt_jit(g, SELF, "selftest_matmul_tiled", NULL);
    wr_gpu_func *f8 = gt_jit(g, SELF, "selftest_matmul_tiled", "TILE=8");
    matmul_case(g, f16, 16, 1, 1, 1);
    matmul_case(g, f16, 16, 17, 13, 37);
    matmul_case(g, f8, 8, 19, 24, 29);
    wr_gpu_close(g);
}

Test(selftest, dynamic_shared_memory)
{
    wr_gpu *g = gt_open(NULL);
    wr_gpu_func *fn = gt_jit(g, SELF, "selftest_reverse_dyn", NULL);
    int n = 3 * 64;
    float x[192], y[192];
    for (int i = 0; i < n; i++)
        x[i] = (float)i;
    void *dx = gt_upload(g, x, sizeof x), *dy = gt_upload(g, NULL, sizeof y);
    void *args[] = {&dx, &dy, &n};
    gt_launch(g, fn, 3, 1, 64, 1, 64 * sizeof(float), args);
    gt_download(g, y, dy, sizeof y);
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < 64; i++)
            cr_assert_eq(y[b * 64 + i], x[b * 64 + 63 - i]);
    wr_gpu_close(g);
}

Test(selftest, atomics_histogram)
{
    wr_gpu *g = gt_open(NULL);
    wr_gpu_func *fn = gt_jit(g, SELF, "selftest_histogram", NULL);
    int n = 1000, x[1000], hist[16] = {0}, ref[16] = {0};
    for (int i = 0; i < n; i++) {
        x[i] = rnd_int(0, 15);
        ref[x[i]]++;
    }
    void *dx = gt_upload(g, x, sizeof x), *dh = gt_upload(g, NULL, sizeof hist);
    void *args[] = {&dx, &dh, &n};
    gt_launch(g, fn, 8, 1, 128, 1, 0, args);
    gt_download(g, hist, dh, sizeof hist);
    cr_assert_arr_eq(hist, ref, sizeof ref);
    wr_gpu_close(g);
}

Test(selftest, warp_scan_and_ballot)
{
    wr_gpu *g = gt_open(NULL);
    wr_gpu_func *fn = gt_jit(g, SELF, "selftest_warp_scan", NULL);
    int n = 150, x[150], scan[150];
    unsigned mask[5];
    for (int i = 0; i < n; i++)
        x[i] = rnd_int(-3, 3);
    void *dx = gt_upload(g, x, sizeof x), *ds = gt_upload(g, NULL, sizeof scan), *dm = gt_upload(g, NULL, sizeof mask);
    void *args[] = {&dx, &ds, &dm, &n};
    gt_launch(g, fn, 3, 1, 64, 1, 0, args); /* 192 threads, the last warp partly out of range */
    gt_download(g, scan, ds, sizeof scan);
    gt_download(g, mask, dm, sizeof mask);
    for (int w = 0; w < 5; w++) {
        int acc = 0;
        unsigned m = 0;
        for (int l = 0; l < 32 && w * 32 + l < n; l++) {
            acc += x[w * 32 + l];
            cr_assert_eq(scan[w * 32 + l], acc, "i=%d", w * 32 + l);
            if (x[w * 32 + l] > 0)
                m |= 1u << l;
        }
        cr_assert_eq(mask[w], m, "warp %d ballot %08x vs %08x", w, mask[w], m);
    }
    wr_gpu_close(g);
}

/* A missing barrier that the sequential fiber order hides and the debug order exposes. */
Test(selftest, debug_mode_exposes_missing_barrier)
{
    float x[256], y[256];
    for (int i = 0; i < 256; i++)
        x[i] = (float)(i + 1);
    int wrong[2] = {0, 0};
    unsetenv("WANRT_EMU_DEBUG"); /* the options choose the mode here */
    for (int debug = 0; debug < 2; debug++) {
        wr_gpu_options o = {.emu_debug = debug != 0, .emu_seed = 7};
        wr_gpu *g = gt_open(&o);
        if (wr_gpu_get_kind(g) != WR_GPU_EMU) {
            wr_gpu_close(g);
            cr_skip_test("emulator-only test");
        }
        for (int barrier = 0; barrier < 2; barrier++) {
            wr_gpu_func *fn = gt_jit(g, SELF, "selftest_neighbor", barrier ? "SELFTEST_BARRIER=1" : "SELFTEST_BARRIER=0");
            void *dx = gt_upload(g, x, sizeof x), *dy = gt_upload(g, NULL, sizeof y);
            void *args[] = {&dx, &dy};
            gt_launch(g, fn, 1, 1, 256, 1, 0, args);
            gt_download(g, y, dy, sizeof y);
            int bad = 0;
            for (int i = 0; i < 256; i++)
                bad += y[i] != x[i > 0 ? i - 1 : 0];
            if (barrier)
                cr_assert_eq(bad, 0, "with the barrier every mode is right (debug=%d)", debug);
            else
                wrong[debug] = bad;
            wr_gpu_free(g, dx), wr_gpu_free(g, dy);
        }
        wr_gpu_close(g);
    }
    cr_assert_eq(wrong[0], 0, "the in-order schedule hides the missing barrier");
    cr_assert_gt(wrong[1], 10, "the debug schedule must expose the missing barrier (%d wrong)", wrong[1]);
}

Test(selftest, guard_zone_names_the_kernel)
{
    for (int debug = 0; debug < 2; debug++) {
        wr_gpu_options o = {.emu_debug = debug != 0};
        wr_gpu *g = gt_open(&o);
        if (wr_gpu_get_kind(g) != WR_GPU_EMU) {
            wr_gpu_close(g);
            cr_skip_test("emulator-only test");
        }
        wr_gpu_func *fn = gt_jit(g, SELF, "selftest_oob_write", NULL);
        int n = 100;
        void *dy = gt_upload(g, NULL, (size_t)n * sizeof(float));
        void *args[] = {&dy, &n};
        wr_status st = wr_gpu_launch(g, fn, wr_dim3_make(1, 1, 1), wr_dim3_make(128, 1, 1), 0, NULL, args);
        cr_assert_eq(st, WR_E_DEVICE);
        cr_assert(strstr(wr_last_error(), "selftest_oob_write") && strstr(wr_last_error(), "past the end"), "%s",
                  wr_last_error());
        wr_gpu_close(g);
    }
}

Test(selftest, graph_capture_replays_launches_and_copies)
{
    wr_gpu *g = gt_open(NULL);
    wr_gpu_func *fn = gt_jit(g, SELF, "selftest_axpy", NULL);
    int n = 64;
    float x[64], y[64], out[64];
    for (int i = 0; i < n; i++)
        x[i] = (float)i, y[i] = 1.0f;
    void *dx = gt_upload(g, x, sizeof x), *dy = gt_upload(g, NULL, sizeof y);
    wr_gpu_stream *s;
    wr_gpu_event *e0, *e1;
    gt_check(wr_gpu_stream_create(g, &s), "stream");
    gt_check(wr_gpu_event_create(g, &e0), "event");
    gt_check(wr_gpu_event_create(g, &e1), "event");
    gt_check(wr_gpu_graph_begin(g, s), "graph_begin");
    gt_check(wr_gpu_copy_h2d(g, dy, y, sizeof y, s), "h2d");
    float a = 2.0f;
    void *args[] = {&dx, &dy, &a, &n};
    gt_check(wr_gpu_launch(g, fn, wr_dim3_make(1, 1, 1), wr_dim3_make(64, 1, 1), 0, s, args), "launch");
    a = 100.0f; /* captured by value: must not affect the replay */
    gt_check(wr_gpu_launch(g, fn, wr_dim3_make(1, 1, 1), wr_dim3_make(64, 1, 1), 0, s, args), "launch");
    wr_gpu_graph *graph;
    gt_check(wr_gpu_graph_end(g, s, &graph), "graph_end");
    for (int rep = 0; rep < 2; rep++) {
        gt_check(wr_gpu_event_record(g, e0, s), "record");
        gt_check(wr_gpu_graph_launch(g, graph, s), "graph_launch");
        gt_check(wr_gpu_event_record(g, e1, s), "record");
        gt_check(wr_gpu_stream_sync(g, s), "stream_sync");
        gt_download(g, out, dy, sizeof out);
        for (int i = 0; i < n; i++)
            cr_assert_eq(out[i], 1.0f + 2.0f * x[i] + 100.0f * x[i], "rep %d i %d: %g", rep, i, (double)out[i]);
    }
    float ms = -1;
    gt_check(wr_gpu_event_elapsed_ms(g, e0, e1, &ms), "elapsed");
    cr_assert_geq(ms, 0.0f);
    cr_assert_eq(wr_gpu_launch_count(g, "selftest_axpy"), 2, "captured launches count once, replays not");
    wr_gpu_graph_free(g, graph);
    wr_gpu_event_destroy(g, e0), wr_gpu_event_destroy(g, e1);
    wr_gpu_stream_destroy(g, s);
    wr_gpu_close(g);
}

Test(selftest, copies_and_pinned_memory)
{
    wr_gpu *g = gt_open(NULL);
    size_t n = 1000;
    unsigned char *h;
    gt_check(wr_gpu_host_alloc(g, n, (void **)&h), "host_alloc");
    for (size_t i = 0; i < n; i++)
        h[i] = (unsigned char)(i * 7);
    void *a = gt_upload(g, h, n), *b = gt_upload(g, NULL, n);
    gt_check(wr_gpu_copy_d2d(g, b, a, n, NULL), "d2d");
    gt_check(wr_gpu_memset(g, (char *)b + 10, 0x5a, 5, NULL), "memset");
    unsigned char out[1000];
    gt_download(g, out, b, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(out[i], i >= 10 && i < 15 ? 0x5a : (unsigned char)(i * 7), "byte %zu", i);
    cr_assert_eq(wr_gpu_free(g, a), WR_OK);
    cr_assert_eq(wr_gpu_free(g, b), WR_OK);
    gt_check(wr_gpu_host_free(g, h), "host_free");
    wr_gpu_close(g);
}

/* Debug mode: an allocation ends at an inaccessible page, so a kernel reading past it faults
 * (the emulator's handler names the kernel on stderr, then the default action ends the process).
 * Not built under AddressSanitizer, which takes over SIGSEGV. */
#if !defined(__SANITIZE_ADDRESS__)
Test(selftest, debug_mode_faults_on_read_past_end, .signal = SIGSEGV)
{
    wr_gpu_options o = {.emu_debug = true};
    wr_gpu *g = gt_open(&o);
    if (wr_gpu_get_kind(g) != WR_GPU_EMU) {
        wr_gpu_close(g);
        cr_skip_test("emulator-only test");
    }
    wr_gpu_func *fn = gt_jit(g, SELF, "selftest_axpy", NULL);
    void *dx = gt_upload(g, NULL, 100 * sizeof(float)), *dy = gt_upload(g, NULL, 400 * sizeof(float));
    float a = 1.0f;
    int n = 400; /* x has 100 elements: the kernel reads past its end */
    void *args[] = {&dx, &dy, &a, &n};
    wr_gpu_launch(g, fn, wr_dim3_make(1, 1, 1), wr_dim3_make(128, 1, 1), 0, NULL, args);
    wr_gpu_close(g); /* not reached */
}
#endif
