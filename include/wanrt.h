/* wanrt: the public C API of libwanrt (build/release/libwanrt.a).
 *
 * The library runs the same jobs as the `wanrt` command line, so an application gets every
 * command with one small, stable interface: a job is a command name ("generate", "upscale",
 * "interpolate", "run", ...) plus key/value settings whose keys are the command's flags without
 * the leading dashes ("prompt", "width", "lora", ...; a key given twice repeats the flag, the
 * value "true" gives a bare flag). Inputs that the command takes as plain arguments (a video to
 * upscale, a recipe file) are added with wanrt_job_arg. Progress goes to stderr as in the CLI.
 *
 *     wanrt_job *j;
 *     wanrt_job_new("generate", &j);
 *     wanrt_job_set(j, "high-noise", "wan2.2_i2v_high_noise_14B_Q8_0.gguf");
 *     ...
 *     wanrt_job_set(j, "out", "clip.mp4");
 *     if (wanrt_job_run(j) != WANRT_OK)
 *         fprintf(stderr, "%s\n", wanrt_last_error());
 *     wanrt_job_free(j);
 *
 * wanrt_interrupt() asks a running job to stop after its current step (what Ctrl-C does);
 * the job then returns WANRT_E_INTERRUPTED and leaves no partial output. Jobs run one at a time
 * per process. */
#ifndef WANRT_H
#define WANRT_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wanrt_status {
    WANRT_OK = 0,
    WANRT_E_IO,          /* a file could not be opened, read or written */
    WANRT_E_FORMAT,      /* a file is malformed, truncated or of the wrong kind */
    WANRT_E_UNSUPPORTED, /* valid, but not implemented */
    WANRT_E_OOM,         /* out of memory */
    WANRT_E_DEVICE,      /* CUDA driver or device error */
    WANRT_E_JIT,         /* kernel compilation failed */
    WANRT_E_ARG,         /* a bad setting: unknown key, value out of range, missing input */
    WANRT_E_INTERRUPTED, /* stopped by wanrt_interrupt() or Ctrl-C */
    WANRT_E_FAILED       /* the job failed; wanrt_last_error() says why */
} wanrt_status;

const char *wanrt_version(void);
/* The message of the last failure on this thread. */
const char *wanrt_last_error(void);

/* The backend for the following jobs: "cpu", "emu" or "cuda". */
wanrt_status wanrt_set_device(const char *device);
wanrt_status wanrt_set_threads(int threads);
/* Async-signal-safe. */
void wanrt_interrupt(void);

typedef struct wanrt_job wanrt_job;

/* command: a `wanrt` subcommand (see `wanrt --help`). */
wanrt_status wanrt_job_new(const char *command, wanrt_job **out);
wanrt_status wanrt_job_set(wanrt_job *job, const char *key, const char *value);
wanrt_status wanrt_job_arg(wanrt_job *job, const char *value);
wanrt_status wanrt_job_run(wanrt_job *job);
void wanrt_job_free(wanrt_job *job);

#ifdef __cplusplus
}
#endif

#endif
