/* The RoPE angle table of the fused Sage preparation (cpu_rope_wan_table, layout
 * kernels/rope_wan.h) against the official one: golden/dit/rope_freqs_headdim128.safetensors holds
 * wan/modules/model.py rope_params' cos/sin in float64, [position 0..1023][pair 0..63]. Our
 * entries are the same float64 angles rounded to f32, so they must equal the golden values
 * rounded to f32 (to 1 ulp, in case the two libms' double cos round differently). Checked at
 * Wan 2.2's 720p grid (21 latent frames, 45 x 80 patches), every entry of every axis block. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "kernels/rope_wan.h"
#include "runtime/cpu/cpu_ops.h"
#include "tests/common/testutil.h"

Test(rope_table, equals_official_rope_params)
{
    wr_weightfile wf;
    wr_test_open(&wf, wr_test_shared("golden/dit/rope_freqs_headdim128.safetensors"));
    int64_t n_cos = 0, n_sin = 0;
    float *gcos = wr_test_load_f32(&wf, "freqs_cos", &n_cos), *gsin = wr_test_load_f32(&wf, "freqs_sin", &n_sin);
    cr_assert_eq(n_cos, 1024 * 64);
    cr_assert_eq(n_sin, 1024 * 64);
    int gf = 21, gh = 45, gw = 80, exact = 0, checked = 0;
    float *tab = malloc((size_t)(2 * rope_wan_table_pairs(gf, gh, gw)) * sizeof *tab);
    cpu_rope_wan_table(gf, gh, gw, tab);
    /* token (f, h, w) = (p, p, p) for every position p of all three axes reaches each entry */
    for (int p = 0; p < gw; p++)
        for (int j = 0; j < ROPE_WAN_PAIRS; j++) {
            int axis_len = j < ROPE_WAN_PAIRS_F ? gf : j < ROPE_WAN_PAIRS_F + ROPE_WAN_PAIRS_HW ? gh : gw;
            if (p >= axis_len)
                continue;
            int f = p < gf ? p : 0, h = p < gh ? p : 0, t = (f * gh + h) * gw + p;
            int e = rope_wan_entry(t, j, gf, gh, gw);
            cr_assert_geq(e, 0);
            float c = tab[2 * e], s = tab[2 * e + 1], rc = gcos[p * 64 + j], rs = gsin[p * 64 + j];
            cr_assert_leq(fabsf(c - rc), nextafterf(fabsf(rc), 2.0f) - fabsf(rc), "cos pos %d pair %d: %.9g vs %.9g", p,
                          j, (double)c, (double)rc);
            cr_assert_leq(fabsf(s - rs), nextafterf(fabsf(rs), 2.0f) - fabsf(rs), "sin pos %d pair %d: %.9g vs %.9g", p,
                          j, (double)s, (double)rs);
            exact += c == rc && s == rs;
            checked++;
        }
    cr_assert_eq(checked, gf * ROPE_WAN_PAIRS_F + (gh + gw) * ROPE_WAN_PAIRS_HW, "every table entry checked once");
    cr_expect_geq(exact * 100, checked * 99, "%d of %d entries differ by an ulp", checked - exact, checked);
    cr_assert_eq(rope_wan_entry(gf * gh * gw, 0, gf, gh, gw), -1, "tokens past the grid are not rotated");
    free(tab), free(gcos), free(gsin);
    wr_weightfile_close(&wf);
}
