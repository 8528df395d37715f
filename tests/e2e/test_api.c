/* The public API (include/wanrt.h): jobs built from key/value settings run the commands in
 * process, refuse unknown jobs and settings with a message, and report a failed job. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "include/wanrt.h"
#include "media/video.h"
#include "models/tiny_models.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/wanrt-api-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(wr_make_tiny_models(dir), WR_OK, "%s", wr_last_error());
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(api, .init = setup, .fini = teardown, .timeout = 120);

static void set_file(wanrt_job *j, const char *key, const char *name)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    cr_assert_eq(wanrt_job_set(j, key, p), WANRT_OK, "%s", wanrt_last_error());
}

Test(api, generate_job_writes_the_video)
{
    wanrt_job *j;
    cr_assert_eq(wanrt_job_new("generate", &j), WANRT_OK);
    set_file(j, "high-noise", "wan22_t2v_high_noise.safetensors");
    set_file(j, "t5", "umt5_tiny.safetensors");
    set_file(j, "tokenizer", "tokenizer.model");
    set_file(j, "vae", "wan21_vae_tiny.safetensors");
    set_file(j, "out", "clip.mkv");
    const char *kv[][2] = {{"prompt", "a red fox"}, {"width", "32"}, {"height", "32"}, {"frames", "5"},
                           {"steps", "2"}, {"seed", "3"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        cr_assert_eq(wanrt_job_set(j, kv[i][0], kv[i][1]), WANRT_OK);
    cr_assert_eq(wanrt_set_threads(2), WANRT_OK);
    cr_assert_eq(wanrt_job_run(j), WANRT_OK, "%s", wanrt_last_error());
    wanrt_job_free(j);
    char p[400];
    snprintf(p, sizeof p, "%s/clip.mkv", dir);
    wr_frames v;
    cr_assert_eq(wr_video_read(p, &v), WR_OK, "%s", wr_last_error());
    cr_assert(v.count == 5 && v.width == 32 && v.height == 32);
    wr_frames_free(&v);
}

Test(api, bad_jobs_and_settings_are_refused)
{
    wanrt_job *j = NULL;
    cr_assert_eq(wanrt_job_new("render", &j), WANRT_E_ARG);
    cr_assert(strstr(wanrt_last_error(), "unknown job 'render'"), "%s", wanrt_last_error());
    cr_assert_eq(wanrt_job_new("generate", &j), WANRT_OK);
    cr_assert_eq(wanrt_job_set(j, "--prompt", "x"), WANRT_E_ARG);
    cr_assert_eq(wanrt_job_set(j, "no-such-flag", "1"), WANRT_OK); /* the command judges its flags */
    set_file(j, "out", "never.mp4");
    cr_assert_eq(wanrt_job_run(j), WANRT_E_FAILED);
    cr_assert(strstr(wanrt_last_error(), "exit code 2"), "%s", wanrt_last_error());
    wanrt_job_free(j);
    cr_assert_eq(wanrt_job_new("generate", &j), WANRT_OK);
    set_file(j, "high-noise", "missing.safetensors");
    cr_assert_eq(wanrt_job_set(j, "prompt", "x"), WANRT_OK);
    set_file(j, "out", "never.mp4");
    cr_assert_eq(wanrt_job_run(j), WANRT_E_FAILED);
    cr_assert(strstr(wanrt_last_error(), "missing.safetensors"), "the reason names the file: %s", wanrt_last_error());
    wanrt_job_free(j);
    char p[400];
    snprintf(p, sizeof p, "%s/never.mp4", dir);
    cr_assert_neq(access(p, F_OK), 0);
    cr_assert_eq(wanrt_set_threads(0), WANRT_E_ARG);
    cr_assert_eq(wanrt_set_device("tpu"), WANRT_E_ARG);
    cr_assert_eq(wanrt_set_device("cpu"), WANRT_OK);
}
