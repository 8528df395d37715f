/* Helpers shared by runtime/gpu/jit.c, jit_cache.c and jit_emu.c (not the public JIT API). */
#ifndef WR_JIT_INTERNAL_H
#define WR_JIT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/gpu/jit.h"

/* A malloc'd copy of src with // and block comments blanked (string literals kept). */
char *wr_jit_strip_comments(const char *src);

/* Cache keys: two 64-bit FNV-1a streams with different bases, printed as 32 hex digits. */
typedef struct wr_jit_hasher {
    uint64_t a, b;
} wr_jit_hasher;
void wr_jit_hash_init(wr_jit_hasher *h);
void wr_jit_hash_bytes(wr_jit_hasher *h, const void *p, size_t n);
void wr_jit_hash_str(wr_jit_hasher *h, const char *s); /* with its NUL, separating fields */
void wr_jit_hash_hex(const wr_jit_hasher *h, char out[33]);
/* The kernel file `only` and every header (every source when only is NULL); device: only what
 * NVRTC compiles (not kernels/emu/ or runtime/). */
wr_status wr_jit_hash_sources(wr_jit_hasher *h, const char *only, bool device);
void wr_jit_hash_spec(wr_jit_hasher *h, const wr_kspec *s, int arch); /* file, arch, defines */

/* Files in the cache. */
int wr_jit_mkdir_p(const char *path);
char *wr_jit_slurp(const char *path, size_t *size); /* malloc'd, NUL-terminated; NULL if unreadable */
wr_status wr_jit_write_atomic(const char *path, const void *bytes, size_t size);
bool wr_jit_exists(const char *path);

/* The compiled/cached counters (updated atomically). */
extern wr_jit_stats wr_jit_g_stats;

#endif
