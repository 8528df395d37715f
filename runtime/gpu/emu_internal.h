/* Emulator internals shared by runtime/gpu/gpu_emu.c (memory, streams, events, graphs, modules)
 * and runtime/gpu/emu_sched.c (the fiber scheduler that runs a launch). */
#ifndef WR_EMU_INTERNAL_H
#define WR_EMU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/emu/emu_abi.h"
#include "runtime/gpu/gpu_impl.h"

#define WR_EMU_MAX_ARGS 32

typedef struct emu_func {
    char entry[WR_KSPEC_NAME];
    wr_emu_entry_fn run;  /* runs one thread */
    int n_args;
    unsigned long arg_size[WR_EMU_MAX_ARGS];
} emu_func;

typedef struct emu_module {
    void *dl;
    wr_emu_fill_fn fill_dyn_smem;
    int n_funcs;
    emu_func funcs[64];
} emu_module;

/* Everything one launch needs; filled by gpu_emu.c, run by emu_run. */
typedef struct emu_launch {
    const char *what;        /* kernel name for messages */
    const emu_func *fn;
    const emu_module *mod;
    wr_dim3 grid, block;
    size_t smem;
    void **args;
    bool debug;              /* permute fiber order, poison dynamic shared memory, catch SIGSEGV */
    uint64_t seed;
} emu_launch;

/* Runs every block of the launch, one after another. Fails (WR_E_DEVICE) on a kernel trap or a
 * barrier deadlock, naming the kernel and the block. rt is the runtime the module was bound to. */
wr_status emu_run(wr_emu_rt *rt, const emu_launch *l);

/* Device memory with guard zones (emu_mem.c). */
typedef struct emu_mem {
    struct emu_alloc *allocs;
    bool debug; /* guard pages and 0xff-filled new memory */
} emu_mem;
wr_status emu_mem_alloc(emu_mem *m, size_t bytes, void **dptr);
wr_status emu_mem_free(emu_mem *m, void *dptr); /* checks the guards first */
/* Checks every allocation's guards; `who` names what ran last (a kernel) for the message. */
wr_status emu_mem_check(const emu_mem *m, const char *who);
void emu_mem_release_all(emu_mem *m);

/* Releases the fiber stacks kept between launches. */
void emu_sched_release(void);

#endif
