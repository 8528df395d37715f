/* PyTorch checkpoint reader robustness: thousands of truncated and bit-flipped variants of a
 * real checkpoint and of small constructed ones must each load or fail cleanly (a status and a
 * message), never crash or read outside the buffer. Buffers are malloc'd at their exact size
 * so `make MODE=asan test` catches any out-of-bounds read; pt_load_mem also touches the first
 * and last byte of every registered tensor. Deterministic (seeded xorshift). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/io/weightfile.h"
#include "tests/common/testutil.h"
#include "tests/io/pth_builder.h"

static uint64_t next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)len);
    cr_assert_not_null(d);
    cr_assert_eq(fread(d, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return d;
}

static void check_status(wr_status st)
{
    if (st != WR_OK)
        cr_assert(wr_last_error()[0] != 0, "failure without a message");
}

/* Loads data[0, len) from an exactly sized copy. */
static wr_status load_prefix(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, data, len);
    wr_status st = pt_load_mem(copy, len, NULL);
    check_status(st);
    free(copy);
    return st;
}

/* Flips 1-3 bits at 1-4 positions drawn from [lo, hi), loads, restores. */
static wr_status load_flipped(uint8_t *d, size_t n, size_t lo, size_t hi, uint64_t *rng)
{
    size_t pos[4];
    uint8_t old[4];
    int k = 1 + (int)(next(rng) % 4);
    for (int i = 0; i < k; i++) {
        pos[i] = lo + (size_t)(next(rng) % (hi - lo));
        old[i] = d[pos[i]];
        int bits = 1 + (int)(next(rng) % 3);
        for (int b = 0; b < bits; b++)
            d[pos[i]] ^= (uint8_t)(1u << (next(rng) % 8));
    }
    wr_status st = pt_load_mem(d, n, NULL);
    check_status(st);
    for (int i = k - 1; i >= 0; i--)
        d[pos[i]] = old[i];
    return st;
}

Test(pth_robustness, golden_subset_truncated_and_flipped, .timeout = 60)
{
    size_t n;
    uint8_t *d = read_all(wr_test_shared("golden/post/rife47_weights_module_prefix_subset.pth"), &n);
    int64_t count = 0;
    cr_assert_eq(pt_load_mem(d, n, &count), WR_OK, "%s", wr_last_error());
    cr_assert_eq(count, 11);
    /* truncations: the end records and directory, then evenly through the file */
    int failed = 0;
    for (size_t cut = 1; cut <= 600; cut++)
        failed += load_prefix(d, n - cut) != WR_OK;
    for (size_t i = 0; i < 200; i++)
        failed += load_prefix(d, n * i / 200) != WR_OK;
    cr_assert_eq(failed, 800, "every truncation loses the end record");
    /* bit flips: in the pickle (first 8 KiB), in the directory and end records (last 2 KiB),
     * and anywhere */
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int ok = 0;
    for (int i = 0; i < 3000; i++) {
        int region = i % 3;
        size_t lo = region == 1 ? n - 2048 : 0, hi = region == 0 ? 8192 : n;
        ok += load_flipped(d, n, lo, hi, &rng) == WR_OK;
    }
    cr_assert(ok > 0 && ok < 3000, "%d of 3000 flipped variants loaded", ok);
    cr_assert_eq(pt_load_mem(d, n, NULL), WR_OK, "buffer restored");
    free(d);
}

/* A small zip with most pickle features, and a small legacy file: every truncation and a few
 * thousand flips each. */
Test(pth_robustness, constructed_files_truncated_and_flipped, .timeout = 60)
{
    float a[6] = {1, 2, 3, 4, 5, 6};
    int64_t b[2] = {-1, 2};
    int64_t s23[2] = {2, 3}, t23[2] = {3, 1}, s2[1] = {2}, t1[1] = {1};
    for (int legacy = 0; legacy < 2; legacy++) {
        pb p = {0}, f = {0};
        pk_proto(&p, 2);
        pk_global(&p, "collections", "OrderedDict");
        pk_put(&p, 0);
        pk_op(&p, ')'), pk_op(&p, 'R'), pk_op(&p, '(');
        pk_str(&p, "a"), pk_tensor(&p, "FloatStorage", "0", 6, 0, 2, s23, t23, legacy);
        pk_str(&p, "a1"), pk_tensor(&p, "FloatStorage", "0", 6, 4, 1, s2, t1, legacy);
        pk_str(&p, "b"), pk_tensor(&p, "LongStorage", "1", 2, 0, 1, s2, t1, legacy);
        pk_op(&p, 'u');
        pk_op(&p, '}'), pk_str(&p, "_metadata"), pk_get(&p, 0), pk_op(&p, ')'), pk_op(&p, 'R');
        pk_op(&p, 's'), pk_op(&p, 'b'), pk_op(&p, '.');
        pt_storage st[2] = {{a, sizeof a}, {b, sizeof b}};
        size_t isz[2] = {4, 8};
        if (legacy)
            pt_legacy(&f, &p, st, isz, 2);
        else
            pt_zip(&f, "archive", &p, st, 2);
        int64_t count = 0;
        cr_assert_eq(pt_load_mem(f.d, f.n, &count), WR_OK, "%s", wr_last_error());
        cr_assert_eq(count, 3);
        for (size_t cut = 0; cut < f.n; cut++)
            load_prefix(f.d, cut);
        uint8_t *exact = malloc(f.n);
        cr_assert_not_null(exact);
        memcpy(exact, f.d, f.n);
        uint64_t rng = 0x2545f4914f6cdd1dull + (uint64_t)legacy;
        for (int i = 0; i < 3000; i++)
            load_flipped(exact, f.n, 0, f.n, &rng);
        free(exact);
        pb_free(&p);
        pb_free(&f);
    }
}
