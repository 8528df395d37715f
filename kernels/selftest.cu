/* Self-test kernels for the device layer and the emulator (tests/gpu/). Each exercises one
 * device feature against a plain C reference in the tests:
 *   selftest_axpy            elementwise, grid-stride loop                 y = a*x + y
 *   selftest_row_sum         warp shuffles + static shared memory         out[r] = sum_c x[r][c]
 *   selftest_matmul_tiled    TILE x TILE shared-memory tiles, 2 barriers  C = A B (fp32)
 *   selftest_reverse_dyn     dynamic (extern) shared memory               per-block reversal
 *   selftest_histogram       atomicAdd on global memory                    hist[x[i]]++
 *   selftest_warp_scan       __shfl_up_sync + __ballot_sync               inclusive scan per warp
 *   selftest_neighbor        a missing barrier when SELFTEST_BARRIER == 0 y[i] = x[i-1]
 *   selftest_oob_write       writes one element past the end (guard-zone test)
 *   selftest_mma_bf16        mma_m16n8k16 with fragments indexed per the PTX ISA
 *   selftest_mma_s8          mma_m16n8k32 s8
 *   selftest_mma_e4m3        mma_m16n8k32 e4m3 (sm_89+)
 *   selftest_ldmatrix        ldmatrix_x4 / _trans fragments of a 16x16 tile
 *   selftest_mma_pipeline    cp.async -> shared -> ldmatrix -> mma, 16x16x16 bf16
 * Defines: TILE (matmul tile edge, 8..32, default 16); SELFTEST_BARRIER (0 or 1, default 1).
 * CPU twins: the reference loops in tests/gpu/test_selftest.c. Matrices are row-major; "Bt" is
 * B stored transposed ([n][k], k contiguous), the layout mma's "col" operand wants. */
#include "kernels/common.cuh"
#include "kernels/ptx.cuh"

#ifndef TILE
#define TILE 16
#endif
#ifndef SELFTEST_BARRIER
#define SELFTEST_BARRIER 1
#endif
static_assert(TILE >= 8 && TILE <= 32, "TILE must be 8..32 (TILE*TILE threads per block)");
static_assert(SELFTEST_BARRIER == 0 || SELFTEST_BARRIER == 1, "SELFTEST_BARRIER is 0 or 1");

extern "C" __global__ void selftest_axpy(const float *__restrict__ x, float *__restrict__ y, float a, int n)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        y[i] = a * x[i] + y[i];
}

/* one block of up to 1024 threads per row */
extern "C" __global__ void selftest_row_sum(const float *__restrict__ x, float *__restrict__ out, int cols)
{
    __shared__ float partial[32];
    const float *row = x + (size_t)blockIdx.x * cols;
    float s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        s += row[c];
    s = wr_warp_sum(s);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0)
        partial[warp] = s;
    __syncthreads();
    if (warp == 0) {
        int nw = (blockDim.x + 31) / 32;
        s = lane < nw ? partial[lane] : 0.0f;
        s = wr_warp_sum(s);
        if (lane == 0)
            out[blockIdx.x] = s;
    }
}

/* C[M][N] = A[M][K] B[K][N]; block (TILE, TILE), grid (ceil(N/TILE), ceil(M/TILE)) */
extern "C" __global__ void selftest_matmul_tiled(const float *__restrict__ A, const float *__restrict__ B,
                                                 float *__restrict__ C, int M, int N, int K)
{
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE + 1];
    int tx = threadIdx.x, ty = threadIdx.y;
    int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += TILE) {
        As[ty][tx] = row < M && k0 + tx < K ? A[(size_t)row * K + k0 + tx] : 0.0f;
        Bs[ty][tx] = col < N && k0 + ty < K ? B[(size_t)(k0 + ty) * N + col] : 0.0f;
        __syncthreads();
#pragma unroll
        for (int k = 0; k < TILE; k++)
            acc += As[ty][k] * Bs[k][tx];
        __syncthreads();
    }
    if (row < M && col < N)
        C[(size_t)row * N + col] = acc;
}

/* y[b*bd + i] = x[b*bd + bd-1-i] for full blocks; smem = blockDim.x floats */
extern "C" __global__ void selftest_reverse_dyn(const float *__restrict__ x, float *__restrict__ y, int n)
{
    extern __shared__ __align__(16) unsigned char smem_raw[];
    float *s = (float *)smem_raw;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    s[threadIdx.x] = i < n ? x[i] : 0.0f;
    __syncthreads();
    int j = blockIdx.x * blockDim.x + (blockDim.x - 1 - threadIdx.x);
    if (j < n)
        y[j] = s[threadIdx.x];
}

extern "C" __global__ void selftest_histogram(const int *__restrict__ x, int *__restrict__ hist, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        atomicAdd(&hist[x[i]], 1);
}

/* per warp of 32 elements: scan[i] = sum of x up to i within the warp; mask[w] = lanes with x > 0 */
extern "C" __global__ void selftest_warp_scan(const int *__restrict__ x, int *__restrict__ scan,
                                              unsigned *__restrict__ mask, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int lane = threadIdx.x % 32;
    int v = i < n ? x[i] : 0;
    for (int o = 1; o < 32; o <<= 1) {
        int u = __shfl_up_sync(WR_FULL_MASK, v, o);
        if (lane >= o)
            v += u;
    }
    unsigned b = __ballot_sync(WR_FULL_MASK, i < n && x[i] > 0);
    if (i < n)
        scan[i] = v;
    if (lane == 0 && i < n)
        mask[i / 32] = b;
}

/* y[i] = x[i-1] (y[0] = x[0]) through shared memory; one block of n <= 1024 threads. Without the
 * barrier, thread i reads s[i-1] before thread i-1 may have written it. */
extern "C" __global__ void selftest_neighbor(const float *__restrict__ x, float *__restrict__ y)
{
    __shared__ float s[1024];
    int i = threadIdx.x;
    s[i] = x[i];
#if SELFTEST_BARRIER
    __syncthreads();
#endif
    y[i] = s[i > 0 ? i - 1 : 0];
}

extern "C" __global__ void selftest_oob_write(float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) /* the bug under test: <= */
        y[i] = 1.0f;
}

/* ---- tensor-core instructions: one warp, fragments indexed per the PTX ISA tables ---------- */

/* C[16][8] = A[16][16] Bt[8][16]^T (bf16 bits in, f32 out) */
extern "C" __global__ void selftest_mma_bf16(const uint16_t *__restrict__ A, const uint16_t *__restrict__ Bt,
                                             float *__restrict__ C)
{
    int l = threadIdx.x, g = l / 4, t = l % 4;
    uint32_t a[4], b[2];
    for (int r = 0; r < 4; r++) {
        int row = g + ((r & 1) ? 8 : 0), k = 2 * t + ((r & 2) ? 8 : 0);
        a[r] = (uint32_t)A[row * 16 + k] | ((uint32_t)A[row * 16 + k + 1] << 16);
    }
    for (int r = 0; r < 2; r++) {
        int k = 2 * t + (r ? 8 : 0);
        b[r] = (uint32_t)Bt[g * 16 + k] | ((uint32_t)Bt[g * 16 + k + 1] << 16);
    }
    float c[4] = {0.0f, 0.0f, 0.0f, 0.0f}, d[4];
    mma_m16n8k16_bf16bf16f32(d, a, b, c);
    for (int i = 0; i < 4; i++)
        C[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * t + (i & 1)] = d[i];
}

/* 8-bit operands: A[16][32], Bt[8][32] as bytes; 4 bytes per register */
__device__ __forceinline__ void selftest_frag8(const uint8_t *A, const uint8_t *Bt, uint32_t a[4], uint32_t b[2])
{
    int l = threadIdx.x, g = l / 4, t = l % 4;
    for (int r = 0; r < 4; r++) {
        int row = g + ((r & 1) ? 8 : 0), k = 4 * t + ((r & 2) ? 16 : 0);
        a[r] = 0;
        for (int e = 0; e < 4; e++)
            a[r] |= (uint32_t)A[row * 32 + k + e] << (8 * e);
    }
    for (int r = 0; r < 2; r++) {
        int k = 4 * t + (r ? 16 : 0);
        b[r] = 0;
        for (int e = 0; e < 4; e++)
            b[r] |= (uint32_t)Bt[g * 32 + k + e] << (8 * e);
    }
}

extern "C" __global__ void selftest_mma_s8(const uint8_t *__restrict__ A, const uint8_t *__restrict__ Bt,
                                           int *__restrict__ C)
{
    int l = threadIdx.x, g = l / 4, t = l % 4;
    uint32_t a[4], b[2];
    selftest_frag8(A, Bt, a, b);
    int c[4] = {0, 0, 0, 0}, d[4];
    mma_m16n8k32_s8s8s32(d, a, b, c);
    for (int i = 0; i < 4; i++)
        C[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * t + (i & 1)] = d[i];
}

extern "C" __global__ void selftest_mma_e4m3(const uint8_t *__restrict__ A, const uint8_t *__restrict__ Bt,
                                             float *__restrict__ C)
{
    int l = threadIdx.x, g = l / 4, t = l % 4;
    uint32_t a[4], b[2];
    selftest_frag8(A, Bt, a, b);
    float c[4] = {0.5f, 0.5f, 0.5f, 0.5f}, d[4];
    mma_m16n8k32_e4m3e4m3f32(d, a, b, c);
    for (int i = 0; i < 4; i++)
        C[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * t + (i & 1)] = d[i];
}

/* out[lane*4 + j] = register j of ldmatrix_x4(_trans) over a 16x16 b16 tile; lane l points at
 * row l % 16, column 8 * (l / 16) */
extern "C" __global__ void selftest_ldmatrix(const uint16_t *__restrict__ A, uint32_t *__restrict__ out, int trans)
{
    __shared__ __align__(16) uint16_t s[16 * 16];
    int l = threadIdx.x;
    for (int i = l; i < 256; i += 32)
        s[i] = A[i];
    __syncwarp();
    uint32_t r[4];
    const uint16_t *row = &s[(l % 16) * 16 + 8 * (l / 16)];
    if (trans)
        ldmatrix_x4_trans(r, row);
    else
        ldmatrix_x4(r, row);
    for (int j = 0; j < 4; j++)
        out[l * 4 + j] = r[j];
}

/* C[16][16] = A[16][16] Bt[16][16]^T through cp.async, ldmatrix and two mma (n = 0..7, 8..15) */
extern "C" __global__ void selftest_mma_pipeline(const uint16_t *__restrict__ A, const uint16_t *__restrict__ Bt,
                                                 float *__restrict__ C)
{
    __shared__ __align__(16) uint16_t As[16 * 16];
    __shared__ __align__(16) uint16_t Bs[16 * 16];
    int l = threadIdx.x, g = l / 4, t = l % 4;
    /* 2 x 512 bytes = 64 chunks of 16 bytes, two per lane */
    cp_async_cg_16(&As[l * 8], &A[l * 8]);
    cp_async_cg_16(&Bs[l * 8], &Bt[l * 8]);
    cp_async_commit();
    cp_async_wait_all();
    __syncwarp();
    uint32_t a[4], b[4];
    ldmatrix_x4(a, &As[(l % 16) * 16 + 8 * (l / 16)]);
    /* matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15) */
    ldmatrix_x4(b, &Bs[((l / 16) * 8 + l % 8) * 16 + 8 * ((l / 8) % 2)]);
    for (int nt = 0; nt < 2; nt++) {
        float c[4] = {0.0f, 0.0f, 0.0f, 0.0f}, d[4];
        mma_m16n8k16_bf16bf16f32(d, a, &b[2 * nt], c);
        for (int i = 0; i < 4; i++)
            C[(g + (i >= 2 ? 8 : 0)) * 16 + nt * 8 + 2 * t + (i & 1)] = d[i];
    }
}
