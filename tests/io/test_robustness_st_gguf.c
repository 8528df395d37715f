/* Truncated and bit-flipped variants of golden safetensors and GGUF files: every variant must
 * open cleanly or fail with a message, never crash or read out of bounds (run under
 * `make MODE=asan test` too). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/io/mapped_file.h"
#include "runtime/io/weightfile.h"
#include "tests/common/testutil.h"

static int try_open(const uint8_t *data, size_t n)
{
    wr_weightfile wf;
    if (wr_weightfile_open_memory(&wf, "variant", data, n) != WR_OK) {
        cr_assert(strlen(wr_last_error()) > 0, "a failure must leave a message");
        return 0;
    }
    volatile uint8_t sink = 0;
    for (int64_t i = 0; i < wf.n_tensors; i++) { /* every tensor must lie inside the buffer */
        size_t nb = wr_tensor_nbytes(&wf.tensors[i].t);
        const uint8_t *p = wf.tensors[i].t.data;
        if (nb)
            sink ^= (uint8_t)(p[0] ^ p[nb - 1]);
    }
    (void)sink;
    wr_weightfile_close(&wf);
    return 1;
}

static void mutate_file(const char *rel, size_t header_span, int flips)
{
    wr_mapped_file f;
    cr_assert_eq(wr_mapped_file_open(&f, wr_test_shared(rel)), WR_OK);
    uint8_t *buf = malloc(f.size);
    cr_assert_not_null(buf);
    memcpy(buf, f.data, f.size);
    cr_assert_eq(try_open(buf, f.size), 1, "%s must open unchanged: %s", rel, wr_last_error());
    size_t span = header_span < f.size ? header_span : f.size;
    int opened = 0, variants = 0;
    for (size_t cut = 0; cut < span; cut += 1 + cut / 64, variants++) /* truncations */
        opened += try_open(buf, cut);
    uint64_t s = 99;
    for (int i = 0; i < flips; i++, variants++) { /* one to three bit flips in the header region */
        size_t pos[3];
        int k = 1 + i % 3;
        for (int j = 0; j < k; j++) {
            pos[j] = (size_t)(wr_test_uniform(&s, 0.0f, 1.0f) * (float)(span - 1));
            buf[pos[j]] ^= (uint8_t)(1u << (i % 8));
        }
        opened += try_open(buf, f.size);
        for (int j = k - 1; j >= 0; j--)
            buf[pos[j]] ^= (uint8_t)(1u << (i % 8));
    }
    cr_assert_gt(variants, 1000);
    cr_assert_lt(opened, variants, "some variants must be rejected");
    free(buf);
    wr_mapped_file_close(&f);
}

Test(robustness, safetensors_variants, .timeout = 60)
{
    mutate_file("golden/vae21/vae21_scale.safetensors", 384, 2000);
    mutate_file("golden/t5/t5_case_b2_L40.safetensors", 2048, 2000);
}

Test(robustness, gguf_variants, .timeout = 60)
{
    mutate_file("golden/gguf/dit_t2v_Q4_0.gguf", 8192, 3000);
}
