/* `wanrt plan generate`'s device part: the DiT's GPU memory from a named config or a model file
 * (models/wan22/dit_plan.h), printed as a table or, with --json, as one object. */
#include "cli/plan_dit.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/wan22/dit_plan.h"
#include "vae/vae_plan.h"
#include "vae/volume.h"

static double gib(size_t b) { return (double)b / 1073741824.0; }

bool plan_parse_bytes(const char *flag, const char *text, size_t *out)
{
    char *end;
    double v = strtod(text, &end);
    double unit = 1073741824.0; /* a bare number is GiB, as cards are sold ("24 GB" = 24 GiB) */
    if (!strcasecmp(end, "g") || !strcasecmp(end, "gib") || !strcasecmp(end, "gb") || !*end)
        unit = 1073741824.0;
    else if (!strcasecmp(end, "m") || !strcasecmp(end, "mib") || !strcasecmp(end, "mb"))
        unit = 1048576.0;
    else
        end = NULL;
    if (end == text || !end || !(v > 0) || v * unit > 1e15) {
        fprintf(stderr, "wanrt: %s takes a size in GiB (e.g. 24, 12.5, 24G or 800M), not '%s'\n", flag, text);
        return false;
    }
    *out = (size_t)(v * unit);
    return true;
}

wr_status plan_weights_dtype(const char *name, wr_dtype *dt)
{
    char up[32];
    size_t n = strlen(name);
    if (!strcasecmp(name, "fp8") || !strcasecmp(name, "fp8_e4m3"))
        name = "F8_E4M3FN";
    else if (!strcasecmp(name, "fp16"))
        name = "F16";
    else if (!strcasecmp(name, "fp32"))
        name = "F32";
    for (n = 0; name[n] && n + 1 < sizeof up; n++)
        up[n] = (char)toupper((unsigned char)name[n]);
    up[n] = '\0';
    if (!wr_dtype_from_name(up, dt))
        return wr_fail(WR_E_ARG, "--weights %s: not a weight format (bf16, fp16, fp8, q8_0, q4_k, ...)", name);
    return WR_OK;
}

static wr_status describe_model(const plan_dit_args *a, wan22_weights *w, wr_weightfile *wf, const char **what)
{
    if (a->config) {
        wan22_config c;
        wr_dtype dt;
        WR_TRY(wan22_config_named(a->config, &c));
        WR_TRY(plan_weights_dtype(a->weights ? a->weights : "bf16", &dt));
        *what = a->config;
        return wan22_weights_describe(&c, dt, w);
    }
    WR_TRY(wr_weightfile_open(wf, a->model));
    *what = a->model;
    wr_status st = wan22_weights_bind(w, wf, 0);
    if (st != WR_OK)
        wr_weightfile_close(wf);
    return st;
}

/* The VAE stages on a device. The decode is resident when its working set fits (activations and
 * feature caches in device buffers, the decoder's weights placed; frames come down to the host
 * sink), else staged one op at a time like the encode: then a stage needs its largest op's
 * operands. Both from the VAE planner's dry run, beside the reserve. */
typedef struct vae_stages {
    size_t encode_op, decode_op; /* 0: no such stage */
    size_t decode_resident;      /* working set without the output video + weights + reserve */
    size_t encode, decode;       /* what the run takes, with the reserve */
    bool decode_staged;
} vae_stages;

static wr_status plan_vae_stages(const plan_dit_args *a, const wan22_config *c, size_t reserve, vae_stages *v)
{
    memset(v, 0, sizeof *v);
    int is22 = c->variant == WAN22_TI2V;
    vae_plan_config vc = vae_plan_config_official(is22);
    vae_plan vp;
    if (c->variant != WAN22_T2V) { /* i2v encodes the whole clip (image + zeros), ti2v the image frame */
        vae_op_reset_peak();
        WR_TRY(vae_plan_encode(&vc, is22 ? 1 : a->frames, a->height, a->width, NULL, &vp));
        v->encode_op = vae_op_peak(), v->encode = v->encode_op + reserve;
    }
    vae_op_reset_peak();
    WR_TRY(vae_plan_decode(&vc, a->frames, a->height, a->width, a->vae_tile, &vp));
    v->decode_op = vae_op_peak();
    v->decode_resident = vp.work - vp.output + vp.weights + reserve;
    v->decode_staged = a->vram && v->decode_resident > a->vram; /* the run stages rather than overrun */
    v->decode = v->decode_staged ? v->decode_op + reserve : v->decode_resident;
    return WR_OK;
}

/* The run's peak: the largest stage, and its name. */
static size_t run_peak(const wan22_plan *p, const vae_stages *v, const char **stage)
{
    size_t peak = p->peak;
    *stage = "dit";
    if (v->encode > peak)
        peak = v->encode, *stage = "vae-encode";
    if (v->decode > peak)
        peak = v->decode, *stage = "vae-decode";
    return peak;
}

static void print_json(const plan_dit_args *a, const char *what, const wan22_plan *p, const vae_stages *v)
{
    const char *stage;
    size_t peak = run_peak(p, v, &stage);
    printf("{\"model\": \"%s\", \"weights\": \"%s\", \"width\": %d, \"height\": %d, \"frames\": %d, "
           "\"latent\": [%d, %d, %d], \"tokens\": %lld, \"vram_bytes\": %zu, \"fits\": %s, "
           "\"peak_bytes\": %zu, \"peak_stage\": \"%s\", \"dit_peak_bytes\": %zu, \"vae_encode_op_bytes\": %zu, "
           "\"vae_decode_op_bytes\": %zu, \"vae_decode_resident_bytes\": %zu, \"vae_decode\": \"%s\", "
           "\"block_swap\": %d, \"blocks\": %d, \"ffn_chunk\": %d, "
           "\"weights_device_bytes\": %zu, \"weights_host_only_bytes\": %zu, \"resident_weight_bytes\": %zu, "
           "\"swap_slot_bytes\": %zu, \"pinned_host_bytes\": %zu, \"activation_bytes\": %zu, \"rope_bytes\": %zu, "
           "\"workspace_bytes\": %zu, \"reserve_bytes\": %zu}\n",
           what, a->weights ? a->weights : a->config ? "bf16" : "file", a->width, a->height, a->frames, p->lat_f,
           p->lat_h, p->lat_w, p->tokens, a->vram, !a->vram || peak <= a->vram ? "true" : "false", peak, stage, p->peak,
           v->encode_op, v->decode_op, v->decode_resident, v->decode_staged ? "staged" : "resident", p->block_swap,
           p->blocks,
           p->ffn_chunk, p->weights_device, p->weights_host_only, p->resident, p->slots, p->pinned, p->arena, p->rope,
           p->workspace, p->reserve);
}

static void print_table(const plan_dit_args *a, const char *what, const wan22_plan *p, const vae_stages *v)
{
    printf("DiT on a GPU: %s, %s weights, %dx%dx%d -> latent %dx%dx%d, %lld tokens\n", what,
           a->weights ? a->weights : a->config ? "bf16" : "file", a->width, a->height, a->frames, p->lat_f, p->lat_h,
           p->lat_w, p->tokens);
    printf("  weights      %8.2f GiB resident (%d of %d blocks swapped: %.2f GiB pinned host, %.2f GiB slots)\n",
           gib(p->resident), p->block_swap, p->blocks, gib(p->pinned), gib(p->slots));
    if (p->weights_host_only)
        printf("               %8.1f MiB in a dtype without a GPU matmul kernel: stays in host memory, those "
               "matmuls run on the CPU\n", (double)p->weights_host_only / 1048576.0);
    printf("  activations  %8.2f GiB (fp32, FFN in chunks of %d rows)\n", gib(p->arena), p->ffn_chunk);
    printf("  RoPE tables  %8.2f GiB   kernel workspace %.2f GiB   reserve %.2f GiB (driver context)\n", gib(p->rope),
           gib(p->workspace), gib(p->reserve));
    printf("  DiT stage    %8.2f GiB\n", gib(p->peak));
    if (v->encode_op)
        printf("  VAE encode   %8.2f GiB: its largest op's operands %.2f GiB + reserve (ops staged one at a time)\n",
               gib(v->encode), gib(v->encode_op));
    if (v->decode_staged)
        printf("  VAE decode   %8.2f GiB staged per op (its largest op %.2f GiB + reserve): resident it would need "
               "%.2f GiB%s\n", gib(v->decode), gib(v->decode_op), gib(v->decode_resident),
               a->vae_tile && a->vae_tile->mode != VAE_TILE_OFF ? "" : "; --vae-tile lowers both");
    else
        printf("  VAE decode   %8.2f GiB resident (working set + weights + reserve; %s)\n", gib(v->decode),
               a->vae_tile && a->vae_tile->mode != VAE_TILE_OFF ? "tiled" : "untiled; --vae-tile lowers it");
    const char *stage;
    size_t peak = run_peak(p, v, &stage);
    printf("  peak         %8.2f GiB (%s)", gib(peak), stage);
    if (a->vram)
        printf(" of %.2f GiB: %s", gib(a->vram), peak <= a->vram ? "fits" : "does NOT fit");
    printf("\n");
}

wr_status plan_dit_device(const plan_dit_args *a)
{
    if (!a->config && !a->model)
        return wr_fail(WR_E_ARG, "plan the DiT from --config NAME [--weights FMT] or --high-noise FILE");
    if (!a->width || !a->height || !a->frames)
        return wr_fail(WR_E_ARG, "plan needs --width, --height and --frames");
    wan22_weights w;
    wr_weightfile wf = {0};
    const char *what;
    WR_TRY(describe_model(a, &w, &wf, &what));
    wan22_plan_opts o = {.width = a->width, .height = a->height, .frames = a->frames, .ffn_chunk = a->ffn_chunk,
                         .block_swap = a->block_swap, .vram = a->vram, .attention = a->attention,
                         .sage_pv_f8 = a->sage_pv_f8, .act_quant = a->act_quant};
    wan22_plan p;
    vae_stages v;
    wr_status st = wan22_plan_dit(&w, &o, &p);
    if (st == WR_OK)
        st = plan_vae_stages(a, &w.cfg, p.reserve, &v);
    if (st == WR_OK) {
        if (a->json)
            print_json(a, what, &p, &v);
        else
            print_table(a, what, &p, &v);
        const char *stage;
        size_t peak = run_peak(&p, &v, &stage);
        if (!p.fits)
            st = wr_fail(WR_E_OOM, "%s at %dx%dx%d needs %.2f GiB of device memory even with %d of %d blocks swapped "
                         "and FFN chunks of %d rows; the budget is %.2f GiB", what, a->width, a->height, a->frames,
                         gib(p.peak), p.block_swap, p.blocks, p.ffn_chunk, gib(a->vram));
        else if (a->vram && peak > a->vram)
            st = wr_fail(WR_E_OOM, "the %s stage needs %.2f GiB, over the %.2f GiB budget%s", stage, gib(peak),
                         gib(a->vram), !strcmp(stage, "vae-decode") ? ": tile the decode (--vae-tile)" : "");
    }
    wan22_weights_free(&w);
    if (wf.map.path)
        wr_weightfile_close(&wf);
    return st;
}
