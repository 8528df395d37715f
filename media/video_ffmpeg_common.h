/* Small pieces shared by the FFmpeg reader and writer. */
#ifndef WR_VIDEO_FFMPEG_COMMON_H
#define WR_VIDEO_FFMPEG_COMMON_H

#ifdef WR_HAVE_FFMPEG
#include <libavutil/error.h>

#include "runtime/err.h"
#include "runtime/log.h"
#include <libavutil/log.h>

/* FFmpeg's own log lines duplicate our error messages; show them only with WANRT_LOG=debug. */
static inline void wr_av_quiet(void)
{
    av_log_set_level(wr_log_get_level() >= WR_LOG_DEBUG ? AV_LOG_INFO : AV_LOG_QUIET);
}

static inline wr_status wr_av_fail(wr_status st, const char *path, const char *what, int err)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = "";
    av_strerror(err, buf, sizeof buf);
    return wr_fail(st, "%s: %s: %s", path, what, buf);
}
#endif

#endif
