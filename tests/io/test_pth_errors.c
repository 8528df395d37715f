/* PyTorch checkpoint reader: malformed, hostile and unsupported inputs give the right status
 * and a message naming the problem (and, for pickle errors, the opcode and its file offset). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "runtime/io/weightfile.h"
#include "tests/io/pth_builder.h"

/* Opens file and checks the status and that each non-NULL needle is in the message. */
static void expect_fail(const pb *file, wr_status want, const char *n1, const char *n2,
                        const char *n3)
{
    wr_weightfile wf;
    wr_status st = pt_open(&wf, file, ".pth");
    const char *msg = wr_last_error();
    cr_assert_eq(st, want, "status %s, want %s (%s)", wr_status_name(st), wr_status_name(want),
                 msg);
    const char *needles[3] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        cr_assert(!needles[i] || strstr(msg, needles[i]), "message '%s' lacks '%s'", msg,
                  needles[i]);
    cr_assert(strstr(msg, "/tmp/wr_pth_test_"), "message '%s' does not name the file", msg);
}

static void zip_of(pb *f, const pb *pkl, const pt_storage *st, int n)
{
    pt_zip(f, "archive", pkl, st, n);
}

static const float four[4] = {1, 2, 3, 4};

/* A valid one-tensor state dict whose storage "0" holds `numel` floats. */
static void one_tensor(pb *p, int64_t numel, int64_t offset, int n_dims, const int64_t *shape,
                       const int64_t *stride)
{
    pk_proto(p, 2);
    pk_op(p, '}');
    pk_str(p, "w");
    pk_tensor(p, "FloatStorage", "0", numel, offset, n_dims, shape, stride, 0);
    pk_op(p, 's');
    pk_op(p, '.');
}

/* ---------------------------------------------------------------------------------------- */
/* Pickle */

Test(pth_errors, unsupported_opcode_names_byte_and_offset)
{
    pb p = {0}, f = {0};
    pk_proto(&p, 2);
    pk_op(&p, '}');
    pk_op(&p, 'i'); /* INST at pickle offset 3; data.pkl data starts at file offset 64 */
    pb_bytes(&p, "os\nsystem\n", 10);
    pk_op(&p, '.');
    zip_of(&f, &p, NULL, 0);
    expect_fail(&f, WR_E_UNSUPPORTED, "opcode 0x69 (INST)", "file offset 67", "archive/data.pkl");
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, unknown_byte_is_rejected)
{
    pb p = {0}, f = {0};
    pk_proto(&p, 2);
    pk_op(&p, 0xff);
    zip_of(&f, &p, NULL, 0);
    expect_fail(&f, WR_E_UNSUPPORTED, "opcode 0xff (not a pickle opcode)", "file offset 66", NULL);
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, truncated_pickle_without_stop)
{
    int64_t s[1] = {4}, t[1] = {1};
    pb p = {0}, f = {0};
    one_tensor(&p, 4, 0, 1, s, t);
    p.n--; /* drop STOP */
    pt_storage st = {four, sizeof four};
    zip_of(&f, &p, &st, 1);
    expect_fail(&f, WR_E_FORMAT, "truncated pickle: no STOP", NULL, NULL);
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, truncated_argument)
{
    pb p = {0}, f = {0};
    pk_proto(&p, 2);
    pk_op(&p, 'X');
    pb_u32(&p, 100);
    pb_bytes(&p, "abc", 3);
    zip_of(&f, &p, NULL, 0);
    expect_fail(&f, WR_E_FORMAT, "BINUNICODE", "argument of 100 bytes, 3 left", "file offset 66");
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, memo_never_set)
{
    pb p = {0}, f = {0};
    pk_proto(&p, 2);
    pk_get(&p, 5);
    pk_op(&p, '.');
    zip_of(&f, &p, NULL, 0);
    expect_fail(&f, WR_E_FORMAT, "BINGET", "memo index 5 was never set", NULL);
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, stack_underflow_below_mark)
{
    pb p = {0}, f = {0};
    pk_proto(&p, 2);
    pk_global(&p, "collections", "OrderedDict");
    pk_op(&p, '(');
    pk_op(&p, 'R');
    zip_of(&f, &p, NULL, 0);
    expect_fail(&f, WR_E_FORMAT, "REDUCE", "needs 1 stack item(s), 0 available", NULL);
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, protocol_too_new)
{
    pb p = {0}, f = {0};
    pk_proto(&p, 6);
    zip_of(&f, &p, NULL, 0);
    expect_fail(&f, WR_E_UNSUPPORTED, "pickle protocol 6", NULL, NULL);
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, unknown_storage_type)
{
    pb p = {0}, f = {0};
    pk_proto(&p, 2);
    pk_storage(&p, "QInt8Storage", "0", 4, 0);
    pk_op(&p, '.');
    zip_of(&f, &p, NULL, 0);
    expect_fail(&f, WR_E_UNSUPPORTED, "unknown storage type torch.QInt8Storage", "BINPERSID", NULL);
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, bad_rebuild_arguments)
{
    pb p = {0}, f = {0};
    pk_proto(&p, 2);
    pk_global(&p, "torch._utils", "_rebuild_tensor_v2");
    pk_op(&p, '(');
    pk_str(&p, "not a storage");
    pk_int(&p, 0), pk_op(&p, ')'), pk_op(&p, ')');
    pk_op(&p, 't'), pk_op(&p, 'R'), pk_op(&p, '.');
    zip_of(&f, &p, NULL, 0);
    expect_fail(&f, WR_E_FORMAT, "_rebuild_tensor_v2: argument 0 is not a storage", NULL, NULL);
    pb_free(&p), pb_free(&f);
}

/* ---------------------------------------------------------------------------------------- */
/* Tensors against their storages */

Test(pth_errors, tensor_beyond_storage)
{
    int64_t s[1] = {3}, t[1] = {1};
    pb p = {0}, f = {0};
    one_tensor(&p, 4, 2, 1, s, t); /* elements [2, 5) of a 4-element storage */
    pt_storage st = {four, sizeof four};
    zip_of(&f, &p, &st, 1);
    expect_fail(&f, WR_E_FORMAT, "tensor 'w': 3 elements of 4 bytes from element offset 2",
                "exceed storage '0' (16 bytes)", NULL);
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, storage_larger_than_record)
{
    int64_t s[1] = {4}, t[1] = {1};
    pb p = {0}, f = {0};
    one_tensor(&p, 5, 0, 1, s, t);
    pt_storage st = {four, sizeof four};
    zip_of(&f, &p, &st, 1);
    expect_fail(&f, WR_E_FORMAT, "declares 5 elements of FloatStorage", "record holds 16 bytes",
                NULL);
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, missing_storage_record)
{
    int64_t s[1] = {4}, t[1] = {1};
    pb p = {0}, f = {0};
    one_tensor(&p, 4, 0, 1, s, t);
    zip_of(&f, &p, NULL, 0);
    expect_fail(&f, WR_E_FORMAT, "storage record 'archive/data/0' is missing", NULL, NULL);
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, non_contiguous_strides)
{
    int64_t s[2] = {2, 2}, t[2] = {1, 2}; /* a transposed save */
    pb p = {0}, f = {0};
    one_tensor(&p, 4, 0, 2, s, t);
    pt_storage st = {four, sizeof four};
    zip_of(&f, &p, &st, 1);
    expect_fail(&f, WR_E_UNSUPPORTED, "tensor 'w'", "non-contiguous strides", NULL);
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, too_many_dims)
{
    enum { N = WR_MAX_DIMS + 1 };
    _Static_assert(N <= 8, "the pickle reader keeps at most 8 dims");
    int64_t s[N], t[N];
    for (int i = 0; i < N; i++)
        s[i] = i < N - 2 ? 1 : 2;
    pk_contiguous_strides(N, s, t);
    pb p = {0}, f = {0};
    one_tensor(&p, 4, 0, N, s, t);
    pt_storage st = {four, sizeof four};
    zip_of(&f, &p, &st, 1);
    char want[64];
    snprintf(want, sizeof want, "%d dimensions (at most %d supported)", N, WR_MAX_DIMS);
    expect_fail(&f, WR_E_UNSUPPORTED, want, NULL, NULL);
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, complex_storage)
{
    int64_t s[1] = {2}, t[1] = {1};
    pb p = {0}, f = {0};
    pk_proto(&p, 2);
    pk_op(&p, '}');
    pk_str(&p, "z");
    pk_tensor(&p, "ComplexFloatStorage", "0", 2, 0, 1, s, t, 0);
    pk_op(&p, 's'), pk_op(&p, '.');
    pt_storage st = {four, sizeof four};
    zip_of(&f, &p, &st, 1);
    expect_fail(&f, WR_E_UNSUPPORTED, "element type ComplexFloatStorage is not supported", NULL,
                NULL);
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, not_a_state_dict)
{
    pb p = {0}, f = {0};
    pk_proto(&p, 2);
    pk_op(&p, ']');
    pk_op(&p, '.');
    zip_of(&f, &p, NULL, 0);
    expect_fail(&f, WR_E_UNSUPPORTED, "holds a list, not a state dict", NULL, NULL);
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, duplicate_names_from_nested_dicts)
{
    int64_t s[1] = {4}, t[1] = {1};
    pb p = {0}, f = {0};
    pk_proto(&p, 2);
    pk_op(&p, '}'), pk_op(&p, '(');
    for (int i = 0; i < 2; i++) {
        pk_str(&p, i ? "params_ema" : "params");
        pk_op(&p, '}'), pk_str(&p, "w");
        pk_tensor(&p, "FloatStorage", "0", 4, 0, 1, s, t, 0);
        pk_op(&p, 's');
    }
    pk_op(&p, 'u'), pk_op(&p, '.');
    pt_storage st = {four, sizeof four};
    zip_of(&f, &p, &st, 1);
    expect_fail(&f, WR_E_FORMAT, "duplicate tensor name 'w'", NULL, NULL);
    pb_free(&p), pb_free(&f);
}

Test(pth_errors, deeply_nested_dicts)
{
    pb p = {0}, f = {0};
    pk_proto(&p, 2);
    for (int i = 0; i < 80; i++)
        pk_op(&p, '}'), pk_str(&p, "k");
    pk_op(&p, '}');
    for (int i = 0; i < 80; i++)
        pk_op(&p, 's');
    pk_op(&p, '.');
    zip_of(&f, &p, NULL, 0);
    expect_fail(&f, WR_E_FORMAT, "nested deeper than 64", NULL, NULL);
    pb_free(&p), pb_free(&f);
}

/* A dict shared through the memo at every level would be visited 2^40 times. */
Test(pth_errors, shared_containers_are_bounded)
{
    int64_t s[1] = {4}, t[1] = {1};
    pb p = {0}, f = {0};
    pk_proto(&p, 2);
    pk_op(&p, '}'), pk_str(&p, "w"), pk_tensor(&p, "FloatStorage", "0", 4, 0, 1, s, t, 0);
    pk_op(&p, 's'), pk_put(&p, 0);
    for (int i = 1; i <= 40; i++) {
        pk_op(&p, '}'), pk_op(&p, '(');
        pk_str(&p, "a"), pk_get(&p, (uint8_t)(i - 1)), pk_str(&p, "b"), pk_get(&p, (uint8_t)(i - 1));
        pk_op(&p, 'u'), pk_put(&p, (uint8_t)i), pk_op(&p, '0');
    }
    pk_get(&p, 40), pk_op(&p, '.');
    pt_storage st = {four, sizeof four};
    zip_of(&f, &p, &st, 1);
    wr_weightfile wf;
    wr_status st_ = pt_open(&wf, &f, ".pth");
    cr_assert_neq(st_, WR_OK);
    cr_assert(strstr(wr_last_error(), "visits more than") ||
              strstr(wr_last_error(), "duplicate tensor name"), "%s", wr_last_error());
    pb_free(&p), pb_free(&f);
}

/* ---------------------------------------------------------------------------------------- */
/* Zip container */

static void valid_zip(pb *f)
{
    int64_t s[1] = {4}, t[1] = {1};
    pb p = {0};
    one_tensor(&p, 4, 0, 1, s, t);
    pt_storage st = {four, sizeof four};
    zip_of(f, &p, &st, 1);
    pb_free(&p);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

Test(pth_errors, zip_bad_central_directory)
{
    pb f = {0};
    valid_zip(&f);
    uint32_t cd = rd32(f.d + f.n - 22 + 16);
    f.d[cd] ^= 0xff;
    expect_fail(&f, WR_E_FORMAT, "central directory entry 0", "bad signature", NULL);
    pb_free(&f);
}

Test(pth_errors, zip_directory_beyond_file)
{
    pb f = {0};
    valid_zip(&f);
    /* both end records point the directory past the end */
    uint64_t far = f.n + 100;
    uint8_t *z64 = f.d + f.n - 22 - 20 - 56;
    cr_assert_eq(rd32(z64), 0x06064b50u);
    memcpy(z64 + 48, &far, 8);
    expect_fail(&f, WR_E_FORMAT, "central directory", "beyond the end of the file", NULL);
    pb_free(&f);
}

Test(pth_errors, zip_without_end_record)
{
    pb f = {0};
    valid_zip(&f);
    f.n -= 22;
    expect_fail(&f, WR_E_FORMAT, "no end-of-central-directory record", NULL, NULL);
    pb_free(&f);
}

Test(pth_errors, zip_compressed_entry)
{
    pb f = {0};
    valid_zip(&f);
    uint32_t cd = rd32(f.d + f.n - 22 + 16);
    f.d[cd + 10] = 8; /* deflate */
    expect_fail(&f, WR_E_UNSUPPORTED, "'archive/data.pkl' is compressed (method 8)", NULL, NULL);
    pb_free(&f);
}

Test(pth_errors, zip_entry_data_beyond_file)
{
    pb f = {0};
    valid_zip(&f);
    uint32_t cd = rd32(f.d + f.n - 22 + 16);
    uint32_t huge = 0x7fffffff;
    memcpy(f.d + cd + 20, &huge, 4);
    memcpy(f.d + cd + 24, &huge, 4);
    expect_fail(&f, WR_E_FORMAT, "entry 'archive/data.pkl': data [64, +2147483647)",
                "beyond the end", NULL);
    pb_free(&f);
}

Test(pth_errors, zip_without_data_pkl)
{
    pz_entry e[1] = {{"model/weights.bin", four, sizeof four}};
    pb f = {0};
    pz_build(&f, e, 1, 0);
    expect_fail(&f, WR_E_FORMAT, "no 'model/data.pkl' record", NULL, NULL);
    pb_free(&f);
}

Test(pth_errors, big_endian_byteorder)
{
    int64_t s[1] = {4}, t[1] = {1};
    pb p = {0}, f = {0};
    one_tensor(&p, 4, 0, 1, s, t);
    pz_entry e[3] = {{"a/data.pkl", p.d, p.n}, {"a/byteorder", "big", 3},
                     {"a/data/0", four, sizeof four}};
    pz_build(&f, e, 3, 0);
    expect_fail(&f, WR_E_UNSUPPORTED, "'a/byteorder' says 'big'", NULL, NULL);
    pb_free(&p), pb_free(&f);
}

/* ---------------------------------------------------------------------------------------- */
/* Legacy format */

Test(pth_errors, legacy_wrong_magic)
{
    pb f = {0};
    pk_proto(&f, 2);
    pk_int(&f, 12345);
    pk_op(&f, '.');
    expect_fail(&f, WR_E_FORMAT, "not torch's legacy magic number", NULL, NULL);
    pb_free(&f);
}

Test(pth_errors, legacy_truncated_storage)
{
    int64_t s[1] = {4}, t[1] = {1};
    pb p = {0}, f = {0};
    pk_proto(&p, 2);
    pk_op(&p, '}'), pk_str(&p, "w");
    pk_tensor(&p, "FloatStorage", "0", 4, 0, 1, s, t, 1);
    pk_op(&p, 's'), pk_op(&p, '.');
    pt_storage st = {four, sizeof four};
    size_t isz = 4;
    pt_legacy(&f, &p, &st, &isz, 1);
    f.n -= 1;
    expect_fail(&f, WR_E_FORMAT, "legacy: storage '0': 4 elements of 4 bytes", "exceed the file",
                NULL);
    pb_free(&p), pb_free(&f);
}

/* A quantized tensor (torch._utils._rebuild_qtensor) is rejected by name, not skipped. */
Test(pth_errors, unhandled_torch_rebuild_function)
{
    pb p = {0}, f = {0};
    pk_proto(&p, 2);
    pk_op(&p, '}');
    pk_str(&p, "q");
    pk_global(&p, "torch._utils", "_rebuild_qtensor");
    pk_op(&p, '('), pk_int(&p, 0), pk_op(&p, 't'), pk_op(&p, 'R');
    pk_op(&p, 's'), pk_op(&p, '.');
    zip_of(&f, &p, NULL, 0);
    expect_fail(&f, WR_E_UNSUPPORTED, "tensor 'q': built by torch._utils._rebuild_qtensor", NULL,
                NULL);
    pb_free(&p), pb_free(&f);
}
