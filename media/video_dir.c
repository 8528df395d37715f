/* PNG frame directories as streams (see video_stream.h): sorted *.png in, frame_NNNNN.png out. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "media/png_io.h"
#include "media/video_internal.h"

typedef struct dir_reader {
    char dir[4096];
    char **names;
    int n, next;
    uint8_t *first; /* frame 0, decoded at open to learn the size */
} dir_reader;

typedef struct dir_writer {
    char dir[4096];
    int created; /* the directory did not exist before: abort removes it */
} dir_writer;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_png_name(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && name[0] != '.' && strcasecmp(name + n - 4, ".png") == 0;
}

static wr_status list_frames(dir_reader *d)
{
    DIR *dp = opendir(d->dir);
    if (!dp)
        return wr_fail(WR_E_IO, "%s: cannot open directory: %s", d->dir, strerror(errno));
    int cap = 0;
    wr_status st = WR_OK;
    struct dirent *e;
    while (st == WR_OK && (e = readdir(dp))) {
        if (!is_png_name(e->d_name))
            continue;
        if (d->n == cap) {
            cap = cap ? cap * 2 : 64;
            char **p = realloc(d->names, (size_t)cap * sizeof *p);
            if (!p) {
                st = wr_fail(WR_E_OOM, "%s: out of memory listing frames", d->dir);
                break;
            }
            d->names = p;
        }
        if (!(d->names[d->n] = strdup(e->d_name)))
            st = wr_fail(WR_E_OOM, "%s: out of memory listing frames", d->dir);
        else
            d->n++;
    }
    closedir(dp);
    if (st == WR_OK && d->n == 0)
        st = wr_fail(WR_E_FORMAT, "%s: no .png frames in the directory", d->dir);
    if (st == WR_OK)
        qsort(d->names, (size_t)d->n, sizeof *d->names, cmp_names);
    return st;
}

void wr_vdir_reader_close(wr_video_reader *r)
{
    dir_reader *d = r->impl;
    if (!d)
        return;
    for (int i = 0; i < d->n; i++)
        free(d->names[i]);
    free(d->names);
    free(d->first);
    free(d);
    r->impl = NULL;
}

wr_status wr_vdir_reader_open(wr_video_reader *r, const char *dir)
{
    dir_reader *d = calloc(1, sizeof *d);
    if (!d)
        return wr_fail(WR_E_OOM, "out of memory");
    r->impl = d;
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    wr_status st = list_frames(d);
    char path[8192];
    if (st == WR_OK) {
        snprintf(path, sizeof path, "%s/%s", d->dir, d->names[0]);
        st = wr_png_read_rgb(path, &r->info.width, &r->info.height, &d->first);
    }
    r->info.count = d->n;
    r->info.fps = 0;
    if (st != WR_OK)
        wr_vdir_reader_close(r);
    return st;
}

wr_status wr_vdir_reader_next(wr_video_reader *r, uint8_t *rgb, bool *got)
{
    dir_reader *d = r->impl;
    *got = false;
    if (d->next == d->n)
        return WR_OK;
    size_t bytes = (size_t)r->info.width * r->info.height * 3;
    if (d->next == 0) {
        memcpy(rgb, d->first, bytes);
    } else {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", d->dir, d->names[d->next]);
        int w, h;
        uint8_t *px;
        WR_TRY(wr_png_read_rgb(path, &w, &h, &px));
        if (w != r->info.width || h != r->info.height) {
            free(px);
            return wr_fail(WR_E_FORMAT, "%s: frame is %dx%d but the first frame is %dx%d", path, w, h,
                           r->info.width, r->info.height);
        }
        memcpy(rgb, px, bytes);
        free(px);
    }
    d->next++;
    *got = true;
    return WR_OK;
}

wr_status wr_vdir_writer_open(wr_video_writer *w, const char *dir)
{
    dir_writer *d = calloc(1, sizeof *d);
    if (!d)
        return wr_fail(WR_E_OOM, "out of memory");
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    size_t n = strlen(d->dir);
    while (n > 1 && d->dir[n - 1] == '/')
        d->dir[--n] = '\0';
    if (mkdir(d->dir, 0777) == 0)
        d->created = 1;
    else if (errno != EEXIST) {
        wr_status st = wr_fail(WR_E_IO, "%s: cannot create the frame directory: %s", dir, strerror(errno));
        free(d);
        return st;
    }
    w->impl = d;
    return WR_OK;
}

wr_status wr_vdir_writer_put(wr_video_writer *w, const uint8_t *rgb)
{
    dir_writer *d = w->impl;
    char path[8192];
    snprintf(path, sizeof path, "%s/frame_%05d.png", d->dir, w->frames);
    return wr_png_write_rgb(path, w->width, w->height, rgb);
}

wr_status wr_vdir_writer_finish(wr_video_writer *w)
{
    free(w->impl);
    w->impl = NULL;
    return WR_OK;
}

void wr_vdir_writer_abort(wr_video_writer *w)
{
    dir_writer *d = w->impl;
    char path[8192];
    for (int f = 0; f < w->frames; f++) {
        snprintf(path, sizeof path, "%s/frame_%05d.png", d->dir, f);
        unlink(path);
    }
    if (d->created)
        rmdir(d->dir);
    free(d);
    w->impl = NULL;
}
