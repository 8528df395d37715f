/* make kernels-check: compiles every registered kernel specialisation (runtime/gpu/kregistry.h)
 * through NVRTC to a cubin for sm_80, sm_86, sm_89 and sm_90 and prints its resources (from
 * ptxas -v). Fails on a local-memory spill in a hot kernel, on static + dynamic shared memory
 * above the arch's per-block limit, or on a compile error. Without NVRTC it says SKIPPED (and
 * exits 0, so machines without the CUDA toolkit still build; the message is not a pass).
 * Usage: kernels_check [-j THREADS] [-q] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/gpu/kregistry.h"
#include "runtime/gpu/nvrtc.h"

typedef struct job {
    const wr_kcheck_spec *ks;
    int arch;
    bool skipped; /* below the spec's min_arch */
    wr_status st;
    char msg[4096];
    wr_kresources res;
} job;

static job *g_jobs;
static int g_njobs, g_next;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&g_lock);
        int i = g_next++;
        pthread_mutex_unlock(&g_lock);
        if (i >= g_njobs)
            return NULL;
        job *j = &g_jobs[i];
        if (j->skipped)
            continue;
        void *cubin = NULL;
        size_t size = 0;
        char *info = NULL;
        j->st = wr_jit_cubin(&j->ks->spec, j->arch, &cubin, &size, &info);
        if (j->st != WR_OK) {
            snprintf(j->msg, sizeof j->msg, "%s", wr_last_error());
            continue;
        }
        if (!wr_jit_parse_resources(info, j->ks->spec.entry, &j->res)) {
            j->st = WR_E_FORMAT;
            snprintf(j->msg, sizeof j->msg, "no ptxas report for entry %s (is it extern \"C\" __global__?)",
                     j->ks->spec.entry);
        }
        free(cubin);
        free(info);
    }
}

int main(int argc, char **argv)
{
    int threads = 2;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-j") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "-q") == 0)
            quiet = true;
    }
    if (threads < 1)
        threads = 1;
    const wr_nvrtc *nv;
    if (wr_nvrtc_get(&nv) != WR_OK) {
        printf("kernels-check: SKIPPED, nothing was compiled: %s\n", wr_last_error());
        return 0;
    }
    printf("kernels-check: NVRTC %d.%d (%s), headers %s\n", nv->major, nv->minor, nv->lib_path, nv->include_dir);
    wr_kcheck_list list;
    wr_kregistry_all(&list);
    g_njobs = list.n * 4;
    g_jobs = calloc((size_t)g_njobs, sizeof *g_jobs);
    if (!g_jobs)
        return 1;
    for (int i = 0; i < list.n; i++)
        for (int a = 0; a < 4; a++) {
            job *j = &g_jobs[i * 4 + a];
            j->ks = &list.items[i];
            j->arch = wr_kcheck_archs[a];
            j->skipped = j->arch < list.items[i].min_arch;
        }
    pthread_t th[16];
    if (threads > 16)
        threads = 16;
    for (int t = 0; t < threads; t++)
        pthread_create(&th[t], NULL, worker, NULL);
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    int failed = 0, checked = 0;
    for (int i = 0; i < g_njobs; i++) {
        job *j = &g_jobs[i];
        if (j->skipped)
            continue;
        checked++;
        char name[1024];
        wr_kspec s = j->ks->spec;
        s.arch = j->arch;
        wr_kspec_str(&s, name, sizeof name);
        size_t smem = (size_t)j->res.smem + j->ks->dyn_smem, limit = wr_kcheck_smem_limit(j->arch);
        const char *why = NULL;
        if (j->st != WR_OK)
            why = "compile error";
        else if (j->ks->hot && (j->res.spill_stores || j->res.spill_loads))
            why = "local-memory spill in a hot kernel";
        else if (smem > limit)
            why = "shared memory above the arch limit";
        if (why) {
            failed++;
            printf("✗ %s: %s\n", name, why);
            if (j->st != WR_OK)
                printf("%s\n", j->msg);
        }
        if (!why && quiet)
            continue;
        if (j->st == WR_OK)
            printf("%s %-90s regs %3d  spill %d/%d  stack %4d  smem %6zu/%zu\n", why ? " " : "✓", name,
                   j->res.registers, j->res.spill_stores, j->res.spill_loads, j->res.stack, smem, limit);
    }
    wr_jit_stats st = wr_jit_get_stats();
    printf("kernels-check: %d specialisations x arch checked, %d failed (%u compiled, %u from cache)\n", checked,
           failed, st.compiled, st.cached);
    free(g_jobs);
    wr_kcheck_list_free(&list);
    return failed ? 1 : 0;
}
