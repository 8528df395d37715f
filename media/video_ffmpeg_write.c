/* Encoding video files frame by frame with libavformat/libavcodec/libswscale (video_stream.h):
 * .mp4/.mov H.264, .mkv FFV1 RGB (lossless), .y4m raw YUV 4:4:4. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "media/video_ffmpeg_common.h"
#include "media/video_internal.h"
#include "runtime/io/atomic_file.h"

#ifdef WR_HAVE_FFMPEG
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

typedef struct out_format {
    const char *ext, *muxer, *encoder;
} out_format;

static const out_format out_formats[] = {
    {".mp4", "mp4", "libx264"},
    {".mov", "mov", "libx264"},
    {".mkv", "matroska", "ffv1"},
    {".y4m", "yuv4mpegpipe", "wrapped_avframe"},
};

typedef struct ff_writer {
    char path[4096], tmp[4096];
    AVFormatContext *oc;
    AVCodecContext *enc;
    AVStream *vs;
    AVFrame *fr;
    AVPacket *pkt;
    struct SwsContext *sws;
} ff_writer;

static enum AVPixelFormat pick_pix_fmt(const out_format *of, int width, int height)
{
    if (strcmp(of->encoder, "ffv1") == 0)
        return AV_PIX_FMT_BGR0; /* FFV1 codes 8-bit RGB losslessly through its RCT */
    if (strcmp(of->encoder, "wrapped_avframe") == 0)
        return AV_PIX_FMT_YUV444P;
    return (width % 2 || height % 2) ? AV_PIX_FMT_YUV444P : AV_PIX_FMT_YUV420P;
}

static wr_status encode(ff_writer *f, AVFrame *fr)
{
    int r = avcodec_send_frame(f->enc, fr);
    if (r < 0)
        return wr_av_fail(WR_E_IO, f->path, "encoding failed", r);
    for (;;) {
        r = avcodec_receive_packet(f->enc, f->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            return WR_OK;
        if (r < 0)
            return wr_av_fail(WR_E_IO, f->path, "encoding failed", r);
        av_packet_rescale_ts(f->pkt, f->enc->time_base, f->vs->time_base);
        f->pkt->stream_index = f->vs->index;
        r = av_interleaved_write_frame(f->oc, f->pkt);
        if (r < 0)
            return wr_av_fail(WR_E_IO, f->path, "writing a packet failed", r);
    }
}

static void release(ff_writer *f)
{
    sws_freeContext(f->sws);
    av_packet_free(&f->pkt);
    av_frame_free(&f->fr);
    avcodec_free_context(&f->enc);
    if (f->oc && f->oc->pb)
        avio_closep(&f->oc->pb);
    avformat_free_context(f->oc);
    f->oc = NULL;
}

static wr_status setup(ff_writer *f, const out_format *of, int width, int height, double fps,
                       const wr_video_opts *opts)
{
    const AVCodec *codec = avcodec_find_encoder_by_name(of->encoder);
    if (!codec)
        return wr_fail(WR_E_UNSUPPORTED, "%s: this FFmpeg has no %s encoder", f->path, of->encoder);
    int r = avformat_alloc_output_context2(&f->oc, NULL, of->muxer, f->tmp);
    if (r < 0 || !f->oc)
        return wr_av_fail(WR_E_UNSUPPORTED, f->path, "cannot set up the container", r);
    f->vs = avformat_new_stream(f->oc, NULL);
    f->enc = avcodec_alloc_context3(codec);
    f->fr = av_frame_alloc();
    f->pkt = av_packet_alloc();
    if (!f->vs || !f->enc || !f->fr || !f->pkt)
        return wr_fail(WR_E_OOM, "%s: out of memory in FFmpeg", f->path);
    AVRational rate = av_d2q(fps > 0 ? fps : 16.0, 100000);
    f->enc->width = width;
    f->enc->height = height;
    f->enc->pix_fmt = pick_pix_fmt(of, width, height);
    f->enc->time_base = av_inv_q(rate);
    f->enc->framerate = rate;
    f->enc->gop_size = 16;
    if (f->oc->oformat->flags & AVFMT_GLOBALHEADER)
        f->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (strcmp(of->encoder, "libx264") == 0) {
        char crf[16];
        snprintf(crf, sizeof crf, "%d", opts && opts->crf >= 0 ? opts->crf : 19);
        av_opt_set(f->enc->priv_data, "crf", crf, 0);
        av_opt_set(f->enc->priv_data, "preset", "medium", 0);
    }
    if ((r = avcodec_open2(f->enc, codec, NULL)) < 0)
        return wr_av_fail(WR_E_IO, f->path, "cannot open the encoder", r);
    if ((r = avcodec_parameters_from_context(f->vs->codecpar, f->enc)) < 0)
        return wr_av_fail(WR_E_IO, f->path, "codec parameters", r);
    f->vs->time_base = f->enc->time_base;
    f->vs->avg_frame_rate = rate;
    if ((r = avio_open(&f->oc->pb, f->tmp, AVIO_FLAG_WRITE)) < 0)
        return wr_av_fail(WR_E_IO, f->path, "cannot create the file", r);
    if ((r = avformat_write_header(f->oc, NULL)) < 0)
        return wr_av_fail(WR_E_IO, f->path, "cannot write the header", r);
    f->fr->format = f->enc->pix_fmt;
    f->fr->width = width;
    f->fr->height = height;
    r = av_frame_get_buffer(f->fr, 0);
    f->sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, f->enc->pix_fmt,
                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (r < 0 || !f->sws)
        return wr_fail(WR_E_OOM, "%s: cannot set up the colour conversion", f->path);
    return WR_OK;
}

wr_status wr_vff_writer_open(wr_video_writer *w, const char *path, double fps, const wr_video_opts *opts)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(slash ? slash : path, '.');
    const char *ext = dot ? dot : "";
    const out_format *of = NULL;
    for (size_t i = 0; i < sizeof out_formats / sizeof out_formats[0]; i++)
        if (strcasecmp(ext, out_formats[i].ext) == 0)
            of = &out_formats[i];
    if (!of)
        return wr_fail(WR_E_ARG, "%s: unknown output type '%s' (use .mp4, .mov, .mkv, .y4m or a directory/)", path,
                       ext);
    ff_writer *f = calloc(1, sizeof *f);
    if (!f)
        return wr_fail(WR_E_OOM, "out of memory");
    snprintf(f->path, sizeof f->path, "%s", path);
    wr_status st = wr_atomic_tmp_name(path, f->tmp, sizeof f->tmp);
    wr_av_quiet();
    if (st == WR_OK)
        st = setup(f, of, w->width, w->height, fps, opts);
    w->impl = f;
    if (st != WR_OK)
        wr_vff_writer_abort(w);
    return st;
}

wr_status wr_vff_writer_put(wr_video_writer *w, const uint8_t *rgb)
{
    ff_writer *f = w->impl;
    int r = av_frame_make_writable(f->fr);
    if (r < 0)
        return wr_av_fail(WR_E_OOM, f->path, "frame buffer", r);
    const uint8_t *src[1] = {rgb};
    int stride[1] = {w->width * 3};
    sws_scale(f->sws, src, stride, 0, w->height, f->fr->data, f->fr->linesize);
    f->fr->pts = w->frames;
    return encode(f, f->fr);
}

wr_status wr_vff_writer_finish(wr_video_writer *w)
{
    ff_writer *f = w->impl;
    wr_status st = encode(f, NULL);
    int r = st == WR_OK ? av_write_trailer(f->oc) : 0;
    if (r < 0)
        st = wr_av_fail(WR_E_IO, f->path, "cannot finish the file", r);
    release(f);
    st = st == WR_OK ? wr_atomic_commit(f->tmp, f->path) : st;
    if (st != WR_OK)
        wr_atomic_abandon(f->tmp);
    free(f);
    w->impl = NULL;
    return st;
}

void wr_vff_writer_abort(wr_video_writer *w)
{
    ff_writer *f = w->impl;
    if (!f)
        return;
    release(f);
    if (f->tmp[0])
        wr_atomic_abandon(f->tmp);
    free(f);
    w->impl = NULL;
}

#else

wr_status wr_vff_writer_open(wr_video_writer *w, const char *path, double fps, const wr_video_opts *opts)
{
    (void)w, (void)fps, (void)opts;
    const char *dot = strrchr(path, '.');
    return wr_fail(WR_E_UNSUPPORTED, "%s: built without FFmpeg: write %s files needs libav* (or give a directory/)",
                   path, dot ? dot : "video");
}
wr_status wr_vff_writer_put(wr_video_writer *w, const uint8_t *rgb)
{
    (void)w, (void)rgb;
    return wr_fail(WR_E_UNSUPPORTED, "built without FFmpeg");
}
wr_status wr_vff_writer_finish(wr_video_writer *w)
{
    (void)w;
    return wr_fail(WR_E_UNSUPPORTED, "built without FFmpeg");
}
void wr_vff_writer_abort(wr_video_writer *w) { (void)w; }

#endif
