/* wanrt upscale: SeedVR2 one-step upscaling of a video or frame folder (upscale/upscale.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/plan_dit.h"
#include "cli/progress.h"
#include "runtime/interrupt.h"
#include "runtime/threadpool.h"
#include "media/video_stream.h"
#include "upscale/upscale.h"
#include "upscale/upscale_device_plan.h"

static const char usage[] =
    "usage: wanrt upscale IN -o OUT --model DIT --vae VAE [--text pos_emb.pt] [options]\n"
    "  DIT: seedvr2_ema_3b / 7b (.pth, fp16/fp8 .safetensors, GGUF); VAE: ema_vae(.pth|_fp16.safetensors)\n"
    "  --text FILE        the positive text embedding (pos_emb.pt); default: 'positive_conditioning' in DIT\n"
    "  --resolution 1080  short edge of the output; --max-resolution N caps the longer edge (0: none)\n"
    "  --batch 5 (4n+1 frames); --overlap 0 (cross-faded frames); --uniform (pad the last batch to --batch)\n"
    "  --prepend N        mirrored frames put in front to steady the start (dropped from the output)\n"
    "  --color lab|wavelet|adain|none (default lab); --seed 42; --attention fp32|bf16 (default fp32)\n"
    "  --variant 3b|7b    refuse a DIT file of the other size; --crf N; --threads N\n"
    "  --vae-tile off|S[,O]  spatial VAE tiles of S px overlapping by O (default 128), e.g. 1024,128\n"
    "  IN/OUT: a video file or a PNG frame folder; streamed batch by batch; Ctrl-C leaves nothing.\n"
    "gpu: --vram GIB     the device budget: the fewest swapped DiT blocks that fit it (wanrt plan upscale)\n"
    "     --block-swap N the DiT's last N blocks in pinned host memory, copied in per use (default 0)\n";

typedef struct args {
    const char *in, *out, *model, *vae, *text, *variant;
    upscale_opts o;
    long long threads;
    int block_swap; /* -1: not given */
    size_t vram;    /* 0: no budget */
} args;

/* Returns −1 when parsing succeeded, else the exit code. */
static int parse(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    a->o = upscale_opts_default();
    a->block_swap = -1;
    long long v;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
#define FLAG(name) (!strcmp(s, name) && val && (++i, 1))
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (FLAG("-o") || FLAG("--out")) a->out = val;
        else if (FLAG("--model")) a->model = val;
        else if (FLAG("--vae")) a->vae = val;
        else if (FLAG("--text")) a->text = val;
        else if (FLAG("--variant")) a->variant = val;
        else if (FLAG("--resolution")) { if (!cli_parse_int(s, val, 16, 8192, &v)) return 2; a->o.resolution = (int)v; }
        else if (FLAG("--batch")) { if (!cli_parse_int(s, val, 1, 1001, &v)) return 2; a->o.batch = (int)v; }
        else if (FLAG("--overlap")) { if (!cli_parse_int(s, val, 0, 1000, &v)) return 2; a->o.overlap = (int)v; }
        else if (FLAG("--max-resolution")) { if (!cli_parse_int(s, val, 0, 16384, &v)) return 2; a->o.max_resolution = (int)v; }
        else if (FLAG("--prepend")) { if (!cli_parse_int(s, val, 0, 1000, &v)) return 2; a->o.prepend = (int)v; }
        else if (!strcmp(s, "--uniform")) a->o.uniform = true;
        else if (FLAG("--seed")) { if (!cli_parse_int(s, val, 0, 0x7fffffffffffffffLL, &v)) return 2; a->o.seed = (uint64_t)v; }
        else if (FLAG("--crf")) { if (!cli_parse_int(s, val, 0, 51, &v)) return 2; a->o.video.crf = (int)v; }
        else if (FLAG("--threads")) { if (!cli_parse_int(s, val, 1, 256, &a->threads)) return 2; }
        else if (FLAG("--block-swap")) { if (!cli_parse_int(s, val, 0, 1000, &v)) return 2; a->block_swap = (int)v; }
        else if (FLAG("--vram")) { if (!plan_parse_bytes(s, val, &a->vram)) return 2; }
        else if (FLAG("--vae-tile")) {
            wr_status ts = upscale_vae_tiling_parse(val, &a->o.vae_tile);
            if (ts != WR_OK)
                return cli_report("upscale", ts);
        } else if (FLAG("--color")) {
            if (!upscale_color_parse(val, &a->o.color)) {
                fprintf(stderr, "wanrt upscale: --color takes lab, wavelet, adain or none\n");
                return 2;
            }
        } else if (FLAG("--attention")) {
            if (strcmp(val, "fp32") && strcmp(val, "bf16")) {
                fprintf(stderr, "wanrt upscale: --attention takes fp32 or bf16\n");
                return 2;
            }
            a->o.attn = strcmp(val, "bf16") ? UPSCALE_DIT_ATTN_FP32 : UPSCALE_DIT_ATTN_BF16;
        } else if (s[0] != '-' && !a->in)
            a->in = s;
        else {
            fprintf(stderr, "wanrt upscale: unknown or incomplete option '%s'\n%s", s, usage);
            return 2;
        }
#undef FLAG
    }
    if (!a->in || !a->out || !a->model || !a->vae) {
        fputs(usage, stderr);
        return 2;
    }
    if (a->variant && strcmp(a->variant, "3b") && strcmp(a->variant, "7b")) {
        fprintf(stderr, "wanrt upscale: --variant takes 3b or 7b\n");
        return 2;
    }
    return -1;
}

/* Opens everything before the first frame is read. */
static wr_status run(args *a)
{
    if (a->threads)
        WR_TRY(wr_threads_set((int)a->threads));
    wr_weightfile dwf = {0}, vwf = {0};
    upscale_dit *dit = NULL;
    upscale_vae *vae = NULL;
    float *txt = NULL;
    int txt_len = 0;
    wr_status st = wr_weightfile_open(&dwf, a->model);
    if (st == WR_OK)
        st = upscale_dit_load(&dit, &dwf);
    if (st == WR_OK && a->variant) {
        upscale_dit_variant want = strcmp(a->variant, "7b") ? UPSCALE_DIT_3B : UPSCALE_DIT_7B;
        const upscale_dit_config *c = upscale_dit_config_get(dit);
        if (c->variant != want)
            st = wr_fail(WR_E_ARG, "%s is a SeedVR2 %s DiT, not the %s asked for with --variant", a->model,
                         upscale_dit_variant_name(c->variant), a->variant);
    }
    if (st == WR_OK)
        st = wr_weightfile_open(&vwf, a->vae);
    if (st == WR_OK)
        st = upscale_vae_load(&vae, &vwf, 0);
    if (st == WR_OK) {
        int txt_in = upscale_dit_config_get(dit)->txt_in;
        if (a->text)
            st = upscale_text_load(a->text, txt_in, &txt, &txt_len);
        else if (wr_weightfile_find(&dwf, "positive_conditioning"))
            st = upscale_text_load(a->model, txt_in, &txt, &txt_len);
        else
            st = wr_fail(WR_E_ARG, "%s holds no text embedding: give --text pos_emb.pt (from the SeedVR2 release)",
                         a->model);
    }
    if (st == WR_OK && (!wr_buffers_are_host() || a->vram || a->block_swap > 0)) {
        /* a GPU backend: the DiT's weights on the device for the whole run (the CPU: an error) */
        upscale_models m = {.dit = dit, .vae = vae, .txt = txt, .txt_len = txt_len};
        wr_video_reader *r;
        st = wr_video_reader_open(a->in, &r);
        if (st == WR_OK) {
            int w = wr_video_reader_info(r)->width, h = wr_video_reader_info(r)->height;
            wr_video_reader_close(r);
            st = upscale_place_for_run(dit, &m, w, h, &a->o, a->block_swap, a->vram, NULL);
        }
    }
    if (st == WR_OK) {
        wr_interrupt_install();
        cli_unit_progress rp;
        cli_unit_progress_start(&rp, stderr, "upscale");
        a->o.progress = cli_unit_progress_event;
        a->o.ctx = &rp;
        upscale_models m = {.dit = dit, .vae = vae, .txt = txt, .txt_len = txt_len};
        int w = 0, h = 0, n = 0;
        st = upscale_video(&m, a->in, a->out, &a->o, &w, &h, &n);
        if (st == WR_OK) {
            cli_progress_summary(&rp.bar);
            printf("wrote %d frames (%dx%d) to %s\n", n, w, h, a->out);
        }
    }
    free(txt);
    upscale_vae_free(vae);
    upscale_dit_free(dit);
    wr_weightfile_close(&vwf), wr_weightfile_close(&dwf);
    return st;
}

int cmd_upscale(int argc, char **argv)
{
    args a;
    int rc = parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    wr_status st = run(&a);
    if (st == WR_E_INTERRUPTED) {
        fprintf(stderr, "\nwanrt upscale: %s; nothing was written\n", wr_last_error());
        return 130;
    }
    return st == WR_OK ? 0 : cli_report("upscale", st);
}
