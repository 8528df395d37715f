/* SeedVR2 VAE: the configuration read from the weight shapes, then the binding of every
 * tensor against it (see svr_vae.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/json.h"
#include "upscale/svr_vae_model.h"

#define DEFAULT_GROUPS 32 /* norm_num_groups of the released s8_c16_t4 configs */

/* PyTorch dimension i of a tensor (outermost first), 0 when absent. */
static int64_t tdim(const wr_wtensor *t, int i)
{
    return t && i < t->t.n_dims ? t->t.ne[t->t.n_dims - 1 - i] : 0;
}

static int count(const wr_weightfile *wf, const char *fmt, int limit)
{
    char name[192];
    int n = 0;
    while (n < limit && (snprintf(name, sizeof name, fmt, n), wr_weightfile_find(wf, name)))
        n++;
    return n;
}

/* A 5-D conv weight [Cout, Cin, kt, kh, kw]. */
static wr_status conv_shape(const wr_weightfile *wf, const char *name, const wr_wtensor **out)
{
    *out = wr_weightfile_find(wf, name);
    if (!*out)
        return wr_fail(WR_E_FORMAT, "%s: missing tensor '%s' (not a SeedVR2 video VAE?)", wf->map.path, name);
    if ((*out)->t.n_dims != 5)
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s' should be a 5-D conv weight [Cout, Cin, kt, kh, kw], has %d dims",
                       wf->map.path, name, (*out)->t.n_dims);
    return WR_OK;
}

/* norm_num_groups from the "config" metadata (diffusers-style JSON) when present. */
static int groups_from_meta(const wr_weightfile *wf)
{
    const char *cfg = wr_weightfile_meta(wf, "config");
    int g = 0;
    wr_json root;
    if (cfg && wr_json_parse(cfg, strlen(cfg), "VAE config metadata", &root) == WR_OK) {
        const wr_json *v = wr_json_get(&root, "norm_num_groups");
        if (v && v->type == WR_JSON_NUMBER && v->is_int && v->integer > 0 && v->integer < 4096)
            g = (int)v->integer;
        wr_json_free(&root);
    }
    wr_clear_error();
    return g;
}

static wr_status read_config(const wr_weightfile *wf, int groups, upscale_vae_config *c)
{
    const char *path = wf->map.path;
    const wr_wtensor *t;
    char name[192];
    memset(c, 0, sizeof *c);
    WR_TRY(conv_shape(wf, "encoder.conv_in.weight", &t));
    c->in_channels = (int)tdim(t, 1);
    c->n_blocks = count(wf, "encoder.down_blocks.%d.resnets.0.conv1.weight", UPSCALE_VAE_MAX_BLOCKS + 1);
    c->enc_layers = count(wf, "encoder.down_blocks.0.resnets.%d.conv1.weight", SVR_MAX_LAYERS + 1);
    int n_up = count(wf, "decoder.up_blocks.%d.resnets.0.conv1.weight", UPSCALE_VAE_MAX_BLOCKS + 1);
    c->dec_layers = count(wf, "decoder.up_blocks.0.resnets.%d.conv1.weight", SVR_MAX_LAYERS + 1);
    if (c->n_blocks < 1 || c->n_blocks > UPSCALE_VAE_MAX_BLOCKS || n_up != c->n_blocks)
        return wr_fail(WR_E_FORMAT, "%s: %d encoder down blocks and %d decoder up blocks (expected 1..%d each, equal)",
                       path, c->n_blocks, n_up, UPSCALE_VAE_MAX_BLOCKS);
    if (c->enc_layers < 1 || c->enc_layers > SVR_MAX_LAYERS || c->dec_layers < 1 || c->dec_layers > SVR_MAX_LAYERS)
        return wr_fail(WR_E_FORMAT, "%s: %d encoder / %d decoder resnets per block (expected 1..%d)", path,
                       c->enc_layers, c->dec_layers, SVR_MAX_LAYERS);
    c->spatial_factor = c->temporal_factor = 1;
    for (int i = 0; i < c->n_blocks; i++) {
        snprintf(name, sizeof name, "encoder.down_blocks.%d.resnets.0.conv1.weight", i);
        WR_TRY(conv_shape(wf, name, &t));
        c->enc_ch[i] = (int)tdim(t, 0);
        snprintf(name, sizeof name, "encoder.down_blocks.%d.downsamplers.0.conv.weight", i);
        if ((t = wr_weightfile_find(wf, name))) {
            WR_TRY(conv_shape(wf, name, &t));
            if (tdim(t, 2) != 1 && tdim(t, 2) != 3)
                return wr_fail(WR_E_FORMAT, "%s: '%s' has temporal kernel %lld (expected 1 or 3)", path, name,
                               (long long)tdim(t, 2));
            c->has_down[i] = 1;
            c->enc_time_down[i] = tdim(t, 2) == 3;
            c->spatial_factor *= 2;
            c->temporal_factor *= c->enc_time_down[i] ? 2 : 1;
        }
        snprintf(name, sizeof name, "decoder.up_blocks.%d.resnets.0.conv1.weight", i);
        WR_TRY(conv_shape(wf, name, &t));
        c->dec_ch[i] = (int)tdim(t, 0);
        snprintf(name, sizeof name, "decoder.up_blocks.%d.upsamplers.0.upscale_conv.weight", i);
        if ((t = wr_weightfile_find(wf, name))) {
            WR_TRY(conv_shape(wf, name, &t));
            int64_t z = c->dec_ch[i] > 0 ? tdim(t, 0) / (4 * c->dec_ch[i]) : 0;
            if ((z != 1 && z != 2) || tdim(t, 0) != 4 * z * c->dec_ch[i])
                return wr_fail(WR_E_FORMAT, "%s: '%s' has %lld output channels (expected 4 or 8 x %d)", path, name,
                               (long long)tdim(t, 0), c->dec_ch[i]);
            c->has_up[i] = 1;
            c->dec_time_up[i] = z == 2;
        }
    }
    WR_TRY(conv_shape(wf, "encoder.conv_out.weight", &t));
    c->latent_channels = (int)tdim(t, 0) / 2;
    WR_TRY(conv_shape(wf, "decoder.conv_out.weight", &t));
    c->out_channels = (int)tdim(t, 0);
    if (c->latent_channels < 1 || c->in_channels < 1 || c->out_channels < 1)
        return wr_fail(WR_E_FORMAT, "%s: encoder.conv_out / conv_in / decoder.conv_out have empty channel counts", path);
    int up_s = 1, up_t = 1;
    for (int i = 0; i < c->n_blocks; i++)
        up_s *= c->has_up[i] ? 2 : 1, up_t *= c->dec_time_up[i] ? 2 : 1;
    if (up_s != c->spatial_factor || up_t != c->temporal_factor)
        return wr_fail(WR_E_FORMAT, "%s: the encoder downsamples x%d (time x%d) but the decoder upsamples x%d (time x%d)",
                       path, c->spatial_factor, c->temporal_factor, up_s, up_t);
    c->groups = groups > 0 ? groups : groups_from_meta(wf);
    if (c->groups <= 0)
        c->groups = DEFAULT_GROUPS;
    for (int i = 0; i < c->n_blocks; i++)
        if (c->enc_ch[i] % c->groups || c->dec_ch[i] % c->groups || c->enc_ch[i] < 1 || c->dec_ch[i] < 1)
            return wr_fail(WR_E_FORMAT, "%s: block %d has %d / %d channels, not a multiple of %d GroupNorm groups", path,
                           i, c->enc_ch[i], c->dec_ch[i], c->groups);
    return WR_OK;
}

static wr_status bind(upscale_vae *m)
{
    const upscale_vae_config *c = &m->cfg;
    svr_binder *b = &m->binder;
    char p[192];
    int nb = c->n_blocks, ch = c->enc_ch[0];
    WR_TRY(svr_bind_conv(b, "encoder.conv_in", ch, c->in_channels, 3, 3, &m->enc_in));
    for (int i = 0; i < nb; i++) {
        int co = c->enc_ch[i];
        for (int j = 0; j < c->enc_layers; j++) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.resnets.%d", i, j);
            WR_TRY(svr_bind_res(b, p, j ? co : ch, co, &m->down[i].res[j]));
        }
        ch = co;
        if (c->has_down[i]) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.downsamplers.0.conv", i);
            WR_TRY(svr_bind_conv(b, p, ch, ch, c->enc_time_down[i] ? 3 : 1, 3, &m->down[i].down));
        }
    }
    WR_TRY(svr_bind_mid(b, "encoder.mid_block", ch, &m->enc_mid));
    WR_TRY(svr_bind_norm(b, "encoder.conv_norm_out", ch, &m->enc_norm_out));
    WR_TRY(svr_bind_conv(b, "encoder.conv_out", 2 * c->latent_channels, ch, 3, 3, &m->enc_out));

    const wr_wtensor *t;
    WR_TRY(conv_shape(b->wf, "decoder.conv_in.weight", &t));
    ch = (int)tdim(t, 0);
    if (ch < 1 || ch % c->groups)
        return wr_fail(WR_E_FORMAT, "%s: 'decoder.conv_in.weight' has %d output channels, not a multiple of %d groups",
                       b->wf->map.path, ch, c->groups);
    WR_TRY(svr_bind_conv(b, "decoder.conv_in", ch, c->latent_channels, 3, 3, &m->dec_in));
    WR_TRY(svr_bind_mid(b, "decoder.mid_block", ch, &m->dec_mid));
    for (int i = 0; i < nb; i++) {
        int co = c->dec_ch[i];
        for (int j = 0; j < c->dec_layers; j++) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.resnets.%d", i, j);
            WR_TRY(svr_bind_res(b, p, j ? co : ch, co, &m->up[i].res[j]));
        }
        ch = co;
        if (c->has_up[i]) {
            svr_up *u = &m->up[i].up;
            u->z = c->dec_time_up[i] ? 2 : 1;
            snprintf(p, sizeof p, "decoder.up_blocks.%d.upsamplers.0.upscale_conv", i);
            WR_TRY(svr_bind_conv(b, p, ch * 4 * u->z, ch, 1, 1, &u->expand));
            snprintf(p, sizeof p, "decoder.up_blocks.%d.upsamplers.0.conv", i);
            WR_TRY(svr_bind_conv(b, p, ch, ch, 3, 3, &u->conv));
        }
    }
    WR_TRY(svr_bind_norm(b, "decoder.conv_norm_out", ch, &m->dec_norm_out));
    return svr_bind_conv(b, "decoder.conv_out", c->out_channels, ch, 3, 3, &m->dec_out);
}

wr_status upscale_vae_load(upscale_vae **out, const wr_weightfile *wf, int groups)
{
    *out = NULL;
    upscale_vae *m = calloc(1, sizeof *m);
    if (!m)
        return wr_fail(WR_E_OOM, "%s: out of memory", wf->map.path);
    m->binder.wf = wf;
    wr_status st = read_config(wf, groups, &m->cfg);
    if (st == WR_OK)
        st = bind(m);
    if (st != WR_OK) {
        upscale_vae_free(m);
        return st;
    }
    *out = m;
    return WR_OK;
}

void upscale_vae_free(upscale_vae *m)
{
    if (!m)
        return;
    svr_binder_free(&m->binder);
    free(m);
}

const upscale_vae_config *upscale_vae_cfg(const upscale_vae *m) { return &m->cfg; }
