/* VAE memory planner: dry runs of the real passes (see vae_plan.h). */
#include "vae/vae_plan.h"

#include <string.h>

vae_plan_config vae_plan_config_official(int is22)
{
    return is22 ? (vae_plan_config){.is22 = 1, .dim = 160, .dec_dim = 256, .wdtype = WR_DTYPE_BF16}
                : (vae_plan_config){.is22 = 0, .dim = 96, .wdtype = WR_DTYPE_BF16};
}

wr_status vae_plan_model(const wan_vae *v, int decode, int frames, int height, int width, const vae_tiling *t,
                         vae_plan *out)
{
    memset(out, 0, sizeof *out);
    int s = v->scale;
    if (frames < 1 || (frames - 1) % 4 || height < s || width < s || height % s || width % s)
        return wr_fail(WR_E_ARG, "VAE plan: %d frames of %dx%d: need 4k+1 frames and sizes multiples of %d", frames,
                       width, height, s);
    vae_tile_grid g;
    WR_TRY(vae_tiling_grid(t, s, height / s, width / s, &g));
    out->tiles = g.ny * g.nx;
    out->weights = wan_vae_weight_bytes(v);
    int was_dry = vae_dry();
    vae_dry_set(1);
    vae_vol in, res = {0};
    wr_status st = decode ? vae_vol_alloc(&in, v->z_dim, (frames - 1) / 4 + 1, height / s, width / s)
                          : vae_vol_alloc(&in, 3, frames, height, width);
    if (st == WR_OK) {
        size_t base = vae_mem_current(); /* the caller's input is not ours */
        vae_mem_reset_peak();
        st = decode ? wan_vae_decode_tiled(v, &in, t, &res) : wan_vae_encode_tiled(v, &in, t, &res);
        out->work = vae_mem_peak() - base;
        out->output = vae_vol_size(&res) * sizeof(float);
        vae_vol_free(&res);
        vae_vol_free(&in);
    }
    vae_dry_set(was_dry);
    out->peak = out->weights + out->work;
    return st;
}

static wr_status plan(const vae_plan_config *c, int decode, int frames, int height, int width, const vae_tiling *t,
                      vae_plan *out)
{
    wan_vae v;
    WR_TRY(wan_vae_init_shape(&v, c->is22, c->dim, c->dec_dim, c->wdtype));
    wr_status st = vae_plan_model(&v, decode, frames, height, width, t, out);
    wan_vae_free(&v);
    return st;
}

wr_status vae_plan_decode(const vae_plan_config *c, int frames, int height, int width, const vae_tiling *t,
                          vae_plan *out)
{
    return plan(c, 1, frames, height, width, t, out);
}

wr_status vae_plan_encode(const vae_plan_config *c, int frames, int height, int width, const vae_tiling *t,
                          vae_plan *out)
{
    return plan(c, 0, frames, height, width, t, out);
}

wr_status vae_plan_pick_tiling(const wan_vae *v, int decode, int frames, int height, int width, size_t budget,
                               vae_tiling *out)
{
    static const int cand[][4] = {{272, 272, 144, 128}, {208, 208, 112, 96}, {144, 144, 80, 64}, {96, 96, 48, 48}};
    vae_plan p;
    *out = vae_tiling_defaults(VAE_TILE_OFF);
    WR_TRY(vae_plan_model(v, decode, frames, height, width, out, &p));
    if (p.peak <= budget)
        return WR_OK;
    for (size_t i = 0; i < sizeof cand / sizeof *cand; i++) {
        *out = (vae_tiling){.mode = VAE_TILE_ON, .tile_w = cand[i][0], .tile_h = cand[i][1], .stride_w = cand[i][2],
                            .stride_h = cand[i][3]};
        WR_TRY(vae_plan_model(v, decode, frames, height, width, out, &p));
        if (p.peak <= budget)
            return WR_OK;
    }
    return wr_fail(WR_E_OOM, "VAE %s of %dx%dx%d: %.2f GiB even with 96 px tiles, over the budget of %.2f GiB",
                   decode ? "decode" : "encode", width, height, frames, (double)p.peak / 1073741824.0,
                   (double)budget / 1073741824.0);
}
