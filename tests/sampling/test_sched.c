/* Schedulers against the official tables and trajectories (../shared/golden/sched), with the
 * stand-in model v = 0.5·x − 0.1·t/1000. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/wan22/sched.h"
#include "tests/common/testutil.h"

static const struct { int steps; double shift; const char *key; } keys[] = {
    {40, 5, "s40_shift5"}, {40, 12, "s40_shift12"}, {6, 8, "s6_shift8"}, {4, 5, "s4_shift5"}};
static const struct { wan22_sampler s; const char *name; } solvers[] = {
    {WAN22_SAMPLER_UNIPC, "unipc"}, {WAN22_SAMPLER_DPMPP, "dpmpp"}, {WAN22_SAMPLER_EULER, "euler"}};

Test(sched, tables_equal_official)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/sched/sched_tables.safetensors"));
    for (size_t k = 0; k < 4; k++)
        for (size_t s = 0; s < 3; s++) {
            wan22_schedule sch;
            cr_assert_eq(wan22_schedule_make(solvers[s].s, keys[k].steps, keys[k].shift, &sch), WR_OK);
            char name[64];
            snprintf(name, sizeof name, "%s.%s.sigmas", solvers[s].name, keys[k].key);
            int64_t n;
            float *sig = wr_test_load_f32(&wf, name, &n);
            cr_assert_eq(n, keys[k].steps + 1);
            for (int i = 0; i <= keys[k].steps; i++)
                cr_assert_eq(sch.sigmas[i], sig[i], "%s[%d]: %.9g vs %.9g", name, i, (double)sch.sigmas[i], (double)sig[i]);
            snprintf(name, sizeof name, "%s.%s.timesteps", solvers[s].name, keys[k].key);
            float *ts = wr_test_load_f32(&wf, name, &n);
            for (int i = 0; i < keys[k].steps; i++)
                cr_assert_float_eq(sch.timesteps[i], (double)ts[i], 1e-3, "%s[%d]: %g vs %g", name, i,
                                   sch.timesteps[i], (double)ts[i]);
            free(sig), free(ts);
        }
    wr_weightfile_close(&wf);
}

Test(sched, trajectories_equal_official)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/sched/sched_traj.safetensors"));
    int64_t n;
    float *x_init = wr_test_load_f32(&wf, "x_init", &n);
    float *x = malloc((size_t)n * sizeof *x), *v = malloc((size_t)n * sizeof *v);
    for (size_t k = 0; k < 4; k++)
        for (size_t s = 0; s < 3; s++) {
            wan22_schedule sch;
            cr_assert_eq(wan22_schedule_make(solvers[s].s, keys[k].steps, keys[k].shift, &sch), WR_OK);
            wan22_solver sol;
            cr_assert_eq(wan22_solver_init(&sol, &sch, n, 0), WR_OK);
            char name[64];
            snprintf(name, sizeof name, "%s.%s.x", solvers[s].name, keys[k].key);
            int64_t nt;
            float *traj = wr_test_load_f32(&wf, name, &nt);
            memcpy(x, x_init, (size_t)n * sizeof *x);
            for (int i = 0; i < keys[k].steps; i++) {
                float t = (float)sch.timesteps[i];
                for (int64_t j = 0; j < n; j++)
                    v[j] = 0.5f * x[j] - 0.1f * t / 1000.0f;
                wan22_solver_step(&sol, v, x);
                wr_test_err e = wr_test_compare(x, traj + (size_t)(i + 1) * (size_t)n, n);
                /* README floor: up to 5.6e-7 relative to max|ref| over whole trajectories */
                cr_assert_leq(e.rel_to_max, 3e-6, "%s step %d: max abs %g (rel %g)", name, i, e.max_abs, e.rel_to_max);
            }
            wan22_solver_free(&sol);
            free(traj);
        }
    free(x), free(v), free(x_init);
    wr_weightfile_close(&wf);
}

Test(sched, expert_split_by_boundary)
{
    /* ../shared/golden/README.md section 2: t2v boundary 0.875 (shift 12), i2v 0.900 (shift 5) */
    wan22_schedule s;
    cr_assert_eq(wan22_schedule_make(WAN22_SAMPLER_UNIPC, 40, 12, &s), WR_OK);
    cr_assert_eq(wan22_schedule_split_by_boundary(&s, 0.875), 26);
    cr_assert_eq(wan22_schedule_make(WAN22_SAMPLER_DPMPP, 40, 12, &s), WR_OK);
    cr_assert_eq(wan22_schedule_split_by_boundary(&s, 0.875), 26);
    cr_assert_eq(wan22_schedule_make(WAN22_SAMPLER_UNIPC, 40, 5, &s), WR_OK);
    cr_assert_eq(wan22_schedule_split_by_boundary(&s, 0.900), 15);
    cr_assert_eq(wan22_schedule_make(WAN22_SAMPLER_DPMPP, 40, 5, &s), WR_OK);
    cr_assert_eq(wan22_schedule_split_by_boundary(&s, 0.900), 15);
    /* the wrapper recipe: 6 steps, shift 8, split 3 -> sigma at the switch ~0.889 */
    cr_assert_eq(wan22_schedule_make(WAN22_SAMPLER_DPMPP, 6, 8, &s), WR_OK);
    cr_assert_float_eq(s.sigmas[3], 0.8889f, 1e-4f, "sigma at the switch %g", (double)s.sigmas[3]);
}

Test(sched, bad_input)
{
    wan22_schedule s;
    cr_assert_eq(wan22_schedule_make(WAN22_SAMPLER_UNIPC, 0, 5, &s), WR_E_ARG);
    cr_assert_eq(wan22_schedule_make(WAN22_SAMPLER_UNIPC, 4, -1, &s), WR_E_ARG);
    wan22_sampler x;
    cr_assert_not(wan22_sampler_parse("dpm2", &x));
    cr_assert(wan22_sampler_parse("dpm++_sde", &x));
    cr_assert_eq(x, WAN22_SAMPLER_DPMPP_SDE);
}

/* SDE and LCM have no official trajectory: check their defining formulas on one step. */
Test(sched, sde_and_lcm_follow_their_formulas)
{
    wan22_schedule s;
    cr_assert_eq(wan22_schedule_make(WAN22_SAMPLER_LCM, 4, 5, &s), WR_OK);
    wan22_solver sol;
    float x[32], v[32], eps[32];
    for (int i = 0; i < 32; i++)
        x[i] = (float)i * 0.1f - 1.0f, v[i] = 0.3f;
    cr_assert_eq(wan22_solver_init(&sol, &s, 32, 7), WR_OK);
    wr_rng r;
    wr_rng_seed(&r, 7);
    wr_rng_randn(&r, eps, 32);
    float x_before[32];
    memcpy(x_before, x, sizeof x);
    wan22_solver_step(&sol, v, x);
    for (int i = 0; i < 32; i++) {
        float x0 = x_before[i] - s.sigmas[0] * v[i];
        cr_assert_float_eq(x[i], (1 - s.sigmas[1]) * x0 + s.sigmas[1] * eps[i], 1e-6f);
    }
    wan22_solver_free(&sol);
    /* dpm++_sde first step (sigma_s = 1): x = σt·e^{-h}·x + αt(1−e^{-2h})·x0 + σt·sqrt(1−e^{-2h})·ε
     * with e^{-h} = 0 at σ_s = 1: x = αt·x0 + σt·ε */
    cr_assert_eq(wan22_schedule_make(WAN22_SAMPLER_DPMPP_SDE, 4, 5, &s), WR_OK);
    cr_assert_eq(wan22_solver_init(&sol, &s, 32, 7), WR_OK);
    memcpy(x, x_before, sizeof x);
    wan22_solver_step(&sol, v, x);
    for (int i = 0; i < 32; i++) {
        float x0 = x_before[i] - 1.0f * v[i];
        cr_assert_float_eq(x[i], (1 - s.sigmas[1]) * x0 + s.sigmas[1] * eps[i], 1e-5f, "i %d: %g", i, (double)x[i]);
    }
    wan22_solver_free(&sol);
}
