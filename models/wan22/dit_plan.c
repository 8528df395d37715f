/* Device memory plan of a Wan DiT run (see dit_plan.h). */
#include "models/wan22/dit_plan.h"

#include <stdlib.h>

#include "models/wan22/dit.h"
#include "runtime/gpu/backend_gpu.h"
#include "runtime/gpu/gpu_ops.h"

wr_status wan22_latent_grid(const wan22_config *c, int width, int height, int frames, int *f, int *h, int *w)
{
    int stride = c->out_dim == 48 ? 16 : 8, unit = stride * WAN22_PATCH;
    if (width < unit || height < unit || width % unit || height % unit)
        return wr_fail(WR_E_ARG, "%dx%d: width and height must be multiples of %d for the %s model (VAE stride %d x "
                       "patch %d)", width, height, unit, wan22_variant_name(c->variant), stride, WAN22_PATCH);
    if (frames < 1 || (frames - 1) % 4)
        return wr_fail(WR_E_ARG, "%d frames: the VAE takes 4k + 1 frames (e.g. 81)", frames);
    *f = (frames - 1) / 4 + 1, *h = height / stride, *w = width / stride;
    return WR_OK;
}

/* Device bytes per placement group (0: globals, 1 + l: block l) and the host-only weight bytes. */
static wr_status group_bytes(const wan22_weights *w, size_t *groups, size_t *host_only)
{
    wr_tensor **t;
    int *g, n;
    WR_TRY(wan22_weights_list((wan22_weights *)w, &t, &g, &n));
    *host_only = 0;
    wr_backend_gpu_group_bytes(t, g, n, groups, host_only);
    free(t), free(g);
    return WR_OK;
}

/* The largest device temporary a launcher of the forward allocates. */
static size_t workspace(const wan22_config *c, const wan22_plan_opts *o, long long L)
{
    size_t ws = 0;
    if (o->attention == WR_ATTENTION_SAGE)
        ws = wr_gpu_attention_sage_workspace_bytes(1, c->num_heads, (int)L, (int)L, WAN22_HEAD_DIM, o->sage_pv_f8);
    if (o->act_quant) { /* the widest activation a quantised matmul reads: [L, dim] or [chunk, ffn] */
        size_t a = wr_gpu_matmul_q_workspace_bytes(L, c->dim, false);
        ws = a > ws ? a : ws;
    }
    return ws;
}

static void total(wan22_plan *p, const size_t *groups, int swap)
{
    wr_swap_split sp = wr_swap_split_of(groups, p->blocks, swap);
    p->block_swap = swap;
    p->resident = sp.resident, p->slots = sp.slots, p->pinned = sp.pinned;
    p->peak = p->resident + p->slots + p->arena + p->rope + p->workspace + p->reserve;
}

wr_status wan22_plan_dit(const wan22_weights *w, const wan22_plan_opts *o, wan22_plan *p)
{
    const wan22_config *c = &w->cfg;
    *p = (wan22_plan){.blocks = c->num_layers};
    WR_TRY(wan22_latent_grid(c, o->width, o->height, o->frames, &p->lat_f, &p->lat_h, &p->lat_w));
    p->tokens = (long long)p->lat_f * (p->lat_h / 2) * (p->lat_w / 2);
    if (o->block_swap > c->num_layers)
        return wr_fail(WR_E_ARG, "block swap %d: the model has %d blocks", o->block_swap, c->num_layers);
    size_t *groups = calloc((size_t)c->num_layers + 1, sizeof *groups);
    if (!groups)
        return wr_fail(WR_E_OOM, "plan: out of memory");
    wr_status st = group_bytes(w, groups, &p->weights_host_only);
    for (int g = 0; g <= c->num_layers; g++)
        p->weights_device += groups[g];
    p->rope = wr_backend_gpu_rope_table_bytes(p->tokens);
    p->workspace = workspace(c, o, p->tokens);
    p->reserve = o->reserve ? o->reserve : WR_DEVICE_RESERVE;
    int mod_rows = c->variant == WAN22_TI2V ? 2 : 1; /* TI2V: the image frame at t = 0 */
    /* the fewest swapped blocks first (each costs a PCIe copy per step), then smaller FFN chunks */
    static const int chunks[] = {0, 4096, 2048, 1024};
    int first = o->block_swap >= 0 ? o->block_swap : 0, last = o->block_swap >= 0 ? o->block_swap : c->num_layers;
    for (int swap = first; st == WR_OK && swap <= last && !p->fits; swap++)
        for (size_t k = 0; k < sizeof chunks / sizeof chunks[0] && !p->fits; k++) {
            int chunk = o->ffn_chunk ? o->ffn_chunk : chunks[k];
            if (o->ffn_chunk && k > 0)
                break;
            p->ffn_chunk = chunk ? chunk : WAN22_FFN_CHUNK_DEFAULT;
            if (p->ffn_chunk > p->tokens)
                p->ffn_chunk = (int)p->tokens;
            p->arena = wan22_dit_workspace(c, p->lat_f, p->lat_h, p->lat_w, mod_rows, chunk);
            total(p, groups, swap);
            p->fits = !o->vram || p->peak <= o->vram;
        }
    free(groups);
    return st;
}
