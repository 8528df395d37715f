/* Wan 2.2 VAE (see vae22.h). Keys: encoder.downsamples.I.downsamples.J (residual blocks, then
 * the resample), decoder.upsamples.I.upsamples.J alike; the AvgDown/DupUp shortcuts have no
 * weights. */
#include "vae/vae22.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ops.h"
#include "vae/vae_blocks.h"
#include "vae/vae_place.h"

#define Z_DIM 48

/* The official Wan2_2_VAE latent statistics (wan/modules/vae2_2.py). */
static const float latent_mean[Z_DIM] = {
    -0.2289f, -0.0052f, -0.1323f, -0.2339f, -0.2799f, 0.0174f,  0.1838f,  0.1557f,  -0.1382f, 0.0542f,
    0.2813f,  0.0891f,  0.1570f,  -0.0098f, 0.0375f,  -0.1825f, -0.2246f, -0.1207f, -0.0698f, 0.5109f,
    0.2665f,  -0.2108f, -0.2158f, 0.2502f,  -0.2055f, -0.0322f, 0.1109f,  0.1567f,  -0.0729f, 0.0899f,
    -0.2799f, -0.1230f, -0.0313f, -0.1649f, 0.0117f,  0.0723f,  -0.2839f, -0.2083f, -0.0520f, 0.3748f,
    0.0152f,  0.1957f,  0.1433f,  -0.2944f, 0.3573f,  -0.0548f, -0.1681f, -0.0667f};
static const float latent_std[Z_DIM] = {
    0.4765f, 1.0364f, 0.4514f, 1.1677f, 0.5313f, 0.4990f, 0.4818f, 0.5013f, 0.8158f, 1.0344f,
    0.5894f, 1.0901f, 0.6885f, 0.6165f, 0.8454f, 0.4978f, 0.5759f, 0.3523f, 0.7135f, 0.6804f,
    0.5833f, 1.4146f, 0.8986f, 0.5659f, 0.7069f, 0.5338f, 0.4889f, 0.4917f, 0.4069f, 0.4999f,
    0.6866f, 0.4093f, 0.5709f, 0.6065f, 0.6415f, 0.4944f, 0.5726f, 1.2042f, 0.5458f, 1.6887f,
    0.3971f, 1.0600f, 0.3943f, 0.5537f, 0.5444f, 0.4089f, 0.7468f, 0.7744f};

static const int dim_mult[4] = {1, 2, 4, 4};
static const int temporal_down[3] = {0, 1, 1};

typedef struct stage {
    vae_resblock res[3];
    int n_res;
    vae_layer resample; /* kind VAE_RES when the stage has none */
    int has_resample;
    int in, out, ft, fs; /* shortcut geometry: channels and time/space factors */
} stage;

struct vae22 {
    int dim, dec_dim;
    vae_conv enc_conv1, enc_head, post_quant_enc, pre_dec, dec_conv1, dec_head;
    stage down[4], up[4];
    vae_resblock enc_mid0, enc_mid1, dec_mid0, dec_mid1;
    vae_attnblock enc_attn, dec_attn;
    float *enc_head_gamma, *dec_head_gamma;
    vae_binder b;
};

static wr_status bind_stage(vae22 *m, const char *side, int i, int in, int out, int n_res, int temporal, int resample,
                            int up, stage *s)
{
    char name[160];
    s->in = in, s->out = out, s->n_res = n_res;
    s->ft = temporal ? 2 : 1;
    s->fs = resample ? 2 : 1;
    for (int j = 0; j < n_res; j++) {
        snprintf(name, sizeof name, "%s.%s.%d.%s.%d", side, up ? "upsamples" : "downsamples", i,
                 up ? "upsamples" : "downsamples", j);
        WR_TRY(vae_bind_res(&m->b, name, j ? out : in, out, &s->res[j]));
    }
    s->has_resample = resample;
    if (!resample)
        return WR_OK;
    s->resample.kind = up ? (temporal ? VAE_UP3D : VAE_UP2D) : (temporal ? VAE_DOWN3D : VAE_DOWN2D);
    snprintf(name, sizeof name, "%s.%s.%d.%s.%d.resample.1", side, up ? "upsamples" : "downsamples", i,
             up ? "upsamples" : "downsamples", n_res);
    WR_TRY(vae_bind_conv(&m->b, name, out, out, 0, 3, &s->resample.spatial));
    if (temporal) {
        snprintf(name, sizeof name, "%s.%s.%d.%s.%d.time_conv", side, up ? "upsamples" : "downsamples", i,
                 up ? "upsamples" : "downsamples", n_res);
        WR_TRY(vae_bind_conv(&m->b, name, up ? 2 * out : out, out, 3, 1, &s->resample.time));
    }
    return WR_OK;
}

static wr_status bind_all(vae22 *m)
{
    int d = m->dim, dd = m->dec_dim;
    WR_TRY(vae_bind_conv(&m->b, "encoder.conv1", d, 12, 3, 3, &m->enc_conv1));
    int edims[5] = {d, d * dim_mult[0], d * dim_mult[1], d * dim_mult[2], d * dim_mult[3]};
    for (int i = 0; i < 4; i++)
        WR_TRY(bind_stage(m, "encoder", i, edims[i], edims[i + 1], 2, i < 3 && temporal_down[i], i != 3, 0,
                               &m->down[i]));
    int top = edims[4];
    WR_TRY(vae_bind_res(&m->b, "encoder.middle.0", top, top, &m->enc_mid0));
    WR_TRY(vae_bind_attn(&m->b, "encoder.middle.1", top, &m->enc_attn));
    WR_TRY(vae_bind_res(&m->b, "encoder.middle.2", top, top, &m->enc_mid1));
    WR_TRY(vae_bind_gamma(&m->b, "encoder.head.0.gamma", top, &m->enc_head_gamma));
    WR_TRY(vae_bind_conv(&m->b, "encoder.head.2", 2 * Z_DIM, top, 3, 3, &m->enc_head));
    WR_TRY(vae_bind_conv(&m->b, "conv1", 2 * Z_DIM, 2 * Z_DIM, 1, 1, &m->post_quant_enc));
    WR_TRY(vae_bind_conv(&m->b, "conv2", Z_DIM, Z_DIM, 1, 1, &m->pre_dec));
    int ddims[5] = {dd * dim_mult[3], dd * dim_mult[3], dd * dim_mult[2], dd * dim_mult[1], dd * dim_mult[0]};
    WR_TRY(vae_bind_conv(&m->b, "decoder.conv1", ddims[0], Z_DIM, 3, 3, &m->dec_conv1));
    WR_TRY(vae_bind_res(&m->b, "decoder.middle.0", ddims[0], ddims[0], &m->dec_mid0));
    WR_TRY(vae_bind_attn(&m->b, "decoder.middle.1", ddims[0], &m->dec_attn));
    WR_TRY(vae_bind_res(&m->b, "decoder.middle.2", ddims[0], ddims[0], &m->dec_mid1));
    for (int i = 0; i < 4; i++)
        WR_TRY(bind_stage(m, "decoder", i, ddims[i], ddims[i + 1], 3, i < 3 && temporal_down[2 - i], i != 3, 1,
                               &m->up[i]));
    WR_TRY(vae_bind_gamma(&m->b, "decoder.head.0.gamma", ddims[4], &m->dec_head_gamma));
    return vae_bind_conv(&m->b, "decoder.head.2", 12, ddims[4], 3, 3, &m->dec_head);
}

wr_status vae22_init_shape(vae22 **out, int dim, int dec_dim, wr_dtype dtype)
{
    *out = NULL;
    vae22 *m = calloc(1, sizeof *m);
    if (!m)
        return wr_fail(WR_E_OOM, "VAE 2.2 plan: out of memory");
    m->dim = dim, m->dec_dim = dec_dim, m->b.dtype = dtype;
    wr_status st = bind_all(m);
    if (st != WR_OK) {
        vae22_free(m);
        return st;
    }
    *out = m;
    return WR_OK;
}

size_t vae22_weight_bytes(const vae22 *m) { return m->b.weight_bytes; }

wr_status vae22_load(vae22 **out, const wr_weightfile *wf)
{
    *out = NULL;
    vae22 *m = calloc(1, sizeof *m);
    if (!m)
        return wr_fail(WR_E_OOM, "%s: out of memory", wf->map.path);
    m->b.wf = wf;
    wr_status st;
    const wr_wtensor *c1 = wr_weightfile_find(wf, "encoder.conv1.weight"), *d1 = wr_weightfile_find(wf, "decoder.conv1.weight"),
                     *c2 = wr_weightfile_find(wf, "conv2.weight");
    if (!c1 || !d1 || !c2 || c1->t.ne[c1->t.n_dims - 2] != 12 || c2->t.ne[c2->t.n_dims - 1] != Z_DIM) {
        st = wr_fail(WR_E_FORMAT, "%s: not a Wan 2.2 VAE (needs encoder.conv1 taking 12 patchified channels and "
                                  "%d latent channels)", wf->map.path, Z_DIM);
        goto fail;
    }
    m->dim = (int)c1->t.ne[c1->t.n_dims - 1];
    m->dec_dim = (int)d1->t.ne[d1->t.n_dims - 1] / dim_mult[3];
    WR_TRY_GOTO(bind_all(m));
    *out = m;
    return WR_OK;
fail:
    vae22_free(m);
    return st;
}

void vae22_free(vae22 *m)
{
    if (!m)
        return;
    vae_binder_free(&m->b);
    free(m);
}

/* ---- forward passes: one chunk at a time (the official chunking) ---------------------------- */

/* AvgDown3D: zero frames in front up to a multiple of ft (per chunk, as the official code pads
 * each chunk), then the mean over groups of the (c, dt, dy, dx) channel expansion. */
static wr_status avg_down(const vae_vol *x, const stage *s, vae_vol *out)
{
    int pad = (s->ft - x->t % s->ft) % s->ft, factor = s->ft * s->fs * s->fs, group = s->in * factor / s->out;
    int to = (x->t + pad) / s->ft, ho = x->h / s->fs, wo = x->w / s->fs;
    WR_TRY(vae_vol_alloc(out, s->out, to, ho, wo));
    for (int o = 0; o < s->out && !vae_dry(); o++)
        for (int t = 0; t < to; t++)
            for (int y = 0; y < ho; y++)
                for (int xx = 0; xx < wo; xx++) {
                    double acc = 0;
                    for (int g = 0; g < group; g++) {
                        int k = o * group + g, dx = k % s->fs, dy = k / s->fs % s->fs, dt = k / (s->fs * s->fs) % s->ft,
                            c = k / factor;
                        int ti = t * s->ft + dt - pad;
                        if (ti >= 0)
                            acc += (double)x->d[(((size_t)c * x->t + (size_t)ti) * x->h + (size_t)(y * s->fs + dy)) * x->w +
                                                (size_t)(xx * s->fs + dx)];
                    }
                    out->d[(((size_t)o * to + (size_t)t) * ho + (size_t)y) * wo + (size_t)xx] = (float)(acc / group);
                }
    return WR_OK;
}

/* DupUp3D: channel repeats unshuffled into time and space; the first ft − 1 frames dropped in
 * the first chunk only (first_chunk in the official code). */
static wr_status dup_up(const vae_vol *x, const stage *s, int first, vae_vol *out)
{
    int factor = s->ft * s->fs * s->fs, repeats = s->out * factor / s->in, drop = first ? s->ft - 1 : 0;
    int to = x->t * s->ft - drop, ho = x->h * s->fs, wo = x->w * s->fs;
    WR_TRY(vae_vol_alloc(out, s->out, to, ho, wo));
    if (x->dev) { /* the op on the buffers (the twin of the loop below) */
        wr_tensor tx, ty;
        int64_t xne[4] = {x->w, x->h, x->t, x->c}, yne[4] = {wo, ho, to, s->out};
        WR_ASSERT(out->dev && wr_tensor_init(&tx, WR_DTYPE_F32, 4, xne, x->d) &&
                      wr_tensor_init(&ty, WR_DTYPE_F32, 4, yne, out->d),
                  "dup_up: volumes");
        wr_op_dup_up3d(&tx, s->ft, s->fs, drop, &ty);
        return WR_OK;
    }
    for (int o = 0; o < s->out && !vae_dry(); o++)
        for (int t = 0; t < to; t++)
            for (int y = 0; y < ho; y++)
                for (int xx = 0; xx < wo; xx++) {
                    int tf = t + drop, ti = tf / s->ft, dt = tf % s->ft, dy = y % s->fs, dx = xx % s->fs;
                    int k = ((o * s->ft + dt) * s->fs + dy) * s->fs + dx, c = k / repeats;
                    out->d[(((size_t)o * to + (size_t)t) * ho + (size_t)y) * wo + (size_t)xx] =
                        x->d[(((size_t)c * x->t + (size_t)ti) * x->h + (size_t)(y / s->fs)) * x->w + (size_t)(xx / s->fs)];
                }
    return WR_OK;
}

static wr_status down_stage(vae_vol *x, const stage *s, vae_tcache *tc)
{
    vae_vol sc;
    WR_TRY(avg_down(x, s, &sc));
    wr_status st = WR_OK;
    for (int j = 0; j < s->n_res && st == WR_OK; j++)
        st = vae_res_forward(x, &s->res[j], tc);
    if (st == WR_OK && s->has_resample)
        st = vae_down_forward(x, &s->resample, tc);
    if (st == WR_OK)
        vae_add(x, &sc);
    vae_vol_free(&sc);
    return st;
}

static wr_status up_stage(vae_vol *x, const stage *s, vae_tcache *tc)
{
    vae_vol sc = {0};
    if (s->has_resample)
        WR_TRY(dup_up(x, s, tc->first, &sc));
    wr_status st = WR_OK;
    for (int j = 0; j < s->n_res && st == WR_OK; j++)
        st = vae_res_forward(x, &s->res[j], tc);
    if (st == WR_OK && s->has_resample)
        st = vae_up_forward(x, &s->resample, tc);
    if (st == WR_OK && s->has_resample)
        vae_add(x, &sc);
    vae_vol_free(&sc);
    return st;
}

/* Frames t0 .. t0 + n − 1 of video [3, T, H, W] patchified to [12, n, H/2, W/2]: channel
 * c·4 + r·2 + q holds pixel (2y + q, 2x + r) (the official patchify, q = row offset). */
static wr_status patchify(const vae_vol *video, int t0, int n, vae_vol *x)
{
    int h2 = video->h / 2, w2 = video->w / 2;
    WR_TRY(vae_vol_alloc(x, 12, n, h2, w2));
    for (int c = 0; c < 3 && !vae_dry(); c++)
        for (int r = 0; r < 2; r++)
            for (int q = 0; q < 2; q++)
                for (int t = 0; t < n; t++)
                    for (int y = 0; y < h2; y++)
                        for (int xx = 0; xx < w2; xx++)
                            x->d[((((size_t)(c * 4 + r * 2 + q)) * n + (size_t)t) * h2 + (size_t)y) * w2 + (size_t)xx] =
                                video->d[(((size_t)c * video->t + (size_t)(t0 + t)) * video->h + (size_t)(2 * y + q)) * video->w +
                                         (size_t)(2 * xx + r)];
    return WR_OK;
}

static wr_status unpatchify(const vae_vol *x, vae_vol *video)
{
    WR_TRY(vae_vol_alloc(video, 3, x->t, x->h * 2, x->w * 2));
    for (int c = 0; c < 3 && !vae_dry(); c++)
        for (int r = 0; r < 2; r++)
            for (int q = 0; q < 2; q++)
                for (int t = 0; t < x->t; t++)
                    for (int y = 0; y < x->h; y++)
                        for (int xx = 0; xx < x->w; xx++)
                            video->d[(((size_t)c * x->t + (size_t)t) * video->h + (size_t)(2 * y + q)) * video->w +
                                     (size_t)(2 * xx + r)] =
                                x->d[((((size_t)(c * 4 + r * 2 + q)) * x->t + (size_t)t) * x->h + (size_t)y) * x->w + (size_t)xx];
    return WR_OK;
}

/* Patchified frames through conv1 and the first (purely spatial) stage, run frame by frame. */
static wr_status encoder_head(const void *model, vae_vol *x, vae_tcache *tc)
{
    const vae22 *m = model;
    WR_TRY(vae_conv_causal(x, &m->enc_conv1, tc));
    return down_stage(x, &m->down[0], tc);
}

static wr_status encode_chunk(const vae22 *m, vae_vol *x, vae_tcache *tc)
{
    WR_TRY(vae_per_frame(x, tc, encoder_head, m, NULL, 0));
    for (int i = 1; i < 4; i++) /* AvgDown3D pads per chunk: these run on whole chunks */
        WR_TRY(down_stage(x, &m->down[i], tc));
    WR_TRY(vae_res_forward(x, &m->enc_mid0, tc));
    WR_TRY(vae_attn_forward(x, &m->enc_attn));
    WR_TRY(vae_res_forward(x, &m->enc_mid1, tc));
    vae_rms_norm(x, m->enc_head_gamma, 1);
    WR_TRY(vae_conv_causal(x, &m->enc_head, tc));
    return vae_conv_causal(x, &m->post_quant_enc, tc);
}

wr_status vae22_encode(const vae22 *m, const vae_vol *video, vae_vol *latent)
{
    if (video->c != 3 || video->t < 1 || (video->t - 1) % 4 || video->h % 16 || video->w % 16 || video->h < 16 ||
        video->w < 16)
        return wr_fail(WR_E_ARG, "VAE 2.2 encode: video [%d, %d, %d, %d]: need 3 channels, 4k+1 frames, height and "
                                 "width multiples of 16", video->c, video->t, video->h, video->w);
    int tl = (video->t - 1) / 4 + 1;
    WR_TRY(vae_vol_alloc(latent, Z_DIM, tl, video->h / 16, video->w / 16));
    vae_tcache tc = {0};
    wr_status st = WR_OK;
    for (int i = 0; i < tl && st == WR_OK; i++) { /* chunks: frame 0, then 4 frames each */
        vae_vol x;
        st = patchify(video, i ? 1 + 4 * (i - 1) : 0, i ? 4 : 1, &x);
        if (st != WR_OK)
            break;
        vae_tcache_begin(&tc, i == 0);
        st = encode_chunk(m, &x, &tc);
        size_t n = (size_t)x.h * x.w;
        for (int c = 0; st == WR_OK && !vae_dry() && c < Z_DIM; c++) { /* μ = first 48 channels */
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

/* The last two (purely spatial) up stages, the head and unpatchify, run frame by frame. */
static wr_status decoder_tail(const void *model, vae_vol *x, vae_tcache *tc)
{
    const vae22 *m = model;
    for (int i = 2; i < 4; i++)
        WR_TRY(up_stage(x, &m->up[i], tc));
    vae_rms_norm(x, m->dec_head_gamma, 1);
    WR_TRY(vae_conv_causal(x, &m->dec_head, tc));
    if (x->dev) { /* the frame comes down here (12 patch channels: the frame's bytes), unpatchified on the host */
        vae_vol h;
        WR_TRY(vae_vol_download(x, &h));
        vae_replace(x, &h);
    }
    int was = vae_resident();
    vae_resident_set(0);
    vae_vol video;
    wr_status st = unpatchify(x, &video);
    vae_resident_set(was);
    WR_TRY(st);
    return vae_replace(x, &video);
}

/* One latent frame -> its video frames, delivered to sink from frame t0 on. */
static wr_status decode_chunk(const vae22 *m, vae_vol *x, vae_tcache *tc, const vae_sink *sink, int t0)
{
    WR_TRY(vae_conv_causal(x, &m->pre_dec, tc));
    WR_TRY(vae_conv_causal(x, &m->dec_conv1, tc));
    WR_TRY(vae_res_forward(x, &m->dec_mid0, tc));
    WR_TRY(vae_attn_forward(x, &m->dec_attn));
    WR_TRY(vae_res_forward(x, &m->dec_mid1, tc));
    for (int i = 0; i < 2; i++) /* the two time upsamples (DupUp3D drops frames of the first chunk) */
        WR_TRY(up_stage(x, &m->up[i], tc));
    return vae_per_frame(x, tc, decoder_tail, m, sink, t0);
}

/* The decoder's weights for a resident decode. */
static void add_decoder_weights(vae22 *m, vae_placed *pl)
{
    vae_placed_add_conv(pl, &m->pre_dec);
    vae_placed_add_conv(pl, &m->dec_conv1);
    vae_placed_add_res(pl, &m->dec_mid0);
    vae_placed_add_gamma(pl, &m->dec_attn.gamma, (int)m->dec_attn.proj.w.ne[3]);
    vae_placed_add_conv(pl, &m->dec_attn.qkv);
    vae_placed_add_conv(pl, &m->dec_attn.proj);
    vae_placed_add_res(pl, &m->dec_mid1);
    for (int i = 0; i < 4; i++) {
        stage *s = &m->up[i];
        for (int j = 0; j < s->n_res; j++)
            vae_placed_add_res(pl, &s->res[j]);
        if (s->has_resample) {
            vae_placed_add_conv(pl, &s->resample.spatial);
            if (s->resample.kind == VAE_UP3D)
                vae_placed_add_conv(pl, &s->resample.time);
        }
    }
    vae_placed_add_gamma(pl, &m->dec_head_gamma, (int)m->dec_head.w.ne[3]);
    vae_placed_add_conv(pl, &m->dec_head);
}

static void add_weights(void *m, vae_placed *pl) { add_decoder_weights(m, pl); }

static wr_status stream_fn(const void *m, const vae_vol *latent, vae_sink sink)
{
    return vae22_decode_stream(m, latent, sink);
}

/* As vae21_decode_stream: resident on a GPU backend whose free memory holds the decode's working
 * set (weights placed once per decode, each latent frame up once, the patchified frames down once
 * before the host unpatchify); otherwise staged per op. */
wr_status vae22_decode_stream(const vae22 *m, const vae_vol *latent, vae_sink sink)
{
    if (latent->c != Z_DIM || latent->t < 1 || latent->h < 1 || latent->w < 1)
        return wr_fail(WR_E_ARG, "VAE 2.2 decode: latent [%d, %d, %d, %d]: need %d channels", latent->c, latent->t,
                       latent->h, latent->w, Z_DIM);
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

wr_status vae22_decode(const vae22 *m, const vae_vol *latent, vae_vol *video)
{
    if (latent->c != Z_DIM || latent->t < 1 || latent->h < 1 || latent->w < 1)
        return wr_fail(WR_E_ARG, "VAE 2.2 decode: latent [%d, %d, %d, %d]: need %d channels", latent->c, latent->t,
                       latent->h, latent->w, Z_DIM);
    WR_TRY(vae_vol_alloc(video, 3, 4 * (latent->t - 1) + 1, 16 * latent->h, 16 * latent->w));
    wr_status st = vae22_decode_stream(m, latent, (vae_sink){vae_sink_into_vol, video});
    if (st != WR_OK)
        vae_vol_free(video);
    return st;
}
