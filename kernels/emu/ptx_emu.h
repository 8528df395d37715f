/* Emulated twins of kernels/ptx.cuh, for the emulator (kernels/emu/emu.h). Each lane publishes
 * its registers in the warp's exchange area, a warp barrier makes them visible, and every lane
 * rebuilds the whole tile from the fragment layouts documented in kernels/ptx.cuh (PTX ISA), then
 * computes its own outputs. Products are summed in float in increasing k, then C is added; the
 * hardware's order is unspecified, so tests use inputs whose sums are exact. */
#ifndef WR_PTX_EMU_H
#define WR_PTX_EMU_H

namespace wr_emu {
/* Publish n 32-bit registers at word offset off of this lane's exchange slots. */
static inline void publish(const uint32_t *r, int n, int off)
{
    wr_emu_thread *t = wr_emu_rt_->cur;
    for (int i = 0; i < n; i++)
        t->xchg[t->lane * WR_EMU_XCHG_WORDS + off + i] = r[i];
}
static inline uint32_t reg(unsigned lane, int word)
{
    return (uint32_t)wr_emu_rt_->cur->xchg[lane * WR_EMU_XCHG_WORDS + word];
}
/* A (16 x K) and B (K x 8) as floats from the published a (words 0..3) and b (words 4..5);
 * epr = elements per register (2 for b16, 4 for 8-bit), cvt converts one element. */
template <typename CVT>
static inline void gather(float *A, float *B, int K, int epr, CVT cvt)
{
    int half = K / 2; /* a[2], a[3], b[1] hold the upper half of k */
    for (unsigned l = 0; l < 32; l++) {
        unsigned g = l / 4, t = l % 4;
        for (int r = 0; r < 4; r++) {
            uint32_t v = reg(l, r);
            unsigned row = g + ((r & 1) ? 8u : 0u);
            unsigned k0 = t * (unsigned)epr + ((r & 2) ? (unsigned)half : 0u);
            for (int e = 0; e < epr; e++)
                A[row * (unsigned)K + k0 + (unsigned)e] = cvt(v, e);
        }
        for (int r = 0; r < 2; r++) {
            uint32_t v = reg(l, 4 + r);
            unsigned k0 = t * (unsigned)epr + (r ? (unsigned)half : 0u);
            for (int e = 0; e < epr; e++)
                B[(k0 + (unsigned)e) * 8u + g] = cvt(v, e);
        }
    }
}
/* Row and column of output element i (0..3) of this lane. */
static inline void out_pos(int i, unsigned *row, unsigned *col)
{
    unsigned l = wr_emu_rt_->cur->lane;
    *row = l / 4 + (i >= 2 ? 8u : 0u);
    *col = (l % 4) * 2 + (unsigned)(i & 1);
}
template <typename CVT> static inline void mma_f32(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                   const float c[4], int K, int epr, CVT cvt)
{
    float A[16 * 32], B[32 * 8];
    publish(a, 4, 0);
    publish(b, 2, 4);
    wr_emu_rt_->sync_warp(0xffffffffu);
    gather(A, B, K, epr, cvt);
    wr_emu_rt_->sync_warp(0xffffffffu);
    float out[4];
    for (int i = 0; i < 4; i++) {
        unsigned row, col;
        out_pos(i, &row, &col);
        float s = 0.0f;
        for (int k = 0; k < K; k++)
            s += A[row * (unsigned)K + (unsigned)k] * B[(unsigned)k * 8u + col];
        out[i] = s + c[i];
    }
    for (int i = 0; i < 4; i++)
        d[i] = out[i];
}
} // namespace wr_emu

static inline void mma_m16n8k16_bf16bf16f32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4])
{
    wr_emu::mma_f32(d, a, b, c, 16, 2,
                    [](uint32_t v, int e) { return wr_bf16_to_f32((uint16_t)(v >> (16 * e))); });
}

static inline void mma_m16n8k16_f16f16f32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4])
{
    wr_emu::mma_f32(d, a, b, c, 16, 2,
                    [](uint32_t v, int e) { return wr_f16_to_f32((uint16_t)(v >> (16 * e))); });
}

static inline void mma_m16n8k32_e4m3e4m3f32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4])
{
#if __CUDA_ARCH__ < 890
    wr_emu_rt_->trap("mma.m16n8k32 e4m3 needs sm_89 or newer (the emulated arch is lower)");
#endif
    wr_emu::mma_f32(d, a, b, c, 32, 4,
                    [](uint32_t v, int e) { return wr_f8e4m3_to_f32((uint8_t)(v >> (8 * e))); });
}

static inline void mma_m16n8k32_s8s8s32(int d[4], const uint32_t a[4], const uint32_t b[2], const int c[4])
{
    /* int8 products summed in int32 (exact, as on the hardware): gather as floats would round. */
    int A[16 * 32], B[32 * 8];
    wr_emu::publish(a, 4, 0);
    wr_emu::publish(b, 2, 4);
    wr_emu_rt_->sync_warp(0xffffffffu);
    for (unsigned l = 0; l < 32; l++) {
        unsigned g = l / 4, t = l % 4;
        for (int r = 0; r < 4; r++) {
            uint32_t v = wr_emu::reg(l, r);
            unsigned row = g + ((r & 1) ? 8u : 0u), k0 = t * 4 + ((r & 2) ? 16u : 0u);
            for (int e = 0; e < 4; e++)
                A[row * 32 + k0 + (unsigned)e] = (int8_t)(uint8_t)(v >> (8 * e));
        }
        for (int r = 0; r < 2; r++) {
            uint32_t v = wr_emu::reg(l, 4 + r);
            unsigned k0 = t * 4 + (r ? 16u : 0u);
            for (int e = 0; e < 4; e++)
                B[(k0 + (unsigned)e) * 8 + g] = (int8_t)(uint8_t)(v >> (8 * e));
        }
    }
    wr_emu_rt_->sync_warp(0xffffffffu);
    int out[4];
    for (int i = 0; i < 4; i++) {
        unsigned row, col;
        wr_emu::out_pos(i, &row, &col);
        int s = c[i];
        for (int k = 0; k < 32; k++)
            s += A[row * 32 + (unsigned)k] * B[(unsigned)k * 8 + col];
        out[i] = s;
    }
    for (int i = 0; i < 4; i++)
        d[i] = out[i];
}

/* ldmatrix: lane 8j+i gives the address of row i of matrix j. */
static inline void wr_emu_ldmatrix(uint32_t r[4], const void *smem_row, bool trans)
{
    wr_emu_thread *t = wr_emu_rt_->cur;
    unsigned l = t->lane;
    t->xchg[l * WR_EMU_XCHG_WORDS] = (unsigned long long)(uintptr_t)smem_row;
    wr_emu_rt_->sync_warp(0xffffffffu);
    uint32_t out[4];
    for (unsigned j = 0; j < 4; j++) {
        if (!trans) {
            const uint16_t *row = (const uint16_t *)(uintptr_t)t->xchg[(j * 8 + l / 4) * WR_EMU_XCHG_WORDS];
            out[j] = (uint32_t)row[2 * (l % 4)] | ((uint32_t)row[2 * (l % 4) + 1] << 16);
        } else {
            const uint16_t *r0 = (const uint16_t *)(uintptr_t)t->xchg[(j * 8 + 2 * (l % 4)) * WR_EMU_XCHG_WORDS];
            const uint16_t *r1 = (const uint16_t *)(uintptr_t)t->xchg[(j * 8 + 2 * (l % 4) + 1) * WR_EMU_XCHG_WORDS];
            out[j] = (uint32_t)r0[l / 4] | ((uint32_t)r1[l / 4] << 16);
        }
    }
    wr_emu_rt_->sync_warp(0xffffffffu);
    for (int j = 0; j < 4; j++)
        r[j] = out[j];
}
static inline void ldmatrix_x4(uint32_t r[4], const void *smem_row) { wr_emu_ldmatrix(r, smem_row, false); }
static inline void ldmatrix_x4_trans(uint32_t r[4], const void *smem_row) { wr_emu_ldmatrix(r, smem_row, true); }

/* cp.async: the copy happens at once, which is one legal ordering of the asynchronous copy. */
static inline void cp_async_cg_16(void *smem, const void *gmem) { memcpy(smem, gmem, 16); }
static inline void cp_async_commit(void) {}
static inline void cp_async_wait_all(void) {}

#endif
