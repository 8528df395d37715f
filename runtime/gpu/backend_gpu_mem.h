/* Device memory of the GPU backend (internal): the buffers and placed weights ops use in place.
 * Every such range is registered, so an op can tell a device-resident operand (used as it is)
 * from a host tensor (staged through a copy). */
#ifndef WR_BACKEND_GPU_MEM_H
#define WR_BACKEND_GPU_MEM_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/buffers.h"
#include "runtime/gpu/gpu.h"

extern const wr_buffer_ops wr_gpu_buffer_ops;

/* Whether [p, p + bytes) lies inside one registered device range. */
bool gpu_mem_holds(const void *p, size_t bytes);
/* Registers / forgets a device range (backend-internal allocations such as cached tables). */
void gpu_mem_register(void *p, size_t bytes);
void gpu_mem_unregister(void *p);
/* Called when the device closes: forgets every range. */
void gpu_mem_reset(void);

/* Implemented by backend_gpu.c: whether its current configuration launches without allocating
 * (recordable), and a counter bumped whenever it reallocates device memory that kernels read
 * (recordings made before are stale). */
bool gpu_backend_recordable(void);
unsigned gpu_backend_generation(void);

#endif
