/* See svr_vae_tiling.h. */
#include "upscale/svr_vae_tiling.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

wr_status upscale_vae_tiling_parse(const char *text, upscale_vae_tiling *out)
{
    *out = (upscale_vae_tiling){0};
    if (!strcmp(text, "off"))
        return WR_OK;
    int s = 0, o = 128, n = 0;
    char tail;
    int got = sscanf(text, "%d,%d%n%c", &s, &o, &n, &tail);
    if (got < 2) {
        o = 128;
        got = sscanf(text, "%d%c", &s, &tail) == 1 ? 1 : 0;
    } else if (got > 2) {
        got = 0;
    }
    if (!got || s < 16 || s % 8 || o < 0 || o >= s)
        return wr_fail(WR_E_ARG, "--vae-tile '%s': give off, S or S,O in pixels (S a multiple of 8, at least 16; "
                                 "0 <= O < S), e.g. 1024,128", text);
    *out = (upscale_vae_tiling){.tile_px = s, .overlap_px = o};
    return WR_OK;
}

void upscale_vae_tile_weights(int n, int ramp, int at_start_edge, int at_end_edge, float *w)
{
    for (int i = 0; i < n; i++)
        w[i] = 1.0f;
    int ov = ramp < n - 1 ? ramp : n - 1;
    for (int i = 0; i < ov; i++) {
        float r = ramp > 1 ? (float)(0.5 - 0.5 * cos(M_PI * i / (ramp - 1))) : 0.0f;
        if (!at_start_edge)
            w[i] = r;
        if (!at_end_edge)
            w[n - ov + i] = 1.0f - r;
    }
}

/* Tile starts along one latent axis of extent len: 0, stride, ... skipping trailing tiles that
 * would only cover the overlap. */
static int tile_starts(int len, int tile, int lo, int *starts, int cap)
{
    int stride = tile - lo, n = 0;
    for (int p = 0; p < len && n < cap; p += stride) {
        int ext = (p + tile < len ? p + tile : len) - p;
        if (p > 0 && ext <= lo)
            continue;
        starts[n++] = p;
    }
    return n;
}

/* Crops [c, t, y0:y1, x0:x1] of v into out. */
static wr_status crop(const vae_vol *v, int y0, int y1, int x0, int x1, vae_vol *out)
{
    WR_TRY(vae_vol_alloc(out, v->c, v->t, y1 - y0, x1 - x0));
    for (int c = 0; !vae_dry() && c < v->c; c++)
        for (int t = 0; t < v->t; t++)
            for (int y = y0; y < y1; y++)
                memcpy(out->d + (((size_t)c * v->t + t) * out->h + (y - y0)) * out->w,
                       v->d + (((size_t)c * v->t + t) * v->h + y) * v->w + x0, (size_t)(x1 - x0) * sizeof(float));
    return WR_OK;
}

typedef struct tiler {
    int len_h, len_w; /* latent grid */
    int tile, lo;     /* latent tile and overlap */
    int ys[4096], xs[4096], ny, nx;
} tiler;

static wr_status tiler_init(tiler *g, const upscale_vae_tiling *t, int lat_h, int lat_w)
{
    g->len_h = lat_h, g->len_w = lat_w;
    g->tile = t->tile_px / 8;
    g->lo = t->overlap_px / 8 < g->tile - 1 ? t->overlap_px / 8 : g->tile - 1;
    g->ny = tile_starts(lat_h, g->tile, g->lo, g->ys, 4096);
    g->nx = tile_starts(lat_w, g->tile, g->lo, g->xs, 4096);
    if (g->ny == 0 || g->nx == 0)
        return wr_fail(WR_E_ARG, "VAE tiling: no tile for a %dx%d latent", lat_w, lat_h);
    return WR_OK;
}

/* Accumulates w_y ⊗ w_x · part into acc/wsum at (oy, ox). */
static void accumulate(vae_vol *acc, float *wsum, const vae_vol *part, int oy, int ox, const float *wy,
                       const float *wx)
{
    for (int y = 0; !vae_dry() && y < part->h; y++)
        for (int x = 0; x < part->w; x++) {
            float w = wy[y] * wx[x];
            wsum[(size_t)(oy + y) * acc->w + ox + x] += w;
            for (int c = 0; c < part->c; c++)
                for (int t = 0; t < part->t; t++)
                    acc->d[(((size_t)c * acc->t + t) * acc->h + oy + y) * acc->w + ox + x] +=
                        w * part->d[(((size_t)c * part->t + t) * part->h + y) * part->w + x];
        }
}

static void normalise(vae_vol *acc, const float *wsum)
{
    size_t plane = (size_t)acc->h * acc->w;
    for (int ct = 0; !vae_dry() && ct < acc->c * acc->t; ct++)
        for (size_t p = 0; p < plane; p++)
            acc->d[(size_t)ct * plane + p] /= wsum[p] > 1e-6f ? wsum[p] : 1e-6f;
}

/* One tiled pass: encode (pixels in, latents out) or decode (latents in, pixels out). */
static wr_status tiled(const upscale_vae *m, const vae_vol *in, int split, const upscale_vae_tiling *t, int decode,
                       vae_vol *out)
{
    const int in_scale = decode ? 1 : 8, out_scale = decode ? 8 : 1;
    tiler *g = malloc(sizeof *g);
    if (!g)
        return wr_fail(WR_E_OOM, "out of memory");
    wr_status st = tiler_init(g, t, (in->h + in_scale - 1) / in_scale, (in->w + in_scale - 1) / in_scale);
    float *wsum = NULL, *wy = NULL, *wx = NULL;
    size_t wsum_bytes = 0;
    vae_vol acc = {0};
    int ramp = decode ? t->overlap_px : g->lo, max_ext = g->tile * out_scale;
    for (int iy = 0; st == WR_OK && iy < g->ny; iy++)
        for (int ix = 0; st == WR_OK && ix < g->nx; ix++) {
            int y0 = g->ys[iy], x0 = g->xs[ix];
            int y1 = y0 + g->tile < g->len_h ? y0 + g->tile : g->len_h, x1 = x0 + g->tile < g->len_w ? x0 + g->tile : g->len_w;
            vae_vol part_in = {0}, part_out = {0};
            int py1 = y1 * in_scale < in->h ? y1 * in_scale : in->h, px1 = x1 * in_scale < in->w ? x1 * in_scale : in->w;
            st = crop(in, y0 * in_scale, py1, x0 * in_scale, px1, &part_in);
            if (st == WR_OK)
                st = decode ? upscale_vae_decode(m, &part_in, split, &part_out)
                            : upscale_vae_encode(m, &part_in, split, &part_out);
            vae_vol_free(&part_in);
            if (st == WR_OK && !acc.acct) { /* first tile: the output and the weight plane */
                int oh = decode ? in->h * 8 : g->len_h, ow = decode ? in->w * 8 : g->len_w;
                st = vae_vol_alloc(&acc, part_out.c, part_out.t, oh, ow);
                wsum_bytes = (size_t)oh * ow * sizeof *wsum;
                wsum = vae_scratch_alloc(wsum_bytes);
                wy = malloc((size_t)max_ext * sizeof *wy), wx = malloc((size_t)max_ext * sizeof *wx);
                if (st == WR_OK && ((!wsum && !vae_dry()) || !wy || !wx))
                    st = wr_fail(WR_E_OOM, "VAE tiling: out of memory");
                if (st == WR_OK && !vae_dry()) {
                    memset(acc.d, 0, vae_vol_size(&acc) * sizeof(float));
                    memset(wsum, 0, wsum_bytes);
                }
            }
            if (st == WR_OK) {
                upscale_vae_tile_weights(part_out.h, ramp, y0 == 0, y1 == g->len_h, wy);
                upscale_vae_tile_weights(part_out.w, ramp, x0 == 0, x1 == g->len_w, wx);
                accumulate(&acc, wsum, &part_out, y0 * out_scale, x0 * out_scale, wy, wx);
            }
            vae_vol_free(&part_out);
        }
    if (st == WR_OK) {
        normalise(&acc, wsum);
        *out = acc;
        acc = (vae_vol){0};
    } else {
        vae_vol_free(&acc);
    }
    if (wsum_bytes)
        vae_scratch_free(wsum, wsum_bytes);
    free(wy), free(wx), free(g);
    return st;
}

wr_status upscale_vae_encode_tiled(const upscale_vae *m, const vae_vol *video, int split,
                                   const upscale_vae_tiling *t, vae_vol *moments)
{
    if (!t || t->tile_px == 0)
        return upscale_vae_encode(m, video, split, moments);
    return tiled(m, video, split, t, 0, moments);
}

wr_status upscale_vae_decode_tiled(const upscale_vae *m, const vae_vol *latent, int split,
                                   const upscale_vae_tiling *t, vae_vol *video)
{
    if (!t || t->tile_px == 0)
        return upscale_vae_decode(m, latent, split, video);
    return tiled(m, latent, split, t, 1, video);
}
