/* The op-test driver (see op_driver.h). */
#include "tests/gpu/op_driver.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/quant_encode.h"
#include "tests/common/testutil.h"
#include "tests/gpu/gpu_test.h"

#define SENT 64 /* sentinel bytes each side */
#define SENT_BYTE 0x5b

od_buf od_upload(wr_gpu *g, wr_dtype dtype, int n_dims, const int64_t *ne, const void *host)
{
    od_buf b;
    memset(&b, 0, sizeof b);
    cr_assert(wr_tensor_init(&b.t, dtype, n_dims, ne, NULL), "bad test shape");
    b.bytes = wr_tensor_nbytes(&b.t);
    gt_check(wr_gpu_alloc(g, b.bytes + 2 * SENT, &b.base), "alloc");
    unsigned char sent[SENT];
    memset(sent, SENT_BYTE, SENT);
    gt_check(wr_gpu_copy_h2d(g, b.base, sent, SENT, NULL), "h2d");
    gt_check(wr_gpu_copy_h2d(g, (char *)b.base + SENT + b.bytes, sent, SENT, NULL), "h2d");
    b.t.data = (char *)b.base + SENT;
    if (host)
        gt_check(wr_gpu_copy_h2d(g, b.t.data, host, b.bytes, NULL), "h2d");
    else
        gt_check(wr_gpu_memset(g, b.t.data, 0, b.bytes, NULL), "memset");
    return b;
}

void od_free(wr_gpu *g, od_buf *b, const char *what)
{
    unsigned char s[2][SENT];
    gt_check(wr_gpu_copy_d2h(g, s[0], b->base, SENT, NULL), "d2h");
    gt_check(wr_gpu_copy_d2h(g, s[1], (char *)b->base + SENT + b->bytes, SENT, NULL), "d2h");
    gt_check(wr_gpu_sync(g), "sync");
    for (int side = 0; side < 2; side++)
        for (int i = 0; i < SENT; i++)
            cr_assert_eq(s[side][i], SENT_BYTE, "%s: the op wrote %s its output (sentinel byte %d)", what,
                         side ? "past the end of" : "before", i);
    gt_check(wr_gpu_free(g, b->base), "free");
    memset(b, 0, sizeof *b);
}

void od_download_free(wr_gpu *g, od_buf *b, void *host, const char *what)
{
    gt_check(wr_gpu_copy_d2h(g, host, b->t.data, b->bytes, NULL), "d2h");
    od_free(g, b, what);
}

void od_fill(float *x, int64_t n, float lo, float hi, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int64_t i = 0; i < n; i++)
        x[i] = wr_test_uniform(&s, lo, hi);
}

void od_expect(const float *got, const float *ref, int64_t n, double nmse_bound, const char *what)
{
    wr_test_err e = wr_test_compare(got, ref, n);
    cr_assert_eq(e.nan_mismatch, 0, "%s: NaN/Inf parity differs at %lld positions", what, (long long)e.nan_mismatch);
    cr_assert(e.nmse <= nmse_bound, "%s: nmse %.3g > %.3g (max abs %.3g at %lld, max ref %.3g)", what, e.nmse,
              nmse_bound, e.max_abs, (long long)e.worst, e.max_ref);
}

/* Encodes a [N][K] weight (from w) in dtype, row by row with the runtime's reference encoder; the
 * decoded values are written back into w (the reference uses those). */
void *od_encode_weight(wr_dtype dt, float *w, int64_t N, int64_t K, size_t *row_bytes)
{
    size_t rb = 0;
    cr_assert(wr_dtype_row_bytes(dt, K, &rb));
    unsigned char *out = calloc((size_t)N, rb);
    for (int64_t n = 0; n < N; n++)
        cr_assert(wr_quant_encode_row(dt, w + n * K, out + (size_t)n * rb, K), "no encoder for %s, K = %lld",
                  wr_dtype_name(dt), (long long)K);
    *row_bytes = rb;
    return out;
}
