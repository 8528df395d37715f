/* Flow-matching samplers for Wan 2.2 (wan/utils/fm_solvers*.py and the wrapper's extras).
 *
 * A schedule is the sigma table (steps + 1 values, the last 0) and the timestep handed to the
 * model at each step. A solver advances x with the model's velocity v at each step:
 *  - unipc:     FlowUniPCMultistepScheduler (order 2, bh2, predict-x0, lower-order final);
 *               σ_max = float32(0.999), timesteps = int64(σ'·1000) (first = 999).
 *  - dpm++:     FlowDPMSolverMultistepScheduler (dpmsolver++, order 2, midpoint), sigmas from
 *               get_sampling_sigmas (first = 1.0), timesteps int64(σ·1000) (first = 1000).
 *  - dpm++_sde: the same with algorithm sde-dpmsolver++ (noise from our seeded generator).
 *  - euler:     x ← x + (σ_{i+1} − σ_i)·v at t_i = σ_i·1000 (float), sigmas as dpm++.
 *  - lcm:       x0 = x − σ_i·v, then re-noised to σ_{i+1} with fresh noise:
 *               x ← (1 − σ_{i+1})·x0 + σ_{i+1}·ε (the distilled-LoRA samplers).
 * Shift: σ' = shift·σ / (1 + (shift − 1)·σ). Scalar coefficients are computed in float32
 * like the official torch code. */
#ifndef WAN22_SCHED_H
#define WAN22_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/err.h"
#include "runtime/rng.h"

typedef enum wan22_sampler {
    WAN22_SAMPLER_UNIPC,
    WAN22_SAMPLER_DPMPP,
    WAN22_SAMPLER_DPMPP_SDE,
    WAN22_SAMPLER_EULER,
    WAN22_SAMPLER_LCM,
    WAN22_SAMPLER_COUNT
} wan22_sampler;

const char *wan22_sampler_name(wan22_sampler s);
/* "unipc", "dpm++", "dpm++_sde", "euler", "lcm". Returns false when unknown. */
bool wan22_sampler_parse(const char *name, wan22_sampler *out);
/* "unipc, dpm++, ..." for error messages. */
const char *wan22_sampler_list(void);

#define WAN22_MAX_STEPS 1000

typedef struct wan22_schedule {
    wan22_sampler sampler;
    int steps;
    float sigmas[WAN22_MAX_STEPS + 1]; /* float32 as the official tables; sigmas[steps] = 0 */
    double timesteps[WAN22_MAX_STEPS]; /* what the model is given (integers for unipc/dpm++) */
} wan22_schedule;

/* Errors: steps outside 1..WAN22_MAX_STEPS, shift <= 0. */
wr_status wan22_schedule_make(wan22_sampler s, int steps, double shift, wan22_schedule *out);

/* Index of the first step run by the low-noise expert: by the official boundary (the first
 * step whose integer timestep is < boundary·1000) or an explicit split index. */
int wan22_schedule_split_by_boundary(const wan22_schedule *s, double boundary);

typedef struct wan22_solver {
    const wan22_schedule *sched;
    int64_t n;           /* elements of x */
    int step;            /* steps taken */
    float *outputs[2];   /* converted model outputs (x0 predictions), newest last */
    float *last_sample;  /* UniPC: the sample before the last predictor */
    float *noise;        /* SDE / LCM noise scratch */
    int lower_order_nums, this_order;
    wr_rng rng;          /* noise for dpm++_sde and lcm */
} wan22_solver;

wr_status wan22_solver_init(wan22_solver *s, const wan22_schedule *sched, int64_t n, uint64_t seed);
void wan22_solver_free(wan22_solver *s);
/* One step: v = the model's velocity at the current step's timestep, x updated in place. */
void wan22_solver_step(wan22_solver *s, const float *v, float *x);

#endif
