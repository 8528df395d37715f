/* The upscale memory plan: its VAE dry runs count exactly what real passes allocate, tiling
 * lowers the planned decode, and a 720p -> 1080p plan is made without computing anything. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/testutil.h"
#include "upscale/upscale_plan.h"

static wr_weightfile dwf, vwf;
static upscale_dit *dit;
static upscale_vae *vae;
static float txt[5 * 48];

static void setup(void)
{
    wr_test_open(&dwf, wr_test_shared("golden/post/seedvr2_dit_tiny_weights.safetensors"));
    wr_test_open(&vwf, wr_test_shared("golden/post/seedvr2_vae_tiny_weights.safetensors"));
    cr_assert_eq(upscale_dit_load(&dit, &dwf), WR_OK, "%s", wr_last_error());
    cr_assert_eq(upscale_vae_load(&vae, &vwf, 0), WR_OK, "%s", wr_last_error());
}

static void teardown(void)
{
    upscale_dit_free(dit), upscale_vae_free(vae);
    wr_weightfile_close(&dwf), wr_weightfile_close(&vwf);
}

TestSuite(upscale_plan, .init = setup, .fini = teardown, .timeout = 120);

/* The counted peak of a real pass over zeros of [c, t, h, w], the input excluded; *op: the
 * largest operands one of its ops was handed. */
static size_t real_pass(int decode, int c, int t, int h, int w, const upscale_opts *o, size_t *op)
{
    vae_vol in = {0}, out = {0};
    cr_assert_eq(vae_vol_zeros(&in, c, t, h, w), WR_OK);
    size_t base = vae_mem_current();
    vae_mem_reset_peak();
    vae_op_reset_peak();
    wr_status st = decode ? upscale_vae_decode_tiled(vae, &in, o->vae_split, &o->vae_tile, &out)
                          : upscale_vae_encode_tiled(vae, &in, o->vae_split, &o->vae_tile, &out);
    cr_assert_eq(st, WR_OK, "%s", wr_last_error());
    size_t peak = vae_mem_peak() - base;
    *op = vae_op_peak();
    vae_vol_free(&out), vae_vol_free(&in);
    return peak;
}

Test(upscale_plan, vae_dry_runs_equal_counted_real_runs)
{
    upscale_models m = {.dit = dit, .vae = vae, .txt = txt, .txt_len = 5};
    for (int tiled = 0; tiled < 2; tiled++) {
        upscale_opts o = upscale_opts_default();
        o.resolution = 48; /* 64x48 input -> 64x48 (short edge 48), padded 64x48 */
        if (tiled)
            o.vae_tile = (upscale_vae_tiling){.tile_px = 32, .overlap_px = 16};
        upscale_plan p;
        cr_assert_eq(upscale_plan_batch(&m, 64, 48, &o, &p), WR_OK, "%s", wr_last_error());
        cr_assert(p.pad_w == 64 && p.pad_h == 48 && p.frames == 5 && p.lat_t == 2 && p.lat_h == 6 && p.lat_w == 8);
        size_t enc_op, dec_op;
        size_t enc = real_pass(0, 3, 5, 48, 64, &o, &enc_op), dec = real_pass(1, 16, 2, 6, 8, &o, &dec_op);
        cr_assert_eq(p.vae_encode, enc, "tiled %d: planned encode %zu, real %zu", tiled, p.vae_encode, enc);
        cr_assert_eq(p.vae_decode, dec, "tiled %d: planned decode %zu, real %zu", tiled, p.vae_decode, dec);
        /* what a GPU backend stages for the largest op: the dry run sees the same ops */
        cr_assert_eq(p.vae_encode_op, enc_op, "tiled %d: planned encode op %zu, real %zu", tiled, p.vae_encode_op, enc_op);
        cr_assert_eq(p.vae_decode_op, dec_op, "tiled %d: planned decode op %zu, real %zu", tiled, p.vae_decode_op, dec_op);
        /* by hand, untiled: a full-resolution 8 -> 8 resnet conv (F16 3x3x3 weight, F32 bias), its
         * input carrying the kt - 1 = 2 causal front frames: 8·(5+2)·48·64 in, 8·5·48·64 out; the
         * encoder's first block and the decoder's last are both that */
        size_t hand = (size_t)(8 * 7 * 48 * 64 + 8 * 5 * 48 * 64) * 4 + 8 * 8 * 27 * 2 + 8 * 4;
        if (!tiled)
            cr_assert(enc_op == hand && dec_op == hand, "largest VAE op: encode %zu, decode %zu, by hand %zu", enc_op,
                      dec_op, hand);
        cr_assert_gt(p.dit, 0);
        cr_assert_geq(p.peak, p.pipeline);
    }
}

Test(upscale_plan, hd_plan_and_tiling)
{
    upscale_models m = {.dit = dit, .vae = vae, .txt = txt, .txt_len = 5};
    upscale_opts o = upscale_opts_default(); /* 1080 short edge, batches of 5 */
    upscale_plan whole, tiled;
    cr_assert_eq(upscale_plan_batch(&m, 1280, 720, &o, &whole), WR_OK, "%s", wr_last_error());
    cr_assert(whole.out_w == 1920 && whole.out_h == 1080 && whole.pad_h == 1088, "%dx%d", whole.out_w, whole.out_h);
    o.vae_tile = (upscale_vae_tiling){.tile_px = 512, .overlap_px = 64};
    cr_assert_eq(upscale_plan_batch(&m, 1280, 720, &o, &tiled), WR_OK, "%s", wr_last_error());
    cr_assert_lt(tiled.vae_decode, whole.vae_decode, "tiles must lower the planned decode");
    cr_assert_lt(tiled.vae_encode, whole.vae_encode);
    o.batch = 4;
    cr_assert_eq(upscale_plan_batch(&m, 1280, 720, &o, &tiled), WR_E_ARG);
}

Test(upscale_plan, wanrt_plan_prints_the_stages)
{
    const char *bin = getenv("WANRT_BIN");
    char cmd[2048], line[512], all[8192] = "", dit_path[512];
    snprintf(dit_path, sizeof dit_path, "%s", wr_test_shared("golden/post/seedvr2_dit_tiny_weights.safetensors"));
    snprintf(cmd, sizeof cmd, "%s plan upscale --size 640x360 --resolution 540 --model %s --vae %s --vae-tile 256,32",
             bin && *bin ? bin : "build/release/wanrt", dit_path,
             wr_test_shared("golden/post/seedvr2_vae_tiny_weights.safetensors"));
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    while (fgets(line, sizeof line, p))
        strncat(all, line, sizeof all - strlen(all) - 1);
    cr_assert_eq(pclose(p), 0, "%s", all);
    cr_assert(strstr(all, "640x360 -> 960x540") && strstr(all, "VAE decode") && strstr(all, "peak"), "%s", all);
    snprintf(cmd, sizeof cmd, "%s plan upscale --size 640x360 --batch 4 --model x --vae y 2>/dev/null",
             bin && *bin ? bin : "build/release/wanrt");
    cr_assert_neq(system(cmd), 0);
}

Test(upscale_plan, wanrt_plan_generate_covers_vae_and_dit)
{
    const char *bin = getenv("WANRT_BIN");
    char cmd[2048], line[512], all[8192] = "", dit_path[512];
    snprintf(dit_path, sizeof dit_path, "%s", wr_test_shared("golden/dit/dit_t2v_weights.safetensors"));
    snprintf(cmd, sizeof cmd, "%s plan generate --width 128 --height 64 --frames 9 --high-noise %s --vae %s",
             bin && *bin ? bin : "build/release/wanrt", dit_path, wr_test_shared("golden/vae21/vae21_weights.safetensors"));
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    while (fgets(line, sizeof line, p))
        strncat(all, line, sizeof all - strlen(all) - 1);
    cr_assert_eq(pclose(p), 0, "%s", all);
    cr_assert(strstr(all, "VAE decode") && strstr(all, "activations per forward"), "%s", all);
}
