/* `wanrt plan upscale`: the host memory of each stage (upscale/upscale_plan.h, dry runs of the
 * VAE) and the device memory on a GPU (upscale/upscale_device_plan.h: the DiT's weights resident
 * or block-swapped, the largest op of each stage, the reserve), as a table or one JSON object. */
#include "cli/plan_upscale.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli/plan_dit.h"
#include "media/video_stream.h"
#include "upscale/upscale_device_plan.h"
#include "upscale/upscale_plan.h"

static double mib(size_t b) { return (double)b / 1048576.0; }
static double gib(size_t b) { return (double)b / 1073741824.0; }

wr_status plan_file_weight_bytes(const char *path, size_t *bytes)
{
    *bytes = 0;
    if (!path)
        return WR_OK;
    wr_weightfile wf;
    WR_TRY(wr_weightfile_open(&wf, path));
    for (int64_t i = 0; i < wf.n_tensors; i++)
        *bytes += wr_tensor_nbytes(&wf.tensors[i].t);
    wr_weightfile_close(&wf);
    return WR_OK;
}

/* The DiT of the plan: bound from --model, or described from --config 3b|7b --weights FMT. */
static wr_status open_dit(const plan_upscale_args *a, wr_weightfile *wf, upscale_dit **dit)
{
    if (a->model) {
        WR_TRY(wr_weightfile_open(wf, a->model));
        return upscale_dit_load(dit, wf);
    }
    upscale_dit_variant v;
    if (!strcasecmp(a->config, "3b"))
        v = UPSCALE_DIT_3B;
    else if (!strcasecmp(a->config, "7b"))
        v = UPSCALE_DIT_7B;
    else
        return wr_fail(WR_E_ARG, "plan upscale --config %s: the SeedVR2 DiT configs are 3b and 7b", a->config);
    const char *fmt = a->weights ? a->weights : "bf16";
    wr_dtype dt;
    WR_TRY(plan_weights_dtype(fmt, &dt));
    upscale_dit_config c = upscale_dit_config_released(v);
    return upscale_dit_describe(&c, dt, dit);
}

static void print_host(const plan_upscale_args *a, const upscale_plan *p, size_t wd, size_t wv, size_t wt)
{
    printf("upscale %dx%d -> %dx%d (models see %dx%d), batches of %d frames -> latent %dx%dx%d\n", a->w, a->h, p->out_w,
           p->out_h, p->pad_w, p->pad_h, p->frames, p->lat_t, p->lat_h, p->lat_w);
    printf("host (a CPU run)\n");
    printf("  weights      DiT %9.1f MiB   VAE %9.1f MiB   text %7.1f MiB%s\n", mib(wd), mib(wv), mib(wt),
           a->model ? "" : " (DiT described from --config)");
    if (a->vae) {
        printf("  VAE encode   %9.1f MiB working (planned by a dry run%s)\n", mib(p->vae_encode),
               a->up.vae_tile.tile_px ? ", tiled" : "");
        printf("  DiT          %9.1f MiB workspace (one step, one batch)\n", mib(p->dit));
        printf("  VAE decode   %9.1f MiB working\n", mib(p->vae_decode));
        printf("  pipeline     %9.1f MiB frames, model input, colour reference, latents\n", mib(p->pipeline));
        printf("  peak         %9.1f MiB at %s + %.1f MiB weights = %.1f MiB\n", mib(p->peak), p->peak_stage,
               mib(wd + wv + wt), mib(p->peak + wd + wv + wt));
    } else {
        printf("  DiT          %9.1f MiB workspace (one step, one batch); give --vae for the VAE stages\n", mib(p->dit));
    }
}

static void print_device(const plan_upscale_args *a, const upscale_dit *dit, const upscale_device_plan *d)
{
    printf("device (a GPU run: the DiT placed for the run, activations staged per op)\n");
    printf("  DiT weights  %8.2f GiB resident (%d of %d blocks swapped: %.2f GiB pinned host, %.2f GiB slots)\n",
           gib(d->resident), d->block_swap, d->blocks, gib(d->pinned), gib(d->slots));
    if (d->weights_host_only)
        printf("               %8.2f GiB in a dtype without a GPU matmul kernel: stays in host memory, those "
               "matmuls run on the CPU\n", gib(d->weights_host_only));
    printf("  DiT ops      %8.2f GiB largest op's staged activations + %.2f GiB kernel workspace\n",
           gib(d->dit_staged), gib(d->dit_workspace));
    if (a->vae)
        printf("  VAE ops      %8.2f GiB encode, %.2f GiB decode (largest op's operands, weights included)\n",
               gib(d->vae_encode_staged), gib(d->vae_decode_staged));
    else
        printf("  VAE ops      not planned (give --vae)\n");
    printf("  reserve      %8.2f GiB (driver context)\n", gib(d->reserve));
    printf("  peak         %8.2f GiB at %s (%s)", gib(d->peak), d->peak_stage,
           upscale_dit_variant_name(upscale_dit_config_get(dit)->variant));
    if (a->vram)
        printf(" of %.2f GiB: %s", gib(a->vram), d->fits ? "fits" : "does NOT fit");
    printf("\n");
}

static void print_json(const plan_upscale_args *a, const upscale_dit *dit, const upscale_plan *p,
                       const upscale_device_plan *d)
{
    printf("{\"model\": \"%s\", \"variant\": \"%s\", \"weights\": \"%s\", \"input\": [%d, %d], \"output\": [%d, %d], "
           "\"padded\": [%d, %d], \"batch_frames\": %d, \"latent\": [%d, %d, %d], \"vram_bytes\": %zu, "
           "\"fits\": %s, \"peak_bytes\": %zu, \"peak_stage\": \"%s\", \"block_swap\": %d, \"blocks\": %d, "
           "\"weights_device_bytes\": %zu, \"weights_host_only_bytes\": %zu, \"resident_weight_bytes\": %zu, "
           "\"swap_slot_bytes\": %zu, \"pinned_host_bytes\": %zu, \"dit_staged_bytes\": %zu, "
           "\"dit_workspace_bytes\": %zu, \"vae_planned\": %s, \"vae_encode_staged_bytes\": %zu, "
           "\"vae_decode_staged_bytes\": %zu, \"reserve_bytes\": %zu, \"host_peak_bytes\": %zu}\n",
           a->model ? a->model : a->config, upscale_dit_config_get(dit)->variant == UPSCALE_DIT_7B ? "7b" : "3b",
           a->model ? "file" : a->weights ? a->weights : "bf16", a->w, a->h, p->out_w, p->out_h, p->pad_w, p->pad_h,
           p->frames, p->lat_t, p->lat_h, p->lat_w, a->vram, d->fits ? "true" : "false", d->peak, d->peak_stage,
           d->block_swap, d->blocks, d->weights_device, d->weights_host_only, d->resident, d->slots, d->pinned,
           d->dit_staged, d->dit_workspace, a->vae ? "true" : "false", d->vae_encode_staged, d->vae_decode_staged,
           d->reserve, p->peak);
}

wr_status plan_upscale_run(plan_upscale_args *a)
{
    if ((!a->model && !a->config) || (!a->in && !(a->w && a->h)))
        return wr_fail(WR_E_ARG, "plan upscale needs --model DIT (or --config 3b|7b) and IN or --size WxH");
    if (a->model && a->config)
        return wr_fail(WR_E_ARG, "plan upscale: give --model or --config, not both");
    if (!a->vae && a->model)
        return wr_fail(WR_E_ARG, "plan upscale needs --vae VAE with --model (only --config plans the DiT alone)");
    if (a->in) {
        wr_video_reader *r;
        WR_TRY(wr_video_reader_open(a->in, &r));
        a->w = wr_video_reader_info(r)->width, a->h = wr_video_reader_info(r)->height;
        wr_video_reader_close(r);
    }
    wr_weightfile dwf = {0}, vwf = {0};
    upscale_dit *dit = NULL;
    upscale_vae *vae = NULL;
    size_t wd = 0, wv = 0, wt = 0;
    wr_status st = open_dit(a, &dwf, &dit);
    if (st == WR_OK && a->vae)
        st = wr_weightfile_open(&vwf, a->vae);
    if (st == WR_OK && a->vae)
        st = upscale_vae_load(&vae, &vwf, 0);
    if (st == WR_OK)
        st = plan_file_weight_bytes(a->model, &wd);
    if (st == WR_OK)
        st = plan_file_weight_bytes(a->vae, &wv);
    if (st == WR_OK)
        st = plan_file_weight_bytes(a->text, &wt);
    upscale_plan p;
    upscale_device_plan d;
    if (st == WR_OK) {
        upscale_models m = {.dit = dit, .vae = vae, .txt_len = 58}; /* pos_emb.pt holds 58 tokens */
        st = upscale_plan_batch(&m, a->w, a->h, &a->up, &p);
    }
    if (st == WR_OK) {
        upscale_device_job job = {.lat_t = p.lat_t, .lat_h = p.lat_h, .lat_w = p.lat_w, .txt_len = 58,
                                  .vae_encode_op = p.vae_encode_op, .vae_decode_op = p.vae_decode_op};
        upscale_device_opts o = {.block_swap = a->block_swap, .vram = a->vram, .attention = a->attention,
                                 .sage_pv_f8 = a->sage_pv_f8, .act_quant = a->act_quant};
        st = upscale_plan_device(dit, &job, &o, &d);
    }
    if (st == WR_OK) {
        if (a->json) {
            print_json(a, dit, &p, &d);
        } else {
            print_host(a, &p, wd, wv, wt);
            print_device(a, dit, &d);
        }
        if (!d.fits)
            st = wr_fail(WR_E_OOM, "%s at %dx%d: a batch needs %.2f GiB of device memory even with %d of %d blocks "
                         "swapped; the budget is %.2f GiB", upscale_dit_variant_name(upscale_dit_config_get(dit)->variant),
                         p.out_w, p.out_h, gib(d.peak), d.block_swap, d.blocks, gib(a->vram));
    }
    upscale_vae_free(vae), upscale_dit_free(dit);
    if (vwf.map.path)
        wr_weightfile_close(&vwf);
    if (dwf.map.path)
        wr_weightfile_close(&dwf);
    return st;
}
