/* VAE memory plans and CPU timings (make bench; not a test).
 *  1. The planner (vae/vae_plan.h) for the official configs (2.1: dim 96; 2.2: dims 160/256;
 *     BF16 weights) at 1280x720x81 and 832x480x81, untiled and tiled with the WanVideoWrapper
 *     defaults (272 px tiles, strides 144 x 128).
 *  2. Encode/decode time per frame on the CPU at small sizes with the tiny models of
 *     `wanrt make-tiny-models` (base dim 16 / dims 8 and 16: the real layouts, scaled down),
 *     untiled and tiled, with the planned and the measured working memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "models/tiny_models.h"
#include "runtime/threadpool.h"
#include "vae/vae_plan.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double gib(size_t b) { return (double)b / (1024.0 * 1024.0 * 1024.0); }
static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

static void print_plans(void)
{
    static const int sizes[][3] = {{1280, 720, 81}, {832, 480, 81}};
    vae_tiling tiled = vae_tiling_defaults(VAE_TILE_ON);
    printf("planned peak memory, official configs, BF16 weights (GiB: weights + working = peak)\n");
    printf("  %-4s %-6s %-13s %-8s %6s %9s %9s %9s %7s\n", "vae", "pass", "size", "tiling", "tiles", "weights",
           "working", "peak", "output");
    for (int is22 = 0; is22 < 2; is22++) {
        vae_plan_config c = vae_plan_config_official(is22);
        for (int s = 0; s < 2; s++)
            for (int dec = 1; dec >= 0; dec--)
                for (int tl = 0; tl < 2; tl++) {
                    vae_plan p;
                    wr_status st = dec ? vae_plan_decode(&c, sizes[s][2], sizes[s][1], sizes[s][0], tl ? &tiled : NULL, &p)
                                       : vae_plan_encode(&c, sizes[s][2], sizes[s][1], sizes[s][0], tl ? &tiled : NULL, &p);
                    if (st != WR_OK) {
                        printf("  plan failed: %s\n", wr_last_error());
                        continue;
                    }
                    char size[32];
                    snprintf(size, sizeof size, "%dx%dx%d", sizes[s][0], sizes[s][1], sizes[s][2]);
                    printf("  %-4s %-6s %-13s %-8s %6d %9.2f %9.2f %9.2f %7.2f\n", is22 ? "2.2" : "2.1",
                           dec ? "decode" : "encode", size, tl ? "272/144" : "off", p.tiles, gib(p.weights), gib(p.work),
                           gib(p.peak), gib(p.output));
                }
    }
}

static void time_tiny(const char *dir)
{
    static const char *const files[2] = {"wan21_vae_tiny.safetensors", "wan22_vae_tiny.safetensors"};
    static const int sizes[][3] = {{64, 64, 9}, {128, 128, 9}, {256, 256, 5}};
    printf("\nCPU time per frame, tiny models (%d threads); working memory planned / measured (MiB)\n",
           wr_threads_count());
    printf("  %-4s %-12s %-8s %12s %12s %16s %16s\n", "vae", "size", "tiling", "enc ms/frame", "dec ms/frame",
           "enc plan/meas", "dec plan/meas");
    for (int k = 0; k < 2; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, files[k]);
        wr_weightfile wf;
        wan_vae v;
        if (wr_weightfile_open(&wf, path) != WR_OK || wan_vae_load(&v, &wf) != WR_OK) {
            printf("  %s: %s\n", path, wr_last_error());
            continue;
        }
        for (int s = 0; s < 3; s++)
            for (int tl = 0; tl < 2; tl++) {
                int w = sizes[s][0], h = sizes[s][1], f = sizes[s][2];
                vae_tiling t = {.mode = VAE_TILE_ON, .tile_w = 64, .tile_h = 64, .stride_w = 32, .stride_h = 32};
                vae_plan pe, pd;
                vae_plan_model(&v, 0, f, h, w, tl ? &t : NULL, &pe);
                vae_plan_model(&v, 1, f, h, w, tl ? &t : NULL, &pd);
                vae_vol video, lat, out;
                vae_vol_alloc(&video, 3, f, h, w);
                uint32_t x = 1;
                for (size_t i = 0; i < vae_vol_size(&video); i++)
                    x = x * 1664525u + 1013904223u, video.d[i] = (float)(x >> 8) / 8388608.0f - 1.0f;
                size_t base = vae_mem_current();
                vae_mem_reset_peak();
                double t0 = now();
                wr_status st = wan_vae_encode_tiled(&v, &video, tl ? &t : NULL, &lat);
                double te = now() - t0;
                size_t me = vae_mem_peak() - base;
                if (st != WR_OK) {
                    printf("  encode failed: %s\n", wr_last_error());
                    vae_vol_free(&video);
                    continue;
                }
                base = vae_mem_current();
                vae_mem_reset_peak();
                t0 = now();
                st = wan_vae_decode_tiled(&v, &lat, tl ? &t : NULL, &out);
                double td = now() - t0;
                size_t md = vae_mem_peak() - base;
                char size[32], pe_s[40], pd_s[40];
                snprintf(size, sizeof size, "%dx%dx%d", w, h, f);
                snprintf(pe_s, sizeof pe_s, "%.2f/%.2f", mib(pe.work), mib(me));
                snprintf(pd_s, sizeof pd_s, "%.2f/%.2f", mib(pd.work), mib(md));
                printf("  %-4s %-12s %-8s %12.1f %12.1f %16s %16s\n", k ? "2.2" : "2.1", size, tl ? "64/32" : "off",
                       1e3 * te / f, 1e3 * td / f, pe_s, pd_s);
                vae_vol_free(&video), vae_vol_free(&lat);
                if (st == WR_OK)
                    vae_vol_free(&out);
            }
        wan_vae_free(&v);
        wr_weightfile_close(&wf);
    }
}

int main(void)
{
    print_plans();
    char dir[] = "/tmp/wanrt-bench-vae-XXXXXX";
    if (!mkdtemp(dir) || wr_make_tiny_models(dir) != WR_OK) {
        printf("tiny models: %s\n", wr_last_error());
        return 1;
    }
    time_tiny(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
