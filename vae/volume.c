/* Volume ops for the VAEs (see volume.h). The convolution is an im2col per output frame
 * followed by the threaded matmul of runtime/ops.h, so weights stay in their file dtype. */
#include "vae/volume.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "runtime/buffers.h"
#include "runtime/ops.h"
#include "runtime/threadpool.h"

/* ---- accounting ------------------------------------------------------------------------------ */

static _Thread_local int dry_run, resident;
static int host_volumes; /* tests: never resident */
static _Thread_local size_t mem_cur, mem_peak, op_peak;

void vae_dry_set(int dry) { dry_run = dry; }
void vae_resident_set(int on) { resident = on; }
int vae_resident(void) { return resident; }
void vae_set_host_volumes(int on) { host_volumes = on; }
int vae_dry(void) { return dry_run; }
size_t vae_mem_current(void) { return mem_cur; }
size_t vae_mem_peak(void) { return mem_peak; }
void vae_mem_reset_peak(void) { mem_peak = mem_cur; }
void vae_op_note(size_t bytes) { op_peak = bytes > op_peak ? bytes : op_peak; }
size_t vae_op_peak(void) { return op_peak; }
void vae_op_reset_peak(void) { op_peak = 0; }

static void count(size_t bytes)
{
    mem_cur += bytes;
    if (mem_cur > mem_peak)
        mem_peak = mem_cur;
}

void *vae_scratch_alloc(size_t bytes)
{
    void *p = dry_run ? NULL : malloc(bytes + 1);
    if (p || dry_run)
        count(bytes);
    return p;
}

void vae_scratch_free(void *p, size_t bytes)
{
    if (!p && !dry_run)
        return;
    free(p);
    mem_cur -= bytes;
}

/* dev: a backend buffer (only outside dry runs, where nothing is allocated at all). The bytes
 * are counted alike for both kinds, so the planner's numbers do not depend on residency. */
static wr_status vol_alloc_kind(vae_vol *v, int c, int t, int h, int w, int dev)
{
    v->c = c, v->t = t, v->h = h, v->w = w, v->acct = 0, v->dev = 0;
    size_t bytes = vae_vol_size(v) * sizeof(float);
    if (dev && !dry_run) {
        void *p;
        WR_TRY(wr_buffer_alloc(bytes ? bytes : sizeof(float), &p));
        count(bytes);
        v->d = p, v->dev = 1, v->acct = bytes;
        return WR_OK;
    }
    v->d = vae_scratch_alloc(bytes);
    if (!v->d && !dry_run)
        return wr_fail(WR_E_OOM, "VAE: out of memory for a [%d, %d, %d, %d] activation", c, t, h, w);
    v->acct = bytes;
    return WR_OK;
}

int vae_resident_now(void) { return resident && !host_volumes && !dry_run && !wr_buffers_are_host(); }

wr_status vae_vol_alloc(vae_vol *v, int c, int t, int h, int w)
{
    return vol_alloc_kind(v, c, t, h, w, vae_resident_now());
}

/* The volume as an F32 tensor ne = {W, H, T, C}. */
static wr_tensor vol_tensor(const vae_vol *v)
{
    wr_tensor t;
    int64_t ne[4] = {v->w, v->h, v->t, v->c};
    WR_ASSERT(wr_tensor_init(&t, WR_DTYPE_F32, 4, ne, v->d), "VAE volume tensor");
    return t;
}

/* The whole volume as one flat F32 tensor (for elementwise ops). */
static wr_tensor flat(const vae_vol *v)
{
    wr_tensor t;
    int64_t ne[1] = {(int64_t)vae_vol_size(v)};
    WR_ASSERT(wr_tensor_init(&t, WR_DTYPE_F32, 1, ne, v->d), "VAE volume tensor");
    return t;
}

wr_status vae_vol_zeros(vae_vol *v, int c, int t, int h, int w)
{
    WR_TRY(vae_vol_alloc(v, c, t, h, w));
    if (v->dev) {
        wr_tensor y = flat(v);
        wr_op_scalar(&y, WR_SCALAR_FILL, 0.0f, 0.0f, &y);
    } else if (v->d)
        memset(v->d, 0, vae_vol_size(v) * sizeof(float));
    return WR_OK;
}

void vae_vol_free(vae_vol *v)
{
    if (!v)
        return;
    if (v->dev) {
        wr_buffer_free(v->d);
        mem_cur -= v->acct;
    } else if (v->acct)
        vae_scratch_free(v->d, v->acct);
    else
        free(v->d);
    v->d = NULL;
    v->acct = 0;
    v->dev = 0;
}

/* Bytes between host and/or device memory, whichever side each pointer is on. */
static void move_bytes(void *dst, int dst_dev, const void *src, int src_dev, size_t n)
{
    if (dst_dev && src_dev)
        wr_buffer_copy(dst, src, n);
    else if (dst_dev)
        wr_buffer_write(dst, src, n);
    else if (src_dev)
        wr_buffer_read(dst, src, n);
    else
        memcpy(dst, src, n);
}

void vae_vol_copy_frames(vae_vol *dst, int dt0, const vae_vol *src, int st0, int n)
{
    WR_ASSERT(dst->c == src->c && dst->h == src->h && dst->w == src->w && dt0 >= 0 && st0 >= 0 && n >= 0 &&
                  dt0 + n <= dst->t && st0 + n <= src->t,
              "copy_frames: %d frames of [%d, %d, %d, %d] at %d into [%d, %d, %d, %d] at %d", n, src->c, src->t,
              src->h, src->w, st0, dst->c, dst->t, dst->h, dst->w, dt0);
    size_t plane = (size_t)src->h * src->w;
    for (int c = 0; c < src->c && !dry_run && n > 0; c++) /* frames of one channel are contiguous */
        move_bytes(dst->d + ((size_t)c * dst->t + (size_t)dt0) * plane, dst->dev,
                   src->d + ((size_t)c * src->t + (size_t)st0) * plane, src->dev, (size_t)n * plane * sizeof(float));
}

void vae_vol_copy_plane(vae_vol *dst, int dc, int dt, const vae_vol *src, int sc, int st)
{
    WR_ASSERT(dst->h == src->h && dst->w == src->w && dc < dst->c && dt < dst->t && sc < src->c && st < src->t,
              "copy_plane: outside the volumes");
    size_t plane = (size_t)src->h * src->w;
    if (!dry_run)
        move_bytes(dst->d + ((size_t)dc * dst->t + (size_t)dt) * plane, dst->dev,
                   src->d + ((size_t)sc * src->t + (size_t)st) * plane, src->dev, plane * sizeof(float));
}

wr_status vae_vol_download(const vae_vol *src, vae_vol *host)
{
    WR_TRY(vol_alloc_kind(host, src->c, src->t, src->h, src->w, 0));
    if (!dry_run)
        move_bytes(host->d, 0, src->d, src->dev, vae_vol_size(src) * sizeof(float));
    return WR_OK;
}

wr_status vae_vol_upload(const vae_vol *src, vae_vol *out)
{
    WR_TRY(vae_vol_alloc(out, src->c, src->t, src->h, src->w));
    if (!dry_run)
        move_bytes(out->d, out->dev, src->d, src->dev, vae_vol_size(src) * sizeof(float));
    return WR_OK;
}

wr_status vae_vol_clone(const vae_vol *src, vae_vol *out) { return vae_vol_upload(src, out); }

wr_status vae_vol_crop(const vae_vol *src, int t0, int nt, int y0, int nh, int x0, int nw, vae_vol *out)
{
    WR_ASSERT(t0 >= 0 && y0 >= 0 && x0 >= 0 && t0 + nt <= src->t && y0 + nh <= src->h && x0 + nw <= src->w,
              "crop outside the volume");
    WR_TRY(vae_vol_alloc(out, src->c, nt, nh, nw));
    if (nh == src->h && nw == src->w) { /* whole frames: one copy per channel */
        vae_vol_copy_frames(out, 0, src, t0, nt);
        return WR_OK;
    }
    for (int c = 0; c < src->c && !dry_run; c++)
        for (int t = 0; t < nt; t++)
            for (int y = 0; y < nh; y++)
                move_bytes(out->d + (((size_t)c * nt + (size_t)t) * nh + (size_t)y) * nw, out->dev,
                           src->d + (((size_t)c * src->t + (size_t)(t0 + t)) * src->h + (size_t)(y0 + y)) * src->w +
                               (size_t)x0,
                           src->dev, (size_t)nw * sizeof(float));
    return WR_OK;
}

void vae_vol_put_frames(vae_vol *dst, int t0, const vae_vol *src)
{
    WR_ASSERT(dst->c == src->c && dst->h == src->h && dst->w == src->w && t0 >= 0 && t0 + src->t <= dst->t,
              "put_frames: [%d, %d, %d, %d] at frame %d into [%d, %d, %d, %d]", src->c, src->t, src->h, src->w, t0,
              dst->c, dst->t, dst->h, dst->w);
    vae_vol_copy_frames(dst, t0, src, 0, src->t);
}

wr_status vae_sink_into_vol(void *ctx, const vae_vol *frames, int t0)
{
    vae_vol_put_frames(ctx, t0, frames);
    return WR_OK;
}

typedef struct im2col_ctx {
    const vae_vol *in;
    float *cols;  /* [rows of this block, C·kt·kh·kw] */
    int64_t row0; /* first output position (oy·wo + ox) of the block */
    int frame0;  /* first (padded) input frame of the window */
    int kt, kh, kw, sh, sw, ho, wo;
    vae_pad pad;
} im2col_ctx;

/* Per output position: the row of C·kt·kh·kw taps. Bounds are checked once per input row
 * (and per tap only at the left/right border), so interior positions copy kw floats straight. */
static void im2col_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const im2col_ctx *c = vc;
    const vae_vol *in = c->in;
    const int64_t k = (int64_t)in->c * c->kt * c->kh * c->kw;
    const size_t plane = (size_t)in->h * in->w;
    for (int64_t r = begin; r < end; r++) {
        int oy = (int)((c->row0 + r) / c->wo), ox = (int)((c->row0 + r) % c->wo);
        int x0 = ox * c->sw - c->pad.left, y0 = oy * c->sh - c->pad.top;
        int inner = x0 >= 0 && x0 + c->kw <= in->w;
        float *row = c->cols + r * k;
        for (int ch = 0; ch < in->c; ch++)
            for (int dt = 0; dt < c->kt; dt++) {
                int t = c->frame0 + dt - c->pad.t_front; /* frame in the unpadded input */
                const float *frame = t >= 0 ? in->d + ((size_t)ch * in->t + (size_t)t) * plane : NULL;
                for (int dy = 0; dy < c->kh; dy++, row += c->kw) {
                    int y = y0 + dy;
                    if (!frame || y < 0 || y >= in->h) {
                        for (int dx = 0; dx < c->kw; dx++)
                            row[dx] = 0.0f;
                        continue;
                    }
                    const float *src = frame + (size_t)y * in->w;
                    if (inner)
                        for (int dx = 0; dx < c->kw; dx++)
                            row[dx] = src[x0 + dx];
                    else
                        for (int dx = 0; dx < c->kw; dx++) {
                            int x = x0 + dx;
                            row[dx] = x >= 0 && x < in->w ? src[x] : 0.0f;
                        }
                }
            }
    }
}

/* res [n, cout] (position-major, as the matmul leaves it) -> out channel planes of frame ot. */
typedef struct scatter_ctx {
    const float *res;
    vae_vol *out;
    int64_t n, r0, rows;
    int cout, ot;
} scatter_ctx;

static void scatter_channels(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const scatter_ctx *c = vc;
    for (int64_t o = begin; o < end; o++) {
        float *dst = c->out->d + ((size_t)o * c->out->t + (size_t)c->ot) * (size_t)c->rows + (size_t)c->r0;
        for (int64_t r = 0; r < c->n; r++)
            dst[r] = c->res[r * c->cout + o];
    }
}

/* The im2col buffer holds at most this many floats: rows are processed in blocks, so the
 * scratch of a 720p convolution stays bounded (a whole 1280x720 plane at 96 channels x 27 taps
 * would be 9.6 GB). */
#define CONV_SCRATCH_FLOATS ((int64_t)1 << 23)

wr_status vae_conv3d(const vae_vol *in, const wr_tensor *weight, const wr_tensor *bias, int st, int sh, int sw,
                     vae_pad pad, vae_vol *out)
{
    WR_ASSERT(weight->n_dims >= 4, "conv weight must be 4-D or 5-D");
    int kw = (int)weight->ne[0], kh = (int)weight->ne[1];
    int kt = weight->n_dims == 5 ? (int)weight->ne[2] : 1;
    int cin = (int)weight->ne[weight->n_dims == 5 ? 3 : 2], cout = (int)weight->ne[weight->n_dims - 1];
    WR_ASSERT(cin == in->c, "conv: weight takes %d channels, input has %d", cin, in->c);
    int tp = in->t + pad.t_front, hp = in->h + pad.top + pad.bottom, wp = in->w + pad.left + pad.right;
    int to = (tp - kt) / st + 1, ho = (hp - kh) / sh + 1, wo = (wp - kw) / sw + 1;
    WR_ASSERT(to >= 1 && ho >= 1 && wo >= 1, "conv: empty output");
    WR_TRY(vae_vol_alloc(out, cout, to, ho, wo));
    /* a device's conv kernel gets the whole input, output, weight and bias (staged on CUDA) */
    vae_op_note((vae_vol_size(in) + (size_t)cout * to * ho * wo) * sizeof(float) + wr_tensor_nbytes(weight) +
                (bias ? wr_tensor_nbytes(bias) : 0));
    const wr_backend *be = wr_backend_current();
    int device_conv = be != &wr_backend_cpu && be->supports(WR_OP_CONV3D, weight->dtype);
    if (in->dev && !device_conv) { /* resident, but no kernel for this weight dtype: im2col on host copies */
        vae_vol hin, hout;
        WR_TRY(vae_vol_download(in, &hin));
        int was = resident;
        resident = 0;
        wr_status rc = vae_conv3d(&hin, weight, bias, st, sh, sw, pad, &hout);
        resident = was;
        vae_vol_free(&hin);
        if (rc == WR_OK)
            vae_vol_copy_frames(out, 0, &hout, 0, hout.t);
        vae_vol_free(&hout);
        return rc;
    }
    if (device_conv) { /* a device: its conv kernel */
        wr_conv_params cp = {st, sh, sw, pad.t_front, pad.top, pad.bottom, pad.left, pad.right};
        wr_tensor tx, ty;
        int64_t xne[4] = {in->w, in->h, in->t, in->c}, yne[4] = {wo, ho, to, cout};
        if (!dry_run && wr_tensor_init(&tx, WR_DTYPE_F32, 4, xne, in->d) && wr_tensor_init(&ty, WR_DTYPE_F32, 4, yne, out->d))
            wr_op_conv3d(&tx, weight, bias, &cp, &ty);
        return WR_OK;
    }
    int64_t k = (int64_t)cin * kt * kh * kw, rows = (int64_t)ho * wo;
    int64_t rb = CONV_SCRATCH_FLOATS / (k > cout ? k : cout);
    rb = rb < 16 ? 16 : rb > rows ? rows : rb;
    size_t cols_bytes = (size_t)(rb * k) * sizeof(float), res_bytes = (size_t)(rb * cout) * sizeof(float);
    float *cols = vae_scratch_alloc(cols_bytes);
    float *res = vae_scratch_alloc(res_bytes);
    if (dry_run) {
        vae_scratch_free(cols, cols_bytes), vae_scratch_free(res, res_bytes);
        return WR_OK;
    }
    if (!cols || !res) {
        vae_scratch_free(cols, cols_bytes), vae_scratch_free(res, res_bytes), vae_vol_free(out);
        return wr_fail(WR_E_OOM, "VAE conv: out of memory for the im2col buffer (%lld x %lld)", (long long)rb,
                       (long long)k);
    }
    int64_t wne[2] = {k, cout};
    wr_tensor w2 = wr_tensor_reshape(weight, 2, wne);
    for (int ot = 0; ot < to; ot++)
        for (int64_t r0 = 0; r0 < rows; r0 += rb) {
            int64_t n = rows - r0 < rb ? rows - r0 : rb;
            wr_tensor a, y;
            int64_t ane[2] = {k, n}, yne[2] = {cout, n};
            wr_tensor_init(&a, WR_DTYPE_F32, 2, ane, cols);
            wr_tensor_init(&y, WR_DTYPE_F32, 2, yne, res);
            im2col_ctx c = {.in = in, .cols = cols, .row0 = r0, .frame0 = ot * st, .kt = kt, .kh = kh, .kw = kw,
                            .sh = sh, .sw = sw, .ho = ho, .wo = wo, .pad = pad};
            wr_parallel_for(n, 16, im2col_rows, &c);
            wr_op_matmul(&a, &w2, bias, WR_ACT_NONE, &y); /* [n, cout] */
            scatter_ctx sc = {.res = res, .out = out, .n = n, .r0 = r0, .rows = rows, .cout = cout, .ot = ot};
            wr_parallel_for(cout, 1, scatter_channels, &sc);
        }
    vae_scratch_free(cols, cols_bytes);
    vae_scratch_free(res, res_bytes);
    return WR_OK;
}

typedef struct norm_ctx {
    vae_vol *x;
    const float *gamma;
    int silu;
} norm_ctx;

static void rms_norm_positions(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const norm_ctx *c = vc;
    vae_vol *x = c->x;
    size_t plane = (size_t)x->t * x->h * x->w;
    float scale = sqrtf((float)x->c);
    for (int64_t p = begin; p < end; p++) {
        double sq = 0;
        for (int ch = 0; ch < x->c; ch++) {
            float v = x->d[(size_t)ch * plane + (size_t)p];
            sq += (double)v * (double)v;
        }
        double nrm = sqrt(sq);
        float inv = (float)(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
        for (int ch = 0; ch < x->c; ch++) {
            float *v = &x->d[(size_t)ch * plane + (size_t)p];
            float y = *v * inv * scale * c->gamma[ch];
            *v = c->silu ? y / (1.0f + expf(-y)) : y;
        }
    }
}

void vae_rms_norm(vae_vol *x, const float *gamma, int silu)
{
    if (dry_run)
        return;
    if (x->dev) { /* the twin of the loop below, on the buffer (gamma: host, or placed on the device) */
        wr_tensor tx = vol_tensor(x), tg;
        int64_t gne[1] = {x->c};
        WR_ASSERT(wr_tensor_init(&tg, WR_DTYPE_F32, 1, gne, (void *)gamma), "VAE norm gamma");
        wr_op_channel_rms_norm(&tx, &tg, silu, &tx);
        return;
    }
    norm_ctx c = {x, gamma, silu};
    wr_parallel_for((int64_t)x->t * x->h * x->w, 256, rms_norm_positions, &c);
}

wr_status vae_upsample2x(const vae_vol *in, vae_vol *out)
{
    WR_TRY(vae_vol_alloc(out, in->c, in->t, in->h * 2, in->w * 2));
    if (in->dev) {
        WR_ASSERT(out->dev, "upsample: a device volume into a host one (residency switched off in between)");
        wr_tensor tx = vol_tensor(in), ty = vol_tensor(out);
        wr_op_upsample_nearest2x(&tx, &ty);
        return WR_OK;
    }
    for (size_t ct = 0; !dry_run && ct < (size_t)in->c * in->t; ct++) {
        const float *src = in->d + ct * in->h * in->w;
        float *dst = out->d + ct * out->h * out->w;
        for (int y = 0; y < out->h; y++)
            for (int x = 0; x < out->w; x++)
                dst[(size_t)y * out->w + x] = src[(size_t)(y / 2) * in->w + x / 2];
    }
    return WR_OK;
}

void vae_add(vae_vol *x, const vae_vol *y)
{
    if (dry_run)
        return;
    WR_ASSERT(x->dev == y->dev && vae_vol_size(x) == vae_vol_size(y), "vae_add: operands differ in kind or size");
    if (x->dev) { /* fp32 adds: the same bits as the loop below */
        wr_tensor tx = flat(x), ty = flat(y);
        wr_op_add(&tx, &ty, &tx);
        return;
    }
    size_t n = vae_vol_size(x);
    for (size_t i = 0; i < n; i++)
        x->d[i] += y->d[i];
}
