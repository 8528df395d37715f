/* Kernel requests, kernel sources and the kernel compilers with their disk cache (STYLE.md 9.5).
 *
 * A wr_kspec (file, entry, sorted -D defines, arch) is the only way to ask for a kernel. A module
 * is one kernel file compiled with one define set for one arch; it holds all the file's entry
 * points, so the cache key leaves the entry out. Two compilers share the cache:
 *   - NVRTC -> cubin (wr_jit_cubin), for CUDA devices and `make kernels-check`;
 *   - the host C++ compiler with kernels/emu/emu.h -> a shared object (wr_jit_emu), for the emulator.
 * Cache: $WANRT_CACHE_DIR, else $XDG_CACHE_HOME/wanrt/kernels, else ~/.cache/wanrt/kernels; the key
 * hashes the bytes of the kernel file and of every header (.cuh/.h), the defines, the arch and the
 * compiler version; files are written under a temporary name and renamed.
 * Sources are the copies embedded at build time (build/gen/kernels_embed.c) unless
 * WANRT_KERNEL_DIR names the kernels/ folder to read instead (edit a kernel without rebuilding). */
#ifndef WR_JIT_H
#define WR_JIT_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/err.h"

#define WR_KSPEC_MAX_DEFINES 24
#define WR_KSPEC_NAME 64

typedef struct wr_kdefine {
    char name[32];
    char value[48];
} wr_kdefine;

typedef struct wr_kspec {
    char file[WR_KSPEC_NAME];  /* repository-relative, "kernels/norm.cu" */
    char entry[WR_KSPEC_NAME]; /* extern "C" __global__ function name */
    int arch;                  /* compute capability x10 (80, 86, 89, 90); 0 = the device's */
    int n_defines;
    wr_kdefine defines[WR_KSPEC_MAX_DEFINES]; /* sorted by name, names unique */
} wr_kspec;

void wr_kspec_init(wr_kspec *s, const char *file, const char *entry);
/* Adds or replaces a define, keeping them sorted. Over-long names/values or too many defines
 * are our bug (WR_ASSERT). */
void wr_kspec_define(wr_kspec *s, const char *name, const char *value);
void wr_kspec_define_int(wr_kspec *s, const char *name, long long value);
/* "kernels/x.cu:entry[A=1,B=2]@sm_80" */
void wr_kspec_str(const wr_kspec *s, char *buf, size_t len);

/* ---- sources ------------------------------------------------------------------------------- */
int wr_jit_source_count(void);
const char *wr_jit_source_path(int i); /* i < wr_jit_source_count() */
/* The bytes of a kernel source (NUL-terminated; valid for the life of the process). */
wr_status wr_jit_source(const char *path, const char **bytes, size_t *size);
/* Names of the extern "C" __global__ functions of a .cu file, in source order. */
wr_status wr_jit_entries(const char *file, char (*names)[WR_KSPEC_NAME], int max, int *n);

/* ---- cache --------------------------------------------------------------------------------- */
typedef struct wr_jit_stats {
    unsigned compiled; /* modules built by a compiler in this process */
    unsigned cached;   /* modules loaded from the disk cache */
} wr_jit_stats;

wr_jit_stats wr_jit_get_stats(void);
wr_status wr_jit_cache_dir(char *buf, size_t len); /* creates the folder */

/* ---- compilers ----------------------------------------------------------------------------- */
/* The cubin of spec's module for arch (spec->arch when arch == 0). *cubin and *info are malloc'd;
 * *info is the ptxas resource report (-Xptxas -v) of the compilation that produced the cubin. */
wr_status wr_jit_cubin(const wr_kspec *spec, int arch, void **cubin, size_t *size, char **info);
/* Path of the emulator module (a shared object) of spec for arch; builds it when not cached. */
wr_status wr_jit_emu(const wr_kspec *spec, int arch, char *so_path, size_t len);

/* Resources of one entry point from a ptxas -v report. Returns false when the entry is absent. */
typedef struct wr_kresources {
    int registers;
    int spill_stores, spill_loads; /* bytes */
    int stack;                     /* bytes of stack frame */
    int smem;                      /* bytes of static shared memory */
} wr_kresources;
bool wr_jit_parse_resources(const char *info, const char *entry, wr_kresources *out);

#endif
