/* The device plan of `wanrt upscale` (upscale/upscale_device_plan.h) for the released 3B and 7B
 * DiTs at 720p -> 1080p, against counts by hand from the shapes in seedvr2.md (4.9, 5): the
 * placed weights, the largest staged op, the swap slots, the fewest swapped blocks for a budget,
 * the errors, and `wanrt plan upscale --json`. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffers.h" /* WR_DEVICE_RESERVE */
#include "runtime/json.h"
#include "tests/common/testutil.h"
#include "upscale/upscale_device_plan.h"
#include "upscale/upscale_plan.h"

#define GIB ((size_t)1 << 30)

static size_t r256(size_t b) { return (b + 255) / 256 * 256; }

/* Placed bytes of one branch (bf16 matrices, F32 vectors): qkv, proj_out + bias, norm_q/k, MLP. */
static size_t branch_bytes(upscale_dit_variant v, size_t D, size_t H)
{
    size_t I = D, hd = 128; /* heads x 128 = D in both */
    size_t attn = r256(3 * I * D * 2) + r256(D * I * 2) + r256(D * 4) + 2 * r256(hd * 4);
    if (v == UPSCALE_DIT_3B) /* SwiGLU: proj_in, proj_in_gate, proj_out, no biases */
        return attn + 3 * r256(H * D * 2);
    return attn + r256(H * D * 2) + r256(H * 4) + r256(D * H * 2) + r256(D * 4);
}

/* Group 0: vid_in, txt_in (5120 wide), emb_in (256 -> D -> D -> 6D), vid_out (64), the all-ones
 * RMSNorm weight and on the 3B vid_out_norm. */
static size_t global_bytes(upscale_dit_variant v, size_t D)
{
    size_t b = r256(D * 132 * 2) + r256(D * 4) + r256(D * 5120 * 2) + r256(D * 4) + r256(D * 256 * 2) + r256(D * 4) +
               r256(D * D * 2) + r256(D * 4) + r256(6 * D * D * 2) + r256(6 * D * 4) + r256(64 * D * 2) + r256(64 * 4) +
               r256(D * 4);
    return v == UPSCALE_DIT_3B ? b + r256(D * 4) : b;
}

static upscale_dit *describe(upscale_dit_variant v)
{
    upscale_dit_config c = upscale_dit_config_released(v);
    upscale_dit *m;
    cr_assert_eq(upscale_dit_describe(&c, WR_DTYPE_BF16, &m), WR_OK, "%s", wr_last_error());
    return m;
}

/* 1280x720 -> 1920x1080 in batches of 5 frames, the DiT alone (no VAE file here). */
static upscale_device_job job_1080p(const upscale_dit *m)
{
    upscale_models um = {.dit = m, .txt_len = 58};
    upscale_opts o = upscale_opts_default();
    upscale_plan hp;
    cr_assert_eq(upscale_plan_batch(&um, 1280, 720, &o, &hp), WR_OK, "%s", wr_last_error());
    cr_assert(hp.lat_t == 2 && hp.lat_h == 136 && hp.lat_w == 240, "latent %dx%dx%d", hp.lat_t, hp.lat_h, hp.lat_w);
    return (upscale_device_job){.lat_t = hp.lat_t, .lat_h = hp.lat_h, .lat_w = hp.lat_w, .txt_len = 58};
}

static upscale_device_plan plan(const upscale_dit *m, const upscale_device_job *job, int swap, size_t vram)
{
    upscale_device_opts o = {.block_swap = swap, .vram = vram};
    upscale_device_plan p;
    cr_assert_eq(upscale_plan_device(m, job, &o, &p), WR_OK, "%s", wr_last_error());
    cr_assert_eq(p.peak, p.reserve + p.resident + p.slots + p.stage);
    return p;
}

static void check_variant(upscale_dit_variant v, size_t D, size_t H, int layers, int mm_layers, size_t params)
{
    upscale_dit *m = describe(v);
    upscale_device_job job = job_1080p(m);
    upscale_device_plan p = plan(m, &job, 0, 0);
    size_t shared = branch_bytes(v, D, H), mm = 2 * shared, g = global_bytes(v, D);
    size_t want = g + (size_t)mm_layers * mm + (size_t)(layers - mm_layers) * shared;
    cr_assert_eq(p.weights_device, want, "%s: placed %zu, by hand %zu", upscale_dit_variant_name(v), p.weights_device,
                 want);
    cr_assert(p.resident == want && p.slots == 0 && p.pinned == 0 && p.weights_host_only == 0 && p.fits);
    /* every parameter of the checkpoint is placed but the host-read ones (6 ada vectors per
     * branch, the RoPE frequencies, the 3B's vid_out_ada), plus the all-ones norm weight */
    wr_tensor **t;
    int *grp, n;
    cr_assert_eq(upscale_dit_list(m, &t, &grp, &n), WR_OK);
    size_t elems = 0;
    for (int i = 0; i < n; i++)
        elems += (size_t)wr_tensor_nelements(t[i]);
    free(t), free(grp);
    size_t branches = 2 * (size_t)mm_layers + (size_t)(layers - mm_layers);
    size_t host_read = branches * 6 * D + (size_t)layers * (v == UPSCALE_DIT_3B ? 21 : 10) +
                       (v == UPSCALE_DIT_3B ? 2 * D : 0);
    cr_assert_eq(elems - D + host_read, params, "%s: %zu parameters", upscale_dit_variant_name(v), elems - D + host_read);
    /* the largest op: proj_qkv over all 2·68·120 video tokens, xn [L, D] in and qkv [L, 3D] out */
    size_t L = 2 * 68 * 120;
    cr_assert_eq(p.dit_staged, L * (D + 3 * D) * 4, "%s: staged %zu", upscale_dit_variant_name(v), p.dit_staged);
    cr_assert_eq(p.dit_workspace, 0);
    cr_assert_eq(p.peak, WR_DEVICE_RESERVE + want + p.dit_staged);
    cr_assert_str_eq(p.peak_stage, "DiT");
    /* swapping the last blocks: two slots of the largest swapped one */
    size_t last = mm_layers == layers ? mm : shared; /* the 7B has no shared layers */
    upscale_device_plan s1 = plan(m, &job, 1, 0);
    cr_assert(s1.slots == 2 * last && s1.pinned == last && s1.resident == want - last, "%s: swap 1",
              upscale_dit_variant_name(v));
    int deep = layers - mm_layers + 1; /* one MM block among the swapped ones */
    upscale_device_plan sd = plan(m, &job, deep, 0);
    cr_assert_eq(sd.slots, 2 * mm, "%s: swap %d: slots %zu", upscale_dit_variant_name(v), deep, sd.slots);
    upscale_dit_free(m);
}

Test(upscale_device_plan, released_3b_by_hand) { check_variant(UPSCALE_DIT_3B, 2560, 6912, 32, 10, 3391476448ull); }
Test(upscale_device_plan, released_7b_by_hand) { check_variant(UPSCALE_DIT_7B, 3072, 12288, 36, 36, 8239608232ull); }

/* 12 GiB: the 7B (15.3 GiB of bf16 weights) needs block swap at 1080p, the fewest blocks that
 * fit; the 3B fits resident. */
Test(upscale_device_plan, budget_needs_swap_for_7b_at_1080p)
{
    upscale_dit *m = describe(UPSCALE_DIT_7B);
    upscale_device_job job = job_1080p(m);
    upscale_device_plan p = plan(m, &job, -1, 12 * GIB);
    cr_assert(p.fits && p.block_swap > 0 && p.block_swap < 36 && p.peak <= 12 * GIB, "swap %d peak %zu", p.block_swap,
              p.peak);
    upscale_device_plan fewer = plan(m, &job, p.block_swap - 1, 12 * GIB);
    cr_assert(!fewer.fits && fewer.peak > 12 * GIB, "%d blocks would have fitted", p.block_swap - 1);
    fprintf(stderr, "7B 1080p in 12 GiB: %d of 36 blocks swapped, peak %.2f GiB\n", p.block_swap,
            (double)p.peak / (double)GIB);
    upscale_dit_free(m);
    m = describe(UPSCALE_DIT_3B);
    p = plan(m, &job, -1, 12 * GIB);
    cr_assert(p.fits && p.block_swap == 0);
    upscale_dit_free(m);
}

Test(upscale_device_plan, impossible_budgets_and_errors)
{
    upscale_dit *m = describe(UPSCALE_DIT_7B);
    upscale_device_job job = job_1080p(m);
    upscale_device_plan p = plan(m, &job, -1, GIB); /* the staged op and the reserve alone exceed it */
    cr_assert(!p.fits && p.block_swap == 36 && p.peak > GIB);
    upscale_device_opts o = {.block_swap = 37};
    cr_assert_eq(upscale_plan_device(m, &job, &o, &p), WR_E_ARG, "more blocks than the model has");
    o.block_swap = -1;
    upscale_device_job odd = job;
    odd.lat_h = 135; /* the DiT's patch needs even latent sides */
    cr_assert_eq(upscale_plan_device(m, &odd, &o, &p), WR_E_ARG);
    cr_assert_eq(upscale_dit_place(m, 0), WR_E_ARG, "a described model has no weights to place");
    upscale_dit_config bad = upscale_dit_config_released(UPSCALE_DIT_3B);
    bad.num_layers = 0;
    upscale_dit *none;
    cr_assert_eq(upscale_dit_describe(&bad, WR_DTYPE_BF16, &none), WR_E_ARG);
    upscale_dit_free(m);
}

/* Runs `wanrt plan upscale ARGS --json` and parses its output; *rc its exit status. */
static wr_json run_json(const char *args, int *rc)
{
    const char *bin = getenv("WANRT_BIN");
    char cmd[1024], out[8192] = "";
    snprintf(cmd, sizeof cmd, "%s plan upscale %s --json 2>/dev/null", bin && *bin ? bin : "build/release/wanrt", args);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    *rc = pclose(f);
    wr_json j;
    cr_assert_eq(wr_json_parse(out, n, "plan upscale --json", &j), WR_OK, "%s: %s", wr_last_error(), out);
    return j;
}

static int64_t num(const wr_json *j, const char *key)
{
    const wr_json *v = wr_json_get(j, key);
    cr_assert(v && v->type == WR_JSON_NUMBER && v->is_int, "no integer '%s'", key);
    return v->integer;
}

static bool flag(const wr_json *j, const char *key)
{
    const wr_json *v = wr_json_get(j, key);
    cr_assert(v && v->type == WR_JSON_BOOL, "no boolean '%s'", key);
    return v->boolean;
}

Test(upscale_device_plan, cli_json)
{
    upscale_dit *m = describe(UPSCALE_DIT_7B);
    upscale_device_job job = job_1080p(m);
    upscale_device_plan p = plan(m, &job, -1, 12 * GIB);
    int rc;
    wr_json j = run_json("--size 1280x720 --config 7b --vram 12", &rc);
    cr_assert_eq(rc, 0);
    cr_assert(flag(&j, "fits") && !flag(&j, "vae_planned"));
    cr_assert_eq(num(&j, "peak_bytes"), (int64_t)p.peak);
    cr_assert_eq(num(&j, "block_swap"), p.block_swap);
    cr_assert_eq(num(&j, "blocks"), 36);
    cr_assert_eq(num(&j, "resident_weight_bytes"), (int64_t)p.resident);
    cr_assert_eq(num(&j, "swap_slot_bytes"), (int64_t)p.slots);
    cr_assert_eq(num(&j, "dit_staged_bytes"), (int64_t)p.dit_staged);
    cr_assert_eq(num(&j, "vram_bytes"), (int64_t)(12 * GIB));
    wr_json_free(&j);
    j = run_json("--size 1280x720 --config 7b --block-swap 4", &rc); /* a block swap given, no budget */
    cr_assert(rc == 0 && num(&j, "block_swap") == 4 && flag(&j, "fits"));
    wr_json_free(&j);
    j = run_json("--size 1280x720 --config 7b --vram 1", &rc); /* printed, then refused */
    cr_assert_neq(rc, 0);
    cr_assert(!flag(&j, "fits") && num(&j, "block_swap") == 36);
    wr_json_free(&j);
    /* with the model files: the VAE stages are planned too */
    char args[1024];
    snprintf(args, sizeof args, "--size 64x48 --resolution 48 --model %s",
             wr_test_shared("golden/post/seedvr2_dit_tiny_weights.safetensors"));
    snprintf(args + strlen(args), sizeof args - strlen(args), " --vae %s",
             wr_test_shared("golden/post/seedvr2_vae_tiny_weights.safetensors"));
    j = run_json(args, &rc);
    cr_assert_eq(rc, 0);
    cr_assert(flag(&j, "vae_planned") && num(&j, "vae_encode_staged_bytes") > 0 && num(&j, "vae_decode_staged_bytes") > 0);
    /* F16 weights have no GPU matmul: they stay on the host, only the F32 vectors are placed */
    cr_assert_gt(num(&j, "weights_host_only_bytes"), 0);
    wr_json_free(&j);
    upscale_dit_free(m);
}
