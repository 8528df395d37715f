/* The emulator's scheduler: runs a kernel launch on the CPU, one block after another, each CUDA
 * thread a fiber with its own stack. On x86-64 the switch is a few instructions of our own
 * (callee-saved registers + stack pointer); elsewhere, and under AddressSanitizer (which
 * understands ucontext), it is swapcontext, which also saves the signal mask with a system call
 * per switch and is about ten times slower.
 *
 * A fiber runs until it reaches a barrier (__syncthreads, or a warp barrier inside __syncwarp,
 * a shuffle, a ballot or an mma twin), then the next runnable fiber runs. When no fiber can run:
 *   - warp barriers are released first: a waiting lane goes on once every live lane of its mask
 *     waits at a warp barrier too;
 *   - otherwise, when every live thread waits at __syncthreads, the block barrier is released
 *     (exited threads count as arrived, as on the hardware);
 *   - otherwise the block is deadlocked (a barrier in divergent code): the launch fails.
 * Debug mode runs the fibers in a new random order every round, so a missing barrier shows up as
 * a wrong result, poisons dynamic shared memory with 0xff bytes (NaN) before each block, and turns a
 * segmentation fault inside a kernel into a message naming the kernel, block and thread. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "runtime/gpu/emu_internal.h"

#define STACK_BYTES (256 * 1024)

enum { F_RUN, F_WAIT_BLOCK, F_WAIT_WARP, F_DONE, F_DEAD };

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define WR_FAST_SWITCH 1
#else
#define WR_FAST_SWITCH 0
#endif

typedef struct fiber {
#if WR_FAST_SWITCH
    void *sp; /* saved stack pointer while switched out */
#else
    ucontext_t ctx;
#endif
    wr_emu_thread t;
    int state;
    unsigned mask; /* warp barrier: the lanes it waits for */
} fiber;

typedef struct sched {
    wr_emu_rt *rt;
    const emu_launch *l;
    fiber *f;
    int n;
    int cur;
#if WR_FAST_SWITCH
    void *main_sp;
#else
    ucontext_t main;
#endif
    unsigned long long *xchg;
    bool failed;
    char msg[512];
} sched;

static __thread sched *g_s;

/* ---- context switch ---------------------------------------------------------------------------- */

#if WR_FAST_SWITCH
/* void wr_emu_switch(void **save_sp, void *next_sp): push the System V callee-saved registers,
 * save the stack pointer, load the other one, pop its registers, return into it. */
void wr_emu_switch(void **save_sp, void *next_sp);
__asm__(".text\n"
        ".globl wr_emu_switch\n"
        ".type wr_emu_switch, @function\n"
        "wr_emu_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size wr_emu_switch, .-wr_emu_switch\n");
#endif

static void fiber_main(void);

#if WR_FAST_SWITCH
static void __attribute__((noreturn)) fiber_start(void)
{
    fiber_main();
    sched *s = g_s;
    wr_emu_switch(&s->f[s->cur].sp, s->main_sp); /* never resumed */
    __builtin_unreachable();
}
#endif

/* Prepares fiber i to start fiber_main on its stack. */
static void ctx_init(sched *s, fiber *f, unsigned char *stack, size_t size)
{
#if WR_FAST_SWITCH
    (void)s;
    /* top: [0: fake return address of fiber_start][fiber_start][6 saved registers] so that the
     * first switch pops zeros and "returns" into fiber_start with rsp % 16 == 8, as after a call */
    uintptr_t top = ((uintptr_t)(stack + size)) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = NULL;
    *--sp = (void *)(uintptr_t)fiber_start;
    for (int r = 0; r < 6; r++)
        *--sp = NULL;
    f->sp = sp;
#else
    getcontext(&f->ctx);
    f->ctx.uc_stack.ss_sp = stack;
    f->ctx.uc_stack.ss_size = size;
    f->ctx.uc_link = &s->main;
    makecontext(&f->ctx, fiber_main, 0);
#endif
}

static void ctx_enter(sched *s, fiber *f)
{
#if WR_FAST_SWITCH
    wr_emu_switch(&s->main_sp, f->sp);
#else
    swapcontext(&s->main, &f->ctx);
#endif
}

static void ctx_yield(sched *s, fiber *f)
{
#if WR_FAST_SWITCH
    wr_emu_switch(&f->sp, s->main_sp);
#else
    swapcontext(&f->ctx, &s->main);
#endif
}

/* Fiber stacks persist between launches (grown on demand); each has a guard page below it. */
static unsigned char *g_stacks;
static size_t g_stack_count;

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static bool ensure_stacks(size_t n)
{
    if (n <= g_stack_count)
        return true;
    emu_sched_release();
    size_t each = STACK_BYTES + page_size();
    unsigned char *p = mmap(NULL, n * each, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    for (size_t i = 0; i < n; i++)
        mprotect(p + i * each, page_size(), PROT_NONE);
    g_stacks = p;
    g_stack_count = n;
    return true;
}

void emu_sched_release(void)
{
    if (g_stacks)
        munmap(g_stacks, g_stack_count * (STACK_BYTES + page_size()));
    g_stacks = NULL;
    g_stack_count = 0;
}

/* ---- calls from kernel code ------------------------------------------------------------------ */

static void yield_to_main(int state)
{
    sched *s = g_s;
    fiber *f = &s->f[s->cur];
    f->state = state;
    ctx_yield(s, f);
}

static void rt_sync_block(void) { yield_to_main(F_WAIT_BLOCK); }

static void rt_sync_warp(unsigned mask)
{
    g_s->f[g_s->cur].mask = mask;
    yield_to_main(F_WAIT_WARP);
}

static void rt_trap(const char *what)
{
    sched *s = g_s;
    if (!s->failed) {
        s->failed = true;
        const wr_emu_thread *t = &s->f[s->cur].t;
        snprintf(s->msg, sizeof s->msg, "emu: kernel %s: %s (block (%u,%u,%u), thread (%u,%u,%u))", s->l->what, what,
                 s->rt->block_idx.x, s->rt->block_idx.y, s->rt->block_idx.z, t->tid.x, t->tid.y, t->tid.z);
    }
    yield_to_main(F_DEAD); /* never resumed */
}

static void fiber_main(void)
{
    sched *s = g_s;
    s->l->fn->run(s->l->args);
    s->f[s->cur].state = F_DONE; /* then back to the scheduler (fiber_start or uc_link) */
}

/* ---- debug: a segmentation fault inside a kernel names the kernel ----------------------------- */

static struct sigaction g_old_segv, g_old_bus;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    sched *s = g_s;
    if (s) {
        char buf[700];
        const wr_emu_thread *t = &s->f[s->cur].t;
        int n = snprintf(buf, sizeof buf,
                         "emu: kernel %s: invalid memory access at %p (block (%u,%u,%u), thread (%u,%u,%u))\n",
                         s->l->what, si->si_addr, s->rt->block_idx.x, s->rt->block_idx.y, s->rt->block_idx.z,
                         t->tid.x, t->tid.y, t->tid.z);
        if (n > 0 && write(2, buf, (size_t)n) < 0) {
        }
    }
    sigaction(SIGSEGV, &g_old_segv, NULL);
    sigaction(SIGBUS, &g_old_bus, NULL);
    raise(sig);
}

/* ---- the scheduler ---------------------------------------------------------------------------- */

static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Releases warp barriers that are complete; returns how many lanes were released. */
static int release_warps(sched *s)
{
    int released = 0;
    for (int w0 = 0; w0 < s->n; w0 += WR_EMU_WARP) {
        int end = w0 + WR_EMU_WARP < s->n ? w0 + WR_EMU_WARP : s->n;
        unsigned waiting = 0, live = 0;
        for (int i = w0; i < end; i++) {
            unsigned bit = 1u << (i - w0);
            if (s->f[i].state != F_DONE)
                live |= bit;
            if (s->f[i].state == F_WAIT_WARP)
                waiting |= bit;
        }
        unsigned go = 0;
        for (int i = w0; i < end; i++) {
            unsigned bit = 1u << (i - w0);
            if ((waiting & bit) && ((s->f[i].mask & live) & ~waiting) == 0)
                go |= bit;
        }
        for (int i = w0; i < end; i++)
            if (go & (1u << (i - w0))) {
                s->f[i].state = F_RUN;
                released++;
            }
    }
    return released;
}

/* Separate from the loop that calls it: getcontext returns twice, which would make the loop's
 * variables "clobbered" by the rules of setjmp. */
static __attribute__((noinline)) void init_fiber(sched *s, int i)
{
    size_t each = STACK_BYTES + page_size();
    fiber *f = &s->f[i];
    f->state = F_RUN;
    ctx_init(s, f, g_stacks + (size_t)i * each + page_size(), STACK_BYTES);
}

static wr_status run_block(sched *s, int *order, uint64_t *rng)
{
    const emu_launch *l = s->l;
    for (int i = 0; i < s->n; i++)
        init_fiber(s, i);
    if (l->debug && l->mod->fill_dyn_smem)
        l->mod->fill_dyn_smem(0xff);
    for (;;) {
        if (l->debug)
            for (int i = s->n - 1; i > 0; i--) {
                int j = (int)(next_rand(rng) % (uint64_t)(i + 1));
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        for (int k = 0; k < s->n; k++) {
            int i = order[k];
            if (s->f[i].state != F_RUN)
                continue;
            s->cur = i;
            s->rt->cur = &s->f[i].t;
            ctx_enter(s, &s->f[i]);
            if (s->failed)
                return wr_fail(WR_E_DEVICE, "%s", s->msg);
        }
        int done = 0, at_block = 0;
        for (int i = 0; i < s->n; i++) {
            done += s->f[i].state == F_DONE;
            at_block += s->f[i].state == F_WAIT_BLOCK;
        }
        if (done == s->n)
            return WR_OK;
        if (release_warps(s) > 0)
            continue;
        if (at_block + done == s->n) {
            for (int i = 0; i < s->n; i++)
                if (s->f[i].state == F_WAIT_BLOCK)
                    s->f[i].state = F_RUN;
            continue;
        }
        return wr_fail(WR_E_DEVICE,
                       "emu: kernel %s: deadlock in block (%u,%u,%u): %d threads wait at __syncthreads while others "
                       "wait at a warp barrier (a barrier in divergent code, or a warp primitive whose mask names "
                       "lanes that never arrive)",
                       l->what, s->rt->block_idx.x, s->rt->block_idx.y, s->rt->block_idx.z, at_block);
    }
}

wr_status emu_run(wr_emu_rt *rt, const emu_launch *l)
{
    int n = (int)(l->block.x * l->block.y * l->block.z);
    if (l->smem > WR_EMU_MAX_DYN_SMEM)
        return wr_fail(WR_E_ARG, "emu: kernel %s: %zu bytes of dynamic shared memory exceed the %d the emulator has",
                       l->what, l->smem, WR_EMU_MAX_DYN_SMEM);
    if (!ensure_stacks((size_t)n))
        return wr_fail(WR_E_OOM, "emu: kernel %s: cannot map %d fiber stacks", l->what, n);
    int warps = (n + WR_EMU_WARP - 1) / WR_EMU_WARP;
    sched s = {0};
    s.rt = rt;
    s.l = l;
    s.n = n;
    s.f = calloc((size_t)n, sizeof *s.f);
    s.xchg = calloc((size_t)warps * WR_EMU_WARP * WR_EMU_XCHG_WORDS, sizeof *s.xchg);
    int *order = malloc((size_t)n * sizeof *order);
    if (!s.f || !s.xchg || !order) {
        free(s.f);
        free(s.xchg);
        free(order);
        return wr_fail(WR_E_OOM, "emu: kernel %s: out of memory", l->what);
    }
    for (int i = 0; i < n; i++) {
        wr_emu_thread *t = &s.f[i].t;
        unsigned u = (unsigned)i;
        t->tid.x = u % l->block.x;
        t->tid.y = (u / l->block.x) % l->block.y;
        t->tid.z = u / (l->block.x * l->block.y);
        t->linear = u;
        t->lane = u % WR_EMU_WARP;
        t->xchg = s.xchg + (size_t)(u / WR_EMU_WARP) * WR_EMU_WARP * WR_EMU_XCHG_WORDS;
        order[i] = i;
    }
    rt->abi = WR_EMU_ABI_VERSION;
    rt->sync_block = rt_sync_block;
    rt->sync_warp = rt_sync_warp;
    rt->trap = rt_trap;
    rt->block_dim = (wr_emu_dim3){l->block.x, l->block.y, l->block.z};
    rt->grid_dim = (wr_emu_dim3){l->grid.x, l->grid.y, l->grid.z};
    uint64_t rng = l->seed ? l->seed : 0x9e3779b97f4a7c15ull;
    sched *prev = g_s;
    g_s = &s;
    if (l->debug) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGSEGV, &sa, &g_old_segv);
        sigaction(SIGBUS, &sa, &g_old_bus);
    }
    wr_status st = WR_OK;
    for (unsigned z = 0; z < l->grid.z && st == WR_OK; z++)
        for (unsigned y = 0; y < l->grid.y && st == WR_OK; y++)
            for (unsigned x = 0; x < l->grid.x && st == WR_OK; x++) {
                rt->block_idx = (wr_emu_dim3){x, y, z};
                st = run_block(&s, order, &rng);
            }
    if (l->debug) {
        sigaction(SIGSEGV, &g_old_segv, NULL);
        sigaction(SIGBUS, &g_old_bus, NULL);
    }
    g_s = prev;
    rt->cur = NULL;
    free(s.f);
    free(s.xchg);
    free(order);
    return st;
}
