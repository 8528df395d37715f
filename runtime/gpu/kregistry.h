/* The kernel registry: every kernel specialisation wanrt requests for the real model configs
 * (Wan2.2 A14B and TI2V-5B at 480p/720p, 81 frames; the VAE; RIFE; the upscaler) plus the self-test
 * kernels. `make kernels-check` compiles each through NVRTC for sm_80/86/89/90 and checks its
 * resources; the meta-test in tests/kernels fails when a kernel entry point has no spec here.
 * Each op launcher (runtime/gpu/<op>.c) contributes its specs through one function listed in
 * kregistry.c, built by the same code that picks specs at run time. */
#ifndef WR_KREGISTRY_H
#define WR_KREGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/gpu/jit.h"

typedef struct wr_kcheck_spec {
    wr_kspec spec;   /* arch 0: checked for every arch in wr_kcheck_archs */
    size_t dyn_smem; /* dynamic shared memory the launcher asks for, bytes */
    bool hot;        /* matmul/attention inner loops: a local-memory spill fails the check */
    int min_arch;    /* lowest arch the launcher uses it on (e.g. 89 for e4m3 mma), 0 = all */
} wr_kcheck_spec;

typedef struct wr_kcheck_list {
    wr_kcheck_spec *items;
    int n, cap;
} wr_kcheck_list;

/* Appends a spec (grows the list; aborts on out-of-memory: this is build tooling). */
void wr_kcheck_add(wr_kcheck_list *l, const wr_kspec *spec, size_t dyn_smem, bool hot, int min_arch);
/* Every registered spec, duplicates removed. */
void wr_kregistry_all(wr_kcheck_list *out);
void wr_kcheck_list_free(wr_kcheck_list *l);

/* The archs kernels-check compiles for, and the largest shared memory per block on each. */
extern const int wr_kcheck_archs[4];
size_t wr_kcheck_smem_limit(int arch);

/* Spec contributions, one per kernel file (defined next to their launchers). */
void wr_selftest_kspecs(wr_kcheck_list *l);

#endif
