/* See color_fix.h. */
#include "upscale/color_fix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"lab", "wavelet", "adain", "none"};
_Static_assert(sizeof names / sizeof names[0] == UPSCALE_COLOR_COUNT, "a name per method");

bool upscale_color_parse(const char *name, upscale_color *out)
{
    for (int i = 0; i < UPSCALE_COLOR_COUNT; i++)
        if (!strcmp(name, names[i])) {
            *out = (upscale_color)i;
            return true;
        }
    return false;
}

const char *upscale_color_name(upscale_color c) { return (unsigned)c < UPSCALE_COLOR_COUNT ? names[c] : "?"; }

/* 3x3 [1 2 1]ᵀ[1 2 1]/16 with dilation r, replicate padding. */
static void blur(const float *x, int h, int w, int r, float *out)
{
    static const float k[3] = {0.25f, 0.5f, 0.25f};
    for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++) {
            float acc = 0;
            for (int dy = -1; dy <= 1; dy++) {
                int sy = y + dy * r;
                sy = sy < 0 ? 0 : sy >= h ? h - 1 : sy;
                for (int dx = -1; dx <= 1; dx++) {
                    int sx = xx + dx * r;
                    sx = sx < 0 ? 0 : sx >= w ? w - 1 : sx;
                    acc += k[dy + 1] * k[dx + 1] * x[(size_t)sy * w + sx];
                }
            }
            out[(size_t)y * w + xx] = acc;
        }
}

wr_status upscale_wavelet_split(const float *x, int h, int w, float *high, float *low)
{
    size_t n = (size_t)h * w;
    float *cur = malloc(n * sizeof *cur);
    if (!cur)
        return wr_fail(WR_E_OOM, "colour fix: out of memory");
    memcpy(cur, x, n * sizeof *cur);
    memset(high, 0, n * sizeof *high);
    int cap = (h < w ? h : w) / 8;
    cap = cap < 1 ? 1 : cap; /* numz caps the dilation for small frames */
    for (int i = 0; i < 5; i++) {
        int r = 1 << i;
        blur(cur, h, w, r < cap ? r : cap, low);
        for (size_t j = 0; j < n; j++)
            high[j] += cur[j] - low[j];
        memcpy(cur, low, n * sizeof *cur);
    }
    free(cur);
    return WR_OK;
}

static float clamp1(float x) { return x < -1 ? -1 : x > 1 ? 1 : x; }

static wr_status wavelet(float *content, const float *style, int planes, int h, int w)
{
    size_t n = (size_t)h * w;
    float *hc = malloc(n * sizeof *hc), *lc = malloc(n * sizeof *lc), *hs = malloc(n * sizeof *hs),
          *ls = malloc(n * sizeof *ls);
    wr_status st = hc && lc && hs && ls ? WR_OK : wr_fail(WR_E_OOM, "colour fix: out of memory");
    for (int p = 0; st == WR_OK && p < planes; p++) {
        st = upscale_wavelet_split(content + (size_t)p * n, h, w, hc, lc);
        if (st == WR_OK)
            st = upscale_wavelet_split(style + (size_t)p * n, h, w, hs, ls);
        for (size_t j = 0; st == WR_OK && j < n; j++)
            content[(size_t)p * n + j] = clamp1(hc[j] + ls[j]);
    }
    free(hc), free(lc), free(hs), free(ls);
    return st;
}

static void adain(float *content, const float *style, int planes, int h, int w)
{
    size_t n = (size_t)h * w;
    for (int p = 0; p < planes; p++) {
        double stat[2][2] = {{0}}; /* [content|style][mean|var] */
        for (int which = 0; which < 2; which++) {
            const float *x = (which ? style : content) + (size_t)p * n;
            double s = 0, s2 = 0;
            for (size_t j = 0; j < n; j++)
                s += (double)x[j];
            double mean = s / (double)n;
            for (size_t j = 0; j < n; j++)
                s2 += ((double)x[j] - mean) * ((double)x[j] - mean);
            stat[which][0] = mean;
            stat[which][1] = sqrt((n > 1 ? s2 / (double)(n - 1) : 0) + 1e-5);
        }
        float *x = content + (size_t)p * n;
        for (size_t j = 0; j < n; j++)
            x[j] = (float)(((double)x[j] - stat[0][0]) / stat[0][1] * stat[1][1] + stat[1][0]);
    }
}

static float srgb_to_linear(float x) { return x <= 0.04045f ? x / 12.92f : powf((x + 0.055f) / 1.055f, 2.4f); }
static float linear_to_srgb(float x)
{
    return x > 0.0031308f ? 1.055f * powf(x > 0 ? x : 0, 1.0f / 2.4f) - 0.055f : 12.92f * x;
}
static float lab_f(float t)
{
    const float d3 = (6.0f / 29) * (6.0f / 29) * (6.0f / 29);
    return t > d3 ? cbrtf(t) : (t * (29.0f / 3) * (29.0f / 3) * (29.0f / 3) + 16) / 116;
}
static float lab_finv(float f)
{
    return f > 6.0f / 29 ? f * f * f : (116 * f - 16) / ((29.0f / 3) * (29.0f / 3) * (29.0f / 3));
}

void upscale_rgb_to_lab(const float rgb[3], float lab[3])
{
    float l[3];
    for (int c = 0; c < 3; c++)
        l[c] = srgb_to_linear(rgb[c]);
    float x = 0.4124564f * l[0] + 0.3575761f * l[1] + 0.1804375f * l[2];
    float y = 0.2126729f * l[0] + 0.7151522f * l[1] + 0.0721750f * l[2];
    float z = 0.0193339f * l[0] + 0.1191920f * l[1] + 0.9503041f * l[2];
    float fx = lab_f(x / 0.95047f), fy = lab_f(y), fz = lab_f(z / 1.08883f);
    lab[0] = 116 * fy - 16;
    lab[1] = 500 * (fx - fy);
    lab[2] = 200 * (fy - fz);
}

void upscale_lab_to_rgb(const float lab[3], float rgb[3])
{
    float fy = (lab[0] + 16) / 116, fx = fy + lab[1] / 500, fz = fy - lab[2] / 200;
    float x = lab_finv(fx) * 0.95047f, y = lab_finv(fy), z = lab_finv(fz) * 1.08883f;
    float l[3] = {3.2404542f * x - 1.5371385f * y - 0.4985314f * z, -0.9692660f * x + 1.8760108f * y + 0.0415560f * z,
                  0.0556434f * x - 0.2040259f * y + 1.0572252f * z};
    for (int c = 0; c < 3; c++) {
        float v = linear_to_srgb(l[c]);
        rgb[c] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}

typedef struct ranked {
    float v;
    size_t i;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    return x->v < y->v ? -1 : x->v > y->v ? 1 : (x->i > y->i) - (x->i < y->i);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Histogram matching of n values (equal counts: the i-th smallest takes the i-th smallest
 * reference value) into out. */
static wr_status match(const float *src, const float *ref, size_t n, float *out)
{
    ranked *r = malloc(n * sizeof *r);
    float *sorted = malloc(n * sizeof *sorted);
    if (!r || !sorted) {
        free(r), free(sorted);
        return wr_fail(WR_E_OOM, "colour fix: out of memory");
    }
    for (size_t i = 0; i < n; i++)
        r[i] = (ranked){src[i], i}, sorted[i] = ref[i];
    qsort(r, n, sizeof *r, cmp_ranked);
    qsort(sorted, n, sizeof *sorted, cmp_float);
    for (size_t k = 0; k < n; k++)
        out[r[k].i] = sorted[k];
    free(r), free(sorted);
    return WR_OK;
}

static wr_status lab(float *content, const float *style, int t, int h, int w)
{
    WR_TRY(wavelet(content, style, 3 * t, h, w));
    size_t n = (size_t)t * h * w;
    float *lc = malloc(3 * n * sizeof *lc), *ls = malloc(3 * n * sizeof *ls), *m = malloc(n * sizeof *m);
    wr_status st = lc && ls && m ? WR_OK : wr_fail(WR_E_OOM, "colour fix: out of memory");
    for (size_t j = 0; st == WR_OK && j < n; j++) { /* [−1, 1] -> [0, 1] -> Lab, planar */
        float a[3], b[3], la[3], lb[3];
        for (int c = 0; c < 3; c++) {
            a[c] = fminf(fmaxf((content[(size_t)c * n + j] + 1) / 2, 0), 1);
            b[c] = fminf(fmaxf((style[(size_t)c * n + j] + 1) / 2, 0), 1);
        }
        upscale_rgb_to_lab(a, la);
        upscale_rgb_to_lab(b, lb);
        for (int c = 0; c < 3; c++)
            lc[(size_t)c * n + j] = la[c], ls[(size_t)c * n + j] = lb[c];
    }
    for (int c = 0; st == WR_OK && c < 3; c++) {
        st = match(lc + (size_t)c * n, ls + (size_t)c * n, n, m);
        for (size_t j = 0; st == WR_OK && j < n; j++)
            lc[(size_t)c * n + j] = c == 0 ? 0.8f * lc[j] + 0.2f * m[j] : m[j];
    }
    for (size_t j = 0; st == WR_OK && j < n; j++) {
        float la[3] = {lc[j], lc[n + j], lc[2 * n + j]}, rgb[3];
        upscale_lab_to_rgb(la, rgb);
        for (int c = 0; c < 3; c++)
            content[(size_t)c * n + j] = rgb[c] * 2 - 1;
    }
    free(lc), free(ls), free(m);
    return st;
}

wr_status upscale_color_fix(upscale_color method, float *content, const float *style, int t, int h, int w)
{
    switch (method) {
    case UPSCALE_COLOR_LAB:
        return lab(content, style, t, h, w);
    case UPSCALE_COLOR_WAVELET:
        return wavelet(content, style, 3 * t, h, w);
    case UPSCALE_COLOR_ADAIN:
        adain(content, style, 3 * t, h, w);
        return WR_OK;
    case UPSCALE_COLOR_NONE:
        return WR_OK;
    default:
        return wr_fail(WR_E_ARG, "unknown colour correction %d", (int)method);
    }
}
