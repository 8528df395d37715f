/* wanrt interpolate: RIFE frame interpolation of a video or frame folder, or a golden case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "media/video.h"
#include "rife/rife.h"
#include "runtime/io/safetensors_write.h"
#include "runtime/quant.h"

static const char usage[] =
    "usage: wanrt interpolate IN -o OUT --model rife47.pth [--multiplier 2] [--scale 1.0] [--ensemble] [--fps-out N]\n"
    "       wanrt interpolate --model FILE --inputs CASE.safetensors --out OUT.safetensors\n"
    "  IN/OUT: a video file or a folder of PNG frames; output frames = (n - 1) * multiplier + 1\n";

static wr_status replay(const rife *m, const char *inputs, const char *outp)
{
    wr_weightfile cs;
    WR_TRY(wr_weightfile_open(&cs, inputs));
    const wr_wtensor *a = wr_weightfile_find(&cs, "img0"), *b = wr_weightfile_find(&cs, "img1"),
                     *t = wr_weightfile_find(&cs, "timestep");
    wr_status st = WR_OK;
    if (!a || !b || !t || a->t.n_dims != 4 || !wr_tensor_same_shape(&a->t, &b->t) || a->t.ne[2] != 3 ||
        wr_tensor_nelements(&t->t) != a->t.ne[3]) {
        st = wr_fail(WR_E_FORMAT, "%s: needs img0, img1 [N, 3, H, W] and timestep [N, 1, 1, 1]", inputs);
        wr_weightfile_close(&cs);
        return st;
    }
    int n = (int)a->t.ne[3], h = (int)a->t.ne[1], w = (int)a->t.ne[0];
    size_t per = (size_t)3 * h * w;
    float *i0 = malloc(per * n * sizeof(float)), *i1 = malloc(per * n * sizeof(float)), *ts = malloc((size_t)n * sizeof(float));
    float *out = malloc(per * n * sizeof(float));
    if (!i0 || !i1 || !ts || !out)
        st = wr_fail(WR_E_OOM, "out of memory");
    for (int64_t r = 0; st == WR_OK && r < wr_tensor_nrows(&a->t); r++) {
        wr_dequant_row_f32(a->t.dtype, wr_tensor_row(&a->t, r), i0 + r * w, w);
        wr_dequant_row_f32(b->t.dtype, wr_tensor_row(&b->t, r), i1 + r * w, w);
    }
    if (st == WR_OK)
        wr_dequant_row_f32(t->t.dtype, t->t.data, ts, n);
    const char *sf = wr_weightfile_meta(&cs, "scale_factor"), *ens = wr_weightfile_meta(&cs, "ensemble");
    for (int i = 0; st == WR_OK && i < n; i++)
        st = rife_interpolate(m, i0 + i * per, i1 + i * per, h, w, ts[i], sf ? strtof(sf, NULL) : 1.0f,
                              ens && !strcmp(ens, "True"), out + i * per);
    if (st == WR_OK) {
        wr_st_entry e = {.name = "output", .dtype = WR_DTYPE_F32, .n_dims = 4, .shape = {n, 3, h, w}, .data = out};
        st = wr_safetensors_write(outp, &e, 1, NULL, 0);
    }
    free(i0), free(i1), free(ts), free(out);
    wr_weightfile_close(&cs);
    return st;
}

static void to_planes(const wr_frames *v, int f, float *p)
{
    size_t plane = (size_t)v->width * v->height;
    const uint8_t *src = wr_frames_at(v, f);
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++)
            p[(size_t)c * plane + i] = (float)src[i * 3 + (size_t)c] / 255.0f;
}

static void from_planes(const float *p, wr_frames *v, int f)
{
    size_t plane = (size_t)v->width * v->height;
    uint8_t *dst = wr_frames_at(v, f);
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            float x = p[(size_t)c * plane + i] * 255.0f + 0.5f;
            dst[i * 3 + (size_t)c] = (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
        }
}

static wr_status video(const rife *m, const char *in, const char *outp, int mult, float scale, bool ensemble, double fps_out)
{
    wr_frames src, dst = {0};
    WR_TRY(wr_video_read(in, &src));
    wr_status st = WR_OK;
    if (src.count < 2)
        st = wr_fail(WR_E_ARG, "%s: needs at least 2 frames to interpolate", in);
    double fps = fps_out > 0 ? fps_out : (src.fps > 0 ? src.fps : 16.0) * mult;
    if (st == WR_OK)
        st = wr_frames_alloc(&dst, src.width, src.height, (src.count - 1) * mult + 1, fps);
    size_t per = (size_t)3 * src.width * src.height;
    float *a = malloc(per * sizeof(float)), *b = malloc(per * sizeof(float)), *o = malloc(per * sizeof(float));
    if (st == WR_OK && (!a || !b || !o))
        st = wr_fail(WR_E_OOM, "out of memory");
    for (int i = 0; st == WR_OK && i + 1 < src.count; i++) {
        memcpy(wr_frames_at(&dst, i * mult), wr_frames_at(&src, i), per);
        to_planes(&src, i, a);
        to_planes(&src, i + 1, b);
        for (int k = 1; k < mult && st == WR_OK; k++) {
            st = rife_interpolate(m, a, b, src.height, src.width, (float)k / (float)mult, scale, ensemble, o);
            if (st == WR_OK)
                from_planes(o, &dst, i * mult + k);
        }
        fprintf(stderr, "\rinterpolated pair %d of %d", i + 1, src.count - 1);
    }
    fprintf(stderr, "\n");
    if (st == WR_OK) {
        memcpy(wr_frames_at(&dst, dst.count - 1), wr_frames_at(&src, src.count - 1), per);
        st = wr_video_write(outp, &dst, NULL);
    }
    if (st == WR_OK)
        printf("wrote %d frames (%g fps) to %s\n", dst.count, dst.fps, outp);
    free(a), free(b), free(o);
    wr_frames_free(&src), wr_frames_free(&dst);
    return st;
}

int cmd_interpolate(int argc, char **argv)
{
    const char *model = NULL, *inputs = NULL, *in = NULL, *outp = NULL;
    long long mult = 2;
    double scale = 1.0, fps_out = 0;
    bool ensemble = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--model") && has)
            model = argv[++i];
        else if (!strcmp(a, "--inputs") && has)
            inputs = argv[++i];
        else if ((!strcmp(a, "--out") || !strcmp(a, "-o")) && has)
            outp = argv[++i];
        else if (!strcmp(a, "--ensemble"))
            ensemble = true;
        else if (!strcmp(a, "--multiplier") && has) {
            if (!cli_parse_int(a, argv[++i], 2, 16, &mult))
                return 2;
        } else if (!strcmp(a, "--scale") && has) {
            if (!cli_parse_float(a, argv[++i], &scale) || scale < 0.25 || scale > 4) {
                fprintf(stderr, "wanrt interpolate: --scale must be in [0.25, 4]\n");
                return 2;
            }
        } else if (!strcmp(a, "--fps-out") && has) {
            if (!cli_parse_float(a, argv[++i], &fps_out) || fps_out <= 0)
                return 2;
        } else if (a[0] != '-' && !in)
            in = a;
        else {
            fprintf(stderr, "wanrt interpolate: unknown or incomplete option '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (!model || !outp || (!inputs && !in)) {
        fputs(usage, stderr);
        return 2;
    }
    wr_weightfile wf;
    wr_status st = wr_weightfile_open(&wf, model);
    if (st != WR_OK)
        return cli_report("interpolate", st);
    rife *m = NULL;
    st = rife_load(&m, &wf);
    if (st == WR_OK)
        st = inputs ? replay(m, inputs, outp) : video(m, in, outp, (int)mult, (float)scale, ensemble, fps_out);
    rife_free(m);
    wr_weightfile_close(&wf);
    return st == WR_OK ? 0 : cli_report("interpolate", st);
}
