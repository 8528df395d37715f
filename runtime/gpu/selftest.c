/* kernels-check specs of kernels/selftest.cu (the device-layer self tests in tests/gpu). */
#include "runtime/gpu/kregistry.h"

void wr_selftest_kspecs(wr_kcheck_list *l)
{
    static const char *const plain[] = {"selftest_axpy",      "selftest_row_sum",   "selftest_reverse_dyn",
                                        "selftest_histogram", "selftest_warp_scan", "selftest_oob_write",
                                        "selftest_mma_bf16",  "selftest_mma_s8",    "selftest_ldmatrix",
                                        "selftest_mma_pipeline"};
    wr_kspec s;
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        wr_kspec_init(&s, "kernels/selftest.cu", plain[i]);
        wr_kcheck_add(l, &s, i == 2 ? 1024 * sizeof(float) : 0, false, 0);
    }
    wr_kspec_init(&s, "kernels/selftest.cu", "selftest_mma_e4m3");
    wr_kcheck_add(l, &s, 0, false, 89);
    for (int tile = 8; tile <= 16; tile += 8) {
        wr_kspec_init(&s, "kernels/selftest.cu", "selftest_matmul_tiled");
        wr_kspec_define_int(&s, "TILE", tile);
        wr_kcheck_add(l, &s, 0, true, 0);
    }
    for (int b = 0; b < 2; b++) {
        wr_kspec_init(&s, "kernels/selftest.cu", "selftest_neighbor");
        wr_kspec_define_int(&s, "SELFTEST_BARRIER", b);
        wr_kcheck_add(l, &s, 0, false, 0);
    }
}
