/* libpng wrappers (see png_io.h). libpng reports errors by longjmp; every libpng call sits
 * between setjmp and the cleanup so a corrupt file becomes a wr_status, never a crash. */
#include "media/png_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/io/atomic_file.h"

#ifdef WR_HAVE_PNG
#include <png.h>

static void png_error_to_slot(png_structp png, png_const_charp msg)
{
    char *slot = png_get_error_ptr(png);
    snprintf(slot, 256, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warning_ignore(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

wr_status wr_png_write_rgb(const char *path, int width, int height, const uint8_t *rgb)
{
    char tmp[4096];
    WR_TRY(wr_atomic_tmp_name(path, tmp, sizeof tmp));
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return wr_fail(WR_E_IO, "%s: cannot create: %s", path, strerror(errno));
    char err[256] = "";
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, err, png_error_to_slot,
                                              png_warning_ignore);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        wr_atomic_abandon(tmp);
        return wr_fail(WR_E_OOM, "%s: out of memory in libpng", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        wr_atomic_abandon(tmp);
        return wr_fail(WR_E_IO, "%s: PNG write failed: %s", path, err);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, rgb + (size_t)y * (size_t)width * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0) {
        wr_atomic_abandon(tmp);
        return wr_fail(WR_E_IO, "%s: write failed: %s", path, strerror(errno));
    }
    return wr_atomic_commit(tmp, path);
}

wr_status wr_png_read_rgb(const char *path, int *width, int *height, uint8_t **rgb)
{
    *rgb = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return wr_fail(WR_E_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8) != 0) {
        fclose(f);
        return wr_fail(WR_E_FORMAT, "%s: not a PNG file", path);
    }
    char err[256] = "";
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, err, png_error_to_slot,
                                             png_warning_ignore);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        return wr_fail(WR_E_OOM, "%s: out of memory in libpng", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        free(pixels);
        free(rows);
        return wr_fail(WR_E_FORMAT, "%s: corrupt PNG: %s", path, err);
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_set_user_limits(png, 32768, 32768);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16)
        png_set_strip_16(png);
    if (color & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3)
        png_error(png, "unexpected row layout after conversion to RGB");
    pixels = malloc((size_t)w * h * 3);
    rows = pixels ? malloc(h * sizeof *rows) : NULL;
    if (!rows) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        free(pixels);
        return wr_fail(WR_E_OOM, "%s: out of memory for a %ux%u image", path, (unsigned)w, (unsigned)h);
    }
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = pixels + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    rows = NULL;
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    *width = (int)w;
    *height = (int)h;
    *rgb = pixels;
    return WR_OK;
}

#else

wr_status wr_png_write_rgb(const char *path, int width, int height, const uint8_t *rgb)
{
    (void)width, (void)height, (void)rgb;
    return wr_fail(WR_E_UNSUPPORTED, "%s: built without libpng (install libpng-dev, rebuild)", path);
}

wr_status wr_png_read_rgb(const char *path, int *width, int *height, uint8_t **rgb)
{
    (void)width, (void)height, (void)rgb;
    return wr_fail(WR_E_UNSUPPORTED, "%s: built without libpng (install libpng-dev, rebuild)", path);
}

#endif
