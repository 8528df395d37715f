/* Model detection on every golden weight file. */
#include <criterion/criterion.h>
#include <string.h>

#include "models/detect.h"
#include "tests/common/testutil.h"

Test(detect, golden_weight_files)
{
    struct { const char *file; wr_model_kind kind; const char *needle; } cases[] = {
        {"golden/gguf/dit_t2v_Q8_0.gguf", WR_MODEL_WAN_DIT, "t2v: dim 256, 2 heads, 2 layers, ffn 512, in 16, out 16"},
        {"golden/dit/dit_i2v_weights.safetensors", WR_MODEL_WAN_DIT, "i2v: dim 256, 2 heads, 2 layers, ffn 512, in 36, out 16"},
        {"golden/dit/dit_ti2v_weights.safetensors", WR_MODEL_WAN_DIT, "ti2v: dim 256, 2 heads, 2 layers, ffn 512, in 48, out 48"},
        {"golden/vae21/vae21_weights.safetensors", WR_MODEL_WAN_VAE21, "latent channels 16"},
        {"golden/vae22/vae22_weights.safetensors", WR_MODEL_WAN_VAE22, "latent channels 48"},
        {"golden/t5/t5_weights.safetensors", WR_MODEL_UMT5, "vocab 512, dim 64, 4 heads"},
        {"golden/post/rife47_weights.pth", WR_MODEL_RIFE, "RIFE"},
        {"golden/post/rife47_weights_module_prefix_subset.pth", WR_MODEL_RIFE, "RIFE"},
        {"golden/post/seedvr2_dit_tiny_weights.safetensors", WR_MODEL_SEEDVR2, "SeedVR2 DiT"},
        {"golden/post/seedvr2_vae_tiny_weights.safetensors", WR_MODEL_SEEDVR2, "SeedVR2 video VAE"},
        {"golden/sched/sched_tables.safetensors", WR_MODEL_UNKNOWN, "unknown"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wr_weightfile wf;
        wr_test_open(&wf, wr_test_shared(cases[i].file));
        char desc[512];
        cr_assert_eq(wr_detect_model(&wf, desc, sizeof desc), cases[i].kind, "%s: %s", cases[i].file, desc);
        cr_assert(strstr(desc, cases[i].needle), "%s: '%s' lacks '%s'", cases[i].file, desc, cases[i].needle);
        wr_weightfile_close(&wf);
    }
}
