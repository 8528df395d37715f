/* safetensors: every golden file opens, shapes/dtypes as documented, fp8 scales attach, the
 * writer round-trips, and malformed files give clear errors. */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/io/safetensors_write.h"
#include "runtime/io/weightfile.h"
#include "runtime/numeric.h"
#include "tests/common/testutil.h"

Test(safetensors, every_golden_file_opens)
{
    glob_t g;
    char pattern[4096];
    snprintf(pattern, sizeof pattern, "%s", wr_test_shared("golden/*/*.safetensors"));
    cr_assert_eq(glob(pattern, 0, NULL, &g), 0);
    cr_assert_geq(g.gl_pathc, 30, "expected the golden set, found %zu files", g.gl_pathc);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        wr_weightfile wf;
        wr_status st = wr_weightfile_open(&wf, g.gl_pathv[i]);
        cr_assert_eq(st, WR_OK, "%s", wr_last_error());
        cr_assert_gt(wf.n_tensors, 0);
        wr_weightfile_close(&wf);
    }
    globfree(&g);
}

static void expect(const wr_weightfile *wf, const char *name, wr_dtype dt, const char *shape)
{
    const wr_wtensor *w = wr_weightfile_find(wf, name);
    cr_assert_not_null(w, "%s missing", name);
    cr_assert_eq(w->t.dtype, dt, "%s dtype %s", name, wr_dtype_name(w->t.dtype));
    char s[128];
    wr_tensor_shape_str(&w->t, s, sizeof s);
    cr_assert_str_eq(s, shape, "%s", name);
}

Test(safetensors, documented_names_dtypes_shapes)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/dit/dit_t2v_weights.safetensors"));
    cr_assert_eq(wf.n_tensors, 69);
    expect(&wf, "patch_embedding.weight", WR_DTYPE_BF16, "[256, 16, 1, 2, 2]");
    expect(&wf, "blocks.1.modulation", WR_DTYPE_BF16, "[1, 6, 256]");
    expect(&wf, "head.head.weight", WR_DTYPE_BF16, "[64, 256]");
    /* ComfyUI-prefixed spelling finds the same tensor */
    cr_assert_eq(wr_weightfile_find(&wf, "model.diffusion_model.head.head.weight"),
                 wr_weightfile_find(&wf, "head.head.weight"));
    wr_weightfile_close(&wf);

    wr_test_open(&wf, wr_test_shared("golden/dit/dit_t2v_case1.safetensors"));
    expect(&wf, "input.seq_len", WR_DTYPE_I64, "[1]");
    expect(&wf, "inter.time_projection.out_e0", WR_DTYPE_F32, "[1, 48, 1536]");
    const wr_wtensor *sl = wr_weightfile_find(&wf, "input.seq_len");
    cr_assert_eq(*(const int64_t *)sl->t.data, 48); /* stored misaligned: read via an aligned copy */
    cr_assert_str_eq(wr_weightfile_meta(&wf, "variant"), "t2v");
    wr_weightfile_close(&wf);

    wr_test_open(&wf, wr_test_shared("golden/sched/sched_traj.safetensors"));
    expect(&wf, "unipc.s40_shift5.x", WR_DTYPE_F32, "[41, 1, 16, 2, 4, 4]");
    wr_weightfile_close(&wf);
    wr_test_open(&wf, wr_test_shared("golden/dit/rope_freqs_headdim128.safetensors"));
    expect(&wf, "freqs_cos", WR_DTYPE_F64, "[1024, 64]");
    wr_weightfile_close(&wf);
}

static char tmp_path[256];

static void write_file(const char *bytes, size_t n)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/wanrt-st-%d.safetensors", (int)getpid());
    FILE *f = fopen(tmp_path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

/* A file made of header text + data bytes, with the length prefix computed. */
static void write_st(const char *header, const void *data, size_t data_len)
{
    size_t hl = strlen(header);
    char *buf = malloc(8 + hl + data_len);
    for (int i = 0; i < 8; i++)
        buf[i] = (char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    memcpy(buf + 8 + hl, data, data_len);
    write_file(buf, 8 + hl + data_len);
    free(buf);
}

static void expect_error(wr_status want, const char *needle)
{
    wr_weightfile wf;
    wr_status st = wr_weightfile_open(&wf, tmp_path);
    cr_assert_eq(st, want, "status %s (%s)", wr_status_name(st), wr_last_error());
    cr_assert(strstr(wr_last_error(), needle) != NULL, "'%s' lacks '%s'", wr_last_error(), needle);
    cr_assert(strstr(wr_last_error(), tmp_path) != NULL, "message must name the file");
    unlink(tmp_path);
}

Test(safetensors, malformed_files_give_clear_errors)
{
    float d[4] = {1, 2, 3, 4};
    write_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,32]}}", d, 16);
    expect_error(WR_E_FORMAT, "outside the 16-byte data section");
    write_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", d, 16);
    expect_error(WR_E_FORMAT, "needs 12 bytes");
    write_st("{\"a\":{\"dtype\":\"Q9\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 16);
    expect_error(WR_E_UNSUPPORTED, "unsupported dtype 'Q9'");
    write_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}", d, 16);
    expect_error(WR_E_FORMAT, "overflows");
    write_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 16);
    expect_error(WR_E_FORMAT, "duplicate tensor name 'a'");
    write_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}", d, 16);
    expect_error(WR_E_FORMAT, "invalid JSON");
    write_st("{\"a.scale_weight\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", d, 16);
    expect_error(WR_E_FORMAT, "no weight 'a.weight'");
    write_file("\xff\xff\xff\xff\x00\x00\x00\x00{", 9);
    expect_error(WR_E_FORMAT, "header length");
    write_file("\x10\x00", 2);
    expect_error(WR_E_FORMAT, "too small");
    wr_weightfile wf;
    cr_assert_eq(wr_weightfile_open(&wf, "/nonexistent/model.safetensors"), WR_E_IO);
    cr_assert(strstr(wr_last_error(), "/nonexistent/model.safetensors: cannot open") != NULL);
    cr_assert_eq(wr_weightfile_open(&wf, "/tmp"), WR_E_IO);
    cr_assert(strstr(wr_last_error(), "is a directory") != NULL);
}

Test(safetensors, writer_round_trip_and_fp8_scales)
{
    uint8_t w8[6];
    for (int i = 0; i < 6; i++)
        w8[i] = wr_f32_to_f8e4m3((float)(i + 1) * 0.5f);
    float scale = 0.25f, in_scale = 2.0f;
    int64_t ids[3] = {5, -1, 1LL << 40};
    wr_st_entry e[] = {
        {"blocks.0.ffn.0.weight", WR_DTYPE_F8_E4M3FN, 2, {2, 3}, w8},
        {"blocks.0.ffn.0.scale_weight", WR_DTYPE_F32, 0, {0}, &scale},
        {"blocks.0.ffn.0.scale_input", WR_DTYPE_F32, 1, {1}, &in_scale},
        {"ids", WR_DTYPE_I64, 1, {3}, ids},
    };
    const char *meta[1][2] = {{"config", "{\"dim\": 8}"}};
    snprintf(tmp_path, sizeof tmp_path, "/tmp/wanrt-st-w-%d.safetensors", (int)getpid());
    cr_assert_eq(wr_safetensors_write(tmp_path, e, 4, meta, 1), WR_OK, "%s", wr_last_error());
    wr_weightfile wf;
    wr_test_open(&wf, tmp_path);
    cr_assert_str_eq(wr_weightfile_meta(&wf, "config"), "{\"dim\": 8}");
    const wr_wtensor *w = wr_weightfile_find(&wf, "blocks.0.ffn.0.weight");
    cr_assert_not_null(w);
    cr_assert_eq(w->t.dtype, WR_DTYPE_F8_E4M3FN);
    cr_assert_float_eq(w->t.scale, 0.25f, 0);
    cr_assert(w->has_scale_input);
    cr_assert_float_eq(w->scale_input, 2.0f, 0);
    cr_assert_eq(memcmp(w->t.data, w8, 6), 0);
    int64_t n;
    float *f = wr_test_load_f32(&wf, "blocks.0.ffn.0.weight", &n);
    cr_assert_eq(n, 6);
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(f[i], (float)(i + 1) * 0.5f * 0.25f, 0, "element %d: %g", i, (double)f[i]);
    free(f);
    const wr_wtensor *t = wr_weightfile_find(&wf, "ids");
    cr_assert_eq(((const int64_t *)t->t.data)[2], 1LL << 40);
    wr_weightfile_close(&wf);
    unlink(tmp_path);
}
