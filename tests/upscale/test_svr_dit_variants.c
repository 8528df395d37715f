/* SeedVR2 DiT properties that need no golden output: the 7B structure (a tiny random
 * checkpoint with the 7B key layout of seedvr2.md 5) is recognised and runs; packing several
 * samples into one call gives each sample's own result (3B golden weights and 7B); the 7B's
 * video output does not depend on the text order (no text RoPE there), while the 3B's does
 * (mmrope3d rotates the text by its position); a prefixed bf16 copy of a checkpoint loads. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/io/safetensors_write.h"
#include "runtime/numeric.h"
#include "tests/common/svr_tiny7b.h"
#include "tests/common/testutil.h"
#include "upscale/svr_dit.h"

#define D SVR7B_D
#define HD SVR7B_HD
#define HIDDEN SVR7B_HIDDEN
#define LAYERS SVR7B_LAYERS
#define TXT_IN SVR7B_TXT_IN
#define NF SVR7B_NF

static void rand_fill(float *p, int64_t n, uint64_t seed)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = wr_test_uniform(&seed, -1.0f, 1.0f);
}

/* Runs the samples packed, then one by one, and compares; returns the packed output. */
static float *packed_equals_separate(const upscale_dit *m, const upscale_dit_sample *s, int batch, const float *vid,
                                     const float *txt)
{
    const upscale_dit_config *c = upscale_dit_config_get(m);
    int64_t L = 0;
    for (int i = 0; i < batch; i++)
        L += (int64_t)s[i].t * s[i].h * s[i].w;
    float *all = malloc((size_t)(L * c->vid_out) * sizeof *all), *one = malloc((size_t)(L * c->vid_out) * sizeof *one);
    cr_assert_eq(upscale_dit_forward(m, s, batch, vid, txt, UPSCALE_DIT_ATTN_FP32, all, NULL, NULL), WR_OK, "%s",
                 wr_last_error());
    int64_t vo = 0, to = 0;
    for (int i = 0; i < batch; i++) {
        cr_assert_eq(upscale_dit_forward(m, &s[i], 1, vid + vo * c->vid_in, txt + to * c->txt_in,
                                         UPSCALE_DIT_ATTN_FP32, one + vo * c->vid_out, NULL, NULL), WR_OK);
        vo += (int64_t)s[i].t * s[i].h * s[i].w;
        to += s[i].txt_len;
    }
    wr_test_err e = wr_test_compare(one, all, L * c->vid_out);
    cr_assert_eq(e.nan_mismatch, 0);
    cr_assert(isfinite(e.max_ref) && e.max_ref > 0.1, "output max %g", e.max_ref);
    cr_assert_leq(e.max_abs, 1e-5, "packed vs separate: max abs %g", e.max_abs);
    free(one);
    return all;
}

/* Video output with the text rows of every sample reversed, compared with the original. */
static double text_order_effect(const upscale_dit *m, const upscale_dit_sample *s, int batch, const float *vid,
                                const float *txt, const float *ref)
{
    const upscale_dit_config *c = upscale_dit_config_get(m);
    int64_t L = 0, Lt = 0;
    for (int i = 0; i < batch; i++)
        L += (int64_t)s[i].t * s[i].h * s[i].w, Lt += s[i].txt_len;
    float *rev = malloc((size_t)(Lt * c->txt_in) * sizeof *rev), *out = malloc((size_t)(L * c->vid_out) * sizeof *out);
    int64_t to = 0;
    for (int i = 0; i < batch; i++) {
        for (int j = 0; j < s[i].txt_len; j++)
            memcpy(rev + (to + j) * c->txt_in, txt + (to + s[i].txt_len - 1 - j) * c->txt_in,
                   (size_t)c->txt_in * sizeof *rev);
        to += s[i].txt_len;
    }
    cr_assert_eq(upscale_dit_forward(m, s, batch, vid, rev, UPSCALE_DIT_ATTN_FP32, out, NULL, NULL), WR_OK);
    double d = wr_test_compare(out, ref, L * c->vid_out).max_abs;
    free(rev), free(out);
    return d;
}

/* Two samples whose grids give several windows in the shifted layers (5x20x24 tokens) and one. */
static const upscale_dit_sample samples[2] = {{5, 40, 48, 7, 1000.0f}, {2, 6, 10, 3, 500.0f}};

Test(svr_dit_variants, seven_b_structure_runs_and_packs, .timeout = 60)
{
    char dir[] = "/tmp/wanrt-svrdit7b-XXXXXX", path[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/dit7b_tiny.safetensors", dir);
    wr_test_write_svr_7b(path);
    wr_weightfile wf;
    wr_test_open(&wf, path);
    upscale_dit *m;
    cr_assert_eq(upscale_dit_load(&m, &wf), WR_OK, "%s", wr_last_error());
    const upscale_dit_config *c = upscale_dit_config_get(m);
    cr_assert_eq(c->variant, UPSCALE_DIT_7B);
    cr_assert(c->dim == D && c->heads == 2 && c->head_dim == HD && c->num_layers == LAYERS &&
              c->mm_layers == LAYERS && c->mlp_hidden == HIDDEN && c->rope_freqs == NF && c->txt_in == TXT_IN &&
              c->vid_in == 33 && c->vid_out == 16);
    int64_t L = 5 * 40 * 48 + 2 * 6 * 10, Lt = 10;
    float *vid = malloc((size_t)(L * 33) * sizeof *vid), *txt = malloc((size_t)(Lt * TXT_IN) * sizeof *txt);
    rand_fill(vid, L * 33, 1), rand_fill(txt, Lt * TXT_IN, 2);
    float *ref = packed_equals_separate(m, samples, 2, vid, txt);
    double d = text_order_effect(m, samples, 2, vid, txt, ref);
    cr_assert_leq(d, 1e-5, "7B video output moved by %g when the text order changed (no text RoPE)", d);
    free(vid), free(txt), free(ref);
    upscale_dit_free(m);
    wr_weightfile_close(&wf);
    unlink(path);
    rmdir(dir);
}

Test(svr_dit_variants, three_b_packs_and_rotates_text, .timeout = 60)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/post/seedvr2_dit_tiny_weights.safetensors"));
    upscale_dit *m;
    cr_assert_eq(upscale_dit_load(&m, &wf), WR_OK, "%s", wr_last_error());
    cr_assert_eq(upscale_dit_config_get(m)->variant, UPSCALE_DIT_3B);
    cr_assert_eq(upscale_dit_config_get(m)->mm_layers, 2);
    int64_t L = 5 * 40 * 48 + 2 * 6 * 10, Lt = 10;
    float *vid = malloc((size_t)(L * 33) * sizeof *vid), *txt = malloc((size_t)(Lt * TXT_IN) * sizeof *txt);
    rand_fill(vid, L * 33, 3), rand_fill(txt, Lt * TXT_IN, 4);
    float *ref = packed_equals_separate(m, samples, 2, vid, txt);
    double d = text_order_effect(m, samples, 2, vid, txt, ref);
    cr_assert_geq(d, 1e-3, "3B video output did not change with the text order (%g): text RoPE missing?", d);
    free(vid), free(txt), free(ref);
    upscale_dit_free(m);
    wr_weightfile_close(&wf);
}

/* A ComfyUI/GGUF-style copy of the golden checkpoint ("model.diffusion_model." prefix, bf16
 * parameters: lossless for these weights) gives the same output as the original. */
Test(svr_dit_variants, prefixed_bf16_checkpoint_matches, .timeout = 60)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/post/seedvr2_dit_tiny_weights.safetensors"));
    static wr_st_entry ent[512];
    static char names[512][128];
    int64_t n_tensors = wf.n_tensors;
    uint16_t **bufs = calloc((size_t)n_tensors, sizeof *bufs);
    cr_assert(n_tensors <= 512);
    for (int64_t i = 0; i < wf.n_tensors; i++) {
        const wr_wtensor *t = &wf.tensors[i];
        snprintf(names[i], sizeof names[i], "model.diffusion_model.%s", t->name);
        ent[i] = (wr_st_entry){.name = names[i], .dtype = t->t.dtype, .n_dims = t->t.n_dims, .data = t->t.data};
        for (int d = 0; d < t->t.n_dims; d++)
            ent[i].shape[d] = t->t.ne[t->t.n_dims - 1 - d];
        if (t->t.dtype == WR_DTYPE_F16) {
            int64_t n = wr_tensor_nelements(&t->t);
            bufs[i] = malloc((size_t)n * sizeof **bufs);
            for (int64_t k = 0; k < n; k++)
                bufs[i][k] = wr_f32_to_bf16(wr_f16_to_f32(((const uint16_t *)t->t.data)[k]));
            ent[i].dtype = WR_DTYPE_BF16;
            ent[i].data = bufs[i];
        }
    }
    char dir[] = "/tmp/wanrt-svrditbf-XXXXXX", path[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/prefixed_bf16.safetensors", dir);
    cr_assert_eq(wr_safetensors_write(path, ent, (int)wf.n_tensors, NULL, 0), WR_OK, "%s", wr_last_error());
    wr_weightfile wf2;
    wr_test_open(&wf2, path);
    upscale_dit *a, *b;
    cr_assert_eq(upscale_dit_load(&a, &wf), WR_OK, "%s", wr_last_error());
    cr_assert_eq(upscale_dit_load(&b, &wf2), WR_OK, "%s", wr_last_error());
    const upscale_dit_sample s[1] = {{2, 6, 10, 3, 1000.0f}};
    float vid[120 * 33], txt[3 * TXT_IN], oa[120 * 16], ob[120 * 16];
    rand_fill(vid, 120 * 33, 5), rand_fill(txt, 3 * TXT_IN, 6);
    cr_assert_eq(upscale_dit_forward(a, s, 1, vid, txt, UPSCALE_DIT_ATTN_BF16, oa, NULL, NULL), WR_OK);
    cr_assert_eq(upscale_dit_forward(b, s, 1, vid, txt, UPSCALE_DIT_ATTN_BF16, ob, NULL, NULL), WR_OK);
    wr_test_err e = wr_test_compare(ob, oa, 120 * 16);
    cr_assert_leq(e.max_abs, 1e-6, "bf16 prefixed copy differs by %g", e.max_abs);
    upscale_dit_free(a), upscale_dit_free(b);
    wr_weightfile_close(&wf2);
    wr_weightfile_close(&wf);
    for (int64_t i = 0; i < n_tensors; i++)
        free(bufs[i]);
    free(bufs);
    unlink(path);
    rmdir(dir);
}
