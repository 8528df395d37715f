/* Known wrapper prefixes (see names.h). Longest first so "model.diffusion_model." wins over
 * "diffusion_model.". */
#include "runtime/io/names.h"

#include <stdio.h>
#include <string.h>

static const char *const prefixes[] = {
    "model.diffusion_model.",
    "diffusion_model.",
    "module.",
};

const char *wr_names_strip_prefix(const char *name)
{
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(name, prefixes[i], n) == 0)
            return name + n;
    }
    return name;
}

/* Official -> diffusers, after "blocks.N." for block entries (diffusers'
 * convert_wan_to_diffusers rename table). Longest official prefix first within each group. */
static const struct { const char *official, *diffusers; } block_map[] = {
    {"self_attn.q.", "attn1.to_q."},   {"self_attn.k.", "attn1.to_k."},   {"self_attn.v.", "attn1.to_v."},
    {"self_attn.o.", "attn1.to_out.0."}, {"self_attn.norm_q.", "attn1.norm_q."}, {"self_attn.norm_k.", "attn1.norm_k."},
    {"cross_attn.q.", "attn2.to_q."},  {"cross_attn.k.", "attn2.to_k."},  {"cross_attn.v.", "attn2.to_v."},
    {"cross_attn.o.", "attn2.to_out.0."}, {"cross_attn.norm_q.", "attn2.norm_q."}, {"cross_attn.norm_k.", "attn2.norm_k."},
    {"norm3.", "norm2."},              {"ffn.0.", "ffn.net.0.proj."},    {"ffn.2.", "ffn.net.2."},
    {"modulation", "scale_shift_table"},
}, top_map[] = {
    {"time_embedding.0.", "condition_embedder.time_embedder.linear_1."},
    {"time_embedding.2.", "condition_embedder.time_embedder.linear_2."},
    {"text_embedding.0.", "condition_embedder.text_embedder.linear_1."},
    {"text_embedding.2.", "condition_embedder.text_embedder.linear_2."},
    {"time_projection.1.", "condition_embedder.time_proj."},
    {"head.head.", "proj_out."},
    {"head.modulation", "scale_shift_table"},
};

bool wr_names_wan_to_diffusers(const char *official, char *out, size_t len)
{
    int block, used = 0;
    if (sscanf(official, "blocks.%d.%n", &block, &used) == 1 && used > 0) {
        const char *rest = official + used;
        for (size_t i = 0; i < sizeof block_map / sizeof block_map[0]; i++) {
            size_t n = strlen(block_map[i].official);
            if (strncmp(rest, block_map[i].official, n) == 0)
                return snprintf(out, len, "blocks.%d.%s%s", block, block_map[i].diffusers, rest + n) < (int)len;
        }
        return false;
    }
    for (size_t i = 0; i < sizeof top_map / sizeof top_map[0]; i++) {
        size_t n = strlen(top_map[i].official);
        if (strncmp(official, top_map[i].official, n) == 0)
            return snprintf(out, len, "%s%s", top_map[i].diffusers, official + n) < (int)len;
    }
    return false;
}
