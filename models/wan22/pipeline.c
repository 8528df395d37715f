/* The generation pipeline (see pipeline.h): text -> conditioning -> denoising -> VAE decode. */
#include "models/wan22/pipeline.h"

#include "runtime/buffers.h"
#include "vae/vae_plan.h"
#include "vae/volume.h"
#include "runtime/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/wan22/cond_ti2v.h"
#include "models/wan22/dit.h"
#include "models/wan22/pipeline_experts.h"
#include "models/wan22/pipeline_inputs.h"
#include "models/wan22/pipeline_preview.h"
#include "models/wan22/t5.h"
#include "models/wan22/tokenizer.h"
#include "runtime/interrupt.h"
#include "vae/vae21.h"
#include "vae/vae22.h"

/* wan/configs/shared_config.py sample_neg_prompt */
const char *const wan22_default_negative_prompt =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走";

static const char *const mode_names[] = {"t2v", "i2v", "flf2v", "ti2v"};
_Static_assert(sizeof(mode_names) / sizeof(mode_names[0]) == WAN22_MODE_COUNT, "mode_names covers every mode");

const char *wan22_mode_name(wan22_mode m) { return (unsigned)m < WAN22_MODE_COUNT ? mode_names[m] : "unknown"; }

bool wan22_mode_parse(const char *name, wan22_mode *out)
{
    for (int i = 0; i < WAN22_MODE_COUNT; i++)
        if (strcmp(name, mode_names[i]) == 0) {
            *out = (wan22_mode)i;
            return true;
        }
    return false;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static wr_status check_file(const char *what, const char *path)
{
    if (!path)
        return wr_fail(WR_E_ARG, "missing %s file (give --%s FILE)", what, what);
    FILE *f = fopen(path, "rb");
    if (!f)
        return wr_fail(WR_E_IO, "%s file %s cannot be opened", what, path);
    fclose(f);
    return WR_OK;
}

wr_status wan22_gen_validate(const wan22_gen *g)
{
    if (g->mode == WAN22_MODE_TI2V && (g->width % 32 || g->height % 32))
        return wr_fail(WR_E_ARG, "size %dx%d: TI2V-5B needs width and height multiples of 32", g->width, g->height);
    if (g->mode == WAN22_MODE_TI2V && g->end_image)
        return wr_fail(WR_E_ARG, "mode ti2v takes at most a start image (no --end-image)");
    if (g->width < 16 || g->height < 16 || g->width % 16 || g->height % 16)
        return wr_fail(WR_E_ARG, "size %dx%d: width and height must be multiples of 16", g->width, g->height);
    if (g->frames < 1 || (g->frames - 1) % 4)
        return wr_fail(WR_E_ARG, "--frames %d: the frame count must be 4k+1 (e.g. 81, 49, 17, 5)", g->frames);
    if ((g->block_swap > 0 || g->vram) && wr_buffers_are_host())
        return wr_fail(WR_E_ARG, "--block-swap and --vram budget a GPU's memory: run with --device cuda (or emu); the "
                       "CPU backend reads the weights memory-mapped");
    if (g->per_expert_cfg && g->n_cfg > 1)
        return wr_fail(WR_E_ARG, "give either a per-step --cfg list or --cfg-high/--cfg-low, not both");
    if (g->n_cfg != 1 && g->n_cfg != g->steps)
        return wr_fail(WR_E_ARG, "--cfg has %d values for %d steps: give one value or one per step", g->n_cfg, g->steps);
    if (g->split > g->steps)
        return wr_fail(WR_E_ARG, "--split %d is beyond the %d steps", g->split, g->steps);
    if (!g->prompt)
        return wr_fail(WR_E_ARG, "missing --prompt");
    WR_TRY(check_file("high-noise", g->high_noise));
    if (g->low_noise)
        WR_TRY(check_file("low-noise", g->low_noise));
    WR_TRY(check_file("t5", g->t5));
    WR_TRY(check_file("tokenizer", g->tokenizer));
    WR_TRY(check_file("vae", g->vae));
    for (int i = 0; i < g->n_loras; i++)
        WR_TRY(check_file("lora", g->loras[i].path));
    if (!g->image_frames &&
        (g->mode == WAN22_MODE_I2V || g->mode == WAN22_MODE_FLF2V || (g->mode == WAN22_MODE_TI2V && g->image)))
        WR_TRY(check_file("image", g->image));
    if (g->mode == WAN22_MODE_FLF2V)
        WR_TRY(check_file("end-image", g->end_image));
    if (g->mode == WAN22_MODE_T2V && (g->image || g->end_image || g->image_frames))
        return wr_fail(WR_E_ARG, "mode t2v takes no image (use --mode i2v or flf2v)");
    wan22_schedule s;
    return wan22_schedule_make(g->sampler, g->steps, g->shift, &s);
}

static void report(const wan22_hooks *h, const char *stage, int step, int total, double t0)
{
    if (h && h->progress)
        h->progress(h->ctx, stage, step, total, now() - t0);
}

static int preview_due(const wan22_hooks *h, int step, int total)
{
    return h && h->preview && (step == total || (h->preview_every > 0 && step % h->preview_every == 0));
}

/* The preview hook, given the flow-matching estimate of the clean latent x0 = x_t − σ·v. */
static wr_status preview(const wan22_hooks *h, int step, int total, vae_vol *x0, const float *z, const vae21 *v21,
                         const vae22 *v22, double t0)
{
    if (z)
        wan22_ti2v_reimpose(x0->d, z, x0->c, x0->t, x0->h, x0->w);
    vae_vol frames = {0};
    report(h, "preview", 0, 1, t0);
    WR_TRY(wan22_preview_decode(v21, v22, x0, &frames));
    h->preview(h->ctx, step, total, x0, &frames);
    vae_vol_free(&frames);
    report(h, "preview", 1, 1, t0);
    return WR_OK;
}

/* Under a --vram budget on a device the final decode must fit too: resident (its working set
 * without the output video, the decoder's weights and the driver reserve) when that fits the
 * budget, else staged one op at a time (its largest op plus the reserve). Both from a dry run of
 * the VAE planner; *staged tells the caller to keep the decode's volumes on the host. */
static wr_status vae_budget_check(const wan22_gen *g, wan_vae v, int *staged)
{
    *staged = 0;
    if (!g->vram || wr_buffers_are_host())
        return WR_OK;
    vae_plan p;
    vae_op_reset_peak();
    WR_TRY(vae_plan_model(&v, 1, g->frames, g->height, g->width, &g->vae_tile, &p));
    size_t resident = p.work - p.output + p.weights + WR_DEVICE_RESERVE, op = vae_op_peak() + WR_DEVICE_RESERVE;
    if (resident <= g->vram)
        return WR_OK;
    if (op > g->vram)
        return wr_fail(WR_E_OOM, "the VAE decode needs %.2f GiB of device memory even staged one op at a time (its "
                       "largest op plus the driver reserve), over --vram %.2f GiB: tile it (--vae-tile)",
                       (double)op / 1073741824.0, (double)g->vram / 1073741824.0);
    *staged = 1;
    return WR_OK;
}

wr_status wan22_generate(const wan22_gen *g, const wan22_hooks *hooks, vae_vol *video, vae_vol *latent_out)
{
    WR_TRY(wan22_gen_validate(g));
    wr_weightfile t5f = {0}, vaef = {0};
    wan22_t5 *t5 = NULL;
    wan22_tokenizer *tok = NULL;
    vae21 *vae = NULL;
    vae22 *vae2 = NULL;
    const int ti2v = g->mode == WAN22_MODE_TI2V;
    const wr_attention_mode attention = wr_attention_mode_get(); /* the run's; some steps may go dense */
    const int zc = ti2v ? 48 : 16, stride = ti2v ? 16 : 8;
    const int lt = (g->frames - 1) / 4 + 1, lh = g->height / stride, lw = g->width / stride;
    float *z = NULL, *tok_t = NULL; /* TI2V: image latent [48, 1, h, w], per-token timesteps */
    wan22_expert ex = {0};
    wan22_solver solver = {0};
    float *ctx_pos = NULL, *ctx_neg = NULL, *y = NULL, *x = NULL, *v = NULL, *vu = NULL;
    int len_pos = 0, len_neg = 0;
    wr_status st;
    double t0 = now();
    /* everything opens before the heavy work starts */
    WR_TRY_GOTO(wan22_tokenizer_load(&tok, g->tokenizer));
    WR_TRY_GOTO(wr_weightfile_open(&t5f, g->t5));
    WR_TRY_GOTO(wan22_t5_load(&t5, &t5f));
    WR_TRY_GOTO(wr_weightfile_open(&vaef, g->vae));
    if (ti2v)
        WR_TRY_GOTO(vae22_load(&vae2, &vaef));
    else
        WR_TRY_GOTO(vae21_load(&vae, &vaef));
    int vae_staged;
    WR_TRY_GOTO(vae_budget_check(g, wan_vae_of(vae, vae2), &vae_staged));
    WR_TRY_GOTO(wan22_expert_load(&ex, g, g->high_noise, 1));
    const wan22_config cfg = ex.w.cfg;
    int want_in = ti2v ? 48 : g->mode == WAN22_MODE_T2V ? 16 : 36;
    if (cfg.in_dim != want_in) {
        st = wr_fail(WR_E_ARG, "%s is a %s model (%d input channels) but mode %s needs %d", g->high_noise,
                     wan22_variant_name(cfg.variant), cfg.in_dim, wan22_mode_name(g->mode), want_in);
        goto fail;
    }
    if (wan22_t5_config_of(t5)->dim != cfg.text_dim) {
        st = wr_fail(WR_E_ARG, "%s gives %d-dim text features but %s expects %d", g->t5, wan22_t5_config_of(t5)->dim,
                     g->high_noise, cfg.text_dim);
        goto fail;
    }
    if (wan22_tokenizer_vocab_size(tok) > wan22_t5_config_of(t5)->vocab) {
        st = wr_fail(WR_E_ARG, "%s has %d pieces but the text encoder %s only %d embeddings", g->tokenizer,
                     wan22_tokenizer_vocab_size(tok), g->t5, wan22_t5_config_of(t5)->vocab);
        goto fail;
    }
    int need_uncond = 0;
    for (int i = 0; i < g->n_cfg; i++)
        need_uncond |= !g->per_expert_cfg && g->cfg[i] != 1.0f;
    need_uncond |= g->per_expert_cfg && (g->cfg_high != 1.0f || g->cfg_low != 1.0f);
    report(hooks, "text", 0, 1 + need_uncond, t0);
    WR_TRY_GOTO(wan22_pipe_encode_text(g, tok, t5, g->prompt, cfg.text_len, &ctx_pos, &len_pos));
    report(hooks, "text", 1, 1 + need_uncond, t0);
    if (need_uncond) {
        WR_TRY_GOTO(wan22_pipe_encode_text(g, tok, t5, g->negative_prompt ? g->negative_prompt
                                                                          : wan22_default_negative_prompt,
                                           cfg.text_len, &ctx_neg, &len_neg));
        report(hooks, "text", 2, 2, t0);
    }
    size_t n = (size_t)zc * lt * lh * lw;
    int64_t tokens = (int64_t)lt * (lh / 2) * (lw / 2);
    x = malloc(n * sizeof *x);
    v = malloc(n * sizeof *v);
    vu = malloc(n * sizeof *vu);
    if (!x || !v || !vu) {
        st = wr_fail(WR_E_OOM, "out of memory for the latent");
        goto fail;
    }
    WR_TRY_GOTO(wan22_pipe_initial_noise(g, x, n));
    if (ti2v && (g->image || g->image_frames)) { /* image latent at frame 0, kept there, its tokens at t = 0 */
        report(hooks, "vae-encode", 0, 1, t0);
        WR_TRY_GOTO(wan22_pipe_ti2v_image_latent(g, vae2, &z));
        wan22_ti2v_init(x, z, x, zc, lt, lh, lw);
        tok_t = malloc((size_t)tokens * sizeof *tok_t);
        if (!tok_t) {
            st = wr_fail(WR_E_OOM, "out of memory");
            goto fail;
        }
        report(hooks, "vae-encode", 1, 1, t0);
    } else if (g->mode != WAN22_MODE_T2V && !ti2v) {
        report(hooks, "vae-encode", 0, 1, t0);
        WR_TRY_GOTO(wan22_pipe_image_condition(g, vae, &y));
        report(hooks, "vae-encode", 1, 1, t0);
    }
    wan22_schedule sched;
    WR_TRY_GOTO(wan22_schedule_make(g->sampler, g->steps, g->shift, &sched));
    double boundary = g->boundary > 0 ? g->boundary : g->mode == WAN22_MODE_T2V ? 0.875 : 0.900;
    int split = !g->low_noise ? g->steps : g->split >= 0 ? g->split : wan22_schedule_split_by_boundary(&sched, boundary);
    WR_TRY_GOTO(wan22_solver_init(&solver, &sched, (int64_t)n, g->seed + 1));
    for (int i = 0; i < g->steps; i++) {
        const int high = i < split;
        const char *stage = high ? "denoise-high" : "denoise-low";
        const int first = high ? 0 : split, count = high ? split : g->steps - split;
        if (i == first)
            report(hooks, stage, 0, count, t0);
        WR_TRY_GOTO(wan22_expert_load(&ex, g, high ? g->high_noise : g->low_noise, high ? 1 : 2));
        float t = (float)sched.timesteps[i];
        float gs = g->per_expert_cfg ? (high ? g->cfg_high : g->cfg_low) : g->cfg[g->n_cfg == 1 ? 0 : i];
        wan22_dit_input in = {.x = x, .y = y, .c_noise = zc, .f = lt, .h = lh, .w = lw, .context = ctx_pos,
                              .ctx_len = len_pos, .t = &t, .n_t = 1};
        if (tok_t) {
            wan22_ti2v_timesteps(tok_t, t, lt, lh, lw);
            in.t = tok_t;
            in.n_t = (int)tokens;
        }
        wr_attention_mode_set(i < g->dense_attention_steps ? WR_ATTENTION_DENSE : attention);
        ex.w.dense_attention_blocks = g->dense_attention_blocks;
        WR_TRY_GOTO(wan22_dit_forward(&ex.w, &in, v, NULL, NULL));
        if (gs != 1.0f) {
            in.context = ctx_neg;
            in.ctx_len = len_neg;
            WR_TRY_GOTO(wan22_dit_forward(&ex.w, &in, vu, NULL, NULL));
            for (size_t j = 0; j < n; j++)
                v[j] = vu[j] + gs * (v[j] - vu[j]);
        }
        for (size_t j = 0; j < n; j++)
            if (v[j] != v[j]) {
                st = wr_fail(WR_E_FORMAT, "step %d: the model produced NaN (bad weights?)", i);
                goto fail;
            }
        const int show = preview_due(hooks, i + 1, g->steps);
        for (size_t j = 0; show && j < n; j++) /* vu is free again: it holds x0 for the preview */
            vu[j] = x[j] - sched.sigmas[i] * v[j];
        wan22_solver_step(&solver, v, x);
        if (z)
            wan22_ti2v_reimpose(x, z, zc, lt, lh, lw);
        report(hooks, stage, i + 1 - first, count, t0);
        vae_vol x0 = {.c = zc, .t = lt, .h = lh, .w = lw, .d = vu};
        if (show)
            WR_TRY_GOTO(preview(hooks, i + 1, g->steps, &x0, z, vae, vae2, t0));
        if (wr_interrupted() && i + 1 < g->steps) {
            st = wr_fail(WR_E_INTERRUPTED, "interrupted after step %d of %d", i + 1, g->steps);
            goto fail;
        }
    }
    wan22_expert_free(&ex);
    report(hooks, "vae-decode", 0, 1, t0);
    vae_vol lat = {.c = zc, .t = lt, .h = lh, .w = lw, .d = x};
    wan_vae wv = wan_vae_of(vae, vae2);
    if (vae_staged)
        vae_set_host_volumes(1); /* a resident decode would overrun --vram: stage its ops */
    st = wan_vae_decode_tiled(&wv, &lat, &g->vae_tile, video);
    if (vae_staged)
        vae_set_host_volumes(0);
    if (st != WR_OK)
        goto fail;
    for (size_t j = 0; j < vae_vol_size(video); j++)
        video->d[j] = video->d[j] < -1.0f ? -1.0f : video->d[j] > 1.0f ? 1.0f : video->d[j];
    report(hooks, "vae-decode", 1, 1, t0);
fail:
    wr_attention_mode_set(attention);
    /* the latent is handed out on success and when interrupted, so the work is not lost */
    if (latent_out && x && (st == WR_OK || st == WR_E_INTERRUPTED)) {
        *latent_out = (vae_vol){.c = zc, .t = lt, .h = lh, .w = lw, .d = x};
        x = NULL;
    }
    wan22_solver_free(&solver);
    wan22_expert_free(&ex);
    free(ctx_pos), free(ctx_neg), free(y), free(x), free(v), free(vu), free(z), free(tok_t);
    vae21_free(vae);
    vae22_free(vae2);
    wan22_t5_free(t5);
    wan22_tokenizer_free(tok);
    wr_weightfile_close(&vaef), wr_weightfile_close(&t5f);
    return st;
}
