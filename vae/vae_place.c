/* Weight placement of a resident VAE pass (see vae_place.h). */
#include "vae/vae_place.h"

#include <stdlib.h>

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

/* ---- resident decodes ------------------------------------------------------------------------- */

static wr_status sink_nothing(void *ctx, const vae_vol *frames, int t0)
{
    (void)ctx, (void)frames, (void)t0;
    return WR_OK;
}

int vae_resident_fits(vae_decode_stream_fn fn, const void *model, const vae_vol *latent, size_t weight_bytes)
{
    size_t free_bytes, total_bytes;
    if (!wr_buffers_mem_info(&free_bytes, &total_bytes))
        return 0;
    vae_vol shape = {.c = latent->c, .t = latent->t, .h = latent->h, .w = latent->w}; /* no data: a dry run */
    size_t cur = vae_mem_current();
    vae_dry_set(1);
    vae_mem_reset_peak();
    wr_status st = fn(model, &shape, (vae_sink){sink_nothing, NULL});
    vae_dry_set(0);
    size_t need = vae_mem_peak() - cur + weight_bytes + WR_DEVICE_RESERVE;
    vae_mem_reset_peak();
    return st == WR_OK && need <= free_bytes;
}

wr_status vae_resident_begin(vae_decode_stream_fn fn, const void *model, const vae_vol *latent, size_t weight_bytes,
                             vae_add_weights_fn add_weights, vae_residency *r)
{
    r->was = vae_resident(), r->pl = NULL;
    vae_resident_set(1);
    if (vae_resident_now() && !vae_resident_fits(fn, model, latent, weight_bytes))
        vae_resident_set(0);
    if (!vae_resident_now())
        return WR_OK;
    if (!(r->pl = calloc(1, sizeof *r->pl)))
        return wr_fail(WR_E_OOM, "VAE decode: out of memory");
    add_weights((void *)model, r->pl);
    return vae_placed_place(r->pl);
}

void vae_resident_end(vae_residency *r)
{
    vae_placed_free(r->pl);
    free(r->pl);
    r->pl = NULL;
    vae_resident_set(r->was);
}

wr_status vae_latent_frame(const vae_vol *latent, int i, const float *mean, const float *std, vae_vol *x)
{
    int was = vae_resident();
    vae_resident_set(0);
    vae_vol z;
    wr_status st = vae_vol_alloc(&z, latent->c, 1, latent->h, latent->w);
    vae_resident_set(was);
    WR_TRY(st);
    size_t n = (size_t)latent->h * latent->w;
    for (int c = 0; c < latent->c && !vae_dry(); c++) {
        float inv_std = 1.0f / std[c];
        for (size_t p = 0; p < n; p++)
            z.d[(size_t)c * n + p] = latent->d[((size_t)c * latent->t + (size_t)i) * n + p] / inv_std + mean[c];
    }
    if (!vae_resident_now()) { /* host memory: the counted bytes stay exactly those of before */
        *x = z;
        return WR_OK;
    }
    st = vae_vol_upload(&z, x); /* the one upload of this chunk */
    vae_vol_free(&z);
    return st;
}
