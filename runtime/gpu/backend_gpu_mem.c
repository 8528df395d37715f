/* Buffers and weight placement of the GPU backend (see runtime/buffers.h, backend_gpu_mem.h).
 *
 * Block swap: a swapped group's tensors are packed, at the offsets they will have on the device,
 * into pinned host memory. Two device slots take turns: using group g (in slot s) prefetches the
 * next swapped group (cyclically, so the first swapped block of the next step loads while the
 * last ones compute) into slot 1 − s on the copy stream. Two events order each slot:
 *   copied[s]  recorded on the copy stream after the copy; the compute stream waits on it before
 *              the first op of the group;
 *   freed[s]   recorded on the compute stream when the ops move past the group; the copy stream
 *              waits on it before overwriting the slot.
 * The compute stream is the default stream (ops launch on NULL); the copy stream is non-blocking,
 * so only these events order the two. */
#include "runtime/gpu/backend_gpu_mem.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/gpu/backend_gpu.h"
#include "runtime/gpu/gpu_ops.h"
#include "runtime/log.h"

#define CHECK(expr)                                                                             \
    do {                                                                                        \
        wr_status st_ = (expr);                                                                 \
        WR_ASSERT(st_ == WR_OK, "device memory: %s", wr_last_error());                          \
    } while (0)

/* ---- registry of device ranges ---------------------------------------------------------------- */

typedef struct range {
    const char *lo;
    size_t bytes;
} range;

static range *g_ranges;
static int g_n_ranges, g_cap_ranges;

void gpu_mem_register(void *p, size_t bytes)
{
    if (g_n_ranges == g_cap_ranges) {
        int cap = g_cap_ranges ? 2 * g_cap_ranges : 64;
        range *r = realloc(g_ranges, (size_t)cap * sizeof *r);
        WR_ASSERT(r, "device memory: out of host memory for the range table");
        g_ranges = r, g_cap_ranges = cap;
    }
    g_ranges[g_n_ranges++] = (range){p, bytes};
}

void gpu_mem_unregister(void *p)
{
    for (int i = 0; i < g_n_ranges; i++)
        if (g_ranges[i].lo == p) {
            g_ranges[i] = g_ranges[--g_n_ranges];
            return;
        }
}

bool gpu_mem_holds(const void *p, size_t bytes)
{
    const char *c = p;
    for (int i = 0; i < g_n_ranges; i++)
        if (c >= g_ranges[i].lo && c + bytes <= g_ranges[i].lo + g_ranges[i].bytes)
            return true;
    return false;
}

void gpu_mem_reset(void)
{
    free(g_ranges);
    g_ranges = NULL, g_n_ranges = g_cap_ranges = 0;
}

/* ---- buffers ---------------------------------------------------------------------------------- */

static wr_gpu *dev(void) { return wr_backend_gpu_device(); }

static wr_status buf_alloc(size_t bytes, void **out)
{
    wr_status st = wr_gpu_alloc(dev(), bytes ? bytes : 1, out);
    if (st != WR_OK)
        return wr_fail(WR_E_OOM, "device: no room for a %.1f MiB buffer (%s)", (double)bytes / 1048576.0,
                       wr_last_error());
    gpu_mem_register(*out, bytes);
    return WR_OK;
}

static void buf_free(void *p)
{
    gpu_mem_unregister(p);
    CHECK(wr_gpu_free(dev(), p));
}

static void buf_write(void *dst, const void *src, size_t bytes)
{
    CHECK(wr_gpu_copy_h2d(dev(), dst, src, bytes, NULL));
}

static void buf_read(void *dst, const void *src, size_t bytes)
{
    CHECK(wr_gpu_copy_d2h(dev(), dst, src, bytes, NULL));
    CHECK(wr_gpu_sync(dev()));
}

static void buf_copy(void *dst, const void *src, size_t bytes)
{
    CHECK(wr_gpu_copy_d2d(dev(), dst, src, bytes, NULL));
}

static bool buf_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    return wr_gpu_mem_info(dev(), free_bytes, total_bytes) == WR_OK;
}

void wr_backend_gpu_group_bytes(wr_tensor *const *tensors, const int *group, int n, size_t *groups, size_t *host_only)
{
    for (int i = 0; i < n; i++) {
        if (wr_gpu_matmul_supports(tensors[i]->dtype))
            groups[group[i]] += wr_placed_bytes(tensors[i]);
        else
            *host_only += wr_tensor_nbytes(tensors[i]);
    }
}

/* ---- placement -------------------------------------------------------------------------------- */

struct wr_placement {
    int n, n_groups;
    wr_tensor **t;
    int *group;
    void **host;         /* the tensors' original data pointers */
    size_t *offset;      /* of tensor i within its group */
    size_t *group_bytes;
    bool *swapped;
    void **resident;     /* device copy of a resident group */
    void **pinned;       /* pinned host copy of a swapped group */
    void *slot[2];
    int slot_group[2];   /* group held (or being copied) in each slot, -1 none */
    bool freed_pending[2];
    wr_gpu_event *copied[2], *freed[2];
    wr_gpu_stream *copy;
    int in_use_slot;     /* slot of the swapped group the ops use now, -1 none */
    wr_placement_stats st;
};

static void point_group(wr_placement *p, int g, char *base)
{
    for (int i = 0; i < p->n; i++)
        if (p->group[i] == g)
            p->t[i]->data = base + p->offset[i];
}

static void copy_into_slot(wr_placement *p, int g, int s)
{
    if (p->freed_pending[s]) /* the slot's previous group must be done computing */
        CHECK(wr_gpu_stream_wait_event(dev(), p->copy, p->freed[s]));
    CHECK(wr_gpu_copy_h2d(dev(), p->slot[s], p->pinned[g], p->group_bytes[g], p->copy));
    CHECK(wr_gpu_event_record(dev(), p->copied[s], p->copy));
    p->slot_group[s] = g;
    p->st.copied_bytes += p->group_bytes[g];
    p->st.copies++;
}

static int next_swapped(const wr_placement *p, int g)
{
    for (int k = 1; k <= p->n_groups; k++) {
        int h = (g + k) % p->n_groups;
        if (p->swapped[h])
            return h;
    }
    return -1;
}

static void place_use(wr_placement *p, int g)
{
    WR_ASSERT(g >= 0 && g < p->n_groups, "placement: group %d of %d", g, p->n_groups);
    int cur = p->in_use_slot;
    if (cur >= 0 && p->slot_group[cur] == g)
        return;
    if (cur >= 0) { /* the ops move past the group in slot cur */
        CHECK(wr_gpu_event_record(dev(), p->freed[cur], NULL));
        p->freed_pending[cur] = true;
        p->in_use_slot = -1;
    }
    if (!p->swapped[g])
        return;
    int s = p->slot_group[0] == g ? 0 : p->slot_group[1] == g ? 1 : -1;
    if (s < 0) { /* not prefetched (first use, or used out of order) */
        s = cur >= 0 ? 1 - cur : 0;
        copy_into_slot(p, g, s);
    }
    CHECK(wr_gpu_stream_wait_event(dev(), NULL, p->copied[s]));
    point_group(p, g, p->slot[s]);
    p->in_use_slot = s;
    int next = next_swapped(p, g);
    if (next >= 0 && next != g && p->slot_group[1 - s] != next)
        copy_into_slot(p, next, 1 - s);
}

static void place_stats(const wr_placement *p, wr_placement_stats *out) { *out = p->st; }

/* ---- recordings ------------------------------------------------------------------------------- */

struct wr_recording {
    wr_gpu_graph *graph;
    unsigned generation;
};

static bool rec_begin(void)
{
    if (!gpu_backend_recordable())
        return false;
    CHECK(wr_gpu_record_begin(dev()));
    return true;
}

static wr_status rec_end(wr_recording **out)
{
    wr_recording *r = calloc(1, sizeof *r);
    wr_gpu_graph *graph = NULL;
    wr_status st = wr_gpu_record_end(dev(), &graph);
    if (st != WR_OK || !r) {
        free(r);
        wr_gpu_graph_free(dev(), graph);
        return st != WR_OK ? st : wr_fail(WR_E_OOM, "recording: out of memory");
    }
    r->graph = graph, r->generation = gpu_backend_generation();
    *out = r;
    return WR_OK;
}

static bool rec_replay(wr_recording *r)
{
    if (r->generation != gpu_backend_generation())
        return false;
    CHECK(wr_gpu_graph_launch(dev(), r->graph, NULL));
    return true;
}

static void rec_free(wr_recording *r)
{
    if (dev())
        wr_gpu_graph_free(dev(), r->graph);
    free(r);
}

static void place_free(wr_placement *p)
{
    if (!p)
        return;
    if (dev())
        CHECK(wr_gpu_sync(dev()));
    for (int i = 0; i < p->n; i++)
        p->t[i]->data = p->host[i];
    for (int g = 0; g < p->n_groups; g++) {
        if (p->resident && p->resident[g])
            buf_free(p->resident[g]);
        if (p->pinned && p->pinned[g])
            wr_gpu_host_free(dev(), p->pinned[g]);
    }
    for (int s = 0; s < 2; s++) {
        if (p->slot[s])
            buf_free(p->slot[s]);
        if (p->copied[s])
            wr_gpu_event_destroy(dev(), p->copied[s]);
        if (p->freed[s])
            wr_gpu_event_destroy(dev(), p->freed[s]);
    }
    if (p->copy)
        wr_gpu_stream_destroy(dev(), p->copy);
    free(p->t), free(p->group), free(p->host), free(p->offset), free(p->group_bytes), free(p->swapped);
    free(p->resident), free(p->pinned);
    free(p);
}

/* Copies group g's tensors (from their host data) into dst, host or device memory. */
static void pack_group(wr_placement *p, int g, char *dst, bool device)
{
    for (int i = 0; i < p->n; i++)
        if (p->group[i] == g) {
            size_t b = wr_tensor_nbytes(p->t[i]);
            if (device)
                CHECK(wr_gpu_copy_h2d(dev(), dst + p->offset[i], p->host[i], b, NULL));
            else
                memcpy(dst + p->offset[i], p->host[i], b);
        }
}

static wr_status place_create(const wr_placement_spec *spec, wr_placement **out)
{
    wr_placement *p = calloc(1, sizeof *p);
    int n = spec->n, ng = spec->n_groups;
    if (!p)
        return wr_fail(WR_E_OOM, "placement: out of memory");
    p->n = 0, p->n_groups = ng, p->in_use_slot = -1, p->slot_group[0] = p->slot_group[1] = -1;
    p->t = malloc((size_t)n * sizeof *p->t), p->group = malloc((size_t)n * sizeof *p->group);
    p->host = malloc((size_t)n * sizeof *p->host), p->offset = malloc((size_t)n * sizeof *p->offset);
    p->group_bytes = calloc((size_t)ng, sizeof *p->group_bytes), p->swapped = calloc((size_t)ng, sizeof *p->swapped);
    p->resident = calloc((size_t)ng, sizeof *p->resident), p->pinned = calloc((size_t)ng, sizeof *p->pinned);
    wr_status st = WR_OK;
    if (!p->t || !p->group || !p->host || !p->offset || !p->group_bytes || !p->swapped || !p->resident || !p->pinned) {
        st = wr_fail(WR_E_OOM, "placement: out of memory");
        goto fail;
    }
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (!wr_gpu_matmul_supports(spec->tensors[i]->dtype)) {
            kept++;
            p->st.host_tensors++; /* no kernel reads this dtype: it stays in host memory for the CPU fallback */
            continue;
        }
        int k = i - kept;
        p->t[k] = spec->tensors[i], p->group[k] = spec->group[i], p->host[k] = spec->tensors[i]->data;
        p->offset[k] = p->group_bytes[p->group[k]];
        p->group_bytes[p->group[k]] += wr_placed_bytes(p->t[k]);
    }
    n -= kept;
    p->n = n;
    if (kept)
        wr_log_warn("placement: %d weight tensors have a dtype without a GPU matmul kernel; they stay in host memory "
                    "and their matmuls run on the CPU", kept);
    int n_swapped = 0;
    size_t slot = 0;
    for (int g = 0; g < ng; g++) {
        p->swapped[g] = spec->swapped && spec->swapped[g];
        if (!p->group_bytes[g])
            continue;
        if (p->swapped[g]) {
            if ((st = wr_gpu_host_alloc(dev(), p->group_bytes[g], &p->pinned[g])) != WR_OK)
                goto fail;
            pack_group(p, g, p->pinned[g], false);
            p->st.pinned_bytes += p->group_bytes[g];
            n_swapped++;
            slot = p->group_bytes[g] > slot ? p->group_bytes[g] : slot;
        } else {
            if ((st = buf_alloc(p->group_bytes[g], &p->resident[g])) != WR_OK)
                goto fail;
            pack_group(p, g, p->resident[g], true);
            p->st.resident_bytes += p->group_bytes[g];
        }
    }
    if (slot) {
        for (int s = 0; s < 2; s++)
            if ((st = buf_alloc(slot, &p->slot[s])) != WR_OK || (st = wr_gpu_event_create(dev(), &p->copied[s])) != WR_OK ||
                (st = wr_gpu_event_create(dev(), &p->freed[s])) != WR_OK)
                goto fail;
        if ((st = wr_gpu_stream_create(dev(), &p->copy)) != WR_OK)
            goto fail;
        p->st.slot_bytes = 2 * slot;
    }
    CHECK(wr_gpu_sync(dev()));
    for (int g = 0; g < ng; g++)
        if (p->resident[g])
            point_group(p, g, p->resident[g]);
    wr_log_debug("placement: %.1f MiB resident, %d groups swapped through 2 x %.1f MiB slots",
                 (double)p->st.resident_bytes / 1048576.0, n_swapped,
                 (double)slot / 1048576.0);
    *out = p;
    return WR_OK;
fail:
    place_free(p);
    return st;
}

const wr_buffer_ops wr_gpu_buffer_ops = {
    .alloc = buf_alloc,
    .free = buf_free,
    .write = buf_write,
    .read = buf_read,
    .copy = buf_copy,
    .place = place_create,
    .use = place_use,
    .stats = place_stats,
    .unplace = place_free,
    .record_begin = rec_begin,
    .record_end = rec_end,
    .replay = rec_replay,
    .record_free = rec_free,
    .mem_info = buf_mem_info,
};
