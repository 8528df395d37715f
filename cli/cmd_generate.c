/* wanrt generate: prompt (+ image) to video file, the main job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "media/contact_sheet.h"
#include "media/png_io.h"
#include "media/video.h"
#include "models/wan22/pipeline.h"
#include "runtime/io/safetensors_write.h"
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
    "lora:    --lora FILE[:STRENGTH][@high|@low] (repeatable; e.g. lightx2v.safetensors:3.0@high)\n"
    "other:   --threads N --text-len N --noise FILE.safetensors --text-cache DIR (reuse prompt encodings)\n"
    "         (and the global --device cpu|emu|cuda)\n";

static void progress(void *ctx, const char *stage, int step, int total, double seconds)
{
    (void)ctx;
    static double last = 0;
    if (step == 0)
        fprintf(stderr, "[%7.1fs] %s ...\n", seconds, stage);
    else if (!strncmp(stage, "denoise", 7))
        fprintf(stderr, "[%7.1fs] %s step %d/%d (%.2f s/it)\n", seconds, stage, step, total, seconds - last);
    else
        fprintf(stderr, "[%7.1fs] %s done\n", seconds, stage);
    last = seconds;
}

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

int cmd_generate(int argc, char **argv)
{
    wan22_gen g = {.width = 832, .height = 480, .frames = 81, .steps = 6, .split = -1, .shift = 8.0,
                   .sampler = WAN22_SAMPLER_UNIPC, .cfg = {1.0f}, .n_cfg = 1, .seed = 42};
    const char *out = NULL, *last_frame = NULL, *sheet = NULL, *save_latent = NULL, *mode = NULL;
    double fps = 16;
    long long crf = -1, threads = 0, v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
#define FLAG(name) (!strcmp(a, name) && val && (++i, 1))
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (FLAG("--prompt")) g.prompt = val;
        else if (FLAG("--negative-prompt")) g.negative_prompt = val;
        else if (FLAG("--high-noise") || FLAG("--model")) g.high_noise = val;
        else if (FLAG("--low-noise")) g.low_noise = val;
        else if (FLAG("--t5")) g.t5 = val;
        else if (FLAG("--tokenizer")) g.tokenizer = val;
        else if (FLAG("--vae")) g.vae = val;
        else if (FLAG("--image")) g.image = val;
        else if (FLAG("--end-image")) g.end_image = val;
        else if (FLAG("--noise")) g.noise_file = val;
        else if (FLAG("--text-cache")) g.text_cache = val;
        else if (FLAG("--mode")) mode = val;
        else if (FLAG("-o") || FLAG("--out")) out = val;
        else if (FLAG("--last-frame")) last_frame = val;
        else if (FLAG("--contact-sheet")) sheet = val;
        else if (FLAG("--save-latent")) save_latent = val;
        else if (FLAG("--width")) { if (!cli_parse_int(a, val, 16, 8192, &v)) return 2; g.width = (int)v; }
        else if (FLAG("--height")) { if (!cli_parse_int(a, val, 16, 8192, &v)) return 2; g.height = (int)v; }
        else if (FLAG("--frames")) { if (!cli_parse_int(a, val, 1, 10001, &v)) return 2; g.frames = (int)v; }
        else if (FLAG("--steps")) { if (!cli_parse_int(a, val, 1, WAN22_MAX_STEPS, &v)) return 2; g.steps = (int)v; }
        else if (FLAG("--split")) { if (!cli_parse_int(a, val, 0, WAN22_MAX_STEPS, &v)) return 2; g.split = (int)v; }
        else if (FLAG("--seed")) { if (!cli_parse_int(a, val, 0, 0x7fffffffffffffffLL, &v)) return 2; g.seed = (uint64_t)v; }
        else if (FLAG("--text-len")) { if (!cli_parse_int(a, val, 1, 4096, &v)) return 2; g.text_len = (int)v; }
        else if (FLAG("--threads")) { if (!cli_parse_int(a, val, 1, 256, &threads)) return 2; }
        else if (FLAG("--crf")) { if (!cli_parse_int(a, val, 0, 51, &crf)) return 2; }
        else if (FLAG("--shift")) { if (!cli_parse_float(a, val, &g.shift)) return 2; }
        else if (FLAG("--boundary")) { if (!cli_parse_float(a, val, &g.boundary)) return 2; }
        else if (FLAG("--cfg-high") || FLAG("--cfg-low")) {
            double gv;
            if (!cli_parse_float(a, val, &gv))
                return 2;
            if (!g.per_expert_cfg)
                g.cfg_high = g.cfg_low = 1.0f;
            g.per_expert_cfg = 1;
            if (!strcmp(a, "--cfg-high"))
                g.cfg_high = (float)gv;
            else
                g.cfg_low = (float)gv;
        } else if (FLAG("--fps")) { if (!cli_parse_float(a, val, &fps) || fps <= 0) return 2; }
        else if (FLAG("--cfg")) {
            if (!parse_cfg(val, &g)) {
                fprintf(stderr, "wanrt generate: --cfg expects numbers separated by commas, e.g. 2,1,1,1,1,1\n");
                return 2;
            }
        } else if (FLAG("--sampler")) {
            if (!wan22_sampler_parse(val, &g.sampler)) {
                fprintf(stderr, "wanrt generate: unknown sampler '%s' (valid: %s)\n", val, wan22_sampler_list());
                return 2;
            }
        } else if (FLAG("--lora")) {
            if (g.n_loras == WAN22_MAX_LORAS) {
                fprintf(stderr, "wanrt generate: at most %d --lora\n", WAN22_MAX_LORAS);
                return 2;
            }
            wr_status ls = wan22_lora_ref_parse(argv[i], &g.loras[g.n_loras++]);
            if (ls != WR_OK)
                return cli_report("generate", ls);
        } else {
            fprintf(stderr, "wanrt generate: unknown or incomplete option '%s'\n%s", a, usage);
            return 2;
        }
#undef FLAG
    }
    if (!out || !g.prompt) {
        fputs(usage, stderr);
        return 2;
    }
    g.mode = g.end_image ? WAN22_MODE_FLF2V : g.image ? WAN22_MODE_I2V : WAN22_MODE_T2V;
    if (mode && !wan22_mode_parse(mode, &g.mode)) {
        fprintf(stderr, "wanrt generate: unknown mode '%s' (valid: t2v, i2v, flf2v, ti2v)\n", mode);
        return 2;
    }
    if (threads)
        wr_threads_set((int)threads);
    char last_default[4096];
    if (!last_frame) {
        snprintf(last_default, sizeof last_default, "%.*s.last.png", (int)(strrchr(out, '.') && !strchr(strrchr(out, '.'), '/')
                     ? strrchr(out, '.') - out : (long)strlen(out)), out);
        last_frame = last_default;
    }
    /* fail before the heavy work: inputs, sizes, and that the output's folder exists */
    wr_status st = wan22_gen_validate(&g);
    if (st != WR_OK)
        return cli_report("generate", st);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir + strlen(dir) - 1) {
        *slash = '\0';
        if (access(dir, W_OK) != 0)
            return cli_report("generate", wr_fail(WR_E_IO, "%s: the output folder %s does not exist or is not writable", out, dir));
    }
    vae_vol video = {0}, latent = {0};
    fprintf(stderr, "wanrt generate: %s %dx%d, %d frames, %d steps (%s, shift %g), seed %llu, %d threads\n",
            wan22_mode_name(g.mode), g.width, g.height, g.frames, g.steps, wan22_sampler_name(g.sampler), g.shift,
            (unsigned long long)g.seed, wr_threads_count());
    st = wan22_generate(&g, progress, NULL, &video, &latent);
    wr_frames frames = {0};
    if (st == WR_OK)
        st = wr_frames_alloc(&frames, video.w, video.h, video.t, fps);
    if (st == WR_OK) {
        wr_frames_from_f32(&frames, video.d, 0, video.t);
        wr_video_opts o = {.crf = (int)crf};
        st = wr_video_write(out, &frames, &o);
    }
    if (st == WR_OK) /* the exact last decoded frame, never re-decoded from the compressed video */
        st = wr_png_write_rgb(last_frame, frames.width, frames.height, wr_frames_at(&frames, frames.count - 1));
    if (st == WR_OK && sheet)
        st = wr_contact_sheet_write(sheet, &frames, 8, 4, 256);
    if (st == WR_OK && save_latent) {
        wr_st_entry e = {.name = "latent", .dtype = WR_DTYPE_F32, .n_dims = 4,
                         .shape = {latent.c, latent.t, latent.h, latent.w}, .data = latent.d};
        st = wr_safetensors_write(save_latent, &e, 1, NULL, 0);
    }
    if (st == WR_OK)
        fprintf(stderr, "wrote %s (%d frames, %dx%d, %g fps) and the last frame %s\n", out, frames.count, frames.width,
                frames.height, fps, last_frame);
    wr_frames_free(&frames);
    vae_vol_free(&video);
    vae_vol_free(&latent);
    return st == WR_OK ? 0 : cli_report("generate", st);
}
