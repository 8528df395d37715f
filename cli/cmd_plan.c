/* wanrt plan: the memory a job will need, computed without running it (dry runs of the real
 * code where the planners exist: vae/vae_plan.h, upscale/upscale_plan.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/plan_dit.h"
#include "cli/plan_upscale.h"
#include "media/video_stream.h"
#include "models/wan22/config.h"
#include "models/wan22/dit.h"
#include "upscale/upscale_plan.h"
#include "vae/vae_plan.h"

static const char usage[] =
    "usage: wanrt plan upscale (IN | --size WxH) (--model DIT --vae VAE | --config 3b|7b [--weights FMT]\n"
    "                          [--vae VAE]) [--text EMB] [--resolution 1080] [--batch 5] [--overlap 0]\n"
    "                          [--vae-tile off|S[,O]] [--vram GIB] [--block-swap N] [--attention dense|sage]\n"
    "                          [--json]\n"
    "       wanrt plan generate --width W --height H --frames F\n"
    "                          (--config t2v-a14b|i2v-a14b|ti2v-5b [--weights bf16|fp8|q8_0|q4_k|...]\n"
    "                           | --high-noise FILE [--low-noise FILE])\n"
    "                          [--vram GIB] [--block-swap N] [--ffn-chunk ROWS] [--attention dense|sage]\n"
    "                          [--gpu-precision fp32|bf16|int8|fp8] [--arch 80|89|90] [--json]\n"
    "                          [--vae VAE [--vae-tile ...] [--t5 FILE]]\n"
    "Prints weights (as stored in the files) and the working memory of each stage, planned by dry\n"
    "runs of the same code (nothing is computed) or from the function that sizes the buffers.\n"
    "plan generate: the DiT's device memory on a GPU (weights resident or block-swapped, activations,\n"
    "workspaces), with the fewest swapped blocks that fit --vram; --json prints it as one object\n"
    "(peak_bytes, block_swap, ...). With --vae, also the host memory of each stage (CPU runs).\n"
    "plan upscale: the host memory of each stage and the device memory on a GPU (the DiT's weights\n"
    "resident or block-swapped, the largest op of each stage), the fewest swapped blocks that fit --vram.\n";

static double mib(size_t b) { return (double)b / 1048576.0; }

typedef struct plan_args {
    const char *in, *model, *vae, *text, *high, *low, *t5;
    int w, h, frames, have_size;
    plan_dit_args dit;
    upscale_opts up;
    vae_tiling gen_tile;
} plan_args;

static int parse(int argc, char **argv, plan_args *a)
{
    long long v;
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
#define FLAG(name) (!strcmp(s, name) && val && (++i, 1))
        if (FLAG("--model")) a->model = val;
        else if (FLAG("--vae")) a->vae = val;
        else if (FLAG("--text")) a->text = val;
        else if (FLAG("--high-noise")) a->high = val;
        else if (FLAG("--low-noise")) a->low = val;
        else if (FLAG("--t5")) a->t5 = val;
        else if (FLAG("--config")) a->dit.config = val;
        else if (FLAG("--weights")) a->dit.weights = val;
        else if (FLAG("--vram")) { if (!plan_parse_bytes(s, val, &a->dit.vram)) return 2; }
        else if (FLAG("--block-swap")) { if (!cli_parse_int(s, val, 0, 1000, &v)) return 2; a->dit.block_swap = (int)v; }
        else if (FLAG("--ffn-chunk")) { if (!cli_parse_int(s, val, 1, 1 << 24, &v)) return 2; a->dit.ffn_chunk = (int)v; }
        else if (FLAG("--arch")) { if (!cli_parse_int(s, val, 70, 200, &v)) return 2; a->dit.sage_pv_f8 = v >= 89; }
        else if (FLAG("--attention")) {
            if (!wr_attention_mode_parse(val, &a->dit.attention)) {
                fprintf(stderr, "wanrt plan: --attention takes dense or sage\n");
                return 2;
            }
        } else if (FLAG("--gpu-precision")) {
            if (strcmp(val, "fp32") && strcmp(val, "bf16") && strcmp(val, "int8") && strcmp(val, "fp8")) {
                fprintf(stderr, "wanrt plan: --gpu-precision takes fp32, bf16, int8 or fp8\n");
                return 2;
            }
            a->dit.act_quant = !strcmp(val, "int8") || !strcmp(val, "fp8");
        } else if (!strcmp(s, "--json")) a->dit.json = true;
        else if (FLAG("--size")) {
            if (sscanf(val, "%dx%d", &a->w, &a->h) != 2 || a->w < 1 || a->h < 1) {
                fprintf(stderr, "wanrt plan: --size takes WxH, e.g. 1280x720\n");
                return 2;
            }
            a->have_size = 1;
        } else if (FLAG("--width")) { if (!cli_parse_int(s, val, 16, 8192, &v)) return 2; a->w = (int)v; }
        else if (FLAG("--height")) { if (!cli_parse_int(s, val, 16, 8192, &v)) return 2; a->h = (int)v; }
        else if (FLAG("--frames")) { if (!cli_parse_int(s, val, 1, 10001, &v)) return 2; a->frames = (int)v; }
        else if (FLAG("--resolution")) { if (!cli_parse_int(s, val, 16, 8192, &v)) return 2; a->up.resolution = (int)v; }
        else if (FLAG("--batch")) { if (!cli_parse_int(s, val, 1, 1001, &v)) return 2; a->up.batch = (int)v; }
        else if (FLAG("--overlap")) { if (!cli_parse_int(s, val, 0, 1000, &v)) return 2; a->up.overlap = (int)v; }
        else if (FLAG("--vae-tile")) {
            wr_status st = !strcmp(argv[1], "upscale") ? upscale_vae_tiling_parse(val, &a->up.vae_tile)
                                                       : vae_tiling_parse(val, &a->gen_tile);
            if (st != WR_OK)
                return cli_report("plan", st);
        } else if (s[0] != '-' && !a->in)
            a->in = s;
        else {
            fprintf(stderr, "wanrt plan: unknown or incomplete option '%s'\n%s", s, usage);
            return 2;
        }
#undef FLAG
    }
    return -1;
}

static wr_status plan_upscale(plan_args *a)
{
    plan_upscale_args u = {.in = a->in, .w = a->w, .h = a->h, .model = a->model, .config = a->dit.config,
                           .weights = a->dit.weights, .vae = a->vae, .text = a->text, .up = a->up,
                           .vram = a->dit.vram, .block_swap = a->dit.block_swap, .attention = a->dit.attention,
                           .sage_pv_f8 = a->dit.sage_pv_f8, .act_quant = a->dit.act_quant, .json = a->dit.json};
    return plan_upscale_run(&u);
}

/* The host memory of each stage of a CPU run (needs the VAE file). */
static wr_status plan_generate_host(plan_args *a)
{
    wr_weightfile vwf;
    WR_TRY(wr_weightfile_open(&vwf, a->vae));
    wan_vae v = {0};
    wr_status st = wan_vae_load(&v, &vwf);
    vae_plan dec = {0}, enc = {0};
    size_t wh = 0, wl = 0, wt = 0;
    if (st == WR_OK)
        st = vae_plan_model(&v, 1, a->frames, a->h, a->w, &a->gen_tile, &dec);
    if (st == WR_OK)
        st = vae_plan_model(&v, 0, a->frames, a->h, a->w, &a->gen_tile, &enc);
    if (st == WR_OK)
        st = plan_file_weight_bytes(a->high, &wh);
    if (st == WR_OK)
        st = plan_file_weight_bytes(a->low, &wl);
    if (st == WR_OK)
        st = plan_file_weight_bytes(a->t5, &wt);
    size_t dit_work = 0, latents = 0;
    if (st == WR_OK && a->high) {
        wr_weightfile dwf;
        wan22_config c;
        st = wr_weightfile_open(&dwf, a->high);
        if (st == WR_OK) {
            st = wan22_config_read(&dwf, 0, &c);
            wr_weightfile_close(&dwf);
        }
        int stride = v.scale, f = (a->frames - 1) / 4 + 1;
        if (st == WR_OK) { /* one forward's arena; the loop keeps x, v, the CFG v and the condition */
            dit_work = wan22_dit_workspace(&c, f, a->h / stride, a->w / stride, c.variant == WAN22_TI2V ? 2 : 1, 0);
            latents = (size_t)(3 * c.out_dim + c.in_dim) * f * (a->h / stride) * (a->w / stride) * sizeof(float);
        }
    }
    if (st == WR_OK) {
        printf("generate %dx%dx%d\n", a->w, a->h, a->frames);
        printf("  weights      DiT %9.1f MiB (one expert bound at a time%s)   text encoder %7.1f MiB\n",
               mib(wh > wl ? wh : wl), a->low ? ", the larger shown" : "", mib(wt));
        printf("  VAE encode   %9.1f MiB working (i2v/flf2v/ti2v conditioning), %d tile%s\n", mib(enc.work), enc.tiles,
               enc.tiles == 1 ? "" : "s");
        printf("  VAE decode   %9.1f MiB working (%.1f MiB of it the output video), %d tile%s, weights %.1f MiB\n",
               mib(dec.work), mib(dec.output), dec.tiles, dec.tiles == 1 ? "" : "s", mib(dec.weights));
        if (a->high)
            printf("  DiT          %9.1f MiB activations per forward + %.1f MiB latents (sampler state, CFG)\n",
                   mib(dit_work), mib(latents));
        else
            printf("  DiT          give --high-noise (or the 5B --high-noise) for its activations\n");
    }
    wan_vae_free(&v);
    wr_weightfile_close(&vwf);
    return st;
}

static wr_status plan_generate(plan_args *a)
{
    if (!a->w || !a->h || !a->frames)
        return wr_fail(WR_E_ARG, "plan generate needs --width, --height and --frames");
    if (!a->dit.config && !a->high && !a->vae)
        return wr_fail(WR_E_ARG, "plan generate needs --config NAME or --high-noise FILE (the DiT), or --vae VAE");
    wr_status st = WR_OK;
    if (a->dit.config || a->high) {
        a->dit.model = a->high, a->dit.width = a->w, a->dit.height = a->h, a->dit.frames = a->frames;
        a->dit.vae_tile = &a->gen_tile;
        st = plan_dit_device(&a->dit);
    }
    if (a->vae && !a->dit.json) {
        wr_status st2 = plan_generate_host(a);
        st = st == WR_OK ? st2 : st;
    }
    return st;
}

int cmd_plan(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    plan_args a = {.up = upscale_opts_default(), .dit = {.block_swap = -1}};
    int rc = parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    wr_status st;
    if (!strcmp(argv[1], "upscale"))
        st = plan_upscale(&a);
    else if (!strcmp(argv[1], "generate"))
        st = plan_generate(&a);
    else {
        fprintf(stderr, "wanrt plan: plan what? upscale or generate\n%s", usage);
        return 2;
    }
    return st == WR_OK ? 0 : cli_report("plan", st);
}
