/* See upscale_plan.h. The stage sums mirror upscale.c's run_batch / restore: change one, change
 * the other (tests/upscale/test_upscale_plan.c checks the VAE parts against counted real runs). */
#include "upscale/upscale_plan.h"

#include "upscale/resize_aa.h"

/* Peak bytes of one VAE pass over an input of [c, t, h, w], the input itself excluded, and the
 * largest operands one of its ops was handed (what a GPU backend stages at once). */
static wr_status vae_pass(const upscale_models *m, int decode, int c, int t, int h, int w, const upscale_opts *o,
                          size_t *peak, size_t *op)
{
    vae_op_reset_peak();
    vae_dry_set(1);
    vae_vol in = {0}, out = {0};
    wr_status st = vae_vol_alloc(&in, c, t, h, w);
    size_t base = vae_mem_current();
    vae_mem_reset_peak();
    if (st == WR_OK)
        st = decode ? upscale_vae_decode_tiled(m->vae, &in, o->vae_split, &o->vae_tile, &out)
                    : upscale_vae_encode_tiled(m->vae, &in, o->vae_split, &o->vae_tile, &out);
    *peak = vae_mem_peak() - base;
    *op = vae_op_peak();
    vae_vol_free(&out);
    vae_vol_free(&in);
    vae_dry_set(0);
    return st;
}

wr_status upscale_plan_batch(const upscale_models *m, int in_w, int in_h, const upscale_opts *o, upscale_plan *p)
{
    *p = (upscale_plan){0};
    if (in_w < 1 || in_h < 1 || o->batch < 1 || (o->batch - 1) % 4)
        return wr_fail(WR_E_ARG, "plan: %dx%d frames in batches of %d (4n + 1)", in_w, in_h, o->batch);
    upscale_sizes z = upscale_sizes_for(in_h, in_w, o);
    int rh = z.rh, rw = z.rw;
    p->out_h = z.th, p->out_w = z.tw;
    p->pad_h = (rh + 15) / 16 * 16, p->pad_w = (rw + 15) / 16 * 16;
    p->frames = (o->batch + 2) / 4 * 4 + 1;
    /* without a VAE: the released one's geometry (s8_c16_t4, seedvr2.md 3), its passes unplanned */
    static const upscale_vae_config released = {.latent_channels = 16, .spatial_factor = 8, .temporal_factor = 4};
    const upscale_vae_config *vc = m->vae ? upscale_vae_cfg(m->vae) : &released;
    int lc = vc->latent_channels;
    p->lat_t = (p->frames - 1) / vc->temporal_factor + 1;
    p->lat_h = p->pad_h / vc->spatial_factor, p->lat_w = p->pad_w / vc->spatial_factor;
    if (m->vae) {
        WR_TRY(vae_pass(m, 0, 3, p->frames, p->pad_h, p->pad_w, o, &p->vae_encode, &p->vae_encode_op));
        WR_TRY(vae_pass(m, 1, lc, p->lat_t, p->lat_h, p->lat_w, o, &p->vae_decode, &p->vae_decode_op));
    }
    upscale_dit_sample s = {.t = p->lat_t, .h = p->lat_h, .w = p->lat_w, .txt_len = m->txt_len, .timestep = 1000};
    WR_TRY(upscale_dit_workspace(m->dit, &s, 1, &p->dit));
    const size_t f4 = sizeof(float);
    int overlap = o->overlap > 0 && o->overlap < o->batch ? o->overlap : 0;
    size_t out_frame = (size_t)3 * p->out_h * p->out_w;
    size_t persistent = (size_t)(o->batch + (o->prepend > 0 ? o->prepend + 1 : 0)) * in_w * in_h * 3 +
                        (size_t)3 * in_w * in_h * f4 + (size_t)3 * rh * rw * f4 +
                        (z.r1h != rh || z.r1w != rw ? (size_t)3 * z.r1h * z.r1w * f4 : 0) +
                        (size_t)(overlap + 1) * out_frame * f4 + out_frame;
    size_t video = (size_t)3 * p->frames * p->pad_h * p->pad_w * f4, ref = (size_t)o->batch * out_frame * f4;
    size_t lat = (size_t)lc * p->lat_t * p->lat_h * p->lat_w * f4, tokens = lat / f4 / (size_t)lc;
    size_t dit_io = tokens * (size_t)(lc + (2 * lc + 1) + lc) * f4; /* eps, the DiT input, v */
    size_t stage[4] = {video + ref + p->vae_encode, video + ref + lat + dit_io + p->dit,
                       video + ref + 2 * lat + dit_io + p->vae_decode,
                       ref + video /* the decoded batch */ + ref /* trimmed content */ + out_frame * f4};
    static const char *const names[4] = {"VAE encode", "DiT", "VAE decode", "colour fix"};
    int worst = 0;
    for (int i = 1; i < 4; i++)
        worst = stage[i] > stage[worst] ? i : worst;
    p->pipeline = persistent + video + ref + lat;
    p->peak = persistent + stage[worst];
    p->peak_stage = names[worst];
    return WR_OK;
}
