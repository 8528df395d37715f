/* Placement of the SeedVR2 DiT weights for the current backend (see svr_dit.h "placement",
 * runtime/buffers.h), after models/wan22/weights_place.c.
 *
 * The 3B's shared layers: a ".all" tensor serves both streams of its block. The binding makes
 * the text branch a copy of the video branch (svr_dit_share_txt), so the listing takes each
 * shared block's tensors from the video branch only and the placement copies them once. The
 * placement redirects those (video) tensors' data pointers, on every wr_placement_use for a
 * swapped block (the slot alternates); svr_dit_use copies the branch again after each use, so the
 * text stream reads the placed tensors and never a stale slot. No tensor is shared between
 * blocks (each layer has its own blocks.N.* keys); the all-ones RMSNorm weight, used by every
 * block, is in group 0, which is always resident. */
#include <stdlib.h>

#include "upscale/svr_dit_internal.h"

/* The tensors of one branch that ops read, attention first so a branch without MLP is a prefix.
 * Returns the count; out may be NULL to count. */
static int branch_tensors(const upscale_dit_config *c, svr_branch *br, wr_tensor **out)
{
    wr_tensor *t[10];
    int n = 0;
    t[n++] = &br->qkv, t[n++] = &br->proj_out, t[n++] = &br->proj_out_b;
    t[n++] = &br->norm_q, t[n++] = &br->norm_k;
    if (br->has_mlp) {
        t[n++] = &br->mlp_in, t[n++] = &br->mlp_out;
        if (c->variant == UPSCALE_DIT_3B)
            t[n++] = &br->mlp_gate;
        else
            t[n++] = &br->mlp_in_b, t[n++] = &br->mlp_out_b;
    }
    for (int i = 0; out && i < n; i++)
        out[i] = t[i];
    return n;
}

/* Group 0: what the ops outside the blocks read (ones: every block's parameter-free RMSNorm). */
static int global_tensors(upscale_dit *m, wr_tensor **out)
{
    wr_tensor *t[16];
    int n = 0;
    t[n++] = &m->vid_in, t[n++] = &m->vid_in_b, t[n++] = &m->txt_in, t[n++] = &m->txt_in_b;
    t[n++] = &m->emb_in, t[n++] = &m->emb_in_b, t[n++] = &m->emb_hid, t[n++] = &m->emb_hid_b;
    t[n++] = &m->emb_out, t[n++] = &m->emb_out_b, t[n++] = &m->vid_out, t[n++] = &m->vid_out_b;
    t[n++] = &m->ones;
    if (m->cfg.variant == UPSCALE_DIT_3B)
        t[n++] = &m->out_norm;
    for (int i = 0; out && i < n; i++)
        out[i] = t[i];
    return n;
}

wr_status upscale_dit_list(upscale_dit *m, wr_tensor ***tensors, int **groups, int *n)
{
    const upscale_dit_config *c = &m->cfg;
    int cap = global_tensors(m, NULL);
    for (int l = 0; l < c->num_layers; l++) {
        svr_block *b = &m->blocks[l];
        cap += branch_tensors(c, &b->vid, NULL) + (b->shared ? 0 : branch_tensors(c, &b->txt, NULL));
    }
    wr_tensor **t = malloc((size_t)cap * sizeof *t);
    int *g = malloc((size_t)cap * sizeof *g);
    if (!t || !g) {
        free(t), free(g);
        return wr_fail(WR_E_OOM, "out of memory listing the SeedVR2 DiT weights");
    }
    int k = global_tensors(m, t);
    for (int i = 0; i < k; i++)
        g[i] = 0;
    for (int l = 0; l < c->num_layers; l++) {
        svr_block *b = &m->blocks[l];
        int k0 = k;
        k += branch_tensors(c, &b->vid, t + k);
        if (!b->shared)
            k += branch_tensors(c, &b->txt, t + k);
        for (int i = k0; i < k; i++)
            g[i] = 1 + l;
    }
    WR_ASSERT(k == cap, "listing: %d of %d tensors", k, cap);
    *tensors = t, *groups = g, *n = k;
    return WR_OK;
}

static void share_all(upscale_dit *m)
{
    for (int l = 0; l < m->cfg.num_layers; l++)
        if (m->blocks[l].shared)
            svr_dit_share_txt(&m->blocks[l]);
}

wr_status upscale_dit_place(upscale_dit *m, int swap_blocks)
{
    upscale_dit_unplace(m);
    int L = m->cfg.num_layers;
    if (swap_blocks < 0 || swap_blocks > L)
        return wr_fail(WR_E_ARG, "block swap: %d blocks asked, the SeedVR2 DiT has %d", swap_blocks, L);
    if (!m->wf)
        return wr_fail(WR_E_ARG, "a described SeedVR2 DiT (no weights) cannot be placed");
    wr_tensor **t;
    int *g, n;
    WR_TRY(upscale_dit_list(m, &t, &g, &n));
    bool *swapped = calloc((size_t)L + 1, sizeof *swapped);
    if (!swapped) {
        free(t), free(g);
        return wr_fail(WR_E_OOM, "out of memory placing the SeedVR2 DiT");
    }
    for (int l = L - swap_blocks; l < L; l++)
        swapped[1 + l] = true;
    wr_placement_spec spec = {.tensors = t, .group = g, .n = n, .n_groups = L + 1, .swapped = swapped};
    wr_status st = wr_placement_create(&spec, &m->placement);
    free(t), free(g), free(swapped);
    share_all(m); /* resident blocks: the text streams read the device copies from now on */
    return st;
}

void upscale_dit_unplace(upscale_dit *m)
{
    if (!m->placement)
        return;
    wr_placement_free(m->placement); /* restores the listed (video) tensors' host pointers */
    m->placement = NULL;
    share_all(m);
}

const wr_placement *upscale_dit_placement(const upscale_dit *m) { return m->placement; }

void svr_dit_use(const upscale_dit *m, int g)
{
    if (!m->placement)
        return;
    wr_placement_use(m->placement, g);
    if (g > 0 && m->blocks[g - 1].shared) /* a swapped block's tensors now point into a slot */
        svr_dit_share_txt(&m->blocks[g - 1]);
}
