/* wan22_generate's hooks on the tiny models: the preview's x0 and decoded first frame equal the
 * final latent and video (Euler ends with x = x0 exactly, and the VAE is causal), an interrupt
 * stops the loop after the step and hands out the latent, and Ctrl-C on the real command exits
 * 130, keeps the latent in --save-latent and writes no video. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "models/tiny_models.h"
#include "models/wan22/pipeline.h"
#include "runtime/interrupt.h"
#include "runtime/io/weightfile.h"

static char dir[256], path[8][300];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/wanrt-hooks-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(wr_make_tiny_models(dir), WR_OK, "%s", wr_last_error());
    const char *names[] = {"wan22_t2v_high_noise.safetensors", "wan22_t2v_low_noise.safetensors",
                           "umt5_tiny.safetensors", "tokenizer.model", "wan21_vae_tiny.safetensors"};
    for (int i = 0; i < 5; i++)
        snprintf(path[i], sizeof path[i], "%s/%s", dir, names[i]);
    wr_interrupt_clear();
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    wr_interrupt_clear();
}

static wan22_gen tiny_gen(int steps)
{
    wan22_gen g = {.mode = WAN22_MODE_T2V, .high_noise = path[0], .low_noise = path[1], .t5 = path[2],
                   .tokenizer = path[3], .vae = path[4], .prompt = "a red fox", .width = 32, .height = 32,
                   .frames = 9, .steps = steps, .split = steps / 2, .shift = 8.0, .sampler = WAN22_SAMPLER_EULER,
                   .cfg = {1.0f}, .n_cfg = 1, .seed = 3};
    return g;
}

typedef struct seen {
    int calls, last_step;
    vae_vol x0, frame0;
    int stop_after; /* interrupt after this many denoising steps (0: never) */
    int steps_done;
} seen;

static void on_preview(void *ctx, int step, int total, const vae_vol *x0, const vae_vol *frames)
{
    seen *s = ctx;
    cr_assert_leq(step, total);
    cr_assert_eq(frames->c, 3);
    cr_assert(frames->t >= 1 && frames->t <= 3, "%d preview frames", frames->t);
    s->calls++;
    s->last_step = step;
    vae_vol_free(&s->x0), vae_vol_free(&s->frame0);
    cr_assert_eq(vae_vol_alloc(&s->x0, x0->c, x0->t, x0->h, x0->w), WR_OK);
    memcpy(s->x0.d, x0->d, vae_vol_size(x0) * sizeof(float));
    cr_assert_eq(vae_vol_alloc(&s->frame0, 3, 1, frames->h, frames->w), WR_OK);
    size_t plane = (size_t)frames->h * frames->w;
    for (int c = 0; c < 3; c++)
        memcpy(s->frame0.d + c * plane, frames->d + (size_t)c * frames->t * plane, plane * sizeof(float));
}

static void on_progress(void *ctx, const char *stage, int step, int total, double seconds)
{
    seen *s = ctx;
    (void)total, (void)seconds;
    if (!strncmp(stage, "denoise", 7) && step > 0 && ++s->steps_done == s->stop_after)
        wr_interrupt_raise();
}

TestSuite(hooks, .init = setup, .fini = teardown);

Test(hooks, preview_x0_and_first_frame_equal_the_final_result)
{
    wan22_gen g = tiny_gen(4);
    seen s = {0};
    wan22_hooks h = {.progress = on_progress, .preview = on_preview, .preview_every = 2, .ctx = &s};
    vae_vol video = {0}, latent = {0};
    cr_assert_eq(wan22_generate(&g, &h, &video, &latent), WR_OK, "%s", wr_last_error());
    cr_assert_eq(s.calls, 2, "previews after steps 2 and 4, got %d", s.calls);
    cr_assert_eq(s.last_step, 4);
    double worst = 0;
    for (size_t i = 0; i < vae_vol_size(&latent); i++)
        worst = fmax(worst, fabs((double)s.x0.d[i] - (double)latent.d[i]));
    cr_assert_leq(worst, 1e-5, "Euler's last step lands on x0: max diff %g", worst);
    size_t plane = (size_t)video.h * video.w;
    worst = 0;
    for (int c = 0; c < 3; c++)
        for (size_t p = 0; p < plane; p++)
            worst = fmax(worst, fabs((double)s.frame0.d[c * plane + p] - (double)video.d[(size_t)c * video.t * plane + p]));
    cr_assert_leq(worst, 1e-5, "the preview's first frame is the video's first frame: max diff %g", worst);
    vae_vol_free(&video), vae_vol_free(&latent), vae_vol_free(&s.x0), vae_vol_free(&s.frame0);
}

Test(hooks, interrupt_stops_after_the_step_and_keeps_the_latent)
{
    wan22_gen g = tiny_gen(6);
    seen s = {.stop_after = 2};
    wan22_hooks h = {.progress = on_progress, .ctx = &s};
    vae_vol video = {0}, latent = {0};
    cr_assert_eq(wan22_generate(&g, &h, &video, &latent), WR_E_INTERRUPTED);
    cr_assert_eq(s.steps_done, 2, "no step after the request (ran %d)", s.steps_done);
    cr_assert_null(video.d, "no video from an interrupted run");
    cr_assert_not_null(latent.d);
    cr_assert(latent.c == 16 && latent.t == 3 && latent.h == 4 && latent.w == 4);
    for (size_t i = 0; i < vae_vol_size(&latent); i++)
        cr_assert(isfinite(latent.d[i]));
    vae_vol_free(&latent);
}

static const char *bin(void)
{
    const char *b = getenv("WANRT_BIN");
    return b && *b ? b : "build/release/wanrt";
}

Test(hooks, ctrl_c_exits_130_keeps_the_latent_and_writes_no_video)
{
    char out[400], lat[400], steps[16];
    snprintf(out, sizeof out, "%s/out.mp4", dir);
    snprintf(lat, sizeof lat, "%s/kept.safetensors", dir);
    snprintf(steps, sizeof steps, "%d", 1000);
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fd[1], STDERR_FILENO);
        close(fd[0]);
        execl(bin(), bin(), "generate", "--high-noise", path[0], "--low-noise", path[1], "--t5", path[2],
              "--tokenizer", path[3], "--vae", path[4], "--width", "32", "--height", "32", "--frames", "5",
              "--steps", steps, "--sampler", "euler", "--prompt", "a fox", "--save-latent", lat, "-o", out,
              (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    FILE *err = fdopen(fd[0], "r");
    char line[512];
    int signalled = 0;
    while (fgets(line, sizeof line, err))
        if (!signalled && strstr(line, "denoise-high step 2/")) {
            kill(pid, SIGINT);
            signalled = 1;
        }
    fclose(err);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(signalled, "the run never reported step 2");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 130, "exit status %d", WEXITSTATUS(status));
    cr_assert_neq(access(out, F_OK), 0, "an interrupted run wrote %s", out);
    wr_weightfile wf;
    cr_assert_eq(wr_weightfile_open(&wf, lat), WR_OK, "%s", wr_last_error());
    const char *state = wr_weightfile_meta(&wf, "state");
    cr_assert(state && !strcmp(state, "interrupted"), "state %s", state ? state : "(none)");
    cr_assert_not_null(wr_weightfile_find(&wf, "latent"));
    wr_weightfile_close(&wf);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls -a %s | grep -c tmp", dir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(line, sizeof line, p));
    pclose(p);
    cr_assert_eq(atoi(line), 0, "temporary files left behind");
}

Test(hooks, vae_tiling_reaches_the_final_decode)
{
    wan22_gen g = tiny_gen(2);
    g.width = 96, g.height = 64;
    vae_vol plain = {0}, one_tile = {0}, tiled = {0};
    cr_assert_eq(wan22_generate(&g, NULL, &plain, NULL), WR_OK, "%s", wr_last_error());
    cr_assert_eq(vae_tiling_parse("on", &g.vae_tile), WR_OK); /* 272 px: the frame fits one tile */
    cr_assert_eq(wan22_generate(&g, NULL, &one_tile, NULL), WR_OK, "%s", wr_last_error());
    cr_assert_eq(memcmp(plain.d, one_tile.d, vae_vol_size(&plain) * sizeof(float)), 0,
                 "one tile covering the frame must equal the untiled decode");
    cr_assert_eq(vae_tiling_parse("48,48,32,32", &g.vae_tile), WR_OK);
    cr_assert_eq(wan22_generate(&g, NULL, &tiled, NULL), WR_OK, "%s", wr_last_error());
    cr_assert(tiled.c == 3 && tiled.t == 9 && tiled.h == 64 && tiled.w == 96);
    cr_assert_neq(memcmp(plain.d, tiled.d, vae_vol_size(&plain) * sizeof(float)), 0,
                  "small tiles were not used (seams change the tiny random VAE's output)");
    vae_vol_free(&plain), vae_vol_free(&one_tile), vae_vol_free(&tiled);
}
