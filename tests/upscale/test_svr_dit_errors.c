/* SeedVR2 DiT: checkpoints and inputs that do not fit are refused with a message naming the
 * file and tensor; the 7B structure is recognised from its keys and runs (a tiny random
 * checkpoint, no golden output exists for it); packing samples together changes nothing. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/io/safetensors_write.h"
#include "tests/common/testutil.h"
#include "upscale/svr_dit.h"

#define WEIGHTS "golden/post/seedvr2_dit_tiny_weights.safetensors"
#define MAX_ENTRIES 512

/* ---- modified copies of the golden checkpoint --------------------------------------------- */

typedef struct edit {
    const char *drop;       /* tensor to leave out */
    const char *shrink;     /* tensor whose first dimension loses one row */
    const char *add;        /* extra tensor, [add_len] F16 (data borrowed from another tensor) */
    int64_t add_len;
} edit;

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/wanrt-svrdit-err-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

static void write_edited(const char *path, const edit *e)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared(WEIGHTS));
    static wr_st_entry ent[MAX_ENTRIES];
    int n = 0;
    for (int64_t i = 0; i < wf.n_tensors; i++) {
        const wr_wtensor *t = &wf.tensors[i];
        if (e->drop && !strcmp(t->name, e->drop))
            continue;
        cr_assert_lt(n, MAX_ENTRIES - 1);
        wr_st_entry *x = &ent[n++];
        *x = (wr_st_entry){.name = t->name, .dtype = t->t.dtype, .n_dims = t->t.n_dims, .data = t->t.data};
        for (int d = 0; d < t->t.n_dims; d++)
            x->shape[d] = t->t.ne[t->t.n_dims - 1 - d];
        if (e->shrink && !strcmp(t->name, e->shrink))
            x->shape[0]--;
    }
    if (e->add)
        ent[n++] = (wr_st_entry){.name = e->add, .dtype = WR_DTYPE_F16, .n_dims = 1, .shape = {e->add_len},
                                 .data = wf.tensors[0].t.data};
    cr_assert_eq(wr_safetensors_write(path, ent, n, NULL, 0), WR_OK, "%s", wr_last_error());
    wr_weightfile_close(&wf);
}

/* Loads an edited checkpoint; expects `status` and a message containing each of the needles. */
static void expect_refused(const edit *e, wr_status status, const char *needle1, const char *needle2)
{
    char path[128];
    snprintf(path, sizeof path, "%s/edited.safetensors", tmpdir);
    write_edited(path, e);
    wr_weightfile wf;
    wr_test_open(&wf, path);
    upscale_dit *m = NULL;
    wr_status st = upscale_dit_load(&m, &wf);
    cr_assert_eq(st, status, "status %s: %s", wr_status_name(st), wr_last_error());
    cr_assert_null(m);
    const char *msg = wr_last_error();
    cr_assert(strstr(msg, path), "message does not name the file: %s", msg);
    cr_assert(strstr(msg, needle1), "message lacks '%s': %s", needle1, msg);
    cr_assert(!needle2 || strstr(msg, needle2), "message lacks '%s': %s", needle2, msg);
    wr_weightfile_close(&wf);
}

TestSuite(svr_dit_errors, .init = make_tmpdir, .fini = remove_tmpdir);

Test(svr_dit_errors, missing_tensor)
{
    expect_refused(&(edit){.drop = "blocks.1.attn.norm_k.txt.weight"}, WR_E_FORMAT,
                   "missing tensor 'blocks.1.attn.norm_k.txt.weight'", NULL);
    expect_refused(&(edit){.drop = "vid_out_ada.out_scale"}, WR_E_FORMAT, "'vid_out_ada.out_scale'", NULL);
    expect_refused(&(edit){.drop = "blocks.3.mlp.all.proj_in_gate.weight"}, WR_E_FORMAT,
                   "'blocks.3.mlp.all.proj_in_gate.weight'", NULL);
}

Test(svr_dit_errors, wrong_shape)
{
    expect_refused(&(edit){.shrink = "blocks.2.mlp.all.proj_out.weight"}, WR_E_FORMAT,
                   "'blocks.2.mlp.all.proj_out.weight' has shape [63, 256]", "needs [64, 256]");
    expect_refused(&(edit){.shrink = "blocks.0.ada.vid.mlp_gate"}, WR_E_FORMAT, "'blocks.0.ada.vid.mlp_gate'",
                   "[64]");
    expect_refused(&(edit){.shrink = "blocks.1.attn.rope.rope.freqs"}, WR_E_FORMAT, "'blocks.1.attn.rope.rope.freqs'",
                   NULL);
}

Test(svr_dit_errors, mixed_3b_7b)
{
    /* a 3B SwiGLU checkpoint without the 3B output norm */
    expect_refused(&(edit){.drop = "vid_out_norm.weight"}, WR_E_FORMAT, "mixed 3B/7B", "vid_out_norm");
    /* an MLP with both the 3B gate and the 7B bias */
    expect_refused(&(edit){.add = "blocks.0.mlp.vid.proj_in.bias", .add_len = 256}, WR_E_FORMAT, "blocks.0.mlp.vid",
                   "both a gate and biases");
}

Test(svr_dit_errors, not_a_dit)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/post/seedvr2_vae_tiny_weights.safetensors"));
    upscale_dit *m = NULL;
    cr_assert_eq(upscale_dit_load(&m, &wf), WR_E_FORMAT);
    cr_assert(strstr(wr_last_error(), "not a SeedVR2 DiT checkpoint"), "%s", wr_last_error());
    wr_weightfile_close(&wf);
}

Test(svr_dit_errors, bad_sizes)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared(WEIGHTS));
    upscale_dit *m;
    cr_assert_eq(upscale_dit_load(&m, &wf), WR_OK, "%s", wr_last_error());
    static float vid[2 * 8 * 12 * 33], txt[5 * 48], out[2 * 8 * 12 * 16];
    const upscale_dit_sample bad[] = {
        {1, 7, 12, 5, 1000.0f},  /* odd height */
        {1, 8, 0, 5, 1000.0f},   /* no width */
        {0, 8, 12, 5, 1000.0f},  /* no frames */
        {1, 8, 12, 0, 1000.0f},  /* no text */
        {1, 8, 12, 5, 1500.0f},  /* timestep out of range */
        {1, 8, 12, 5, NAN},      /* timestep NaN */
        {40000, 2, 2, 5, 1000.0f}, /* 5000 temporal windows */
    };
    static const char *const needle[] = {"height and width even", "height and width even", "frames must be >= 1",
                                         "text length 0", "timestep 1500", "timestep nan",
                                         "more windows along one axis"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(upscale_dit_forward(m, &bad[i], 1, vid, txt, UPSCALE_DIT_ATTN_FP32, out, NULL, NULL), WR_E_ARG,
                     "case %zu accepted", i);
        cr_assert(strstr(wr_last_error(), needle[i]), "case %zu: %s", i, wr_last_error());
    }
    const upscale_dit_sample ok = {1, 8, 12, 5, 1000.0f};
    cr_assert_eq(upscale_dit_forward(m, &ok, 0, vid, txt, UPSCALE_DIT_ATTN_FP32, out, NULL, NULL), WR_E_ARG);
    cr_assert_eq(upscale_dit_forward(m, &ok, 1, vid, txt, (upscale_dit_attn)7, out, NULL, NULL), WR_E_ARG);
    cr_assert_eq(upscale_dit_forward(m, &ok, 1, vid, txt, UPSCALE_DIT_ATTN_FP32, out, NULL, NULL), WR_OK);
    upscale_dit_free(m);
    wr_weightfile_close(&wf);
}
