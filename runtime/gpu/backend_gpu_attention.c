/* The GPU backend's attention family (see backend_gpu_internal.h): Wan RoPE with its tables kept
 * on the device, dense and sage attention, the fused sage self-attention, T5's biased attention. */
#include "runtime/gpu/backend_gpu_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/rope_wan.h"
#include "runtime/cpu/attention_sage.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/sage_prepare.h"
#include "runtime/gpu/backend_gpu.h"
#include "runtime/gpu/backend_gpu_mem.h"

/* Wan's 3-D RoPE: the per-token angles are built here in float64 exactly as the CPU backend does
 * (rope_params for dims 44, 42, 42), rounded to float tables, and applied by the kernel in fp32.
 * Tokens past the F*H*W grid get the identity rotation (cos 1, sin 0). The tables stay on the
 * device for the next call with the same grid (every block of every step uses them): 2 · T · 64
 * floats, wr_backend_gpu_rope_table_bytes. */
enum { ROPE_PAIRS = ROPE_WAN_PAIRS, ROPE_PAIRS_F = ROPE_WAN_PAIRS_F, ROPE_PAIRS_HW = ROPE_WAN_PAIRS_HW };

static unsigned g_generation; /* bumped when cached device tables move (see backend_gpu_mem.h) */

unsigned gpu_backend_generation(void) { return g_generation; }

static struct rope_cache {
    int f, h, w;
    int64_t T;
    float *dev; /* cos [T][64], then sin [T][64] */
} g_rope;

size_t wr_backend_gpu_rope_table_bytes(int64_t tokens) { return (size_t)(2 * tokens * ROPE_PAIRS) * sizeof(float); }

void gpu_rope_cache_drop(void)
{
    g_generation++;
    if (g_rope.dev) {
        gpu_mem_unregister(g_rope.dev);
        CHECK(wr_gpu_free(gpu_dev, g_rope.dev));
    }
    memset(&g_rope, 0, sizeof g_rope);
}

static const float *rope_tables(int grid_f, int grid_h, int grid_w, int64_t T)
{
    if (g_rope.dev && g_rope.f == grid_f && g_rope.h == grid_h && g_rope.w == grid_w && g_rope.T == T)
        return g_rope.dev;
    gpu_rope_cache_drop();
    int64_t n = (int64_t)grid_f * grid_h * grid_w;
    double theta[ROPE_PAIRS];
    cpu_rope_wan_theta(theta);
    size_t bytes = wr_backend_gpu_rope_table_bytes(T > 0 ? T : 1);
    float *cs = malloc(bytes), *sn = cs + (T > 0 ? T : 1) * ROPE_PAIRS;
    WR_ASSERT(cs, "rope: out of memory");
    for (int64_t t = 0; t < T; t++) {
        int64_t pos[3] = {0, 0, 0};
        if (t < n)
            pos[0] = t / ((int64_t)grid_h * grid_w), pos[1] = (t / grid_w) % grid_h, pos[2] = t % grid_w;
        for (int j = 0; j < ROPE_PAIRS; j++) {
            int axis = j < ROPE_PAIRS_F ? 0 : j < ROPE_PAIRS_F + ROPE_PAIRS_HW ? 1 : 2;
            double a = (double)pos[axis] * theta[j];
            cs[t * ROPE_PAIRS + j] = t < n ? (float)cos(a) : 1.0f;
            sn[t * ROPE_PAIRS + j] = t < n ? (float)sin(a) : 0.0f;
        }
    }
    void *d;
    CHECK(wr_gpu_alloc(gpu_dev, bytes, &d));
    CHECK(wr_gpu_copy_h2d(gpu_dev, d, cs, bytes, NULL));
    CHECK(wr_gpu_sync(gpu_dev));
    free(cs);
    gpu_mem_register(d, bytes);
    g_rope = (struct rope_cache){grid_f, grid_h, grid_w, T, d};
    return g_rope.dev;
}

void gpu_rope_wan(wr_tensor *x, int grid_f, int grid_h, int grid_w)
{
    int64_t T = x->ne[2];
    const float *tables = rope_tables(grid_f, grid_h, grid_w, T);
    wr_tensor tc, ts;
    int64_t ne[2] = {ROPE_PAIRS, T};
    WR_ASSERT(wr_tensor_init(&tc, WR_DTYPE_F32, 2, ne, (void *)tables) &&
                  wr_tensor_init(&ts, WR_DTYPE_F32, 2, ne, (void *)(tables + T * ROPE_PAIRS)), "rope");
    stage sx;
    gpu_stage_in(&sx, x, true);
    CHECK(wr_gpu_rope(gpu_dev, &sx.t, &tc, &ts, &sx.t, NULL));
    gpu_finish();
    gpu_stage_out(&sx, true);
}

typedef void (*attention_fn)(const wr_tensor *, const wr_tensor *, const wr_tensor *, int64_t, float, wr_tensor *);

static void cpu_attention_on_host(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len,
                                  float scale, wr_tensor *out, attention_fn fn)
{
    mirror mq, mk, mv, mo;
    gpu_mirror_in(&mq, q, true), gpu_mirror_in(&mk, k, true), gpu_mirror_in(&mv, v, true), gpu_mirror_in(&mo, out, false);
    fn(&mq.t, &mk.t, &mv.t, kv_len, scale, &mo.t);
    gpu_mirror_out(&mo, true), gpu_mirror_out(&mq, false), gpu_mirror_out(&mk, false), gpu_mirror_out(&mv, false);
}

/* Sage attention's device state, kept between calls (freed on close): the workspace, grown to
 * the largest call so the step loop stops allocating once it has seen its largest attention,
 * and the fused path's per-axis RoPE angle table of the last grid (kernels/rope_wan.h: a few
 * hundred floats, built in float64 by cpu_rope_wan_table). Both bump g_generation when they
 * move, like the RoPE tables. */
static struct sage_cache {
    void *ws;
    size_t ws_bytes;
    int f, h, w;
    float *tab;
    int64_t tab_floats;
} g_sage;

void gpu_sage_cache_drop(void)
{
    g_generation++;
    CHECK(wr_gpu_free(gpu_dev, g_sage.ws));
    CHECK(wr_gpu_free(gpu_dev, g_sage.tab));
    memset(&g_sage, 0, sizeof g_sage);
}

static void *sage_workspace(size_t bytes)
{
    if (bytes > g_sage.ws_bytes) {
        g_generation++;
        CHECK(wr_gpu_free(gpu_dev, g_sage.ws));
        g_sage.ws = NULL, g_sage.ws_bytes = 0;
        CHECK(wr_gpu_alloc(gpu_dev, bytes, &g_sage.ws));
        g_sage.ws_bytes = bytes;
    }
    return g_sage.ws;
}

/* Int8/fp8 activation matmuls allocate their temporaries per call. Sage attention allocates its
 * workspace and angle table on first use and on growth: a recording can hold it once a call of the
 * same shapes ran eagerly (the DiT records its second forward), and would fail loudly otherwise. */
bool gpu_backend_recordable(void)
{
    if (gpu_act_i8 || gpu_act_f8)
        return false;
    return wr_attention_mode_get() == WR_ATTENTION_DENSE || g_sage.ws != NULL;
}

/* The device angle table of grid (f, h, w) as a tensor for the launcher. */
static wr_tensor sage_rope_table(int grid_f, int grid_h, int grid_w)
{
    if (!g_sage.tab || g_sage.f != grid_f || g_sage.h != grid_h || g_sage.w != grid_w) {
        g_generation++;
        CHECK(wr_gpu_free(gpu_dev, g_sage.tab));
        int64_t n = 2 * rope_wan_table_pairs(grid_f, grid_h, grid_w) + 1;
        float *host = malloc((size_t)n * sizeof *host);
        WR_ASSERT(host, "sage fused attention: out of memory");
        cpu_rope_wan_table(grid_f, grid_h, grid_w, host);
        void *d;
        CHECK(wr_gpu_alloc(gpu_dev, (size_t)n * sizeof(float), &d));
        CHECK(wr_gpu_copy_h2d(gpu_dev, d, host, (size_t)n * sizeof(float), NULL));
        CHECK(wr_gpu_sync(gpu_dev));
        free(host);
        g_sage.tab = d, g_sage.tab_floats = n, g_sage.f = grid_f, g_sage.h = grid_h, g_sage.w = grid_w;
    }
    wr_tensor t;
    WR_ASSERT(wr_tensor_init(&t, WR_DTYPE_F32, 1, (int64_t[]){g_sage.tab_floats}, g_sage.tab), "sage rope table");
    return t;
}

/* Attention on staged operands; keys at or past kv_len are masked, so only the first kv_len rows
 * of k and v go to the device. */
static void staged_attention(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len, float scale,
                             wr_tensor *out, bool sage)
{
    wr_tensor kk = wr_tensor_slice(k, 2, 0, kv_len), vv = wr_tensor_slice(v, 2, 0, kv_len);
    stage sq, sk, sv, so;
    gpu_stage_in(&sq, q, true);
    gpu_stage_in(&sk, &kk, true);
    gpu_stage_in(&sv, &vv, true);
    gpu_stage_in(&so, out, false);
    if (sage) {
        wr_gpu_sage_pv pv = wr_gpu_arch(gpu_dev) >= 89 ? WR_GPU_SAGE_PV_F8 : WR_GPU_SAGE_PV_F16;
        size_t bytes = wr_gpu_attention_sage_workspace_bytes((int)sq.t.ne[3], (int)sq.t.ne[1], (int)sq.t.ne[2],
                                                             (int)sk.t.ne[2], (int)sq.t.ne[0], pv == WR_GPU_SAGE_PV_F8);
        CHECK(wr_gpu_attention_sage_ws(gpu_dev, &sq.t, &sk.t, &sv.t, scale, &so.t, pv, sage_workspace(bytes), bytes,
                                       NULL));
    } else
        CHECK(wr_gpu_attention_ex(gpu_dev, &sq.t, &sk.t, &sv.t, scale, &so.t, gpu_prec, NULL));
    gpu_finish();
    gpu_stage_out(&so, true);
    gpu_stage_out(&sq, false);
    gpu_stage_out(&sk, false);
    gpu_stage_out(&sv, false);
}

void gpu_attention(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len, float scale,
                          wr_tensor *out)
{
    if (q->ne[0] != 64 && q->ne[0] != 128) {
        gpu_note_fallback(FB_ATTENTION, "attention with a head dim other than 64/128");
        cpu_attention_on_host(q, k, v, kv_len, scale, out, wr_backend_cpu.attention);
        return;
    }
    staged_attention(q, k, v, kv_len, scale, out, false);
}

/* Sage attention on the device from sm_80 (head dims 64/128); elsewhere the CPU twin. */
void gpu_attention_sage(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len,
                               float scale, wr_tensor *out)
{
    if ((q->ne[0] != 64 && q->ne[0] != 128) || wr_gpu_arch(gpu_dev) < 80) {
        gpu_note_fallback(FB_ATTENTION_SAGE, "sage attention (head dim other than 64/128, or a device below sm_80)");
        cpu_attention_on_host(q, k, v, kv_len, scale, out, cpu_attention_sage);
        return;
    }
    staged_attention(q, k, v, kv_len, scale, out, true);
}

/* The fused q/k preparation + sage attention on the device from sm_80; elsewhere the CPU twin on
 * host copies of device-resident operands. */
void gpu_self_attention_sage_fused(const wr_tensor *q_raw, const wr_tensor *k_raw, const wr_tensor *v,
                                          const wr_tensor *norm_q, const wr_tensor *norm_k, float eps, int grid_f,
                                          int grid_h, int grid_w, float scale, wr_tensor *out)
{
    if (wr_gpu_arch(gpu_dev) < 80) {
        gpu_note_fallback(FB_ATTENTION_SAGE, "sage attention (head dim other than 64/128, or a device below sm_80)");
        mirror mq, mk, mv, mo, mnq, mnk;
        gpu_mirror_in(&mq, q_raw, true), gpu_mirror_in(&mk, k_raw, true), gpu_mirror_in(&mv, v, true);
        gpu_mirror_in(&mnq, norm_q, true), gpu_mirror_in(&mnk, norm_k, true), gpu_mirror_in(&mo, out, false);
        cpu_self_attention_sage_fused(&mq.t, &mk.t, &mv.t, &mnq.t, &mnk.t, eps, grid_f, grid_h, grid_w, scale, &mo.t);
        gpu_mirror_out(&mo, true), gpu_mirror_out(&mq, false), gpu_mirror_out(&mk, false), gpu_mirror_out(&mv, false);
        gpu_mirror_out(&mnq, false), gpu_mirror_out(&mnk, false);
        return;
    }
    stage sq, sk, sv, so, snq, snk;
    gpu_stage_in(&sq, q_raw, true);
    gpu_stage_in(&sk, k_raw, true);
    gpu_stage_in(&sv, v, true);
    gpu_stage_in(&so, out, false);
    gpu_stage_in(&snq, norm_q, true);
    gpu_stage_in(&snk, norm_k, true);
    wr_tensor tab = sage_rope_table(grid_f, grid_h, grid_w);
    bool f8 = wr_gpu_arch(gpu_dev) >= 89;
    int HD = (int)q_raw->ne[0], NH = (int)q_raw->ne[1], T = (int)q_raw->ne[2];
    size_t bytes = wr_gpu_attention_sage_workspace_bytes(1, NH, T, T, HD, f8);
    wr_gpu_sage_prep p = {.norm_q = &snq.t, .norm_k = &snk.t, .eps = eps, .rope_tab = &tab,
                          .grid_f = grid_f, .grid_h = grid_h, .grid_w = grid_w};
    CHECK(wr_gpu_attention_sage_fused(gpu_dev, &sq.t, &sk.t, &sv.t, &p, scale, &so.t,
                                      f8 ? WR_GPU_SAGE_PV_F8 : WR_GPU_SAGE_PV_F16, sage_workspace(bytes), bytes, NULL));
    gpu_finish();
    gpu_stage_out(&so, true);
    gpu_stage_out(&sq, false), gpu_stage_out(&sk, false), gpu_stage_out(&sv, false);
    gpu_stage_out(&snq, false), gpu_stage_out(&snk, false);
}

/* T5's attention: relative-position bias and key mask (head dims other than 64/128 on the CPU). */
void gpu_attention_bias(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, const wr_tensor *bias,
                               const int32_t *key_mask, float scale, wr_tensor *out)
{
    if (q->ne[0] != 64 && q->ne[0] != 128) {
        gpu_note_fallback(FB_ATTENTION_BIAS, "biased attention with a head dim other than 64/128");
        wr_backend_cpu.attention_bias(q, k, v, bias, key_mask, scale, out);
        return;
    }
    wr_tensor tm;
    int64_t tk = k->ne[2];
    if (key_mask)
        WR_ASSERT(wr_tensor_init(&tm, WR_DTYPE_I32, 1, &tk, (void *)(uintptr_t)key_mask), "key mask");
    stage sq, sk, sv, sb, sm, so;
    gpu_stage_in(&sq, q, true);
    gpu_stage_in(&sk, k, true);
    gpu_stage_in(&sv, v, true);
    if (bias)
        gpu_stage_in(&sb, bias, true);
    if (key_mask)
        gpu_stage_in(&sm, &tm, true);
    gpu_stage_in(&so, out, false);
    CHECK(wr_gpu_attention_bias(gpu_dev, &sq.t, &sk.t, &sv.t, bias ? &sb.t : NULL, key_mask ? &sm.t : NULL, scale,
                                &so.t, NULL));
    gpu_finish();
    gpu_stage_out(&so, true);
    gpu_stage_out(&sq, false);
    gpu_stage_out(&sk, false);
    gpu_stage_out(&sv, false);
    if (bias)
        gpu_stage_out(&sb, false);
    if (key_mask)
        gpu_stage_out(&sm, false);
}
