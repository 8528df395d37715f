/* A seeded generator that reproduces PyTorch's CPU torch.randn, so a seed gives the same
 * initial noise as ComfyUI and the WanVideoWrapper (../shared/golden/rng).
 *
 * Algorithm (aten CPUGeneratorImpl + DistributionTemplates normal_fill):
 *  - mt19937 seeded with the low 32 bits of the seed (the standard init_genrand).
 *  - n >= 16 floats: fill all n with uniforms u = (mt() & 0xFFFFFF) · 2^-24, then for each
 *    full group of 16, Box-Muller pairs (j, j+8): r = sqrt(−2·ln(1 − u_j)), θ = 2π·u_{j+8},
 *    x_j = r·cos θ, x_{j+8} = r·sin θ (float arithmetic). When n is not a multiple of 16 the
 *    last 16 positions are refilled with fresh uniforms and transformed again.
 *  - n < 16: per element a double normal from 53-bit uniforms (u1, u2 from two mt() words,
 *    hi first), r = sqrt(−2·log1p(−u2)), θ = 2π·u1, x = r·cos θ; r·sin θ is cached for the
 *    next element.
 * PyTorch's AVX2 build uses SLEEF for log/cos/sin in the ≥16 path, so values can differ from
 * ours by an ulp or so: the same noise "to within float rounding". */
#ifndef WR_RNG_H
#define WR_RNG_H

#include <stdbool.h>
#include <stdint.h>

typedef struct wr_rng {
    uint32_t mt[624];
    int index;
    bool has_cached_normal;
    double cached_normal;
} wr_rng;

void wr_rng_seed(wr_rng *r, uint64_t seed);
uint32_t wr_rng_u32(wr_rng *r);
/* torch.randn(n) for the generator's current state; advances it as PyTorch does. */
void wr_rng_randn(wr_rng *r, float *out, int64_t n);

#endif
