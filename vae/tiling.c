/* Tiled VAE decode/encode (see tiling.h). */
#include "vae/tiling.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- options ---------------------------------------------------------------------------------- */

vae_tiling vae_tiling_defaults(vae_tile_mode mode)
{
    return (vae_tiling){.mode = mode, .tile_w = VAE_TILE_DEFAULT, .tile_h = VAE_TILE_DEFAULT,
                        .stride_w = VAE_TILE_DEFAULT_STRIDE_W, .stride_h = VAE_TILE_DEFAULT_STRIDE_H};
}

static int half_stride(int tile)
{
    int s = tile / 2 / 16 * 16;
    return s < 16 ? 16 : s;
}

wr_status vae_tiling_parse(const char *text, vae_tiling *out)
{
    if (!strcmp(text, "off") || !strcmp(text, "auto") || !strcmp(text, "on")) {
        *out = vae_tiling_defaults(text[1] == 'f' ? VAE_TILE_OFF : text[0] == 'a' ? VAE_TILE_AUTO : VAE_TILE_ON);
        return WR_OK;
    }
    int v[4], n = 0, bad = 0;
    const char *p = text;
    while (n < 4) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < 1 || x > 1 << 20) {
            bad = 1;
            break;
        }
        v[n++] = (int)x;
        p = end;
        if (*p != ',')
            break;
        p++;
    }
    if (bad || *p || (n != 2 && n != 4))
        return wr_fail(WR_E_ARG, "--vae-tile '%s': expected off, auto, on, W,H or W,H,SX,SY (pixels)", text);
    *out = (vae_tiling){.mode = VAE_TILE_ON, .tile_w = v[0], .tile_h = v[1], .stride_w = n == 4 ? v[2] : half_stride(v[0]),
                        .stride_h = n == 4 ? v[3] : half_stride(v[1])};
    if (out->stride_w > out->tile_w || out->stride_h > out->tile_h)
        return wr_fail(WR_E_ARG, "--vae-tile '%s': a stride larger than its tile would leave gaps", text);
    return WR_OK;
}

wr_status vae_tiling_grid(const vae_tiling *t, int scale, int lh, int lw, vae_tile_grid *g)
{
    memset(g, 0, sizeof *g);
    g->th = lh, g->tw = lw, g->sh = lh, g->sw = lw, g->ny = g->nx = 1;
    if (!t || t->mode == VAE_TILE_OFF)
        return WR_OK;
    const int px[4] = {t->tile_w, t->tile_h, t->stride_w, t->stride_h};
    static const char *const what[4] = {"tile width", "tile height", "stride x", "stride y"};
    for (int i = 0; i < 4; i++)
        if (px[i] < scale || px[i] % scale)
            return wr_fail(WR_E_ARG, "VAE tiling: %s %d px is not a positive multiple of this VAE's %d px", what[i],
                           px[i], scale);
    if (t->stride_w > t->tile_w || t->stride_h > t->tile_h)
        return wr_fail(WR_E_ARG, "VAE tiling: stride %dx%d larger than the tile %dx%d", t->stride_w, t->stride_h,
                       t->tile_w, t->tile_h);
    int th = t->tile_h / scale, tw = t->tile_w / scale;
    if (t->mode == VAE_TILE_AUTO && lh <= th && lw <= tw)
        return WR_OK;
    g->tiled = 1;
    g->th = th, g->tw = tw, g->sh = t->stride_h / scale, g->sw = t->stride_w / scale;
    /* DiffSynth's task list: starts 0, s, 2s, ... up to and including the first tile reaching the edge */
    g->ny = lh > th ? (lh - th + g->sh - 1) / g->sh + 1 : 1;
    g->nx = lw > tw ? (lw - tw + g->sw - 1) / g->sw + 1 : 1;
    return WR_OK;
}

/* ---- blending ----------------------------------------------------------------------------------- */

/* DiffSynth build_1d_mask: ones, a rising ramp (i + 1) / border at a side that is not the
 * frame edge, then the falling ramp at the far side (written second, as in the reference). */
static void ramp(float *m, int len, int at_start, int at_end, int border)
{
    for (int i = 0; i < len; i++)
        m[i] = 1.0f;
    if (border <= 0)
        return;
    for (int i = 0; !at_start && i < border && i < len; i++)
        m[i] = (float)(i + 1) / (float)border;
    for (int i = 0; !at_end && i < border && i < len; i++)
        m[len - 1 - i] = (float)(i + 1) / (float)border;
}

/* One tile's placement in an output of `c` channels: weights my[h] x mx[w] at (y0, x0). */
typedef struct tile_blend {
    vae_vol *out;   /* accumulated Σ weight · tile [c, T, H, W] */
    float *wsum;    /* Σ weight [H, W] */
    float *my, *mx; /* the tile's ramps [h], [w] */
    int y0, x0;
} tile_blend;

static float weight_at(const tile_blend *b, int y, int x) { return b->my[y] < b->mx[x] ? b->my[y] : b->mx[x]; }

static wr_status blend_frames(void *ctx, const vae_vol *f, int t0)
{
    const tile_blend *b = ctx;
    vae_vol *o = b->out;
    for (int c = 0; c < f->c && !vae_dry(); c++)
        for (int t = 0; t < f->t; t++)
            for (int y = 0; y < f->h; y++) {
                const float *src = f->d + (((size_t)c * f->t + (size_t)t) * f->h + (size_t)y) * f->w;
                float *dst = o->d + (((size_t)c * o->t + (size_t)(t0 + t)) * o->h + (size_t)(b->y0 + y)) * o->w + (size_t)b->x0;
                for (int x = 0; x < f->w; x++)
                    dst[x] += weight_at(b, y, x) * src[x];
            }
    return WR_OK;
}

static void add_weights(const tile_blend *b, int h, int w, int W)
{
    for (int y = 0; y < h && !vae_dry(); y++)
        for (int x = 0; x < w; x++)
            b->wsum[(size_t)(b->y0 + y) * W + (size_t)(b->x0 + x)] += weight_at(b, y, x);
}

static void normalise(vae_vol *o, const float *wsum)
{
    size_t plane = (size_t)o->h * o->w;
    for (size_t ct = 0; ct < (size_t)o->c * o->t && !vae_dry(); ct++)
        for (size_t p = 0; p < plane; p++)
            o->d[ct * plane + p] /= wsum[p];
}

/* ---- the tile loop ------------------------------------------------------------------------------ */

/* Runs one pass per tile of grid g over `in` (latent for decode, video for encode) and blends
 * the results into `out` (allocated here: channels oc, frames ot, plane oh x ow). in_s and
 * out_s convert latent units to the input / output planes. */
static wr_status tile_loop(const wan_vae *v, const vae_vol *in, const vae_tile_grid *g, int lh, int lw, int decode,
                           vae_vol *out)
{
    int in_s = decode ? 1 : v->scale, out_s = decode ? v->scale : 1;
    int oc = decode ? 3 : v->z_dim, ot = decode ? 4 * (in->t - 1) + 1 : (in->t - 1) / 4 + 1;
    int oh = lh * out_s, ow = lw * out_s;
    WR_TRY(vae_vol_zeros(out, oc, ot, oh, ow));
    size_t wbytes = (size_t)oh * ow * sizeof(float), rbytes = (size_t)(g->th + g->tw) * (size_t)out_s * sizeof(float);
    float *wsum = vae_scratch_alloc(wbytes), *rmp = vae_scratch_alloc(rbytes);
    wr_status st = WR_OK;
    if ((!wsum || !rmp) && !vae_dry()) {
        st = wr_fail(WR_E_OOM, "VAE tiling: out of memory for the %dx%d weight plane", oh, ow);
        goto done;
    }
    if (wsum)
        memset(wsum, 0, wbytes);
    for (int i = 0; i < g->ny && st == WR_OK; i++)
        for (int j = 0; j < g->nx && st == WR_OK; j++) {
            int y0 = i * g->sh, x0 = j * g->sw;
            int h = lh - y0 < g->th ? lh - y0 : g->th, w = lw - x0 < g->tw ? lw - x0 : g->tw;
            tile_blend b = {.out = out, .wsum = wsum, .my = rmp, .mx = rmp + h * out_s, .y0 = y0 * out_s, .x0 = x0 * out_s};
            if (rmp) {
                ramp(b.my, h * out_s, y0 == 0, y0 + g->th >= lh, (g->th - g->sh) * out_s);
                ramp(b.mx, w * out_s, x0 == 0, x0 + g->tw >= lw, (g->tw - g->sw) * out_s);
            }
            vae_vol crop, enc = {0};
            st = vae_vol_crop(in, 0, in->t, y0 * in_s, h * in_s, x0 * in_s, w * in_s, &crop);
            if (st != WR_OK)
                break;
            if (decode)
                st = wan_vae_decode_stream(v, &crop, (vae_sink){blend_frames, &b});
            else {
                st = wan_vae_encode(v, &crop, &enc);
                if (st == WR_OK)
                    st = blend_frames(&b, &enc, 0);
            }
            vae_vol_free(&enc);
            vae_vol_free(&crop);
            add_weights(&b, h * out_s, w * out_s, ow);
        }
    if (st == WR_OK)
        normalise(out, wsum);
done:
    vae_scratch_free(wsum, wbytes);
    vae_scratch_free(rmp, rbytes);
    if (st != WR_OK)
        vae_vol_free(out);
    return st;
}

wr_status wan_vae_decode_tiled(const wan_vae *v, const vae_vol *latent, const vae_tiling *t, vae_vol *video)
{
    if (latent->c != v->z_dim || latent->t < 1 || latent->h < 1 || latent->w < 1)
        return wr_fail(WR_E_ARG, "VAE decode: latent [%d, %d, %d, %d]: need %d channels", latent->c, latent->t,
                       latent->h, latent->w, v->z_dim);
    vae_tile_grid g;
    WR_TRY(vae_tiling_grid(t, v->scale, latent->h, latent->w, &g));
    if (!g.tiled)
        return wan_vae_decode(v, latent, video);
    return tile_loop(v, latent, &g, latent->h, latent->w, 1, video);
}

wr_status wan_vae_decode_tiled_stream(const wan_vae *v, const vae_vol *latent, const vae_tiling *t, vae_sink sink)
{
    vae_tile_grid g;
    WR_TRY(vae_tiling_grid(t, v->scale, latent->h, latent->w, &g));
    if (!g.tiled)
        return wan_vae_decode_stream(v, latent, sink);
    vae_vol video;
    WR_TRY(wan_vae_decode_tiled(v, latent, t, &video));
    wr_status st = WR_OK;
    for (int i = 0; i < latent->t && st == WR_OK; i++) { /* the same chunks as the untiled stream */
        int t0 = i ? 1 + 4 * (i - 1) : 0;
        vae_vol f;
        st = vae_vol_crop(&video, t0, i ? 4 : 1, 0, video.h, 0, video.w, &f);
        if (st == WR_OK)
            st = sink.fn(sink.ctx, &f, t0);
        vae_vol_free(&f);
    }
    vae_vol_free(&video);
    return st;
}

wr_status wan_vae_encode_tiled(const wan_vae *v, const vae_vol *video, const vae_tiling *t, vae_vol *latent)
{
    int s = v->scale;
    if (video->c != 3 || video->t < 1 || (video->t - 1) % 4 || video->h % s || video->w % s || video->h < s ||
        video->w < s)
        return wr_fail(WR_E_ARG, "VAE encode: video [%d, %d, %d, %d]: need 3 channels, 4k+1 frames, height and width "
                                 "multiples of %d (pad or crop first)", video->c, video->t, video->h, video->w, s);
    vae_tile_grid g;
    WR_TRY(vae_tiling_grid(t, s, video->h / s, video->w / s, &g));
    if (!g.tiled)
        return wan_vae_encode(v, video, latent);
    return tile_loop(v, video, &g, video->h / s, video->w / s, 0, latent);
}
