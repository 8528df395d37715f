/* wanrt interpolate: RIFE frame interpolation of a video or frame folder, or a golden case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "media/video.h"
#include "rife/rife.h"
#include "rife/rife_video.h"
#include "runtime/interrupt.h"
#include "runtime/io/safetensors_write.h"
#include "runtime/quant.h"

static const char usage[] =
    "usage: wanrt interpolate IN [IN2 ...] -o OUT --model rife47.pth [--multiplier 2] [--scale 1.0] [--ensemble]\n"
    "                         [--fps-out N] [--crf N]\n"
    "       wanrt interpolate --model FILE --inputs CASE.safetensors --out OUT.safetensors\n"
    "  IN/OUT: a video file or a folder of PNG frames; output frames = (n - 1) * multiplier + 1.\n"
    "  Streams frame by frame (memory does not grow with length). Several inputs are one stream; a\n"
    "  clip starting with the previous clip's exact last frame has that duplicate skipped.\n";

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

int cmd_interpolate(int argc, char **argv)
{
    const char *model = NULL, *inputs = NULL, *outp = NULL, *in[64];
    int n_in = 0;
    long long crf = -1;
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
        } else if (!strcmp(a, "--crf") && has) {
            if (!cli_parse_int(a, argv[++i], 0, 51, &crf))
                return 2;
        } else if (a[0] != '-' && n_in < 64)
            in[n_in++] = a;
        else {
            fprintf(stderr, "wanrt interpolate: unknown or incomplete option '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (!model || !outp || (!inputs && !n_in)) {
        fputs(usage, stderr);
        return 2;
    }
    wr_weightfile wf;
    wr_status st = wr_weightfile_open(&wf, model);
    if (st != WR_OK)
        return cli_report("interpolate", st);
    rife *m = NULL;
    st = rife_load(&m, &wf);
    if (st == WR_OK && inputs) {
        st = replay(m, inputs, outp);
    } else if (st == WR_OK) {
        wr_interrupt_install();
        cli_unit_progress rp;
        cli_unit_progress_start(&rp, stderr, "interpolate");
        rife_video_opts o = {.multiplier = (int)mult, .scale = (float)scale, .ensemble = ensemble,
                             .fps_out = fps_out, .video = {.crf = (int)crf}, .progress = cli_unit_progress_event,
                             .ctx = &rp};
        int frames = 0;
        st = rife_interpolate_video(m, (const char *const *)in, n_in, outp, &o, &frames);
        if (st == WR_OK) {
            cli_progress_summary(&rp.bar);
            printf("wrote %d frames to %s\n", frames, outp);
        }
    }
    rife_free(m);
    wr_weightfile_close(&wf);
    if (st == WR_E_INTERRUPTED) {
        fprintf(stderr, "\nwanrt interpolate: %s; nothing was written\n", wr_last_error());
        return 130;
    }
    return st == WR_OK ? 0 : cli_report("interpolate", st);
}
