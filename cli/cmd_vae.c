/* wanrt vae-encode / vae-decode: replay VAE case files (the golden format). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "runtime/io/safetensors_write.h"
#include "runtime/quant.h"
#include "vae/tiling.h"
#include "vae/vae_plan.h"

static const char usage_enc[] = "usage: wanrt vae-encode --vae FILE --inputs CASE --out OUT.safetensors [--vae-tile SPEC] [--plan]\n"
                                "  reads input.video [3, F, H, W] in [-1, 1] (F = 4k+1, H and W multiples of 8, or 16 for\n"
                                "  the Wan 2.2 VAE); writes output.latent\n" VAE_TILING_HELP
                                "  --plan          print the planned peak memory (weights + working) before running\n";
static const char usage_dec[] = "usage: wanrt vae-decode --vae FILE --inputs CASE --out OUT.safetensors [--vae-tile SPEC] [--plan]\n"
                                "  reads input.latent (or output.latent); writes output.decoded and output.decoded_clamped\n"
                                VAE_TILING_HELP
                                "  --plan          print the planned peak memory (weights + working) before running\n";

static wr_status load_vol(const wr_weightfile *cs, const char *name, vae_vol *v)
{
    const wr_wtensor *w = wr_weightfile_find(cs, name);
    if (!w)
        return wr_fail(WR_E_FORMAT, "%s: missing tensor '%s'", cs->map.path, name);
    if (w->t.n_dims != 4)
        return wr_fail(WR_E_ARG, "%s: '%s' must be 4-D [C, F, H, W]", cs->map.path, name);
    WR_TRY(vae_vol_alloc(v, (int)w->t.ne[3], (int)w->t.ne[2], (int)w->t.ne[1], (int)w->t.ne[0]));
    int64_t rows = wr_tensor_nrows(&w->t);
    for (int64_t r = 0; r < rows; r++)
        if (!wr_dequant_row_f32(w->t.dtype, wr_tensor_row(&w->t, r), v->d + r * w->t.ne[0], w->t.ne[0])) {
            vae_vol_free(v);
            return wr_fail(WR_E_FORMAT, "%s: '%s' is not a float tensor", cs->map.path, name);
        }
    return WR_OK;
}

static wr_st_entry entry(const char *name, const vae_vol *v)
{
    return (wr_st_entry){.name = name, .dtype = WR_DTYPE_F32, .n_dims = 4, .shape = {v->c, v->t, v->h, v->w}, .data = v->d};
}

static void print_plan(const wan_vae *m, int decode, int frames, int h, int w, const vae_tiling *t)
{
    vae_plan p;
    if (vae_plan_model(m, decode, frames, h, w, t, &p) != WR_OK) {
        fprintf(stderr, "plan: %s\n", wr_last_error());
        return;
    }
    printf("plan: %s %dx%dx%d, %d tile%s: weights %.1f MiB + working %.1f MiB (output %.1f MiB) = peak %.1f MiB\n",
           decode ? "decode" : "encode", w, h, frames, p.tiles, p.tiles == 1 ? "" : "s", p.weights / 1048576.0,
           p.work / 1048576.0, p.output / 1048576.0, p.peak / 1048576.0);
}

static int run(int argc, char **argv, int decode)
{
    const char *cmd = decode ? "vae-decode" : "vae-encode", *usage = decode ? usage_dec : usage_enc;
    const char *vae = NULL, *inputs = NULL, *outp = NULL;
    vae_tiling tiling = vae_tiling_defaults(VAE_TILE_OFF);
    int show_plan = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--vae") && has)
            vae = argv[++i];
        else if (!strcmp(a, "--inputs") && has)
            inputs = argv[++i];
        else if (!strcmp(a, "--out") && has)
            outp = argv[++i];
        else if (!strcmp(a, "--vae-tile") && has) {
            if (vae_tiling_parse(argv[++i], &tiling) != WR_OK) {
                fprintf(stderr, "wanrt %s: %s\n", cmd, wr_last_error());
                return 2;
            }
        } else if (!strcmp(a, "--plan"))
            show_plan = 1;
        else {
            fprintf(stderr, "wanrt %s: unknown or incomplete option '%s'\n%s", cmd, a, usage);
            return 2;
        }
    }
    if (!vae || !inputs || !outp) {
        fputs(usage, stderr);
        return 2;
    }
    wr_weightfile wf = {0}, cs = {0};
    wan_vae m = {0};
    vae_vol in = {0}, out = {0}, clamped = {0};
    wr_status st;
    WR_TRY_GOTO(wr_weightfile_open(&wf, vae));
    WR_TRY_GOTO(wan_vae_load(&m, &wf)); /* 48 latent channels: the Wan 2.2 VAE, else 2.1 */
    WR_TRY_GOTO(wr_weightfile_open(&cs, inputs));
    if (!decode) {
        WR_TRY_GOTO(load_vol(&cs, "input.video", &in));
        if (show_plan)
            print_plan(&m, 0, in.t, in.h, in.w, &tiling);
        WR_TRY_GOTO(wan_vae_encode_tiled(&m, &in, &tiling, &out));
        wr_st_entry e = entry("output.latent", &out);
        WR_TRY_GOTO(wr_safetensors_write(outp, &e, 1, NULL, 0));
        printf("encoded [3, %d, %d, %d] -> latent [%d, %d, %d, %d] in %s\n", in.t, in.h, in.w, out.c, out.t, out.h,
               out.w, outp);
    } else {
        const char *name = wr_weightfile_find(&cs, "input.latent") ? "input.latent" : "output.latent";
        WR_TRY_GOTO(load_vol(&cs, name, &in));
        if (show_plan)
            print_plan(&m, 1, 4 * (in.t - 1) + 1, in.h * m.scale, in.w * m.scale, &tiling);
        WR_TRY_GOTO(wan_vae_decode_tiled(&m, &in, &tiling, &out));
        WR_TRY_GOTO(vae_vol_alloc(&clamped, out.c, out.t, out.h, out.w));
        for (size_t i = 0; i < vae_vol_size(&out); i++)
            clamped.d[i] = out.d[i] < -1.0f ? -1.0f : out.d[i] > 1.0f ? 1.0f : out.d[i];
        wr_st_entry e[2] = {entry("output.decoded", &out), entry("output.decoded_clamped", &clamped)};
        WR_TRY_GOTO(wr_safetensors_write(outp, e, 2, NULL, 0));
        printf("decoded latent [%d, %d, %d, %d] -> video [3, %d, %d, %d] in %s\n", in.c, in.t, in.h, in.w, out.t,
               out.h, out.w, outp);
    }
fail:
    vae_vol_free(&in), vae_vol_free(&out), vae_vol_free(&clamped);
    wan_vae_free(&m);
    wr_weightfile_close(&cs), wr_weightfile_close(&wf);
    return st == WR_OK ? 0 : cli_report(cmd, st);
}

int cmd_vae_encode(int argc, char **argv) { return run(argc, argv, 0); }
int cmd_vae_decode(int argc, char **argv) { return run(argc, argv, 1); }
