/* SeedVR2 VAE weight files and the command: the deprecated attention key names give the same
 * model; missing, misshapen and truncated tensors, other models and bad sizes fail with
 * messages naming the file and the tensor; `wanrt upscale-vae` replays a golden case. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/io/safetensors_write.h"
#include "tests/common/testutil.h"
#include "upscale/svr_vae.h"

#define WEIGHTS "golden/post/seedvr2_vae_tiny_weights.safetensors"
#define CASE9 "golden/post/seedvr2_vae_9x16x24_sliced.safetensors"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/wanrt-svae-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* How a copy of the weight file differs from the original. */
typedef struct variant {
    const char *drop;      /* tensor left out */
    const char *reshape;   /* tensor stored with its first dim halved (and half its data) */
    bool old_attn_names;   /* to_q/to_k/to_v/to_out.0 -> query/key/value/proj_attn, as [C, C, 1, 1] */
} variant;

static const char *old_name(const char *name, char *buf, size_t len, bool *conv_shaped)
{
    static const char *const from[4] = {".to_q.", ".to_k.", ".to_v.", ".to_out.0."};
    static const char *const to[4] = {".query.", ".key.", ".value.", ".proj_attn."};
    *conv_shaped = false;
    for (int i = 0; i < 4; i++) {
        const char *p = strstr(name, from[i]);
        if (p) {
            snprintf(buf, len, "%.*s%s%s", (int)(p - name), name, to[i], p + strlen(from[i]));
            *conv_shaped = strstr(name, ".weight") != NULL;
            return buf;
        }
    }
    return name;
}

static void write_variant(const char *out, variant v)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared(WEIGHTS));
    wr_st_entry *e = calloc((size_t)wf.n_tensors, sizeof *e);
    char (*names)[160] = calloc((size_t)wf.n_tensors, sizeof *names);
    int n = 0;
    for (int64_t i = 0; i < wf.n_tensors; i++) {
        const wr_wtensor *t = &wf.tensors[i];
        if (v.drop && !strcmp(t->name, v.drop))
            continue;
        wr_st_entry *x = &e[n];
        bool conv_shaped = false;
        x->name = v.old_attn_names ? old_name(t->name, names[n], sizeof names[n], &conv_shaped) : t->name;
        x->dtype = t->t.dtype;
        x->n_dims = t->t.n_dims;
        for (int d = 0; d < t->t.n_dims; d++)
            x->shape[d] = t->t.ne[t->t.n_dims - 1 - d];
        if (conv_shaped)
            x->n_dims = 4, x->shape[2] = x->shape[3] = 1;
        if (v.reshape && !strcmp(t->name, v.reshape))
            x->shape[0] /= 2;
        x->data = t->t.data;
        n++;
    }
    /* the metadata too: it holds norm_num_groups (4 here, not the released models' 32) */
    const char *(*meta)[2] = calloc((size_t)wf.n_meta + 1, sizeof *meta);
    for (int64_t i = 0; i < wf.n_meta; i++)
        meta[i][0] = wf.meta[i].key, meta[i][1] = wf.meta[i].value;
    cr_assert_eq(wr_safetensors_write(out, e, n, (const char *const (*)[2])meta, (int)wf.n_meta), WR_OK, "%s",
                 wr_last_error());
    free(e), free(names), free(meta);
    wr_weightfile_close(&wf);
}

/* Loading `path` fails with `want`, and the message names every string in `needles`. */
static void expect_load_error(const char *path, wr_status want, const char *const *needles, int n)
{
    wr_weightfile wf = {0};
    wr_status st = wr_weightfile_open(&wf, path);
    upscale_vae *m = NULL;
    if (st == WR_OK)
        st = upscale_vae_load(&m, &wf, 0);
    cr_assert_eq(st, want, "%s: status %s, message '%s'", path, wr_status_name(st), wr_last_error());
    for (int i = 0; i < n; i++)
        cr_assert(strstr(wr_last_error(), needles[i]), "message '%s' does not name '%s'", wr_last_error(), needles[i]);
    cr_assert_null(m);
    wr_weightfile_close(&wf);
}

static void load_video(vae_vol *v)
{
    wr_weightfile cs;
    wr_test_open(&cs, wr_test_shared(CASE9));
    float *d = wr_test_load_f32(&cs, "video", NULL);
    cr_assert_eq(vae_vol_alloc(v, 3, 9, 16, 24), WR_OK);
    memcpy(v->d, d, vae_vol_size(v) * sizeof(float));
    free(d);
    wr_weightfile_close(&cs);
}

Test(svr_vae_files, deprecated_attention_names_give_the_same_model, .init = setup, .fini = teardown, .timeout = 60)
{
    char path[300];
    snprintf(path, sizeof path, "%s/old_names.safetensors", dir);
    write_variant(path, (variant){.old_attn_names = true});
    wr_weightfile a, b;
    upscale_vae *ma, *mb;
    wr_test_open(&a, wr_test_shared(WEIGHTS));
    wr_test_open(&b, path);
    cr_assert_null(wr_weightfile_find(&b, "encoder.mid_block.attentions.0.to_q.weight"));
    cr_assert_not_null(wr_weightfile_find(&b, "decoder.mid_block.attentions.0.proj_attn.weight"));
    cr_assert_eq(upscale_vae_load(&ma, &a, 4), WR_OK, "%s", wr_last_error());
    cr_assert_eq(upscale_vae_load(&mb, &b, 4), WR_OK, "%s", wr_last_error());
    vae_vol v, ra, rb, da, db;
    load_video(&v);
    cr_assert_eq(upscale_vae_encode(ma, &v, 4, &ra), WR_OK);
    cr_assert_eq(upscale_vae_encode(mb, &v, 4, &rb), WR_OK);
    cr_assert_eq(memcmp(ra.d, rb.d, vae_vol_size(&ra) * sizeof(float)), 0, "old names: other moments");
    ra.c = 16;
    cr_assert_eq(upscale_vae_decode(ma, &ra, 4, &da), WR_OK);
    cr_assert_eq(upscale_vae_decode(mb, &ra, 4, &db), WR_OK);
    cr_assert_eq(memcmp(da.d, db.d, vae_vol_size(&da) * sizeof(float)), 0, "old names: other decoding");
    vae_vol_free(&v), vae_vol_free(&ra), vae_vol_free(&rb), vae_vol_free(&da), vae_vol_free(&db);
    upscale_vae_free(ma), upscale_vae_free(mb);
    wr_weightfile_close(&a), wr_weightfile_close(&b);
}

Test(svr_vae_files, missing_misshapen_truncated_and_foreign_weights, .init = setup, .fini = teardown, .timeout = 60)
{
    char path[300];
    const char *t1 = "decoder.up_blocks.1.resnets.2.conv2.bias";
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    write_variant(path, (variant){.drop = t1});
    expect_load_error(path, WR_E_FORMAT, (const char *const[]){path, t1, "missing"}, 3);

    const char *t2 = "encoder.mid_block.attentions.0.to_k.weight";
    snprintf(path, sizeof path, "%s/misshapen.safetensors", dir);
    write_variant(path, (variant){.reshape = t2});
    expect_load_error(path, WR_E_FORMAT, (const char *const[]){path, t2, "[8, 16]", "[16, 16]"}, 4);

    const char *t3 = "encoder.down_blocks.2.resnets.0.conv1.weight";
    snprintf(path, sizeof path, "%s/misshapen_conv.safetensors", dir);
    write_variant(path, (variant){.reshape = t3});
    expect_load_error(path, WR_E_FORMAT, (const char *const[]){path, "encoder.down_blocks.2.resnets"}, 2);

    /* the file cut short: the reader rejects tensors that run past the end */
    snprintf(path, sizeof path, "%s/truncated.safetensors", dir);
    FILE *in = fopen(wr_test_shared(WEIGHTS), "rb"), *out = fopen(path, "wb");
    cr_assert(in && out);
    static char buf[1 << 20];
    size_t got = fread(buf, 1, sizeof buf, in);
    cr_assert_gt(got, 4096);
    fwrite(buf, 1, got - 1000, out);
    fclose(in), fclose(out);
    expect_load_error(path, WR_E_FORMAT, (const char *const[]){path}, 1);

    expect_load_error(wr_test_shared("golden/post/seedvr2_dit_tiny_weights.safetensors"), WR_E_FORMAT,
                      (const char *const[]){"encoder.conv_in.weight", "not a SeedVR2 video VAE"}, 2);

    /* GroupNorm groups that do not divide the channels */
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared(WEIGHTS));
    upscale_vae *m = NULL;
    cr_assert_eq(upscale_vae_load(&m, &wf, 3), WR_E_FORMAT);
    cr_assert(strstr(wr_last_error(), "GroupNorm"), "%s", wr_last_error());
    wr_weightfile_close(&wf);
}

Test(svr_vae_files, bad_sizes_are_argument_errors, .timeout = 60)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared(WEIGHTS));
    upscale_vae *m;
    cr_assert_eq(upscale_vae_load(&m, &wf, 0), WR_OK, "%s", wr_last_error());
    vae_vol v = {0}, out = {0};
    const int shapes[][4] = {{3, 4, 16, 16}, {3, 5, 12, 16}, {3, 5, 16, 20}, {4, 5, 16, 16}, {3, 5, 0, 16}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        cr_assert_eq(vae_vol_alloc(&v, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3]), WR_OK);
        cr_assert_eq(upscale_vae_encode(m, &v, 4, &out), WR_E_ARG, "shape %zu accepted", i);
        cr_assert(strstr(wr_last_error(), "must be"), "%s", wr_last_error());
        vae_vol_free(&v);
    }
    cr_assert_eq(vae_vol_alloc(&v, 3, 5, 16, 16), WR_OK);
    memset(v.d, 0, vae_vol_size(&v) * sizeof(float));
    cr_assert_eq(upscale_vae_encode(m, &v, 3, &out), WR_E_ARG);
    cr_assert_eq(upscale_vae_encode(m, &v, -4, &out), WR_E_ARG);
    vae_vol_free(&v);
    cr_assert_eq(vae_vol_alloc(&v, 32, 2, 2, 2), WR_OK); /* moments, not a latent */
    cr_assert_eq(upscale_vae_decode(m, &v, 4, &out), WR_E_ARG);
    cr_assert(strstr(wr_last_error(), "16 channels"), "%s", wr_last_error());
    vae_vol_free(&v);
    upscale_vae_free(m);
    wr_weightfile_close(&wf);
}

static const char *bin(void)
{
    const char *b = getenv("WANRT_BIN");
    return b && *b ? b : "build/release/wanrt";
}

Test(svr_vae_files, upscale_vae_command_replays_a_case, .init = setup, .fini = teardown, .timeout = 60)
{
    char cmd[4096], out[300], weights[1024], cs[1024];
    snprintf(weights, sizeof weights, "%s", wr_test_shared(WEIGHTS));
    snprintf(cs, sizeof cs, "%s", wr_test_shared(CASE9));
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    snprintf(cmd, sizeof cmd, "%s upscale-vae --vae %s --inputs %s --out %s > /dev/null", bin(), weights, cs, out);
    cr_assert_eq(system(cmd), 0, "%s failed (is %s built?)", cmd, bin());
    wr_weightfile got, want;
    wr_test_open(&got, out);
    wr_test_open(&want, cs);
    const char *names[] = {"moments", "posterior_mean", "posterior_std", "decoded_from_mean", "latent_sample",
                           "latent_scaled_btHWc"};
    for (int i = 0; i < 6; i++) {
        int64_t n, n2;
        float *a = wr_test_load_f32(&got, names[i], &n), *b = wr_test_load_f32(&want, names[i], &n2);
        cr_assert_eq(n, n2, "%s: %lld values, want %lld", names[i], (long long)n, (long long)n2);
        const wr_wtensor *ta = wr_weightfile_find(&got, names[i]), *tb = wr_weightfile_find(&want, names[i]);
        cr_assert(wr_tensor_same_shape(&ta->t, &tb->t), "%s: other shape", names[i]);
        wr_test_err e = wr_test_compare(a, b, n);
        cr_assert_leq(e.max_abs, 1e-4, "%s: max abs %g", names[i], e.max_abs);
        free(a), free(b);
    }
    wr_weightfile_close(&got), wr_weightfile_close(&want);
    /* a weight file that is not this VAE: nonzero exit, nothing written */
    snprintf(out, sizeof out, "%s/bad.safetensors", dir);
    snprintf(cmd, sizeof cmd, "%s upscale-vae --vae %s --inputs %s --out %s 2> /dev/null", bin(),
             wr_test_shared("golden/post/seedvr2_dit_tiny_weights.safetensors"), cs, out);
    cr_assert_neq(system(cmd), 0);
    cr_assert_neq(access(out, F_OK), 0, "an output was written after a failure");
}
