/* PyTorch checkpoint reader: the golden RIFE .pth files and small checkpoints built in memory
 * (tests/io/pth_builder.h) for each pickle feature and container variant.
 *
 * Oracles: the golden values below were read with Python's zipfile + struct and a stand-in
 * unpickler (independent of this reader); the README gives 124 tensors / 5,325,012 parameters;
 * constructed files carry known values. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "runtime/io/weightfile.h"
#include "runtime/numeric.h"
#include "tests/common/testutil.h"
#include "tests/io/pth_builder.h"

static const wr_wtensor *must_find(const wr_weightfile *wf, const char *name)
{
    const wr_wtensor *w = wr_weightfile_find(wf, name);
    cr_assert_not_null(w, "tensor '%s' not found in %s", name, wf->map.path);
    return w;
}

static void assert_shape(const wr_tensor *t, const char *want)
{
    char s[96];
    wr_tensor_shape_str(t, s, sizeof s);
    cr_assert_str_eq(s, want);
}

static const uint8_t *map_end(const wr_weightfile *wf) { return wf->map.data + wf->map.size; }

/* Zero copy: the data lies inside the mapping. */
static void assert_in_map(const wr_weightfile *wf, const wr_tensor *t)
{
    const uint8_t *p = t->data;
    cr_assert(p >= wf->map.data && p + wr_tensor_nbytes(t) <= map_end(wf), "data not in the map");
}

static void open_zip(wr_weightfile *wf, const char *archive, const pb *pkl, const pt_storage *st,
                     int n)
{
    pb f = {0};
    pt_zip(&f, archive, pkl, st, n);
    wr_status s = pt_open(wf, &f, ".pth");
    pb_free(&f);
    cr_assert_eq(s, WR_OK, "open failed: %s", wr_last_error());
}

/* OrderedDict() REDUCE, MARK ... (the caller adds key/tensor pairs) */
static void sd_begin(pb *p)
{
    pk_proto(p, 2);
    pk_global(p, "collections", "OrderedDict");
    pk_op(p, ')');
    pk_op(p, 'R');
    pk_op(p, '(');
}

static void sd_end(pb *p)
{
    pk_op(p, 'u');
    pk_op(p, '.');
}

/* ---------------------------------------------------------------------------------------- */
/* Golden files */

Test(pth, golden_rife47_module_prefix_subset)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/post/rife47_weights_module_prefix_subset.pth"));
    cr_assert_eq(wf.format, WR_FORMAT_PTH);
    cr_assert_eq(wf.n_tensors, 11);
    cr_assert_str_eq(wr_weightfile_meta(&wf, "pth.archive"), "rife47_weights_module_prefix_subset");
    cr_assert_str_eq(wr_weightfile_meta(&wf, "pth.version"), "3");

    const wr_wtensor *w = must_find(&wf, "module.encode.0.weight");
    cr_assert_eq(w, must_find(&wf, "encode.0.weight"), "module. prefix is matched by lookups");
    cr_assert_eq(w->t.dtype, WR_DTYPE_F32);
    assert_shape(&w->t, "[16, 3, 3, 3]");
    assert_in_map(&wf, &w->t);
    cr_assert_eq(((const uint8_t *)w->t.data - wf.map.data) % 64, 0, "torch aligns records to 64");
    const float *v = w->t.data;
    cr_assert(v[0] == 0.0263671875f && v[1] == 0.30859375f && v[2] == 0.2412109375f);
    cr_assert(v[431] == 0.14453125f);

    w = must_find(&wf, "module.block1.convblock.3.beta");
    assert_shape(&w->t, "[1, 128, 1, 1]");
    v = w->t.data;
    double sum = 0;
    for (int i = 0; i < 128; i++)
        sum += (double)v[i];
    cr_assert(v[0] == 0.138671875f && v[1] == 0.73828125f && v[127] == 0.400390625f);
    cr_assert(fabs(sum - 30.218429565429688) < 1e-12, "sum %.17g", sum);

    w = must_find(&wf, "module.block3.lastconv.0.bias");
    assert_shape(&w->t, "[24]");
    v = w->t.data;
    cr_assert(v[0] == -0.02392578125f && v[2] == -0.005767822265625f && v[23] == 0.05859375f);
    wr_weightfile_close(&wf);
}

Test(pth, golden_rife47_full_matches_subset)
{
    wr_weightfile full, sub;
    wr_test_open(&full, wr_test_shared("golden/post/rife47_weights.pth"));
    wr_test_open(&sub, wr_test_shared("golden/post/rife47_weights_module_prefix_subset.pth"));
    cr_assert_eq(full.n_tensors, 124);
    int64_t params = 0;
    double sum = 0;
    for (int64_t i = 0; i < full.n_tensors; i++) {
        const wr_tensor *t = &full.tensors[i].t;
        cr_assert_eq(t->dtype, WR_DTYPE_F32);
        cr_assert(wr_tensor_is_contiguous(t));
        assert_in_map(&full, t);
        int64_t n = wr_tensor_nelements(t);
        params += n;
        for (int64_t k = 0; k < n; k++)
            sum += (double)((const float *)t->data)[k];
    }
    cr_assert_eq(params, 5325012);
    cr_assert(fabs(sum - 629.0500507354736) < 1e-9, "sum of all weights %.17g", sum);
    for (int64_t i = 0; i < sub.n_tensors; i++) {
        const wr_wtensor *s = &sub.tensors[i];
        const wr_wtensor *f = must_find(&full, s->name + strlen("module."));
        cr_assert(wr_tensor_same_shape(&s->t, &f->t), "%s", s->name);
        cr_assert_eq(memcmp(s->t.data, f->t.data, wr_tensor_nbytes(&f->t)), 0, "%s", s->name);
    }
    wr_weightfile_close(&full);
    wr_weightfile_close(&sub);
}

/* ---------------------------------------------------------------------------------------- */
/* Constructed checkpoints */

/* The layout of spec 3.7 B: memoised globals and strings come back through BINGET, and the
 * state dict ends with a BUILD of its _metadata. */
Test(pth, state_dict_with_memo_and_build)
{
    float w[6] = {1, 2, 3, 4, 5, 6}, b[2] = {-1.5f, 0.25f};
    pb p = {0};
    pk_proto(&p, 2);
    pk_global(&p, "collections", "OrderedDict");
    pk_put(&p, 0);
    pk_op(&p, ')');
    pk_op(&p, 'R');
    pk_put(&p, 1);
    pk_op(&p, '(');
    pk_str(&p, "enc.weight");
    pk_global(&p, "torch._utils", "_rebuild_tensor_v2");
    pk_put(&p, 3);
    pk_op(&p, '(');
    pk_op(&p, '(');
    pk_str(&p, "storage");
    pk_put(&p, 4);
    pk_global(&p, "torch", "FloatStorage");
    pk_put(&p, 5);
    pk_str(&p, "0");
    pk_str(&p, "cpu");
    pk_put(&p, 7);
    pk_int(&p, 6);
    pk_op(&p, 't');
    pk_op(&p, 'Q');
    pk_int(&p, 0);
    pk_int(&p, 2), pk_int(&p, 3), pk_op(&p, 0x86);  /* (2, 3) TUPLE2 */
    pk_int(&p, 3), pk_int(&p, 1), pk_op(&p, 0x86);  /* (3, 1) */
    pk_op(&p, 0x89);
    pk_get(&p, 0), pk_op(&p, ')'), pk_op(&p, 'R');
    pk_op(&p, 't');
    pk_op(&p, 'R');
    pk_str(&p, "enc.bias");
    pk_get(&p, 3);
    pk_op(&p, '(');
    pk_op(&p, '(');
    pk_get(&p, 4), pk_get(&p, 5), pk_str(&p, "1"), pk_get(&p, 7), pk_int(&p, 2);
    pk_op(&p, 't');
    pk_op(&p, 'Q');
    pk_int(&p, 0);
    pk_int(&p, 2), pk_op(&p, 0x85);
    pk_int(&p, 1), pk_op(&p, 0x85);
    pk_op(&p, 0x89);
    pk_get(&p, 0), pk_op(&p, ')'), pk_op(&p, 'R');
    pk_op(&p, 't');
    pk_op(&p, 'R');
    pk_op(&p, 'u');
    /* state {'_metadata': OrderedDict({'': {'version': 1}})} */
    pk_op(&p, '}');
    pk_str(&p, "_metadata");
    pk_get(&p, 0), pk_op(&p, ')'), pk_op(&p, 'R');
    pk_str(&p, "");
    pk_op(&p, '}'), pk_str(&p, "version"), pk_int(&p, 1), pk_op(&p, 's');
    pk_op(&p, 's');
    pk_op(&p, 's');
    pk_op(&p, 'b');
    pk_op(&p, '.');
    pt_storage st[2] = {{w, sizeof w}, {b, sizeof b}};
    wr_weightfile wf;
    open_zip(&wf, "archive", &p, st, 2);
    cr_assert_eq(wf.n_tensors, 2);
    cr_assert_str_eq(wf.tensors[0].name, "enc.weight");
    cr_assert_str_eq(wf.tensors[1].name, "enc.bias");
    assert_shape(&wf.tensors[0].t, "[2, 3]");
    assert_shape(&wf.tensors[1].t, "[2]");
    cr_assert_eq(memcmp(wf.tensors[0].t.data, w, sizeof w), 0);
    cr_assert_eq(memcmp(wf.tensors[1].t.data, b, sizeof b), 0);
    assert_in_map(&wf, &wf.tensors[0].t);
    wr_weightfile_close(&wf);
    pb_free(&p);
}

Test(pth, single_tensor_named_after_archive)
{
    uint16_t d[6];
    for (int i = 0; i < 6; i++)
        d[i] = wr_f32_to_bf16((float)i * 0.5f - 1.0f);
    int64_t shape[2] = {2, 3}, stride[2];
    pk_contiguous_strides(2, shape, stride);
    pb p = {0};
    pk_proto(&p, 2);
    pk_tensor(&p, "BFloat16Storage", "0", 6, 0, 2, shape, stride, 0);
    pk_op(&p, '.');
    pt_storage st = {d, sizeof d};
    wr_weightfile wf;
    open_zip(&wf, "pos_emb", &p, &st, 1);
    cr_assert_eq(wf.n_tensors, 1);
    const wr_wtensor *w = must_find(&wf, "pos_emb");
    cr_assert_eq(w->t.dtype, WR_DTYPE_BF16);
    assert_shape(&w->t, "[2, 3]");
    const uint16_t *v = w->t.data;
    for (int i = 0; i < 6; i++)
        cr_assert(wr_bf16_to_f32(v[i]) == (float)i * 0.5f - 1.0f);
    wr_weightfile_close(&wf);
    pb_free(&p);
}

/* Two entries share storage "0" (tied weights); one is a slice with a storage offset. */
Test(pth, storage_offset_and_shared_storage)
{
    float d[10];
    for (int i = 0; i < 10; i++)
        d[i] = (float)i;
    int64_t s23[2] = {2, 3}, t23[2] = {3, 1}, s10[1] = {10}, t10[1] = {1};
    pb p = {0};
    sd_begin(&p);
    pk_str(&p, "slice");
    pk_tensor(&p, "FloatStorage", "0", 10, 2, 2, s23, t23, 0);
    pk_str(&p, "whole");
    pk_tensor(&p, "FloatStorage", "0", 10, 0, 1, s10, t10, 0);
    sd_end(&p);
    pt_storage st = {d, sizeof d};
    wr_weightfile wf;
    open_zip(&wf, "archive", &p, &st, 1);
    const wr_wtensor *a = must_find(&wf, "slice"), *b = must_find(&wf, "whole");
    cr_assert_eq((const char *)a->t.data, (const char *)b->t.data + 2 * sizeof(float));
    const float *v = a->t.data;
    for (int i = 0; i < 6; i++)
        cr_assert(v[i] == (float)(i + 2));
    wr_weightfile_close(&wf);
    pb_free(&p);
}

Test(pth, scalar_and_empty_tensors)
{
    double d[1] = {-3.25};
    int64_t s0[2] = {0, 4}, t0[2] = {4, 1};
    pb p = {0};
    sd_begin(&p);
    pk_str(&p, "scalar");
    pk_tensor(&p, "DoubleStorage", "0", 1, 0, 0, NULL, NULL, 0);
    pk_str(&p, "empty");
    pk_tensor(&p, "FloatStorage", "1", 0, 0, 2, s0, t0, 0);
    sd_end(&p);
    pt_storage st[2] = {{d, sizeof d}, {"", 0}};
    wr_weightfile wf;
    open_zip(&wf, "archive", &p, st, 2);
    const wr_wtensor *s = must_find(&wf, "scalar"), *e = must_find(&wf, "empty");
    cr_assert_eq(s->t.dtype, WR_DTYPE_F64);
    cr_assert_eq(wr_tensor_nelements(&s->t), 1);
    cr_assert(*(const double *)s->t.data == -3.25);
    assert_shape(&e->t, "[0, 4]");
    cr_assert_eq(wr_tensor_nelements(&e->t), 0);
    wr_weightfile_close(&wf);
    pb_free(&p);
}

Test(pth, storage_dtypes)
{
    static const struct {
        const char *storage;
        wr_dtype dtype;
        size_t itemsize;
    } cases[] = {
        {"FloatStorage", WR_DTYPE_F32, 4},   {"HalfStorage", WR_DTYPE_F16, 2},
        {"BFloat16Storage", WR_DTYPE_BF16, 2}, {"DoubleStorage", WR_DTYPE_F64, 8},
        {"LongStorage", WR_DTYPE_I64, 8},    {"IntStorage", WR_DTYPE_I32, 4},
        {"ShortStorage", WR_DTYPE_I16, 2},   {"CharStorage", WR_DTYPE_I8, 1},
        {"ByteStorage", WR_DTYPE_U8, 1},     {"BoolStorage", WR_DTYPE_BOOL, 1},
        {"Float8_e4m3fnStorage", WR_DTYPE_F8_E4M3FN, 1},
        {"Float8_e5m2Storage", WR_DTYPE_F8_E5M2, 1},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    uint8_t bytes[N][32];
    pt_storage st[N];
    pb p = {0};
    sd_begin(&p);
    for (int i = 0; i < N; i++) {
        char key[16], name[32];
        snprintf(key, sizeof key, "%d", i);
        snprintf(name, sizeof name, "t%d", i);
        for (int k = 0; k < 32; k++)
            bytes[i][k] = (uint8_t)(i * 32 + k);
        st[i] = (pt_storage){bytes[i], 4 * cases[i].itemsize};
        int64_t shape[1] = {4}, stride[1] = {1};
        pk_str(&p, name);
        pk_tensor(&p, cases[i].storage, key, 4, 0, 1, shape, stride, 0);
    }
    sd_end(&p);
    wr_weightfile wf;
    open_zip(&wf, "archive", &p, st, N);
    cr_assert_eq(wf.n_tensors, N);
    for (int i = 0; i < N; i++) {
        const wr_tensor *t = &wf.tensors[i].t;
        cr_assert_eq(t->dtype, cases[i].dtype, "%s", cases[i].storage);
        cr_assert_eq(wr_tensor_nbytes(t), 4 * cases[i].itemsize, "%s", cases[i].storage);
        cr_assert_eq(memcmp(t->data, bytes[i], 4 * cases[i].itemsize), 0);
    }
    wr_weightfile_close(&wf);
    pb_free(&p);
}

/* Protocol-4 style opcodes: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL, LONG1, BINFLOAT,
 * plus metadata that must be ignored (an inert NEWOBJ object, a list holding a tensor). */
Test(pth, protocol4_opcodes_and_ignored_values)
{
    float d[3] = {7, 8, 9};
    pb p = {0};
    pk_proto(&p, 4);
    pk_op(&p, 0x95), pb_u64(&p, 0);                 /* FRAME */
    pk_op(&p, '}'), pk_op(&p, 0x94);                /* {} -> memo 0 */
    pk_op(&p, '(');
    pk_op(&p, 0x8c), pb_u8(&p, 1), pb_u8(&p, 'w');  /* SHORT_BINUNICODE 'w' */
    pk_op(&p, 0x8c), pb_u8(&p, 12), pb_bytes(&p, "torch._utils", 12);
    pk_op(&p, 0x8c), pb_u8(&p, 18), pb_bytes(&p, "_rebuild_tensor_v2", 18);
    pk_op(&p, 0x93), pk_op(&p, 0x94);               /* STACK_GLOBAL -> memo 1 */
    pk_op(&p, '(');
    pk_op(&p, '('), pk_str(&p, "storage"), pk_global(&p, "torch", "FloatStorage");
    pk_str(&p, "0"), pk_str(&p, "cpu");
    pk_op(&p, 0x8a), pb_u8(&p, 1), pb_u8(&p, 3);    /* LONG1 3 */
    pk_op(&p, 't'), pk_op(&p, 'Q');
    pk_op(&p, 0x8a), pb_u8(&p, 0);                  /* LONG1 0: offset */
    pk_int(&p, 3), pk_op(&p, 0x85), pk_int(&p, 1), pk_op(&p, 0x85);
    pk_op(&p, 0x89), pk_op(&p, 'N');
    pk_op(&p, 't'), pk_op(&p, 'R');
    pk_op(&p, 0x8c), pb_u8(&p, 2), pb_bytes(&p, "lr", 2);
    pk_op(&p, 'G'), pb_bytes(&p, "\x3f\x50\x62\x4d\xd2\xf1\xa9\xfc", 8); /* 1e-3 */
    pk_op(&p, 0x8c), pb_u8(&p, 4), pb_bytes(&p, "args", 4);
    pk_global(&p, "argparse", "Namespace"), pk_op(&p, ')'), pk_op(&p, 0x81);
    pk_op(&p, '}'), pk_str(&p, "seed"), pk_int(&p, -5), pk_op(&p, 's'), pk_op(&p, 'b');
    pk_op(&p, 0x8c), pb_u8(&p, 4), pb_bytes(&p, "hist", 4);
    pk_op(&p, ']'), pk_op(&p, '(');
    pk_get(&p, 1), pk_op(&p, '('), pk_op(&p, '('), pk_str(&p, "storage");
    pk_global(&p, "torch", "FloatStorage"), pk_str(&p, "0"), pk_str(&p, "cpu"), pk_int(&p, 3);
    pk_op(&p, 't'), pk_op(&p, 'Q'), pk_int(&p, 0), pk_op(&p, ')'), pk_op(&p, ')'), pk_op(&p, 0x89);
    pk_op(&p, 'N'), pk_op(&p, 't'), pk_op(&p, 'R');
    pk_op(&p, 'e');
    pk_op(&p, 'u');
    pk_op(&p, '.');
    pt_storage st = {d, sizeof d};
    wr_weightfile wf;
    open_zip(&wf, "archive", &p, &st, 1);
    cr_assert_eq(wf.n_tensors, 1);
    const wr_wtensor *w = must_find(&wf, "w");
    assert_shape(&w->t, "[3]");
    cr_assert(((const float *)w->t.data)[2] == 9.0f);
    wr_weightfile_close(&wf);
    pb_free(&p);
}

/* {'state_dict': {'a': T}, 'epoch': 3, 'optimizer': {0: T}}: nested tensors are named by
 * their own key; items with non-string keys are skipped. */
Test(pth, nested_state_dict)
{
    float d[2] = {1, 2};
    int64_t s[1] = {2}, t[1] = {1};
    pb p = {0};
    pk_proto(&p, 2);
    pk_op(&p, '}'), pk_op(&p, '(');
    pk_str(&p, "state_dict");
    pk_op(&p, '}'), pk_str(&p, "a"), pk_tensor(&p, "FloatStorage", "0", 2, 0, 1, s, t, 0);
    pk_op(&p, 's');
    pk_str(&p, "epoch"), pk_int(&p, 3);
    pk_str(&p, "optimizer");
    pk_op(&p, '}'), pk_int(&p, 0), pk_tensor(&p, "FloatStorage", "0", 2, 0, 1, s, t, 0);
    pk_op(&p, 's');
    pk_op(&p, 'u'), pk_op(&p, '.');
    pt_storage st = {d, sizeof d};
    wr_weightfile wf;
    open_zip(&wf, "archive", &p, &st, 1);
    cr_assert_eq(wf.n_tensors, 1);
    cr_assert_str_eq(wf.tensors[0].name, "a");
    wr_weightfile_close(&wf);
    pb_free(&p);
}

/* _rebuild_parameter(_rebuild_tensor_v3(UntypedStorage, 1, (2,), (1,), False, OrderedDict(),
 * torch.bfloat16), False, OrderedDict()) and a tensor subclass via _rebuild_from_type_v2. */
Test(pth, rebuild_v3_parameter_and_subclass)
{
    uint16_t d[3] = {0x3f80, 0x4000, 0x4040}; /* bf16 1, 2, 3 */
    float f[2] = {5, 6};
    pb p = {0};
    sd_begin(&p);
    pk_str(&p, "param");
    pk_global(&p, "torch._utils", "_rebuild_parameter");
    pk_op(&p, '(');
    pk_global(&p, "torch._utils", "_rebuild_tensor_v3");
    pk_op(&p, '(');
    pk_storage(&p, "UntypedStorage", "0", 6, 0);
    pk_int(&p, 1), pk_int(&p, 2), pk_op(&p, 0x85), pk_int(&p, 1), pk_op(&p, 0x85);
    pk_op(&p, 0x89), pk_global(&p, "collections", "OrderedDict"), pk_op(&p, ')'), pk_op(&p, 'R');
    pk_global(&p, "torch", "bfloat16");
    pk_op(&p, 't'), pk_op(&p, 'R');
    pk_op(&p, 0x89), pk_global(&p, "collections", "OrderedDict"), pk_op(&p, ')'), pk_op(&p, 'R');
    pk_op(&p, 't'), pk_op(&p, 'R');
    pk_str(&p, "sub");
    pk_global(&p, "torch._tensor", "_rebuild_from_type_v2");
    pk_op(&p, '(');
    pk_global(&p, "torch._utils", "_rebuild_tensor_v2");
    pk_global(&p, "mylib", "MyTensor");
    pk_op(&p, '(');
    pk_storage(&p, "FloatStorage", "1", 2, 0);
    pk_int(&p, 0), pk_int(&p, 2), pk_op(&p, 0x85), pk_int(&p, 1), pk_op(&p, 0x85);
    pk_op(&p, 0x89), pk_op(&p, 'N');
    pk_op(&p, 't');
    pk_op(&p, '}');
    pk_op(&p, 't'), pk_op(&p, 'R');
    sd_end(&p);
    pt_storage st[2] = {{d, sizeof d}, {f, sizeof f}};
    wr_weightfile wf;
    open_zip(&wf, "archive", &p, st, 2);
    const wr_wtensor *w = must_find(&wf, "param");
    cr_assert_eq(w->t.dtype, WR_DTYPE_BF16);
    assert_shape(&w->t, "[2]");
    cr_assert_eq(((const uint16_t *)w->t.data)[0], 0x4000, "offset counts bf16 elements");
    w = must_find(&wf, "sub");
    cr_assert(((const float *)w->t.data)[1] == 6.0f);
    wr_weightfile_close(&wf);
    pb_free(&p);
}

/* ZIP64 extended-information fields in the central directory; another archive folder name. */
Test(pth, zip64_central_extra)
{
    float d[4] = {1, 2, 3, 4};
    int64_t s[2] = {2, 2}, t[2] = {2, 1};
    pb p = {0};
    sd_begin(&p);
    pk_str(&p, "x");
    pk_tensor(&p, "FloatStorage", "0", 4, 0, 2, s, t, 0);
    sd_end(&p);
    pz_entry e[3] = {{"archive/data.pkl", p.d, p.n}, {"archive/byteorder", "little", 6},
                     {"archive/data/0", d, sizeof d}};
    pb f = {0};
    pz_build(&f, e, 3, 1);
    wr_weightfile wf;
    cr_assert_eq(pt_open(&wf, &f, ".pt"), WR_OK, "%s", wr_last_error());
    cr_assert_str_eq(wr_weightfile_meta(&wf, "pth.archive"), "archive");
    cr_assert(((const float *)must_find(&wf, "x")->t.data)[3] == 4.0f);
    wr_weightfile_close(&wf);
    pb_free(&f);
    pb_free(&p);
}

/* Legacy (non-zip) format: storages follow the pickles with an element count and no padding,
 * so a misaligned storage is copied. */
Test(pth, legacy_format)
{
    float a[3] = {0.5f, 1.5f, 2.5f};
    int64_t b[2] = {-7, 1LL << 40};
    int64_t s3[1] = {3}, s2[1] = {2}, t1[1] = {1};
    pb p = {0};
    sd_begin(&p);
    pk_str(&p, "a");
    pk_tensor(&p, "FloatStorage", "0", 3, 0, 1, s3, t1, 1);
    pk_str(&p, "b");
    pk_tensor(&p, "LongStorage", "1", 2, 0, 1, s2, t1, 1);
    sd_end(&p);
    pt_storage st[2] = {{a, sizeof a}, {b, sizeof b}};
    size_t isz[2] = {4, 8};
    pb f = {0};
    pt_legacy(&f, &p, st, isz, 2);
    wr_weightfile wf;
    cr_assert_eq(pt_open(&wf, &f, ".pth"), WR_OK, "%s", wr_last_error());
    cr_assert_str_eq(wr_weightfile_meta(&wf, "pth.format"), "legacy");
    const wr_wtensor *ta = must_find(&wf, "a"), *tb = must_find(&wf, "b");
    cr_assert_eq(ta->t.dtype, WR_DTYPE_F32);
    cr_assert_eq(tb->t.dtype, WR_DTYPE_I64);
    cr_assert_eq(memcmp(ta->t.data, a, sizeof a), 0);
    cr_assert_eq(memcmp(tb->t.data, b, sizeof b), 0);
    cr_assert_eq((uintptr_t)tb->t.data % 8, 0);
    wr_weightfile_close(&wf);
    pb_free(&f);
    pb_free(&p);
}

/* Files written by CPython's own pickler (protocols 2 and 4) and zipfile module, with stand-in
 * classes that reduce exactly as torch tensors do (tools/gen_pth_seeds.py; also the fuzz seeds).
 * Independent writer: FRAME/MEMOIZE/STACK_GLOBAL come from CPython, not from our builder, and
 * zipfile writes classic end records without ZIP64 and without 64-byte alignment. */
Test(pth, cpython_pickler_files)
{
    static const char *const files[] = {"state_dict_zip.pth", "state_dict_proto4.pth",
                                        "nested.pth", "legacy.pth"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fuzz/corpus_pth/%s", files[f]);
        wr_weightfile wf;
        wr_test_open(&wf, path);
        cr_assert_eq(wf.n_tensors, 5, "%s", path);
        const wr_wtensor *w = must_find(&wf, "module.enc.weight");
        assert_shape(&w->t, "[2, 2, 3]");
        for (int i = 0; i < 12; i++)
            cr_assert(((const float *)w->t.data)[i] == (float)i, "%s", path);
        w = must_find(&wf, "enc.slice");
        for (int i = 0; i < 4; i++)
            cr_assert(((const float *)w->t.data)[i] == (float)(i + 4), "%s", path);
        w = must_find(&wf, "dec.bias");
        cr_assert_eq(w->t.dtype, WR_DTYPE_F16);
        const uint16_t *h = w->t.data;
        cr_assert(wr_f16_to_f32(h[0]) == 1.0f && wr_f16_to_f32(h[1]) == 2.0f &&
                  wr_f16_to_f32(h[2]) == -1.0f && h[3] == 0);
        w = must_find(&wf, "steps");
        cr_assert_eq(w->t.dtype, WR_DTYPE_I64);
        cr_assert(((const int64_t *)w->t.data)[0] == -3 &&
                  ((const int64_t *)w->t.data)[1] == 1LL << 40);
        w = must_find(&wf, "scalar");
        cr_assert_eq(wr_tensor_nelements(&w->t), 1);
        cr_assert(*(const float *)w->t.data == 11.0f);
        wr_weightfile_close(&wf);
    }
    wr_weightfile wf;
    wr_test_open(&wf, "tests/fuzz/corpus_pth/single_tensor.pt");
    cr_assert_eq(wf.n_tensors, 1);
    const wr_wtensor *w = must_find(&wf, "pos_emb");
    cr_assert_eq(((const uint16_t *)w->t.data)[5], 0x3f85);
    wr_weightfile_close(&wf);
}

/* rife47_weights.pth (F32) against rife47_weights.safetensors (the same 124 tensors as F16,
 * lossless): the same names, shapes and values, bit for bit after F16 -> F32. The module-
 * prefixed subset must match too. */
Test(pth, golden_rife47_equals_safetensors)
{
    wr_weightfile pth, sub, st;
    wr_test_open(&pth, wr_test_shared("golden/post/rife47_weights.pth"));
    wr_test_open(&sub, wr_test_shared("golden/post/rife47_weights_module_prefix_subset.pth"));
    wr_test_open(&st, wr_test_shared("golden/post/rife47_weights.safetensors"));
    cr_assert_eq(st.format, WR_FORMAT_SAFETENSORS);
    cr_assert_eq(pth.n_tensors, st.n_tensors);
    int64_t compared = 0;
    for (int64_t i = 0; i < st.n_tensors; i++) {
        const char *name = st.tensors[i].name;
        const wr_wtensor *p = wr_weightfile_find(&pth, name);
        cr_assert_not_null(p, "'%s' of the safetensors file is missing from the .pth", name);
        cr_assert_str_eq(p->name, name, "exact name");
        cr_assert_eq(p->t.dtype, WR_DTYPE_F32);
        cr_assert_eq(p->t.n_dims, st.tensors[i].t.n_dims, "%s", name);
        cr_assert(wr_tensor_same_shape(&p->t, &st.tensors[i].t), "%s", name);
        int64_t n1, n2;
        float *a = wr_test_load_f32(&pth, name, &n1), *b = wr_test_load_f32(&st, name, &n2);
        cr_assert_eq(n1, n2);
        cr_assert_eq(memcmp(a, b, (size_t)n1 * sizeof *a), 0, "%s: values differ", name);
        compared += n1;
        const wr_wtensor *s = wr_weightfile_find(&sub, name);
        if (s) {
            float *c = wr_test_load_f32(&sub, name, &n2);
            cr_assert_eq(n2, n1);
            cr_assert_eq(memcmp(a, c, (size_t)n1 * sizeof *a), 0, "%s (subset)", name);
            free(c);
        }
        free(a);
        free(b);
    }
    cr_assert_eq(compared, 5325012);
    wr_weightfile_close(&pth);
    wr_weightfile_close(&sub);
    wr_weightfile_close(&st);
}
