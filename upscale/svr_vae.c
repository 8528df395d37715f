/* SeedVR2 VAE encoder / decoder graphs, the temporal chunking around them, the posterior and
 * the latent scaling (see svr_vae.h). */
#include "upscale/svr_vae.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "upscale/svr_vae_model.h"

static const vae_pad same3 = {0, 1, 1, 1, 1};
static const vae_pad pad_right_bottom = {0, 0, 1, 0, 1}; /* Downsample3D: F.pad(x, (0, 1, 0, 1)) */

static wr_status encode_chunk(const upscale_vae *m, svr_run *r, vae_vol *x)
{
    const upscale_vae_config *c = &m->cfg;
    WR_TRY(svr_conv_forward(r, &m->enc_in, 1, 1, same3, x));
    for (int i = 0; i < c->n_blocks; i++) {
        for (int j = 0; j < c->enc_layers; j++)
            WR_TRY(svr_res_forward(r, &m->down[i].res[j], x));
        if (c->has_down[i])
            WR_TRY(svr_conv_forward(r, &m->down[i].down, c->enc_time_down[i] ? 2 : 1, 2, pad_right_bottom, x));
    }
    WR_TRY(svr_mid_forward(r, &m->enc_mid, x));
    svr_group_norm(r, x, &m->enc_norm_out, true);
    return svr_conv_forward(r, &m->enc_out, 1, 1, same3, x);
}

static wr_status decode_chunk(const upscale_vae *m, svr_run *r, vae_vol *x)
{
    const upscale_vae_config *c = &m->cfg;
    WR_TRY(svr_conv_forward(r, &m->dec_in, 1, 1, same3, x));
    WR_TRY(svr_mid_forward(r, &m->dec_mid, x));
    for (int i = 0; i < c->n_blocks; i++) {
        for (int j = 0; j < c->dec_layers; j++)
            WR_TRY(svr_res_forward(r, &m->up[i].res[j], x));
        if (c->has_up[i])
            WR_TRY(svr_up_forward(r, &m->up[i].up, x));
    }
    svr_group_norm(r, x, &m->dec_norm_out, true);
    return svr_conv_forward(r, &m->dec_out, 1, 1, same3, x);
}

/* Runs the graph over frames [0, first), then `step` at a time, carrying each conv's frames
 * between chunks, and concatenates the outputs in time. */
static wr_status run_chunks(const upscale_vae *m, const vae_vol *in, int first, int step, bool decode, vae_vol *out)
{
    int n_chunks = 1 + (in->t > first ? (in->t - first + step - 1) / step : 0);
    vae_vol *parts = calloc((size_t)n_chunks, sizeof *parts);
    svr_run r = {0};
    wr_status st;
    if (!parts)
        return wr_fail(WR_E_OOM, "SeedVR2 VAE: out of memory");
    WR_TRY_GOTO(svr_run_init(&r, m->binder.n_slots, m->cfg.groups));
    size_t plane = (size_t)in->h * in->w;
    int total = 0;
    for (int k = 0, f0 = 0; k < n_chunks; k++) {
        int n = k == 0 ? (first < in->t ? first : in->t) : (f0 + step < in->t ? step : in->t - f0);
        vae_vol *x = &parts[k];
        WR_TRY_GOTO(vae_vol_alloc(x, in->c, n, in->h, in->w));
        for (int c = 0; !vae_dry() && c < in->c; c++)
            memcpy(x->d + (size_t)c * n * plane, in->d + ((size_t)c * in->t + (size_t)f0) * plane,
                   (size_t)n * plane * sizeof(float));
        WR_TRY_GOTO(decode ? decode_chunk(m, &r, x) : encode_chunk(m, &r, x));
        r.first = false;
        total += x->t;
        f0 += n;
    }
    WR_TRY_GOTO(vae_vol_alloc(out, parts[0].c, total, parts[0].h, parts[0].w));
    size_t oplane = (size_t)out->h * out->w;
    for (int k = 0, t0 = 0; k < n_chunks; k++) {
        for (int c = 0; !vae_dry() && c < out->c; c++)
            memcpy(out->d + ((size_t)c * out->t + (size_t)t0) * oplane, parts[k].d + (size_t)c * parts[k].t * oplane,
                   (size_t)parts[k].t * oplane * sizeof(float));
        t0 += parts[k].t;
    }
fail:
    for (int k = 0; k < n_chunks; k++)
        vae_vol_free(&parts[k]);
    free(parts);
    svr_run_free(&r);
    return st;
}

wr_status upscale_vae_encode(const upscale_vae *m, const vae_vol *video, int split, vae_vol *moments)
{
    const upscale_vae_config *c = &m->cfg;
    int tf = c->temporal_factor, sf = c->spatial_factor;
    if (video->c != c->in_channels || video->t < 1 || (video->t - 1) % tf || video->h < sf || video->w < sf ||
        video->h % sf || video->w % sf)
        return wr_fail(WR_E_ARG,
                       "SeedVR2 VAE encode: video [%d, %d, %d, %d] must be [%d, %d·n + 1, H, W] with H and W multiples "
                       "of %d",
                       video->c, video->t, video->h, video->w, c->in_channels, tf, sf);
    if (split < 0 || (split > 0 && split % tf))
        return wr_fail(WR_E_ARG, "SeedVR2 VAE encode: split %d must be 0 (one pass) or a multiple of %d", split, tf);
    if (split == 0)
        split = video->t;
    return run_chunks(m, video, 1 + split, split, false, moments);
}

wr_status upscale_vae_decode(const upscale_vae *m, const vae_vol *latent, int split, vae_vol *video)
{
    const upscale_vae_config *c = &m->cfg;
    if (latent->c != c->latent_channels || latent->t < 1 || latent->h < 1 || latent->w < 1)
        return wr_fail(WR_E_ARG, "SeedVR2 VAE decode: latent [%d, %d, %d, %d] must have %d channels and no empty axis",
                       latent->c, latent->t, latent->h, latent->w, c->latent_channels);
    if (split < 0)
        return wr_fail(WR_E_ARG, "SeedVR2 VAE decode: split %d must be 0 (one pass) or positive", split);
    int step = split == 0 ? latent->t : (split / c->temporal_factor > 0 ? split / c->temporal_factor : 1);
    return run_chunks(m, latent, 1 + step, step, true, video);
}

wr_status upscale_vae_posterior(const vae_vol *moments, vae_vol *mean, vae_vol *std)
{
    if (moments->c % 2)
        return wr_fail(WR_E_ARG, "SeedVR2 VAE posterior: moments have %d channels (must be even: mean | logvar)",
                       moments->c);
    int L = moments->c / 2;
    size_t n = (size_t)L * moments->t * moments->h * moments->w;
    WR_TRY(vae_vol_alloc(mean, L, moments->t, moments->h, moments->w));
    wr_status st = vae_vol_alloc(std, L, moments->t, moments->h, moments->w);
    if (st != WR_OK) {
        vae_vol_free(mean);
        return st;
    }
    if (vae_dry())
        return WR_OK;
    memcpy(mean->d, moments->d, n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        float lv = moments->d[n + i];
        lv = lv < -30.0f ? -30.0f : lv > 20.0f ? 20.0f : lv;
        std->d[i] = expf(0.5f * lv);
    }
    return WR_OK;
}

void upscale_vae_latent_to_dit(const vae_vol *z, float *out)
{
    size_t plane = (size_t)z->t * z->h * z->w;
    for (int c = 0; c < z->c; c++)
        for (size_t p = 0; p < plane; p++)
            out[p * (size_t)z->c + (size_t)c] = (z->d[(size_t)c * plane + p] - UPSCALE_VAE_SHIFT) * UPSCALE_VAE_SCALING;
}

wr_status upscale_vae_latent_from_dit(const float *in, int c, int t, int h, int w, vae_vol *z)
{
    WR_TRY(vae_vol_alloc(z, c, t, h, w));
    size_t plane = (size_t)t * h * w;
    for (int ch = 0; ch < c; ch++)
        for (size_t p = 0; p < plane; p++)
            z->d[(size_t)ch * plane + p] = in[p * (size_t)c + (size_t)ch] / UPSCALE_VAE_SCALING + UPSCALE_VAE_SHIFT;
    return WR_OK;
}
