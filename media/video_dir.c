/* PNG frame directories: numbered frames out, sorted *.png in (see video.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "media/png_io.h"
#include "media/video_internal.h"

wr_status wr_video_write_pngdir(const char *dir, const wr_frames *v)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return wr_fail(WR_E_IO, "%s: cannot create the frame directory: %s", dir, strerror(errno));
    char path[4096];
    for (int f = 0; f < v->count; f++) {
        int n = snprintf(path, sizeof path, "%s/frame_%05d.png", dir, f);
        if (n < 0 || (size_t)n >= sizeof path)
            return wr_fail(WR_E_ARG, "%s: path too long", dir);
        WR_TRY(wr_png_write_rgb(path, v->width, v->height, wr_frames_at(v, f)));
    }
    return WR_OK;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_png_name(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && name[0] != '.' && strcasecmp(name + n - 4, ".png") == 0;
}

wr_status wr_video_read_pngdir(const char *dir, wr_frames *out)
{
    wr_status st = WR_OK;
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d)
        return wr_fail(WR_E_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_png_name(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **p = realloc(names, (size_t)cap * sizeof *names);
            if (!p) {
                st = wr_fail(WR_E_OOM, "%s: out of memory listing frames", dir);
                goto fail;
            }
            names = p;
        }
        names[n] = strdup(e->d_name);
        if (!names[n]) {
            st = wr_fail(WR_E_OOM, "%s: out of memory listing frames", dir);
            goto fail;
        }
        n++;
    }
    if (n == 0) {
        st = wr_fail(WR_E_FORMAT, "%s: no .png frames in the directory", dir);
        goto fail;
    }
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    char path[4096];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int w, h;
        uint8_t *rgb;
        WR_TRY_GOTO(wr_png_read_rgb(path, &w, &h, &rgb));
        if (i == 0)
            st = wr_frames_alloc(out, w, h, n, 0.0);
        else if (w != out->width || h != out->height)
            st = wr_fail(WR_E_FORMAT, "%s: frame is %dx%d but the first frame is %dx%d", path, w, h,
                         out->width, out->height);
        if (st == WR_OK)
            memcpy(wr_frames_at(out, i), rgb, (size_t)w * (size_t)h * 3);
        free(rgb);
        if (st != WR_OK)
            goto fail;
    }
fail:
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    if (st != WR_OK)
        wr_frames_free(out);
    return st;
}
