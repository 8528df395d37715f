/* wanrt run RECIPE on the tiny models: a generate -> interpolate -> encode recipe gives the
 * video the stages promise; bad recipes fail before any stage runs, naming file and line. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/video.h"
#include "models/tiny_models.h"
#include "runtime/io/safetensors_write.h"
#include "tests/common/testutil.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/wanrt-run-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char m[300];
    snprintf(m, sizeof m, "%s/m", dir);
    cr_assert_eq(wr_make_tiny_models(m), WR_OK, "%s", wr_last_error());
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Absolute, because the recipe runs from inside the temporary folder. */
static const char *bin(void)
{
    static char abs[4096];
    const char *b = getenv("WANRT_BIN");
    cr_assert_not_null(realpath(b && *b ? b : "build/release/wanrt", abs), "the wanrt binary is not built");
    return abs;
}

/* Writes the recipe text (with %1$s standing for the temp folder) and runs it; returns the exit
 * code and leaves stderr in log. */
static int run_recipe(const char *text, char *log, size_t log_size)
{
    char path[400], cmd[5000], body[8192];
    snprintf(body, sizeof body, text, dir);
    snprintf(path, sizeof path, "%s/r.recipe", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(body, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cd %s && %s run r.recipe 2> log.txt", dir, bin());
    int rc = system(cmd);
    snprintf(path, sizeof path, "%s/log.txt", dir);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(log, 1, log_size - 1, f);
    log[n] = '\0';
    fclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static const char generate_section[] =
    "[generate]\n"
    "high-noise = \"m/wan22_i2v_high_noise.safetensors\"  # quoted, with a comment\n"
    "low-noise = m/wan22_i2v_low_noise.safetensors\n"
    "t5 = m/umt5_tiny.safetensors\ntokenizer = m/tokenizer.model\nvae = m/wan21_vae_tiny.safetensors\n"
    "image = m/start.png\nprompt = \"a cat \\\"walks\\\" # inside the string\"\n"
    "width = 32\nheight = 32\nframes = 5\nsteps = 2\ncfg = \"2,1\"\n";

TestSuite(run, .init = setup, .fini = teardown, .timeout = 300);

Test(run, generate_upscale_interpolate_encode)
{
    char text[8192], log[16384], rife[1024], dit[1024], vae[1024], emb[400];
    cr_assert_not_null(realpath(wr_test_shared("golden/post/rife47_weights.pth"), rife));
    cr_assert_not_null(realpath(wr_test_shared("golden/post/seedvr2_dit_tiny_weights.safetensors"), dit));
    cr_assert_not_null(realpath(wr_test_shared("golden/post/seedvr2_vae_tiny_weights.safetensors"), vae));
    static float pos[3 * 48];
    for (int i = 0; i < 3 * 48; i++)
        pos[i] = (float)(i % 7) / 7.0f - 0.5f;
    snprintf(emb, sizeof emb, "%s/pos_emb.safetensors", dir);
    wr_st_entry e = {.name = "pos_emb", .dtype = WR_DTYPE_F32, .n_dims = 2, .shape = {3, 48}, .data = pos};
    cr_assert_eq(wr_safetensors_write(emb, &e, 1, NULL, 0), WR_OK);
    snprintf(text, sizeof text,
             "# the tiny workflow\nout = final.mp4\nthreads = 2\n%s"
             "[upscale]\nmodel = %s\nvae = %s\ntext = pos_emb.safetensors\nresolution = 48\n"
             "[interpolate]\nmodel = %s\nmultiplier = 2\n[encode]\ncrf = 18\n",
             generate_section, dit, vae, rife);
    cr_assert_eq(run_recipe(text, log, sizeof log), 0, "run failed:\n%s", log);
    cr_assert_not_null(strstr(log, "--prompt 'a cat \"walks\" # inside the string'"), "quoting:\n%s", log);
    char p[400];
    snprintf(p, sizeof p, "%s/final.generate.last.png", dir);
    cr_assert_eq(access(p, F_OK), 0, "the generate stage's exact last frame is kept");
    snprintf(p, sizeof p, "%s/final.mp4", dir);
    wr_frames v;
    cr_assert_eq(wr_video_read(p, &v), WR_OK, "%s", wr_last_error());
    cr_assert_eq(v.count, 9, "(5 - 1) * 2 + 1 frames, got %d", v.count);
    cr_assert(v.width == 48 && v.height == 48, "upscaled to 48x48, got %dx%d", v.width, v.height);
    cr_assert_float_eq(v.fps, 32.0, 1e-6, "16 fps doubled, got %g", v.fps);
    wr_frames_free(&v);
}

static void expect_failure(const char *text, const char *message)
{
    char log[16384];
    int rc = run_recipe(text, log, sizeof log);
    cr_assert_neq(rc, 0, "should fail:\n%s", log);
    cr_assert_not_null(strstr(log, message), "expected '%s' in:\n%s", message, log);
    cr_assert_null(strstr(log, "== stage"), "no stage may start:\n%s", log);
}

Test(run, bad_recipes_fail_before_any_stage)
{
    char text[4096];
    expect_failure("out = x.mp4\n[generate]\nprompt = \"unterminated\n", "r.recipe:3: unterminated string");
    expect_failure("out = x.mp4\n[generat]\n", "r.recipe:2: unknown stage [generat]");
    expect_failure("[encode]\nin = m/start.png\n", "needs a top-level `out = FILE`");
    expect_failure("out = x.mp4\n[encode]\ncrf = 3\n[encode]\n", "r.recipe:4: section [encode] appears twice");
    expect_failure("out = x.mp4\n[interpolate]\nmodel = m/none.pth\n", "[interpolate] is the first stage");
    expect_failure("out = x.mp4\nthis line has no equals sign\n", "r.recipe:2: expected key = value");
    snprintf(text, sizeof text, "out = x.mp4\n%slora = m/missing.safetensors:3.0@high\n", generate_section);
    expect_failure(text, "lora file m/missing.safetensors cannot be read");
    snprintf(text, sizeof text, "out = x.mp4\n%s[upscale]\nmodel = m/nothing.safetensors\n", generate_section);
    expect_failure(text, "r.recipe:16: model file m/nothing.safetensors cannot be read");
    char p[400];
    snprintf(p, sizeof p, "%s/x.mp4", dir);
    cr_assert_neq(access(p, F_OK), 0);
}
