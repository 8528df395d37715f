/* Weight placement of a resident VAE pass (see vae_place.h). */
#include "vae/vae_place.h"

#include <string.h>

void vae_placed_add_conv(vae_placed *pl, vae_conv *c)
{
    WR_ASSERT(pl->n + 2 <= VAE_PLACE_MAX, "VAE placement: more than %d tensors", VAE_PLACE_MAX);
    pl->ts[pl->n++] = &c->w;
    pl->ts[pl->n++] = &c->b;
}

void vae_placed_add_gamma(vae_placed *pl, float **g, int c)
{
    WR_ASSERT(pl->ng < VAE_GAMMA_MAX, "VAE placement: more than %d gammas", VAE_GAMMA_MAX);
    int64_t ne[1] = {c};
    WR_ASSERT(wr_tensor_init(&pl->gt[pl->ng], WR_DTYPE_F32, 1, ne, *g), "VAE gamma view");
    pl->gfield[pl->ng++] = g;
}

void vae_placed_add_res(vae_placed *pl, vae_resblock *r)
{
    vae_placed_add_gamma(pl, &r->g0, (int)r->c0.w.ne[3]);
    vae_placed_add_conv(pl, &r->c0);
    vae_placed_add_gamma(pl, &r->g1, (int)r->c1.w.ne[3]);
    vae_placed_add_conv(pl, &r->c1);
    if (r->has_sc)
        vae_placed_add_conv(pl, &r->sc);
}

wr_status vae_placed_place(vae_placed *pl)
{
    if (wr_buffers_are_host())
        return WR_OK;
    for (int i = 0; i < pl->ng; i++) {
        WR_ASSERT(pl->n < VAE_PLACE_MAX, "VAE placement: more than %d tensors", VAE_PLACE_MAX);
        pl->ts[pl->n++] = &pl->gt[i];
    }
    int group[VAE_PLACE_MAX] = {0};
    wr_placement_spec spec = {.tensors = pl->ts, .group = group, .n = pl->n, .n_groups = 1};
    WR_TRY(wr_placement_create(&spec, &pl->p));
    wr_placement_use(pl->p, 0);
    for (int i = 0; i < pl->ng; i++) /* device copies (or the host array where the placement kept it) */
        *pl->gfield[i] = pl->gt[i].data;
    return WR_OK;
}

void vae_placed_free(vae_placed *pl)
{
    if (!pl)
        return;
    wr_placement_free(pl->p); /* restores gt[i].data (and the conv tensors) */
    for (int i = 0; i < pl->ng && pl->p; i++)
        *pl->gfield[i] = pl->gt[i].data;
    pl->p = NULL;
}
