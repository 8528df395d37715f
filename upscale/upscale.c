/* See upscale.h. */
#include "upscale/upscale.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "media/video_stream.h"
#include "runtime/interrupt.h"
#include "runtime/quant.h"
#include "runtime/rng.h"
#include "upscale/batch_plan.h"
#include "upscale/frame_source.h"
#include "upscale/resize_aa.h"

upscale_opts upscale_opts_default(void)
{
    return (upscale_opts){.resolution = 1080, .batch = 5, .overlap = 0, .vae_split = 4, .color = UPSCALE_COLOR_LAB,
                          .seed = 42, .attn = UPSCALE_DIT_ATTN_FP32, .video = {.crf = -1}};
}

upscale_sizes upscale_sizes_for(int in_h, int in_w, const upscale_opts *o)
{
    upscale_sizes z;
    upscale_resize_target(in_h, in_w, o->resolution, &z.r1h, &z.r1w);
    z.rh = z.r1h, z.rw = z.r1w;
    int longer = z.r1h > z.r1w ? z.r1h : z.r1w;
    if (o->max_resolution > 0 && longer > o->max_resolution) { /* numz resizes a second time */
        double s = (double)o->max_resolution / longer;
        z.rh = (int)lround(z.r1h * s), z.rw = (int)lround(z.r1w * s);
    }
    z.th = z.rh / 2 * 2, z.tw = z.rw / 2 * 2;
    return z;
}

typedef struct job {
    const upscale_models *m;
    const upscale_opts *o;
    int w, h;       /* input frames */
    int r1h, r1w;   /* the first resize (differs from rh, rw only under max_resolution) */
    int rh, rw;     /* resized */
    int th, tw;     /* true output size: resized, rounded down to even */
    int ph, pw;     /* padded to multiples of 16 */
    float *planes;  /* one input frame [3, h, w] in [0, 1] */
    float *resized; /* [3, rh, rw] */
    float *resized1; /* [3, r1h, r1w] before a max_resolution resize, else NULL */
    wr_video_writer *out;
    float *held;    /* the previous batch's last `overlap` frames [k][3, th, tw], not yet written */
    int n_held, written;
    int skip;       /* prepended frames still to drop from the output */
    uint8_t *rgb;   /* one output frame */
} job;

/* Writes one [3, th, tw] frame in [−1, 1]. */
static wr_status emit(job *j, const float *chw)
{
    if (j->skip > 0) { /* a prepended frame: it only steadied the start */
        j->skip--;
        return WR_OK;
    }
    wr_frames f = {.width = j->tw, .height = j->th, .count = 1, .rgb = j->rgb};
    wr_frames_from_f32(&f, chw, 0, 1);
    WR_TRY(wr_video_writer_put(j->out, j->rgb));
    j->written++;
    return WR_OK;
}

/* Input frames -> the padded model input [3, P, ph, pw] in [−1, 1] (pad −1) and the colour
 * reference [3, len, th, tw]. */
static wr_status prepare(job *j, uint8_t *const *frames, int len, int padded, vae_vol *video, vae_vol *ref)
{
    WR_TRY(vae_vol_alloc(video, 3, padded, j->ph, j->pw));
    WR_TRY(vae_vol_alloc(ref, 3, len, j->th, j->tw));
    size_t in_plane = (size_t)j->h * j->w, r_plane = (size_t)j->rh * j->rw, p_plane = (size_t)j->ph * j->pw;
    for (size_t i = 0; i < vae_vol_size(video); i++)
        video->d[i] = -1.0f;
    for (int f = 0; f < len; f++) {
        for (size_t p = 0; p < in_plane; p++)
            for (int c = 0; c < 3; c++)
                j->planes[(size_t)c * in_plane + p] = (float)frames[f][p * 3 + (size_t)c] / 255.0f;
        if (j->resized1) {
            WR_TRY(upscale_resize_bicubic_aa(j->planes, 3, j->h, j->w, j->resized1, j->r1h, j->r1w));
            WR_TRY(upscale_resize_bicubic_aa(j->resized1, 3, j->r1h, j->r1w, j->resized, j->rh, j->rw));
        } else {
            WR_TRY(upscale_resize_bicubic_aa(j->planes, 3, j->h, j->w, j->resized, j->rh, j->rw));
        }
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < j->rh; y++)
                for (int x = 0; x < j->rw; x++) {
                    float v = j->resized[(size_t)c * r_plane + (size_t)y * j->rw + x];
                    v = v < 0 ? 0 : v > 1 ? 1 : v;
                    video->d[((size_t)c * padded + f) * p_plane + (size_t)y * j->pw + x] = 2 * v - 1;
                }
    }
    for (int f = len; f < padded; f++) /* numz's mirror rule */
        for (int c = 0; c < 3; c++)
            memcpy(video->d + ((size_t)c * padded + f) * p_plane,
                   video->d + ((size_t)c * padded + upscale_batch_source(len, padded, f)) * p_plane,
                   p_plane * sizeof(float));
    for (int c = 0; c < 3; c++)
        for (int f = 0; f < len; f++)
            for (int y = 0; y < j->th; y++)
                memcpy(ref->d + (((size_t)c * len + f) * j->th + y) * j->tw,
                       video->d + ((size_t)c * padded + f) * p_plane + (size_t)y * j->pw, (size_t)j->tw * sizeof(float));
    return WR_OK;
}

/* Encode, one DiT step, decode: video [3, P, ph, pw] -> out [3, P, ph, pw]. */
static wr_status restore(job *j, const vae_vol *video, vae_vol *out)
{
    const upscale_models *m = j->m;
    vae_vol moments = {0}, mean = {0}, std = {0}, z = {0};
    float *eps = NULL, *vid = NULL, *v = NULL;
    wr_status st = upscale_vae_encode_tiled(m->vae, video, j->o->vae_split, &j->o->vae_tile, &moments);
    if (st == WR_OK)
        st = upscale_vae_posterior(&moments, &mean, &std);
    vae_vol_free(&moments), vae_vol_free(&std);
    const int lc = mean.c;
    const int64_t tokens = (int64_t)mean.t * mean.h * mean.w;
    const int vid_in = upscale_dit_config_get(m->dit)->vid_in;
    if (st == WR_OK && vid_in != 2 * lc + 1)
        st = wr_fail(WR_E_ARG, "the DiT takes %d input channels but this VAE gives %d-channel latents (needs %d)",
                     vid_in, lc, 2 * lc + 1);
    if (st == WR_OK) {
        eps = malloc((size_t)tokens * lc * sizeof *eps);
        vid = malloc((size_t)tokens * vid_in * sizeof *vid);
        v = malloc((size_t)tokens * lc * sizeof *v);
        if (!eps || !vid || !v)
            st = wr_fail(WR_E_OOM, "out of memory for %lld latent tokens", (long long)tokens);
    }
    if (st == WR_OK) {
        upscale_vae_latent_to_dit(&mean, v); /* the condition, channel-last; v is free until the DiT */
        wr_rng rng;
        wr_rng_seed(&rng, j->o->seed); /* reseeded per batch, like numz */
        wr_rng_randn(&rng, eps, tokens * lc);
        for (int64_t t = 0; t < tokens; t++) {
            float *row = vid + t * vid_in;
            memcpy(row, eps + t * lc, (size_t)lc * sizeof *row);
            memcpy(row + lc, v + t * lc, (size_t)lc * sizeof *row);
            row[2 * lc] = 1.0f;
        }
        upscale_dit_sample s = {.t = mean.t, .h = mean.h, .w = mean.w, .txt_len = m->txt_len, .timestep = 1000.0f};
        st = upscale_dit_forward(m->dit, &s, 1, vid, m->txt, j->o->attn, v, NULL, NULL);
    }
    if (st == WR_OK) {
        for (int64_t i = 0; i < tokens * lc; i++) /* x̂₀ = ε − v̂ at t = T */
            v[i] = eps[i] - v[i];
        st = upscale_vae_latent_from_dit(v, lc, mean.t, mean.h, mean.w, &z);
    }
    if (st == WR_OK)
        st = upscale_vae_decode_tiled(m->vae, &z, j->o->vae_split, &j->o->vae_tile, out);
    vae_vol_free(&mean), vae_vol_free(&z);
    free(eps), free(vid), free(v);
    return st;
}

/* One batch from input frames to written (or held) output frames. */
static wr_status run_batch(job *j, uint8_t *const *frames, int len, int first)
{
    int t = j->o->uniform && len < j->o->batch ? j->o->batch : len;
    int padded = (t + 2) / 4 * 4 + 1;
    vae_vol video = {0}, ref = {0}, dec = {0}, content = {0};
    wr_status st = prepare(j, frames, len, padded, &video, &ref);
    if (st == WR_OK)
        st = restore(j, &video, &dec);
    vae_vol_free(&video);
    if (st == WR_OK && (dec.t < len || dec.h < j->th || dec.w < j->tw))
        st = wr_fail(WR_E_FORMAT, "the VAE decoded [%d, %d, %d] for a [%d, %d, %d] batch", dec.t, dec.h, dec.w, len,
                     j->th, j->tw);
    if (st == WR_OK)
        st = vae_vol_alloc(&content, 3, len, j->th, j->tw);
    for (int c = 0; st == WR_OK && c < 3; c++) /* trim the temporal padding, crop to the true size */
        for (int f = 0; f < len; f++)
            for (int y = 0; y < j->th; y++)
                memcpy(content.d + (((size_t)c * len + f) * j->th + y) * j->tw,
                       dec.d + (((size_t)c * dec.t + f) * dec.h + y) * dec.w, (size_t)j->tw * sizeof(float));
    vae_vol_free(&dec);
    if (st == WR_OK)
        st = upscale_color_fix(j->o->color, content.d, ref.d, len, j->th, j->tw);
    vae_vol_free(&ref);
    size_t plane = (size_t)j->th * j->tw, fsize = 3 * plane;
    float *frame = st == WR_OK ? malloc(fsize * sizeof *frame) : NULL;
    if (st == WR_OK && !frame)
        st = wr_fail(WR_E_OOM, "out of memory");
    int k = first ? 0 : (j->n_held < len ? j->n_held : len), keep = j->o->overlap < len ? j->o->overlap : len;
    for (int f = 0; st == WR_OK && f < len; f++) {
        for (int c = 0; c < 3; c++)
            memcpy(frame + (size_t)c * plane, content.d + ((size_t)c * len + f) * plane, plane * sizeof(float));
        if (f < k) { /* cross-fade with the previous batch's held frames */
            float wp = upscale_overlap_weight(k, f);
            const float *h = j->held + (size_t)f * fsize;
            for (size_t i = 0; i < fsize; i++)
                frame[i] = wp * h[i] + (1 - wp) * frame[i];
        }
        if (f >= len - keep) { /* the next batch fades into these: hold them back */
            memcpy(j->held + (size_t)(f - (len - keep)) * fsize, frame, fsize * sizeof(float));
            continue;
        }
        st = emit(j, frame);
    }
    if (st == WR_OK)
        j->n_held = keep;
    free(frame);
    vae_vol_free(&content);
    return st;
}

static wr_status stream(job *j, upscale_source *r, int total_batches)
{
    const upscale_opts *o = j->o;
    int overlap = upscale_batch_overlap(o->batch, o->overlap), step = o->batch - overlap, have = 0, done = 0;
    size_t fbytes = (size_t)j->w * j->h * 3;
    uint8_t **frames = calloc((size_t)o->batch, sizeof *frames);
    wr_status st = frames ? WR_OK : wr_fail(WR_E_OOM, "out of memory");
    for (int i = 0; st == WR_OK && i < o->batch; i++)
        if (!(frames[i] = malloc(fbytes)))
            st = wr_fail(WR_E_OOM, "out of memory for %d input frames", o->batch);
    for (bool eof = false; st == WR_OK;) {
        while (!eof && have < o->batch && st == WR_OK) {
            bool got;
            st = upscale_source_next(r, frames[have], &got);
            have += got;
            eof = !got;
        }
        if (st != WR_OK || have == 0 || (done > 0 && have <= overlap))
            break;
        if (wr_interrupted()) {
            st = wr_fail(WR_E_INTERRUPTED, "upscaling interrupted after %d batches", done);
            break;
        }
        st = run_batch(j, frames, have, done == 0);
        done++;
        if (o->progress && st == WR_OK)
            o->progress(o->ctx, done, total_batches);
        int shift = have > step ? step : have;
        for (int i = 0; i < shift; i++) { /* rotate: the overlap frames move to the front */
            uint8_t *t = frames[0];
            memmove(frames, frames + 1, (size_t)(o->batch - 1) * sizeof *frames);
            frames[o->batch - 1] = t;
        }
        have -= shift;
    }
    if (st == WR_OK && wr_interrupted()) /* during the last batch: still a stop, not a result */
        st = wr_fail(WR_E_INTERRUPTED, "upscaling interrupted in batch %d", done);
    size_t fsize = (size_t)3 * j->th * j->tw;
    for (int i = 0; st == WR_OK && i < j->n_held; i++) /* the last batch's tail */
        st = emit(j, j->held + (size_t)i * fsize);
    for (int i = 0; frames && i < o->batch; i++)
        free(frames[i]);
    free(frames);
    return st;
}

wr_status upscale_video(const upscale_models *m, const char *in, const char *out, const upscale_opts *o, int *out_w,
                        int *out_h, int *out_frames)
{
    if (o->batch < 1 || (o->batch - 1) % 4)
        return wr_fail(WR_E_ARG, "--batch %d: batches are 4n + 1 frames (1, 5, 9, 13, ...)", o->batch);
    if (o->resolution < 16 || o->resolution > 8192)
        return wr_fail(WR_E_ARG, "--resolution %d: the short edge must be 16 to 8192 pixels", o->resolution);
    if (o->overlap < 0 || o->prepend < 0 || o->max_resolution < 0)
        return wr_fail(WR_E_ARG, "--overlap, --prepend and --max-resolution must not be negative");
    wr_video_reader *r;
    WR_TRY(wr_video_reader_open(in, &r));
    const wr_video_info *info = wr_video_reader_info(r);
    job j = {.m = m, .o = o, .w = info->width, .h = info->height, .skip = o->prepend > 0 ? o->prepend : 0};
    upscale_sizes z = upscale_sizes_for(j.h, j.w, o);
    j.r1h = z.r1h, j.r1w = z.r1w, j.rh = z.rh, j.rw = z.rw, j.th = z.th, j.tw = z.tw;
    j.ph = (j.rh + 15) / 16 * 16, j.pw = (j.rw + 15) / 16 * 16;
    wr_status st = WR_OK;
    if ((double)j.h / j.rh > 15 || (double)j.w / j.rw > 15)
        st = wr_fail(WR_E_ARG, "%s: %dx%d to a %d short edge shrinks more than 15x", in, j.w, j.h, o->resolution);
    int overlap = upscale_batch_overlap(o->batch, o->overlap);
    j.planes = malloc((size_t)3 * j.h * j.w * sizeof(float));
    j.resized = malloc((size_t)3 * j.rh * j.rw * sizeof(float));
    if (j.r1h != j.rh || j.r1w != j.rw)
        j.resized1 = malloc((size_t)3 * j.r1h * j.r1w * sizeof(float));
    j.held = malloc(((size_t)overlap + 1) * 3 * j.th * j.tw * sizeof(float));
    j.rgb = malloc((size_t)3 * j.th * j.tw);
    if (st == WR_OK && (!j.planes || !j.resized || !j.held || !j.rgb || ((j.r1h != j.rh || j.r1w != j.rw) && !j.resized1)))
        st = wr_fail(WR_E_OOM, "out of memory for %dx%d frames", j.tw, j.th);
    double fps = info->fps > 0 ? info->fps : 16.0;
    if (st == WR_OK)
        st = wr_video_writer_open(out, j.tw, j.th, fps, &o->video, &j.out);
    if (st == WR_OK) {
        upscale_batch plan[4096];
        int total = info->count > 0 ? upscale_batch_plan(info->count + (o->prepend > 0 ? o->prepend : 0), o->batch,
                                                         o->overlap, o->uniform, plan, 4096)
                                    : -1;
        upscale_source src;
        st = upscale_source_open(&src, r, o->prepend);
        if (st == WR_OK)
            st = stream(&j, &src, total);
        upscale_source_close(&src);
        if (st == WR_OK && j.written == 0)
            st = wr_fail(WR_E_FORMAT, "%s: no frames", in);
        st = st == WR_OK ? wr_video_writer_finish(j.out) : (wr_video_writer_abort(j.out), st);
    }
    wr_video_reader_close(r);
    free(j.planes), free(j.resized), free(j.resized1), free(j.held), free(j.rgb);
    if (st == WR_OK) {
        if (out_w)
            *out_w = j.tw;
        if (out_h)
            *out_h = j.th;
        if (out_frames)
            *out_frames = j.written;
    }
    return st;
}

wr_status upscale_text_load(const char *path, int txt_in, float **txt, int *txt_len)
{
    wr_weightfile wf;
    WR_TRY(wr_weightfile_open(&wf, path));
    const wr_wtensor *t = wr_weightfile_find(&wf, "positive_conditioning");
    if (!t)
        t = wr_weightfile_find(&wf, "pos_emb");
    if (!t && wf.n_tensors == 1)
        t = &wf.tensors[0];
    wr_status st = WR_OK;
    if (!t)
        st = wr_fail(WR_E_FORMAT, "%s: no text embedding (one tensor, or 'positive_conditioning' / 'pos_emb')", path);
    else if (t->t.n_dims != 2 || t->t.ne[0] != txt_in || t->t.ne[1] < 1 || !wr_dequant_get(t->t.dtype))
        st = wr_fail(WR_E_FORMAT, "%s: text embedding %s must be a float [tokens, %d] tensor for this DiT", path,
                     t->name, txt_in);
    if (st == WR_OK) {
        *txt_len = (int)t->t.ne[1];
        *txt = malloc((size_t)*txt_len * txt_in * sizeof **txt);
        if (!*txt)
            st = wr_fail(WR_E_OOM, "out of memory");
        for (int i = 0; st == WR_OK && i < *txt_len; i++)
            wr_dequant_row_f32(t->t.dtype, wr_tensor_row(&t->t, i), *txt + (size_t)i * txt_in, txt_in);
        for (int64_t i = 0; st == WR_OK && i < (int64_t)*txt_len * txt_in; i++)
            if ((*txt)[i] != (*txt)[i]) {
                free(*txt);
                st = wr_fail(WR_E_FORMAT, "%s: the text embedding contains NaN", path);
            }
    }
    wr_weightfile_close(&wf);
    return st;
}
