/* What forwards of the Wan DiT keep between calls on a device (see dit_internal.h): the arena, at
 * the same addresses every step, and the block loop recorded as a CUDA graph. */
#include "models/wan22/dit_internal.h"

#include <stdlib.h>
#include <string.h>

/* What a forward on a GPU keeps between calls: the arena (same addresses every step) and a
 * recording of the block loop, replayed from the third call on (the first runs eagerly and warms
 * the device's caches, the second records). */
struct wan22_run {
    void *arena;
    size_t bytes;
    wr_recording *rec;
    int f, h, w, forwards;
    int64_t R, chunk, run[WAN22_MAX_T_RUNS + 1];
};

void wan22_dit_release(wan22_weights *w)
{
    if (!w->run)
        return;
    wr_recording_free(w->run->rec);
    wr_buffer_free(w->run->arena);
    free(w->run);
    w->run = NULL;
}

/* Whether the block loop can be recorded: every weight placed on the device and resident, no
 * LoRA side path (it allocates per call), no trace (it reads buffers mid-loop). */
static int loop_recordable(const wan22_weights *w, const tracer *tr)
{
    if (tr->fn || !w->placement || w->n_lora)
        return 0;
    wr_placement_stats st;
    wr_placement_stats_get(w->placement, &st);
    return st.pinned_bytes == 0 && st.host_tensors == 0;
}

static void run_blocks(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, const tracer *tr)
{
    wr_attention_mode mode = wr_attention_mode_get();
    for (int l = 0; l < w->cfg.num_layers; l++) {
        wr_placement_use(w->placement, 1 + l);
        if (w->dense_attention_blocks > 0)
            wr_attention_mode_set(l < w->dense_attention_blocks ? WR_ATTENTION_DENSE : mode);
        dit_block(w, &w->blocks[l], in, b, tr, l == 0);
    }
    wr_attention_mode_set(mode);
}

/* The block loop: replayed, recorded or run. */
wr_status dit_blocks(const wan22_weights *w, const wan22_dit_input *in, dit_bufs *b, const tracer *tr)
{
    struct wan22_run *r = w->run;
    if (!r || !loop_recordable(w, tr)) {
        run_blocks(w, in, b, tr);
        return WR_OK;
    }
    if (r->f != in->f || r->h != in->h || r->w != in->w || r->R != b->R || r->chunk != b->chunk ||
        memcmp(r->run, b->run, sizeof r->run)) {
        wr_recording_free(r->rec);
        *r = (struct wan22_run){.arena = r->arena, .bytes = r->bytes, .f = in->f, .h = in->h, .w = in->w, .R = b->R,
                                .chunk = b->chunk};
        memcpy(r->run, b->run, sizeof r->run);
    }
    if (r->rec && wr_recording_replay(r->rec))
        return WR_OK;
    wr_recording_free(r->rec);
    r->rec = NULL;
    if (r->forwards++ >= 1 && wr_recording_begin()) {
        run_blocks(w, in, b, tr);
        WR_TRY(wr_recording_end(&r->rec));
        if (wr_recording_replay(r->rec))
            return WR_OK;
        return wr_fail(WR_E_DEVICE, "DiT: a fresh recording of the block loop went stale");
    }
    run_blocks(w, in, b, tr);
    return WR_OK;
}

/* The arena: kept between calls when the weights are placed on a device (so a recording's
 * addresses stay valid), else allocated per call. */
wr_status dit_arena_get(const wan22_weights *cw, size_t bytes, void **arena, int *kept)
{
    wan22_weights *w = (wan22_weights *)cw; /* the run state is a cache, not part of the model */
    *kept = 0;
    if (!w->placement)
        return wr_buffer_alloc(bytes, arena);
    if (!w->run && !(w->run = calloc(1, sizeof *w->run)))
        return wr_fail(WR_E_OOM, "DiT: out of memory");
    if (w->run->bytes != bytes) {
        wr_recording_free(w->run->rec);
        wr_buffer_free(w->run->arena);
        *w->run = (struct wan22_run){0};
        WR_TRY(wr_buffer_alloc(bytes, &w->run->arena));
        w->run->bytes = bytes;
    }
    *arena = w->run->arena, *kept = 1;
    return WR_OK;
}
