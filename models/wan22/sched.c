/* Samplers (see sched.h). The UniPC and DPM++ updates follow fm_solvers_unipc.py and
 * fm_solvers.py of the official Wan2.2 code line by line; their scalar math is float32 as
 * torch evaluates it on float32 sigma tensors. */
#include "models/wan22/sched.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const sampler_names[] = {"unipc", "dpm++", "dpm++_sde", "euler", "lcm"};
_Static_assert(sizeof(sampler_names) / sizeof(sampler_names[0]) == WAN22_SAMPLER_COUNT,
               "sampler_names must cover every sampler");

const char *wan22_sampler_name(wan22_sampler s)
{
    return (unsigned)s < WAN22_SAMPLER_COUNT ? sampler_names[s] : "unknown";
}

bool wan22_sampler_parse(const char *name, wan22_sampler *out)
{
    for (int i = 0; i < WAN22_SAMPLER_COUNT; i++)
        if (strcmp(name, sampler_names[i]) == 0) {
            *out = (wan22_sampler)i;
            return true;
        }
    return false;
}

const char *wan22_sampler_list(void) { return "unipc, dpm++, dpm++_sde, euler, lcm"; }

static double shifted(double s, double shift) { return shift * s / (1.0 + (shift - 1.0) * s); }

wr_status wan22_schedule_make(wan22_sampler sampler, int steps, double shift, wan22_schedule *out)
{
    if (steps < 1 || steps > WAN22_MAX_STEPS)
        return wr_fail(WR_E_ARG, "steps must be in 1..%d, got %d", WAN22_MAX_STEPS, steps);
    if (!(shift > 0.0) || !isfinite(shift))
        return wr_fail(WR_E_ARG, "shift must be > 0, got %g", shift);
    if ((unsigned)sampler >= WAN22_SAMPLER_COUNT)
        return wr_fail(WR_E_ARG, "unknown sampler (valid: %s)", wan22_sampler_list());
    memset(out, 0, sizeof *out);
    out->sampler = sampler;
    out->steps = steps;
    /* np.linspace(start, 0, steps + 1)[:steps]: y_i = i·step + start in float64 */
    double start = sampler == WAN22_SAMPLER_UNIPC ? (double)0.999f : 1.0;
    double step = (0.0 - start) / steps;
    for (int i = 0; i < steps; i++) {
        double s = shifted((double)i * step + start, shift);
        out->sigmas[i] = (float)s;
        if (sampler == WAN22_SAMPLER_EULER || sampler == WAN22_SAMPLER_LCM)
            out->timesteps[i] = (double)(float)s * 1000.0;
        else
            out->timesteps[i] = (double)(int64_t)(s * 1000.0); /* truncated, as .to(torch.int64) */
    }
    out->sigmas[steps] = 0.0f;
    return WR_OK;
}

int wan22_schedule_split_by_boundary(const wan22_schedule *s, double boundary)
{
    int i = 0;
    while (i < s->steps && s->timesteps[i] >= boundary * 1000.0)
        i++;
    return i;
}

wr_status wan22_solver_init(wan22_solver *s, const wan22_schedule *sched, int64_t n, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->sched = sched;
    s->n = n;
    for (int i = 0; i < 2; i++)
        s->outputs[i] = malloc((size_t)n * sizeof(float));
    s->last_sample = malloc((size_t)n * sizeof(float));
    s->noise = malloc((size_t)n * sizeof(float));
    if (!s->outputs[0] || !s->outputs[1] || !s->last_sample || !s->noise) {
        wan22_solver_free(s);
        return wr_fail(WR_E_OOM, "sampler: out of memory for %lld-element history", (long long)n);
    }
    wr_rng_seed(&s->rng, seed);
    return WR_OK;
}

void wan22_solver_free(wan22_solver *s)
{
    if (!s)
        return;
    free(s->outputs[0]);
    free(s->outputs[1]);
    free(s->last_sample);
    free(s->noise);
    memset(s, 0, sizeof *s);
}

static float lambda_of(float sigma) { return logf(1.0f - sigma) - logf(sigma); }

/* Rotates the two-slot history (newest in outputs[1]) and returns the slot to fill. */
static float *rotate_history(wan22_solver *s)
{
    float *oldest = s->outputs[0];
    s->outputs[0] = s->outputs[1];
    s->outputs[1] = oldest;
    return oldest;
}

/* Pushes the converted output x0 = x − σ·v (flow prediction -> data prediction). */
static void push_x0(wan22_solver *s, const float *v, const float *x, float sigma)
{
    float *slot = rotate_history(s);
    for (int64_t i = 0; i < s->n; i++)
        slot[i] = x[i] - sigma * v[i];
}

/* ---- UniPC (bh2, predict-x0) --------------------------------------------------------------- */

/* Coefficients shared by the predictor and corrector: hh = −h, h·φ1 = expm1(hh), B(h). */
typedef struct unipc_coef {
    float alpha_t, sigma_t, sigma_s0, h_phi_1, b_h, b[2];
} unipc_coef;

static unipc_coef unipc_coefficients(float sig_t, float sig_s0, float lambda_s0, float h, int order)
{
    unipc_coef c;
    c.alpha_t = 1.0f - sig_t;
    c.sigma_t = sig_t;
    c.sigma_s0 = sig_s0;
    (void)lambda_s0;
    float hh = -h;
    c.h_phi_1 = expm1f(hh);
    float h_phi_k = c.h_phi_1 / hh - 1.0f;
    c.b_h = expm1f(hh);
    float factorial = 1.0f;
    for (int i = 1; i <= order && i <= 2; i++) {
        c.b[i - 1] = h_phi_k * factorial / c.b_h;
        factorial *= (float)(i + 1);
        h_phi_k = h_phi_k / hh - 1.0f / factorial;
    }
    return c;
}

static void unipc_predict(wan22_solver *s, float *x, int order)
{
    const float *sig = s->sched->sigmas;
    int k = s->step;
    float lambda_t = lambda_of(sig[k + 1]), lambda_s0 = lambda_of(sig[k]);
    float h = lambda_t - lambda_s0;
    unipc_coef c = unipc_coefficients(sig[k + 1], sig[k], lambda_s0, h, order);
    const float *m0 = s->outputs[1], *m1 = s->outputs[0];
    float ratio = c.sigma_t / c.sigma_s0, a = c.alpha_t * c.h_phi_1, ab = c.alpha_t * c.b_h;
    float rk = order == 2 ? (lambda_of(sig[k - 1]) - lambda_s0) / h : 0.0f;
    for (int64_t i = 0; i < s->n; i++) {
        float xt = ratio * x[i] - a * m0[i];
        if (order == 2) {
            float d1 = (m1[i] - m0[i]) / rk;
            xt = xt - ab * (0.5f * d1); /* rhos_p = [0.5] for order 2 */
        }
        x[i] = xt;
    }
}

static void unipc_correct(wan22_solver *s, const float *model_t, float *x, int order)
{
    const float *sig = s->sched->sigmas;
    int k = s->step;
    float lambda_t = lambda_of(sig[k]), lambda_s0 = lambda_of(sig[k - 1]);
    float h = lambda_t - lambda_s0;
    unipc_coef c = unipc_coefficients(sig[k], sig[k - 1], lambda_s0, h, order);
    const float *m0 = s->outputs[1], *m1 = s->outputs[0];
    float rhos[2];
    float rk = 0.0f;
    if (order == 1) {
        rhos[0] = 0.5f;
    } else { /* solve [[1, 1], [rk, 1]] · rhos = b */
        rk = (lambda_of(sig[k - 2]) - lambda_s0) / h;
        float det = 1.0f - rk;
        rhos[0] = (c.b[0] - c.b[1]) / det;
        rhos[1] = (c.b[1] - rk * c.b[0]) / det;
    }
    float ratio = c.sigma_t / c.sigma_s0, a = c.alpha_t * c.h_phi_1, ab = c.alpha_t * c.b_h;
    float rho_last = order == 1 ? rhos[0] : rhos[1];
    const float *last = s->last_sample;
    for (int64_t i = 0; i < s->n; i++) {
        float xt = ratio * last[i] - a * m0[i];
        float corr = order == 2 ? rhos[0] * ((m1[i] - m0[i]) / rk) : 0.0f;
        float d1_t = model_t[i] - m0[i];
        x[i] = xt - ab * (corr + rho_last * d1_t);
    }
}

static void unipc_step(wan22_solver *s, const float *v, float *x)
{
    int k = s->step, steps = s->sched->steps;
    float sigma = s->sched->sigmas[k];
    float *x0 = s->noise; /* scratch: this step's converted output */
    for (int64_t i = 0; i < s->n; i++)
        x0[i] = x[i] - sigma * v[i];
    if (k > 0) /* corrector with the order chosen at the previous step */
        unipc_correct(s, x0, x, s->this_order);
    memcpy(rotate_history(s), x0, (size_t)s->n * sizeof(float));
    int order = steps - k < 2 ? steps - k : 2; /* lower_order_final */
    s->this_order = order < s->lower_order_nums + 1 ? order : s->lower_order_nums + 1;
    memcpy(s->last_sample, x, (size_t)s->n * sizeof(float));
    unipc_predict(s, x, s->this_order);
    if (s->lower_order_nums < 2)
        s->lower_order_nums++;
}

/* ---- DPM++ 2M (midpoint), ODE and SDE -------------------------------------------------------- */

static void dpm_step(wan22_solver *s, const float *v, float *x, bool sde)
{
    const float *sig = s->sched->sigmas;
    int k = s->step, steps = s->sched->steps;
    push_x0(s, v, x, sig[k]);
    /* lower_order_final: the last step is first order (final sigma is zero) */
    bool first_order = s->lower_order_nums < 1 || k == steps - 1;
    float sig_t = sig[k + 1], sig_s0 = sig[k], alpha_t = 1.0f - sig_t;
    float h = lambda_of(sig_t) - lambda_of(sig_s0);
    const float *m0 = s->outputs[1], *m1 = s->outputs[0];
    float r0 = first_order ? 0.0f : (lambda_of(sig_s0) - lambda_of(sig[k - 1])) / h;
    if (sde)
        wr_rng_randn(&s->rng, s->noise, s->n);
    float emh = expf(-h), em2h = expf(-2.0f * h);
    for (int64_t i = 0; i < s->n; i++) {
        float d1 = first_order ? 0.0f : (1.0f / r0) * (m0[i] - m1[i]);
        if (!sde) {
            float a = alpha_t * (emh - 1.0f);
            x[i] = (sig_t / sig_s0) * x[i] - a * m0[i] - (first_order ? 0.0f : 0.5f * a * d1);
        } else {
            float a = alpha_t * (1.0f - em2h);
            x[i] = (sig_t / sig_s0 * emh) * x[i] + a * m0[i] + (first_order ? 0.0f : 0.5f * a * d1) +
                   sig_t * sqrtf(1.0f - em2h) * s->noise[i];
        }
    }
    if (s->lower_order_nums < 2)
        s->lower_order_nums++;
}

void wan22_solver_step(wan22_solver *s, const float *v, float *x)
{
    const float *sig = s->sched->sigmas;
    int k = s->step;
    WR_ASSERT(k < s->sched->steps, "solver stepped past its %d steps", s->sched->steps);
    switch (s->sched->sampler) {
    case WAN22_SAMPLER_UNIPC: unipc_step(s, v, x); break;
    case WAN22_SAMPLER_DPMPP: dpm_step(s, v, x, false); break;
    case WAN22_SAMPLER_DPMPP_SDE: dpm_step(s, v, x, true); break;
    case WAN22_SAMPLER_EULER:
        for (int64_t i = 0; i < s->n; i++)
            x[i] = x[i] + (sig[k + 1] - sig[k]) * v[i];
        break;
    case WAN22_SAMPLER_LCM:
        wr_rng_randn(&s->rng, s->noise, s->n);
        for (int64_t i = 0; i < s->n; i++) {
            float x0 = x[i] - sig[k] * v[i];
            x[i] = (1.0f - sig[k + 1]) * x0 + sig[k + 1] * s->noise[i];
        }
        break;
    default: WR_ASSERT(0, "unknown sampler");
    }
    s->step++;
}
