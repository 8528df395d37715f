/* wanrt vae-encode / vae-decode: replay VAE case files (the golden format). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "runtime/io/safetensors_write.h"
#include "runtime/quant.h"
#include "vae/vae21.h"
#include "vae/vae22.h"

static const char usage_enc[] = "usage: wanrt vae-encode --vae FILE --inputs CASE --out OUT.safetensors\n"
                                "  reads input.video [3, F, H, W] in [-1, 1]; writes output.latent\n";
static const char usage_dec[] = "usage: wanrt vae-decode --vae FILE --inputs CASE --out OUT.safetensors\n"
                                "  reads input.latent (or output.latent); writes output.decoded and output.decoded_clamped\n";

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

static int run(int argc, char **argv, int decode)
{
    const char *cmd = decode ? "vae-decode" : "vae-encode", *usage = decode ? usage_dec : usage_enc;
    const char *vae = NULL, *inputs = NULL, *outp = NULL;
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
    vae21 *m = NULL;
    vae22 *m22 = NULL;
    vae_vol in = {0}, out = {0}, clamped = {0};
    wr_status st;
    WR_TRY_GOTO(wr_weightfile_open(&wf, vae));
    if (wr_weightfile_find(&wf, "conv2.weight") && wr_weightfile_find(&wf, "conv2.weight")->t.ne[4] == 48)
        WR_TRY_GOTO(vae22_load(&m22, &wf)); /* 48 latent channels: the Wan 2.2 VAE */
    else
        WR_TRY_GOTO(vae21_load(&m, &wf));
    WR_TRY_GOTO(wr_weightfile_open(&cs, inputs));
    if (!decode) {
        WR_TRY_GOTO(load_vol(&cs, "input.video", &in));
        WR_TRY_GOTO(m22 ? vae22_encode(m22, &in, &out) : vae21_encode(m, &in, &out));
        wr_st_entry e = entry("output.latent", &out);
        WR_TRY_GOTO(wr_safetensors_write(outp, &e, 1, NULL, 0));
        printf("encoded [3, %d, %d, %d] -> latent [%d, %d, %d, %d] in %s\n", in.t, in.h, in.w, out.c, out.t, out.h,
               out.w, outp);
    } else {
        const char *name = wr_weightfile_find(&cs, "input.latent") ? "input.latent" : "output.latent";
        WR_TRY_GOTO(load_vol(&cs, name, &in));
        WR_TRY_GOTO(m22 ? vae22_decode(m22, &in, &out) : vae21_decode(m, &in, &out));
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
    vae21_free(m);
    vae22_free(m22);
    wr_weightfile_close(&cs), wr_weightfile_close(&wf);
    return st == WR_OK ? 0 : cli_report(cmd, st);
}

int cmd_vae_encode(int argc, char **argv) { return run(argc, argv, 0); }
int cmd_vae_decode(int argc, char **argv) { return run(argc, argv, 1); }
