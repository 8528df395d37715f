/* See frame_source.h. */
#include "upscale/frame_source.h"

#include <stdlib.h>
#include <string.h>

int upscale_prepend_source(int k, int t, int i)
{
    if (k < t)
        return k - i;
    int reps = k - t + 1;
    return i < reps ? t - 1 : t - 1 - (i - reps);
}

wr_status upscale_source_open(upscale_source *s, wr_video_reader *r, int prepend)
{
    memset(s, 0, sizeof *s);
    s->r = r;
    s->prepend = prepend > 0 ? prepend : 0;
    const wr_video_info *in = wr_video_reader_info(r);
    s->fbytes = (size_t)in->width * in->height * 3;
    if (s->prepend == 0)
        return WR_OK;
    s->prefix = calloc((size_t)s->prepend + 1, sizeof *s->prefix);
    if (!s->prefix)
        return wr_fail(WR_E_OOM, "out of memory");
    for (int i = 0; i <= s->prepend; i++) {
        if (!(s->prefix[i] = malloc(s->fbytes)))
            return wr_fail(WR_E_OOM, "out of memory for %d prepended frames", s->prepend);
        bool got;
        WR_TRY(wr_video_reader_next(r, s->prefix[i], &got));
        if (!got) {
            free(s->prefix[i]);
            s->prefix[i] = NULL;
            s->t = i; /* the whole clip is in the prefix */
            break;
        }
        s->n_prefix++;
    }
    if (s->n_prefix == 0)
        s->prepend = 0; /* an empty clip: nothing to mirror */
    return WR_OK;
}

wr_status upscale_source_next(upscale_source *s, uint8_t *rgb, bool *got)
{
    int i = s->pos;
    if (i < s->prepend) {
        int t = s->t ? s->t : s->prepend + 1; /* a longer clip: only frames 0 .. prepend matter */
        memcpy(rgb, s->prefix[upscale_prepend_source(s->prepend, t, i)], s->fbytes);
        s->pos++;
        *got = true;
        return WR_OK;
    }
    if (i - s->prepend < s->n_prefix) {
        memcpy(rgb, s->prefix[i - s->prepend], s->fbytes);
        s->pos++;
        *got = true;
        return WR_OK;
    }
    WR_TRY(wr_video_reader_next(s->r, rgb, got));
    s->pos += *got;
    return WR_OK;
}

void upscale_source_close(upscale_source *s)
{
    for (int i = 0; s->prefix && i <= s->prepend; i++)
        free(s->prefix[i]);
    free(s->prefix);
    memset(s, 0, sizeof *s);
}
