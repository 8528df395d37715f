/* Every inline-PTX instruction wanrt uses, one small function per instruction, named by it
 * (STYLE.md 9.5; SageAttention csrc/mma.cuh). Under the emulator (WR_EMU) each function is
 * replaced by its twin in kernels/emu/ptx_emu.h, which reproduces the per-lane register-fragment
 * layouts of the PTX ISA ("Matrix Fragments for mma.m16n8k16 / m16n8k32", "ldmatrix").
 *
 * Fragment layouts (groupID g = lane / 4, thread-in-group t = lane % 4):
 *   m16n8k16 bf16/f16  A 16x16 row-major, 4 regs of 2 bf16 (low half first):
 *                    a[0]: (g, 2t..2t+1)  a[1]: (g+8, 2t..)  a[2]: (g, 2t+8..)  a[3]: (g+8, 2t+8..)
 *                  B 16x8 ("col": k fastest), 2 regs: b[0]: (k=2t..2t+1, n=g)  b[1]: (k=2t+8.., n=g)
 *                  C/D 16x8 f32: c[0],c[1]: (g, 2t..2t+1)  c[2],c[3]: (g+8, 2t..2t+1)
 *   m16n8k32 s8/e4m3  A 16x32, 4 regs of 4 bytes: a[0]: (g, 4t..4t+3)  a[1]: (g+8, 4t..)
 *                    a[2]: (g, 4t+16..)  a[3]: (g+8, 4t+16..);  B 32x8: b[0]: (k=4t..4t+3, n=g)
 *                    b[1]: (k=4t+16.., n=g);  C/D as above (s32 or f32)
 *   ldmatrix.x4    lanes 8j..8j+7 give the row addresses of 8x8 b16 matrix j; lane l receives
 *                  r[j] = M_j[l/4][2(l%4)..2(l%4)+1] (.trans: M_j[2(l%4)][l/4], M_j[2(l%4)+1][l/4])
 * Requirements: mma bf16/f16/s8 and cp.async need sm_80; mma e4m3 needs sm_89. */
#ifndef WR_PTX_CUH
#define WR_PTX_CUH

#include "kernels/common.cuh"

#if defined(WR_EMU)
#include "kernels/emu/ptx_emu.h"
#else

__device__ __forceinline__ void mma_m16n8k16_bf16bf16f32(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                         const float c[4])
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
                   "f"(c[2]), "f"(c[3]));
}

__device__ __forceinline__ void mma_m16n8k16_f16f16f32(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                       const float c[4])
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
                   "f"(c[2]), "f"(c[3]));
}

__device__ __forceinline__ void mma_m16n8k32_s8s8s32(int d[4], const uint32_t a[4], const uint32_t b[2],
                                                     const int c[4])
{
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(c[0]), "r"(c[1]),
                   "r"(c[2]), "r"(c[3]));
}

__device__ __forceinline__ void mma_m16n8k32_e4m3e4m3f32(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                         const float c[4])
{
#if __CUDA_ARCH__ >= 890
    asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
                   "f"(c[2]), "f"(c[3]));
#else
    (void)d; (void)a; (void)b; (void)c;
    __trap(); /* launchers never pick an e4m3 mma kernel below sm_89 */
#endif
}

__device__ __forceinline__ uint32_t wr_smem_addr(const void *p)
{
    return (uint32_t)__cvta_generic_to_shared(p);
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void *smem_row)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(wr_smem_addr(smem_row)));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void *smem_row)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(wr_smem_addr(smem_row)));
}

/* 16-byte global -> shared copy that bypasses registers; visible after cp_async_wait_all +
 * __syncthreads. Both addresses 16-byte aligned. */
__device__ __forceinline__ void cp_async_cg_16(void *smem, const void *gmem)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(wr_smem_addr(smem)), "l"(gmem));
}

__device__ __forceinline__ void cp_async_commit(void) { asm volatile("cp.async.commit_group;\n" ::); }

__device__ __forceinline__ void cp_async_wait_all(void) { asm volatile("cp.async.wait_all;\n" ::); }

#endif /* WR_EMU */

/* Where element e (0..3) of a lane's m16n8 C/D fragment sits in the 16x8 tile (the layout above):
 * every mma kernel's epilogue and per-block rescale maps its accumulators through these. */
__device__ __forceinline__ int mma_c_row(int lane, int e) { return lane / 4 + (e >= 2 ? 8 : 0); }
__device__ __forceinline__ int mma_c_col(int lane, int e) { return 2 * (lane % 4) + (e & 1); }

#endif
