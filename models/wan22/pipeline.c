/* The generation pipeline (see pipeline.h): text -> conditioning -> denoising -> VAE decode. */
#include "models/wan22/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "media/image.h"
#include "media/resize.h"
#include "models/wan22/dit.h"
#include "models/wan22/lora.h"
#include "runtime/log.h"
#include "models/wan22/t5.h"
#include "models/wan22/text_cache.h"
#include "models/wan22/text_clean.h"
#include "models/wan22/tokenizer.h"
#include "runtime/quant.h"
#include "runtime/rng.h"
#include "models/wan22/cond_ti2v.h"
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

/* Text conditioning: clean, tokenize, pad to text_len, encode, keep the real rows. */
static wr_status encode_text_uncached(const wan22_tokenizer *tok, const wan22_t5 *t5, const char *text, int text_len,
                                      float **ctx, int *ctx_len)
{
    char *clean = NULL;
    int32_t *raw = NULL, *ids = NULL, *mask = NULL;
    float *hidden = NULL;
    int n, dim = wan22_t5_config_of(t5)->dim;
    wr_status st;
    WR_TRY_GOTO(wan22_text_clean(text, &clean));
    WR_TRY_GOTO(wan22_tokenizer_encode(tok, clean, &raw, &n));
    ids = malloc((size_t)text_len * sizeof *ids);
    mask = malloc((size_t)text_len * sizeof *mask);
    hidden = malloc((size_t)text_len * dim * sizeof *hidden);
    if (!ids || !mask || !hidden) {
        st = wr_fail(WR_E_OOM, "text encoder: out of memory");
        goto fail;
    }
    *ctx_len = wan22_tokenizer_pad(tok, raw, n, text_len, ids, mask);
    WR_TRY_GOTO(wan22_t5_encode(t5, ids, mask, text_len, hidden));
    *ctx = hidden;
    hidden = NULL;
fail:
    free(clean), free(raw), free(ids), free(mask), free(hidden);
    return st;
}

/* The text encoder with the optional disk cache in front of it. */
static wr_status encode_text(const wan22_gen *g, const wan22_tokenizer *tok, const wan22_t5 *t5, const char *text,
                             int text_len, float **ctx, int *ctx_len)
{
    char path[4096];
    int dim = wan22_t5_config_of(t5)->dim;
    if (g->text_cache) {
        WR_TRY(wan22_text_cache_path(g->text_cache, text, g->t5, text_len, path, sizeof path));
        if (wan22_text_cache_load(path, dim, ctx, ctx_len)) {
            wr_log_info("text encoder: cache hit %s", path);
            return WR_OK;
        }
    }
    WR_TRY(encode_text_uncached(tok, t5, text, text_len, ctx, ctx_len));
    if (g->text_cache)
        WR_TRY(wan22_text_cache_store(path, *ctx, *ctx_len, dim));
    return WR_OK;
}

wr_status wan22_cond_from_video(const vae21 *vae, const vae_vol *video, int flf2v, float **y)
{
    vae_vol lat = {0};
    WR_TRY(vae21_encode(vae, video, &lat));
    int lt = lat.t;
    size_t lplane = (size_t)lat.h * lat.w, lvol = lplane * (size_t)lt;
    *y = calloc(20 * lvol, sizeof(float));
    if (!*y) {
        vae_vol_free(&lat);
        return wr_fail(WR_E_OOM, "out of memory");
    }
    /* mask: pixel frames with a given image are 1; pixel frame 0 is repeated 4x, then 4 pixel
     * frames per latent frame -> channel j of latent frame t is pixel frame 4t + j − 3 */
    for (int t = 0; t < lt; t++)
        for (int j = 0; j < 4; j++) {
            int pf = t == 0 ? 0 : 4 * t + j - 3;
            if (pf == 0 || (flf2v && pf == video->t - 1))
                for (size_t p = 0; p < lplane; p++)
                    (*y)[(size_t)j * lvol + (size_t)t * lplane + p] = 1.0f;
        }
    memcpy(*y + 4 * lvol, lat.d, 16 * lvol * sizeof(float));
    vae_vol_free(&lat);
    return WR_OK;
}

/* The start image (from memory when given) or the end image, read and resized to planes. */
static wr_status load_image(const wan22_gen *g, int end, float *chw)
{
    if (!end && g->image_frames)
        return wr_resize_cover_crop(g->image_frames->rgb, g->image_frames->width, g->image_frames->height, g->width,
                                    g->height, chw);
    wr_frames img = {0};
    WR_TRY(wr_image_read(end ? g->end_image : g->image, &img));
    wr_status st = wr_resize_cover_crop(img.rgb, img.width, img.height, g->width, g->height, chw);
    wr_frames_free(&img);
    return st;
}

/* I2V / FLF2V: the VAE input is [start image, zeros..., (end image)] in [−1, 1]. */
static wr_status image_condition(const wan22_gen *g, const vae21 *vae, float **y)
{
    vae_vol video = {0};
    size_t plane = (size_t)g->height * g->width;
    WR_TRY(vae_vol_alloc(&video, 3, g->frames, g->height, g->width));
    memset(video.d, 0, vae_vol_size(&video) * sizeof(float));
    float *frame = malloc(3 * plane * sizeof *frame);
    wr_status st = frame ? WR_OK : wr_fail(WR_E_OOM, "out of memory");
    for (int which = 0; st == WR_OK && which < (g->mode == WAN22_MODE_FLF2V ? 2 : 1); which++) {
        int f = which ? g->frames - 1 : 0;
        st = load_image(g, which, frame);
        for (int c = 0; st == WR_OK && c < 3; c++)
            memcpy(video.d + ((size_t)c * g->frames + (size_t)f) * plane, frame + (size_t)c * plane, plane * sizeof(float));
    }
    free(frame);
    if (st == WR_OK)
        st = wan22_cond_from_video(vae, &video, g->mode == WAN22_MODE_FLF2V, y);
    vae_vol_free(&video);
    return st;
}

/* TI2V: the start image as one frame [3, 1, H, W] through the Wan 2.2 VAE -> [48, 1, h, w]. */
static wr_status ti2v_image_latent(const wan22_gen *g, const vae22 *vae, float **z)
{
    vae_vol frame = {0}, lat = {0};
    WR_TRY(vae_vol_alloc(&frame, 3, 1, g->height, g->width));
    wr_status st = load_image(g, 0, frame.d);
    if (st == WR_OK)
        st = vae22_encode(vae, &frame, &lat);
    vae_vol_free(&frame);
    if (st == WR_OK)
        *z = lat.d;
    return st;
}

/* Initial noise: seeded like torch.randn(16, T, h, w), or injected from --noise FILE. */
static wr_status initial_noise(const wan22_gen *g, float *x, size_t n)
{
    if (!g->noise_file) {
        wr_rng rng;
        wr_rng_seed(&rng, g->seed);
        wr_rng_randn(&rng, x, (int64_t)n);
        return WR_OK;
    }
    wr_weightfile wf;
    WR_TRY(wr_weightfile_open(&wf, g->noise_file));
    const wr_wtensor *t = wr_weightfile_find(&wf, "noise");
    wr_status st = WR_OK;
    if (!t || (size_t)wr_tensor_nelements(&t->t) != n || !wr_dequant_get(t->t.dtype))
        st = wr_fail(WR_E_ARG, "%s: needs a float tensor 'noise' with %zu elements [16, T, h, w]", g->noise_file, n);
    else
        for (int64_t r = 0; r < wr_tensor_nrows(&t->t); r++)
            wr_dequant_row_f32(t->t.dtype, wr_tensor_row(&t->t, r), x + r * t->t.ne[0], t->t.ne[0]);
    wr_weightfile_close(&wf);
    return st;
}

wr_status wan22_lora_ref_parse(char *text, wan22_lora_ref *out)
{
    out->path = text;
    out->strength = 1.0f;
    out->experts = 3;
    char *at = strrchr(text, '@');
    if (at && (!strcmp(at, "@high") || !strcmp(at, "@low"))) {
        out->experts = !strcmp(at, "@high") ? 1 : 2;
        *at = '\0';
    }
    char *colon = strrchr(text, ':');
    if (colon && colon[1]) {
        char *end;
        double v = strtod(colon + 1, &end);
        if (*end == '\0') {
            out->strength = (float)v;
            *colon = '\0';
        }
    }
    return *out->path ? WR_OK : wr_fail(WR_E_ARG, "--lora needs a file: FILE[:STRENGTH][@high|@low]");
}

/* Applies the LoRAs meant for this expert (bit 1: high, 2: low) and reports unmatched keys. */
static wr_status apply_loras(const wan22_gen *g, wan22_weights *w, int expert_bit)
{
    for (int i = 0; i < g->n_loras; i++) {
        if (!(g->loras[i].experts & expert_bit))
            continue;
        wr_weightfile lf;
        WR_TRY(wr_weightfile_open(&lf, g->loras[i].path));
        wan22_lora_report rep;
        wr_status st = wan22_lora_apply(w, &lf, g->loras[i].strength, &rep);
        if (st == WR_OK && rep.applied == 0)
            st = wr_fail(WR_E_FORMAT, "%s: no LoRA key matches this Wan model (e.g. %s)", g->loras[i].path,
                         rep.first_unmatched);
        if (st == WR_OK && rep.unmatched)
            wr_log_warn("%s: %d LoRA keys matched nothing (first: %s)", g->loras[i].path, rep.unmatched,
                        rep.first_unmatched);
        if (st == WR_OK)
            wr_log_info("LoRA %s at strength %g: %d weights patched", g->loras[i].path, (double)g->loras[i].strength,
                        rep.applied);
        wr_weightfile_close(&lf);
        WR_TRY(st);
    }
    return WR_OK;
}

typedef struct expert {
    wr_weightfile wf;
    wan22_weights w;
    int loaded;
    const char *path;
} expert;

static wr_status expert_load(expert *e, const wan22_gen *g, const char *path, int expert_bit)
{
    int text_len = g->text_len;
    if (e->loaded && e->path == path)
        return WR_OK;
    if (e->loaded) {
        wan22_weights_free(&e->w);
        wr_weightfile_close(&e->wf);
        e->loaded = 0;
    }
    WR_TRY(wr_weightfile_open(&e->wf, path));
    wr_status st = wan22_weights_bind(&e->w, &e->wf, text_len);
    if (st == WR_OK) {
        st = apply_loras(g, &e->w, expert_bit);
        if (st != WR_OK)
            wan22_weights_free(&e->w);
    }
    if (st != WR_OK) {
        wr_weightfile_close(&e->wf);
        return st;
    }
    e->loaded = 1;
    e->path = path;
    return WR_OK;
}

static void expert_free(expert *e)
{
    if (e->loaded) {
        wan22_weights_free(&e->w);
        wr_weightfile_close(&e->wf);
    }
    e->loaded = 0;
}

static void report(wan22_progress_fn p, void *ctx, const char *stage, int step, int total, double t0)
{
    if (p)
        p(ctx, stage, step, total, now() - t0);
}

wr_status wan22_generate(const wan22_gen *g, wan22_progress_fn progress, void *pctx, vae_vol *video, vae_vol *latent_out)
{
    WR_TRY(wan22_gen_validate(g));
    wr_weightfile t5f = {0}, vaef = {0};
    wan22_t5 *t5 = NULL;
    wan22_tokenizer *tok = NULL;
    vae21 *vae = NULL;
    vae22 *vae2 = NULL;
    const int ti2v = g->mode == WAN22_MODE_TI2V;
    float *z = NULL, *tok_t = NULL; /* TI2V: image latent [48, 1, h, w], per-token timesteps */
    expert ex = {0};
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
    WR_TRY_GOTO(expert_load(&ex, g, g->high_noise, 1));
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
    report(progress, pctx, "text", 0, 1, t0);
    WR_TRY_GOTO(encode_text(g, tok, t5, g->prompt, cfg.text_len, &ctx_pos, &len_pos));
    int need_uncond = 0;
    for (int i = 0; i < g->n_cfg; i++)
        need_uncond |= !g->per_expert_cfg && g->cfg[i] != 1.0f;
    need_uncond |= g->per_expert_cfg && (g->cfg_high != 1.0f || g->cfg_low != 1.0f);
    if (need_uncond)
        WR_TRY_GOTO(encode_text(g, tok, t5, g->negative_prompt ? g->negative_prompt : wan22_default_negative_prompt,
                                cfg.text_len, &ctx_neg, &len_neg));
    report(progress, pctx, "text", 1, 1, t0);
    int zc = ti2v ? 48 : 16, stride = ti2v ? 16 : 8;
    int lt = (g->frames - 1) / 4 + 1, lh = g->height / stride, lw = g->width / stride;
    size_t n = (size_t)zc * lt * lh * lw;
    int64_t tokens = (int64_t)lt * (lh / 2) * (lw / 2);
    x = malloc(n * sizeof *x);
    v = malloc(n * sizeof *v);
    vu = malloc(n * sizeof *vu);
    if (!x || !v || !vu) {
        st = wr_fail(WR_E_OOM, "out of memory for the latent");
        goto fail;
    }
    WR_TRY_GOTO(initial_noise(g, x, n));
    if (ti2v && (g->image || g->image_frames)) { /* image latent at frame 0, kept there, its tokens at t = 0 */
        report(progress, pctx, "vae-encode", 0, 1, t0);
        WR_TRY_GOTO(ti2v_image_latent(g, vae2, &z));
        wan22_ti2v_init(x, z, x, zc, lt, lh, lw);
        tok_t = malloc((size_t)tokens * sizeof *tok_t);
        if (!tok_t) {
            st = wr_fail(WR_E_OOM, "out of memory");
            goto fail;
        }
        report(progress, pctx, "vae-encode", 1, 1, t0);
    } else if (g->mode != WAN22_MODE_T2V && !ti2v) {
        report(progress, pctx, "vae-encode", 0, 1, t0);
        WR_TRY_GOTO(image_condition(g, vae, &y));
        report(progress, pctx, "vae-encode", 1, 1, t0);
    }
    wan22_schedule sched;
    WR_TRY_GOTO(wan22_schedule_make(g->sampler, g->steps, g->shift, &sched));
    double boundary = g->boundary > 0 ? g->boundary : g->mode == WAN22_MODE_T2V ? 0.875 : 0.900;
    int split = !g->low_noise ? g->steps : g->split >= 0 ? g->split : wan22_schedule_split_by_boundary(&sched, boundary);
    WR_TRY_GOTO(wan22_solver_init(&solver, &sched, (int64_t)n, g->seed + 1));
    for (int i = 0; i < g->steps; i++) {
        const char *path = i < split ? g->high_noise : g->low_noise;
        WR_TRY_GOTO(expert_load(&ex, g, path, i < split ? 1 : 2));
        float t = (float)sched.timesteps[i];
        float gs = g->per_expert_cfg ? (i < split ? g->cfg_high : g->cfg_low) : g->cfg[g->n_cfg == 1 ? 0 : i];
        wan22_dit_input in = {.x = x, .y = y, .c_noise = zc, .f = lt, .h = lh, .w = lw, .context = ctx_pos,
                              .ctx_len = len_pos, .t = &t, .n_t = 1};
        if (tok_t) {
            wan22_ti2v_timesteps(tok_t, t, lt, lh, lw);
            in.t = tok_t;
            in.n_t = (int)tokens;
        }
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
        wan22_solver_step(&solver, v, x);
        if (z)
            wan22_ti2v_reimpose(x, z, zc, lt, lh, lw);
        report(progress, pctx, i < split ? "denoise-high" : "denoise-low", i + 1, g->steps, t0);
    }
    expert_free(&ex);
    report(progress, pctx, "vae-decode", 0, 1, t0);
    vae_vol lat = {.c = zc, .t = lt, .h = lh, .w = lw, .d = x};
    WR_TRY_GOTO(ti2v ? vae22_decode(vae2, &lat, video) : vae21_decode(vae, &lat, video));
    for (size_t j = 0; j < vae_vol_size(video); j++)
        video->d[j] = video->d[j] < -1.0f ? -1.0f : video->d[j] > 1.0f ? 1.0f : video->d[j];
    report(progress, pctx, "vae-decode", 1, 1, t0);
    if (latent_out) {
        *latent_out = lat;
        x = NULL;
    }
fail:
    wan22_solver_free(&solver);
    expert_free(&ex);
    free(ctx_pos), free(ctx_neg), free(y), free(x), free(v), free(vu), free(z), free(tok_t);
    vae21_free(vae);
    vae22_free(vae2);
    wan22_t5_free(t5);
    wan22_tokenizer_free(tok);
    wr_weightfile_close(&vaef), wr_weightfile_close(&t5f);
    return st;
}
