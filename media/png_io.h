/* PNG images through libpng: 8-bit RGB in and out (any PNG colour type is read and converted). */
#ifndef WR_PNG_IO_H
#define WR_PNG_IO_H

#include <stdint.h>

#include "runtime/err.h"

/* Writes an 8-bit RGB image atomically (temp name, then rename). */
wr_status wr_png_write_rgb(const char *path, int width, int height, const uint8_t *rgb);

/* Reads any PNG as 8-bit RGB: palette and grey expanded, alpha dropped, 16-bit reduced.
 * *rgb is malloc'd (width*height*3 bytes); the caller frees it. */
wr_status wr_png_read_rgb(const char *path, int *width, int *height, uint8_t **rgb);

#endif
