/* The meta-test: "CUDA code that no test executes is unfinished" (STYLE.md 9.6). Every
 * extern "C" __global__ entry point of every embedded kernels/<op>.cu file must have
 *   - a kernels-check spec in the registry (runtime/gpu/kregistry.h), and
 *   - an op case or self test that launches it (od_covered in test_ops.c; each listed test
 *     asserts wr_gpu_launch_count of its entries after running).
 * It also checks the reverse: the registry and the coverage list name only entries that exist. */
#include <criterion/criterion.h>
#include <string.h>

#include "runtime/gpu/kregistry.h"
#include "tests/gpu/op_driver.h"

static bool is_cu(const char *p)
{
    size_t n = strlen(p);
    return n > 3 && strcmp(p + n - 3, ".cu") == 0;
}

static bool entry_exists(const char *file, const char *entry)
{
    char names[64][WR_KSPEC_NAME];
    int n = 0;
    if (wr_jit_entries(file, names, 64, &n) != WR_OK)
        return false;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], entry) == 0)
            return true;
    return false;
}

Test(meta, every_kernel_entry_is_checked_and_tested)
{
    wr_kcheck_list reg;
    wr_kregistry_all(&reg);
    int entries = 0;
    for (int i = 0; i < wr_jit_source_count(); i++) {
        const char *file = wr_jit_source_path(i);
        if (!is_cu(file))
            continue;
        char names[64][WR_KSPEC_NAME];
        int n = 0;
        cr_assert_eq(wr_jit_entries(file, names, 64, &n), WR_OK, "%s", wr_last_error());
        for (int e = 0; e < n; e++, entries++) {
            bool in_reg = false, tested = false;
            for (int r = 0; r < reg.n && !in_reg; r++)
                in_reg = strcmp(reg.items[r].spec.file, file) == 0 && strcmp(reg.items[r].spec.entry, names[e]) == 0;
            for (int c = 0; c < od_covered_count && !tested; c++)
                tested = strcmp(od_covered[c].file, file) == 0 && strcmp(od_covered[c].entry, names[e]) == 0;
            cr_expect(in_reg, "%s: kernel entry %s has no kernels-check spec (runtime/gpu/kregistry.c)", file, names[e]);
            cr_expect(tested, "%s: kernel entry %s has no op case or self test (tests/gpu)", file, names[e]);
        }
    }
    cr_assert_geq(entries, 20);
    for (int r = 0; r < reg.n; r++)
        cr_expect(entry_exists(reg.items[r].spec.file, reg.items[r].spec.entry), "registry names a missing kernel %s:%s",
                  reg.items[r].spec.file, reg.items[r].spec.entry);
    for (int c = 0; c < od_covered_count; c++)
        cr_expect(entry_exists(od_covered[c].file, od_covered[c].entry), "coverage list names a missing kernel %s:%s",
                  od_covered[c].file, od_covered[c].entry);
    wr_kcheck_list_free(&reg);
}
