/* SeedVR2 upscaling speed on the CPU with the tiny golden-config models (make bench; not a
 * test): seconds per output frame for 5 frames of 640x360 -> 540p and 1280x720 -> 1080p through
 * the whole pipeline (resize, VAE encode, one DiT step, decode, lab colour fix, FFV1 write), and
 * the 1080p time per output pixel as a ratio to the 540p run of this process. The tiny widths
 * make this a measure of the pipeline and its memory traffic, not of the real 3B's GEMMs. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "media/video.h"
#include "runtime/threadpool.h"
#include "upscale/upscale.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_upscale: %s: %s\n", what, wr_last_error());
    return 1;
}

int main(void)
{
    const char *shared = getenv("WANRT_SHARED");
    shared = shared && *shared ? shared : "../shared";
    char dp[4096], vp[4096], dir[] = "/tmp/wanrt-bench-up-XXXXXX";
    snprintf(dp, sizeof dp, "%s/golden/post/seedvr2_dit_tiny_weights.safetensors", shared);
    snprintf(vp, sizeof vp, "%s/golden/post/seedvr2_vae_tiny_weights.safetensors", shared);
    wr_weightfile dwf, vwf;
    upscale_dit *dit;
    upscale_vae *vae;
    if (wr_weightfile_open(&dwf, dp) || upscale_dit_load(&dit, &dwf) || wr_weightfile_open(&vwf, vp) ||
        upscale_vae_load(&vae, &vwf, 0))
        return fail("loading the tiny SeedVR2 models (the shared reference data is needed)");
    if (!mkdtemp(dir))
        return fail("mkdtemp");
    static float txt[5 * 48];
    for (int i = 0; i < 5 * 48; i++)
        txt[i] = (float)(i % 11) / 11.0f - 0.5f;
    upscale_models m = {.dit = dit, .vae = vae, .txt = txt, .txt_len = 5};
    static const int sizes[][3] = {{640, 360, 540}, {1280, 720, 1080}};
    double ref = 0;
    printf("SeedVR2 pipeline, tiny models, CPU, %d threads, 5 frames per run (one batch)\n", wr_threads_count());
    printf("%-22s %12s %16s\n", "input -> output", "s/frame", "s/px vs 540p");
    for (int s = 0; s < 2; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        wr_frames v;
        if (wr_frames_alloc(&v, w, h, 5, 16.0))
            return fail("alloc");
        for (size_t i = 0; i < (size_t)w * h * 3 * 5; i++)
            v.rgb[i] = (uint8_t)((i * 2654435761u) >> 24);
        char in[4200], out[4200];
        snprintf(in, sizeof in, "%s/in%d/", dir, s);
        snprintf(out, sizeof out, "%s/out%d.mkv", dir, s);
        if (wr_video_write(in, &v, NULL))
            return fail("writing the input");
        wr_frames_free(&v);
        upscale_opts o = upscale_opts_default();
        o.resolution = sizes[s][2];
        int ow, oh, n;
        double t0 = now();
        if (upscale_video(&m, in, out, &o, &ow, &oh, &n))
            return fail("upscale");
        double per = (now() - t0) / n, per_px = per / ((double)ow * oh);
        if (s == 0)
            ref = per_px;
        char label[64];
        snprintf(label, sizeof label, "%dx%d -> %dx%d", w, h, ow, oh);
        printf("%-22s %12.3f %16.2f\n", label, per, per_px / ref);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_upscale: could not remove %s\n", dir);
    upscale_dit_free(dit), upscale_vae_free(vae);
    wr_weightfile_close(&dwf), wr_weightfile_close(&vwf);
    return 0;
}
