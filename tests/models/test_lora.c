/* LoRA: small LoRA files in each format, applied at two strengths, must give the same forward
 * as the base weights with the delta merged by hand (W + s·alpha/r·up·down, diff, diff_b). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/wan22/dit.h"
#include "models/wan22/lora.h"
#include "runtime/io/safetensors_write.h"
#include "tests/common/testutil.h"

#define DIM 256
#define RANK 4

static float down[RANK * DIM], up[DIM * RANK], diffb[DIM];

static void fill(void)
{
    uint64_t s = 12345;
    for (int i = 0; i < RANK * DIM; i++)
        down[i] = wr_test_uniform(&s, -0.05f, 0.05f);
    for (int i = 0; i < DIM * RANK; i++)
        up[i] = wr_test_uniform(&s, -0.05f, 0.05f);
    for (int i = 0; i < DIM; i++)
        diffb[i] = wr_test_uniform(&s, -0.1f, 0.1f);
}

/* Writes a LoRA for blocks.0.self_attn.q (low rank, alpha 2) and blocks.1.ffn.2.bias (diff_b). */
static void write_lora(const char *path, int format)
{
    char dn[128], un[128], an[128], bn[128];
    const char *mod0 = format == 1 ? "lora_unet_blocks_0_self_attn_q" : "diffusion_model.blocks.0.self_attn.q";
    const char *d = format == 2 ? "lora_A.weight" : "lora_down.weight", *u = format == 2 ? "lora_B.weight" : "lora_up.weight";
    snprintf(dn, sizeof dn, "%s.%s", mod0, d);
    snprintf(un, sizeof un, "%s.%s", mod0, u);
    snprintf(an, sizeof an, "%s.alpha", mod0);
    snprintf(bn, sizeof bn, "%s.diff_b", format == 1 ? "lora_unet_blocks_1_ffn_2" : "diffusion_model.blocks.1.ffn.2");
    float alpha = 2.0f;
    wr_st_entry e[] = {
        {dn, WR_DTYPE_F32, 2, {RANK, DIM}, down},
        {un, WR_DTYPE_F32, 2, {DIM, RANK}, up},
        {an, WR_DTYPE_F32, 0, {0}, &alpha},
        {bn, WR_DTYPE_F32, 1, {DIM}, diffb},
        {"diffusion_model.not_a_module.lora_down.weight", WR_DTYPE_F32, 2, {RANK, DIM}, down},
    };
    cr_assert_eq(wr_safetensors_write(path, e, 5, NULL, 0), WR_OK, "%s", wr_last_error());
}

static void forward(const wan22_weights *w, const wr_weightfile *cs, float *out)
{
    int64_t n;
    float *x = wr_test_load_f32(cs, "input.x.0", &n), *ctx = wr_test_load_f32(cs, "input.context.0", &n),
          *t = wr_test_load_f32(cs, "input.t", &n);
    wan22_dit_input in = {.x = x, .c_noise = 16, .f = 3, .h = 8, .w = 8, .context = ctx, .ctx_len = 11, .t = t, .n_t = 1};
    cr_assert_eq(wan22_dit_forward(w, &in, out, NULL, NULL), WR_OK, "%s", wr_last_error());
    free(x), free(ctx), free(t);
}

Test(lora, formats_and_strengths_equal_a_direct_merge, .timeout = 120)
{
    fill();
    wr_weightfile base, cs;
    wr_test_open(&base, wr_test_shared("golden/dit/dit_t2v_weights.safetensors"));
    wr_test_open(&cs, wr_test_shared("golden/dit/dit_t2v_case1.safetensors"));
    const float strengths[2] = {0.5f, 3.0f};
    float *got = malloc(16 * 3 * 8 * 8 * sizeof(float)), *want = malloc(16 * 3 * 8 * 8 * sizeof(float));
    float *plain = malloc(16 * 3 * 8 * 8 * sizeof(float));
    wan22_weights w0;
    cr_assert_eq(wan22_weights_bind(&w0, &base, 0), WR_OK);
    forward(&w0, &cs, plain);
    wan22_weights_free(&w0);
    for (int format = 0; format < 3; format++)
        for (int si = 0; si < 2; si++) {
            float s = strengths[si];
            char path[128];
            snprintf(path, sizeof path, "/tmp/wanrt-lora-%d-%d.safetensors", (int)getpid(), format);
            write_lora(path, format);
            wr_weightfile lf;
            wr_test_open(&lf, path);
            wan22_weights w;
            cr_assert_eq(wan22_weights_bind(&w, &base, 0), WR_OK);
            wan22_lora_report rep;
            cr_assert_eq(wan22_lora_apply(&w, &lf, s, &rep), WR_OK, "%s", wr_last_error());
            cr_assert_eq(rep.applied, 2, "format %d applied %d", format, rep.applied);
            cr_assert_eq(rep.unmatched, 1);
            cr_assert(strstr(rep.first_unmatched, "not_a_module"));
            forward(&w, &cs, got);
            wan22_weights_free(&w);
            wr_weightfile_close(&lf);
            unlink(path);

            /* the direct computation: merged weights written out as a new model file */
            cr_assert_eq(wan22_weights_bind(&w, &base, 0), WR_OK);
            int64_t n;
            float *q = wr_test_load_f32(&base, "blocks.0.self_attn.q.weight", &n);
            for (int o = 0; o < DIM; o++)
                for (int i = 0; i < DIM; i++) {
                    float acc = 0;
                    for (int r = 0; r < RANK; r++)
                        acc += up[o * RANK + r] * down[r * DIM + i];
                    q[o * DIM + i] += s * (2.0f / RANK) * acc;
                }
            wr_tensor merged;
            wr_tensor_init(&merged, WR_DTYPE_F32, 2, (int64_t[]){DIM, DIM}, q);
            w.blocks[0].self_attn.q = merged;
            float *b = w.blocks[1].ffn2_b.data;
            for (int i = 0; i < DIM; i++)
                b[i] += s * diffb[i];
            forward(&w, &cs, want);
            wr_test_err e = wr_test_compare(got, want, 16 * 3 * 8 * 8);
            cr_assert_leq(e.rel_to_max, 1e-5, "format %d strength %g: rel %g", format, (double)s, e.rel_to_max);
            e = wr_test_compare(got, plain, 16 * 3 * 8 * 8); /* and the LoRA really changed the output */
            cr_assert_geq(e.rel_to_max, 1e-3, "format %d strength %g: LoRA had no effect (%g)", format, (double)s,
                          e.rel_to_max);
            free(q);
            wan22_weights_free(&w);
        }
    free(got), free(want), free(plain);
    wr_weightfile_close(&base), wr_weightfile_close(&cs);
}
