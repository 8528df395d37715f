/* The DiT forward with its weights placed on the device (resident or block-swapped) and its
 * activations in a device buffer: the same output as the staged forward, no host operand reaching
 * an op, the swap copies issued as scheduled, and the device peak equal to the planner's
 * (models/wan22/dit_plan.h) — on the emulator here, on CUDA in make test-gpu. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "models/wan22/dit.h"
#include "models/wan22/dit_plan.h"
#include "runtime/gpu/backend_gpu.h"
#include "runtime/ops.h"
#include "tests/common/testutil.h"

typedef struct dit_case {
    wr_weightfile wf, cs;
    wan22_weights w;
    wan22_dit_input in;
    float *x, *ctx, *t;
    int64_t nout;
} dit_case;

static void case_open(dit_case *c, const char *weights_rel, int text_len)
{
    memset(c, 0, sizeof *c);
    wr_test_open(&c->wf, wr_test_shared(weights_rel));
    wr_test_open(&c->cs, wr_test_shared("golden/dit/dit_t2v_case1.safetensors"));
    cr_assert_eq(wan22_weights_bind(&c->w, &c->wf, text_len), WR_OK, "%s", wr_last_error());
    int64_t nctx, nt;
    c->x = wr_test_load_f32(&c->cs, "input.x.0", &c->nout);
    c->ctx = wr_test_load_f32(&c->cs, "input.context.0", &nctx);
    c->t = wr_test_load_f32(&c->cs, "input.t", &nt);
    const wr_wtensor *xt = wr_weightfile_find(&c->cs, "input.x.0");
    c->in = (wan22_dit_input){.x = c->x, .c_noise = (int)xt->t.ne[3], .f = (int)xt->t.ne[2], .h = (int)xt->t.ne[1],
                              .w = (int)xt->t.ne[0], .context = c->ctx, .ctx_len = (int)(nctx / c->w.cfg.text_dim),
                              .t = c->t, .n_t = (int)nt};
}

static void case_close(dit_case *c)
{
    wan22_weights_free(&c->w);
    free(c->x), free(c->ctx), free(c->t);
    wr_weightfile_close(&c->wf), wr_weightfile_close(&c->cs);
}

static float *forward(dit_case *c)
{
    float *out = malloc((size_t)c->nout * sizeof *out);
    cr_assert_eq(wan22_dit_forward(&c->w, &c->in, out, NULL, NULL), WR_OK, "%s", wr_last_error());
    return out;
}

static wan22_plan plan_for(dit_case *c, int swap)
{
    wan22_plan_opts o = {.width = c->in.w * 8, .height = c->in.h * 8, .frames = (c->in.f - 1) * 4 + 1,
                         .block_swap = swap, .attention = wr_attention_mode_get(),
                         .sage_pv_f8 = wr_gpu_arch(wr_backend_gpu_device()) >= 89};
    wan22_plan p;
    cr_assert_eq(wan22_plan_dit(&c->w, &o, &p), WR_OK, "%s", wr_last_error());
    cr_assert(p.fits);
    return p;
}

/* Places with `swap` blocks swapped, runs `runs` forwards, checks them against `want` bit for bit
 * and the device peak against the plan. */
static void run_placed(dit_case *c, int swap, int runs, const float *want)
{
    wr_gpu *g = wr_backend_gpu_device();
    wan22_plan p = plan_for(c, swap);
    size_t base = wr_gpu_mem_in_use(g);
    wr_gpu_mem_peak_reset(g);
    cr_assert_eq(wan22_weights_place(&c->w, swap), WR_OK, "%s", wr_last_error());
    cr_assert_not_null(c->w.placement);
    wr_placement_stats st;
    wr_placement_stats_get(c->w.placement, &st);
    cr_assert_eq(st.resident_bytes, p.resident, "resident weights %zu, planned %zu", st.resident_bytes, p.resident);
    cr_assert_eq(st.slot_bytes, p.slots);
    cr_assert_eq(st.pinned_bytes, p.pinned);
    size_t host0 = wr_backend_gpu_host_operand_bytes();
    for (int r = 0; r < runs; r++) {
        float *got = forward(c);
        cr_assert_eq(memcmp(got, want, (size_t)c->nout * sizeof *got), 0, "swap %d, run %d: output differs", swap, r);
        free(got);
    }
    cr_assert_eq(wr_backend_gpu_host_operand_bytes(), host0, "swap %d: %zu bytes of host operands reached ops", swap,
                 wr_backend_gpu_host_operand_bytes() - host0);
    /* everything the forward holds at once: placed weights, the arena, the launchers' workspace */
    cr_assert_leq(wr_gpu_mem_peak(g), base + p.resident + p.slots + p.arena + p.workspace,
                  "peak %zu over the plan %zu", wr_gpu_mem_peak(g), base + p.resident + p.slots + p.arena + p.workspace);
    cr_assert_geq(wr_gpu_mem_peak(g), base + p.resident + p.slots + p.arena, "the plan overstates the peak");
    wr_placement_stats_get(c->w.placement, &st);
    if (swap > 2) /* the first swapped block on first use, then one prefetch per swapped block and run */
        cr_assert_eq(st.copies, 1 + (long)runs * swap, "%ld copies for %d runs of %d swapped blocks", st.copies, runs,
                     swap);
    else /* two slots hold up to two swapped blocks for good */
        cr_assert_eq(st.copies, swap, "%ld copies of %d swapped blocks", st.copies, swap);
    wan22_weights_unplace(&c->w);
    cr_assert_eq(wr_gpu_mem_in_use(g), base, "placement freed its device memory");
}

static void resident_and_swapped(const char *weights_rel, int text_len)
{
    wr_backend_select(wr_test_gpu_backend());
    dit_case c;
    case_open(&c, weights_rel, text_len);
    float *staged = forward(&c); /* host weights: staged per op */
    cr_assert_gt(wr_backend_gpu_host_operand_bytes(), 0);
    int L = c.w.cfg.num_layers;
    run_placed(&c, 0, 3, staged); /* eager, recorded, replayed */
    run_placed(&c, 1, 2, staged);
    run_placed(&c, L, 2, staged);
    free(staged);
    case_close(&c);
    wr_backend_gpu_close();
}

Test(dit_resident, f32_weights_resident_and_swapped, .timeout = 300)
{
    resident_and_swapped("golden/dit/dit_t2v_weights.safetensors", 0);
}

Test(dit_resident, q8_0_weights_resident_and_swapped, .timeout = 300)
{
    resident_and_swapped("golden/gguf/dit_t2v_Q8_0.gguf", 32);
}

/* Five blocks (the golden two, repeated) with four swapped: the blocks rotate through the two
 * slots, each copied once per forward, prefetched one ahead and across forwards. */
Test(dit_resident, swapped_blocks_rotate_through_two_slots, .timeout = 300)
{
    wr_backend_select(wr_test_gpu_backend());
    dit_case c;
    case_open(&c, "golden/dit/dit_t2v_weights.safetensors", 0);
    wan22_weights two = c.w;
    c.w.blocks = malloc(5 * sizeof *c.w.blocks);
    for (int l = 0; l < 5; l++)
        c.w.blocks[l] = two.blocks[l % 2];
    c.w.cfg.num_layers = 5;
    c.w.n_owned = 0, c.w.owned = NULL; /* the copies own nothing */
    float *staged = forward(&c);
    run_placed(&c, 4, 2, staged);
    run_placed(&c, 3, 1, staged);
    free(staged);
    free(c.w.blocks);
    c.w = two;
    case_close(&c);
    wr_backend_gpu_close();
}

/* Resident weights: the first forward runs the block loop, the second records it (a CUDA graph),
 * later ones replay it; each output equals the staged forward of the same input to the bit. */
Test(dit_resident, block_loop_recorded_and_replayed, .timeout = 300)
{
    wr_backend_select(wr_test_gpu_backend());
    wr_gpu *g = wr_backend_gpu_device();
    dit_case c;
    case_open(&c, "golden/dit/dit_t2v_weights.safetensors", 0);
    float t0 = c.t[0], ts[4] = {t0, 999.0f, 500.0f, 1.0f}, *want[4];
    for (int i = 0; i < 4; i++) {
        c.t[0] = ts[i];
        want[i] = forward(&c);
    }
    cr_assert_eq(wan22_weights_place(&c.w, 0), WR_OK, "%s", wr_last_error());
    uint64_t launches[4];
    for (int i = 0; i < 4; i++) {
        c.t[0] = ts[i];
        uint64_t before = wr_gpu_launch_count(g, "norm_f32");
        float *got = forward(&c);
        launches[i] = wr_gpu_launch_count(g, "norm_f32") - before;
        cr_assert_eq(memcmp(got, want[i], (size_t)c.nout * sizeof *got), 0, "forward %d (t = %g) differs", i,
                     (double)ts[i]);
        free(got), free(want[i]);
    }
    cr_assert_eq(launches[1], launches[0], "recording launches (counted once) what the eager loop does");
    cr_assert_lt(launches[2], launches[0], "a replay launches the loop's kernels without counting them");
    cr_assert_gt(launches[2], 0, "the head's norm still runs eagerly");
    cr_assert_eq(launches[3], launches[2]);
    c.t[0] = t0;
    case_close(&c);
    wr_backend_gpu_close();
}

/* The emulator runs a created stream's copies as late as the API allows, so block swap's event
 * waits are what makes its output right (a missing wait reads the slot's old bytes). */
Test(dit_resident, emulator_copy_streams_are_lazy)
{
    wr_gpu *g;
    cr_assert_eq(wr_gpu_open(&g, WR_GPU_EMU, NULL), WR_OK, "%s", wr_last_error());
    wr_gpu_stream *s;
    wr_gpu_event *e;
    cr_assert_eq(wr_gpu_stream_create(g, &s), WR_OK);
    cr_assert_eq(wr_gpu_event_create(g, &e), WR_OK);
    int *d, src[4] = {1, 2, 3, 4}, later[4] = {5, 6, 7, 8}, host[4];
    cr_assert_eq(wr_gpu_alloc(g, sizeof src, (void **)&d), WR_OK);
    cr_assert_eq(wr_gpu_memset(g, d, 0, sizeof src, NULL), WR_OK);
    cr_assert_eq(wr_gpu_copy_h2d(g, d, src, sizeof src, s), WR_OK);
    cr_assert_eq(wr_gpu_event_record(g, e, s), WR_OK);
    cr_assert_eq(wr_gpu_copy_h2d(g, d, later, sizeof later, s), WR_OK);
    cr_assert_eq(wr_gpu_copy_d2h(g, host, d, sizeof host, NULL), WR_OK);
    cr_assert_eq(host[0], 0, "nothing ordered the copy before the default stream's read");
    cr_assert_eq(wr_gpu_stream_wait_event(g, NULL, e), WR_OK);
    cr_assert_eq(wr_gpu_copy_d2h(g, host, d, sizeof host, NULL), WR_OK);
    cr_assert(host[0] == 1 && host[3] == 4, "the wait ran the copies recorded before the event, not the later one");
    cr_assert_eq(wr_gpu_sync(g), WR_OK);
    cr_assert_eq(wr_gpu_copy_d2h(g, host, d, sizeof host, NULL), WR_OK);
    cr_assert_eq(host[0], 5, "a device sync runs everything");
    wr_gpu_free(g, d);
    wr_gpu_event_destroy(g, e);
    wr_gpu_stream_destroy(g, s);
    wr_gpu_close(g);
}

/* Sage attention allocates its workspace per call: the planned workspace must cover it. */
Test(dit_resident, sage_workspace_planned, .timeout = 300)
{
    static const int arch[] = {80, 89};
    for (int i = 0; i < 2; i++) {
        wr_gpu_options opts = {.arch = arch[i]};
        const wr_backend *b;
        cr_assert_eq(wr_backend_gpu_open(WR_GPU_EMU, &opts, &b), WR_OK, "%s", wr_last_error());
        wr_backend_select(b);
        wr_attention_mode_set(WR_ATTENTION_SAGE);
        dit_case c;
        case_open(&c, "golden/dit/dit_t2v_weights.safetensors", 0);
        float *staged = forward(&c);
        wr_gpu *g = wr_backend_gpu_device();
        uint64_t before = wr_gpu_launch_count(g, "sage_prep_quant_i8");
        run_placed(&c, 0, 3, staged); /* eager (allocates the workspace), recorded, replayed */
        uint64_t placed = wr_gpu_launch_count(g, "sage_prep_quant_i8") - before, per_forward = before;
        cr_assert_gt(per_forward, 0, "the fused sage preparation ran");
        cr_assert_eq(placed, 2 * per_forward, "the third forward replayed the recorded loop (launches not counted)");
        wan22_plan p = plan_for(&c, 0);
        cr_assert_gt(p.workspace, 0);
        free(staged);
        case_close(&c);
        wr_attention_mode_set(WR_ATTENTION_DENSE);
        wr_backend_gpu_close();
    }
}

/* A LoRA side path follows its target onto the device (its down/up tensors join the block). */
Test(dit_resident, cpu_backend_places_nothing)
{
    wr_backend_select(&wr_backend_cpu);
    dit_case c;
    case_open(&c, "golden/dit/dit_t2v_weights.safetensors", 0);
    cr_assert_eq(wan22_weights_place(&c.w, 1), WR_OK);
    cr_assert_null(c.w.placement, "the CPU backend reads weights where they are");
    case_close(&c);
}
