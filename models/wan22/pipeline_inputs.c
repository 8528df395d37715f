/* The pipeline's inputs (see pipeline_inputs.h): prompt encodings, image conditioning, noise. */
#include "models/wan22/pipeline_inputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/image.h"
#include "media/resize.h"
#include "models/wan22/t5.h"
#include "models/wan22/text_cache.h"
#include "models/wan22/text_clean.h"
#include "models/wan22/tokenizer.h"
#include "runtime/log.h"
#include "runtime/quant.h"
#include "runtime/rng.h"
#include "vae/vae21.h"
#include "vae/vae22.h"

/* Text conditioning: clean, tokenize, pad to text_len, encode, keep the real rows. */
static wr_status encode_text_uncached(const wan22_tokenizer *tok, const wan22_t5 *t5, const char *text, int text_len,
                                      float **ctx, int *ctx_len)
{
    char *clean = NULL;
    int32_t *raw = NULL, *ids = NULL, *mask = NULL;
    float *hidden = NULL;
    int n, dim = wan22_t5_config_of(t5)->dim;
    wr_status st;
    WR_TRY_GOTO(wan22_text_clean(text, &clean));
    WR_TRY_GOTO(wan22_tokenizer_encode(tok, clean, &raw, &n));
    ids = malloc((size_t)text_len * sizeof *ids);
    mask = malloc((size_t)text_len * sizeof *mask);
    hidden = malloc((size_t)text_len * dim * sizeof *hidden);
    if (!ids || !mask || !hidden) {
        st = wr_fail(WR_E_OOM, "text encoder: out of memory");
        goto fail;
    }
    *ctx_len = wan22_tokenizer_pad(tok, raw, n, text_len, ids, mask);
    /* Only the real tokens go through the encoder: the official call runs all text_len with the
     * padding masked out, and masked keys add exact zeros to every real row (relative position
     * bias depends on distances only), so the kept rows are bit-identical at ~text_len/ctx_len
     * less work (tests/text: padded vs unpadded). */
    WR_TRY_GOTO(wan22_t5_encode(t5, ids, mask, *ctx_len, hidden));
    *ctx = hidden;
    hidden = NULL;
fail:
    free(clean), free(raw), free(ids), free(mask), free(hidden);
    return st;
}

/* The text encoder with the optional disk cache in front of it. */
wr_status wan22_pipe_encode_text(const wan22_gen *g, const wan22_tokenizer *tok, const wan22_t5 *t5, const char *text,
                             int text_len, float **ctx, int *ctx_len)
{
    char path[4096];
    int dim = wan22_t5_config_of(t5)->dim;
    if (g->text_cache) {
        WR_TRY(wan22_text_cache_path(g->text_cache, text, g->t5, g->tokenizer, text_len, path, sizeof path));
        if (wan22_text_cache_load(path, dim, ctx, ctx_len)) {
            wr_log_info("text encoder: cache hit %s", path);
            return WR_OK;
        }
    }
    WR_TRY(encode_text_uncached(tok, t5, text, text_len, ctx, ctx_len));
    if (g->text_cache)
        WR_TRY(wan22_text_cache_store(path, *ctx, *ctx_len, dim));
    return WR_OK;
}

wr_status wan22_cond_from_video(const vae21 *vae, const vae_vol *video, int flf2v, float **y)
{
    vae_vol lat = {0};
    WR_TRY(vae21_encode(vae, video, &lat));
    int lt = lat.t;
    size_t lplane = (size_t)lat.h * lat.w, lvol = lplane * (size_t)lt;
    *y = calloc(20 * lvol, sizeof(float));
    if (!*y) {
        vae_vol_free(&lat);
        return wr_fail(WR_E_OOM, "out of memory");
    }
    /* mask: pixel frames with a given image are 1; pixel frame 0 is repeated 4x, then 4 pixel
     * frames per latent frame -> channel j of latent frame t is pixel frame 4t + j − 3 */
    for (int t = 0; t < lt; t++)
        for (int j = 0; j < 4; j++) {
            int pf = t == 0 ? 0 : 4 * t + j - 3;
            if (pf == 0 || (flf2v && pf == video->t - 1))
                for (size_t p = 0; p < lplane; p++)
                    (*y)[(size_t)j * lvol + (size_t)t * lplane + p] = 1.0f;
        }
    memcpy(*y + 4 * lvol, lat.d, 16 * lvol * sizeof(float));
    vae_vol_free(&lat);
    return WR_OK;
}

/* The start image (from memory when given) or the end image, read and resized to planes. */
static wr_status load_image(const wan22_gen *g, int end, float *chw)
{
    if (!end && g->image_frames)
        return wr_resize_cover_crop(g->image_frames->rgb, g->image_frames->width, g->image_frames->height, g->width,
                                    g->height, chw);
    wr_frames img = {0};
    WR_TRY(wr_image_read(end ? g->end_image : g->image, &img));
    wr_status st = wr_resize_cover_crop(img.rgb, img.width, img.height, g->width, g->height, chw);
    wr_frames_free(&img);
    return st;
}

/* I2V / FLF2V: the VAE input is [start image, zeros..., (end image)] in [−1, 1]. */
wr_status wan22_pipe_image_condition(const wan22_gen *g, const vae21 *vae, float **y)
{
    vae_vol video = {0};
    size_t plane = (size_t)g->height * g->width;
    WR_TRY(vae_vol_alloc(&video, 3, g->frames, g->height, g->width));
    memset(video.d, 0, vae_vol_size(&video) * sizeof(float));
    float *frame = malloc(3 * plane * sizeof *frame);
    wr_status st = frame ? WR_OK : wr_fail(WR_E_OOM, "out of memory");
    for (int which = 0; st == WR_OK && which < (g->mode == WAN22_MODE_FLF2V ? 2 : 1); which++) {
        int f = which ? g->frames - 1 : 0;
        st = load_image(g, which, frame);
        for (int c = 0; st == WR_OK && c < 3; c++)
            memcpy(video.d + ((size_t)c * g->frames + (size_t)f) * plane, frame + (size_t)c * plane, plane * sizeof(float));
    }
    free(frame);
    if (st == WR_OK)
        st = wan22_cond_from_video(vae, &video, g->mode == WAN22_MODE_FLF2V, y);
    vae_vol_free(&video);
    return st;
}

/* TI2V: the start image as one frame [3, 1, H, W] through the Wan 2.2 VAE -> [48, 1, h, w]. */
wr_status wan22_pipe_ti2v_image_latent(const wan22_gen *g, const vae22 *vae, float **z)
{
    vae_vol frame = {0}, lat = {0};
    WR_TRY(vae_vol_alloc(&frame, 3, 1, g->height, g->width));
    wr_status st = load_image(g, 0, frame.d);
    if (st == WR_OK)
        st = vae22_encode(vae, &frame, &lat);
    vae_vol_free(&frame);
    if (st == WR_OK)
        *z = lat.d;
    return st;
}

/* Initial noise: seeded like torch.randn(16, T, h, w), or injected from --noise FILE. */
wr_status wan22_pipe_initial_noise(const wan22_gen *g, float *x, size_t n)
{
    if (!g->noise_file) {
        wr_rng rng;
        wr_rng_seed(&rng, g->seed);
        wr_rng_randn(&rng, x, (int64_t)n);
        return WR_OK;
    }
    wr_weightfile wf;
    WR_TRY(wr_weightfile_open(&wf, g->noise_file));
    const wr_wtensor *t = wr_weightfile_find(&wf, "noise");
    wr_status st = WR_OK;
    if (!t || (size_t)wr_tensor_nelements(&t->t) != n || !wr_dequant_get(t->t.dtype))
        st = wr_fail(WR_E_ARG, "%s: needs a float tensor 'noise' with %zu elements [16, T, h, w]", g->noise_file, n);
    else
        for (int64_t r = 0; r < wr_tensor_nrows(&t->t); r++)
            wr_dequant_row_f32(t->t.dtype, wr_tensor_row(&t->t, r), x + r * t->t.ne[0], t->t.ne[0]);
    wr_weightfile_close(&wf);
    return st;
}
