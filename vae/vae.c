/* One handle over the two Wan VAEs (see vae.h). */
#include "vae/vae.h"

#include <string.h>

wr_status wan_vae_load(wan_vae *v, const wr_weightfile *wf)
{
    memset(v, 0, sizeof *v);
    const wr_wtensor *c2 = wr_weightfile_find(wf, "conv2.weight");
    if (c2 && c2->t.ne[c2->t.n_dims - 1] == 48) {
        WR_TRY(vae22_load(&v->v22, wf));
        v->z_dim = 48, v->scale = 16;
    } else {
        WR_TRY(vae21_load(&v->v21, wf));
        v->z_dim = 16, v->scale = 8;
    }
    return WR_OK;
}

wr_status wan_vae_init_shape(wan_vae *v, int is22, int dim, int dec_dim, wr_dtype dtype)
{
    memset(v, 0, sizeof *v);
    if (is22) {
        WR_TRY(vae22_init_shape(&v->v22, dim, dec_dim, dtype));
        v->z_dim = 48, v->scale = 16;
    } else {
        WR_TRY(vae21_init_shape(&v->v21, dim, dtype));
        v->z_dim = 16, v->scale = 8;
    }
    return WR_OK;
}

void wan_vae_free(wan_vae *v)
{
    if (!v)
        return;
    vae21_free(v->v21);
    vae22_free(v->v22);
    memset(v, 0, sizeof *v);
}

size_t wan_vae_weight_bytes(const wan_vae *v) { return v->v22 ? vae22_weight_bytes(v->v22) : vae21_weight_bytes(v->v21); }

wr_status wan_vae_encode(const wan_vae *v, const vae_vol *video, vae_vol *latent)
{
    return v->v22 ? vae22_encode(v->v22, video, latent) : vae21_encode(v->v21, video, latent);
}

wr_status wan_vae_decode(const wan_vae *v, const vae_vol *latent, vae_vol *video)
{
    return v->v22 ? vae22_decode(v->v22, latent, video) : vae21_decode(v->v21, latent, video);
}

wr_status wan_vae_decode_stream(const wan_vae *v, const vae_vol *latent, vae_sink sink)
{
    return v->v22 ? vae22_decode_stream(v->v22, latent, sink) : vae21_decode_stream(v->v21, latent, sink);
}
