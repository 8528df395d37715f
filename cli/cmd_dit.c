/* wanrt dit: replay a DiT case file (the golden format) through the model, write output.N. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "models/wan22/dit.h"
#include "models/wan22/lora.h"
#include "models/wan22/pipeline.h"
#include "runtime/io/safetensors_write.h"
#include "runtime/ops.h"
#include "runtime/quant.h"
#include "runtime/threadpool.h"

#define MAX_SAMPLES 16

static const char usage[] =
    "usage: wanrt dit --model FILE [--lora FILE[:STRENGTH]]... --inputs CASE.safetensors --out OUT.safetensors\n"
    "                 [--threads N] [--text-len N] [--attention dense|sage]   (--device is global)\n"
    "Reads input.x.N, input.y.N (i2v), input.context.N, input.t ([B] or [B, seq_len]) and\n"
    "writes output.N [C_out, F, H, W] for every sample N.\n";

/* A case tensor as a malloc'd float32 array; NULL (no error) when absent and optional. */
static wr_status load_f32(const wr_weightfile *cs, const char *name, int required, float **out,
                          const wr_wtensor **info)
{
    *out = NULL;
    const wr_wtensor *w = wr_weightfile_find(cs, name);
    if (info)
        *info = w;
    if (!w)
        return required ? wr_fail(WR_E_FORMAT, "%s: missing tensor '%s'", cs->map.path, name) : WR_OK;
    int64_t n = wr_tensor_nelements(&w->t), rows = wr_tensor_nrows(&w->t);
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    if (!f)
        return wr_fail(WR_E_OOM, "%s: out of memory for '%s'", cs->map.path, name);
    for (int64_t r = 0; r < rows; r++)
        if (!wr_dequant_row_f32(w->t.dtype, wr_tensor_row(&w->t, r), f + r * w->t.ne[0], w->t.ne[0])) {
            free(f);
            return wr_fail(WR_E_FORMAT, "%s: '%s' has non-numeric dtype %s", cs->map.path, name,
                           wr_dtype_name(w->t.dtype));
        }
    *out = f;
    return WR_OK;
}

static wr_status run_sample(const wan22_weights *w, const wr_weightfile *cs, int n, const float *t_all,
                            const wr_wtensor *t_info, float **out, wr_st_entry *entry, char *name)
{
    char key[64];
    float *x = NULL, *y = NULL, *ctx = NULL;
    const wr_wtensor *xi, *ci;
    wr_status st;
    snprintf(key, sizeof key, "input.x.%d", n);
    WR_TRY_GOTO(load_f32(cs, key, 1, &x, &xi));
    snprintf(key, sizeof key, "input.y.%d", n);
    WR_TRY_GOTO(load_f32(cs, key, 0, &y, NULL));
    snprintf(key, sizeof key, "input.context.%d", n);
    WR_TRY_GOTO(load_f32(cs, key, 1, &ctx, &ci));
    if (xi->t.n_dims != 4 || ci->t.n_dims != 2 || ci->t.ne[0] != w->cfg.text_dim) {
        st = wr_fail(WR_E_ARG, "%s: sample %d: input.x must be [C, F, H, W] and input.context [L, %d]", cs->map.path,
                     n, w->cfg.text_dim);
        goto fail;
    }
    int per_token = t_info->t.n_dims == 2;
    int64_t t_cols = per_token ? t_info->t.ne[0] : 1;
    wan22_dit_input in = {.x = x, .y = y, .c_noise = (int)xi->t.ne[3], .f = (int)xi->t.ne[2], .h = (int)xi->t.ne[1],
                          .w = (int)xi->t.ne[0], .context = ctx, .ctx_len = (int)ci->t.ne[1],
                          .t = t_all + (size_t)n * (size_t)t_cols, .n_t = (int)t_cols};
    size_t count = (size_t)w->cfg.out_dim * (size_t)in.f * (size_t)in.h * (size_t)in.w;
    *out = malloc(count * sizeof(float));
    if (!*out) {
        st = wr_fail(WR_E_OOM, "out of memory for output %d", n);
        goto fail;
    }
    st = wan22_dit_forward(w, &in, *out, NULL, NULL);
    if (st != WR_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", wr_last_error());
        st = wr_fail(st, "%s: sample %d: %s", cs->map.path, n, why);
        goto fail;
    }
    snprintf(name, 32, "output.%d", n);
    *entry = (wr_st_entry){.name = name, .dtype = WR_DTYPE_F32, .n_dims = 4,
                           .shape = {w->cfg.out_dim, in.f, in.h, in.w}, .data = *out};
fail:
    free(x), free(y), free(ctx);
    return st;
}

int cmd_dit(int argc, char **argv)
{
    const char *model = NULL, *inputs = NULL, *outp = NULL;
    long long threads = 0, text_len = 0;
    wr_attention_mode attention = WR_ATTENTION_DENSE;
    wan22_lora_ref loras[WAN22_MAX_LORAS];
    int n_loras = 0;
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
        else if (!strcmp(a, "--lora") && v) {
            if (n_loras == WAN22_MAX_LORAS || wan22_lora_ref_parse(argv[++i], &loras[n_loras++]) != WR_OK) {
                fprintf(stderr, "wanrt dit: --lora FILE[:STRENGTH] (at most %d)\n", WAN22_MAX_LORAS);
                return 2;
            }
        } else if (!strcmp(a, "--threads") && v) {
            if (!cli_parse_int("--threads", argv[++i], 1, 256, &threads))
                return 2;
        } else if (!strcmp(a, "--attention") && v) {
            if (!wr_attention_mode_parse(argv[++i], &attention)) {
                fprintf(stderr, "wanrt dit: --attention takes dense or sage, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--text-len") && v) {
            if (!cli_parse_int("--text-len", argv[++i], 1, 4096, &text_len))
                return 2;
        } else {
            fprintf(stderr, "wanrt dit: unknown or incomplete option '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (!model || !inputs || !outp) {
        fputs(usage, stderr);
        return 2;
    }
    if (threads)
        wr_threads_set((int)threads);
    wr_weightfile wf = {0}, cs = {0};
    wan22_weights w = {0};
    float *t_all = NULL, *outs[MAX_SAMPLES] = {0};
    wr_st_entry entries[MAX_SAMPLES];
    char names[MAX_SAMPLES][32];
    int n = 0;
    const wr_wtensor *t_info;
    wr_status st;
    WR_TRY_GOTO(wr_weightfile_open(&wf, model));
    WR_TRY_GOTO(wan22_weights_bind(&w, &wf, (int)text_len));
    for (int i = 0; i < n_loras; i++) {
        wr_weightfile lf;
        wan22_lora_report rep;
        WR_TRY_GOTO(wr_weightfile_open(&lf, loras[i].path));
        st = wan22_lora_apply(&w, &lf, loras[i].strength, &rep);
        wr_weightfile_close(&lf);
        if (st != WR_OK)
            goto fail;
        fprintf(stderr, "LoRA %s at strength %g: %d weights patched, %d keys unmatched%s%s\n", loras[i].path,
                (double)loras[i].strength, rep.applied, rep.unmatched, rep.unmatched ? ": " : "", rep.first_unmatched);
    }
    WR_TRY_GOTO(wr_weightfile_open(&cs, inputs));
    WR_TRY_GOTO(load_f32(&cs, "input.t", 1, &t_all, &t_info));
    int64_t batch = t_info->t.n_dims == 2 ? t_info->t.ne[1] : t_info->t.ne[0];
    if (t_info->t.n_dims > 2 || batch < 1 || batch > MAX_SAMPLES) {
        st = wr_fail(WR_E_ARG, "%s: input.t must be [B] or [B, seq_len] with 1 <= B <= %d", inputs, MAX_SAMPLES);
        goto fail;
    }
    if (t_info->t.n_dims == 1 && batch > 1) {
        st = wr_fail(WR_E_ARG, "%s: input.t of shape [B] with B > 1: give [B, seq_len] (the official model "
                               "only expands [B] for B = 1)", inputs);
        goto fail;
    }
    wr_attention_mode_set(attention);
    st = WR_OK;
    for (; n < batch && st == WR_OK; n++)
        st = run_sample(&w, &cs, n, t_all, t_info, &outs[n], &entries[n], names[n]);
    wr_attention_mode_set(WR_ATTENTION_DENSE); /* process-wide: the setting ends with the run */
    if (st != WR_OK)
        goto fail;
    char tl[16];
    snprintf(tl, sizeof tl, "%d", w.cfg.text_len);
    const char *meta[2][2] = {{"model", model}, {"text_len", tl}};
    st = wr_safetensors_write(outp, entries, n, meta, 2);
    if (st == WR_OK)
        printf("wrote %d output%s (%s, dim %d, %d layers) to %s\n", n, n == 1 ? "" : "s",
               wan22_variant_name(w.cfg.variant), w.cfg.dim, w.cfg.num_layers, outp);
fail:
    for (int i = 0; i < MAX_SAMPLES; i++)
        free(outs[i]);
    free(t_all);
    wan22_weights_free(&w);
    wr_weightfile_close(&cs);
    wr_weightfile_close(&wf);
    return st == WR_OK ? 0 : cli_report("dit", st);
}
