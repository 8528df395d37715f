/* Wan 2.1 VAE weights and forward passes (see vae21.h). Key names follow the official
 * state dict: encoder.conv1, encoder.downsamples.N.{residual.{0,2,3,6},shortcut,resample.1,
 * time_conv}, encoder.middle.{0,1,2}, encoder.head.{0,2}, conv1, conv2, decoder.* alike. */
#include "vae/vae21.h"


#include "vae/vae_blocks.h"
#include "vae/vae_place.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ops.h"
#include "runtime/quant.h"

#define NUM_RES 2

/* The official Wan2_1_VAE latent statistics (wan/modules/vae2_1.py). */
static const float latent_mean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f, -0.1517f, 1.5508f,
                                      0.4134f,  -0.0715f, 0.5517f,  -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f};
static const float latent_std[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                     3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

typedef struct half {
    vae_conv conv1;
    vae_layer layers[24];
    int n_layers;
    int split; /* layers before it run on whole chunks, from it on frame by frame (see below) */
    vae_resblock mid0, mid1;
    vae_attnblock mid_attn;
    float *head_gamma;
    vae_conv head;
} half;

struct vae21 {
    int dim, z_dim;
    half enc, dec;
    vae_conv post_quant_enc, pre_dec; /* conv1 (encoder side), conv2 (decoder side) */
    vae_binder b;
};

static const int dim_mult[4] = {1, 2, 4, 4};
static const int temporal_down[3] = {0, 1, 1};

static wr_status bind_encoder(vae21 *m)
{
    half *e = &m->enc;
    int d = m->dim, k = 0;
    char name[160];
    WR_TRY(vae_bind_conv(&m->b, "encoder.conv1", d, 3, 3, 3, &e->conv1));
    int in = d;
    for (int i = 0; i < 4; i++) {
        int out = d * dim_mult[i];
        for (int r = 0; r < NUM_RES; r++, k++) {
            snprintf(name, sizeof name, "encoder.downsamples.%d", k);
            e->layers[k].kind = VAE_RES;
            WR_TRY(vae_bind_res(&m->b, name, in, out, &e->layers[k].res));
            in = out;
        }
        if (i < 3) {
            vae_layer *l = &e->layers[k];
            l->kind = temporal_down[i] ? VAE_DOWN3D : VAE_DOWN2D;
            snprintf(name, sizeof name, "encoder.downsamples.%d.resample.1", k);
            WR_TRY(vae_bind_conv(&m->b, name, out, out, 0, 3, &l->spatial));
            if (temporal_down[i]) {
                snprintf(name, sizeof name, "encoder.downsamples.%d.time_conv", k);
                WR_TRY(vae_bind_conv(&m->b, name, out, out, 3, 1, &l->time));
            }
            k++;
        }
    }
    e->n_layers = k;
    for (e->split = 0; e->layers[e->split].kind != VAE_DOWN3D; e->split++) /* up to the first time downsample */
        ;
    WR_TRY(vae_bind_res(&m->b, "encoder.middle.0", in, in, &e->mid0));
    WR_TRY(vae_bind_attn(&m->b, "encoder.middle.1", in, &e->mid_attn));
    WR_TRY(vae_bind_res(&m->b, "encoder.middle.2", in, in, &e->mid1));
    WR_TRY(vae_bind_gamma(&m->b, "encoder.head.0.gamma", in, &e->head_gamma));
    return vae_bind_conv(&m->b, "encoder.head.2", 2 * m->z_dim, in, 3, 3, &e->head);
}

static wr_status bind_decoder(vae21 *m)
{
    half *dc = &m->dec;
    int d = m->dim, k = 0;
    char name[160];
    int dims[5] = {d * dim_mult[3], d * dim_mult[3], d * dim_mult[2], d * dim_mult[1], d * dim_mult[0]};
    WR_TRY(vae_bind_conv(&m->b, "decoder.conv1", dims[0], m->z_dim, 3, 3, &dc->conv1));
    WR_TRY(vae_bind_res(&m->b, "decoder.middle.0", dims[0], dims[0], &dc->mid0));
    WR_TRY(vae_bind_attn(&m->b, "decoder.middle.1", dims[0], &dc->mid_attn));
    WR_TRY(vae_bind_res(&m->b, "decoder.middle.2", dims[0], dims[0], &dc->mid1));
    for (int i = 0; i < 4; i++) {
        int in = dims[i], out = dims[i + 1];
        if (i >= 1)
            in /= 2; /* the previous upsample halved the channels */
        for (int r = 0; r < NUM_RES + 1; r++, k++) {
            snprintf(name, sizeof name, "decoder.upsamples.%d", k);
            dc->layers[k].kind = VAE_RES;
            WR_TRY(vae_bind_res(&m->b, name, in, out, &dc->layers[k].res));
            in = out;
        }
        if (i < 3) {
            vae_layer *l = &dc->layers[k];
            int temporal = temporal_down[2 - i]; /* temperal_upsample = reversed */
            l->kind = temporal ? VAE_UP3D : VAE_UP2D;
            snprintf(name, sizeof name, "decoder.upsamples.%d.resample.1", k);
            WR_TRY(vae_bind_conv(&m->b, name, out / 2, out, 0, 3, &l->spatial));
            if (temporal) {
                snprintf(name, sizeof name, "decoder.upsamples.%d.time_conv", k);
                WR_TRY(vae_bind_conv(&m->b, name, 2 * out, out, 3, 1, &l->time));
            }
            k++;
        }
    }
    dc->n_layers = k;
    for (int i = 0; i < k; i++) /* after the last time upsample */
        if (dc->layers[i].kind == VAE_UP3D)
            dc->split = i + 1;
    WR_TRY(vae_bind_gamma(&m->b, "decoder.head.0.gamma", dims[4], &dc->head_gamma));
    return vae_bind_conv(&m->b, "decoder.head.2", 3, dims[4], 3, 3, &dc->head);
}

static wr_status bind_all(vae21 *m)
{
    WR_TRY(bind_encoder(m));
    WR_TRY(bind_decoder(m));
    WR_TRY(vae_bind_conv(&m->b, "conv1", 2 * m->z_dim, 2 * m->z_dim, 1, 1, &m->post_quant_enc));
    return vae_bind_conv(&m->b, "conv2", m->z_dim, m->z_dim, 1, 1, &m->pre_dec);
}

wr_status vae21_init_shape(vae21 **out, int dim, wr_dtype dtype)
{
    *out = NULL;
    vae21 *m = calloc(1, sizeof *m);
    if (!m)
        return wr_fail(WR_E_OOM, "VAE 2.1 plan: out of memory");
    m->dim = dim, m->z_dim = 16, m->b.dtype = dtype;
    wr_status st = bind_all(m);
    if (st != WR_OK) {
        vae21_free(m);
        return st;
    }
    *out = m;
    return WR_OK;
}

size_t vae21_weight_bytes(const vae21 *m) { return m->b.weight_bytes; }

wr_status vae21_load(vae21 **out, const wr_weightfile *wf)
{
    *out = NULL;
    vae21 *m = calloc(1, sizeof *m);
    if (!m)
        return wr_fail(WR_E_OOM, "%s: out of memory", wf->map.path);
    m->b.wf = wf;
    wr_status st;
    const wr_wtensor *c1 = wr_weightfile_find(wf, "encoder.conv1.weight"), *c2 = wr_weightfile_find(wf, "conv2.weight");
    if (!c1 || !c2) {
        st = wr_fail(WR_E_FORMAT, "%s: missing tensor '%s' (not a Wan 2.1 VAE?)", wf->map.path,
                     c1 ? "conv2.weight" : "encoder.conv1.weight");
        goto fail;
    }
    m->dim = (int)c1->t.ne[c1->t.n_dims - 1];
    m->z_dim = (int)c2->t.ne[c2->t.n_dims - 1];
    if (m->z_dim != 16) {
        st = wr_fail(WR_E_UNSUPPORTED, "%s: latent channels %d: this is not a Wan 2.1 VAE (16)", wf->map.path, m->z_dim);
        goto fail;
    }
    WR_TRY_GOTO(bind_all(m));
    *out = m;
    return WR_OK;
fail:
    vae21_free(m);
    return st;
}

void vae21_free(vae21 *m)
{
    if (!m)
        return;
    vae_binder_free(&m->b);
    free(m);
}

int vae21_z_dim(const vae21 *m) { return m->z_dim; }

/* ---- forward passes: one chunk at a time (the official chunking) ---------------------------- */

static wr_status layers_forward(vae_vol *x, const half *h, int from, int to, vae_tcache *tc)
{
    for (int i = from; i < to; i++) {
        const vae_layer *l = &h->layers[i];
        switch (l->kind) {
        case VAE_RES: WR_TRY(vae_res_forward(x, &l->res, tc)); break;
        case VAE_DOWN2D:
        case VAE_DOWN3D: WR_TRY(vae_down_forward(x, l, tc)); break;
        default: WR_TRY(vae_up_forward(x, l, tc)); break;
        }
    }
    return WR_OK;
}

/* The encoder up to its first time downsample (full and half resolution), run frame by frame. */
static wr_status encoder_head(const void *model, vae_vol *x, vae_tcache *tc)
{
    const half *h = &((const vae21 *)model)->enc;
    WR_TRY(vae_conv_causal(x, &h->conv1, tc));
    return layers_forward(x, h, 0, h->split, tc);
}

static wr_status encode_chunk(const vae21 *m, vae_vol *x, vae_tcache *tc)
{
    const half *h = &m->enc;
    WR_TRY(vae_per_frame(x, tc, encoder_head, m, NULL, 0));
    WR_TRY(layers_forward(x, h, h->split, h->n_layers, tc));
    WR_TRY(vae_res_forward(x, &h->mid0, tc));
    WR_TRY(vae_attn_forward(x, &h->mid_attn));
    WR_TRY(vae_res_forward(x, &h->mid1, tc));
    vae_rms_norm(x, h->head_gamma, 1);
    WR_TRY(vae_conv_causal(x, &h->head, tc));
    return vae_conv_causal(x, &m->post_quant_enc, tc);
}

/* The decoder after its last time upsample (half and full resolution), run frame by frame. */
static wr_status decoder_tail(const void *model, vae_vol *x, vae_tcache *tc)
{
    const half *h = &((const vae21 *)model)->dec;
    WR_TRY(layers_forward(x, h, h->split, h->n_layers, tc));
    vae_rms_norm(x, h->head_gamma, 1);
    return vae_conv_causal(x, &h->head, tc);
}

/* One latent frame -> its video frames, delivered to sink from frame t0 on. */
static wr_status decode_chunk(const vae21 *m, vae_vol *x, vae_tcache *tc, const vae_sink *sink, int t0)
{
    const half *h = &m->dec;
    WR_TRY(vae_conv_causal(x, &m->pre_dec, tc));
    WR_TRY(vae_conv_causal(x, &h->conv1, tc));
    WR_TRY(vae_res_forward(x, &h->mid0, tc));
    WR_TRY(vae_attn_forward(x, &h->mid_attn));
    WR_TRY(vae_res_forward(x, &h->mid1, tc));
    WR_TRY(layers_forward(x, h, 0, h->split, tc));
    return vae_per_frame(x, tc, decoder_tail, m, sink, t0);
}

wr_status vae21_encode(const vae21 *m, const vae_vol *video, vae_vol *latent)
{
    if (video->c != 3 || video->t < 1 || (video->t - 1) % 4 != 0 || video->h % 8 || video->w % 8 || video->h < 8 ||
        video->w < 8)
        return wr_fail(WR_E_ARG, "VAE encode: video [%d, %d, %d, %d]: need 3 channels, 4k+1 frames, height and width "
                                 "multiples of 8", video->c, video->t, video->h, video->w);
    int tl = (video->t - 1) / 4 + 1;
    WR_TRY(vae_vol_alloc(latent, m->z_dim, tl, video->h / 8, video->w / 8));
    vae_tcache tc = {0};
    wr_status st = WR_OK;
    for (int i = 0; i < tl && st == WR_OK; i++) { /* chunks: frame 0, then 4 frames each */
        vae_vol x;
        st = vae_vol_crop(video, i ? 1 + 4 * (i - 1) : 0, i ? 4 : 1, 0, video->h, 0, video->w, &x);
        if (st != WR_OK)
            break;
        vae_tcache_begin(&tc, i == 0);
        st = encode_chunk(m, &x, &tc);
        size_t n = (size_t)x.h * x.w;
        for (int c = 0; st == WR_OK && !vae_dry() && c < m->z_dim; c++) { /* μ = first z channels */
            float inv_std = 1.0f / latent_std[c];
            for (size_t p = 0; p < n; p++)
                latent->d[((size_t)c * tl + (size_t)i) * n + p] = (x.d[(size_t)c * n + p] - latent_mean[c]) * inv_std;
        }
        vae_vol_free(&x);
    }
    vae_tcache_free(&tc);
    if (st != WR_OK)
        vae_vol_free(latent);
    return st;
}

/* The decoder's weights for a resident decode. */
static void add_decoder_weights(vae21 *m, vae_placed *pl)
{
    half *h = &m->dec;
    vae_placed_add_conv(pl, &m->pre_dec);
    vae_placed_add_conv(pl, &h->conv1);
    vae_placed_add_res(pl, &h->mid0);
    vae_placed_add_gamma(pl, &h->mid_attn.gamma, (int)h->mid_attn.proj.w.ne[3]);
    vae_placed_add_conv(pl, &h->mid_attn.qkv);
    vae_placed_add_conv(pl, &h->mid_attn.proj);
    vae_placed_add_res(pl, &h->mid1);
    for (int i = 0; i < h->n_layers; i++) {
        vae_layer *l = &h->layers[i];
        if (l->kind == VAE_RES)
            vae_placed_add_res(pl, &l->res);
        else {
            vae_placed_add_conv(pl, &l->spatial);
            if (l->kind == VAE_UP3D)
                vae_placed_add_conv(pl, &l->time);
        }
    }
    vae_placed_add_gamma(pl, &h->head_gamma, (int)h->head.w.ne[3]);
    vae_placed_add_conv(pl, &h->head);
}

/* On a GPU backend whose free memory holds the decode's working set (resident_fits) the decode is
 * resident (vae/volume.h): the decoder's weights go up once per decode, each latent frame goes up once, the activations and caches stay in device buffers, and
 * frames come down once for the sink. The model's tensors point at the device copies only during
 * the call (the model is const to callers, and is as it was when the call returns). */
static void add_weights(void *m, vae_placed *pl) { add_decoder_weights(m, pl); }

static wr_status stream_fn(const void *m, const vae_vol *latent, vae_sink sink)
{
    return vae21_decode_stream(m, latent, sink);
}

wr_status vae21_decode_stream(const vae21 *m, const vae_vol *latent, vae_sink sink)
{
    if (latent->c != m->z_dim || latent->t < 1 || latent->h < 1 || latent->w < 1)
        return wr_fail(WR_E_ARG, "VAE decode: latent [%d, %d, %d, %d]: need %d channels", latent->c, latent->t,
                       latent->h, latent->w, m->z_dim);
    vae_tcache tc = {0};
    vae_residency res;
    wr_status st = vae_resident_begin(stream_fn, m, latent, m->b.weight_bytes, add_weights, &res);
    for (int i = 0; i < latent->t && st == WR_OK; i++) { /* one latent frame per chunk */
        vae_vol x = {0};
        st = vae_latent_frame(latent, i, latent_mean, latent_std, &x);
        vae_tcache_begin(&tc, i == 0);
        if (st == WR_OK)
            st = decode_chunk(m, &x, &tc, &sink, i ? 1 + 4 * (i - 1) : 0);
        vae_vol_free(&x);
    }
    vae_tcache_free(&tc);
    vae_resident_end(&res);
    return st;
}

wr_status vae21_decode(const vae21 *m, const vae_vol *latent, vae_vol *video)
{
    if (latent->c != m->z_dim || latent->t < 1 || latent->h < 1 || latent->w < 1)
        return wr_fail(WR_E_ARG, "VAE decode: latent [%d, %d, %d, %d]: need %d channels", latent->c, latent->t,
                       latent->h, latent->w, m->z_dim);
    WR_TRY(vae_vol_alloc(video, 3, 4 * (latent->t - 1) + 1, 8 * latent->h, 8 * latent->w));
    wr_status st = vae21_decode_stream(m, latent, (vae_sink){vae_sink_into_vol, video});
    if (st != WR_OK)
        vae_vol_free(video);
    return st;
}
