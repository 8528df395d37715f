/* Contact sheet rendering (see contact_sheet.h). */
#include "media/contact_sheet.h"

#include <stdlib.h>
#include <string.h>

#include "media/png_io.h"

#define GUTTER 2
#define GUTTER_GREY 24

/* Box-filters frame f by `shrink` into the cell whose top-left pixel is `dst`. */
static void draw_cell(const wr_frames *v, int f, int shrink, uint8_t *dst, size_t sheet_stride)
{
    int cw = v->width / shrink, ch = v->height / shrink;
    const uint8_t *src = wr_frames_at(v, f);
    for (int y = 0; y < ch; y++)
        for (int x = 0; x < cw; x++)
            for (int c = 0; c < 3; c++) {
                unsigned sum = 0;
                for (int dy = 0; dy < shrink; dy++)
                    for (int dx = 0; dx < shrink; dx++)
                        sum += src[((size_t)(y * shrink + dy) * (size_t)v->width +
                                    (size_t)(x * shrink + dx)) * 3 + (size_t)c];
                dst[(size_t)y * sheet_stride + (size_t)x * 3 + (size_t)c] =
                    (uint8_t)((sum + (unsigned)(shrink * shrink) / 2) / (unsigned)(shrink * shrink));
            }
}

wr_status wr_contact_sheet_write(const char *path, const wr_frames *v, int cells, int columns,
                                 int max_cell_width)
{
    if (cells < 1 || columns < 1 || max_cell_width < 1 || v->count < 1)
        return wr_fail(WR_E_ARG, "%s: contact sheet needs cells, columns, cell width >= 1", path);
    if (cells > v->count)
        cells = v->count;
    if (columns > cells)
        columns = cells;
    int shrink = 1;
    while (v->width / shrink > max_cell_width && v->width / (shrink + 1) >= 1 && v->height / (shrink + 1) >= 1)
        shrink++;
    int cw = v->width / shrink, ch = v->height / shrink;
    int rows = (cells + columns - 1) / columns;
    int sw = columns * cw + (columns + 1) * GUTTER, sh = rows * ch + (rows + 1) * GUTTER;
    size_t stride = (size_t)sw * 3;
    uint8_t *sheet = malloc(stride * (size_t)sh);
    if (!sheet)
        return wr_fail(WR_E_OOM, "%s: out of memory for a %dx%d contact sheet", path, sw, sh);
    memset(sheet, GUTTER_GREY, stride * (size_t)sh);
    for (int i = 0; i < cells; i++) {
        int f = cells == 1 ? v->count - 1 : (int)((long long)i * (v->count - 1) / (cells - 1));
        int col = i % columns, row = i / columns;
        uint8_t *dst = sheet + (size_t)(GUTTER + row * (ch + GUTTER)) * stride +
                       (size_t)(GUTTER + col * (cw + GUTTER)) * 3;
        draw_cell(v, f, shrink, dst, stride);
    }
    wr_status st = wr_png_write_rgb(path, sw, sh, sheet);
    free(sheet);
    return st;
}
