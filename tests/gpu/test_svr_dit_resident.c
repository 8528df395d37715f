/* The SeedVR2 DiT (golden tiny 3B structure: two MM layers, two shared ".all" layers, the last
 * without a text MLP; and a tiny random 7B structure) with its weights placed on the device, resident or block-swapped: the same
 * output bit for bit as the unplaced (staged) forward, each shared tensor placed once, the swap
 * copies as scheduled and the device peak within upscale_plan_device's — on the emulator here, on
 * CUDA in make test-gpu. The golden weights are F16, which has no GPU matmul; a bf16 copy
 * (lossless for them) is what gets placed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/gpu/backend_gpu.h"
#include "runtime/io/safetensors_write.h"
#include "runtime/numeric.h"
#include "tests/common/svr_tiny7b.h"
#include "tests/common/testutil.h"
#include "upscale/svr_dit_internal.h"
#include "upscale/upscale_device_plan.h"

#define MAX_TENSORS 512

typedef struct svr_case {
    char dir[64], path[128];
    wr_weightfile wf, cs;
    upscale_dit *m;
    upscale_dit_sample s;
    float *vid, *txt;
    int64_t n_out;
} svr_case;

/* Writes the golden weights with F16 tensors as bf16 into c->path. */
static void write_bf16_copy(svr_case *c)
{
    wr_weightfile src;
    wr_test_open(&src, wr_test_shared("golden/post/seedvr2_dit_tiny_weights.safetensors"));
    static wr_st_entry ent[MAX_TENSORS];
    uint16_t **bufs = calloc((size_t)src.n_tensors, sizeof *bufs);
    cr_assert(src.n_tensors <= MAX_TENSORS && bufs);
    for (int64_t i = 0; i < src.n_tensors; i++) {
        const wr_wtensor *t = &src.tensors[i];
        ent[i] = (wr_st_entry){.name = t->name, .dtype = t->t.dtype, .n_dims = t->t.n_dims, .data = t->t.data};
        for (int d = 0; d < t->t.n_dims; d++)
            ent[i].shape[d] = t->t.ne[t->t.n_dims - 1 - d];
        if (t->t.dtype == WR_DTYPE_F16) {
            int64_t n = wr_tensor_nelements(&t->t);
            bufs[i] = malloc((size_t)n * sizeof **bufs);
            for (int64_t k = 0; k < n; k++)
                bufs[i][k] = wr_f32_to_bf16(wr_f16_to_f32(((const uint16_t *)t->t.data)[k]));
            ent[i].dtype = WR_DTYPE_BF16, ent[i].data = bufs[i];
        }
    }
    snprintf(c->dir, sizeof c->dir, "/tmp/wanrt-svrplace-XXXXXX");
    cr_assert_not_null(mkdtemp(c->dir));
    snprintf(c->path, sizeof c->path, "%s/dit_bf16.safetensors", c->dir);
    cr_assert_eq(wr_safetensors_write(c->path, ent, (int)src.n_tensors, NULL, 0), WR_OK, "%s", wr_last_error());
    for (int64_t i = 0; i < src.n_tensors; i++)
        free(bufs[i]);
    free(bufs);
    wr_weightfile_close(&src);
}

/* The second sample of the golden batch case (2 x 6 x 10 latent, 3 text tokens): small enough
 * for the emulator, and one sample is what upscale_plan_device plans. */
static void case_open(svr_case *c)
{
    memset(c, 0, sizeof *c);
    write_bf16_copy(c);
    wr_test_open(&c->wf, c->path);
    cr_assert_eq(upscale_dit_load(&c->m, &c->wf), WR_OK, "%s", wr_last_error());
    wr_test_open(&c->cs, wr_test_shared("golden/post/seedvr2_dit_batch2_t1000.safetensors"));
    int64_t n, nt;
    float *vs = wr_test_load_f32(&c->cs, "vid_shape", &n), *ts = wr_test_load_f32(&c->cs, "txt_shape", &nt);
    cr_assert(n == 6 && nt == 2);
    c->s = (upscale_dit_sample){(int)vs[3], (int)vs[4], (int)vs[5], (int)ts[1], 1000.0f};
    int64_t skip_vid = (int64_t)vs[0] * vs[1] * vs[2] * 33, skip_txt = (int64_t)ts[0] * 48;
    free(vs), free(ts);
    float *vid = wr_test_load_f32(&c->cs, "vid", &n), *txt = wr_test_load_f32(&c->cs, "txt", &nt);
    int64_t nv = (int64_t)c->s.t * c->s.h * c->s.w * 33, ntx = (int64_t)c->s.txt_len * 48;
    cr_assert(n == skip_vid + nv && nt == skip_txt + ntx);
    c->vid = malloc((size_t)nv * sizeof *c->vid), c->txt = malloc((size_t)ntx * sizeof *c->txt);
    memcpy(c->vid, vid + skip_vid, (size_t)nv * sizeof *vid);
    memcpy(c->txt, txt + skip_txt, (size_t)ntx * sizeof *txt);
    free(vid), free(txt);
    c->n_out = (int64_t)c->s.t * c->s.h * c->s.w * 16;
}

static void case_close(svr_case *c)
{
    upscale_dit_free(c->m);
    free(c->vid), free(c->txt);
    wr_weightfile_close(&c->cs), wr_weightfile_close(&c->wf);
    unlink(c->path);
    rmdir(c->dir);
}

static float *forward(svr_case *c)
{
    float *out = malloc((size_t)c->n_out * sizeof *out);
    cr_assert_eq(upscale_dit_forward(c->m, &c->s, 1, c->vid, c->txt, UPSCALE_DIT_ATTN_FP32, out, NULL, NULL), WR_OK,
                 "%s", wr_last_error());
    return out;
}

static upscale_device_plan plan_for(svr_case *c, int swap)
{
    upscale_device_job job = {.lat_t = c->s.t, .lat_h = c->s.h, .lat_w = c->s.w, .txt_len = c->s.txt_len};
    upscale_device_opts o = {.block_swap = swap, .attention = wr_attention_mode_get(),
                             .sage_pv_f8 = wr_gpu_arch(wr_backend_gpu_device()) >= 89};
    upscale_device_plan p;
    cr_assert_eq(upscale_plan_device(c->m, &job, &o, &p), WR_OK, "%s", wr_last_error());
    cr_assert(p.fits && p.block_swap == swap);
    return p;
}

/* Places with `swap` blocks swapped, runs `runs` forwards, checks each against `want` bit for
 * bit, the placement against the plan and the device peak against the plan. */
static void run_placed(svr_case *c, int swap, int runs, const float *want, size_t host_unplaced)
{
    wr_gpu *g = wr_backend_gpu_device();
    upscale_device_plan p = plan_for(c, swap);
    size_t base = wr_gpu_mem_in_use(g);
    wr_gpu_mem_peak_reset(g);
    cr_assert_eq(upscale_dit_place(c->m, swap), WR_OK, "%s", wr_last_error());
    cr_assert_not_null(upscale_dit_placement(c->m));
    wr_placement_stats st;
    wr_placement_stats_get(upscale_dit_placement(c->m), &st);
    cr_assert_eq(st.resident_bytes, p.resident, "resident %zu, planned %zu", st.resident_bytes, p.resident);
    cr_assert_eq(st.slot_bytes, p.slots, "slots %zu, planned %zu", st.slot_bytes, p.slots);
    cr_assert_eq(st.pinned_bytes, p.pinned);
    cr_assert_eq(p.weights_host_only, 0, "bf16 weights all have a GPU matmul");
    for (int r = 0; r < runs; r++) {
        size_t host0 = wr_backend_gpu_host_operand_bytes();
        float *got = forward(c);
        cr_assert_eq(memcmp(got, want, (size_t)c->n_out * sizeof *got), 0, "swap %d, run %d: output differs", swap, r);
        free(got);
        /* only activations reach the ops from host memory now, not one weight byte */
        cr_assert_lt(wr_backend_gpu_host_operand_bytes() - host0, host_unplaced, "swap %d: weights still staged", swap);
    }
    /* on the emulator the staged activations are used in place, so the device holds the placed
     * weights and the launchers' workspace; on CUDA also the largest op's staged operands */
    size_t planned = base + p.resident + p.slots + p.dit_staged + p.dit_workspace;
    cr_assert_leq(wr_gpu_mem_peak(g), planned, "peak %zu over the plan %zu", wr_gpu_mem_peak(g), planned);
    cr_assert_geq(wr_gpu_mem_peak(g), base + p.resident + p.slots, "the plan overstates the weights");
    wr_placement_stats_get(upscale_dit_placement(c->m), &st);
    if (swap > 2) /* the first swapped block on first use, then one prefetch per swapped block and run */
        cr_assert_eq(st.copies, 1 + (long)runs * swap, "%ld copies for %d runs of %d swapped blocks", st.copies, runs,
                     swap);
    else /* two slots hold up to two swapped blocks for good */
        cr_assert_eq(st.copies, swap, "%ld copies of %d swapped blocks", st.copies, swap);
    upscale_dit_unplace(c->m);
    cr_assert_null(upscale_dit_placement(c->m));
    cr_assert_eq(wr_gpu_mem_in_use(g), base, "placement freed its device memory");
}

/* The tiny 7B structure (F32, every layer with separate vid/txt weights and MLP biases) on a
 * random one-sample input. */
static void case_open_7b(svr_case *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "/tmp/wanrt-svrplace7b-XXXXXX");
    cr_assert_not_null(mkdtemp(c->dir));
    snprintf(c->path, sizeof c->path, "%s/dit_7b.safetensors", c->dir);
    wr_test_write_svr_7b(c->path);
    wr_test_open(&c->wf, c->path);
    cr_assert_eq(upscale_dit_load(&c->m, &c->wf), WR_OK, "%s", wr_last_error());
    cr_assert_eq(upscale_dit_config_get(c->m)->variant, UPSCALE_DIT_7B);
    c->s = (upscale_dit_sample){2, 6, 10, 3, 1000.0f};
    int64_t nv = 2 * 6 * 10 * 33, nt = 3 * SVR7B_TXT_IN;
    c->vid = malloc((size_t)nv * sizeof *c->vid), c->txt = malloc((size_t)nt * sizeof *c->txt);
    uint64_t seed = 7;
    for (int64_t i = 0; i < nv; i++)
        c->vid[i] = wr_test_uniform(&seed, -1.0f, 1.0f);
    for (int64_t i = 0; i < nt; i++)
        c->txt[i] = wr_test_uniform(&seed, -1.0f, 1.0f);
    c->n_out = 2 * 6 * 10 * 16;
}

Test(svr_dit_resident, resident_and_swapped_match_unplaced_7b, .timeout = 300)
{
    wr_backend_select(wr_test_gpu_backend());
    svr_case c;
    case_open_7b(&c);
    wr_tensor **t;
    int *g, n;
    cr_assert_eq(upscale_dit_list(c.m, &t, &g, &n), WR_OK);
    /* 13 globals (no output norm), 9 per branch (qkv, proj_out + bias, norm_q/k, MLP in/out + biases) */
    cr_assert_eq(n, 13 + SVR7B_LAYERS * 2 * 9, "%d tensors listed", n);
    free(t), free(g);
    size_t host0 = wr_backend_gpu_host_operand_bytes();
    float *staged = forward(&c);
    size_t host_unplaced = wr_backend_gpu_host_operand_bytes() - host0;
    run_placed(&c, 0, 1, staged, host_unplaced);
    run_placed(&c, 1, 2, staged, host_unplaced);
    run_placed(&c, SVR7B_LAYERS, 2, staged, host_unplaced);
    free(staged);
    case_close(&c);
    wr_backend_gpu_close();
}

Test(svr_dit_resident, resident_and_swapped_match_unplaced, .timeout = 600)
{
    wr_backend_select(wr_test_gpu_backend());
    svr_case c;
    case_open(&c);
    size_t host0 = wr_backend_gpu_host_operand_bytes();
    float *staged = forward(&c); /* host weights: staged per op */
    size_t host_unplaced = wr_backend_gpu_host_operand_bytes() - host0;
    cr_assert_gt(host_unplaced, 0);
    int L = upscale_dit_config_get(c.m)->num_layers;
    run_placed(&c, 0, 1, staged, host_unplaced);
    run_placed(&c, 1, 2, staged, host_unplaced); /* the last block: shared, no text MLP */
    run_placed(&c, 3, 2, staged, host_unplaced); /* an MM block and both shared blocks rotate */
    run_placed(&c, L, 2, staged, host_unplaced);
    /* unplaced again: every tensor back on the host, the same output */
    float *again = forward(&c);
    cr_assert_eq(memcmp(again, staged, (size_t)c.n_out * sizeof *again), 0);
    free(again), free(staged);
    case_close(&c);
    wr_backend_gpu_close();
}

/* Each tensor once in the listing (a shared layer's ".all" tensors under its video branch only);
 * after using a swapped shared block its text stream reads the slot, and after unplacing the
 * host copy again. */
Test(svr_dit_resident, shared_layers_placed_once, .timeout = 300)
{
    wr_backend_select(wr_test_gpu_backend());
    svr_case c;
    case_open(&c);
    upscale_dit *m = c.m;
    wr_tensor **t;
    int *g, n;
    cr_assert_eq(upscale_dit_list(m, &t, &g, &n), WR_OK);
    /* 14 globals (3B: + vid_out_norm), 8 per branch (qkv, proj_out + bias, norm_q/k, SwiGLU's 3):
     * blocks 0-1 two branches each, blocks 2-3 (".all") one */
    cr_assert_eq(n, 14 + 2 * 2 * 8 + 2 * 8, "%d tensors listed", n);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            cr_assert(t[i] != t[j] && t[i]->data != t[j]->data, "tensors %d and %d share memory: placed twice", i, j);
    free(t), free(g);
    int L = m->cfg.num_layers;
    const void *host_qkv = m->blocks[L - 1].vid.qkv.data;
    cr_assert_eq(m->blocks[L - 1].txt.qkv.data, host_qkv);
    cr_assert_eq(upscale_dit_place(m, 2), WR_OK, "%s", wr_last_error());
    for (int k = 0; k < 3; k++) /* alternate the two slots */
        for (int l = L - 2; l < L; l++) {
            svr_dit_use(m, 1 + l);
            const svr_block *b = &m->blocks[l];
            cr_assert_neq(b->vid.qkv.data, (void *)host_qkv);
            cr_assert(b->txt.qkv.data == b->vid.qkv.data && b->txt.mlp_gate.data == b->vid.mlp_gate.data &&
                      b->txt.norm_k.data == b->vid.norm_k.data, "block %d: the text stream left behind", l);
            cr_assert_eq(b->txt.has_mlp, l != L - 1, "the last 3B layer's text has no MLP");
        }
    upscale_dit_unplace(m);
    cr_assert(m->blocks[L - 1].vid.qkv.data == host_qkv && m->blocks[L - 1].txt.qkv.data == host_qkv);
    case_close(&c);
    wr_backend_gpu_close();
}

Test(svr_dit_resident, cpu_backend_places_nothing)
{
    wr_backend_select(&wr_backend_cpu);
    svr_case c;
    case_open(&c);
    cr_assert_eq(upscale_dit_place(c.m, 2), WR_OK);
    cr_assert_null(upscale_dit_placement(c.m), "the CPU backend reads weights where they are");
    cr_assert_eq(upscale_dit_place(c.m, 5), WR_E_ARG, "more blocks than the model has");
    case_close(&c);
}
