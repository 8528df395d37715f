/* The table of subcommands: the wanrt binary and the library's job API (include/wanrt.h) both
 * dispatch through it. */
#include "cli/commands.h"

#include <string.h>

const cli_command cli_commands[] = {
    {"generate", cmd_generate, "prompt (+ image) to video: t2v, i2v, flf2v, ti2v"},
    {"run", cmd_run, "run a whole workflow recipe: generate -> upscale -> concat -> interpolate -> encode"},
    {"extend", cmd_extend, "chain image-to-video segments by their exact last frames into one clip"},
    {"interpolate", cmd_interpolate, "RIFE 4.7/4.9 frame interpolation (x2, x3, ...) of a video or frame folder"},
    {"upscale", cmd_upscale, "SeedVR2 one-step upscaling of a video or frame folder (e.g. 720p -> 1080p)"},
    {"upscale-dit", cmd_upscale_dit, "run the SeedVR2 DiT (3B/7B) on a case file (golden replay)"},
    {"make-tiny-models", cmd_make_tiny_models, "write tiny random-weight models (all formats) for demos and tests"},
    {"plan", cmd_plan, "the memory a generate or upscale job will need, planned without running it"},
    {"info", cmd_info, "show a weight file's format, metadata, tensors and model kind"},
    {"frames", cmd_frames, "split a video into numbered PNG frames"},
    {"last-frame", cmd_last_frame, "write the exact last frame of a video or frame directory as PNG"},
    {"encode", cmd_encode, "encode a frame directory or video to .mp4 (H.264), .mkv (FFV1) or .y4m"},
    {"concat", cmd_concat, "join clips of the same size into one video"},
    {"dit", cmd_dit, "run the Wan DiT on a case file (golden replay)"},
    {"schedule", cmd_schedule, "print a sampler's sigmas, timesteps and expert per step"},
    {"vae-encode", cmd_vae_encode, "encode a video case with the Wan 2.1 or 2.2 VAE"},
    {"vae-decode", cmd_vae_decode, "decode a latent case with the Wan 2.1 or 2.2 VAE"},
    {"upscale-vae", cmd_upscale_vae, "SeedVR2 video VAE: encode a video case, decode its posterior mean"},
    {"tokenize", cmd_tokenize, "clean and tokenize a prompt (SentencePiece unigram)"},
    {"t5", cmd_t5, "encode a prompt or a case file with the umT5 encoder"},
    {"devices", cmd_devices, "list the usable backends (--device cpu|emu|cuda), NVRTC and the kernel cache"},
    {NULL, NULL, NULL},
};

const cli_command *cli_command_find(const char *name)
{
    for (const cli_command *c = cli_commands; c->name; c++)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}
