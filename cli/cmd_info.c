/* wanrt info FILE [--json]: format, metadata, one line per tensor, totals per dtype. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "models/detect.h"
#include "runtime/io/weightfile.h"

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_text(const wr_weightfile *wf)
{
    char model[512];
    wr_detect_model(wf, model, sizeof model);
    printf("file: %s\nformat: %s\nmodel: %s\n", wf->map.path, wr_format_name(wf->format), model);
    if (wf->n_meta) {
        printf("metadata (%lld):\n", (long long)wf->n_meta);
        for (int64_t i = 0; i < wf->n_meta; i++)
            printf("  %s = %s\n", wf->meta[i].key, wf->meta[i].value);
    }
    printf("tensors (%lld):\n", (long long)wf->n_tensors);
    size_t bytes_per_dtype[WR_DTYPE_COUNT] = {0};
    int64_t count_per_dtype[WR_DTYPE_COUNT] = {0};
    for (int64_t i = 0; i < wf->n_tensors; i++) {
        const wr_wtensor *w = &wf->tensors[i];
        char shape[128];
        wr_tensor_shape_str(&w->t, shape, sizeof shape);
        size_t nb = wr_tensor_nbytes(&w->t);
        printf("  %-60s %-8s %-24s %zu", w->name, wr_dtype_name(w->t.dtype), shape, nb);
        if (w->t.scale != 1.0f)
            printf("  scale_weight=%g", (double)w->t.scale);
        putchar('\n');
        bytes_per_dtype[w->t.dtype] += nb;
        count_per_dtype[w->t.dtype]++;
    }
    printf("totals:\n");
    for (int d = 0; d < WR_DTYPE_COUNT; d++)
        if (count_per_dtype[d])
            printf("  %-8s %6lld tensors %14zu bytes\n", wr_dtype_name((wr_dtype)d),
                   (long long)count_per_dtype[d], bytes_per_dtype[d]);
}

static void print_json(const wr_weightfile *wf)
{
    printf("{\"file\": ");
    json_string(wf->map.path);
    printf(", \"format\": ");
    json_string(wr_format_name(wf->format));
    char model[512];
    wr_model_kind kind = wr_detect_model(wf, model, sizeof model);
    static const char *const kinds[] = {"unknown", "wan-dit", "wan-vae-2.1", "wan-vae-2.2", "umt5", "rife", "seedvr2"};
    _Static_assert(sizeof kinds / sizeof kinds[0] == WR_MODEL_KIND_COUNT, "kinds covers every model kind");
    printf(", \"model\": {\"kind\": \"%s\", \"description\": ", kinds[kind]);
    json_string(model);
    printf("}, \"metadata\": {");
    for (int64_t i = 0; i < wf->n_meta; i++) {
        printf("%s", i ? ", " : "");
        json_string(wf->meta[i].key);
        printf(": ");
        json_string(wf->meta[i].value);
    }
    printf("}, \"tensors\": [");
    for (int64_t i = 0; i < wf->n_tensors; i++) {
        const wr_wtensor *w = &wf->tensors[i];
        printf("%s{\"name\": ", i ? ", " : "");
        json_string(w->name);
        printf(", \"dtype\": \"%s\", \"shape\": [", wr_dtype_name(w->t.dtype));
        for (int d = w->t.n_dims - 1; d >= 0; d--)
            printf("%" PRId64 "%s", w->t.ne[d], d ? ", " : "");
        printf("], \"bytes\": %zu}", wr_tensor_nbytes(&w->t));
    }
    printf("]}\n");
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: wanrt info FILE [--json]\n");
            return 0;
        } else if (!path)
            path = argv[i];
        else {
            fprintf(stderr, "wanrt info: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: wanrt info FILE [--json]\n");
        return 2;
    }
    wr_weightfile wf;
    wr_status st = wr_weightfile_open(&wf, path);
    if (st != WR_OK)
        return cli_report("info", st);
    if (json)
        print_json(&wf);
    else
        print_text(&wf);
    wr_weightfile_close(&wf);
    return 0;
}
