/* The GPU backend (see backend_gpu.h): staging of host tensors, then the op launchers. */
#include "runtime/gpu/backend_gpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu/attention_sage.h"
#include "runtime/gpu/backend_gpu_mem.h"
#include "runtime/gpu/gpu_ops.h"
#include "runtime/log.h"

static wr_gpu *g_dev;
static wr_gpu_matmul_precision g_prec;
/* WANRT_GPU_PRECISION=int8: Q8_0 matmuls take int8 activations; =fp8: F8_E4M3FN ones take e4m3
 * activations as well (wr_gpu_matmul_q); everything else keeps g_prec (fp32). */
static bool g_act_i8, g_act_f8;

#define CHECK(expr)                                                                        \
    do {                                                                                   \
        wr_status st_ = (expr);                                                            \
        WR_ASSERT(st_ == WR_OK, "%s backend: %s", wr_gpu_kind_name(wr_gpu_get_kind(g_dev)), \
                  wr_last_error());                                                        \
    } while (0)

/* ---- staging ------------------------------------------------------------------------------- */

typedef struct stage {
    wr_tensor t;           /* what the launcher sees: contiguous, data on the device */
    const wr_tensor *orig; /* the caller's tensor */
    void *packed;          /* host copy when orig has strided rows */
    void *dev;             /* device copy (cuda) */
    size_t bytes;
} stage;

static bool rows_contiguous(const wr_tensor *t) { return wr_tensor_is_contiguous(t); }

/* Bytes of host operands ops were given (staged on CUDA; used in place on the emulator). */
static _Atomic size_t g_host_operand_bytes;
/* Whether the current op staged anything into device memory (then it synchronises at its end). */
static bool g_staged;

size_t wr_backend_gpu_host_operand_bytes(void) { return g_host_operand_bytes; }

/* The bytes from a tensor's first to one past its last element (views included). */
static size_t extent(const wr_tensor *t)
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

static void stage_in(stage *s, const wr_tensor *t, bool upload)
{
    memset(s, 0, sizeof *s);
    s->orig = t;
    s->t = *t;
    if (gpu_mem_holds(t->data, extent(t))) { /* a buffer or placed weight: used where it is */
        WR_ASSERT(rows_contiguous(t), "GPU backend: a strided view of device memory reached an op that needs "
                                      "contiguous operands");
        return;
    }
    g_host_operand_bytes += wr_tensor_nbytes(t);
    WR_ASSERT(!wr_gpu_recording(g_dev), "GPU backend: a host tensor reached an op inside a recording (only buffers "
                                        "and placed weights can be replayed)");
    bool cuda = wr_gpu_get_kind(g_dev) == WR_GPU_CUDA;
    if (rows_contiguous(t) && !cuda)
        return; /* emulator: host memory is device memory */
    int64_t ne[WR_MAX_DIMS];
    memcpy(ne, t->ne, sizeof ne);
    WR_ASSERT(wr_tensor_init(&s->t, t->dtype, t->n_dims, ne, NULL), "stage: bad shape");
    s->t.scale = t->scale;
    s->bytes = wr_tensor_nbytes(&s->t);
    const void *src = t->data;
    if (!rows_contiguous(t)) {
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
    CHECK(wr_gpu_alloc(g_dev, s->bytes, &s->dev));
    g_staged = true;
    if (upload)
        CHECK(wr_gpu_copy_h2d(g_dev, s->dev, src, s->bytes, NULL));
    s->t.data = s->dev;
}

/* Copies an output back into the caller's tensor (when it was staged) and frees the stage. */
static void stage_out(stage *s, bool download)
{
    if (s->dev) {
        void *dst = s->packed ? s->packed : s->orig->data;
        if (download) {
            CHECK(wr_gpu_copy_d2h(g_dev, dst, s->dev, s->bytes, NULL));
            CHECK(wr_gpu_sync(g_dev));
        }
        CHECK(wr_gpu_free(g_dev, s->dev));
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
static void finish(void)
{
    if (g_staged)
        CHECK(wr_gpu_sync(g_dev));
    g_staged = false;
}

/* ---- CPU fallbacks on device operands -------------------------------------------------------- */

/* A host view of an operand for an op computed by the CPU backend: device-resident tensors
 * (buffers) are copied to the host and, for outputs, back; host tensors are used as they are. */
typedef struct mirror {
    wr_tensor t;
    const wr_tensor *orig;
    void *host;
} mirror;

static void mirror_in(mirror *m, const wr_tensor *t, bool read)
{
    m->orig = t, m->t = *t, m->host = NULL;
    if (!gpu_mem_holds(t->data, extent(t)))
        return;
    WR_ASSERT(!wr_gpu_recording(g_dev), "GPU backend: a CPU fallback inside a recording cannot be replayed");
    WR_ASSERT(rows_contiguous(t), "GPU backend: a strided view of device memory reached a CPU fallback");
    size_t b = wr_tensor_nbytes(t);
    m->host = malloc(b ? b : 1);
    WR_ASSERT(m->host, "GPU backend: out of host memory for a CPU fallback");
    if (read) {
        CHECK(wr_gpu_copy_d2h(g_dev, m->host, t->data, b, NULL));
        CHECK(wr_gpu_sync(g_dev));
    }
    m->t.data = m->host;
}

static void mirror_out(mirror *m, bool write_back)
{
    if (m->host && write_back) {
        CHECK(wr_gpu_copy_h2d(g_dev, m->orig->data, m->host, wr_tensor_nbytes(m->orig), NULL));
        CHECK(wr_gpu_sync(g_dev));
    }
    free(m->host);
    m->host = NULL;
}

/* ---- ops ------------------------------------------------------------------------------------ */

static bool gpu_weight_dtype(wr_dtype t) { return wr_gpu_matmul_supports(t); }

static bool gpu_supports(wr_op_id op, wr_dtype weight_dtype)
{
    switch (op) {
    case WR_OP_MATMUL:
        return gpu_weight_dtype(weight_dtype);
    case WR_OP_TIMESTEP_EMBEDDING:
        return false; /* computed by the CPU backend */
    case WR_OP_CONV3D:
        return wr_gpu_conv3d_supports(weight_dtype);
    default:
        return true;
    }
}

/* Ops without a kernel yet run on the CPU backend; say so once per kind rather than hide it. */
/* One warning per kind of fallback and run (each kind its own slot: a shared slot would let one
 * fallback silence another). */
typedef enum fallback_kind {
    FB_MATMUL,
    FB_ATTENTION,
    FB_TIMESTEP,
    FB_ATTENTION_BIAS,
    FB_ATTENTION_SAGE,
    FB_CONV3D,
    FB_CONV_TRANSPOSE,
    FB_COUNT
} fallback_kind;

static void note_cpu_fallback(fallback_kind kind, const char *what)
{
    static _Atomic int reported[FB_COUNT];
    if (kind < FB_COUNT && !reported[kind]++)
        wr_log_warn("%s: no GPU kernel yet, computed by the CPU backend", what);
}

static void activate_staged(wr_tensor *t, wr_act act)
{
    if (act == WR_ACT_NONE)
        return;
    wr_gpu_unary_op op = act == WR_ACT_SILU ? WR_GPU_UNARY_SILU : WR_GPU_UNARY_GELU_TANH;
    CHECK(wr_gpu_unary(g_dev, op, t, t, NULL));
}

/* The route for weight dtype wt: int8/fp8 activations where WANRT_GPU_PRECISION asks for them and the
 * device has the tensor cores (else a warning, once, and g_prec), else g_prec. */
static wr_gpu_matmul_route matmul_route(wr_dtype wt)
{
    wr_gpu_mmq q = wt == WR_DTYPE_Q8_0 ? WR_GPU_MMQ_INT8 : WR_GPU_MMQ_FP8;
    bool quant = (q == WR_GPU_MMQ_INT8 && g_act_i8) || (wt == WR_DTYPE_F8_E4M3FN && g_act_f8);
    int need = q == WR_GPU_MMQ_INT8 ? 80 : 89;
    if (quant && wr_gpu_arch(g_dev) < need) {
        static _Atomic int warned[2];
        if (!warned[q]++)
            wr_log_warn("WANRT_GPU_PRECISION: %s tensor cores need sm_%d, the device is sm_%d: those matmuls stay "
                        "on the %s path", q == WR_GPU_MMQ_INT8 ? "int8" : "fp8", need, wr_gpu_arch(g_dev),
                        g_prec == WR_GPU_MATMUL_FP32 ? "fp32" : "bf16");
        quant = false;
    }
    if (quant)
        return q == WR_GPU_MMQ_INT8 ? WR_GPU_MM_INT8 : WR_GPU_MM_FP8;
    return g_prec == WR_GPU_MATMUL_BF16_MMA ? WR_GPU_MM_BF16_MMA : WR_GPU_MM_FP32;
}

/* One matmul launch on staged operands: y (already staged, uploaded when the epilogue reads it) gets
 * the epilogue; the activation runs in the kernel, not as a separate pass. */
static void matmul_staged(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias,
                          const wr_gpu_matmul_epilogue *epi, stage *sy)
{
    stage sx, sw, sb;
    stage_in(&sx, x, true);
    stage_in(&sw, w, true);
    if (bias)
        stage_in(&sb, bias, true);
    CHECK(wr_gpu_matmul_epi(g_dev, &sx.t, &sw.t, bias ? &sb.t : NULL, epi, &sy->t, matmul_route(w->dtype), NULL));
    finish();
    stage_out(sy, true);
    stage_out(&sx, false);
    stage_out(&sw, false);
    if (bias)
        stage_out(&sb, false);
}

static void gpu_matmul(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_act act, wr_tensor *y)
{
    if (!gpu_weight_dtype(w->dtype)) {
        note_cpu_fallback(FB_MATMUL, wr_dtype_name(w->dtype)[0] == 'Q' ? "matmul with Q4/Q5/K-quant weights" : "matmul with this weight dtype");
        mirror mx, mw, mb, my;
        mirror_in(&mx, x, true), mirror_in(&mw, w, true), mirror_in(&my, y, false);
        if (bias)
            mirror_in(&mb, bias, true);
        wr_backend_cpu.matmul(&mx.t, &mw.t, bias ? &mb.t : NULL, act, &my.t);
        mirror_out(&my, true), mirror_out(&mx, false), mirror_out(&mw, false);
        if (bias)
            mirror_out(&mb, false);
        return;
    }
    stage sy;
    stage_in(&sy, y, false);
    wr_gpu_matmul_epilogue epi = {.act = act};
    matmul_staged(x, w, bias, &epi, &sy);
}

/* residual += (x·Wᵀ + bias) · gate in one kernel (ops.c sends other weight dtypes to the
 * composition of matmul and add_gated). A device-resident gate whose rows are evenly spaced (a
 * chunk of the modulation, one row, or a broadcast view) goes to the kernel as it is; a host gate
 * is staged (strided rows arrive packed). */
static void gpu_matmul_gated_add(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const wr_tensor *gate,
                                 wr_tensor *residual)
{
    size_t stride;
    bool gate_in_place = gate && gpu_mem_holds(gate->data, extent(gate)) && wr_tensor_row_stride(gate, &stride);
    stage sr, sg;
    stage_in(&sr, residual, true);
    if (gate && !gate_in_place)
        stage_in(&sg, gate, true);
    wr_gpu_matmul_epilogue epi = {.residual = true, .gate = !gate ? NULL : gate_in_place ? gate : &sg.t};
    matmul_staged(x, w, bias, &epi, &sr);
    if (gate && !gate_in_place)
        stage_out(&sg, false);
}

/* A row norm, with AdaLN modulation when shift/scale are given: one row for all rows or one per
 * row (mod_div). */
static void norm(wr_gpu_norm_kind kind, const wr_tensor *x, const wr_tensor *w, const wr_tensor *b, float eps,
                 const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y)
{
    stage sx, sw, sb, ssh, ssc, sy;
    stage_in(&sx, x, true);
    if (w)
        stage_in(&sw, w, true);
    if (b)
        stage_in(&sb, b, true);
    if (shift)
        stage_in(&ssh, shift, true), stage_in(&ssc, scale, true);
    bool alias = x->data == y->data;
    if (!alias)
        stage_in(&sy, y, false);
    int64_t rows = wr_tensor_nrows(x);
    wr_gpu_norm_args a = {.kind = kind, .eps = eps, .weight = w ? &sw.t : NULL, .bias = b ? &sb.t : NULL,
                          .shift = shift ? &ssh.t : NULL, .scale = shift ? &ssc.t : NULL,
                          .mod_div = shift && wr_tensor_nrows(shift) == 1 ? rows : 1};
    CHECK(wr_gpu_norm(g_dev, &a, &sx.t, alias ? &sx.t : &sy.t, NULL));
    finish();
    if (!alias)
        stage_out(&sy, true);
    stage_out(&sx, alias);
    if (w)
        stage_out(&sw, false);
    if (b)
        stage_out(&sb, false);
    if (shift)
        stage_out(&ssh, false), stage_out(&ssc, false);
}

static void gpu_layer_norm(const wr_tensor *x, const wr_tensor *w, const wr_tensor *b, float eps, wr_tensor *y)
{
    norm(WR_GPU_NORM_LAYER, x, w, b, eps, NULL, NULL, y);
}

static void gpu_rms_norm(const wr_tensor *x, const wr_tensor *w, float eps, wr_tensor *y)
{
    norm(WR_GPU_NORM_RMS, x, w, NULL, eps, NULL, NULL, y);
}

static void gpu_layer_norm_modulate(const wr_tensor *x, const wr_tensor *w, const wr_tensor *b, float eps,
                                    const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y)
{
    norm(WR_GPU_NORM_LAYER, x, w, b, eps, shift, scale, y);
}

static void gpu_modulate(const wr_tensor *x, const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y)
{
    stage sx, ssh, ssc, sy;
    stage_in(&sx, x, true);
    stage_in(&ssh, shift, true);
    stage_in(&ssc, scale, true);
    bool alias = x->data == y->data;
    if (!alias)
        stage_in(&sy, y, false);
    CHECK(wr_gpu_modulate(g_dev, &sx.t, &ssh.t, &ssc.t, alias ? &sx.t : &sy.t, NULL));
    finish();
    if (!alias)
        stage_out(&sy, true);
    stage_out(&sx, alias);
    stage_out(&ssh, false);
    stage_out(&ssc, false);
}

static void gpu_add_gated(wr_tensor *x, const wr_tensor *y, const wr_tensor *gate)
{
    wr_tensor row;
    if (gate && gate->nb[1] == 0 && wr_tensor_nrows(gate) > 1) { /* one row for all: the kernel repeats it */
        WR_ASSERT(wr_tensor_init(&row, WR_DTYPE_F32, 1, gate->ne, gate->data), "gate row");
        gate = &row;
    }
    stage sx, sy, sg;
    stage_in(&sx, x, true);
    stage_in(&sy, y, true);
    if (gate) {
        stage_in(&sg, gate, true);
        CHECK(wr_gpu_gated_add(g_dev, &sx.t, &sy.t, &sg.t, NULL));
    } else {
        CHECK(wr_gpu_binary(g_dev, WR_GPU_BINARY_ADD, &sx.t, &sy.t, &sx.t, NULL));
    }
    finish();
    stage_out(&sx, true);
    stage_out(&sy, false);
    if (gate)
        stage_out(&sg, false);
}

static void gpu_add(const wr_tensor *x, const wr_tensor *b, wr_tensor *y)
{
    stage sx, sb, sy;
    stage_in(&sx, x, true);
    stage_in(&sb, b, true);
    bool alias = x->data == y->data;
    if (!alias)
        stage_in(&sy, y, false);
    CHECK(wr_gpu_binary(g_dev, WR_GPU_BINARY_ADD, &sx.t, &sb.t, alias ? &sx.t : &sy.t, NULL));
    finish();
    if (!alias)
        stage_out(&sy, true);
    stage_out(&sx, alias);
    stage_out(&sb, false);
}

/* Wan's 3-D RoPE: the per-token angles are built here in float64 exactly as the CPU backend does
 * (rope_params for dims 44, 42, 42), rounded to float tables, and applied by the kernel in fp32.
 * Tokens past the F*H*W grid get the identity rotation (cos 1, sin 0). The tables stay on the
 * device for the next call with the same grid (every block of every step uses them): 2 · T · 64
 * floats, wr_backend_gpu_rope_table_bytes. */
enum { ROPE_PAIRS = 64, ROPE_PAIRS_F = 22, ROPE_PAIRS_HW = 21 };

static unsigned g_generation; /* bumped when cached device tables move (see backend_gpu_mem.h) */

unsigned gpu_backend_generation(void) { return g_generation; }

/* Int8/fp8 activations and sage attention allocate their temporaries per call. */
bool gpu_backend_recordable(void) { return !g_act_i8 && !g_act_f8 && wr_attention_mode_get() == WR_ATTENTION_DENSE; }

static struct rope_cache {
    int f, h, w;
    int64_t T;
    float *dev; /* cos [T][64], then sin [T][64] */
} g_rope;

size_t wr_backend_gpu_rope_table_bytes(int64_t tokens) { return (size_t)(2 * tokens * ROPE_PAIRS) * sizeof(float); }

static void rope_cache_drop(void)
{
    g_generation++;
    if (g_rope.dev) {
        gpu_mem_unregister(g_rope.dev);
        CHECK(wr_gpu_free(g_dev, g_rope.dev));
    }
    memset(&g_rope, 0, sizeof g_rope);
}

static const float *rope_tables(int grid_f, int grid_h, int grid_w, int64_t T)
{
    if (g_rope.dev && g_rope.f == grid_f && g_rope.h == grid_h && g_rope.w == grid_w && g_rope.T == T)
        return g_rope.dev;
    rope_cache_drop();
    int64_t n = (int64_t)grid_f * grid_h * grid_w;
    double theta[ROPE_PAIRS];
    for (int j = 0; j < ROPE_PAIRS; j++) {
        int local = j < ROPE_PAIRS_F ? j : j < ROPE_PAIRS_F + ROPE_PAIRS_HW ? j - ROPE_PAIRS_F : j - ROPE_PAIRS_F - ROPE_PAIRS_HW;
        double dim = j < ROPE_PAIRS_F ? 2.0 * ROPE_PAIRS_F : 2.0 * ROPE_PAIRS_HW;
        theta[j] = 1.0 / pow(10000.0, (2.0 * local) / dim);
    }
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
    CHECK(wr_gpu_alloc(g_dev, bytes, &d));
    CHECK(wr_gpu_copy_h2d(g_dev, d, cs, bytes, NULL));
    CHECK(wr_gpu_sync(g_dev));
    free(cs);
    gpu_mem_register(d, bytes);
    g_rope = (struct rope_cache){grid_f, grid_h, grid_w, T, d};
    return g_rope.dev;
}

static void gpu_rope_wan(wr_tensor *x, int grid_f, int grid_h, int grid_w)
{
    int64_t T = x->ne[2];
    const float *tables = rope_tables(grid_f, grid_h, grid_w, T);
    wr_tensor tc, ts;
    int64_t ne[2] = {ROPE_PAIRS, T};
    WR_ASSERT(wr_tensor_init(&tc, WR_DTYPE_F32, 2, ne, (void *)tables) &&
                  wr_tensor_init(&ts, WR_DTYPE_F32, 2, ne, (void *)(tables + T * ROPE_PAIRS)), "rope");
    stage sx;
    stage_in(&sx, x, true);
    CHECK(wr_gpu_rope(g_dev, &sx.t, &tc, &ts, &sx.t, NULL));
    finish();
    stage_out(&sx, true);
}

typedef void (*attention_fn)(const wr_tensor *, const wr_tensor *, const wr_tensor *, int64_t, float, wr_tensor *);

static void cpu_attention_on_host(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len,
                                  float scale, wr_tensor *out, attention_fn fn)
{
    mirror mq, mk, mv, mo;
    mirror_in(&mq, q, true), mirror_in(&mk, k, true), mirror_in(&mv, v, true), mirror_in(&mo, out, false);
    fn(&mq.t, &mk.t, &mv.t, kv_len, scale, &mo.t);
    mirror_out(&mo, true), mirror_out(&mq, false), mirror_out(&mk, false), mirror_out(&mv, false);
}

/* Attention on staged operands; keys at or past kv_len are masked, so only the first kv_len rows
 * of k and v go to the device. */
static void staged_attention(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len, float scale,
                             wr_tensor *out, bool sage)
{
    wr_tensor kk = wr_tensor_slice(k, 2, 0, kv_len), vv = wr_tensor_slice(v, 2, 0, kv_len);
    stage sq, sk, sv, so;
    stage_in(&sq, q, true);
    stage_in(&sk, &kk, true);
    stage_in(&sv, &vv, true);
    stage_in(&so, out, false);
    if (sage)
        CHECK(wr_gpu_attention_sage(g_dev, &sq.t, &sk.t, &sv.t, scale, &so.t, NULL));
    else
        CHECK(wr_gpu_attention_ex(g_dev, &sq.t, &sk.t, &sv.t, scale, &so.t, g_prec, NULL));
    finish();
    stage_out(&so, true);
    stage_out(&sq, false);
    stage_out(&sk, false);
    stage_out(&sv, false);
}

static void gpu_attention(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len, float scale,
                          wr_tensor *out)
{
    if (q->ne[0] != 64 && q->ne[0] != 128) {
        note_cpu_fallback(FB_ATTENTION, "attention with a head dim other than 64/128");
        cpu_attention_on_host(q, k, v, kv_len, scale, out, wr_backend_cpu.attention);
        return;
    }
    staged_attention(q, k, v, kv_len, scale, out, false);
}

/* Sage attention on the device from sm_80 (head dims 64/128); elsewhere the CPU twin. */
static void gpu_attention_sage(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len,
                               float scale, wr_tensor *out)
{
    if ((q->ne[0] != 64 && q->ne[0] != 128) || wr_gpu_arch(g_dev) < 80) {
        note_cpu_fallback(FB_ATTENTION_SAGE, "sage attention (head dim other than 64/128, or a device below sm_80)");
        cpu_attention_on_host(q, k, v, kv_len, scale, out, cpu_attention_sage);
        return;
    }
    staged_attention(q, k, v, kv_len, scale, out, true);
}

static void gpu_activate(wr_tensor *x, wr_act act)
{
    if (act == WR_ACT_NONE)
        return;
    stage sx;
    stage_in(&sx, x, true);
    activate_staged(&sx.t, act);
    finish();
    stage_out(&sx, true);
}

static void gpu_timestep_embedding(const wr_tensor *t, wr_tensor *out)
{
    note_cpu_fallback(FB_TIMESTEP, "the sinusoidal timestep embedding (float64)");
    mirror mt, mo;
    mirror_in(&mt, t, true), mirror_in(&mo, out, false);
    wr_backend_cpu.timestep_embedding(&mt.t, &mo.t);
    mirror_out(&mo, true), mirror_out(&mt, false);
}

/* T5's attention: relative-position bias and key mask (head dims other than 64/128 on the CPU). */
static void gpu_attention_bias(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, const wr_tensor *bias,
                               const int32_t *key_mask, float scale, wr_tensor *out)
{
    if (q->ne[0] != 64 && q->ne[0] != 128) {
        note_cpu_fallback(FB_ATTENTION_BIAS, "biased attention with a head dim other than 64/128");
        wr_backend_cpu.attention_bias(q, k, v, bias, key_mask, scale, out);
        return;
    }
    wr_tensor tm;
    int64_t tk = k->ne[2];
    if (key_mask)
        WR_ASSERT(wr_tensor_init(&tm, WR_DTYPE_I32, 1, &tk, (void *)(uintptr_t)key_mask), "key mask");
    stage sq, sk, sv, sb, sm, so;
    stage_in(&sq, q, true);
    stage_in(&sk, k, true);
    stage_in(&sv, v, true);
    if (bias)
        stage_in(&sb, bias, true);
    if (key_mask)
        stage_in(&sm, &tm, true);
    stage_in(&so, out, false);
    CHECK(wr_gpu_attention_bias(g_dev, &sq.t, &sk.t, &sv.t, bias ? &sb.t : NULL, key_mask ? &sm.t : NULL, scale,
                                &so.t, NULL));
    finish();
    stage_out(&so, true);
    stage_out(&sq, false);
    stage_out(&sk, false);
    stage_out(&sv, false);
    if (bias)
        stage_out(&sb, false);
    if (key_mask)
        stage_out(&sm, false);
}

static void gpu_conv3d(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const wr_conv_params *p,
                       wr_tensor *y)
{
    if (!wr_gpu_conv3d_supports(w->dtype) || w->ne[0] > 7 || w->ne[1] > 7 || (w->n_dims == 5 && w->ne[2] > 7)) {
        note_cpu_fallback(FB_CONV3D, "conv3d with this weight dtype or a kernel larger than 7");
        wr_backend_cpu.conv3d(x, w, bias, p, y);
        return;
    }
    stage sx, sw, sb, sy;
    stage_in(&sx, x, true);
    stage_in(&sw, w, true);
    if (bias)
        stage_in(&sb, bias, true);
    stage_in(&sy, y, false);
    CHECK(wr_gpu_conv3d_ex(g_dev, &sx.t, &sw.t, bias ? &sb.t : NULL, p, &sy.t, g_prec, NULL));
    finish();
    stage_out(&sy, true);
    stage_out(&sx, false);
    stage_out(&sw, false);
    if (bias)
        stage_out(&sb, false);
}

static void gpu_resize_bilinear(const wr_tensor *x, double f, wr_tensor *y)
{
    stage sx, sy;
    stage_in(&sx, x, true);
    stage_in(&sy, y, false);
    CHECK(wr_gpu_resize_bilinear(g_dev, &sx.t, f, &sy.t, NULL));
    finish();
    stage_out(&sy, true);
    stage_out(&sx, false);
}

static void gpu_warp(const wr_tensor *x, const wr_tensor *flow, wr_tensor *y)
{
    stage sx, sf, sy;
    stage_in(&sx, x, true);
    stage_in(&sf, flow, true);
    stage_in(&sy, y, false);
    CHECK(wr_gpu_warp(g_dev, &sx.t, &sf.t, &sy.t, NULL));
    finish();
    stage_out(&sy, true);
    stage_out(&sx, false);
    stage_out(&sf, false);
}

static void gpu_conv_transpose2d(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, int stride, int pad,
                                 wr_tensor *y)
{
    if (!wr_gpu_conv_transpose2d_supports((int)w->ne[1], (int)w->ne[0], stride, pad)) {
        note_cpu_fallback(FB_CONV_TRANSPOSE, "transposed convolution with a kernel over 8 or a stride over 4");
        wr_backend_cpu.conv_transpose2d(x, w, bias, stride, pad, y);
        return;
    }
    stage sx, sw, sb, sy;
    stage_in(&sx, x, true);
    stage_in(&sw, w, true);
    if (bias)
        stage_in(&sb, bias, true);
    stage_in(&sy, y, false);
    CHECK(wr_gpu_conv_transpose2d(g_dev, &sx.t, &sw.t, bias ? &sb.t : NULL, stride, pad, &sy.t, NULL));
    finish();
    stage_out(&sy, true);
    stage_out(&sx, false);
    stage_out(&sw, false);
    if (bias)
        stage_out(&sb, false);
}

static wr_backend g_backend = {
    .name = "gpu",
    .supports = gpu_supports,
    .matmul = gpu_matmul,
    .layer_norm = gpu_layer_norm,
    .rms_norm = gpu_rms_norm,
    .modulate = gpu_modulate,
    .add_gated = gpu_add_gated,
    .add = gpu_add,
    .rope_wan = gpu_rope_wan,
    .attention = gpu_attention,
    .attention_sage = gpu_attention_sage,
    .attention_bias = gpu_attention_bias,
    .timestep_embedding = gpu_timestep_embedding,
    .activate = gpu_activate,
    .conv3d = gpu_conv3d,
    .resize_bilinear = gpu_resize_bilinear,
    .warp = gpu_warp,
    .conv_transpose2d = gpu_conv_transpose2d,
    .layer_norm_modulate = gpu_layer_norm_modulate,
    .buffers = &wr_gpu_buffer_ops,
    .matmul_gated_add = gpu_matmul_gated_add,
};

/* ---- selection ------------------------------------------------------------------------------ */

wr_status wr_backend_gpu_open(wr_gpu_kind kind, const wr_gpu_options *opts, const wr_backend **out)
{
    wr_backend_gpu_close();
    WR_TRY(wr_gpu_open(&g_dev, kind, opts));
    const char *prec = getenv("WANRT_GPU_PRECISION");
    g_prec = WR_GPU_MATMUL_FP32;
    g_act_i8 = g_act_f8 = false;
    if (prec && strcmp(prec, "bf16") == 0) {
        g_prec = WR_GPU_MATMUL_BF16_MMA;
    } else if (prec && strcmp(prec, "int8") == 0) {
        g_act_i8 = true;
    } else if (prec && strcmp(prec, "fp8") == 0) {
        g_act_i8 = g_act_f8 = true;
    } else if (prec && *prec && strcmp(prec, "fp32") != 0) {
        wr_gpu_close(g_dev);
        g_dev = NULL;
        return wr_fail(WR_E_ARG, "WANRT_GPU_PRECISION: '%s' (fp32, bf16, int8 or fp8)", prec);
    }
    g_backend.name = wr_gpu_kind_name(kind);
    wr_log_debug("backend: %s (%s, %s matmul/attention/conv)", g_backend.name, wr_gpu_name(g_dev),
                g_prec == WR_GPU_MATMUL_FP32 ? (g_act_f8 ? "fp32 (int8/fp8 activations for Q8_0/fp8 weights)"
                                                 : g_act_i8 ? "fp32 (int8 activations for Q8_0 weights)"
                                                            : "fp32")
                                             : "bf16 tensor-core");
    *out = &g_backend;
    return WR_OK;
}

void wr_backend_gpu_close(void)
{
    if (wr_backend_current() == &g_backend)
        wr_backend_select(&wr_backend_cpu);
    if (g_dev)
        rope_cache_drop();
    gpu_mem_reset();
    wr_gpu_close(g_dev);
    g_dev = NULL;
}

wr_gpu *wr_backend_gpu_device(void) { return g_dev; }

wr_status wr_backend_choose(const char *device_arg)
{
    wr_backend_select(&wr_backend_cpu);
    const char *name = device_arg && *device_arg ? device_arg : getenv("WANRT_DEVICE");
    bool is_cpu = true;
    wr_gpu_kind kind = WR_GPU_EMU;
    if (name && *name && !wr_gpu_kind_parse(name, &kind, &is_cpu))
        return wr_fail(WR_E_ARG, "%s: unknown device '%s' (cpu, emu or cuda)",
                       device_arg && *device_arg ? "--device" : "WANRT_DEVICE", name);
    if (is_cpu)
        return WR_OK;
    const wr_backend *b;
    WR_TRY(wr_backend_gpu_open(kind, NULL, &b));
    wr_backend_select(b);
    return WR_OK;
}
