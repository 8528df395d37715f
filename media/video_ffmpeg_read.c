/* Decoding video files frame by frame with libavformat/libavcodec/libswscale (video_stream.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/video_ffmpeg_common.h"
#include "media/video_internal.h"

#ifdef WR_HAVE_FFMPEG
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>

typedef struct ff_reader {
    char path[4096];
    AVFormatContext *ic;
    AVCodecContext *dec;
    AVFrame *fr;
    AVPacket *pkt;
    struct SwsContext *sws;
    int stream, flushing, done;
} ff_reader;

void wr_vff_reader_close(wr_video_reader *r)
{
    ff_reader *f = r->impl;
    if (!f)
        return;
    sws_freeContext(f->sws);
    av_packet_free(&f->pkt);
    av_frame_free(&f->fr);
    avcodec_free_context(&f->dec);
    avformat_close_input(&f->ic);
    free(f);
    r->impl = NULL;
}

static wr_status setup(ff_reader *f, wr_video_info *info)
{
    int r = avformat_open_input(&f->ic, f->path, NULL, NULL);
    if (r < 0)
        return wr_av_fail(r == AVERROR(ENOENT) ? WR_E_IO : WR_E_FORMAT, f->path, "cannot open video", r);
    if ((r = avformat_find_stream_info(f->ic, NULL)) < 0)
        return wr_av_fail(WR_E_FORMAT, f->path, "cannot read stream info", r);
    const AVCodec *codec = NULL;
    f->stream = av_find_best_stream(f->ic, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (f->stream < 0 || !codec)
        return wr_fail(WR_E_FORMAT, "%s: no decodable video stream", f->path);
    AVStream *vs = f->ic->streams[f->stream];
    f->dec = avcodec_alloc_context3(codec);
    f->fr = av_frame_alloc();
    f->pkt = av_packet_alloc();
    if (!f->dec || !f->fr || !f->pkt)
        return wr_fail(WR_E_OOM, "%s: out of memory in FFmpeg", f->path);
    avcodec_parameters_to_context(f->dec, vs->codecpar);
    if ((r = avcodec_open2(f->dec, codec, NULL)) < 0)
        return wr_av_fail(WR_E_FORMAT, f->path, "cannot open the decoder", r);
    if (f->dec->width <= 0 || f->dec->height <= 0 || f->dec->width > 32768 || f->dec->height > 32768)
        return wr_fail(WR_E_FORMAT, "%s: invalid video size %dx%d", f->path, f->dec->width, f->dec->height);
    info->width = f->dec->width;
    info->height = f->dec->height;
    AVRational rate = vs->avg_frame_rate.num ? vs->avg_frame_rate : vs->r_frame_rate;
    info->fps = rate.den ? av_q2d(rate) : 0.0;
    info->count = vs->nb_frames > 0 && vs->nb_frames < 0x7fffffff ? (int)vs->nb_frames : -1;
    return WR_OK;
}

wr_status wr_vff_reader_open(wr_video_reader *r, const char *path)
{
    ff_reader *f = calloc(1, sizeof *f);
    if (!f)
        return wr_fail(WR_E_OOM, "out of memory");
    snprintf(f->path, sizeof f->path, "%s", path);
    r->impl = f;
    wr_av_quiet();
    wr_status st = setup(f, &r->info);
    if (st != WR_OK)
        wr_vff_reader_close(r);
    return st;
}

static wr_status convert(ff_reader *f, const wr_video_info *info, uint8_t *rgb)
{
    if (f->fr->width != info->width || f->fr->height != info->height)
        return wr_fail(WR_E_FORMAT, "%s: frame size changes mid-stream", f->path);
    f->sws = sws_getCachedContext(f->sws, f->fr->width, f->fr->height, f->fr->format, info->width, info->height,
                                  AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL,
                                  NULL, NULL);
    if (!f->sws)
        return wr_fail(WR_E_UNSUPPORTED, "%s: cannot convert pixel format %d", f->path, f->fr->format);
    uint8_t *dst[1] = {rgb};
    int stride[1] = {info->width * 3};
    sws_scale(f->sws, (const uint8_t *const *)f->fr->data, f->fr->linesize, 0, f->fr->height, dst, stride);
    return WR_OK;
}

wr_status wr_vff_reader_next(wr_video_reader *r, uint8_t *rgb, bool *got)
{
    ff_reader *f = r->impl;
    *got = false;
    while (!f->done) {
        int e = avcodec_receive_frame(f->dec, f->fr);
        if (e == 0) {
            WR_TRY(convert(f, &r->info, rgb));
            *got = true;
            return WR_OK;
        }
        if (e == AVERROR_EOF) {
            f->done = 1;
            break;
        }
        if (e != AVERROR(EAGAIN))
            return wr_av_fail(WR_E_FORMAT, f->path, "decoding failed", e);
        if (f->flushing) { /* flushed and nothing more: the stream is over */
            f->done = 1;
            break;
        }
        e = av_read_frame(f->ic, f->pkt);
        if (e < 0) {
            avcodec_send_packet(f->dec, NULL);
            f->flushing = 1;
            continue;
        }
        if (f->pkt->stream_index == f->stream) {
            e = avcodec_send_packet(f->dec, f->pkt);
            if (e < 0 && e != AVERROR(EAGAIN)) {
                av_packet_unref(f->pkt);
                return wr_av_fail(WR_E_FORMAT, f->path, "decoding failed", e);
            }
        }
        av_packet_unref(f->pkt);
    }
    return WR_OK;
}

#else

wr_status wr_vff_reader_open(wr_video_reader *r, const char *path)
{
    (void)r;
    return wr_fail(WR_E_UNSUPPORTED, "%s: built without FFmpeg: cannot decode video files", path);
}
wr_status wr_vff_reader_next(wr_video_reader *r, uint8_t *rgb, bool *got)
{
    (void)r, (void)rgb;
    *got = false;
    return wr_fail(WR_E_UNSUPPORTED, "built without FFmpeg");
}
void wr_vff_reader_close(wr_video_reader *r) { (void)r; }

#endif
