/* The DiT device-memory planner (models/wan22/dit_plan.h) and `wanrt plan generate`: the issue's
 * example (I2V A14B Q8_0 at 1280x720x81 fits 24 GB without block swap and 12 GB with it), the
 * numbers worked out by hand from the published configs, and the error cases. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/wan22/dit_plan.h"
#include "runtime/json.h"
#include "tests/common/testutil.h"

#define GIB ((size_t)1 << 30)

static wan22_plan plan(const char *config, wr_dtype dt, int w, int h, int frames, size_t vram, int swap)
{
    wan22_config c;
    cr_assert_eq(wan22_config_named(config, &c), WR_OK, "%s", wr_last_error());
    wan22_weights wt;
    cr_assert_eq(wan22_weights_describe(&c, dt, &wt), WR_OK);
    wan22_plan_opts o = {.width = w, .height = h, .frames = frames, .vram = vram, .block_swap = swap};
    wan22_plan p;
    cr_assert_eq(wan22_plan_dit(&wt, &o, &p), WR_OK, "%s", wr_last_error());
    wan22_weights_free(&wt);
    return p;
}

Test(dit_plan, i2v_a14b_q8_0_720p_fits_24gb_without_swap_and_12gb_with)
{
    wan22_plan p = plan("i2v-a14b", WR_DTYPE_Q8_0, 1280, 720, 81, 24 * GIB, -1);
    cr_assert(p.fits);
    cr_assert_eq(p.block_swap, 0, "24 GB needs no swap");
    cr_assert_eq(p.tokens, 21LL * 45 * 80);
    cr_assert_leq(p.peak, 24 * GIB);
    p = plan("i2v-a14b", WR_DTYPE_Q8_0, 1280, 720, 81, 12 * GIB, -1);
    cr_assert(p.fits, "12 GB fits with block swap (peak %zu)", p.peak);
    cr_assert_gt(p.block_swap, 0);
    cr_assert_lt(p.block_swap, 40);
    cr_assert_leq(p.peak, 12 * GIB);
    wan22_plan fewer = plan("i2v-a14b", WR_DTYPE_Q8_0, 1280, 720, 81, 12 * GIB, p.block_swap - 1);
    cr_assert(!fewer.fits || fewer.ffn_chunk < p.ffn_chunk, "the fewest swapped blocks that fit were chosen");
    wan22_plan none = plan("i2v-a14b", WR_DTYPE_Q8_0, 1280, 720, 81, 12 * GIB, 0);
    cr_assert(!none.fits, "12 GB does not hold the whole Q8_0 expert and the activations");
}

/* Hand counts from the A14B config (dim 5120, ffn 13824, 40 blocks, text 4096 x 512 tokens). */
Test(dit_plan, numbers_match_hand_counts)
{
    wan22_plan p = plan("t2v-a14b", WR_DTYPE_BF16, 1280, 720, 81, 0, 0);
    long long D = 5120, F = 13824, L = 75600, T = 512;
    /* a block: 8 attention matrices and 2 FFN matrices in bf16; f32 vectors: modulation 6·dim,
     * attention biases 8·dim, FFN biases ffn + dim, q/k norms 4·dim, norm3 2·dim */
    long long blk = (8 * D * D + 2 * D * F) * 2 + (6 * D + 8 * D + F + D + 4 * D + 2 * D) * 4;
    /* outside the blocks: patch [dim, 16·4], text [dim, 4096] and [dim, dim], time [dim, 256] and
     * [dim, dim], projection [6·dim, dim], head [64, dim] in bf16; their biases and head.modulation f32 */
    long long globals = (D * 64 + D * 4096 + D * D + D * 256 + D * D + 6 * D * D + 64 * D) * 2 +
                        (D + D + D + D + D + 6 * D + 2 * D + 64) * 4;
    cr_assert_eq(p.weights_device, (size_t)(40 * blk + globals), "weights %zu vs %lld", p.weights_device,
                 40 * blk + globals); /* every tensor's size is a multiple of 256 bytes: no padding */
    cr_assert_eq(p.resident, p.weights_device);
    /* activations: five [L, dim] + FFN chunk [8192, ffn] + e [1, dim] + e0, e_blk [6, dim] +
     * text in [T, 4096] + four [T, dim] + sinusoid [1, 256] + patches [L, 16·4], in floats */
    long long arena = 5 * L * D + 8192 * F + D + 12 * D + T * 4096 + 4 * T * D + 256 + L * 64;
    cr_assert_eq(p.arena, (size_t)arena * 4, "arena %zu vs %lld", p.arena, arena * 4);
    cr_assert_eq(p.rope, (size_t)(2 * L * 64 * 4));
    cr_assert_eq(p.peak, p.resident + p.arena + p.rope + p.workspace + p.reserve);
    cr_assert_eq(p.workspace, 0, "dense fp32 attention and matmuls allocate nothing per call");
}

Test(dit_plan, weights_described_like_a_bound_file)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/gguf/dit_t2v_Q8_0.gguf"));
    wan22_weights bound, described;
    cr_assert_eq(wan22_weights_bind(&bound, &wf, 32), WR_OK, "%s", wr_last_error());
    cr_assert_eq(wan22_weights_describe(&bound.cfg, WR_DTYPE_Q8_0, &described), WR_OK);
    wan22_plan_opts o = {.width = 64, .height = 64, .frames = 5, .block_swap = 1};
    wan22_plan a, b;
    cr_assert_eq(wan22_plan_dit(&bound, &o, &a), WR_OK, "%s", wr_last_error());
    cr_assert_eq(wan22_plan_dit(&described, &o, &b), WR_OK, "%s", wr_last_error());
    cr_assert_eq(a.weights_device, b.weights_device, "file %zu vs described %zu", a.weights_device, b.weights_device);
    cr_assert_eq(a.peak, b.peak);
    cr_assert_eq(a.pinned, b.pinned);
    wan22_weights_free(&bound), wan22_weights_free(&described);
    wr_weightfile_close(&wf);
}

Test(dit_plan, q4_k_weights_stay_on_the_host_and_ti2v_has_two_modulation_rows)
{
    wan22_plan q4 = plan("t2v-a14b", WR_DTYPE_Q4_K, 832, 480, 81, 0, 0);
    cr_assert_gt(q4.weights_host_only, q4.weights_device, "no GPU kernel reads Q4_K: the matrices stay on the host");
    wan22_plan ti = plan("ti2v-5b", WR_DTYPE_BF16, 1280, 704, 121, 0, 0);
    long long L = 31LL * 22 * 40, D = 3072;
    cr_assert_eq(ti.tokens, L);
    long long arena = 5 * L * D + 8192LL * 14336 + 2 * D + 24 * D + 512LL * 4096 + 4 * 512 * D + 2 * 256 + L * 48 * 4;
    cr_assert_eq(ti.arena, (size_t)arena * 4, "e, e0, e_blk: two rows (image frame at t = 0, the rest at t)");
}

Test(dit_plan, bad_sizes_and_budgets)
{
    wan22_config c;
    wan22_weights w;
    cr_assert_eq(wan22_config_named("ti2v-5b", &c), WR_OK);
    cr_assert_eq(wan22_weights_describe(&c, WR_DTYPE_BF16, &w), WR_OK);
    wan22_plan p;
    wan22_plan_opts o = {.width = 1280, .height = 720, .frames = 81, .block_swap = -1};
    cr_assert_eq(wan22_plan_dit(&w, &o, &p), WR_E_ARG, "720 is not a multiple of 32 for the 5B");
    cr_assert(strstr(wr_last_error(), "multiples of 32"), "%s", wr_last_error());
    o.height = 704, o.frames = 80;
    cr_assert_eq(wan22_plan_dit(&w, &o, &p), WR_E_ARG);
    o.frames = 81, o.block_swap = 31;
    cr_assert_eq(wan22_plan_dit(&w, &o, &p), WR_E_ARG, "the 5B has 30 blocks");
    o.block_swap = -1, o.vram = GIB;
    cr_assert_eq(wan22_plan_dit(&w, &o, &p), WR_OK);
    cr_assert(!p.fits);
    cr_assert_eq(p.block_swap, 30, "everything was tried");
    wan22_weights_free(&w);
    cr_assert_eq(wan22_config_named("t2v-a28b", &c), WR_E_ARG);
}

/* The CLI's --json object, parsed. */
Test(dit_plan, cli_json)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s plan generate --config i2v-a14b --weights q8_0 --width 1280 --height 720 --frames 81 --vram 12 --json",
             getenv("WANRT_BIN") ? getenv("WANRT_BIN") : "build/release/wanrt");
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    cr_assert_eq(pclose(f), 0, "%s", buf);
    wr_json j;
    cr_assert_eq(wr_json_parse(buf, n, "plan", &j), WR_OK, "%s: %s", wr_last_error(), buf);
    const wr_json *peak = wr_json_get(&j, "peak_bytes"), *swap = wr_json_get(&j, "block_swap");
    cr_assert(peak && swap && peak->type == WR_JSON_NUMBER && swap->type == WR_JSON_NUMBER, "%s", buf);
    cr_assert_leq(peak->number, 12.0 * GIB);
    cr_assert_gt(swap->integer, 0);
    const wr_json *stage = wr_json_get(&j, "peak_stage"), *dec = wr_json_get(&j, "vae_decode_op_bytes");
    const wr_json *enc = wr_json_get(&j, "vae_encode_op_bytes"), *dit = wr_json_get(&j, "dit_peak_bytes");
    cr_assert(stage && stage->type == WR_JSON_STRING && dec && enc && dit, "%s", buf);
    cr_assert_gt(dec->number, 0, "the decode's largest op is planned");
    cr_assert_gt(enc->number, 0, "i2v encodes its conditioning clip");
    cr_assert_geq(peak->number, dit->number);
    cr_assert_geq(peak->number, dec->number, "the peak covers every stage");
    double untiled = dec->number;
    const wr_json *mode = wr_json_get(&j, "vae_decode"), *res = wr_json_get(&j, "vae_decode_resident_bytes");
    cr_assert(mode && mode->type == WR_JSON_STRING && res && res->type == WR_JSON_NUMBER, "%s", buf);
    cr_assert_str_eq(mode->string, "resident", "an 11 GiB resident decode fits 12 GiB");
    cr_assert_gt(res->number, dec->number, "resident holds more than one op's operands");
    double untiled_resident = res->number;
    wr_json_free(&j);
    snprintf(cmd, sizeof cmd, "%s plan generate --config i2v-a14b --weights q8_0 --width 1280 --height 720 --frames 81 "
             "--vae-tile auto --json", getenv("WANRT_BIN") ? getenv("WANRT_BIN") : "build/release/wanrt");
    f = popen(cmd, "r");
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    cr_assert_eq(pclose(f), 0, "%s", buf);
    cr_assert_eq(wr_json_parse(buf, n, "plan", &j), WR_OK, "%s", buf);
    dec = wr_json_get(&j, "vae_decode_op_bytes"), res = wr_json_get(&j, "vae_decode_resident_bytes");
    cr_assert_lt(dec->number, untiled / 4, "tiling shrinks the decode's largest op (%g vs %g)", dec->number, untiled);
    cr_assert_lt(res->number, untiled_resident / 4, "and its resident working set");
    wr_json_free(&j);
    snprintf(cmd, sizeof cmd, "%s plan generate --config i2v-a14b --weights q8_0 --width 1280 --height 720 --frames 81 "
             "--vram 4 --json >/dev/null 2>&1", getenv("WANRT_BIN") ? getenv("WANRT_BIN") : "build/release/wanrt");
    cr_assert_neq(system(cmd), 0, "a budget nothing fits is an error");
}
