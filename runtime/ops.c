/* Op entry points: argument validation once for all backends, then dispatch (see ops.h). */
#include "runtime/ops.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "runtime/cpu/attention_sage.h"
#include "runtime/cpu/sage_prepare.h"
#include "runtime/quant.h"

static const wr_backend *current = &wr_backend_cpu;
static wr_attention_mode attention_mode = WR_ATTENTION_DENSE;

const wr_backend *wr_backend_current(void) { return current; }
void wr_backend_select(const wr_backend *b) { current = b ? b : &wr_backend_cpu; }

static void check_f32(const wr_tensor *t, const char *what)
{
    WR_ASSERT(t && t->dtype == WR_DTYPE_F32, "%s must be F32", what);
    WR_ASSERT(t->nb[0] == 4, "%s rows must be contiguous", what);
}

static void check_rows_match(const wr_tensor *a, const wr_tensor *b, const char *what)
{
    WR_ASSERT(a->ne[0] == b->ne[0] && wr_tensor_nrows(a) == wr_tensor_nrows(b),
              "%s: shape [%lld x %lld] vs [%lld x %lld]", what, (long long)wr_tensor_nrows(a),
              (long long)a->ne[0], (long long)wr_tensor_nrows(b), (long long)b->ne[0]);
}

/* A [1, D] row seen as [M, D] (row stride 0) for ops that take strided row views; returns t as it
 * is when it already has M rows. */
static const wr_tensor *broadcast_row(const wr_tensor *t, const wr_tensor *like, wr_tensor *view)
{
    if (wr_tensor_nrows(t) == wr_tensor_nrows(like))
        return t;
    int64_t ne[2] = {t->ne[0], wr_tensor_nrows(like)};
    WR_ASSERT(wr_tensor_init(view, WR_DTYPE_F32, 2, ne, t->data), "broadcast view");
    view->nb[1] = 0;
    return view;
}

void wr_op_matmul(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, wr_act act, wr_tensor *y)
{
    check_f32(x, "matmul x");
    check_f32(y, "matmul y");
    WR_ASSERT(wr_tensor_is_contiguous(w), "matmul weight must be contiguous");
    WR_ASSERT(wr_dequant_get(w->dtype), "matmul weight dtype %s has no converter", wr_dtype_name(w->dtype));
    WR_ASSERT(x->ne[0] == w->ne[0], "matmul: x has K=%lld, w has K=%lld", (long long)x->ne[0],
              (long long)w->ne[0]);
    WR_ASSERT(y->ne[0] == wr_tensor_nrows(w), "matmul: y has N=%lld, w has N=%lld", (long long)y->ne[0],
              (long long)wr_tensor_nrows(w));
    WR_ASSERT(wr_tensor_nrows(x) == wr_tensor_nrows(y), "matmul: x and y row counts differ");
    WR_ASSERT(wr_tensor_is_contiguous(y), "matmul y must be contiguous");
    WR_ASSERT(x->data != y->data, "matmul y must not alias x");
    WR_ASSERT(!bias || (bias->dtype == WR_DTYPE_F32 && wr_tensor_nelements(bias) == y->ne[0]),
              "matmul bias must be F32 [N]");
    WR_ASSERT((unsigned)act < WR_ACT_COUNT, "matmul: bad activation");
    current->matmul(x, w, bias, act, y);
}

void wr_op_layer_norm(const wr_tensor *x, const wr_tensor *w, const wr_tensor *b, float eps, wr_tensor *y)
{
    check_f32(x, "layer_norm x");
    check_f32(y, "layer_norm y");
    check_rows_match(x, y, "layer_norm");
    WR_ASSERT((w == NULL) == (b == NULL), "layer_norm: weight and bias go together");
    WR_ASSERT(!w || (w->dtype == WR_DTYPE_F32 && wr_tensor_nelements(w) == x->ne[0] &&
                     b->dtype == WR_DTYPE_F32 && wr_tensor_nelements(b) == x->ne[0]),
              "layer_norm: affine parameters must be F32 [D]");
    current->layer_norm(x, w, b, eps, y);
}

void wr_op_rms_norm(const wr_tensor *x, const wr_tensor *w, float eps, wr_tensor *y)
{
    check_f32(x, "rms_norm x");
    check_f32(y, "rms_norm y");
    check_rows_match(x, y, "rms_norm");
    WR_ASSERT(w && w->dtype == WR_DTYPE_F32 && wr_tensor_nelements(w) == x->ne[0],
              "rms_norm: weight must be F32 [D]");
    current->rms_norm(x, w, eps, y);
}

void wr_op_modulate(const wr_tensor *x, const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y)
{
    check_f32(x, "modulate x");
    check_f32(shift, "modulate shift");
    check_f32(scale, "modulate scale");
    check_f32(y, "modulate y");
    check_rows_match(x, shift, "modulate shift");
    check_rows_match(x, scale, "modulate scale");
    check_rows_match(x, y, "modulate y");
    current->modulate(x, shift, scale, y);
}

void wr_op_add_gated(wr_tensor *x, const wr_tensor *y, const wr_tensor *gate)
{
    check_f32(x, "add_gated x");
    check_f32(y, "add_gated y");
    check_rows_match(x, y, "add_gated");
    wr_tensor row;
    if (gate) {
        check_f32(gate, "add_gated gate");
        if (wr_tensor_nrows(gate) == 1 && wr_tensor_nrows(x) > 1) {
            WR_ASSERT(gate->ne[0] == x->ne[0], "add_gated: gate row has %lld columns, x %lld", (long long)gate->ne[0],
                      (long long)x->ne[0]);
            gate = broadcast_row(gate, x, &row);
        }
        check_rows_match(x, gate, "add_gated gate");
    }
    current->add_gated(x, y, gate);
}

void wr_op_layer_norm_modulate(const wr_tensor *x, const wr_tensor *w, const wr_tensor *b, float eps,
                               const wr_tensor *shift, const wr_tensor *scale, wr_tensor *y)
{
    check_f32(shift, "layer_norm_modulate shift");
    check_f32(scale, "layer_norm_modulate scale");
    int64_t m = wr_tensor_nrows(x), r = wr_tensor_nrows(shift);
    WR_ASSERT(wr_tensor_is_contiguous(shift) && wr_tensor_is_contiguous(scale) && shift->ne[0] == x->ne[0] &&
                  wr_tensor_same_shape(shift, scale) && (r == 1 || r == m),
              "layer_norm_modulate: shift/scale must be contiguous [1 or %lld, %lld]", (long long)m,
              (long long)x->ne[0]);
    if (current->layer_norm_modulate) {
        check_f32(x, "layer_norm_modulate x");
        check_f32(y, "layer_norm_modulate y");
        check_rows_match(x, y, "layer_norm_modulate");
        current->layer_norm_modulate(x, w, b, eps, shift, scale, y);
        return;
    }
    wr_tensor sh, sc;
    wr_op_layer_norm(x, w, b, eps, y);
    wr_op_modulate(y, broadcast_row(shift, x, &sh), broadcast_row(scale, x, &sc), y);
}

void wr_op_add(const wr_tensor *x, const wr_tensor *b, wr_tensor *y)
{
    check_f32(x, "add x");
    check_f32(b, "add b");
    check_f32(y, "add y");
    check_rows_match(x, y, "add");
    WR_ASSERT(b->ne[0] == x->ne[0] && (wr_tensor_nrows(b) == 1 || wr_tensor_nrows(b) == wr_tensor_nrows(x)),
              "add: b must have one row or as many rows as x");
    current->add(x, b, y);
}

void wr_op_rope_wan(wr_tensor *x, int grid_f, int grid_h, int grid_w)
{
    check_f32(x, "rope x");
    WR_ASSERT(x->ne[0] == 128, "rope: head dim must be 128 (got %lld)", (long long)x->ne[0]);
    WR_ASSERT(wr_tensor_is_contiguous(x), "rope x must be contiguous");
    WR_ASSERT(grid_f >= 0 && grid_h >= 0 && grid_w >= 0, "rope: negative grid");
    current->rope_wan(x, grid_f, grid_h, grid_w);
}

void wr_op_attention(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, int64_t kv_len,
                     float scale, wr_tensor *out)
{
    check_f32(q, "attention q");
    check_f32(k, "attention k");
    check_f32(v, "attention v");
    check_f32(out, "attention out");
    WR_ASSERT(wr_tensor_is_contiguous(q) && wr_tensor_is_contiguous(k) && wr_tensor_is_contiguous(v) &&
                  wr_tensor_is_contiguous(out), "attention operands must be contiguous");
    WR_ASSERT(q->ne[0] == k->ne[0] && k->ne[0] == v->ne[0] && q->ne[1] == k->ne[1] && k->ne[1] == v->ne[1],
              "attention: head counts / dims differ");
    WR_ASSERT(k->ne[2] == v->ne[2], "attention: k and v lengths differ");
    WR_ASSERT(wr_tensor_same_shape(q, out), "attention: out must be shaped like q");
    WR_ASSERT(kv_len >= 1 && kv_len <= k->ne[2], "attention: kv_len %lld out of [1, %lld]",
              (long long)kv_len, (long long)k->ne[2]);
    WR_ASSERT(out->data != q->data && out->data != k->data && out->data != v->data,
              "attention out must not alias its inputs");
    if (attention_mode == WR_ATTENTION_SAGE && q->ne[0] % 32 == 0)
        (current->attention_sage ? current->attention_sage : cpu_attention_sage)(q, k, v, kv_len, scale, out);
    else
        current->attention(q, k, v, kv_len, scale, out);
}

void wr_op_self_attention_sage_fused(const wr_tensor *q_raw, const wr_tensor *k_raw, const wr_tensor *v,
                                     const wr_tensor *norm_q, const wr_tensor *norm_k, float eps, int grid_f,
                                     int grid_h, int grid_w, float scale, wr_tensor *out)
{
    check_f32(q_raw, "sage fused attention q");
    check_f32(k_raw, "sage fused attention k");
    check_f32(v, "sage fused attention v");
    check_f32(out, "sage fused attention out");
    WR_ASSERT(wr_tensor_is_contiguous(q_raw) && wr_tensor_is_contiguous(k_raw) && wr_tensor_is_contiguous(v) &&
                  wr_tensor_is_contiguous(out), "sage fused attention operands must be contiguous");
    WR_ASSERT(q_raw->ne[0] == 128, "sage fused attention: head dim must be 128 (got %lld)", (long long)q_raw->ne[0]);
    WR_ASSERT(wr_tensor_nelements(q_raw) == q_raw->ne[0] * q_raw->ne[1] * q_raw->ne[2] && wr_tensor_same_shape(q_raw, k_raw) && wr_tensor_same_shape(q_raw, v) &&
                  wr_tensor_same_shape(q_raw, out), "sage fused attention: q, k, v, out must all be {128, NH, T}");
    int64_t D = q_raw->ne[0] * q_raw->ne[1];
    WR_ASSERT(norm_q && norm_k && norm_q->dtype == WR_DTYPE_F32 && norm_k->dtype == WR_DTYPE_F32 &&
                  wr_tensor_is_contiguous(norm_q) && wr_tensor_is_contiguous(norm_k) &&
                  wr_tensor_nelements(norm_q) == D && wr_tensor_nelements(norm_k) == D,
              "sage fused attention: norm weights must be F32 [NH*128 = %lld]", (long long)D);
    WR_ASSERT(grid_f >= 0 && grid_h >= 0 && grid_w >= 0 && (int64_t)grid_f * grid_h * grid_w <= q_raw->ne[2],
              "sage fused attention: grid %dx%dx%d exceeds the %lld tokens", grid_f, grid_h, grid_w,
              (long long)q_raw->ne[2]);
    WR_ASSERT(q_raw->ne[2] >= 1 && q_raw->ne[2] <= INT32_MAX / 2, "sage fused attention: %lld tokens",
              (long long)q_raw->ne[2]);
    WR_ASSERT(out->data != q_raw->data && out->data != k_raw->data && out->data != v->data,
              "sage fused attention out must not alias its inputs");
    (current->self_attention_sage_fused ? current->self_attention_sage_fused : cpu_self_attention_sage_fused)(
        q_raw, k_raw, v, norm_q, norm_k, eps, grid_f, grid_h, grid_w, scale, out);
}

static const char *const attention_mode_names[WR_ATTENTION_MODE_COUNT] = {"dense", "sage"};

void wr_attention_mode_set(wr_attention_mode mode)
{
    WR_ASSERT((unsigned)mode < WR_ATTENTION_MODE_COUNT, "attention mode %d", (int)mode);
    attention_mode = mode;
}

wr_attention_mode wr_attention_mode_get(void) { return attention_mode; }

bool wr_attention_mode_parse(const char *name, wr_attention_mode *mode)
{
    for (int i = 0; name && i < WR_ATTENTION_MODE_COUNT; i++)
        if (strcmp(name, attention_mode_names[i]) == 0) {
            *mode = (wr_attention_mode)i;
            return true;
        }
    return false;
}

const char *wr_attention_mode_name(wr_attention_mode mode)
{
    return (unsigned)mode < WR_ATTENTION_MODE_COUNT ? attention_mode_names[mode] : "?";
}

void wr_op_attention_bias(const wr_tensor *q, const wr_tensor *k, const wr_tensor *v, const wr_tensor *bias,
                          const int32_t *key_mask, float scale, wr_tensor *out)
{
    check_f32(q, "attention q");
    check_f32(k, "attention k");
    check_f32(v, "attention v");
    check_f32(out, "attention out");
    WR_ASSERT(wr_tensor_is_contiguous(q) && wr_tensor_is_contiguous(k) && wr_tensor_is_contiguous(v) &&
                  wr_tensor_is_contiguous(out), "attention operands must be contiguous");
    WR_ASSERT(q->ne[0] == k->ne[0] && k->ne[0] == v->ne[0] && q->ne[1] == k->ne[1] && k->ne[1] == v->ne[1] &&
                  k->ne[2] == v->ne[2], "attention: shapes differ");
    WR_ASSERT(wr_tensor_same_shape(q, out), "attention: out must be shaped like q");
    WR_ASSERT(!bias || (bias->dtype == WR_DTYPE_F32 && wr_tensor_is_contiguous(bias) && bias->ne[0] == k->ne[2] &&
                        bias->ne[1] == q->ne[2] && bias->ne[2] == q->ne[1]),
              "attention bias must be F32 [NH, Tq, Tk]");
    WR_ASSERT(out->data != q->data && out->data != k->data && out->data != v->data,
              "attention out must not alias its inputs");
    current->attention_bias(q, k, v, bias, key_mask, scale, out);
}

void wr_op_timestep_embedding(const wr_tensor *t, wr_tensor *out)
{
    check_f32(t, "timestep t");
    check_f32(out, "timestep out");
    WR_ASSERT(out->ne[0] % 2 == 0, "timestep embedding dim must be even");
    WR_ASSERT(wr_tensor_nelements(t) == wr_tensor_nrows(out), "timestep: one row per timestep");
    WR_ASSERT(wr_tensor_is_contiguous(t), "timestep t must be contiguous");
    current->timestep_embedding(t, out);
}

void wr_op_activate(wr_tensor *x, wr_act act)
{
    check_f32(x, "activate x");
    WR_ASSERT(wr_tensor_is_contiguous(x), "activate x must be contiguous");
    WR_ASSERT((unsigned)act < WR_ACT_COUNT, "activate: bad activation");
    current->activate(x, act);
}

/* ---- convolution and resampling ------------------------------------------------------------- */

void wr_op_conv3d(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const wr_conv_params *p,
                  wr_tensor *y)
{
    check_f32(x, "conv3d x");
    check_f32(y, "conv3d y");
    WR_ASSERT(wr_tensor_is_contiguous(x) && wr_tensor_is_contiguous(y), "conv3d x and y must be contiguous");
    WR_ASSERT(wr_tensor_is_contiguous(w), "conv3d weight must be contiguous");
    WR_ASSERT(wr_dequant_get(w->dtype), "conv3d weight dtype %s has no converter", wr_dtype_name(w->dtype));
    WR_ASSERT(w->n_dims == 4 || w->n_dims == 5, "conv3d weight must be 4-D or 5-D");
    WR_ASSERT(p && p->st >= 1 && p->sh >= 1 && p->sw >= 1, "conv3d: strides must be >= 1");
    WR_ASSERT(p->t_front >= 0 && p->top >= 0 && p->bottom >= 0 && p->left >= 0 && p->right >= 0,
              "conv3d: negative padding");
    int64_t kw = w->ne[0], kh = w->ne[1], kt = w->n_dims == 5 ? w->ne[2] : 1;
    int64_t cin = w->ne[w->n_dims - 2], cout = w->ne[w->n_dims - 1];
    WR_ASSERT(x->ne[3] == cin && x->ne[4] == 1, "conv3d: weight takes %lld channels, x has %lld", (long long)cin,
              (long long)x->ne[3]);
    int64_t to = (x->ne[2] + p->t_front - kt) / p->st + 1, ho = (x->ne[1] + p->top + p->bottom - kh) / p->sh + 1;
    int64_t wo = (x->ne[0] + p->left + p->right - kw) / p->sw + 1;
    WR_ASSERT(x->ne[2] + p->t_front >= kt && x->ne[1] + p->top + p->bottom >= kh &&
                  x->ne[0] + p->left + p->right >= kw, "conv3d: kernel larger than the padded input");
    WR_ASSERT(y->ne[0] == wo && y->ne[1] == ho && y->ne[2] == to && y->ne[3] == cout && y->ne[4] == 1,
              "conv3d: y is {%lld, %lld, %lld, %lld}, expected {%lld, %lld, %lld, %lld}", (long long)y->ne[0],
              (long long)y->ne[1], (long long)y->ne[2], (long long)y->ne[3], (long long)wo, (long long)ho,
              (long long)to, (long long)cout);
    WR_ASSERT(!bias || (bias->dtype == WR_DTYPE_F32 && wr_tensor_is_contiguous(bias) &&
                        wr_tensor_nelements(bias) == cout), "conv3d bias must be F32 [O]");
    WR_ASSERT(x->data != y->data, "conv3d y must not alias x");
    current->conv3d(x, w, bias, p, y);
}

void wr_op_conv_transpose2d(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, int stride, int pad,
                            wr_tensor *y)
{
    check_f32(x, "conv_transpose2d x");
    check_f32(w, "conv_transpose2d w");
    check_f32(y, "conv_transpose2d y");
    WR_ASSERT(wr_tensor_is_contiguous(x) && wr_tensor_is_contiguous(w) && wr_tensor_is_contiguous(y),
              "conv_transpose2d operands must be contiguous");
    WR_ASSERT(stride >= 1 && pad >= 0, "conv_transpose2d: stride %d, padding %d", stride, pad);
    int64_t kw = w->ne[0], kh = w->ne[1], cout = w->ne[2], cin = w->ne[3];
    WR_ASSERT(x->ne[2] == cin && x->ne[3] == 1 && w->ne[4] == 1, "conv_transpose2d: w takes %lld channels, x has %lld",
              (long long)cin, (long long)x->ne[2]);
    int64_t ow = (x->ne[0] - 1) * stride - 2 * pad + kw, oh = (x->ne[1] - 1) * stride - 2 * pad + kh;
    WR_ASSERT(ow >= 1 && oh >= 1 && y->ne[0] == ow && y->ne[1] == oh && y->ne[2] == cout && y->ne[3] == 1,
              "conv_transpose2d: y must be {%lld, %lld, %lld}", (long long)ow, (long long)oh, (long long)cout);
    WR_ASSERT(!bias || (bias->dtype == WR_DTYPE_F32 && wr_tensor_is_contiguous(bias) &&
                        wr_tensor_nelements(bias) == cout), "conv_transpose2d bias must be F32 [O]");
    WR_ASSERT(x->data != y->data, "conv_transpose2d y must not alias x");
    current->conv_transpose2d(x, w, bias, stride, pad, y);
}

void wr_op_resize_bilinear(const wr_tensor *x, double f, wr_tensor *y)
{
    check_f32(x, "resize x");
    check_f32(y, "resize y");
    WR_ASSERT(wr_tensor_is_contiguous(x) && wr_tensor_is_contiguous(y), "resize x and y must be contiguous");
    WR_ASSERT(f > 0.0, "resize: factor must be positive");
    WR_ASSERT(y->ne[0] == (int64_t)floor((double)x->ne[0] * f) && y->ne[1] == (int64_t)floor((double)x->ne[1] * f) &&
                  y->ne[0] >= 1 && y->ne[1] >= 1 && wr_tensor_nrows(y) / y->ne[1] == wr_tensor_nrows(x) / x->ne[1],
              "resize: y must be {floor(W·f), floor(H·f), C} of x");
    WR_ASSERT(x->data != y->data, "resize y must not alias x");
    current->resize_bilinear(x, f, y);
}

void wr_op_warp(const wr_tensor *x, const wr_tensor *flow, wr_tensor *y)
{
    check_f32(x, "warp x");
    check_f32(flow, "warp flow");
    check_f32(y, "warp y");
    WR_ASSERT(wr_tensor_is_contiguous(x) && wr_tensor_is_contiguous(flow) && wr_tensor_is_contiguous(y),
              "warp operands must be contiguous");
    WR_ASSERT(wr_tensor_same_shape(x, y), "warp: y must be shaped like x");
    WR_ASSERT(flow->ne[0] == x->ne[0] && flow->ne[1] == x->ne[1] && wr_tensor_nelements(flow) == 2 * x->ne[0] * x->ne[1],
              "warp: flow must be {W, H, 2}");
    WR_ASSERT(y->data != x->data && y->data != flow->data, "warp y must not alias its inputs");
    current->warp(x, flow, y);
}

/* ---- planar image glue ------------------------------------------------------------------------ */

static void check_planar(const wr_tensor *t, const char *what)
{
    check_f32(t, what);
    WR_ASSERT(wr_tensor_is_contiguous(t), "%s must be contiguous", what);
}

void wr_op_scalar(const wr_tensor *x, wr_scalar_op op, float a, float b, wr_tensor *y)
{
    check_planar(x, "scalar x");
    check_planar(y, "scalar y");
    WR_ASSERT((unsigned)op < WR_SCALAR_OP_COUNT, "scalar: bad op %d", (int)op);
    WR_ASSERT(wr_tensor_nelements(x) == wr_tensor_nelements(y), "scalar: x and y sizes differ");
    current->scalar(x, op, a, b, y);
}

void wr_op_channel_scale_add(const wr_tensor *x, const wr_tensor *scale, const wr_tensor *r, wr_tensor *y)
{
    check_planar(x, "channel_scale_add x");
    check_planar(scale, "channel_scale_add scale");
    check_planar(r, "channel_scale_add r");
    check_planar(y, "channel_scale_add y");
    WR_ASSERT(wr_tensor_same_shape(x, r) && wr_tensor_same_shape(x, y) && x->ne[3] == 1,
              "channel_scale_add: x, r and y must be {W, H, C} alike");
    WR_ASSERT(wr_tensor_nelements(scale) == x->ne[2], "channel_scale_add: scale must be [C]");
    current->channel_scale_add(x, scale, r, y);
}

void wr_op_pixel_shuffle(const wr_tensor *x, int s, wr_tensor *y)
{
    check_planar(x, "pixel_shuffle x");
    check_planar(y, "pixel_shuffle y");
    WR_ASSERT(s >= 1 && x->ne[2] % ((int64_t)s * s) == 0 && x->ne[3] == 1 && y->ne[0] == x->ne[0] * s &&
                  y->ne[1] == x->ne[1] * s && y->ne[2] == x->ne[2] / ((int64_t)s * s) && y->ne[3] == 1,
              "pixel_shuffle: x {W, H, C·s²} -> y {W·s, H·s, C} with s = %d", s);
    WR_ASSERT(x->data != y->data, "pixel_shuffle y must not alias x");
    current->pixel_shuffle(x, s, y);
}

void wr_op_mask_blend(const wr_tensor *x0, const wr_tensor *x1, const wr_tensor *mask, wr_tensor *y)
{
    check_planar(x0, "mask_blend x0");
    check_planar(x1, "mask_blend x1");
    check_planar(mask, "mask_blend mask");
    check_planar(y, "mask_blend y");
    WR_ASSERT(wr_tensor_same_shape(x0, x1) && wr_tensor_same_shape(x0, y) && x0->ne[3] == 1,
              "mask_blend: x0, x1 and y must be {W, H, C} alike");
    WR_ASSERT(mask->ne[0] == x0->ne[0] && mask->ne[1] == x0->ne[1] && wr_tensor_nelements(mask) == x0->ne[0] * x0->ne[1],
              "mask_blend: mask must be {W, H}");
    WR_ASSERT(y->data != mask->data, "mask_blend y must not alias mask");
    current->mask_blend(x0, x1, mask, y);
}

/* ---- fused matmul epilogues ------------------------------------------------------------------ */

/* The intermediate of the composed wr_op_matmul_gated_add: a band of rows at a time, at most
 * GATED_BAND_BYTES (a whole [M, N] would duplicate the caller's own buffers: 1.5 GiB for A14B at
 * 720p), kept between calls so the step loop does not allocate; a concurrent call takes a private
 * block. Rows of a matmul do not depend on other rows (runtime/cpu/matmul.c, and each GPU kernel
 * output), so bands give the same bits as one pass. WANRT_GATED_BAND_ROWS overrides the band
 * (tests use it to get several bands from small shapes). */
#define GATED_BAND_BYTES ((size_t)64 << 20)
static atomic_flag gated_busy = ATOMIC_FLAG_INIT;
static float *gated_scratch;
static size_t gated_bytes;

static int64_t gated_band_rows(int64_t M, int64_t N)
{
    const char *e = getenv("WANRT_GATED_BAND_ROWS");
    int64_t rows = e && atoll(e) > 0 ? atoll(e) : N > 0 ? (int64_t)(GATED_BAND_BYTES / ((size_t)N * sizeof(float))) : M;
    return rows < 1 ? 1 : rows > M ? M : rows;
}

/* Rows [r0, r0 + rows) of t (rows `stride` bytes apart) as a 2-D view. */
static wr_tensor rows_view(const wr_tensor *t, int64_t r0, int64_t rows, size_t stride)
{
    wr_tensor v;
    int64_t ne[2] = {t->ne[0], rows};
    WR_ASSERT(wr_tensor_init(&v, t->dtype, 2, ne, wr_tensor_row(t, r0)), "rows view");
    v.nb[1] = stride;
    return v;
}

/* The composition for backends without the fused op, band by band: y = x·Wᵀ + b, then
 * residual += y · gate (a one-row gate seen as rows 0 bytes apart). Tensors whose rows are not
 * evenly spaced go in one band. */
static void matmul_gated_add_composed(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias,
                                      const wr_tensor *gate, wr_tensor *residual)
{
    int64_t M = wr_tensor_nrows(residual), N = residual->ne[0];
    bool gate_one = gate && wr_tensor_nrows(gate) == 1;
    size_t xs = 0, gs = 0;
    bool banded = wr_tensor_row_stride(x, &xs) && (!gate || gate_one || wr_tensor_row_stride(gate, &gs));
    int64_t band = banded ? gated_band_rows(M, N) : M;
    size_t bytes = (size_t)(band > 0 ? band : 1) * (size_t)(N > 0 ? N : 1) * sizeof(float);
    bool shared = !atomic_flag_test_and_set(&gated_busy);
    float *buf = shared ? gated_scratch : NULL;
    if (!shared || gated_bytes < bytes) {
        buf = malloc(bytes);
        WR_ASSERT(buf, "matmul_gated_add: out of memory for the %zu-byte intermediate", bytes);
        if (shared)
            free(gated_scratch), gated_scratch = buf, gated_bytes = bytes;
    }
    for (int64_t m0 = 0; m0 < M; m0 += band) {
        int64_t rows = M - m0 < band ? M - m0 : band;
        wr_tensor xb = banded ? rows_view(x, m0, rows, xs) : *x;
        wr_tensor rb = banded ? rows_view(residual, m0, rows, (size_t)N * sizeof(float)) : *residual;
        wr_tensor yb, gb;
        WR_ASSERT(wr_tensor_init(&yb, WR_DTYPE_F32, rb.n_dims, rb.ne, buf), "matmul_gated_add: y");
        if (gate)
            gb = gate_one ? rows_view(gate, 0, rows, 0) : banded ? rows_view(gate, m0, rows, gs) : *gate;
        current->matmul(&xb, w, bias, WR_ACT_NONE, &yb);
        current->add_gated(&rb, &yb, gate ? &gb : NULL);
    }
    if (shared)
        atomic_flag_clear(&gated_busy);
    else
        free(buf);
}

void wr_op_matmul_gated_add(const wr_tensor *x, const wr_tensor *w, const wr_tensor *bias, const wr_tensor *gate,
                            wr_tensor *residual)
{
    check_f32(x, "matmul_gated_add x");
    check_f32(residual, "matmul_gated_add residual");
    WR_ASSERT(wr_tensor_is_contiguous(w), "matmul_gated_add weight must be contiguous");
    WR_ASSERT(wr_dequant_get(w->dtype), "matmul_gated_add weight dtype %s has no converter", wr_dtype_name(w->dtype));
    WR_ASSERT(x->ne[0] == w->ne[0], "matmul_gated_add: x has K=%lld, w has K=%lld", (long long)x->ne[0],
              (long long)w->ne[0]);
    WR_ASSERT(residual->ne[0] == wr_tensor_nrows(w), "matmul_gated_add: residual has N=%lld, w has N=%lld",
              (long long)residual->ne[0], (long long)wr_tensor_nrows(w));
    WR_ASSERT(wr_tensor_nrows(x) == wr_tensor_nrows(residual), "matmul_gated_add: x and residual row counts differ");
    WR_ASSERT(wr_tensor_is_contiguous(residual), "matmul_gated_add residual must be contiguous");
    WR_ASSERT(x->data != residual->data, "matmul_gated_add residual must not alias x");
    WR_ASSERT(!bias || (bias->dtype == WR_DTYPE_F32 && wr_tensor_nelements(bias) == residual->ne[0]),
              "matmul_gated_add bias must be F32 [N]");
    if (gate) {
        check_f32(gate, "matmul_gated_add gate");
        int64_t rows = wr_tensor_nrows(gate);
        WR_ASSERT(gate->ne[0] == residual->ne[0] && (rows == wr_tensor_nrows(residual) || rows == 1),
                  "matmul_gated_add: gate is [%lld x %lld], residual [%lld x %lld] (gate rows: M or 1)",
                  (long long)rows, (long long)gate->ne[0], (long long)wr_tensor_nrows(residual),
                  (long long)residual->ne[0]);
        if (rows > 0) { /* the fused kernel reads gate while it rewrites residual */
            const char *g0 = gate->data, *g1 = (const char *)wr_tensor_row(gate, rows - 1) + 4 * (size_t)gate->ne[0];
            const char *r0 = residual->data, *r1 = r0 + wr_tensor_nbytes(residual);
            WR_ASSERT(g1 <= r0 || r1 <= g0, "matmul_gated_add gate must not overlap residual");
        }
    }
    if (current->matmul_gated_add && current->supports(WR_OP_MATMUL, w->dtype))
        current->matmul_gated_add(x, w, bias, gate, residual);
    else
        matmul_gated_add_composed(x, w, bias, gate, residual);
}

/* ---- volume ops (the Wan VAEs) ------------------------------------------------------------------ */

void wr_op_channel_rms_norm(const wr_tensor *x, const wr_tensor *gamma, int silu, wr_tensor *y)
{
    check_planar(x, "channel_rms_norm x");
    check_planar(gamma, "channel_rms_norm gamma");
    check_planar(y, "channel_rms_norm y");
    WR_ASSERT(wr_tensor_same_shape(x, y), "channel_rms_norm: x and y differ in shape");
    WR_ASSERT(wr_tensor_nelements(gamma) == x->ne[x->n_dims - 1], "channel_rms_norm: gamma must be [C] = [%lld]",
              (long long)x->ne[x->n_dims - 1]);
    current->channel_rms_norm(x, gamma, silu != 0, y);
}

void wr_op_upsample_nearest2x(const wr_tensor *x, wr_tensor *y)
{
    check_planar(x, "upsample_nearest2x x");
    check_planar(y, "upsample_nearest2x y");
    bool ok = x->n_dims == y->n_dims && y->ne[0] == 2 * x->ne[0] && y->ne[1] == 2 * x->ne[1];
    for (int i = 2; i < x->n_dims && ok; i++)
        ok = y->ne[i] == x->ne[i];
    WR_ASSERT(ok, "upsample_nearest2x: y must be x's shape with W and H doubled");
    WR_ASSERT(x->data != y->data, "upsample_nearest2x y must not alias x");
    current->upsample_nearest2x(x, y);
}

void wr_op_transpose(const wr_tensor *x, wr_tensor *y)
{
    check_planar(x, "transpose x");
    check_planar(y, "transpose y");
    WR_ASSERT(x->n_dims == 2 && y->n_dims == 2 && y->ne[0] == x->ne[1] && y->ne[1] == x->ne[0],
              "transpose: x {cols, rows} -> y {rows, cols}");
    WR_ASSERT(x->data != y->data, "transpose y must not alias x");
    current->transpose(x, y);
}

void wr_op_dup_up3d(const wr_tensor *x, int ft, int fs, int drop, wr_tensor *y)
{
    check_planar(x, "dup_up3d x");
    check_planar(y, "dup_up3d y");
    WR_ASSERT(x->n_dims == 4 && y->n_dims == 4 && ft >= 1 && fs >= 1 && drop >= 0 && drop < ft &&
                  y->ne[0] == x->ne[0] * fs && y->ne[1] == x->ne[1] * fs && y->ne[2] == x->ne[2] * ft - drop &&
                  (y->ne[3] * ft * fs * fs) % x->ne[3] == 0,
              "dup_up3d: x [Ci, T, H, W] -> y [Co, T·%d − %d, H·%d, W·%d]", ft, drop, fs, fs);
    WR_ASSERT(x->data != y->data, "dup_up3d y must not alias x");
    current->dup_up3d(x, ft, fs, drop, y);
}
