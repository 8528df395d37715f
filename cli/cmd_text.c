/* wanrt tokenize / wanrt t5: the text side of the pipeline from the command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "models/wan22/t5.h"
#include "models/wan22/text_clean.h"
#include "models/wan22/tokenizer.h"
#include "runtime/io/safetensors_write.h"

static const char tok_usage[] = "usage: wanrt tokenize --tokenizer FILE --text \"...\" [--text-len N] [--ids-only]\n";

int cmd_tokenize(int argc, char **argv)
{
    const char *tok = NULL, *text = NULL;
    long long text_len = 512;
    int ids_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(tok_usage, stdout);
            return 0;
        } else if (!strcmp(a, "--tokenizer") && has)
            tok = argv[++i];
        else if (!strcmp(a, "--text") && has)
            text = argv[++i];
        else if (!strcmp(a, "--ids-only"))
            ids_only = 1;
        else if (!strcmp(a, "--text-len") && has) {
            if (!cli_parse_int("--text-len", argv[++i], 1, 65536, &text_len))
                return 2;
        } else {
            fprintf(stderr, "wanrt tokenize: unknown or incomplete option '%s'\n%s", a, tok_usage);
            return 2;
        }
    }
    if (!tok || !text) {
        fputs(tok_usage, stderr);
        return 2;
    }
    wan22_tokenizer *t;
    wr_status st = wan22_tokenizer_load(&t, tok);
    if (st != WR_OK)
        return cli_report("tokenize", st);
    char *clean = NULL;
    int32_t *ids = NULL;
    int n = 0;
    st = wan22_text_clean(text, &clean);
    if (st == WR_OK)
        st = wan22_tokenizer_encode(t, clean, &ids, &n);
    if (st == WR_OK) {
        int32_t *pid = malloc((size_t)text_len * sizeof *pid), *pm = malloc((size_t)text_len * sizeof *pm);
        int real = pid && pm ? wan22_tokenizer_pad(t, ids, n, (int)text_len, pid, pm) : 0;
        if (ids_only) {
            for (int i = 0; i < real; i++)
                printf("%s%d", i ? " " : "", pid[i]);
            putchar('\n');
        } else {
            printf("cleaned: %s\ntokens: %d (with EOS, text_len %lld%s)\n", clean, real, text_len,
                   n + 1 > text_len ? ", truncated" : "");
            for (int i = 0; i < real; i++)
                printf("%6d  %s\n", pid[i], wan22_tokenizer_piece(t, pid[i]));
        }
        free(pid), free(pm);
    }
    free(ids), free(clean);
    wan22_tokenizer_free(t);
    return st == WR_OK ? 0 : cli_report("tokenize", st);
}

static const char t5_usage[] = "usage: wanrt t5 --model FILE (--tokenizer FILE --text \"...\" [--text-len N] | --inputs CASE)"
                               " --out OUT.safetensors\n"
                               "  --inputs reads input.ids and input.mask [B, L] and writes output.hidden [B, L, dim]\n";

int cmd_t5(int argc, char **argv)
{
    const char *model = NULL, *tok = NULL, *text = NULL, *inputs = NULL, *outp = NULL;
    long long text_len = 512;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(t5_usage, stdout);
            return 0;
        } else if (!strcmp(a, "--model") && has)
            model = argv[++i];
        else if (!strcmp(a, "--tokenizer") && has)
            tok = argv[++i];
        else if (!strcmp(a, "--text") && has)
            text = argv[++i];
        else if (!strcmp(a, "--inputs") && has)
            inputs = argv[++i];
        else if (!strcmp(a, "--out") && has)
            outp = argv[++i];
        else if (!strcmp(a, "--text-len") && has) {
            if (!cli_parse_int("--text-len", argv[++i], 1, 65536, &text_len))
                return 2;
        } else {
            fprintf(stderr, "wanrt t5: unknown or incomplete option '%s'\n%s", a, t5_usage);
            return 2;
        }
    }
    if (!model || !outp || (!inputs && (!tok || !text))) {
        fputs(t5_usage, stderr);
        return 2;
    }
    wr_weightfile wf = {0}, cs = {0};
    wan22_t5 *m = NULL;
    wan22_tokenizer *t = NULL;
    int32_t *ids = NULL, *mask = NULL, *raw = NULL;
    float *hidden = NULL;
    char *clean = NULL;
    int batch = 1, len = 0, keep = 0;
    wr_status st;
    WR_TRY_GOTO(wr_weightfile_open(&wf, model));
    WR_TRY_GOTO(wan22_t5_load(&m, &wf));
    if (inputs) {
        WR_TRY_GOTO(wr_weightfile_open(&cs, inputs));
        const wr_wtensor *ti = wr_weightfile_find(&cs, "input.ids"), *tm = wr_weightfile_find(&cs, "input.mask");
        if (!ti || !tm || ti->t.dtype != WR_DTYPE_I64 || tm->t.dtype != WR_DTYPE_I64 || ti->t.n_dims != 2 ||
            !wr_tensor_same_shape(&ti->t, &tm->t)) {
            st = wr_fail(WR_E_FORMAT, "%s: needs I64 input.ids and input.mask of the same shape [B, L]", inputs);
            goto fail;
        }
        batch = (int)ti->t.ne[1];
        len = (int)ti->t.ne[0];
        ids = malloc((size_t)batch * len * sizeof *ids);
        mask = malloc((size_t)batch * len * sizeof *mask);
        if (!ids || !mask) {
            st = wr_fail(WR_E_OOM, "out of memory");
            goto fail;
        }
        for (int i = 0; i < batch * len; i++) {
            ids[i] = (int32_t)((const int64_t *)ti->t.data)[i];
            mask[i] = (int32_t)((const int64_t *)tm->t.data)[i];
        }
        keep = len;
    } else {
        int n;
        WR_TRY_GOTO(wan22_tokenizer_load(&t, tok));
        WR_TRY_GOTO(wan22_text_clean(text, &clean));
        WR_TRY_GOTO(wan22_tokenizer_encode(t, clean, &raw, &n));
        len = (int)text_len;
        ids = malloc((size_t)len * sizeof *ids);
        mask = malloc((size_t)len * sizeof *mask);
        if (!ids || !mask) {
            st = wr_fail(WR_E_OOM, "out of memory");
            goto fail;
        }
        keep = wan22_tokenizer_pad(t, raw, n, len, ids, mask); /* the pipeline keeps the real rows */
    }
    int dim = wan22_t5_config_of(m)->dim;
    hidden = malloc((size_t)batch * len * dim * sizeof *hidden);
    if (!hidden) {
        st = wr_fail(WR_E_OOM, "out of memory");
        goto fail;
    }
    for (int b = 0; b < batch; b++)
        WR_TRY_GOTO(wan22_t5_encode(m, ids + b * len, mask + b * len, len, hidden + (size_t)b * len * dim));
    wr_st_entry e = {.name = inputs ? "output.hidden" : "output.context", .dtype = WR_DTYPE_F32,
                     .n_dims = inputs ? 3 : 2, .data = hidden};
    if (inputs)
        e.shape[0] = batch, e.shape[1] = len, e.shape[2] = dim;
    else
        e.shape[0] = keep, e.shape[1] = dim;
    WR_TRY_GOTO(wr_safetensors_write(outp, &e, 1, NULL, 0));
    printf("wrote %s [%s%d, %d] to %s\n", e.name, inputs ? "B, " : "", inputs ? len : keep, dim, outp);
fail:
    free(ids), free(mask), free(raw), free(hidden), free(clean);
    wan22_tokenizer_free(t);
    wan22_t5_free(m);
    wr_weightfile_close(&cs), wr_weightfile_close(&wf);
    return st == WR_OK ? 0 : cli_report("t5", st);
}
