/* The kernel registry (see kregistry.h): the list of spec contributors and the arch table. */
#include "runtime/gpu/kregistry.h"

#include "runtime/gpu/gpu_ops.h"

#include <stdlib.h>
#include <string.h>

const int wr_kcheck_archs[4] = {80, 86, 89, 90};

/* cudaDevAttrMaxSharedMemoryPerBlockOptin (CUDA C Programming Guide, compute capability table). */
size_t wr_kcheck_smem_limit(int arch)
{
    switch (arch) {
    case 80:
        return 163 * 1024;
    case 86:
    case 89:
        return 99 * 1024;
    case 90:
        return 227 * 1024;
    default:
        return 48 * 1024;
    }
}

void wr_kcheck_add(wr_kcheck_list *l, const wr_kspec *spec, size_t dyn_smem, bool hot, int min_arch)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->items = realloc(l->items, (size_t)l->cap * sizeof *l->items);
        WR_ASSERT(l->items, "out of memory");
    }
    wr_kcheck_spec *s = &l->items[l->n++];
    s->spec = *spec;
    s->dyn_smem = dyn_smem;
    s->hot = hot;
    s->min_arch = min_arch;
}

void wr_kcheck_list_free(wr_kcheck_list *l)
{
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* The contributors: one line per kernel file. */
static void (*const contributors[])(wr_kcheck_list *) = {
    wr_selftest_kspecs, wr_elementwise_kspecs, wr_norm_kspecs, wr_rope_kspecs, wr_matmul_kspecs, wr_matmul_q_kspecs, wr_attention_kspecs,
    wr_conv_kspecs,     wr_resample_kspecs, wr_planar_kspecs, wr_volume_kspecs,
    wr_attention_sage_kspecs,
};

void wr_kregistry_all(wr_kcheck_list *out)
{
    memset(out, 0, sizeof *out);
    wr_kcheck_list raw = {0};
    for (size_t i = 0; i < sizeof contributors / sizeof contributors[0]; i++)
        contributors[i](&raw);
    for (int i = 0; i < raw.n; i++) {
        bool dup = false;
        for (int j = 0; j < out->n && !dup; j++)
            dup = memcmp(&out->items[j].spec, &raw.items[i].spec, sizeof raw.items[i].spec) == 0 &&
                  out->items[j].dyn_smem == raw.items[i].dyn_smem;
        if (!dup)
            wr_kcheck_add(out, &raw.items[i].spec, raw.items[i].dyn_smem, raw.items[i].hot, raw.items[i].min_arch);
    }
    wr_kcheck_list_free(&raw);
}
