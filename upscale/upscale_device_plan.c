/* Device memory plan of `wanrt upscale` (see upscale_device_plan.h). */
#include "upscale/upscale_device_plan.h"

#include <stdlib.h>

#include "runtime/buffers.h"
#include "runtime/gpu/backend_gpu.h"
#include "runtime/gpu/gpu_ops.h"
#include "runtime/log.h"
#include "upscale/upscale_plan.h"

/* Device bytes per placement group (0: outside the blocks, 1 + l: block l) and the host-only
 * bytes, as wr_placement_create sizes them. */
static wr_status group_bytes(const upscale_dit *dit, size_t *groups, size_t *host_only)
{
    wr_tensor **t;
    int *g, n;
    WR_TRY(upscale_dit_list((upscale_dit *)dit, &t, &g, &n));
    *host_only = 0;
    wr_backend_gpu_group_bytes(t, g, n, groups, host_only);
    free(t), free(g);
    return WR_OK;
}

/* The largest temporary a launcher of the DiT forward allocates. */
static size_t workspace(const upscale_dit_config *c, const upscale_dit_ops *ops, const upscale_device_opts *o)
{
    size_t ws = 0;
    if (o->attention == WR_ATTENTION_SAGE)
        ws = wr_gpu_attention_sage_workspace_bytes(1, c->heads, (int)ops->window_rows, (int)ops->window_rows,
                                                   c->head_dim, o->sage_pv_f8);
    for (int i = 0; o->act_quant && i < UPSCALE_DIT_MATMUL_INPUTS; i++) {
        size_t a = wr_gpu_matmul_q_workspace_bytes(ops->matmul_in[i][0], ops->matmul_in[i][1], false);
        ws = a > ws ? a : ws;
    }
    return ws;
}

static void total(upscale_device_plan *p, const size_t *groups, int swap)
{
    wr_swap_split sp = wr_swap_split_of(groups, p->blocks, swap);
    p->block_swap = swap;
    p->resident = sp.resident, p->slots = sp.slots, p->pinned = sp.pinned;
    p->peak = p->reserve + p->resident + p->slots + p->stage;
}

wr_status upscale_plan_device(const upscale_dit *dit, const upscale_device_job *job, const upscale_device_opts *o,
                              upscale_device_plan *p)
{
    const upscale_dit_config *c = upscale_dit_config_get(dit);
    *p = (upscale_device_plan){.blocks = c->num_layers};
    if (o->block_swap > c->num_layers)
        return wr_fail(WR_E_ARG, "block swap %d: the %s has %d blocks", o->block_swap,
                       upscale_dit_variant_name(c->variant), c->num_layers);
    upscale_dit_sample s = {.t = job->lat_t, .h = job->lat_h, .w = job->lat_w, .txt_len = job->txt_len,
                            .timestep = 1000};
    upscale_dit_ops ops;
    WR_TRY(upscale_dit_op_sizes(dit, &s, 1, &ops));
    p->dit_staged = ops.staged;
    p->dit_workspace = workspace(c, &ops, o);
    p->vae_encode_staged = job->vae_encode_op, p->vae_decode_staged = job->vae_decode_op;
    size_t stages[3] = {p->vae_encode_staged, p->dit_staged + p->dit_workspace, p->vae_decode_staged};
    static const char *const names[3] = {"VAE encode", "DiT", "VAE decode"};
    int worst = 1;
    for (int i = 0; i < 3; i++)
        worst = stages[i] > stages[worst] ? i : worst;
    p->stage = stages[worst], p->peak_stage = names[worst];
    p->reserve = o->reserve ? o->reserve : WR_DEVICE_RESERVE;
    size_t *groups = calloc((size_t)c->num_layers + 1, sizeof *groups);
    if (!groups)
        return wr_fail(WR_E_OOM, "plan: out of memory");
    wr_status st = group_bytes(dit, groups, &p->weights_host_only);
    for (int g = 0; st == WR_OK && g <= c->num_layers; g++)
        p->weights_device += groups[g];
    /* the fewest swapped blocks: each one costs a PCIe copy per batch */
    int first = o->block_swap >= 0 ? o->block_swap : 0, last = o->block_swap >= 0 ? o->block_swap : c->num_layers;
    for (int swap = first; st == WR_OK && swap <= last && !p->fits; swap++) {
        total(p, groups, swap);
        p->fits = !o->vram || p->peak <= o->vram;
    }
    free(groups);
    return st;
}

wr_status upscale_place_for_run(upscale_dit *dit, const upscale_models *m, int in_w, int in_h, const upscale_opts *o,
                                int block_swap, size_t vram, upscale_device_plan *p)
{
    if (wr_buffers_are_host()) {
        if (block_swap > 0 || vram)
            return wr_fail(WR_E_ARG, "--block-swap and --vram budget a GPU's memory: run with --device cuda (or emu); "
                           "the CPU backend reads the weights memory-mapped");
        return WR_OK;
    }
    upscale_plan hp;
    WR_TRY(upscale_plan_batch(m, in_w, in_h, o, &hp));
    upscale_device_job job = {.lat_t = hp.lat_t, .lat_h = hp.lat_h, .lat_w = hp.lat_w, .txt_len = m->txt_len,
                              .vae_encode_op = hp.vae_encode_op, .vae_decode_op = hp.vae_decode_op};
    upscale_device_opts d = {.block_swap = vram && block_swap < 0 ? -1 : block_swap > 0 ? block_swap : 0,
                             .vram = vram, .attention = wr_attention_mode_get()};
    upscale_device_plan plan;
    WR_TRY(upscale_plan_device(dit, &job, &d, &plan));
    if (!plan.fits)
        return wr_fail(WR_E_OOM, "%s: a batch of %d frames at %dx%d needs %.2f GiB of device memory even with %d of %d "
                       "blocks swapped; --vram is %.2f GiB (see wanrt plan upscale)",
                       upscale_dit_variant_name(upscale_dit_config_get(dit)->variant), hp.frames, hp.pad_w, hp.pad_h,
                       (double)plan.peak / 1073741824.0, plan.block_swap, plan.blocks, (double)vram / 1073741824.0);
    wr_log_info("SeedVR2 DiT: %d of %d blocks swapped, planned device peak %.2f GiB (%s)", plan.block_swap, plan.blocks,
                (double)plan.peak / 1073741824.0, plan.peak_stage);
    if (p)
        *p = plan;
    return upscale_dit_place(dit, plan.block_swap);
}
