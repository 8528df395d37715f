/* Sage attention's device memory: (1) the launchers run in a caller's workspace sized by
 * wr_gpu_attention_sage_workspace_bytes (what the memory planner reserves) — nothing allocated
 * per call, results equal to the allocating wr_gpu_attention_sage_ex to the bit, a workspace one
 * byte short refused; (2) the fused op wr_op_self_attention_sage_fused on device-resident
 * operands (backend buffers, runtime/buffers.h) stages nothing from the host and equals the same
 * op on host tensors to the bit. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "runtime/buffers.h"
#include "runtime/gpu/backend_gpu.h"
#include "tests/common/testutil.h"
#include "tests/gpu/gpu_test.h"
#include "tests/gpu/op_driver.h"

#define HD 128

/* ---- (1) the caller's workspace ------------------------------------------------------------ */

Test(sage_workspace, launchers_use_the_callers, .timeout = 300)
{
    wr_gpu_options opts = {.arch = 89};
    wr_gpu *g = gt_open(&opts);
    int NH = 2, Tq = 37, Tk = 70;
    size_t nq = (size_t)HD * NH * Tq, nk = (size_t)HD * NH * Tk;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *ref = malloc(nq * 4), *got = malloc(nq * 4);
    od_fill(q, (int64_t)nq, -2, 2, 1), od_fill(k, (int64_t)nk, -2, 2, 2), od_fill(v, (int64_t)nk, -1, 1, 3);
    int64_t neq[4] = {HD, NH, Tq, 1}, nek[4] = {HD, NH, Tk, 1};
    for (int pv = 0; pv < 2; pv++) {
        if (pv == WR_GPU_SAGE_PV_F8 && wr_gpu_arch(g) < 89)
            continue;
        od_buf dq = od_upload(g, WR_DTYPE_F32, 4, neq, q), dk = od_upload(g, WR_DTYPE_F32, 4, nek, k);
        od_buf dv = od_upload(g, WR_DTYPE_F32, 4, nek, v), dout = od_upload(g, WR_DTYPE_F32, 4, neq, NULL);
        gt_check(wr_gpu_attention_sage_ex(g, &dq.t, &dk.t, &dv.t, 0.1f, &dout.t, (wr_gpu_sage_pv)pv, NULL), "ex");
        gt_download(g, ref, dout.t.data, nq * 4);
        gt_check(wr_gpu_memset(g, dout.t.data, 0xff, nq * 4, NULL), "poison the output (NaN)");
        size_t bytes = wr_gpu_attention_sage_workspace_bytes(1, NH, Tq, Tk, HD, pv == WR_GPU_SAGE_PV_F8);
        void *ws = NULL;
        gt_check(wr_gpu_alloc(g, bytes, &ws), "workspace");
        size_t in_use = wr_gpu_mem_in_use(g);
        cr_assert_eq(wr_gpu_attention_sage_ws(g, &dq.t, &dk.t, &dv.t, 0.1f, &dout.t, (wr_gpu_sage_pv)pv, ws, bytes - 1,
                                              NULL),
                     WR_E_ARG, "a workspace one byte short is refused");
        gt_check(wr_gpu_attention_sage_ws(g, &dq.t, &dk.t, &dv.t, 0.1f, &dout.t, (wr_gpu_sage_pv)pv, ws, bytes, NULL),
                 "ws");
        cr_assert_eq(wr_gpu_mem_in_use(g), in_use, "the workspace launcher allocated device memory");
        gt_check(wr_gpu_sync(g), "ws");
        od_download_free(g, &dout, got, "ws");
        cr_assert(memcmp(got, ref, nq * 4) == 0, "pv %d: workspace launcher differs from the allocating one", pv);
        wr_gpu_free(g, ws);
        od_free(g, &dq, "ws"), od_free(g, &dk, "ws"), od_free(g, &dv, "ws");
    }
    /* the real models' self-attention at 720p 81 frames (21 x 45 x 80 = 75600 tokens) */
    fprintf(stderr, "sage workspace, 75600 tokens: A14B (40 heads) %.1f MiB fp16 P.V / %.1f MiB fp8; TI2V-5B (24) %.1f MiB\n",
            (double)wr_gpu_attention_sage_workspace_bytes(1, 40, 75600, 75600, HD, false) / 1048576.0,
            (double)wr_gpu_attention_sage_workspace_bytes(1, 40, 75600, 75600, HD, true) / 1048576.0,
            (double)wr_gpu_attention_sage_workspace_bytes(1, 24, 75600, 75600, HD, true) / 1048576.0);
    free(q), free(k), free(v), free(ref), free(got);
    wr_gpu_close(g);
}

/* ---- (2) device-resident operands ----------------------------------------------------------- */

static void *to_buffer(const float *host, size_t n)
{
    void *b = NULL;
    cr_assert_eq(wr_buffer_alloc(n * sizeof(float), &b), WR_OK, "%s", wr_last_error());
    wr_buffer_write(b, host, n * sizeof(float));
    return b;
}

static void fused(float *q, float *k, float *v, float *nq, float *nk, int NH, int T, int g[3], float *out)
{
    wr_tensor tq, tk, tv, to, tnq, tnk;
    int64_t ne[3] = {HD, NH, T}, ne_w[1] = {(int64_t)NH * HD};
    cr_assert(wr_tensor_init(&tq, WR_DTYPE_F32, 3, ne, q) && wr_tensor_init(&tk, WR_DTYPE_F32, 3, ne, k) &&
              wr_tensor_init(&tv, WR_DTYPE_F32, 3, ne, v) && wr_tensor_init(&to, WR_DTYPE_F32, 3, ne, out) &&
              wr_tensor_init(&tnq, WR_DTYPE_F32, 1, ne_w, nq) && wr_tensor_init(&tnk, WR_DTYPE_F32, 1, ne_w, nk));
    wr_op_self_attention_sage_fused(&tq, &tk, &tv, &tnq, &tnk, 1e-6f, g[0], g[1], g[2], 0.088f, &to);
}

Test(sage_workspace, fused_op_on_device_resident_operands, .timeout = 300)
{
    const wr_backend *gpu = wr_test_gpu_backend();
    wr_backend_select(gpu);
    int NH = 2, T = 70, grid[3] = {2, 5, 7};
    size_t n = (size_t)HD * NH * T, nw = (size_t)HD * NH;
    float *q = malloc(n * 4), *k = malloc(n * 4), *v = malloc(n * 4), *nq = malloc(nw * 4), *nk = malloc(nw * 4);
    float *ref = malloc(n * 4), *got = malloc(n * 4);
    od_fill(q, (int64_t)n, -3, 3, 11), od_fill(k, (int64_t)n, -1, 1, 12), od_fill(v, (int64_t)n, -1, 1, 13);
    od_fill(nq, (int64_t)nw, 0.5f, 2, 14), od_fill(nk, (int64_t)nw, 0.5f, 2, 15);
    fused(q, k, v, nq, nk, NH, T, grid, ref); /* host operands: staged (CUDA) or used in place (emulator) */
    void *bq = to_buffer(q, n), *bk = to_buffer(k, n), *bv = to_buffer(v, n), *bnq = to_buffer(nq, nw);
    void *bnk = to_buffer(nk, nw), *bo = NULL;
    cr_assert_eq(wr_buffer_alloc(n * 4, &bo), WR_OK);
    size_t host_before = wr_backend_gpu_host_operand_bytes();
    fused(bq, bk, bv, bnq, bnk, NH, T, grid, bo);
    cr_assert_eq(wr_backend_gpu_host_operand_bytes(), host_before, "device-resident operands were staged");
    wr_buffer_read(got, bo, n * 4);
    cr_assert(memcmp(got, ref, n * 4) == 0, "resident operands give a different result than host ones");
    wr_buffer_free(bq), wr_buffer_free(bk), wr_buffer_free(bv), wr_buffer_free(bnq), wr_buffer_free(bnk);
    wr_buffer_free(bo);
    free(q), free(k), free(v), free(nq), free(nk), free(ref), free(got);
    wr_backend_gpu_close();
}
