/* wanrt generate: prompt (+ image) to video file, the main job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/plan_dit.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "media/color_match.h"
#include "media/contact_sheet.h"
#include "media/png_io.h"
#include "media/video.h"
#include "models/wan22/pipeline.h"
#include "runtime/interrupt.h"
#include "runtime/io/safetensors_write.h"
#include "runtime/ops.h"
#include "runtime/threadpool.h"

static const char usage[] =
    "usage: wanrt generate --prompt TEXT -o OUT.mp4 [options]\n"
    "models:  --high-noise FILE [--low-noise FILE] | --model FILE   (Wan DiT: official, ComfyUI or GGUF)\n"
    "         --t5 FILE --tokenizer FILE --vae FILE\n"
    "mode:    --mode t2v|i2v|flf2v|ti2v (default t2v, i2v with --image, flf2v with --end-image)\n"
    "         --image FILE [--end-image FILE]\n"
    "video:   --width 832 --height 480 --frames 81 --fps 16\n"
    "sampler: --steps 6 --split 3 (or --boundary 0.875) --shift 8 --sampler unipc|dpm++|dpm++_sde|euler|lcm\n"
    "         --cfg 2,1,1,1,1,1 (one value or one per step) or --cfg-high G --cfg-low G (per expert)\n"
    "         --seed 42 --negative-prompt TEXT (default: the official Chinese negative prompt)\n"
    "output:  -o OUT (.mp4 H.264, .mkv FFV1 lossless, .y4m, DIR/ PNG frames) --crf 19\n"
    "         --last-frame FILE.png (default OUT.last.png) --contact-sheet FILE.png --save-latent FILE\n"
    "         --preview FILE.png [--preview-every N]: first/middle/last frame of the denoised estimate,\n"
    "         rewritten every N steps (default 1) and after the last\n"
    VAE_TILING_HELP
    "lora:    --lora FILE[:STRENGTH][@high|@low] (repeatable; e.g. lightx2v.safetensors:3.0@high)\n"
    "Ctrl-C stops after the current step; with --save-latent the latent reached so far is kept.\n"
    "attn:    --attention dense|sage (default dense; sage: SageAttention-style int8 Q.K, fp16 P.V (fp8 from\n"
    "         sm_89); a CUDA kernel from sm_80, its CPU twin on --device cpu)\n"
    "         [--attention-dense-steps N] [--attention-dense-blocks N] (sage: dense attention for the\n"
    "         first N steps / the first N blocks of every step)\n"
    "gpu:     --vram GIB (the device budget: the fewest swapped blocks and the FFN chunk that fit it,\n"
    "         as wanrt plan generate shows) | --block-swap N (the DiT's last N blocks in pinned host\n"
    "         memory, copied in ahead of use)\n"
    "other:   --threads N --text-len N --noise FILE.safetensors --text-cache DIR (reuse prompt encodings)\n"
    "         (and the global --device cpu|emu|cuda)\n";

static const char extend_usage[] =
    "extend:  --segments N (default 2) --color-match none|lab|histogram; needs --image (i2v) or --mode ti2v;\n"
    "         segment k+1 starts from the exact last frame of segment k, seeds seed, seed+1, ...\n";

static int parse_cfg(const char *text, wan22_gen *g)
{
    char *copy = strdup(text), *save = NULL;
    g->n_cfg = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        double v;
        if (g->n_cfg == WAN22_MAX_CFG || !cli_parse_float("--cfg", tok, &v)) {
            free(copy);
            return 0;
        }
        g->cfg[g->n_cfg++] = (float)v;
    }
    free(copy);
    return g->n_cfg > 0;
}

/* Everything the generate / extend command lines set. */
typedef struct gen_cli {
    wan22_gen g;
    const char *out, *last_frame, *sheet, *save_latent, *mode, *preview;
    double fps;
    long long crf, threads, segments, preview_every;
    cli_progress progress;
    wr_color_match color;
    wr_attention_mode attention;
    int block_swap_given;
    char last_default[4096];
} gen_cli;

/* Returns -1 when parsing succeeded, else the process exit code. */
static int parse_args(const char *cmd, int argc, char **argv, gen_cli *c, int extend)
{
    memset(c, 0, sizeof *c);
    c->g = (wan22_gen){.width = 832, .height = 480, .frames = 81, .steps = 6, .split = -1, .shift = 8.0,
                       .sampler = WAN22_SAMPLER_UNIPC, .cfg = {1.0f}, .n_cfg = 1, .seed = 42};
    c->fps = 16;
    c->crf = -1;
    c->segments = 2;
    c->preview_every = 1;
    wan22_gen *g = &c->g;
    long long v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
#define FLAG(name) (!strcmp(a, name) && val && (++i, 1))
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            if (extend)
                fputs(extend_usage, stdout);
            return 0;
        } else if (FLAG("--prompt")) g->prompt = val;
        else if (FLAG("--negative-prompt")) g->negative_prompt = val;
        else if (FLAG("--high-noise") || FLAG("--model")) g->high_noise = val;
        else if (FLAG("--low-noise")) g->low_noise = val;
        else if (FLAG("--t5")) g->t5 = val;
        else if (FLAG("--tokenizer")) g->tokenizer = val;
        else if (FLAG("--vae")) g->vae = val;
        else if (FLAG("--image")) g->image = val;
        else if (FLAG("--end-image")) g->end_image = val;
        else if (FLAG("--noise")) g->noise_file = val;
        else if (FLAG("--text-cache")) g->text_cache = val;
        else if (FLAG("--mode")) c->mode = val;
        else if (FLAG("-o") || FLAG("--out")) c->out = val;
        else if (FLAG("--last-frame")) c->last_frame = val;
        else if (FLAG("--contact-sheet")) c->sheet = val;
        else if (FLAG("--save-latent")) c->save_latent = val;
        else if (FLAG("--preview")) c->preview = val;
        else if (FLAG("--attention")) {
            if (!wr_attention_mode_parse(val, &c->attention)) {
                fprintf(stderr, "wanrt %s: --attention takes dense or sage, not '%s'\n", cmd, val);
                return 2;
            }
        } else if (FLAG("--attention-dense-steps")) {
            if (!cli_parse_int(a, val, 0, WAN22_MAX_STEPS, &v))
                return 2;
            g->dense_attention_steps = (int)v;
        } else if (FLAG("--attention-dense-blocks")) {
            if (!cli_parse_int(a, val, 0, 1000, &v))
                return 2;
            g->dense_attention_blocks = (int)v;
        } else if (FLAG("--block-swap")) {
            if (!cli_parse_int(a, val, 0, 1000, &v))
                return 2;
            g->block_swap = (int)v;
            c->block_swap_given = 1;
        } else if (FLAG("--vram")) {
            if (!plan_parse_bytes(a, val, &g->vram))
                return 2;
        }
        else if (FLAG("--vae-tile")) {
            wr_status ts = vae_tiling_parse(val, &g->vae_tile);
            if (ts != WR_OK)
                return cli_report(cmd, ts);
        }
        else if (FLAG("--preview-every")) { if (!cli_parse_int(a, val, 1, WAN22_MAX_STEPS, &c->preview_every)) return 2; }
        else if (FLAG("--width")) { if (!cli_parse_int(a, val, 16, 8192, &v)) return 2; g->width = (int)v; }
        else if (FLAG("--height")) { if (!cli_parse_int(a, val, 16, 8192, &v)) return 2; g->height = (int)v; }
        else if (FLAG("--frames")) { if (!cli_parse_int(a, val, 1, 10001, &v)) return 2; g->frames = (int)v; }
        else if (FLAG("--steps")) { if (!cli_parse_int(a, val, 1, WAN22_MAX_STEPS, &v)) return 2; g->steps = (int)v; }
        else if (FLAG("--split")) { if (!cli_parse_int(a, val, 0, WAN22_MAX_STEPS, &v)) return 2; g->split = (int)v; }
        else if (FLAG("--seed")) { if (!cli_parse_int(a, val, 0, 0x7fffffffffffffffLL, &v)) return 2; g->seed = (uint64_t)v; }
        else if (FLAG("--text-len")) { if (!cli_parse_int(a, val, 1, 4096, &v)) return 2; g->text_len = (int)v; }
        else if (FLAG("--threads")) { if (!cli_parse_int(a, val, 1, 256, &c->threads)) return 2; }
        else if (FLAG("--crf")) { if (!cli_parse_int(a, val, 0, 51, &c->crf)) return 2; }
        else if (FLAG("--shift")) { if (!cli_parse_float(a, val, &g->shift)) return 2; }
        else if (FLAG("--boundary")) { if (!cli_parse_float(a, val, &g->boundary)) return 2; }
        else if (FLAG("--cfg-high") || FLAG("--cfg-low")) {
            double gv;
            if (!cli_parse_float(a, val, &gv))
                return 2;
            if (!g->per_expert_cfg)
                g->cfg_high = g->cfg_low = 1.0f;
            g->per_expert_cfg = 1;
            if (!strcmp(a, "--cfg-high"))
                g->cfg_high = (float)gv;
            else
                g->cfg_low = (float)gv;
        } else if (FLAG("--fps")) { if (!cli_parse_float(a, val, &c->fps) || c->fps <= 0) return 2; }
        else if (FLAG("--cfg")) {
            if (!parse_cfg(val, g)) {
                fprintf(stderr, "wanrt %s: --cfg expects numbers separated by commas, e.g. 2,1,1,1,1,1\n", cmd);
                return 2;
            }
        } else if (FLAG("--sampler")) {
            if (!wan22_sampler_parse(val, &g->sampler)) {
                fprintf(stderr, "wanrt %s: unknown sampler '%s' (valid: %s)\n", cmd, val, wan22_sampler_list());
                return 2;
            }
        } else if (FLAG("--lora")) {
            if (g->n_loras == WAN22_MAX_LORAS) {
                fprintf(stderr, "wanrt %s: at most %d --lora\n", cmd, WAN22_MAX_LORAS);
                return 2;
            }
            wr_status ls = wan22_lora_ref_parse(argv[i], &g->loras[g->n_loras++]);
            if (ls != WR_OK)
                return cli_report(cmd, ls);
        } else if (extend && FLAG("--segments")) {
            if (!cli_parse_int(a, val, 1, 1000, &c->segments))
                return 2;
        } else if (extend && FLAG("--color-match")) {
            if (!wr_color_match_parse(val, &c->color)) {
                fprintf(stderr, "wanrt %s: --color-match takes none, lab or histogram\n", cmd);
                return 2;
            }
        } else {
            fprintf(stderr, "wanrt %s: unknown or incomplete option '%s'\n%s", cmd, a, usage);
            return 2;
        }
#undef FLAG
    }
    if (!c->out || !g->prompt) {
        fputs(usage, stderr);
        return 2;
    }
    g->mode = g->end_image ? WAN22_MODE_FLF2V : g->image ? WAN22_MODE_I2V : WAN22_MODE_T2V;
    if (c->mode && !wan22_mode_parse(c->mode, &g->mode)) {
        fprintf(stderr, "wanrt %s: unknown mode '%s' (valid: t2v, i2v, flf2v, ti2v)\n", cmd, c->mode);
        return 2;
    }
    return -1;
}

/* Exit codes: 0, 130 after Ctrl-C (the shell's convention for SIGINT), else 1. */
static int finish(const char *cmd, wr_status st)
{
    wr_attention_mode_set(WR_ATTENTION_DENSE); /* the mode is process-wide: a run's setting ends with it */
    if (st == WR_E_INTERRUPTED) {
        fprintf(stderr, "wanrt %s: %s; no video was written\n", cmd, wr_last_error());
        return 130;
    }
    return st == WR_OK ? 0 : cli_report(cmd, st);
}

/* Checks before the heavy work: inputs, sizes, and that the output's folder exists. */
static wr_status prepare(gen_cli *c)
{
    cli_progress_init(&c->progress, stderr);
    wr_interrupt_install();
    if (c->threads)
        WR_TRY(wr_threads_set((int)c->threads));
    if (!c->last_frame) {
        const char *dot = strrchr(c->out, '.');
        int stem = dot && !strchr(dot, '/') ? (int)(dot - c->out) : (int)strlen(c->out);
        snprintf(c->last_default, sizeof c->last_default, "%.*s.last.png", stem, c->out);
        c->last_frame = c->last_default;
    }
    if ((c->g.dense_attention_steps || c->g.dense_attention_blocks) && c->attention != WR_ATTENTION_SAGE)
        return wr_fail(WR_E_ARG, "--attention-dense-steps/-blocks choose where sage attention stays dense: give "
                       "--attention sage");
    if (c->g.vram && !c->block_swap_given)
        c->g.block_swap = -1; /* chosen to fit */
    WR_TRY(wan22_gen_validate(&c->g));
    wr_attention_mode_set(c->attention);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", c->out);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir + strlen(dir) - 1) {
        *slash = '\0';
        if (access(dir, W_OK) != 0)
            return wr_fail(WR_E_IO, "%s: the output folder %s does not exist or is not writable", c->out, dir);
    }
    fprintf(stderr, "wanrt: %s %dx%d, %d frames, %d steps (%s, shift %g), seed %llu, %d threads, %s attention\n",
            wan22_mode_name(c->g.mode), c->g.width, c->g.height, c->g.frames, c->g.steps,
            wan22_sampler_name(c->g.sampler), c->g.shift, (unsigned long long)c->g.seed, wr_threads_count(),
            wr_attention_mode_name(c->attention));
    return WR_OK;
}

/* The --preview hook: the decoded frames side by side, rewritten atomically. */
static void write_preview(void *ctx, int step, int total, const vae_vol *x0, const vae_vol *pv)
{
    const gen_cli *c = ctx;
    (void)x0;
    wr_frames f = {0};
    wr_status st = wr_frames_alloc(&f, pv->w, pv->h, pv->t, c->fps);
    if (st == WR_OK) {
        wr_frames_from_f32(&f, pv->d, 0, pv->t);
        st = wr_contact_sheet_write(c->preview, &f, pv->t, pv->t, pv->w);
    }
    wr_frames_free(&f);
    if (st != WR_OK) /* a preview is a convenience: report, keep generating */
        fprintf(stderr, "wanrt: preview after step %d/%d not written: %s\n", step, total, wr_last_error());
}

static void progress_event(void *ctx, const char *stage, int step, int total, double seconds)
{
    gen_cli *c = ctx;
    cli_progress_event(&c->progress, stage, step, total, seconds);
}

/* Writes the latent (final, or reached so far when interrupted) to --save-latent. */
static wr_status save_latent(const gen_cli *c, const vae_vol *latent, int interrupted)
{
    wr_st_entry e = {.name = "latent", .dtype = WR_DTYPE_F32, .n_dims = 4,
                     .shape = {latent->c, latent->t, latent->h, latent->w}, .data = latent->d};
    const char *const meta[1][2] = {{"state", interrupted ? "interrupted" : "final"}};
    WR_TRY(wr_safetensors_write(c->save_latent, &e, 1, meta, 1));
    fprintf(stderr, "wrote the %s latent to %s\n", meta[0][1], c->save_latent);
    return WR_OK;
}

/* Runs one generation into 8-bit frames (and the latent when wanted). An interrupted run
 * keeps its latent in --save-latent and returns WR_E_INTERRUPTED. */
static wr_status generate_frames(gen_cli *c, const wan22_gen *g, wr_frames *frames, vae_vol *latent)
{
    vae_vol video = {0}, own = {0};
    if (!latent && c->save_latent)
        latent = &own;
    wan22_hooks hooks = {.progress = progress_event, .ctx = c, .preview_every = (int)c->preview_every,
                         .preview = c->preview ? write_preview : NULL};
    wr_status st = wan22_generate(g, &hooks, &video, latent);
    if (st == WR_OK && wr_interrupted())
        st = wr_fail(WR_E_INTERRUPTED, "interrupted during the VAE decode");
    if (st == WR_E_INTERRUPTED && c->save_latent && latent->d) {
        wr_status saved = save_latent(c, latent, 1);
        st = saved == WR_OK ? WR_E_INTERRUPTED : saved;
    }
    vae_vol_free(&own);
    if (st != WR_OK) {
        vae_vol_free(&video);
        return st;
    }
    st = wr_frames_alloc(frames, video.w, video.h, video.t, c->fps);
    if (st == WR_OK)
        wr_frames_from_f32(frames, video.d, 0, video.t);
    vae_vol_free(&video);
    return st;
}

/* The video, the exact last decoded frame (never re-decoded from the compressed file) and the
 * optional contact sheet. */
static wr_status write_outputs(const gen_cli *c, const wr_frames *frames)
{
    wr_video_opts o = {.crf = (int)c->crf};
    WR_TRY(wr_video_write(c->out, frames, &o));
    WR_TRY(wr_png_write_rgb(c->last_frame, frames->width, frames->height, wr_frames_at(frames, frames->count - 1)));
    if (c->sheet)
        WR_TRY(wr_contact_sheet_write(c->sheet, frames, 8, 4, 256));
    fprintf(stderr, "wrote %s (%d frames, %dx%d, %g fps) and the last frame %s\n", c->out, frames->count,
            frames->width, frames->height, c->fps, c->last_frame);
    return WR_OK;
}

int cmd_generate(int argc, char **argv)
{
    gen_cli c;
    int rc = parse_args("generate", argc, argv, &c, 0);
    if (rc >= 0)
        return rc;
    wr_status st = prepare(&c);
    wr_frames frames = {0};
    vae_vol latent = {0};
    if (st == WR_OK)
        st = generate_frames(&c, &c.g, &frames, &latent);
    if (st == WR_OK)
        st = write_outputs(&c, &frames);
    if (st == WR_OK && c.save_latent)
        st = save_latent(&c, &latent, 0);
    wr_frames_free(&frames);
    vae_vol_free(&latent);
    if (st == WR_OK)
        cli_progress_summary(&c.progress);
    return finish("generate", st);
}

/* wanrt extend: N image-to-video segments, each started from the exact last frame of the one
 * before (optionally colour-matched to it), joined without the duplicated joint frames. */
int cmd_extend(int argc, char **argv)
{
    gen_cli c;
    int rc = parse_args("extend", argc, argv, &c, 1);
    if (rc >= 0)
        return rc;
    if (c.g.mode != WAN22_MODE_I2V && c.g.mode != WAN22_MODE_TI2V) {
        fprintf(stderr, "wanrt extend: needs --image with i2v models (or --mode ti2v): segments chain by image\n");
        return 2;
    }
    wr_status st = prepare(&c);
    wr_frames all = {0}, seg = {0}, last = {0};
    for (long long s = 0; s < c.segments && st == WR_OK; s++) {
        wan22_gen g = c.g;
        g.seed = c.g.seed + (uint64_t)s;
        if (s > 0) {
            g.image = NULL;
            g.image_frames = &last;
        }
        fprintf(stderr, "segment %lld of %lld\n", s + 1, c.segments);
        st = generate_frames(&c, &g, &seg, NULL);
        if (st == WR_OK && s > 0)
            st = wr_color_match_apply(&seg, last.rgb, last.width, last.height, c.color);
        if (st != WR_OK)
            break;
        int skip = s > 0; /* frame 0 of a later segment repeats the previous last frame */
        wr_frames grown;
        st = wr_frames_alloc(&grown, seg.width, seg.height, all.count + seg.count - skip, c.fps);
        if (st == WR_OK) {
            size_t fb = (size_t)seg.width * seg.height * 3;
            if (all.count)
                memcpy(grown.rgb, all.rgb, fb * (size_t)all.count);
            memcpy(grown.rgb + fb * (size_t)all.count, wr_frames_at(&seg, skip), fb * (size_t)(seg.count - skip));
            wr_frames_free(&all);
            all = grown;
            wr_frames_free(&last);
            st = wr_frames_alloc(&last, seg.width, seg.height, 1, c.fps);
            if (st == WR_OK)
                memcpy(last.rgb, wr_frames_at(&seg, seg.count - 1), fb);
        }
        wr_frames_free(&seg);
    }
    if (st == WR_OK)
        st = write_outputs(&c, &all);
    wr_frames_free(&all), wr_frames_free(&seg), wr_frames_free(&last);
    if (st == WR_OK)
        cli_progress_summary(&c.progress);
    return finish("extend", st);
}
