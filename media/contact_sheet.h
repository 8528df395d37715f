/* A contact sheet: one PNG showing a grid of evenly spaced frames of a clip. */
#ifndef WR_CONTACT_SHEET_H
#define WR_CONTACT_SHEET_H

#include "media/frames.h"

/* Picks up to `cells` frames evenly spaced from first to last (both included), shrinks each
 * by an integer box filter so a cell is at most max_cell_width pixels wide, lays them out in
 * `columns` columns with a 2-pixel dark gutter, and writes the PNG atomically. */
wr_status wr_contact_sheet_write(const char *path, const wr_frames *v, int cells, int columns,
                                 int max_cell_width);

#endif
