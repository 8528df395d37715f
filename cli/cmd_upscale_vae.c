/* wanrt upscale-vae: replay a SeedVR2 VAE case file (the golden format): encode `video`,
 * take the posterior, decode its mean. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "runtime/io/safetensors_write.h"
#include "runtime/quant.h"
#include "upscale/svr_vae.h"

static const char usage[] =
    "usage: wanrt upscale-vae --vae FILE --inputs CASE --out OUT.safetensors [--split N] [--groups G]\n"
    "  reads video [B, 3, T, H, W] in [-1, 1] (T = 4n + 1, H and W multiples of 8); writes moments,\n"
    "  posterior_mean, posterior_std and decoded_from_mean (the decoder applied to the mean); with an\n"
    "  eps tensor in the case also latent_sample = mean + std * eps and latent_scaled_btHWc (x 0.9152).\n"
    "  --split N: the pipeline's causal slicing (1 + N frames, then N; N a multiple of 4; default 4),\n"
    "             0 = one pass. --groups G: GroupNorm groups (default: the file's config, else 32)\n";

/* Per-sample volumes of the outputs, concatenated over the batch. */
typedef struct outputs {
    float *moments, *mean, *std, *decoded, *sample, *scaled;
    vae_vol shape_m, shape_l, shape_d; /* shapes only (d unused) */
} outputs;

static wr_status append(float **dst, const vae_vol *v, int b, int B)
{
    size_t n = vae_vol_size(v);
    if (b == 0 && !(*dst = malloc(n * sizeof(float) * (size_t)B)))
        return wr_fail(WR_E_OOM, "out of memory");
    memcpy(*dst + (size_t)b * n, v->d, n * sizeof(float));
    return WR_OK;
}

/* video [B, 3, T, H, W] of the case as float32. */
static wr_status read_video(const wr_weightfile *cs, const char *inputs, float **all, int dims[5])
{
    const wr_wtensor *v = wr_weightfile_find(cs, "video");
    if (!v || v->t.n_dims != 5 || v->t.ne[4] < 1 || v->t.ne[4] > 64)
        return wr_fail(WR_E_FORMAT, "%s: needs a tensor 'video' [B, 3, T, H, W] (B <= 64)", inputs);
    for (int i = 0; i < 5; i++)
        dims[i] = (int)v->t.ne[4 - i];
    if (!(*all = malloc((size_t)wr_tensor_nelements(&v->t) * sizeof(float))))
        return wr_fail(WR_E_OOM, "%s: out of memory for 'video'", inputs);
    for (int64_t r = 0; r < wr_tensor_nrows(&v->t); r++)
        if (!wr_dequant_row_f32(v->t.dtype, wr_tensor_row(&v->t, r), *all + r * dims[4], dims[4]))
            return wr_fail(WR_E_FORMAT, "%s: 'video' is not a float tensor", inputs);
    return WR_OK;
}

/* eps [B, 16, T', h, w] of the case when present with the latent's size, else NULL. */
static wr_status read_eps(const wr_weightfile *cs, const char *inputs, size_t n, float **eps)
{
    const wr_wtensor *e = wr_weightfile_find(cs, "eps");
    *eps = NULL;
    if (!e || wr_tensor_nelements(&e->t) != (int64_t)n)
        return WR_OK;
    if (!(*eps = malloc(n * sizeof(float))))
        return wr_fail(WR_E_OOM, "%s: out of memory for 'eps'", inputs);
    if (!wr_dequant_row_f32(e->t.dtype, e->t.data, *eps, (int64_t)n))
        return wr_fail(WR_E_FORMAT, "%s: 'eps' is not a float tensor", inputs);
    return WR_OK;
}

static wr_status run_case(const upscale_vae *m, const char *inputs, const char *outp, int split)
{
    wr_weightfile cs = {0};
    outputs o = {0};
    vae_vol in = {0}, mom = {0}, mean = {0}, sd = {0}, dec = {0}, smp = {0};
    float *all = NULL, *eps = NULL;
    int d[5];
    wr_status st;
    WR_TRY_GOTO(wr_weightfile_open(&cs, inputs));
    WR_TRY_GOTO(read_video(&cs, inputs, &all, d));
    int B = d[0];
    WR_TRY_GOTO(vae_vol_alloc(&in, d[1], d[2], d[3], d[4]));
    for (int b = 0; b < B; b++) {
        memcpy(in.d, all + (size_t)b * vae_vol_size(&in), vae_vol_size(&in) * sizeof(float));
        vae_vol_free(&mom), vae_vol_free(&mean), vae_vol_free(&sd), vae_vol_free(&dec), vae_vol_free(&smp);
        WR_TRY_GOTO(upscale_vae_encode(m, &in, split, &mom));
        WR_TRY_GOTO(upscale_vae_posterior(&mom, &mean, &sd));
        WR_TRY_GOTO(upscale_vae_decode(m, &mean, split, &dec));
        o.shape_m = mom, o.shape_l = mean, o.shape_d = dec;
        WR_TRY_GOTO(append(&o.moments, &mom, b, B));
        WR_TRY_GOTO(append(&o.mean, &mean, b, B));
        WR_TRY_GOTO(append(&o.std, &sd, b, B));
        WR_TRY_GOTO(append(&o.decoded, &dec, b, B));
        size_t n = vae_vol_size(&mean);
        if (b == 0)
            WR_TRY_GOTO(read_eps(&cs, inputs, n * (size_t)B, &eps));
        if (!eps)
            continue;
        /* the reference pipeline's sample, with the case's noise */
        WR_TRY_GOTO(vae_vol_alloc(&smp, mean.c, mean.t, mean.h, mean.w));
        for (size_t i = 0; i < n; i++)
            smp.d[i] = mean.d[i] + sd.d[i] * eps[(size_t)b * n + i];
        WR_TRY_GOTO(append(&o.sample, &smp, b, B));
        if (b == 0 && !(o.scaled = malloc(n * (size_t)B * sizeof(float)))) {
            st = wr_fail(WR_E_OOM, "out of memory");
            goto fail;
        }
        upscale_vae_latent_to_dit(&smp, o.scaled + (size_t)b * n);
    }
    const vae_vol *sm = &o.shape_m, *sl = &o.shape_l, *sv = &o.shape_d;
    wr_st_entry ent[6] = {
        {.name = "moments", .dtype = WR_DTYPE_F32, .n_dims = 5, .shape = {B, sm->c, sm->t, sm->h, sm->w}, .data = o.moments},
        {.name = "posterior_mean", .dtype = WR_DTYPE_F32, .n_dims = 5, .shape = {B, sl->c, sl->t, sl->h, sl->w}, .data = o.mean},
        {.name = "posterior_std", .dtype = WR_DTYPE_F32, .n_dims = 5, .shape = {B, sl->c, sl->t, sl->h, sl->w}, .data = o.std},
        {.name = "decoded_from_mean", .dtype = WR_DTYPE_F32, .n_dims = 5, .shape = {B, sv->c, sv->t, sv->h, sv->w}, .data = o.decoded},
        {.name = "latent_sample", .dtype = WR_DTYPE_F32, .n_dims = 5, .shape = {B, sl->c, sl->t, sl->h, sl->w}, .data = o.sample},
        {.name = "latent_scaled_btHWc", .dtype = WR_DTYPE_F32, .n_dims = 5, .shape = {B, sl->t, sl->h, sl->w, sl->c}, .data = o.scaled},
    };
    WR_TRY_GOTO(wr_safetensors_write(outp, ent, eps ? 6 : 4, NULL, 0));
    printf("encoded video [%d, %d, %d, %d, %d] -> moments [%d, %d, %d, %d, %d], decoded the mean -> [%d, %d, %d, %d, %d] in %s\n",
           B, d[1], d[2], d[3], d[4], B, sm->c, sm->t, sm->h, sm->w, B, sv->c, sv->t, sv->h, sv->w, outp);
fail:
    vae_vol_free(&in), vae_vol_free(&mom), vae_vol_free(&mean), vae_vol_free(&sd), vae_vol_free(&dec), vae_vol_free(&smp);
    free(o.moments), free(o.mean), free(o.std), free(o.decoded), free(o.sample), free(o.scaled);
    free(all), free(eps);
    wr_weightfile_close(&cs);
    return st;
}

int cmd_upscale_vae(int argc, char **argv)
{
    const char *vae = NULL, *inputs = NULL, *outp = NULL;
    long long split = 4, groups = 0;
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
        else if (!strcmp(a, "--split") && has) {
            if (!cli_parse_int(a, argv[++i], 0, 1 << 20, &split))
                return 2;
        } else if (!strcmp(a, "--groups") && has) {
            if (!cli_parse_int(a, argv[++i], 1, 4096, &groups))
                return 2;
        } else {
            fprintf(stderr, "wanrt upscale-vae: unknown or incomplete option '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (!vae || !inputs || !outp) {
        fputs(usage, stderr);
        return 2;
    }
    wr_weightfile wf;
    wr_status st = wr_weightfile_open(&wf, vae);
    if (st != WR_OK)
        return cli_report("upscale-vae", st);
    upscale_vae *m = NULL;
    st = upscale_vae_load(&m, &wf, (int)groups);
    if (st == WR_OK)
        st = run_case(m, inputs, outp, (int)split);
    upscale_vae_free(m);
    wr_weightfile_close(&wf);
    return st == WR_OK ? 0 : cli_report("upscale-vae", st);
}
