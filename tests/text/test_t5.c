/* umT5 encoder and its relative position buckets against the official model
 * (../shared/golden/t5). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "models/wan22/t5.h"
#include "models/wan22/text_cache.h"
#include "tests/common/testutil.h"

Test(t5, relative_buckets)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/t5/t5_rel_buckets_L160.safetensors"));
    const wr_wtensor *rel = wr_weightfile_find(&wf, "rel_pos_k_minus_q"), *bk = wr_weightfile_find(&wf, "bucket");
    cr_assert_not_null(rel);
    const int64_t *r = rel->t.data, *b = bk->t.data;
    for (int64_t i = 0; i < 160 * 160; i++)
        cr_assert_eq(wan22_t5_bucket((int)r[i], 32), b[i], "rel %lld: %d vs %lld", (long long)r[i],
                     wan22_t5_bucket((int)r[i], 32), (long long)b[i]);
    wr_weightfile_close(&wf);
}

Test(t5, encoder_case_b2_l40, .timeout = 60)
{
    wr_weightfile wf, cs;
    wr_test_open(&wf, wr_test_shared("golden/t5/t5_weights.safetensors"));
    wr_test_open(&cs, wr_test_shared("golden/t5/t5_case_b2_L40.safetensors"));
    wan22_t5 *m;
    cr_assert_eq(wan22_t5_load(&m, &wf), WR_OK, "%s", wr_last_error());
    const wan22_t5_config *c = wan22_t5_config_of(m);
    cr_assert_eq(c->dim, 64);
    cr_assert_eq(c->num_heads, 4);
    cr_assert_eq(c->num_layers, 2);
    const int64_t *ids = wr_weightfile_find(&cs, "input.ids")->t.data, *mask = wr_weightfile_find(&cs, "input.mask")->t.data;
    int64_t n;
    float *want = wr_test_load_f32(&cs, "output.hidden", &n);
    float *got = malloc((size_t)n * sizeof *got);
    for (int b = 0; b < 2; b++) {
        int32_t id32[40], m32[40];
        for (int i = 0; i < 40; i++)
            id32[i] = (int32_t)ids[b * 40 + i], m32[i] = (int32_t)mask[b * 40 + i];
        cr_assert_eq(wan22_t5_encode(m, id32, m32, 40, got + b * 40 * 64), WR_OK, "%s", wr_last_error());
    }
    wr_test_err e = wr_test_compare(got, want, n);
    /* README floor: 1.4e-6 relative to max|ref| */
    cr_assert_leq(e.rel_to_max, 1e-5, "hidden: max abs %g rel %g", e.max_abs, e.rel_to_max);
    /* the pipeline encodes only the real tokens: their rows equal the padded run's bit for bit */
    int padded = 0;
    for (int b = 0; b < 2; b++) {
        int32_t id32[40], m32[40], real = 0;
        for (int i = 0; i < 40; i++)
            id32[i] = (int32_t)ids[b * 40 + i], m32[i] = (int32_t)mask[b * 40 + i], real += m32[i];
        cr_assert(real > 0);
        padded += real < 40;
        float *short_run = malloc((size_t)real * 64 * sizeof *short_run);
        cr_assert_eq(wan22_t5_encode(m, id32, m32, real, short_run), WR_OK, "%s", wr_last_error());
        cr_assert_eq(memcmp(short_run, got + b * 40 * 64, (size_t)real * 64 * sizeof(float)), 0,
                     "sample %d: unpadded rows differ from the padded run", b);
        free(short_run);
    }
    cr_assert_gt(padded, 0, "the case pads a sample");
    free(want), free(got);
    wan22_t5_free(m);
    wr_weightfile_close(&wf), wr_weightfile_close(&cs);
}

Test(t5, text_cache_key_follows_text_encoder_tokenizer_and_length)
{
    const char *enc = wr_test_shared("golden/t5/t5_weights.safetensors");
    char e[1024], tk[1024];
    snprintf(e, sizeof e, "%s", enc);
    snprintf(tk, sizeof tk, "%s", wr_test_shared("golden/post/rife47_report.json")); /* any other file */
    char a[4096], b[4096];
    cr_assert_eq(wan22_text_cache_path("/c", "a cat", e, tk, 512, a, sizeof a), WR_OK);
    cr_assert_eq(wan22_text_cache_path("/c", "a cat", e, tk, 512, b, sizeof b), WR_OK);
    cr_assert_str_eq(a, b);
    cr_assert_eq(wan22_text_cache_path("/c", "a dog", e, tk, 512, b, sizeof b), WR_OK);
    cr_assert_str_neq(a, b);
    cr_assert_eq(wan22_text_cache_path("/c", "a cat", e, tk, 256, b, sizeof b), WR_OK);
    cr_assert_str_neq(a, b);
    cr_assert_eq(wan22_text_cache_path("/c", "a cat", e, e, 512, b, sizeof b), WR_OK);
    cr_assert_str_neq(a, b, "another tokenizer file must miss the cache");
    cr_assert_eq(wan22_text_cache_path("/c", "a cat", e, "/no/such/tokenizer", 512, b, sizeof b), WR_E_IO);
}
