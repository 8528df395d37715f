/* Tokenizer and prompt cleaning against sentencepiece's own output (../shared/golden/tokenizer). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/wan22/text_clean.h"
#include "models/wan22/tokenizer.h"
#include "runtime/io/mapped_file.h"
#include "runtime/json.h"
#include "tests/common/testutil.h"

static void expect_ids(const wr_json *want, const int32_t *got, int n, const char *what, const char *raw)
{
    cr_assert_eq((size_t)n, want->count, "%s of '%s': %d ids, want %zu", what, raw, n, want->count);
    for (int i = 0; i < n; i++)
        cr_assert_eq(got[i], want->items[i].integer, "%s of '%s': id %d is %d, want %lld", what, raw, i, got[i],
                     (long long)want->items[i].integer);
}

Test(tokenizer, all_golden_strings)
{
    wan22_tokenizer *t;
    cr_assert_eq(wan22_tokenizer_load(&t, wr_test_shared("golden/tokenizer/tiny_unigram.model")), WR_OK, "%s",
                 wr_last_error());
    cr_assert_eq(wan22_tokenizer_vocab_size(t), 592);
    cr_assert_eq(wan22_tokenizer_eos_id(t), 1);
    wr_mapped_file f;
    cr_assert_eq(wr_mapped_file_open(&f, wr_test_shared("golden/tokenizer/tokenizer_cases.json")), WR_OK);
    wr_json root;
    cr_assert_eq(wr_json_parse((const char *)f.data, f.size, "cases", &root), WR_OK, "%s", wr_last_error());
    const wr_json *cases = wr_json_get(&root, "cases");
    cr_assert_eq(cases->count, 21);
    for (size_t c = 0; c < cases->count; c++) {
        const wr_json *cs = &cases->items[c];
        const char *raw = wr_json_get(cs, "raw")->string;
        char *clean;
        cr_assert_eq(wan22_text_clean(raw, &clean), WR_OK);
        cr_assert_str_eq(clean, wr_json_get(cs, "cleaned")->string, "cleaning '%s'", raw);
        int32_t *ids;
        int n;
        cr_assert_eq(wan22_tokenizer_encode(t, raw, &ids, &n), WR_OK);
        expect_ids(wr_json_get(cs, "ids_raw_no_eos"), ids, n, "raw ids", raw);
        free(ids);
        cr_assert_eq(wan22_tokenizer_encode(t, clean, &ids, &n), WR_OK);
        expect_ids(wr_json_get(cs, "ids_cleaned_no_eos"), ids, n, "cleaned ids", raw);
        const wr_json *pieces = wr_json_get(cs, "pieces_cleaned");
        for (int i = 0; i < n; i++)
            cr_assert_str_eq(wan22_tokenizer_piece(t, ids[i]), pieces->items[i].string);
        int32_t pid[16], pmask[16];
        wan22_tokenizer_pad(t, ids, n, 16, pid, pmask);
        expect_ids(wr_json_get(cs, "padded_text_len16"), pid, 16, "padded ids", raw);
        expect_ids(wr_json_get(cs, "mask_text_len16"), pmask, 16, "mask", raw);
        free(ids);
        free(clean);
    }
    wr_json_free(&root);
    wr_mapped_file_close(&f);
    wan22_tokenizer_free(t);
}

Test(tokenizer, bad_input)
{
    wan22_tokenizer *t;
    cr_assert_neq(wan22_tokenizer_load(&t, "/nonexistent.model"), WR_OK);
    cr_assert_neq(wan22_tokenizer_load(&t, wr_test_shared("golden/tokenizer/tokenizer_cases.json")), WR_OK);
    cr_assert(strstr(wr_last_error(), "tokenizer_cases.json"));
    cr_assert_eq(wan22_tokenizer_load(&t, wr_test_shared("golden/tokenizer/tiny_unigram.model")), WR_OK);
    int32_t *ids;
    int n;
    cr_assert_eq(wan22_tokenizer_encode(t, "bad \xff\xfe utf8 \xe4\xb8", &ids, &n), WR_OK); /* U+FFFD, no crash */
    cr_assert_gt(n, 0);
    free(ids);
    char *clean;
    cr_assert_eq(wan22_text_clean("\xef\xbc\x8c\xe2\x80\x9cquoted\xe2\x80\x9d &amp;amp; \xe3\x80\x80x", &clean), WR_OK);
    cr_assert_str_eq(clean, ",\"quoted\" & x");
    free(clean);
    wan22_tokenizer_free(t);
}

/* Decomposed accents and full-width forms reach the same ids as their composed / ASCII forms:
 * the model's nmt_nfkc charsmap normalises them (what ftfy's NFC would do before it). */
Test(tokenizer, charsmap_normalises_like_nfkc)
{
    wan22_tokenizer *t;
    cr_assert_eq(wan22_tokenizer_load(&t, wr_test_shared("golden/tokenizer/tiny_unigram.model")), WR_OK);
    const char *pairs[][2] = {{"cafe\xcc\x81 na\xc3\xafve", "caf\xc3\xa9 na\xc3\xafve"},
                              {"\xef\xbd\x83\xef\xbd\x81\xef\xbd\x94\xef\xbc\x8c\xef\xbd\x84\xef\xbd\x8f\xef\xbd\x87", "cat,dog"}};
    for (int p = 0; p < 2; p++) {
        int32_t *a, *b;
        int na, nb;
        cr_assert_eq(wan22_tokenizer_encode(t, pairs[p][0], &a, &na), WR_OK);
        cr_assert_eq(wan22_tokenizer_encode(t, pairs[p][1], &b, &nb), WR_OK);
        cr_assert_eq(na, nb, "pair %d", p);
        cr_assert_eq(memcmp(a, b, (size_t)na * sizeof *a), 0, "pair %d", p);
        free(a), free(b);
    }
    wan22_tokenizer_free(t);
}
