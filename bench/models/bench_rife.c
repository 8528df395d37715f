/* RIFE 4.7 interpolation speed on the CPU (make bench; not a test): seconds per interpolated
 * frame at 640x360, 1280x720 and 1920x1080 from the rife47 weights in ../shared/golden/post
 * (same architecture and sizes as the real rife47.pth), and each size's time per pixel as a
 * ratio to the 640x360 run of this process. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "rife/rife.h"
#include "runtime/threadpool.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(void)
{
    const char *shared = getenv("WANRT_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/golden/post/rife47_weights.safetensors", shared && *shared ? shared : "../shared");
    wr_weightfile wf;
    rife *m;
    if (wr_weightfile_open(&wf, path) != WR_OK || rife_load(&m, &wf) != WR_OK) {
        fprintf(stderr, "bench_rife: %s (the shared reference data is needed)\n", wr_last_error());
        return 1;
    }
    static const int sizes[][2] = {{640, 360}, {1280, 720}, {1920, 1080}};
    double ref_per_px = 0;
    printf("RIFE 4.7 on the CPU, %d threads, one interpolated frame per size (t = 0.5, scale 1)\n",
           wr_threads_count());
    printf("%-10s %12s %10s %16s\n", "size", "s/frame", "fps", "s/px vs 640x360");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int w = sizes[i][0], h = sizes[i][1];
        size_t n = (size_t)3 * w * h;
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *o = malloc(n * sizeof *o);
        for (size_t j = 0; j < n; j++) { /* a smooth pattern moving by 4 px */
            size_t x = j % (size_t)w, y = j / (size_t)w % (size_t)h;
            a[j] = (float)((x * 7 + y * 3) % 256) / 255.0f;
            b[j] = (float)(((x + 4) * 7 + y * 3) % 256) / 255.0f;
        }
        double t0 = now();
        if (rife_interpolate(m, a, b, h, w, 0.5f, 1.0f, false, o) != WR_OK) {
            fprintf(stderr, "bench_rife: %s\n", wr_last_error());
            return 1;
        }
        double s = now() - t0, per_px = s / ((double)w * h);
        if (i == 0)
            ref_per_px = per_px;
        printf("%4dx%-5d %12.3f %10.3f %16.2f\n", w, h, s, 1.0 / s, per_px / ref_per_px);
        free(a), free(b), free(o);
    }
    rife_free(m);
    wr_weightfile_close(&wf);
    return 0;
}
