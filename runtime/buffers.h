/* Where a model's activations and weights live while ops run on them.
 *
 * Buffers: memory of the current backend for activations that ops read and write in place: host
 * memory on the CPU backend, device memory on a GPU backend (then an op on buffer tensors copies
 * nothing). Host code never dereferences a buffer; it copies in and out with wr_buffer_write /
 * wr_buffer_read (pointers may be a buffer's base plus an offset).
 *
 * Placement: a model hands over its weight tensors in groups (e.g. one per transformer block).
 * On a GPU backend each resident group is copied once into device memory and the tensors'
 * data pointers are redirected there; a swapped group ("block swap") lives in pinned host memory
 * and is copied into one of two device slots when used, the next swapped group being prefetched
 * on a copy stream while the current one computes. wr_placement_use(p, g) before the ops of
 * group g makes g's tensors valid on the device. On the CPU backend placement does nothing and
 * wr_placement_create returns NULL, which every other call accepts. */
#ifndef WR_BUFFERS_H
#define WR_BUFFERS_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/err.h"
#include "runtime/tensor.h"

typedef struct wr_placement wr_placement;
typedef struct wr_recording wr_recording;

typedef struct wr_placement_spec {
    wr_tensor **tensors; /* n tensors; their data pointers are redirected while placed */
    const int *group;    /* group of tensor i, 0..n_groups-1 */
    int n, n_groups;
    const bool *swapped; /* per group: true = block-swapped (pinned host memory, copied in on use) */
} wr_placement_spec;

typedef struct wr_placement_stats {
    size_t resident_bytes; /* device memory of resident groups */
    size_t slot_bytes;     /* device memory of the two swap slots */
    size_t pinned_bytes;   /* pinned host memory of swapped groups */
    size_t copied_bytes;   /* host-to-device bytes copied by wr_placement_use so far */
    long copies;           /* group copies issued so far */
    int host_tensors;      /* tensors left in host memory (no device kernel reads their dtype) */
} wr_placement_stats;

typedef struct wr_buffer_ops {
    wr_status (*alloc)(size_t bytes, void **out);
    void (*free)(void *p);
    void (*write)(void *dst, const void *src, size_t bytes);
    void (*read)(void *dst, const void *src, size_t bytes);
    void (*copy)(void *dst, const void *src, size_t bytes);
    wr_status (*place)(const wr_placement_spec *spec, wr_placement **out);
    void (*use)(wr_placement *p, int group);
    void (*stats)(const wr_placement *p, wr_placement_stats *out);
    void (*unplace)(wr_placement *p);
    bool (*record_begin)(void);
    wr_status (*record_end)(wr_recording **out);
    bool (*replay)(wr_recording *r);
    void (*record_free)(wr_recording *r);
    bool (*mem_info)(size_t *free_bytes, size_t *total_bytes);
} wr_buffer_ops;

/* Whether buffers of the current backend are host memory (the CPU backend). */
bool wr_buffers_are_host(void);
/* A buffer of the current backend; WR_E_OOM (naming the size) when it cannot be had. */
wr_status wr_buffer_alloc(size_t bytes, void **out);
void wr_buffer_free(void *p); /* accepts NULL */
void wr_buffer_write(void *dst, const void *src, size_t bytes); /* host -> buffer */
void wr_buffer_read(void *dst, const void *src, size_t bytes);  /* buffer -> host */
void wr_buffer_copy(void *dst, const void *src, size_t bytes);  /* buffer -> buffer */
/* Free and total bytes of the device memory buffers come from (the driver's numbers); false on
 * host memory (the CPU backend: no limit known) or when the device cannot say. */
bool wr_buffers_mem_info(size_t *free_bytes, size_t *total_bytes);

/* What a run on a GPU needs beside its own allocations, for the memory planners: the CUDA context,
 * module code and allocator slack (the context alone is 300-600 MB on recent drivers; not measured
 * here). */
#define WR_DEVICE_RESERVE ((size_t)512 << 20)

/* Bytes a placed tensor takes in its group: its storage rounded up to WR_PLACE_ALIGN (the
 * memory planner sums the same). */
#define WR_PLACE_ALIGN 256
size_t wr_placed_bytes(const wr_tensor *t);

/* How a model placed in groups (0: outside the blocks, 1 + l: block l of n_blocks) splits when its
 * last `swap` blocks are block-swapped, as wr_placement_create lays it out: device bytes of the
 * resident groups, of the two swap slots (each as large as the largest swapped group), and the
 * pinned host bytes of the swapped groups. For the memory planners. */
typedef struct wr_swap_split {
    size_t resident, slots, pinned;
} wr_swap_split;
wr_swap_split wr_swap_split_of(const size_t *group_bytes, int n_blocks, int swap);

/* *out is NULL on a backend without placement (nothing to undo). Tensors must be contiguous. */
wr_status wr_placement_create(const wr_placement_spec *spec, wr_placement **out);
void wr_placement_use(wr_placement *p, int group);
void wr_placement_stats_get(const wr_placement *p, wr_placement_stats *out); /* zeros for NULL */
/* Frees the device and pinned copies and restores the tensors' original data pointers. */
void wr_placement_free(wr_placement *p);

/* Recording (a CUDA graph on a GPU backend): the ops issued between wr_recording_begin and
 * wr_recording_end are captured instead of run, and wr_recording_replay runs them again with one
 * call, reading whatever the buffers then hold. Only ops whose operands are all in buffers or
 * placed weights, and whose launchers neither allocate nor synchronise, can be recorded; anything
 * else fails loudly. begin returns false where recording is not possible (the CPU backend, or a
 * GPU configuration whose kernels allocate per call): then nothing is recording and the caller
 * just runs its ops. replay returns false when the recording went stale (the backend reallocated
 * memory it reads, e.g. RoPE tables for another grid): record again. */
bool wr_recording_begin(void);
wr_status wr_recording_end(wr_recording **out);
bool wr_recording_replay(wr_recording *r);
void wr_recording_free(wr_recording *r); /* accepts NULL */

#endif
