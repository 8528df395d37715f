/* wanrt: the reference command line. Dispatches to one function per subcommand. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "runtime/gpu/backend_gpu.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"generate", cmd_generate, "prompt (+ image) to video: t2v, i2v, flf2v, ti2v"},
    {"run", cmd_run, "run a whole workflow recipe: generate -> upscale -> concat -> interpolate -> encode"},
    {"extend", cmd_extend, "chain image-to-video segments by their exact last frames into one clip"},
    {"interpolate", cmd_interpolate, "RIFE 4.7/4.9 frame interpolation (x2, x3, ...) of a video or frame folder"},
    {"upscale", cmd_upscale, "SeedVR2 one-step upscaling of a video or frame folder (e.g. 720p -> 1080p)"},
    {"upscale-dit", cmd_upscale_dit, "run the SeedVR2 DiT (3B/7B) on a case file (golden replay)"},
    {"make-tiny-models", cmd_make_tiny_models, "write tiny random-weight models (all formats) for demos and tests"},
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
};

static void usage(FILE *out)
{
    fprintf(out, "usage: wanrt COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'wanrt COMMAND --help' describes a command.\n");
    fprintf(out, "Every command takes --device cpu|emu|cuda (default: $WANRT_DEVICE, else cpu).\n");
}

/* Removes a global "--device X" / "--device=X" from argv and selects that backend (or the one
 * WANRT_DEVICE names). Returns false after printing the error. */
static bool take_device(int *argc, char **argv)
{
    const char *dev = NULL;
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < *argc) {
            dev = argv[++i];
            continue;
        }
        if (strncmp(argv[i], "--device=", 9) == 0) {
            dev = argv[i] + 9;
            continue;
        }
        argv[out++] = argv[i];
    }
    *argc = out;
    if (wr_backend_choose(dev) != WR_OK) {
        fprintf(stderr, "wanrt: %s\n", wr_last_error());
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            if (!take_device(&argc, argv))
                return 2;
            int rc = commands[i].run(argc - 1, argv + 1);
            if (wr_backend_gpu_device())
                wr_gpu_report_jit();
            wr_backend_gpu_close();
            return rc;
        }
    fprintf(stderr, "wanrt: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
