/* The GPU backend behind runtime/backend.h: the op launchers of runtime/gpu/<op>.c on the
 * emulator ("emu") or a CUDA device ("cuda"), selected with --device / WANRT_DEVICE.
 *
 * Operands in device memory (runtime/buffers.h: buffers and placed weights) are used in place.
 * Host tensors are staged:
 *   - emu: device memory is host memory, so contiguous tensors are used in place; strided row
 *     views (a modulation chunk of [T, 6, D]) are packed into a contiguous copy first;
 *   - cuda: every operand is copied to device memory before the launch and the outputs back
 *     after it (correct, but slow: models that run long on a device keep their activations in
 *     buffers and place their weights).
 * Ops without a GPU kernel (timestep embedding; matmul weights other than F32/BF16/F8_E4M3FN/Q8_0;
 * attention head dims other than 64/128) run on the CPU backend on the host tensors.
 * Device failures abort with the device's message (the op interface returns no status).
 * WANRT_GPU_PRECISION=bf16 runs matmul and attention on the bf16 tensor-core kernels
 * (default fp32, which matches the CPU backend to fp32 rounding); =int8 runs Q8_0 matmuls with
 * int8 activations (kernels/matmul_q.cu, the CPU's WANRT_Q8_ACT=int8 arithmetic), =fp8 also
 * fp8-e4m3 weights with e4m3 activations; below sm_80 / sm_89 those stay fp32 (warned once). In sage attention mode
 * (wr_attention_mode_set) attention runs kernels/attention_sage.cu: fp16 P·V on sm_80/86, e4m3
 * P·V from sm_89; below sm_80 or for other head dims the CPU twin. */
#ifndef WR_BACKEND_GPU_H
#define WR_BACKEND_GPU_H

#include "runtime/backend.h"
#include "runtime/gpu/gpu.h"

/* Opens the device and returns the backend (one GPU backend per process). */
wr_status wr_backend_gpu_open(wr_gpu_kind kind, const wr_gpu_options *opts, const wr_backend **out);
/* Closes the device; a later open starts afresh. Selects the CPU backend if this one was current. */
void wr_backend_gpu_close(void);
/* The open device (NULL when none), e.g. for launch counts in tests. */
wr_gpu *wr_backend_gpu_device(void);

/* Bytes of host tensors ops were given since the device opened: copied per op on CUDA (used in
 * place on the emulator). A forward whose activations are buffers and whose weights are placed
 * (runtime/buffers.h) adds nothing here. */
size_t wr_backend_gpu_host_operand_bytes(void);
/* How placement on this backend sizes n weight tensors in groups (group[i] of tensor i): the device
 * bytes per group added to groups[] (each tensor rounded to WR_PLACE_ALIGN), and into *host_only
 * the bytes of tensors no device kernel reads (they stay in host memory). For the planners. */
void wr_backend_gpu_group_bytes(wr_tensor *const *tensors, const int *group, int n, size_t *groups, size_t *host_only);

/* Device bytes of the RoPE tables the backend keeps for a grid of `tokens` tokens. */
size_t wr_backend_gpu_rope_table_bytes(int64_t tokens);

/* Selects the backend of a run: `device_arg` (--device) or WANRT_DEVICE or "cpu" (see
 * wr_gpu_select). Leaves the CPU backend selected on failure. */
wr_status wr_backend_choose(const char *device_arg);

#endif
