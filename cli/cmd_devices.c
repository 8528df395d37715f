/* wanrt devices: which backends this machine can run (--device cpu|emu|cuda, WANRT_DEVICE),
 * the NVRTC that compiles kernels, and the kernel cache folder. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "runtime/gpu/gpu.h"
#include "runtime/gpu/nvrtc.h"

int cmd_devices(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: wanrt devices\n\nLists the backends usable with --device (or WANRT_DEVICE):\n"
               "  cpu   the reference backend (always)\n  emu   the GPU kernels run by the CPU emulator\n"
               "  cuda  a CUDA GPU (driver libcuda + NVRTC, opened at run time)\n");
        return 0;
    }
    printf("cpu:   available (reference backend)\n");
    wr_gpu *g = NULL;
    if (wr_gpu_open(&g, WR_GPU_EMU, NULL) == WR_OK) {
        printf("emu:   available, %s\n", wr_gpu_name(g));
        wr_gpu_close(g);
    } else {
        printf("emu:   unavailable: %s\n", wr_last_error());
    }
    if (wr_gpu_open(&g, WR_GPU_CUDA, NULL) == WR_OK) {
        size_t free_b = 0, total_b = 0;
        wr_gpu_mem_info(g, &free_b, &total_b);
        printf("cuda:  %s, %.1f of %.1f GiB free\n", wr_gpu_name(g), (double)free_b / 1073741824.0,
               (double)total_b / 1073741824.0);
        wr_gpu_close(g);
    } else {
        printf("cuda:  unavailable: %s\n", wr_last_error());
    }
    const wr_nvrtc *nv;
    if (wr_nvrtc_get(&nv) == WR_OK)
        printf("nvrtc: %d.%d (%s), CUDA headers %s\n", nv->major, nv->minor, nv->lib_path, nv->include_dir);
    else
        printf("nvrtc: unavailable: %s\n", wr_last_error());
    char dir[1024];
    if (wr_jit_cache_dir(dir, sizeof dir) == WR_OK)
        printf("kernel cache: %s\n", dir);
    else
        printf("kernel cache: unavailable: %s\n", wr_last_error());
    return 0;
}
