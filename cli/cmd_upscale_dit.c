/* wanrt upscale-dit: replay a SeedVR2 DiT case file (the golden format of
 * ../shared/golden/post, README section 2) through the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "runtime/io/safetensors_write.h"
#include "runtime/quant.h"
#include "runtime/threadpool.h"
#include "upscale/svr_dit.h"

#define MAX_SAMPLES 64

static const char usage[] =
    "usage: wanrt upscale-dit --model FILE --inputs CASE.safetensors --out OUT.safetensors\n"
    "                         [--attention fp32|bf16] [--threads N]\n"
    "Reads vid [L, 33], vid_shape [B, 3] (T, H, W latent grid), txt [Lt, txt_in], txt_shape [B, 1]\n"
    "and timestep [B]; writes output [L, 16] with the chosen attention precision (default bf16:\n"
    "q, k, v and the attention output rounded to bf16 as upstream's flash-attn call does) and\n"
    "output_fp32attn [L, 16] with attention in fp32. The 3B/7B variant comes from the weights.\n";

/* A case tensor as a malloc'd float32 array with its PyTorch shape checked: rows (-1: any) x cols. */
static wr_status load(const wr_weightfile *cs, const char *name, int64_t rows, int64_t cols, float **out,
                      int64_t *n_rows)
{
    *out = NULL;
    const wr_wtensor *w = wr_weightfile_find(cs, name);
    if (!w)
        return wr_fail(WR_E_FORMAT, "%s: missing tensor '%s'", cs->map.path, name);
    int64_t r = w->t.n_dims == 1 ? w->t.ne[0] : w->t.ne[1], c = w->t.n_dims == 1 ? 1 : w->t.ne[0];
    if (w->t.n_dims > 2 || (rows >= 0 && r != rows) || (cols >= 0 && c != cols) || r < 1) {
        char got[96];
        wr_tensor_shape_str(&w->t, got, sizeof got);
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s' has shape %s; expected [%s, %lld]", cs->map.path, name, got,
                       rows >= 0 ? "B" : "rows", (long long)cols);
    }
    float *f = malloc((size_t)(r * c) * sizeof *f);
    if (!f)
        return wr_fail(WR_E_OOM, "%s: out of memory for '%s'", cs->map.path, name);
    for (int64_t i = 0; i < wr_tensor_nrows(&w->t); i++)
        if (!wr_dequant_row_f32(w->t.dtype, wr_tensor_row(&w->t, i), f + i * w->t.ne[0], w->t.ne[0])) {
            free(f);
            return wr_fail(WR_E_FORMAT, "%s: '%s' has non-numeric dtype %s", cs->map.path, name,
                           wr_dtype_name(w->t.dtype));
        }
    *out = f;
    if (n_rows)
        *n_rows = r;
    return WR_OK;
}

static wr_status replay(const upscale_dit *m, const char *inputs, const char *outp, upscale_dit_attn mode)
{
    const upscale_dit_config *c = upscale_dit_config_get(m);
    wr_weightfile cs = {0};
    float *vs = NULL, *ts = NULL, *tsteps = NULL, *vid = NULL, *txt = NULL, *out = NULL, *out32 = NULL;
    int64_t batch = 0, L = 0, Lt = 0, vid_rows = 0, txt_rows = 0;
    upscale_dit_sample samples[MAX_SAMPLES];
    wr_status st;
    WR_TRY_GOTO(wr_weightfile_open(&cs, inputs));
    WR_TRY_GOTO(load(&cs, "vid_shape", -1, 3, &vs, &batch));
    if (batch > MAX_SAMPLES) {
        st = wr_fail(WR_E_ARG, "%s: %lld samples; at most %d", inputs, (long long)batch, MAX_SAMPLES);
        goto fail;
    }
    WR_TRY_GOTO(load(&cs, "txt_shape", batch, 1, &ts, NULL));
    WR_TRY_GOTO(load(&cs, "timestep", batch, 1, &tsteps, NULL));
    for (int s = 0; s < batch; s++) {
        for (int k = 0; k < 4; k++) { /* range-check before converting to int */
            float v = k < 3 ? vs[3 * s + k] : ts[s];
            if (!(v >= 0.0f && v <= (float)(1 << 20))) {
                st = wr_fail(WR_E_ARG, "%s: sample %d: %s = %g is out of range", inputs, s,
                             k < 3 ? "vid_shape entry" : "txt_shape", (double)v);
                goto fail;
            }
        }
        samples[s] = (upscale_dit_sample){(int)vs[3 * s], (int)vs[3 * s + 1], (int)vs[3 * s + 2], (int)ts[s], tsteps[s]};
        L += (int64_t)samples[s].t * samples[s].h * samples[s].w;
        Lt += samples[s].txt_len;
    }
    WR_TRY_GOTO(load(&cs, "vid", -1, c->vid_in, &vid, &vid_rows));
    WR_TRY_GOTO(load(&cs, "txt", -1, c->txt_in, &txt, &txt_rows));
    if (vid_rows != L || txt_rows != Lt) {
        st = wr_fail(WR_E_ARG, "%s: vid has %lld rows and txt %lld, but vid_shape/txt_shape give %lld and %lld",
                     inputs, (long long)vid_rows, (long long)txt_rows, (long long)L, (long long)Lt);
        goto fail;
    }
    out = malloc((size_t)(L * c->vid_out) * sizeof *out);
    out32 = malloc((size_t)(L * c->vid_out) * sizeof *out32);
    if (!out || !out32) {
        st = wr_fail(WR_E_OOM, "out of memory for the outputs");
        goto fail;
    }
    st = upscale_dit_forward(m, samples, (int)batch, vid, txt, UPSCALE_DIT_ATTN_FP32, out32, NULL, NULL);
    if (st == WR_OK && mode != UPSCALE_DIT_ATTN_FP32)
        st = upscale_dit_forward(m, samples, (int)batch, vid, txt, mode, out, NULL, NULL);
    if (st != WR_OK) { /* the model's message names the sample; add the case file */
        char why[1024];
        snprintf(why, sizeof why, "%s", wr_last_error());
        st = wr_fail(st, "%s: %s", inputs, why);
        goto fail;
    }
    if (mode == UPSCALE_DIT_ATTN_FP32)
        memcpy(out, out32, (size_t)(L * c->vid_out) * sizeof *out);
    wr_st_entry e[2] = {
        {.name = "output", .dtype = WR_DTYPE_F32, .n_dims = 2, .shape = {L, c->vid_out}, .data = out},
        {.name = "output_fp32attn", .dtype = WR_DTYPE_F32, .n_dims = 2, .shape = {L, c->vid_out}, .data = out32},
    };
    const char *meta[2][2] = {{"model", upscale_dit_variant_name(c->variant)},
                              {"attention", mode == UPSCALE_DIT_ATTN_FP32 ? "fp32" : "bf16"}};
    WR_TRY_GOTO(wr_safetensors_write(outp, e, 2, meta, 2));
    printf("wrote output and output_fp32attn [%lld, %d] (%s, %lld sample%s) to %s\n", (long long)L, c->vid_out,
           upscale_dit_variant_name(c->variant), (long long)batch, batch == 1 ? "" : "s", outp);
fail:
    free(vs), free(ts), free(tsteps), free(vid), free(txt), free(out), free(out32);
    wr_weightfile_close(&cs);
    return st;
}

int cmd_upscale_dit(int argc, char **argv)
{
    const char *model = NULL, *inputs = NULL, *outp = NULL;
    long long threads = 0;
    upscale_dit_attn mode = UPSCALE_DIT_ATTN_BF16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--model") && v)
            model = argv[++i];
        else if (!strcmp(a, "--inputs") && v)
            inputs = argv[++i];
        else if (!strcmp(a, "--out") && v)
            outp = argv[++i];
        else if (!strcmp(a, "--attention") && v) {
            const char *p = argv[++i];
            if (strcmp(p, "fp32") && strcmp(p, "bf16")) {
                fprintf(stderr, "wanrt upscale-dit: --attention takes fp32 or bf16, not '%s'\n", p);
                return 2;
            }
            mode = strcmp(p, "fp32") ? UPSCALE_DIT_ATTN_BF16 : UPSCALE_DIT_ATTN_FP32;
        } else if (!strcmp(a, "--threads") && v) {
            if (!cli_parse_int("--threads", argv[++i], 1, 256, &threads))
                return 2;
        } else {
            fprintf(stderr, "wanrt upscale-dit: unknown or incomplete option '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (!model || !inputs || !outp) {
        fputs(usage, stderr);
        return 2;
    }
    if (threads)
        wr_threads_set((int)threads);
    wr_weightfile wf = {0};
    upscale_dit *m = NULL;
    wr_status st;
    WR_TRY_GOTO(wr_weightfile_open(&wf, model));
    WR_TRY_GOTO(upscale_dit_load(&m, &wf));
    st = replay(m, inputs, outp, mode);
fail:
    upscale_dit_free(m);
    wr_weightfile_close(&wf);
    return st == WR_OK ? 0 : cli_report("upscale-dit", st);
}
