/* Shared parts of the GPU kernel benchmarks (bench_gpu_kernels.c, bench_gpu_memory.c), llm.c
 * dev/cuda style: open the device (or say why not), validate against the CPU twin, time with
 * events, compare with the device's datasheet peak. Header-only (static functions): each bench
 * is one .c file linked against libwanrt.a (Makefile BENCH rules).
 *
 * Peaks (dense, no sparsity; TFLOP/s or TOPS, TB/s) from NVIDIA's datasheets: H100 SXM5 / PCIe /
 * NVL (H100 datasheet, the sparsity figures halved), H200 SXM / NVL (H200 datasheet: H100 SXM /
 * NVL compute, 4.8 TB/s HBM3e), GH200 (H100 SXM compute; bandwidth depends on the memory: n/a),
 * A100 (A100 datasheet: no fp8; 40 GB 1.555 TB/s, 80 GB SXM 2.04 / PCIe 1.94, taken as 2.0),
 * RTX 4090 (Ada Lovelace whitepaper appendix: fp16/bf16 *with fp32 accumulation* 165.2, fp8 with
 * fp32 accumulation 330.3, int8 660.6, fp32 82.6, 1.008 TB/s). The fp32 figure is the
 * CUDA-core (non-tensor) rate, the one our fp32 kernels can reach. Clocks are the boost clocks
 * the datasheets assume; a power- or clock-limited part lands below them. A device not in the
 * table prints n/a. */
#ifndef WR_BENCH_GPU_BENCH_H
#define WR_BENCH_GPU_BENCH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/err.h"
#include "runtime/gpu/gpu.h"

/* ---- peaks ------------------------------------------------------------------------------------ */

typedef enum gb_arith {
    GB_FP32,     /* CUDA-core fp32 FMA */
    GB_BF16,     /* bf16/fp16 tensor cores, fp32 accumulation */
    GB_INT8,     /* int8 tensor cores */
    GB_FP8,      /* e4m3 tensor cores, fp32 accumulation */
    GB_SAGE_F16, /* Sage attention: half the flops int8 (Q·Kᵀ), half fp16 (P·V) */
    GB_SAGE_F8,  /* Sage attention: half int8, half e4m3 */
    GB_ARITH_COUNT
} gb_arith;

typedef struct gb_peak {
    const char *match[2]; /* substrings of the device name, all must occur (NULL: none) */
    const char *label;
    double fp32, bf16, int8, fp8; /* TFLOP/s (TOPS for int8); 0 = the device has no such unit */
    double tbps;                  /* DRAM bandwidth, TB/s */
} gb_peak;

/* First match wins, so the specific names come before the general ones. */
static const gb_peak gb_peaks[] = {
    {{"GH200", NULL}, "GH200", 66.9, 989.4, 1978.9, 1978.9, 0.0}, /* HBM3 4.0 or HBM3e 4.9 TB/s: n/a */
    {{"H100", "PCIe"}, "H100 PCIe", 51.2, 756.0, 1513.0, 1513.0, 2.0},
    {{"H100", "NVL"}, "H100 NVL", 60.0, 835.0, 1671.0, 1671.0, 3.9},
    {{"H100", NULL}, "H100 SXM", 66.9, 989.4, 1978.9, 1978.9, 3.35}, /* "NVIDIA H100 80GB HBM3" */
    {{"H200", "NVL"}, "H200 NVL", 60.0, 835.0, 1671.0, 1671.0, 4.8},
    {{"H200", NULL}, "H200 SXM", 66.9, 989.4, 1978.9, 1978.9, 4.8},
    {{"A100", "40GB"}, "A100 40GB", 19.5, 312.0, 624.0, 0.0, 1.555},
    {{"A100", NULL}, "A100 80GB", 19.5, 312.0, 624.0, 0.0, 2.0},
    {{"4090", NULL}, "RTX 4090", 82.6, 165.2, 660.6, 330.3, 1.008},
};

/* The peak row for a CUDA device name ("NVIDIA H100 80GB HBM3 (sm_90)"), or NULL. */
static inline const gb_peak *gb_peak_for_name(const char *name)
{
    for (size_t i = 0; i < sizeof gb_peaks / sizeof gb_peaks[0]; i++) {
        bool all = true;
        for (int j = 0; j < 2; j++)
            if (gb_peaks[i].match[j] && !strstr(name, gb_peaks[i].match[j]))
                all = false;
        if (all)
            return &gb_peaks[i];
    }
    return NULL;
}

/* The peak row of the device, or NULL (unknown device, or the emulator). */
static inline const gb_peak *gb_peak_find(const wr_gpu *g)
{
    return wr_gpu_get_kind(g) == WR_GPU_CUDA ? gb_peak_for_name(wr_gpu_name(g)) : NULL;
}

/* Peak rate of an arithmetic in TFLOP/s; 0 when unknown. Mixed Sage arithmetic: the time-optimal
 * rate when half the flops run at each unit's peak, 1 / (0.5 / a + 0.5 / b). */
static inline double gb_peak_of(const gb_peak *p, gb_arith a)
{
    if (!p)
        return 0.0;
    switch (a) {
    case GB_FP32:
        return p->fp32;
    case GB_BF16:
        return p->bf16;
    case GB_INT8:
        return p->int8;
    case GB_FP8:
        return p->fp8;
    case GB_SAGE_F16:
        return p->int8 > 0 && p->bf16 > 0 ? 1.0 / (0.5 / p->int8 + 0.5 / p->bf16) : 0.0;
    case GB_SAGE_F8:
        return p->int8 > 0 && p->fp8 > 0 ? 1.0 / (0.5 / p->int8 + 0.5 / p->fp8) : 0.0;
    default:
        return 0.0;
    }
}

/* ---- device ----------------------------------------------------------------------------------- */

/* Opens "cuda" or "emu" (emulating sm_89 so every variant, fp8 included, runs). Returns NULL with
 * *skipped set when CUDA is asked for and absent: the caller prints its skip line and exits 0. */
static inline wr_gpu *gb_open(const char *device, bool *skipped)
{
    *skipped = false;
    wr_gpu *g = NULL;
    if (strcmp(device, "emu") == 0) {
        wr_gpu_options o = {.arch = 89};
        if (wr_gpu_open(&g, WR_GPU_EMU, &o) != WR_OK) {
            fprintf(stderr, "error: cannot open the emulator: %s\n", wr_last_error());
            return NULL;
        }
        return g;
    }
    if (strcmp(device, "cuda") != 0) {
        fprintf(stderr, "error: --device %s: expected cuda or emu\n", device);
        return NULL;
    }
    if (wr_gpu_open(&g, WR_GPU_CUDA, NULL) != WR_OK) {
        printf("no CUDA device: GPU kernel benchmarks skipped (%s)\n", wr_last_error());
        printf("(the validation runs on the emulator with --device emu --validate-only)\n");
        *skipped = true;
        return NULL;
    }
    return g;
}

/* Aborts the bench with the library's message: benchmarks have no recovery path. */
static inline void gb_check(wr_status st, const char *what)
{
    if (st != WR_OK) {
        fprintf(stderr, "error: %s: %s (%s)\n", what, wr_last_error(), wr_last_error_site());
        exit(1);
    }
}

static inline void *gb_alloc(wr_gpu *g, size_t bytes)
{
    void *p = NULL;
    gb_check(wr_gpu_alloc(g, bytes ? bytes : 1, &p), "device allocation");
    return p;
}

static inline void *gb_upload(wr_gpu *g, const void *host, size_t bytes)
{
    void *p = gb_alloc(g, bytes);
    gb_check(wr_gpu_copy_h2d(g, p, host, bytes, NULL), "upload");
    return p;
}

/* Fills dst (bytes) by repeating the host pattern (pattern_bytes): big inputs without a host copy
 * of the whole tensor. A row-wise encoded weight stays valid when pattern_bytes is whole rows. */
static inline void gb_fill_tiled(wr_gpu *g, void *dst, size_t bytes, const void *pattern, size_t pattern_bytes)
{
    size_t first = pattern_bytes < bytes ? pattern_bytes : bytes;
    gb_check(wr_gpu_copy_h2d(g, dst, pattern, first, NULL), "upload");
    /* dst[0, done) repeats the pattern and done is a whole number of patterns, so copying a prefix
     * of it to dst + done continues the repetition; sizes double until the last, partial copy */
    for (size_t done = first; done < bytes;) {
        size_t n = bytes - done < done ? bytes - done : done;
        gb_check(wr_gpu_copy_d2d(g, (char *)dst + done, dst, n, NULL), "device copy");
        done += n;
    }
    gb_check(wr_gpu_sync(g), "sync");
}

/* Uniform floats in [lo, hi) from a seeded xorshift (bench inputs, not the model RNG). */
static inline void gb_fill(float *x, int64_t n, float lo, float hi, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = lo + (hi - lo) * (float)((double)(s >> 11) / 9007199254740992.0);
    }
}

/* Normalised squared error sum (got − ref)² / sum ref², and how many positions differ in being
 * finite (NaN/Inf parity). */
static inline double gb_nmse(const float *got, const float *ref, int64_t n, int64_t *nan_mismatch)
{
    double num = 0, den = 0;
    *nan_mismatch = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isfinite(got[i]) != isfinite(ref[i])) {
            ++*nan_mismatch;
            continue;
        }
        if (!isfinite(ref[i]))
            continue;
        double d = (double)got[i] - (double)ref[i];
        num += d * d, den += (double)ref[i] * (double)ref[i];
    }
    return den > 0 ? num / den : num;
}

/* ---- timing ----------------------------------------------------------------------------------- */

typedef wr_status (*gb_op)(void *ctx);

typedef struct gb_time {
    double median_ms, best_ms;
    int reps;
} gb_time;

static inline int gb_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times op with device events (llm.c dev/cuda benchmark_kernel pattern). The caller has run op
 * once at a small shape, so kernels are compiled and plans made. One timed probe call: at or above
 * target_ms it is the measurement (the slow fp32 versions at 75,600 tokens run once); below, it
 * was the warm-up (caches, clocks) and as many further calls as fit in ~target_ms (at least 3,
 * at most max_reps) are timed: median and best. Launchers that allocate temporaries and
 * synchronise (matmul_q, sage attention) are timed as they run in the model, allocation included.
 * No L2 flush between calls (llm.c flushes): at the Wan shapes every activation is >= 80 MB, beyond
 * the 50 MB L2 of an H100, and the matmul weights are read once per row tile anyway. */
static inline gb_time gb_time_op(wr_gpu *g, gb_op op, void *ctx, double target_ms, int max_reps, const char *what)
{
    wr_gpu_event *e0, *e1;
    gb_check(wr_gpu_event_create(g, &e0), "event");
    gb_check(wr_gpu_event_create(g, &e1), "event");
    double t[64];
    int n = 0, want = 1;
    bool probe = true;
    while (n < want) {
        gb_check(wr_gpu_event_record(g, e0, NULL), "event record");
        gb_check(op(ctx), what);
        gb_check(wr_gpu_event_record(g, e1, NULL), "event record");
        gb_check(wr_gpu_event_sync(g, e1), what);
        float ms = 0;
        gb_check(wr_gpu_event_elapsed_ms(g, e0, e1, &ms), "event time");
        if (probe) {
            probe = false;
            if ((double)ms >= target_ms) {
                t[n++] = (double)ms;
                break;
            }
            double more = ms > 0 ? target_ms / (double)ms : 64.0;
            want = more < 3.0 ? 3 : more > 64.0 ? 64 : (int)more;
            want = want > max_reps ? max_reps : want;
            continue;
        }
        t[n++] = (double)ms;
    }
    wr_gpu_event_destroy(g, e0), wr_gpu_event_destroy(g, e1);
    qsort(t, (size_t)n, sizeof t[0], gb_cmp_double);
    gb_time r = {n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]), t[0], n};
    return r;
}

/* "12.3%" of the peak, or "n/a". */
static inline const char *gb_pct(char *buf, size_t len, double rate, double peak)
{
    if (peak > 0)
        snprintf(buf, len, "%.1f%%", 100.0 * rate / peak);
    else
        snprintf(buf, len, "n/a");
    return buf;
}

#endif
