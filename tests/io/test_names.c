/* Naming conventions: ComfyUI prefixes and diffusers names resolve to the official names; a
 * diffusers-named copy of the golden DiT gives the same forward. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/wan22/dit.h"
#include "runtime/io/names.h"
#include "runtime/io/safetensors_write.h"
#include "tests/common/testutil.h"

Test(names, diffusers_table)
{
    char out[256];
    cr_assert(wr_names_wan_to_diffusers("blocks.3.self_attn.o.weight", out, sizeof out));
    cr_assert_str_eq(out, "blocks.3.attn1.to_out.0.weight");
    cr_assert(wr_names_wan_to_diffusers("blocks.0.cross_attn.norm_k.weight", out, sizeof out));
    cr_assert_str_eq(out, "blocks.0.attn2.norm_k.weight");
    cr_assert(wr_names_wan_to_diffusers("blocks.12.norm3.bias", out, sizeof out));
    cr_assert_str_eq(out, "blocks.12.norm2.bias");
    cr_assert(wr_names_wan_to_diffusers("blocks.1.ffn.0.weight", out, sizeof out));
    cr_assert_str_eq(out, "blocks.1.ffn.net.0.proj.weight");
    cr_assert(wr_names_wan_to_diffusers("blocks.1.modulation", out, sizeof out));
    cr_assert_str_eq(out, "blocks.1.scale_shift_table");
    cr_assert(wr_names_wan_to_diffusers("time_projection.1.bias", out, sizeof out));
    cr_assert_str_eq(out, "condition_embedder.time_proj.bias");
    cr_assert(wr_names_wan_to_diffusers("head.modulation", out, sizeof out));
    cr_assert_str_eq(out, "scale_shift_table");
    cr_assert_not(wr_names_wan_to_diffusers("patch_embedding.weight", out, sizeof out));
    cr_assert_str_eq(wr_names_strip_prefix("model.diffusion_model.head.head.bias"), "head.head.bias");
    cr_assert_str_eq(wr_names_strip_prefix("module.block0.conv0.0.0.weight"), "block0.conv0.0.0.weight");
}

Test(names, diffusers_named_dit_runs_the_same, .timeout = 60)
{
    wr_weightfile wf, cs;
    wr_test_open(&wf, wr_test_shared("golden/dit/dit_t2v_weights.safetensors"));
    wr_test_open(&cs, wr_test_shared("golden/dit/dit_t2v_case1.safetensors"));
    wr_st_entry *e = calloc((size_t)wf.n_tensors, sizeof *e);
    char (*names)[256] = calloc((size_t)wf.n_tensors, sizeof *names);
    for (int64_t i = 0; i < wf.n_tensors; i++) {
        const wr_wtensor *w = &wf.tensors[i];
        if (!wr_names_wan_to_diffusers(w->name, names[i], sizeof names[i]))
            snprintf(names[i], sizeof names[i], "%s", w->name);
        e[i].name = names[i];
        e[i].dtype = w->t.dtype;
        e[i].n_dims = w->t.n_dims;
        for (int d = 0; d < w->t.n_dims; d++)
            e[i].shape[d] = w->t.ne[w->t.n_dims - 1 - d];
        e[i].data = w->t.data;
    }
    char path[128];
    snprintf(path, sizeof path, "/tmp/wanrt-diffusers-%d.safetensors", (int)getpid());
    const char *meta[1][2] = {{"config", "{\"text_len\": 32}"}};
    cr_assert_eq(wr_safetensors_write(path, e, (int)wf.n_tensors, meta, 1), WR_OK, "%s", wr_last_error());
    wr_weightfile dw;
    wr_test_open(&dw, path);
    const wr_wtensor *q = wr_weightfile_find(&dw, "blocks.0.self_attn.q.weight");
    cr_assert_not_null(q, "the official name must resolve in a diffusers-named file");
    cr_assert_str_eq(q->name, "blocks.0.attn1.to_q.weight");
    wan22_weights w;
    cr_assert_eq(wan22_weights_bind(&w, &dw, 0), WR_OK, "%s", wr_last_error());
    int64_t n;
    float *x = wr_test_load_f32(&cs, "input.x.0", &n), *ctx = wr_test_load_f32(&cs, "input.context.0", &n),
          *t = wr_test_load_f32(&cs, "input.t", &n), *want = wr_test_load_f32(&cs, "output.0", &n);
    float *got = malloc((size_t)n * sizeof *got);
    wan22_dit_input in = {.x = x, .c_noise = 16, .f = 3, .h = 8, .w = 8, .context = ctx, .ctx_len = 11, .t = t, .n_t = 1};
    cr_assert_eq(wan22_dit_forward(&w, &in, got, NULL, NULL), WR_OK);
    wr_test_err err = wr_test_compare(got, want, n);
    cr_assert_leq(err.rel_to_max, 5e-6, "rel %g", err.rel_to_max);
    free(x), free(ctx), free(t), free(want), free(got), free(e), free(names);
    wan22_weights_free(&w);
    wr_weightfile_close(&dw), wr_weightfile_close(&wf), wr_weightfile_close(&cs);
    unlink(path);
}
