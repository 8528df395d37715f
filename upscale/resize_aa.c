/* See resize_aa.h. */
#include "upscale/resize_aa.h"

#include <math.h>
#include <stdlib.h>

static double keys_cubic(double x) /* a = −0.5 */
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1)
        return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2)
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0;
}

/* Per output index: the first input index and `taps` normalised weights (rows of width span). */
typedef struct axis_weights {
    int span;
    int *first, *taps;
    float *w;
} axis_weights;

static void axis_free(axis_weights *a) { free(a->first), free(a->taps), free(a->w); }

static wr_status axis_make(axis_weights *a, int in, int out)
{
    double scale = (double)in / out, support = 2.0 * (scale > 1 ? scale : 1.0);
    double invscale = scale >= 1 ? 1.0 / scale : 1.0;
    a->span = (int)ceil(support) * 2 + 1;
    a->first = malloc((size_t)out * sizeof *a->first);
    a->taps = malloc((size_t)out * sizeof *a->taps);
    a->w = malloc((size_t)out * a->span * sizeof *a->w);
    if (!a->first || !a->taps || !a->w) {
        axis_free(a);
        return wr_fail(WR_E_OOM, "resize: out of memory");
    }
    for (int i = 0; i < out; i++) {
        double center = scale * (i + 0.5);
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        xmin = xmin < 0 ? 0 : xmin;
        xmax = xmax > in ? in : xmax;
        int n = xmax - xmin > a->span ? a->span : xmax - xmin;
        double sum = 0, w[64];
        for (int j = 0; j < n && j < 64; j++)
            sum += w[j] = keys_cubic((j + xmin - center + 0.5) * invscale);
        for (int j = 0; j < n && j < 64; j++)
            a->w[(size_t)i * a->span + j] = (float)(sum != 0 ? w[j] / sum : 0);
        a->first[i] = xmin;
        a->taps[i] = n;
    }
    return WR_OK;
}

void upscale_resize_target(int ih, int iw, int resolution, int *oh, int *ow)
{
    if (ih <= iw) {
        *oh = resolution;
        *ow = (int)((double)resolution * iw / ih);
    } else {
        *ow = resolution;
        *oh = (int)((double)resolution * ih / iw);
    }
}

wr_status upscale_resize_bicubic_aa(const float *src, int c, int ih, int iw, float *dst, int oh, int ow)
{
    if (ih < 1 || iw < 1 || oh < 1 || ow < 1 || (double)ih / oh > 15 || (double)iw / ow > 15)
        return wr_fail(WR_E_ARG, "resize %dx%d -> %dx%d: sizes must be positive and shrink at most 15x", iw, ih, ow,
                       oh);
    axis_weights ax = {0}, ay = {0};
    WR_TRY(axis_make(&ax, iw, ow));
    wr_status st = axis_make(&ay, ih, oh);
    float *rows = st == WR_OK ? malloc((size_t)ih * ow * sizeof *rows) : NULL;
    if (st == WR_OK && !rows)
        st = wr_fail(WR_E_OOM, "resize: out of memory");
    for (int ch = 0; st == WR_OK && ch < c; ch++) {
        const float *s = src + (size_t)ch * ih * iw;
        for (int y = 0; y < ih; y++)
            for (int x = 0; x < ow; x++) {
                const float *w = ax.w + (size_t)x * ax.span, *p = s + (size_t)y * iw + ax.first[x];
                double acc = 0;
                for (int j = 0; j < ax.taps[x]; j++)
                    acc += (double)w[j] * (double)p[j];
                rows[(size_t)y * ow + x] = (float)acc;
            }
        float *d = dst + (size_t)ch * oh * ow;
        for (int y = 0; y < oh; y++) {
            const float *w = ay.w + (size_t)y * ay.span;
            for (int x = 0; x < ow; x++) {
                double acc = 0;
                for (int j = 0; j < ay.taps[y]; j++)
                    acc += (double)w[j] * (double)rows[(size_t)(ay.first[y] + j) * ow + x];
                d[(size_t)y * ow + x] = (float)acc;
            }
        }
    }
    free(rows);
    axis_free(&ax), axis_free(&ay);
    return st;
}
