/* See svr_tiny7b.h. */
#include "tests/common/svr_tiny7b.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/io/safetensors_write.h"
#include "tests/common/testutil.h"

#define D SVR7B_D
#define HD SVR7B_HD
#define HIDDEN SVR7B_HIDDEN
#define LAYERS SVR7B_LAYERS
#define TXT_IN SVR7B_TXT_IN
#define NF SVR7B_NF

typedef struct builder {
    wr_st_entry e[128];
    char names[128][80];
    float *data[128];
    int n;
    uint64_t rng;
} builder;

/* Adds a tensor: kind 'w' = weight (uniform ±1/sqrt(fan_in)), 'b' = small bias, '1' = near 1,
 * 'f' = the pixel rope frequencies. */
static void add(builder *b, const char *name, int64_t d0, int64_t d1, char kind)
{
    int i = b->n++;
    snprintf(b->names[i], sizeof b->names[i], "%s", name);
    int64_t n = d0 * (d1 > 0 ? d1 : 1);
    float *p = malloc((size_t)n * sizeof *p);
    float a = d1 > 0 ? 1.0f / sqrtf((float)d1) : 0.1f;
    for (int64_t k = 0; k < n; k++)
        p[k] = kind == 'f' ? (1.0f + 127.0f * (float)k / (float)(NF - 1)) * (float)M_PI
             : kind == '1' ? wr_test_uniform(&b->rng, 0.8f, 1.2f)
                           : wr_test_uniform(&b->rng, -a, a);
    b->data[i] = p;
    b->e[i] = (wr_st_entry){.name = b->names[i], .dtype = WR_DTYPE_F32, .n_dims = d1 > 0 ? 2 : 1,
                            .shape = {d0, d1 > 0 ? d1 : 0}, .data = p};
}

void wr_test_write_svr_7b(const char *path)
{
    static builder b;
    memset(&b, 0, sizeof b);
    b.rng = 12345;
    char k[96];
    add(&b, "vid_in.proj.weight", D, 4 * 33, 'w');
    add(&b, "vid_in.proj.bias", D, 0, 'b');
    add(&b, "txt_in.weight", D, TXT_IN, 'w');
    add(&b, "txt_in.bias", D, 0, 'b');
    add(&b, "emb_in.proj_in.weight", D, 256, 'w');
    add(&b, "emb_in.proj_in.bias", D, 0, 'b');
    add(&b, "emb_in.proj_hid.weight", D, D, 'w');
    add(&b, "emb_in.proj_hid.bias", D, 0, 'b');
    add(&b, "emb_in.proj_out.weight", 6 * D, D, 'w');
    add(&b, "emb_in.proj_out.bias", 6 * D, 0, 'b');
    add(&b, "vid_out.proj.weight", 64, D, 'w');
    add(&b, "vid_out.proj.bias", 64, 0, 'b');
    static const char *const br[2] = {"vid", "txt"}, *const ada[6] = {"attn_shift", "attn_scale", "attn_gate",
                                                                       "mlp_shift", "mlp_scale", "mlp_gate"};
    for (int l = 0; l < LAYERS; l++) {
        snprintf(k, sizeof k, "blocks.%d.attn.rope.rope.freqs", l);
        add(&b, k, NF, 0, 'f');
        for (int s = 0; s < 2; s++) {
#define ADD(fmt, d0, d1, kind) (snprintf(k, sizeof k, fmt, l, br[s]), add(&b, k, d0, d1, kind))
            ADD("blocks.%d.attn.proj_qkv.%s.weight", 3 * D, D, 'w');
            ADD("blocks.%d.attn.proj_out.%s.weight", D, D, 'w');
            ADD("blocks.%d.attn.proj_out.%s.bias", D, 0, 'b');
            ADD("blocks.%d.attn.norm_q.%s.weight", HD, 0, '1');
            ADD("blocks.%d.attn.norm_k.%s.weight", HD, 0, '1');
            ADD("blocks.%d.mlp.%s.proj_in.weight", HIDDEN, D, 'w');
            ADD("blocks.%d.mlp.%s.proj_in.bias", HIDDEN, 0, 'b');
            ADD("blocks.%d.mlp.%s.proj_out.weight", D, HIDDEN, 'w');
            ADD("blocks.%d.mlp.%s.proj_out.bias", D, 0, 'b');
#undef ADD
            for (int a = 0; a < 6; a++) {
                snprintf(k, sizeof k, "blocks.%d.ada.%s.%s", l, br[s], ada[a]);
                add(&b, k, D, 0, a % 3 == 1 ? '1' : 'b');
            }
        }
    }
    cr_assert_eq(wr_safetensors_write(path, b.e, b.n, NULL, 0), WR_OK, "%s", wr_last_error());
    for (int i = 0; i < b.n; i++)
        free(b.data[i]);
}
