/* Encoding and decoding video files with libavformat/libavcodec/libswscale (see video.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "runtime/io/atomic_file.h"
#include "media/video.h"
#include "media/video_internal.h"
#include "runtime/log.h"

static int is_dir_path(const char *path)
{
    size_t n = strlen(path);
    struct stat st;
    return (n > 0 && path[n - 1] == '/') || (stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

static const char *extension(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    return dot ? dot : "";
}

#ifdef WR_HAVE_FFMPEG
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

typedef struct out_format {
    const char *ext;
    const char *muxer;
    const char *encoder;
} out_format;

static const out_format out_formats[] = {
    {".mp4", "mp4", "libx264"},
    {".mov", "mov", "libx264"},
    {".mkv", "matroska", "ffv1"},
    {".y4m", "yuv4mpegpipe", "wrapped_avframe"},
};

/* FFmpeg's own log lines duplicate our error messages; show them only with WANRT_LOG=debug. */
static void quiet_ffmpeg(void)
{
    av_log_set_level(wr_log_get_level() >= WR_LOG_DEBUG ? AV_LOG_INFO : AV_LOG_QUIET);
}

static wr_status av_fail(wr_status st, const char *path, const char *what, int err)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = "";
    av_strerror(err, buf, sizeof buf);
    return wr_fail(st, "%s: %s: %s", path, what, buf);
}

static enum AVPixelFormat pick_pix_fmt(const out_format *of, const wr_frames *v)
{
    if (strcmp(of->encoder, "ffv1") == 0)
        return AV_PIX_FMT_BGR0; /* FFV1 codes 8-bit RGB losslessly through its RCT */
    if (strcmp(of->encoder, "wrapped_avframe") == 0)
        return AV_PIX_FMT_YUV444P;
    return (v->width % 2 || v->height % 2) ? AV_PIX_FMT_YUV444P : AV_PIX_FMT_YUV420P;
}

static wr_status encode_frame(AVCodecContext *enc, AVFormatContext *oc, AVStream *vs, AVFrame *fr,
                              AVPacket *pkt, const char *path)
{
    int r = avcodec_send_frame(enc, fr);
    if (r < 0)
        return av_fail(WR_E_IO, path, "encoding failed", r);
    for (;;) {
        r = avcodec_receive_packet(enc, pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            return WR_OK;
        if (r < 0)
            return av_fail(WR_E_IO, path, "encoding failed", r);
        av_packet_rescale_ts(pkt, enc->time_base, vs->time_base);
        pkt->stream_index = vs->index;
        r = av_interleaved_write_frame(oc, pkt);
        if (r < 0)
            return av_fail(WR_E_IO, path, "writing a packet failed", r);
    }
}

static wr_status write_file(const char *path, const char *tmp, const out_format *of,
                            const wr_frames *v, const wr_video_opts *opts)
{
    wr_status st = WR_OK;
    AVFormatContext *oc = NULL;
    AVCodecContext *enc = NULL;
    AVFrame *fr = NULL;
    AVPacket *pkt = NULL;
    struct SwsContext *sws = NULL;
    int r;
    const AVCodec *codec = avcodec_find_encoder_by_name(of->encoder);
    if (!codec)
        return wr_fail(WR_E_UNSUPPORTED, "%s: this FFmpeg has no %s encoder", path, of->encoder);
    r = avformat_alloc_output_context2(&oc, NULL, of->muxer, tmp);
    if (r < 0 || !oc)
        return av_fail(WR_E_UNSUPPORTED, path, "cannot set up the container", r);
    AVStream *vs = avformat_new_stream(oc, NULL);
    enc = avcodec_alloc_context3(codec);
    fr = av_frame_alloc();
    pkt = av_packet_alloc();
    if (!vs || !enc || !fr || !pkt) {
        st = wr_fail(WR_E_OOM, "%s: out of memory in FFmpeg", path);
        goto fail;
    }
    AVRational rate = av_d2q(v->fps > 0 ? v->fps : 16.0, 100000);
    enc->width = v->width;
    enc->height = v->height;
    enc->pix_fmt = pick_pix_fmt(of, v);
    enc->time_base = av_inv_q(rate);
    enc->framerate = rate;
    enc->gop_size = 16;
    if (oc->oformat->flags & AVFMT_GLOBALHEADER)
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (strcmp(of->encoder, "libx264") == 0) {
        char crf[16];
        snprintf(crf, sizeof crf, "%d", opts && opts->crf >= 0 ? opts->crf : 19);
        av_opt_set(enc->priv_data, "crf", crf, 0);
        av_opt_set(enc->priv_data, "preset", "medium", 0);
    }
    r = avcodec_open2(enc, codec, NULL);
    if (r < 0) {
        st = av_fail(WR_E_IO, path, "cannot open the encoder", r);
        goto fail;
    }
    r = avcodec_parameters_from_context(vs->codecpar, enc);
    if (r < 0) {
        st = av_fail(WR_E_IO, path, "codec parameters", r);
        goto fail;
    }
    vs->time_base = enc->time_base;
    vs->avg_frame_rate = rate;
    r = avio_open(&oc->pb, tmp, AVIO_FLAG_WRITE);
    if (r < 0) {
        st = av_fail(WR_E_IO, path, "cannot create the file", r);
        goto fail;
    }
    r = avformat_write_header(oc, NULL);
    if (r < 0) {
        st = av_fail(WR_E_IO, path, "cannot write the header", r);
        goto fail;
    }
    fr->format = enc->pix_fmt;
    fr->width = v->width;
    fr->height = v->height;
    r = av_frame_get_buffer(fr, 0);
    sws = sws_getContext(v->width, v->height, AV_PIX_FMT_RGB24, v->width, v->height, enc->pix_fmt,
                         SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (r < 0 || !sws) {
        st = wr_fail(WR_E_OOM, "%s: cannot set up the colour conversion", path);
        goto fail;
    }
    for (int f = 0; f < v->count; f++) {
        r = av_frame_make_writable(fr);
        if (r < 0) {
            st = av_fail(WR_E_OOM, path, "frame buffer", r);
            goto fail;
        }
        const uint8_t *src[1] = {wr_frames_at(v, f)};
        int stride[1] = {v->width * 3};
        sws_scale(sws, src, stride, 0, v->height, fr->data, fr->linesize);
        fr->pts = f;
        WR_TRY_GOTO(encode_frame(enc, oc, vs, fr, pkt, path));
    }
    WR_TRY_GOTO(encode_frame(enc, oc, vs, NULL, pkt, path));
    r = av_write_trailer(oc);
    if (r < 0)
        st = av_fail(WR_E_IO, path, "cannot finish the file", r);
fail:
    sws_freeContext(sws);
    av_packet_free(&pkt);
    av_frame_free(&fr);
    avcodec_free_context(&enc);
    if (oc && oc->pb)
        avio_closep(&oc->pb);
    avformat_free_context(oc);
    return st;
}

wr_status wr_video_write(const char *path, const wr_frames *v, const wr_video_opts *opts)
{
    if (is_dir_path(path))
        return wr_video_write_pngdir(path, v);
    const char *ext = extension(path);
    const out_format *of = NULL;
    for (size_t i = 0; i < sizeof out_formats / sizeof out_formats[0]; i++)
        if (strcasecmp(ext, out_formats[i].ext) == 0)
            of = &out_formats[i];
    if (!of)
        return wr_fail(WR_E_ARG,
                       "%s: unknown output type '%s' (use .mp4, .mov, .mkv, .y4m or a directory/)",
                       path, ext);
    char tmp[4096];
    WR_TRY(wr_atomic_tmp_name(path, tmp, sizeof tmp));
    quiet_ffmpeg();
    wr_status st = write_file(path, tmp, of, v, opts);
    if (st != WR_OK) {
        wr_atomic_abandon(tmp);
        return st;
    }
    return wr_atomic_commit(tmp, path);
}

/* Appends one decoded frame, growing the clip geometrically. */
static wr_status append_frame(wr_frames *out, int *cap, const AVFrame *fr, struct SwsContext **sws,
                              const char *path)
{
    if (out->count == *cap) {
        int want = *cap ? *cap * 2 : 32;
        size_t bytes = (size_t)want * (size_t)out->width * (size_t)out->height * 3;
        uint8_t *p = realloc(out->rgb, bytes);
        if (!p)
            return wr_fail(WR_E_OOM, "%s: out of memory after %d frames", path, out->count);
        out->rgb = p;
        *cap = want;
    }
    *sws = sws_getCachedContext(*sws, fr->width, fr->height, fr->format, out->width, out->height,
                                AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
                                NULL, NULL, NULL);
    if (!*sws)
        return wr_fail(WR_E_UNSUPPORTED, "%s: cannot convert pixel format %d", path, fr->format);
    uint8_t *dst[1] = {wr_frames_at(out, out->count)};
    int stride[1] = {out->width * 3};
    sws_scale(*sws, (const uint8_t *const *)fr->data, fr->linesize, 0, fr->height, dst, stride);
    out->count++;
    return WR_OK;
}

static wr_status drain(AVCodecContext *dec, AVFrame *fr, wr_frames *out, int *cap,
                       struct SwsContext **sws, const char *path)
{
    for (;;) {
        int r = avcodec_receive_frame(dec, fr);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            return WR_OK;
        if (r < 0)
            return av_fail(WR_E_FORMAT, path, "decoding failed", r);
        if (fr->width != out->width || fr->height != out->height)
            return wr_fail(WR_E_FORMAT, "%s: frame size changes mid-stream", path);
        WR_TRY(append_frame(out, cap, fr, sws, path));
    }
}

static wr_status read_file(const char *path, wr_frames *out)
{
    wr_status st = WR_OK;
    AVFormatContext *ic = NULL;
    AVCodecContext *dec = NULL;
    AVFrame *fr = NULL;
    AVPacket *pkt = NULL;
    struct SwsContext *sws = NULL;
    int cap = 0;
    int r = avformat_open_input(&ic, path, NULL, NULL);
    if (r < 0)
        return av_fail(r == AVERROR(ENOENT) ? WR_E_IO : WR_E_FORMAT, path, "cannot open video", r);
    r = avformat_find_stream_info(ic, NULL);
    if (r < 0) {
        st = av_fail(WR_E_FORMAT, path, "cannot read stream info", r);
        goto fail;
    }
    const AVCodec *codec = NULL;
    int si = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (si < 0 || !codec) {
        st = wr_fail(WR_E_FORMAT, "%s: no decodable video stream", path);
        goto fail;
    }
    AVStream *vs = ic->streams[si];
    dec = avcodec_alloc_context3(codec);
    fr = av_frame_alloc();
    pkt = av_packet_alloc();
    if (!dec || !fr || !pkt) {
        st = wr_fail(WR_E_OOM, "%s: out of memory in FFmpeg", path);
        goto fail;
    }
    avcodec_parameters_to_context(dec, vs->codecpar);
    r = avcodec_open2(dec, codec, NULL);
    if (r < 0) {
        st = av_fail(WR_E_FORMAT, path, "cannot open the decoder", r);
        goto fail;
    }
    if (dec->width <= 0 || dec->height <= 0 || dec->width > 32768 || dec->height > 32768) {
        st = wr_fail(WR_E_FORMAT, "%s: invalid video size %dx%d", path, dec->width, dec->height);
        goto fail;
    }
    out->width = dec->width;
    out->height = dec->height;
    AVRational rate = vs->avg_frame_rate.num ? vs->avg_frame_rate : vs->r_frame_rate;
    out->fps = rate.den ? av_q2d(rate) : 0.0;
    while ((r = av_read_frame(ic, pkt)) >= 0) {
        if (pkt->stream_index == si) {
            r = avcodec_send_packet(dec, pkt);
            if (r < 0 && r != AVERROR(EAGAIN)) {
                av_packet_unref(pkt);
                st = av_fail(WR_E_FORMAT, path, "decoding failed", r);
                goto fail;
            }
            st = drain(dec, fr, out, &cap, &sws, path);
        }
        av_packet_unref(pkt);
        if (st != WR_OK)
            goto fail;
    }
    avcodec_send_packet(dec, NULL);
    WR_TRY_GOTO(drain(dec, fr, out, &cap, &sws, path));
    if (out->count == 0)
        st = wr_fail(WR_E_FORMAT, "%s: the video has no frames", path);
fail:
    sws_freeContext(sws);
    av_packet_free(&pkt);
    av_frame_free(&fr);
    avcodec_free_context(&dec);
    avformat_close_input(&ic);
    return st;
}

wr_status wr_video_read(const char *path, wr_frames *out)
{
    if (is_dir_path(path))
        return wr_video_read_pngdir(path, out);
    memset(out, 0, sizeof *out);
    quiet_ffmpeg();
    wr_status st = read_file(path, out);
    if (st != WR_OK)
        wr_frames_free(out);
    return st;
}

#else

wr_status wr_video_write(const char *path, const wr_frames *v, const wr_video_opts *opts)
{
    (void)opts;
    if (is_dir_path(path))
        return wr_video_write_pngdir(path, v);
    return wr_fail(WR_E_UNSUPPORTED, "%s: built without FFmpeg: write %s files needs libav* (or give a directory/)",
                   path, extension(path));
}

wr_status wr_video_read(const char *path, wr_frames *out)
{
    if (is_dir_path(path))
        return wr_video_read_pngdir(path, out);
    return wr_fail(WR_E_UNSUPPORTED, "%s: built without FFmpeg: cannot decode video files", path);
}

#endif
