/* The GPU backend's staging of host operands and its CPU fallbacks on device operands (see
 * backend_gpu_internal.h). */
#include "runtime/gpu/backend_gpu_internal.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/gpu/backend_gpu.h"
#include "runtime/gpu/backend_gpu_mem.h"
#include "runtime/log.h"

wr_gpu *gpu_dev;
wr_gpu_matmul_precision gpu_prec;
/* WANRT_GPU_PRECISION=int8: Q8_0 matmuls take int8 activations; =fp8: F8_E4M3FN ones take e4m3
 * activations as well (wr_gpu_matmul_q); everything else keeps gpu_prec (fp32). */
bool gpu_act_i8, gpu_act_f8;

/* ---- staging ------------------------------------------------------------------------------- */



/* Bytes of host operands ops were given (staged on CUDA; used in place on the emulator). */
static _Atomic size_t g_host_operand_bytes;
/* Whether the current op staged anything into device memory (then it synchronises at its end). */
static bool g_staged;

size_t wr_backend_gpu_host_operand_bytes(void) { return g_host_operand_bytes; }

/* The bytes from a tensor's first to one past its last element (views included). */
size_t gpu_extent(const wr_tensor *t)
{
    const wr_dtype_traits *tr = wr_dtype_info(t->dtype);
    size_t last = (size_t)tr->block_bytes;
    for (int i = 0; i < WR_MAX_DIMS; i++) {
        int64_t n = i == 0 ? t->ne[0] / tr->block_elems : t->ne[i];
        if (n > 1)
            last += (size_t)(n - 1) * t->nb[i];
    }
    return last;
}

void gpu_stage_in(stage *s, const wr_tensor *t, bool upload)
{
    memset(s, 0, sizeof *s);
    s->orig = t;
    s->t = *t;
    if (gpu_mem_holds(t->data, gpu_extent(t))) { /* a buffer or placed weight: used where it is */
        WR_ASSERT(wr_tensor_is_contiguous(t), "GPU backend: a strided view of device memory reached an op that needs "
                                      "contiguous operands");
        return;
    }
    g_host_operand_bytes += wr_tensor_nbytes(t);
    WR_ASSERT(!wr_gpu_recording(gpu_dev), "GPU backend: a host tensor reached an op inside a recording (only buffers "
                                        "and placed weights can be replayed)");
    bool cuda = wr_gpu_get_kind(gpu_dev) == WR_GPU_CUDA;
    if (wr_tensor_is_contiguous(t) && !cuda)
        return; /* emulator: host memory is device memory */
    int64_t ne[WR_MAX_DIMS];
    memcpy(ne, t->ne, sizeof ne);
    WR_ASSERT(wr_tensor_init(&s->t, t->dtype, t->n_dims, ne, NULL), "stage: bad shape");
    s->t.scale = t->scale;
    s->bytes = wr_tensor_nbytes(&s->t);
    const void *src = t->data;
    if (!wr_tensor_is_contiguous(t)) {
        s->packed = malloc(s->bytes ? s->bytes : 1);
        WR_ASSERT(s->packed, "stage: out of memory");
        size_t row = s->bytes / (size_t)(wr_tensor_nrows(t) ? wr_tensor_nrows(t) : 1);
        for (int64_t r = 0; upload && r < wr_tensor_nrows(t); r++)
            memcpy((char *)s->packed + (size_t)r * row, wr_tensor_row(t, r), row);
        src = s->packed;
    }
    if (!cuda) {
        s->t.data = s->packed;
        return;
    }
    CHECK(wr_gpu_alloc(gpu_dev, s->bytes, &s->dev));
    g_staged = true;
    if (upload)
        CHECK(wr_gpu_copy_h2d(gpu_dev, s->dev, src, s->bytes, NULL));
    s->t.data = s->dev;
}

/* Copies an output back into the caller's tensor (when it was staged) and frees the stage. */
void gpu_stage_out(stage *s, bool download)
{
    if (s->dev) {
        void *dst = s->packed ? s->packed : s->orig->data;
        if (download) {
            CHECK(wr_gpu_copy_d2h(gpu_dev, dst, s->dev, s->bytes, NULL));
            CHECK(wr_gpu_sync(gpu_dev));
        }
        CHECK(wr_gpu_free(gpu_dev, s->dev));
    }
    if (s->packed && download) {
        size_t row = s->bytes / (size_t)(wr_tensor_nrows(s->orig) ? wr_tensor_nrows(s->orig) : 1);
        for (int64_t r = 0; r < wr_tensor_nrows(s->orig); r++)
            memcpy(wr_tensor_row(s->orig, r), (char *)s->packed + (size_t)r * row, row);
    }
    free(s->packed);
    memset(s, 0, sizeof *s);
}

/* Staged host copies are freed right after the op, so it waits for them; device-resident
 * operands need no wait (ops on the default stream run in issue order). */
void gpu_finish(void)
{
    if (g_staged)
        CHECK(wr_gpu_sync(gpu_dev));
    g_staged = false;
}

/* ---- CPU fallbacks on device operands -------------------------------------------------------- */


void gpu_mirror_in(mirror *m, const wr_tensor *t, bool read)
{
    m->orig = t, m->t = *t, m->host = NULL;
    if (!gpu_mem_holds(t->data, gpu_extent(t)))
        return;
    WR_ASSERT(!wr_gpu_recording(gpu_dev), "GPU backend: a CPU fallback inside a recording cannot be replayed");
    WR_ASSERT(wr_tensor_is_contiguous(t), "GPU backend: a strided view of device memory reached a CPU fallback");
    size_t b = wr_tensor_nbytes(t);
    m->host = malloc(b ? b : 1);
    WR_ASSERT(m->host, "GPU backend: out of host memory for a CPU fallback");
    if (read) {
        CHECK(wr_gpu_copy_d2h(gpu_dev, m->host, t->data, b, NULL));
        CHECK(wr_gpu_sync(gpu_dev));
    }
    m->t.data = m->host;
}

void gpu_mirror_out(mirror *m, bool write_back)
{
    if (m->host && write_back) {
        CHECK(wr_gpu_copy_h2d(gpu_dev, m->orig->data, m->host, wr_tensor_nbytes(m->orig), NULL));
        CHECK(wr_gpu_sync(gpu_dev));
    }
    free(m->host);
    m->host = NULL;
}

/* Ops without a kernel yet run on the CPU backend; say so once per kind rather than hide it. */
/* One warning per kind of fallback and run (each kind its own slot: a shared slot would let one
 * fallback silence another). */

void gpu_note_fallback(fallback_kind kind, const char *what)
{
    static _Atomic int reported[FB_COUNT];
    if (kind < FB_COUNT && !reported[kind]++)
        wr_log_warn("%s: no GPU kernel yet, computed by the CPU backend", what);
}
