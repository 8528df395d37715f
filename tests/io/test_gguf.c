/* GGUF: the golden files open with the documented layout, dequantised values equal the
 * reference exactly, the writer round-trips every value type, bad files give clear errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/io/gguf_write.h"
#include "runtime/quant.h"
#include "tests/common/testutil.h"

static const char *const quants[] = {"Q8_0", "Q4_0", "Q5_0"};
static const char *const checked[] = {"text_embedding.0.weight", "blocks.0.self_attn.q.weight",
                                      "blocks.1.ffn.2.weight", "head.head.weight"};

Test(gguf, golden_layout)
{
    for (int q = 0; q < 3; q++) {
        char rel[128];
        snprintf(rel, sizeof rel, "golden/gguf/dit_t2v_%s.gguf", quants[q]);
        wr_weightfile wf;
        wr_test_open(&wf, wr_test_shared(rel));
        const wr_gguf *g = wr_gguf_of(&wf);
        cr_assert_not_null(g);
        cr_assert_eq(g->version, 3);
        cr_assert_eq(g->alignment, 32);
        cr_assert_eq(wf.n_tensors, 69);
        cr_assert_str_eq(wr_weightfile_meta(&wf, "general.architecture"), "wan");
        uint64_t qv;
        cr_assert(wr_gguf_get_u64(g, "general.quantization_version", &qv));
        cr_assert_eq(qv, 2);
        const wr_wtensor *pe = wr_weightfile_find(&wf, "patch_embedding.weight");
        cr_assert_eq(pe->t.dtype, WR_DTYPE_F32);
        cr_assert_eq(pe->t.n_dims, 5);
        int64_t want_ne[5] = {2, 2, 1, 16, 256};
        for (int d = 0; d < 5; d++)
            cr_assert_eq(pe->t.ne[d], want_ne[d]);
        const wr_wtensor *ffn = wr_weightfile_find(&wf, "blocks.0.ffn.0.weight");
        wr_dtype want;
        cr_assert(wr_dtype_from_name(quants[q], &want));
        cr_assert_eq(ffn->t.dtype, want);
        cr_assert_eq(ffn->t.ne[0], 256);
        cr_assert_eq(ffn->t.ne[1], 512);
        cr_assert_eq(wr_weightfile_find(&wf, "blocks.0.modulation")->t.dtype, WR_DTYPE_F32);
        wr_weightfile_close(&wf);
    }
}

Test(gguf, dequantised_values_equal_reference_bitwise)
{
    for (int q = 0; q < 3; q++) {
        char rel[128];
        snprintf(rel, sizeof rel, "golden/gguf/dit_t2v_%s.gguf", quants[q]);
        wr_weightfile wf, ref;
        wr_test_open(&wf, wr_test_shared(rel));
        snprintf(rel, sizeof rel, "golden/gguf/dit_t2v_%s_ref.safetensors", quants[q]);
        wr_test_open(&ref, wr_test_shared(rel));
        for (int i = 0; i < 4; i++) {
            char refname[128];
            snprintf(refname, sizeof refname, "dequant.%s", checked[i]);
            int64_t n, nref;
            float *got = wr_test_load_f32(&wf, checked[i], &n);
            float *want = wr_test_load_f32(&ref, refname, &nref);
            cr_assert_eq(n, nref);
            cr_assert_eq(memcmp(got, want, (size_t)n * 4), 0, "%s %s differs", quants[q], checked[i]);
            free(got);
            free(want);
        }
        wr_weightfile_close(&wf);
        wr_weightfile_close(&ref);
    }
}

Test(gguf, writer_round_trip)
{
    char path[128];
    snprintf(path, sizeof path, "/tmp/wanrt-gguf-%d.gguf", (int)getpid());
    wr_gguf_writer *w;
    cr_assert_eq(wr_gguf_writer_new(&w), WR_OK);
    float data[64];
    for (int i = 0; i < 64; i++)
        data[i] = (float)i - 10.5f;
    int64_t ne[2] = {32, 2};
    wr_tensor t;
    cr_assert(wr_tensor_init(&t, WR_DTYPE_F32, 2, ne, data));
    const char *toks[3] = {"<pad>", "</s>", "\xe2\x96\x81hello"};
    float scores[3] = {0, 0, -3.5f};
    cr_assert_eq(wr_gguf_writer_add_str(w, "general.architecture", "t5encoder"), WR_OK);
    cr_assert_eq(wr_gguf_writer_add_u32(w, "t5encoder.block_count", 24), WR_OK);
    cr_assert_eq(wr_gguf_writer_add_f32(w, "x.eps", 1e-6f), WR_OK);
    cr_assert_eq(wr_gguf_writer_add_bool(w, "x.flag", true), WR_OK);
    cr_assert_eq(wr_gguf_writer_add_i32(w, "x.neg", -7), WR_OK);
    cr_assert_eq(wr_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", toks, 3), WR_OK);
    cr_assert_eq(wr_gguf_writer_add_array(w, "tokenizer.ggml.scores", WR_GGUF_FLOAT32, scores, 3), WR_OK);
    cr_assert_eq(wr_gguf_writer_add_tensor(w, "w", &t), WR_OK);
    cr_assert_eq(wr_gguf_writer_add_tensor(w, "w2", &t), WR_OK);
    cr_assert_eq(wr_gguf_writer_write(w, path, 64), WR_OK, "%s", wr_last_error());
    wr_gguf_writer_free(w);

    wr_weightfile wf;
    wr_test_open(&wf, path);
    const wr_gguf *g = wr_gguf_of(&wf);
    cr_assert_eq(g->alignment, 64);
    uint64_t u;
    cr_assert(wr_gguf_get_u64(g, "t5encoder.block_count", &u));
    cr_assert_eq(u, 24);
    double f;
    cr_assert(wr_gguf_get_f64(g, "x.eps", &f));
    cr_assert_float_eq(f, 1e-6, 1e-12);
    cr_assert(wr_gguf_get_f64(g, "x.neg", &f));
    cr_assert_float_eq(f, -7.0, 0);
    const wr_gguf_kv *kv = wr_gguf_find(g, "tokenizer.ggml.tokens");
    cr_assert_eq(kv->value.n, 3);
    cr_assert_eq(kv->value.items[2].str_len, strlen(toks[2]));
    cr_assert_eq(memcmp(kv->value.items[2].str, toks[2], strlen(toks[2])), 0);
    kv = wr_gguf_find(g, "tokenizer.ggml.scores");
    cr_assert_float_eq(kv->value.items[2].num.f, -3.5, 0);
    cr_assert_str_eq(wr_weightfile_meta(&wf, "tokenizer.ggml.tokens"), "[array of 3 string]");
    const wr_wtensor *w2 = wr_weightfile_find(&wf, "w2");
    cr_assert_eq(w2->t.ne[0], 32);
    cr_assert_eq(((uintptr_t)w2->t.data - (uintptr_t)wf.map.data) % 64, 0);
    cr_assert_eq(memcmp(w2->t.data, data, sizeof data), 0);
    wr_weightfile_close(&wf);
    unlink(path);
}

/* Hand-built header pieces for error cases. */
typedef struct buf {
    uint8_t b[4096];
    size_t n;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void header(buf *b, uint32_t version, uint64_t nt, uint64_t nkv)
{
    b->n = 0;
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, nt);
    put_u64(b, nkv);
}

static void tensor_info(buf *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off)
{
    put_str(b, name);
    put_u32(b, nd);
    for (uint32_t i = 0; i < nd; i++)
        put_u64(b, ne[i]);
    put_u32(b, type);
    put_u64(b, off);
}

static void expect_error(buf *b, size_t data_bytes, wr_status want, const char *needle)
{
    char path[128];
    snprintf(path, sizeof path, "/tmp/wanrt-gguf-bad-%d.gguf", (int)getpid());
    FILE *f = fopen(path, "wb");
    fwrite(b->b, 1, b->n, f);
    size_t pad = (32 - b->n % 32) % 32 + data_bytes;
    for (size_t i = 0; i < pad; i++)
        fputc(0, f);
    fclose(f);
    wr_weightfile wf;
    wr_status st = wr_weightfile_open(&wf, path);
    cr_assert_eq(st, want, "%s: %s", wr_status_name(st), wr_last_error());
    cr_assert(strstr(wr_last_error(), needle), "'%s' lacks '%s'", wr_last_error(), needle);
    cr_assert(strstr(wr_last_error(), path), "the message must name the file");
    unlink(path);
}

Test(gguf, malformed_files_give_clear_errors)
{
    buf b;
    uint64_t ne[2] = {32, 2};
    header(&b, 1, 0, 0);
    expect_error(&b, 0, WR_E_UNSUPPORTED, "version 1");
    header(&b, 3, 1ull << 60, 0);
    expect_error(&b, 0, WR_E_FORMAT, "more than the file can hold");
    header(&b, 3, 1, 0);
    tensor_info(&b, "w", 2, ne, 99, 0);
    expect_error(&b, 256, WR_E_UNSUPPORTED, "ggml type 99");
    header(&b, 3, 1, 0);
    tensor_info(&b, "w", 2, ne, 0, 0);
    expect_error(&b, 100, WR_E_FORMAT, "exceeds the data section");
    header(&b, 3, 1, 0);
    tensor_info(&b, "w", 2, ne, 0, 8);
    expect_error(&b, 512, WR_E_FORMAT, "not aligned");
    uint64_t odd[2] = {33, 2};
    header(&b, 3, 1, 0);
    tensor_info(&b, "w", 2, odd, 8, 0);
    expect_error(&b, 512, WR_E_FORMAT, "not a multiple of the Q8_0 block");
    uint64_t huge[3] = {1ull << 40, 1ull << 40, 1ull << 40};
    header(&b, 3, 1, 0);
    tensor_info(&b, "w", 3, huge, 0, 0);
    expect_error(&b, 0, WR_E_FORMAT, "overflows");
    header(&b, 3, 2, 0);
    tensor_info(&b, "w", 2, ne, 0, 0);
    tensor_info(&b, "w", 2, ne, 0, 256);
    expect_error(&b, 512, WR_E_FORMAT, "duplicate tensor name 'w'");
    header(&b, 3, 0, 1);
    put_str(&b, WR_GGUF_KEY_ALIGNMENT);
    put_u32(&b, WR_GGUF_UINT32);
    put_u32(&b, 48);
    expect_error(&b, 0, WR_E_FORMAT, "power of two");
    header(&b, 3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, 77);
    expect_error(&b, 0, WR_E_FORMAT, "unknown value type 77");
    header(&b, 3, 0, 1);
    put_str(&b, "arr");
    put_u32(&b, WR_GGUF_ARRAY);
    put_u32(&b, WR_GGUF_UINT32);
    put_u64(&b, 1ull << 62);
    expect_error(&b, 0, WR_E_FORMAT, "exceeds the file");
    header(&b, 3, 1, 0);
    put_u64(&b, 1ull << 40); /* name length past the end */
    expect_error(&b, 64, WR_E_FORMAT, "truncated GGUF");
}

/* comfy.gguf.orig_shape.<name>: the PyTorch shape of a tensor ComfyUI-GGUF stored reshaped. */
static wr_status write_with_orig_shape(const char *path, wr_dtype dt, const void *data, const int64_t *ne,
                                       const int32_t *orig, int n_orig)
{
    wr_gguf_writer *w;
    cr_assert_eq(wr_gguf_writer_new(&w), WR_OK);
    wr_tensor t;
    cr_assert(wr_tensor_init(&t, dt, 2, ne, (void *)data));
    cr_assert_eq(wr_gguf_writer_add_array(w, "comfy.gguf.orig_shape.conv", WR_GGUF_INT32, orig, (uint64_t)n_orig),
                 WR_OK);
    cr_assert_eq(wr_gguf_writer_add_tensor(w, "conv", &t), WR_OK);
    cr_assert_eq(wr_gguf_writer_write(w, path, 0), WR_OK, "%s", wr_last_error());
    wr_gguf_writer_free(w);
    wr_weightfile wf;
    wr_status st = wr_weightfile_open(&wf, path);
    if (st == WR_OK)
        wr_weightfile_close(&wf);
    return st;
}

Test(gguf, comfy_orig_shape_gives_the_logical_shape)
{
    char path[128];
    snprintf(path, sizeof path, "/tmp/wanrt-gguf-orig-%d.gguf", (int)getpid());
    static float data[2 * 3 * 4 * 2];
    int64_t ne[2] = {8, 6};
    const int32_t orig[4] = {2, 3, 4, 2}; /* torch [2, 3, 4, 2] stored as [6, 8] */
    cr_assert_eq(write_with_orig_shape(path, WR_DTYPE_F32, data, ne, orig, 4), WR_OK, "%s", wr_last_error());
    wr_weightfile wf;
    wr_test_open(&wf, path);
    const wr_wtensor *t = wr_weightfile_find(&wf, "conv");
    cr_assert_eq(t->t.n_dims, 4);
    cr_assert(t->t.ne[0] == 2 && t->t.ne[1] == 4 && t->t.ne[2] == 3 && t->t.ne[3] == 2);
    wr_weightfile_close(&wf);
    const int32_t wrong[2] = {5, 9};
    cr_assert_eq(write_with_orig_shape(path, WR_DTYPE_F32, data, ne, wrong, 2), WR_E_FORMAT);
    cr_assert(strstr(wr_last_error(), "comfy.gguf.orig_shape.conv"), "%s", wr_last_error());
    remove(path);
}
