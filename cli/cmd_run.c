/* wanrt run RECIPE: the whole workflow from one file (recipe.h gives the format). Stages run in
 * workflow order, each as the command of the same name; a stage reads the previous stage's
 * output unless it names its own `in`, and writes a lossless intermediate beside the final
 * output (OUT-stem.STAGE.mkv) unless it is the last stage or names its own `out`. Everything the
 * recipe names is checked before the first stage starts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/recipe.h"
#include "runtime/gpu/backend_gpu.h"
#include "runtime/interrupt.h"
#include "runtime/threadpool.h"

typedef struct stage {
    const char *name;
    int (*run)(int argc, char **argv); /* NULL: not in this build */
    int needs_input;
    const char *missing; /* why run is NULL */
} stage;

static const stage stages[] = {
    {"generate", cmd_generate, 0, NULL},
    {"extend", cmd_extend, 0, NULL},
    {"upscale", cmd_upscale, 1, NULL},
    {"concat", cmd_concat, 1, NULL},
    {"interpolate", cmd_interpolate, 1, NULL},
    {"encode", cmd_encode, 1, NULL},
};
enum { N_STAGES = sizeof stages / sizeof stages[0] };

/* Keys whose values are files that must exist before anything runs. */
static const char *const file_keys[] = {"high-noise", "low-noise", "model", "t5", "tokenizer", "vae",
                                        "image", "end-image", "lora", "in", "noise", "text"};

static const char usage[] =
    "usage: wanrt run RECIPE [--dry-run]\n"
    "  Runs generate|extend -> upscale -> concat -> interpolate -> encode as the recipe's sections\n"
    "  say. Each `key = value` of [stage] is the flag --key value of `wanrt stage` (repeat a key to\n"
    "  repeat the flag; `true` gives a bare flag). Top level: out (required), threads, device.\n"
    "  [concat] takes `clips = \"b.mkv c.mkv\"` appended after the previous stage's output.\n"
    "  --dry-run prints the command lines without running them. See README.md for a full recipe.\n";

static int stage_index(const char *name)
{
    for (int i = 0; i < N_STAGES; i++)
        if (!strcmp(stages[i].name, name))
            return i;
    return -1;
}

static int is_file_key(const char *key)
{
    for (size_t i = 0; i < sizeof file_keys / sizeof file_keys[0]; i++)
        if (!strcmp(file_keys[i], key))
            return 1;
    return 0;
}

/* A --lora value is FILE[:STRENGTH][@high|@low]: only FILE must exist. */
static wr_status check_file(const char *recipe_path, const recipe_kv *kv)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", kv->value);
    if (!strcmp(kv->key, "lora")) {
        char *at = strrchr(path, '@'), *colon;
        if (at && (!strcmp(at, "@high") || !strcmp(at, "@low")))
            *at = '\0';
        if ((colon = strrchr(path, ':')) && strtod(colon + 1, NULL) != 0)
            *colon = '\0';
    }
    if (access(path, R_OK) != 0)
        return wr_fail(WR_E_IO, "%s:%d: %s file %s cannot be read", recipe_path, kv->line, kv->key, path);
    return WR_OK;
}

/* Checks sections, ordering and files; fills order[] with the stage indices to run. */
static wr_status validate(const recipe *r, const char *path, int *order, int *n_order)
{
    const recipe_section *top = &r->sec[0];
    for (int i = 0; i < top->n; i++)
        if (strcmp(top->kv[i].key, "out") && strcmp(top->kv[i].key, "threads") && strcmp(top->kv[i].key, "device"))
            return wr_fail(WR_E_ARG, "%s:%d: unknown top-level key '%s' (out, threads, device)", path,
                           top->kv[i].line, top->kv[i].key);
    if (!recipe_get(top, "out"))
        return wr_fail(WR_E_ARG, "%s: the recipe needs a top-level `out = FILE` before the first section", path);
    int present[N_STAGES] = {0};
    for (int i = 1; i < r->n; i++) {
        int k = stage_index(r->sec[i].name);
        if (k < 0)
            return wr_fail(WR_E_ARG, "%s:%d: unknown stage [%s] (generate, extend, upscale, concat, interpolate, encode)",
                           path, r->sec[i].line, r->sec[i].name);
        present[k] = i;
    }
    if (present[0] && present[1])
        return wr_fail(WR_E_ARG, "%s: [generate] and [extend] both make the first clip: keep one", path);
    *n_order = 0;
    for (int k = 0; k < N_STAGES; k++) {
        if (!present[k])
            continue;
        const recipe_section *s = &r->sec[present[k]];
        if (!stages[k].run)
            return wr_fail(WR_E_UNSUPPORTED, "%s:%d: stage [%s]: %s", path, s->line, s->name, stages[k].missing);
        if (*n_order == 0 && stages[k].needs_input && !recipe_get(s, "in"))
            return wr_fail(WR_E_ARG, "%s:%d: [%s] is the first stage: give it `in = VIDEO`", path, s->line, s->name);
        for (int j = 0; j < s->n; j++)
            if (is_file_key(s->kv[j].key))
                WR_TRY(check_file(path, &s->kv[j]));
        order[(*n_order)++] = k;
    }
    if (*n_order == 0)
        return wr_fail(WR_E_ARG, "%s: the recipe has no stage ([generate], [interpolate], ...)", path);
    return WR_OK;
}

/* argv for one stage: name, inputs, flags, -o out. Strings point into the recipe or bufs. */
static int build_argv(const recipe_section *s, const char *input, const char *out, char **argv, int cap,
                      char *clip_buf, char (*flags)[64])
{
    int n = 0;
    argv[n++] = (char *)s->name;
    const char *in = recipe_get(s, "in");
    if (in || input)
        argv[n++] = (char *)(in ? in : input);
    const char *clips = recipe_get(s, "clips");
    if (clips && !strcmp(s->name, "concat")) {
        strcpy(clip_buf, clips);
        char *save = NULL;
        for (char *t = strtok_r(clip_buf, " ,", &save); t && n < cap - 4; t = strtok_r(NULL, " ,", &save))
            argv[n++] = t;
    }
    for (int i = 0; i < s->n && n < cap - 3; i++) {
        const recipe_kv *kv = &s->kv[i];
        if (!strcmp(kv->key, "in") || !strcmp(kv->key, "out") || !strcmp(kv->key, "clips") ||
            !strcmp(kv->value, "false"))
            continue;
        char *f = flags[i];
        snprintf(f, 64, "--%s", kv->key);
        argv[n++] = f;
        if (strcmp(kv->value, "true"))
            argv[n++] = kv->value;
    }
    argv[n++] = "-o";
    argv[n++] = (char *)out;
    argv[n] = NULL;
    return n;
}

static void print_argv(int argc, char **argv)
{
    fprintf(stderr, "wanrt");
    for (int i = 0; i < argc; i++)
        fprintf(stderr, strpbrk(argv[i], " \"'") ? " '%s'" : " %s", argv[i]);
    fputc('\n', stderr);
}

int cmd_run(int argc, char **argv)
{
    const char *path = NULL;
    int dry = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--dry-run")) {
            dry = 1;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "wanrt run: unexpected argument '%s'\n%s", argv[i], usage);
            return 2;
        }
    }
    if (!path) {
        fputs(usage, stderr);
        return 2;
    }
    recipe r;
    wr_status st = recipe_load(&r, path);
    if (st != WR_OK)
        return cli_report("run", st);
    int order[N_STAGES], n_order = 0, rc = 0;
    st = validate(&r, path, order, &n_order);
    const char *threads = recipe_get(&r.sec[0], "threads"), *device = recipe_get(&r.sec[0], "device");
    long long nt;
    if (st == WR_OK && threads && !cli_parse_int("threads", threads, 1, 256, &nt))
        st = wr_fail(WR_E_ARG, "%s: threads must be a number from 1 to 256", path);
    if (st == WR_OK && threads)
        st = wr_threads_set((int)nt);
    if (st == WR_OK && device)
        st = wr_backend_choose(device);
    if (st != WR_OK) {
        recipe_free(&r);
        return cli_report("run", st);
    }
    wr_interrupt_install();
    const char *final = recipe_get(&r.sec[0], "out");
    const char *dot = strrchr(final, '.');
    int stem = dot && !strchr(dot, '/') ? (int)(dot - final) : (int)strlen(final);
    char outs[N_STAGES][4096], clip_buf[4096], flags[RECIPE_MAX_KEYS][64];
    const char *prev = NULL;
    for (int i = 0; i < n_order && rc == 0; i++) {
        const recipe_section *s = recipe_find(&r, stages[order[i]].name);
        const char *own = recipe_get(s, "out");
#ifdef WR_HAVE_FFMPEG
        snprintf(outs[i], sizeof outs[i], "%.*s.%s.mkv", stem, final, s->name);
#else
        snprintf(outs[i], sizeof outs[i], "%.*s.%s/", stem, final, s->name);
#endif
        const char *out = own ? own : i == n_order - 1 ? final : outs[i];
        char *sargv[2 * RECIPE_MAX_KEYS + 40];
        int sargc = build_argv(s, prev, out, sargv, (int)(sizeof sargv / sizeof sargv[0]), clip_buf, flags);
        fprintf(stderr, "== stage %d/%d: ", i + 1, n_order);
        print_argv(sargc, sargv);
        if (!dry) {
            rc = stages[order[i]].run(sargc, sargv);
            if (rc == 0 && wr_interrupted())
                rc = 130;
        }
        prev = out;
    }
    if (rc == 0 && !dry)
        fprintf(stderr, "wanrt run: done, wrote %s\n", prev);
    else if (rc)
        fprintf(stderr, "wanrt run: stopped at a failed stage (exit %d); earlier outputs are kept\n", rc);
    recipe_free(&r);
    return rc;
}
