/* Colour transfer (see color_match.h). sRGB <-> XYZ uses the IEC 61966-2-1 transfer function
 * and the D65 matrices; XYZ <-> Lab the CIE 1976 definition. */
#include "media/color_match.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const method_names[] = {"none", "lab", "histogram"};
_Static_assert(sizeof(method_names) / sizeof(method_names[0]) == WR_COLOR_MATCH_COUNT,
               "method_names must cover every method");

bool wr_color_match_parse(const char *name, wr_color_match *out)
{
    for (int i = 0; i < WR_COLOR_MATCH_COUNT; i++)
        if (strcmp(name, method_names[i]) == 0) {
            *out = (wr_color_match)i;
            return true;
        }
    return false;
}

static const double white_x = 0.95047, white_y = 1.0, white_z = 1.08883; /* D65 */

static double srgb_to_linear(double c)
{
    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static double linear_to_srgb(double c)
{
    return c <= 0.0031308 ? 12.92 * c : 1.055 * pow(c, 1.0 / 2.4) - 0.055;
}

static double lab_f(double t)
{
    const double d = 6.0 / 29.0;
    return t > d * d * d ? cbrt(t) : t / (3 * d * d) + 4.0 / 29.0;
}

static double lab_f_inv(double t)
{
    const double d = 6.0 / 29.0;
    return t > d ? t * t * t : 3 * d * d * (t - 4.0 / 29.0);
}

void wr_srgb_to_lab(const uint8_t rgb[3], float lab[3])
{
    double r = srgb_to_linear(rgb[0] / 255.0), g = srgb_to_linear(rgb[1] / 255.0),
           b = srgb_to_linear(rgb[2] / 255.0);
    double x = 0.4124564 * r + 0.3575761 * g + 0.1804375 * b;
    double y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
    double z = 0.0193339 * r + 0.1191920 * g + 0.9503041 * b;
    double fx = lab_f(x / white_x), fy = lab_f(y / white_y), fz = lab_f(z / white_z);
    lab[0] = (float)(116 * fy - 16);
    lab[1] = (float)(500 * (fx - fy));
    lab[2] = (float)(200 * (fy - fz));
}

static uint8_t to_byte(double v)
{
    v = v * 255.0 + 0.5;
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
}

void wr_lab_to_srgb(const float lab[3], uint8_t rgb[3])
{
    double fy = ((double)lab[0] + 16) / 116.0, fx = fy + (double)lab[1] / 500.0,
           fz = fy - (double)lab[2] / 200.0;
    double x = white_x * lab_f_inv(fx), y = white_y * lab_f_inv(fy), z = white_z * lab_f_inv(fz);
    double r = 3.2404542 * x - 1.5371385 * y - 0.4985314 * z;
    double g = -0.9692660 * x + 1.8760108 * y + 0.0415560 * z;
    double b = 0.0556434 * x - 0.2040259 * y + 1.0572252 * z;
    rgb[0] = to_byte(linear_to_srgb(r < 0 ? 0 : r > 1 ? 1 : r));
    rgb[1] = to_byte(linear_to_srgb(g < 0 ? 0 : g > 1 ? 1 : g));
    rgb[2] = to_byte(linear_to_srgb(b < 0 ? 0 : b > 1 ? 1 : b));
}

static void lab_stats(const uint8_t *rgb, size_t npix, double mean[3], double std[3])
{
    double s[3] = {0}, s2[3] = {0};
    for (size_t p = 0; p < npix; p++) {
        float lab[3];
        wr_srgb_to_lab(rgb + p * 3, lab);
        for (int c = 0; c < 3; c++) {
            s[c] += (double)lab[c];
            s2[c] += (double)lab[c] * (double)lab[c];
        }
    }
    for (int c = 0; c < 3; c++) {
        mean[c] = s[c] / (double)npix;
        double var = s2[c] / (double)npix - mean[c] * mean[c];
        std[c] = sqrt(var > 0 ? var : 0);
    }
}

static wr_status match_lab(wr_frames *clip, const uint8_t *ref, size_t ref_pix)
{
    double mr[3], sr[3], ms[3], ss[3];
    size_t npix = (size_t)clip->width * (size_t)clip->height;
    lab_stats(ref, ref_pix, mr, sr);
    lab_stats(clip->rgb, npix, ms, ss);
    double gain[3];
    for (int c = 0; c < 3; c++)
        gain[c] = ss[c] > 1e-6 ? sr[c] / ss[c] : 1.0; /* a flat channel keeps its spread */
    for (int f = 0; f < clip->count; f++) {
        uint8_t *px = wr_frames_at(clip, f);
        for (size_t p = 0; p < npix; p++) {
            float lab[3];
            wr_srgb_to_lab(px + p * 3, lab);
            for (int c = 0; c < 3; c++)
                lab[c] = (float)(((double)lab[c] - ms[c]) * gain[c] + mr[c]);
            wr_lab_to_srgb(lab, px + p * 3);
        }
    }
    return WR_OK;
}

static void cdf(const uint8_t *rgb, size_t npix, int c, double out[256])
{
    size_t hist[256] = {0};
    for (size_t p = 0; p < npix; p++)
        hist[rgb[p * 3 + (size_t)c]]++;
    size_t acc = 0;
    for (int i = 0; i < 256; i++) {
        acc += hist[i];
        out[i] = (double)acc / (double)npix;
    }
}

static wr_status match_histogram(wr_frames *clip, const uint8_t *ref, size_t ref_pix)
{
    size_t npix = (size_t)clip->width * (size_t)clip->height;
    uint8_t lut[3][256];
    for (int c = 0; c < 3; c++) {
        double cs[256], cr[256];
        cdf(clip->rgb, npix, c, cs);
        cdf(ref, ref_pix, c, cr);
        int j = 0;
        for (int i = 0; i < 256; i++) {
            while (j < 255 && cr[j] < cs[i])
                j++;
            lut[c][i] = (uint8_t)j;
        }
    }
    for (int f = 0; f < clip->count; f++) {
        uint8_t *px = wr_frames_at(clip, f);
        for (size_t p = 0; p < npix; p++)
            for (int c = 0; c < 3; c++)
                px[p * 3 + (size_t)c] = lut[c][px[p * 3 + (size_t)c]];
    }
    return WR_OK;
}

wr_status wr_color_match_apply(wr_frames *clip, const uint8_t *ref_rgb, int ref_w, int ref_h,
                               wr_color_match method)
{
    if (ref_w <= 0 || ref_h <= 0 || clip->count <= 0)
        return wr_fail(WR_E_ARG, "colour match: empty reference or clip");
    size_t ref_pix = (size_t)ref_w * (size_t)ref_h;
    switch (method) {
    case WR_COLOR_MATCH_NONE: return WR_OK;
    case WR_COLOR_MATCH_LAB_MEANSTD: return match_lab(clip, ref_rgb, ref_pix);
    case WR_COLOR_MATCH_HISTOGRAM: return match_histogram(clip, ref_rgb, ref_pix);
    default: return wr_fail(WR_E_ARG, "colour match: unknown method %d", (int)method);
    }
}
