/* Buffer and placement dispatch to the current backend (see buffers.h); host memory when the
 * backend has no buffer ops. */
#include "runtime/buffers.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"

static const wr_buffer_ops *ops(void) { return wr_backend_current()->buffers; }

bool wr_buffers_are_host(void) { return ops() == NULL; }

bool wr_buffers_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    return ops() && ops()->mem_info && ops()->mem_info(free_bytes, total_bytes);
}

wr_status wr_buffer_alloc(size_t bytes, void **out)
{
    if (ops())
        return ops()->alloc(bytes, out);
    *out = malloc(bytes ? bytes : 1);
    return *out ? WR_OK : wr_fail(WR_E_OOM, "out of memory for a %zu MiB buffer", bytes >> 20);
}

void wr_buffer_free(void *p)
{
    if (!p)
        return;
    if (ops())
        ops()->free(p);
    else
        free(p);
}

void wr_buffer_write(void *dst, const void *src, size_t bytes)
{
    if (ops())
        ops()->write(dst, src, bytes);
    else if (dst != src)
        memmove(dst, src, bytes);
}

void wr_buffer_read(void *dst, const void *src, size_t bytes)
{
    if (ops())
        ops()->read(dst, src, bytes);
    else if (dst != src)
        memmove(dst, src, bytes);
}

void wr_buffer_copy(void *dst, const void *src, size_t bytes)
{
    if (ops())
        ops()->copy(dst, src, bytes);
    else if (dst != src)
        memmove(dst, src, bytes);
}

size_t wr_placed_bytes(const wr_tensor *t)
{
    size_t b = wr_tensor_nbytes(t);
    return (b + WR_PLACE_ALIGN - 1) / WR_PLACE_ALIGN * WR_PLACE_ALIGN;
}

wr_swap_split wr_swap_split_of(const size_t *group_bytes, int n_blocks, int swap)
{
    wr_swap_split s = {.resident = group_bytes[0]};
    size_t slot = 0;
    for (int l = 0; l < n_blocks; l++) {
        size_t b = group_bytes[1 + l];
        if (l >= n_blocks - swap) {
            s.pinned += b;
            slot = b > slot ? b : slot;
        } else {
            s.resident += b;
        }
    }
    s.slots = 2 * slot;
    return s;
}

wr_status wr_placement_create(const wr_placement_spec *spec, wr_placement **out)
{
    *out = NULL;
    for (int i = 0; i < spec->n; i++) {
        if (!wr_tensor_is_contiguous(spec->tensors[i]))
            return wr_fail(WR_E_ARG, "placement: tensor %d is not contiguous", i);
        if (spec->group[i] < 0 || spec->group[i] >= spec->n_groups)
            return wr_fail(WR_E_ARG, "placement: tensor %d has group %d of %d", i, spec->group[i], spec->n_groups);
    }
    return ops() && ops()->place ? ops()->place(spec, out) : WR_OK;
}

void wr_placement_use(wr_placement *p, int group)
{
    if (p)
        ops()->use(p, group);
}

void wr_placement_stats_get(const wr_placement *p, wr_placement_stats *out)
{
    memset(out, 0, sizeof *out);
    if (p)
        ops()->stats(p, out);
}

void wr_placement_free(wr_placement *p)
{
    if (p)
        ops()->unplace(p);
}

bool wr_recording_begin(void) { return ops() && ops()->record_begin && ops()->record_begin(); }

wr_status wr_recording_end(wr_recording **out) { return ops()->record_end(out); }

bool wr_recording_replay(wr_recording *r) { return r && ops() && ops()->replay(r); }

void wr_recording_free(wr_recording *r)
{
    if (r && ops())
        ops()->record_free(r);
}
