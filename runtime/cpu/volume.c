/* Volume ops of the Wan VAEs, the reference twins of kernels/volume.cu (the loops of
 * vae/volume.c, same expressions, so the VAE's numbers do not move):
 *   cpu_channel_rms_norm     Wan's RMS_norm(channel_first): x / max(‖x‖₂ over C, 1e-12) · √C · gamma,
 *                            optional SiLU (wan/modules/vae2_1.py RMS_norm + nn.SiLU)
 *   cpu_upsample_nearest2x   F.interpolate(scale_factor=2, mode="nearest-exact") of every plane
 *   cpu_dup_up3d             Wan 2.2's DupUp3D (wan/modules/vae2_2.py): channel repeats unshuffled
 *                            into time and space, the first `drop` frames dropped
 *   cpu_transpose            x[rows][cols] -> y[cols][rows] (torch.Tensor.t().contiguous())
 * Volumes are channel-major: the outermost dimension is the channel, the rest are positions. */
#include <math.h>

#include "runtime/cpu/cpu_ops.h"
#include "runtime/threadpool.h"

typedef struct volume_ctx {
    const wr_tensor *x, *gamma;
    wr_tensor *y;
    int silu;
} volume_ctx;

static void norm_positions(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const volume_ctx *c = vc;
    const int64_t ch_n = c->x->ne[c->x->n_dims - 1], pos = wr_tensor_nelements(c->x) / ch_n;
    const float *x = c->x->data, *g = c->gamma->data;
    float *y = c->y->data;
    float scale = sqrtf((float)ch_n);
    for (int64_t p = begin; p < end; p++) {
        double sq = 0;
        for (int64_t ch = 0; ch < ch_n; ch++) {
            float v = x[ch * pos + p];
            sq += (double)v * (double)v;
        }
        double nrm = sqrt(sq);
        float inv = (float)(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
        for (int64_t ch = 0; ch < ch_n; ch++) {
            float v = x[ch * pos + p] * inv * scale * g[ch];
            y[ch * pos + p] = c->silu ? v / (1.0f + expf(-v)) : v;
        }
    }
}

void cpu_channel_rms_norm(const wr_tensor *x, const wr_tensor *gamma, int silu, wr_tensor *y)
{
    volume_ctx c = {.x = x, .gamma = gamma, .y = y, .silu = silu};
    wr_parallel_for(wr_tensor_nelements(x) / x->ne[x->n_dims - 1], 256, norm_positions, &c);
}

static void upsample_planes(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const volume_ctx *c = vc;
    const int64_t iw = c->x->ne[0], ih = c->x->ne[1], ow = 2 * iw, oh = 2 * ih;
    const float *x = c->x->data;
    float *y = c->y->data;
    for (int64_t pl = begin; pl < end; pl++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++)
                y[(pl * oh + oy) * ow + ox] = x[(pl * ih + oy / 2) * iw + ox / 2];
}

void cpu_upsample_nearest2x(const wr_tensor *x, wr_tensor *y)
{
    volume_ctx c = {.x = x, .y = y};
    wr_parallel_for(wr_tensor_nelements(x) / (x->ne[0] * x->ne[1]), 1, upsample_planes, &c);
}

static void transpose_rows(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const volume_ctx *c = vc;
    const int64_t cols = c->x->ne[0], rows = c->x->ne[1];
    const float *x = c->x->data;
    float *y = c->y->data;
    for (int64_t col = begin; col < end; col++)
        for (int64_t r = 0; r < rows; r++)
            y[col * rows + r] = x[r * cols + col];
}

void cpu_transpose(const wr_tensor *x, wr_tensor *y)
{
    volume_ctx c = {.x = x, .y = y};
    wr_parallel_for(x->ne[0], 16, transpose_rows, &c);
}

typedef struct dup_ctx {
    const wr_tensor *x;
    wr_tensor *y;
    int ft, fs, drop;
} dup_ctx;

static void dup_planes(void *vc, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const dup_ctx *c = vc;
    const int64_t wi = c->x->ne[0], hi = c->x->ne[1], ti = c->x->ne[2], ci = c->x->ne[3];
    const int64_t wo = c->y->ne[0], ho = c->y->ne[1], to = c->y->ne[2], co = c->y->ne[3];
    const int64_t repeats = co * c->ft * c->fs * c->fs / ci;
    const float *x = c->x->data;
    float *y = c->y->data;
    for (int64_t ot = begin; ot < end; ot++) { /* one output plane (o, t) */
        int64_t o = ot / to, t = ot % to, tf = t + c->drop;
        for (int64_t yy = 0; yy < ho; yy++)
            for (int64_t xx = 0; xx < wo; xx++) {
                int64_t k = ((o * c->ft + tf % c->ft) * c->fs + yy % c->fs) * c->fs + xx % c->fs, ch = k / repeats;
                y[(ot * ho + yy) * wo + xx] = x[((ch * ti + tf / c->ft) * hi + yy / c->fs) * wi + xx / c->fs];
            }
    }
}

void cpu_dup_up3d(const wr_tensor *x, int ft, int fs, int drop, wr_tensor *y)
{
    dup_ctx c = {.x = x, .y = y, .ft = ft, .fs = fs, .drop = drop};
    wr_parallel_for(y->ne[2] * y->ne[3], 1, dup_planes, &c);
}
