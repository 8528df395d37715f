/* Image input (see image.h): PNG directly, the rest through the video decoder. */
#include "media/image.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "media/png_io.h"
#include "media/video.h"

wr_status wr_image_read(const char *path, wr_frames *out)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(path);
    if (n > 4 && strcasecmp(path + n - 4, ".png") == 0) {
        int w, h;
        uint8_t *rgb;
        WR_TRY(wr_png_read_rgb(path, &w, &h, &rgb));
        out->width = w;
        out->height = h;
        out->count = 1;
        out->rgb = rgb;
        return WR_OK;
    }
    wr_frames all;
    WR_TRY(wr_video_read(path, &all));
    if (all.count > 1) {
        /* keep only the first frame; shrinking cannot fail meaningfully, keep the big block if it does */
        size_t fb = (size_t)all.width * (size_t)all.height * 3;
        uint8_t *p = realloc(all.rgb, fb);
        if (p)
            all.rgb = p;
        all.count = 1;
    }
    *out = all;
    return WR_OK;
}
