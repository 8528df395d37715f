/* Wan DiT config from tensor shapes (see config.h). Shapes are read in PyTorch order from
 * ne[] (innermost first). */
#include "models/wan22/config.h"

#include <stdio.h>
#include <string.h>

#include "runtime/json.h"

static const char *const variant_names[] = {"t2v", "i2v", "ti2v"};
_Static_assert(sizeof(variant_names) / sizeof(variant_names[0]) == WAN22_VARIANT_COUNT,
               "variant_names must cover every variant");

const char *wan22_variant_name(wan22_variant v)
{
    return (unsigned)v < WAN22_VARIANT_COUNT ? variant_names[v] : "unknown";
}

/* Torch-order dimension i of a tensor (0 = outermost). */
static int64_t dim_of(const wr_wtensor *w, int i) { return w->t.ne[w->t.n_dims - 1 - i]; }

static wr_status need(const wr_weightfile *wf, const char *name, int n_dims, const wr_wtensor **out)
{
    *out = wr_weightfile_find(wf, name);
    if (!*out)
        return wr_fail(WR_E_FORMAT, "%s: missing tensor '%s': not a Wan DiT checkpoint?", wf->map.path, name);
    if ((*out)->t.n_dims != n_dims)
        return wr_fail(WR_E_FORMAT, "%s: tensor '%s' has %d dimensions, expected %d", wf->map.path, name,
                       (*out)->t.n_dims, n_dims);
    return WR_OK;
}

static int metadata_text_len(const wr_weightfile *wf)
{
    const char *cfg = wr_weightfile_meta(wf, "config");
    if (!cfg)
        return 0;
    wr_json j;
    if (wr_json_parse(cfg, strlen(cfg), "config", &j) != WR_OK) {
        wr_clear_error();
        return 0;
    }
    const wr_json *tl = wr_json_get(&j, "text_len");
    int v = tl && tl->type == WR_JSON_NUMBER && tl->is_int && tl->integer > 0 && tl->integer < 65536
                ? (int)tl->integer : 0;
    wr_json_free(&j);
    return v;
}

wr_status wan22_config_read(const wr_weightfile *wf, int text_len_override, wan22_config *cfg)
{
    const char *path = wf->map.path;
    const wr_wtensor *pe, *ffn, *te, *tt, *head;
    memset(cfg, 0, sizeof *cfg);
    WR_TRY(need(wf, "patch_embedding.weight", 5, &pe));
    WR_TRY(need(wf, "blocks.0.ffn.0.weight", 2, &ffn));
    WR_TRY(need(wf, "time_embedding.0.weight", 2, &tt));
    WR_TRY(need(wf, "text_embedding.0.weight", 2, &te));
    WR_TRY(need(wf, "head.head.weight", 2, &head));
    cfg->dim = (int)dim_of(pe, 0);
    cfg->in_dim = (int)dim_of(pe, 1);
    cfg->ffn_dim = (int)dim_of(ffn, 0);
    cfg->freq_dim = (int)dim_of(tt, 1);
    cfg->text_dim = (int)dim_of(te, 1);
    cfg->eps = 1e-6f;
    if (dim_of(pe, 2) != 1 || dim_of(pe, 3) != WAN22_PATCH || dim_of(pe, 4) != WAN22_PATCH)
        return wr_fail(WR_E_UNSUPPORTED, "%s: patch_embedding.weight kernel is not (1, 2, 2)", path);
    if (cfg->dim <= 0 || cfg->dim % WAN22_HEAD_DIM != 0)
        return wr_fail(WR_E_FORMAT, "%s: model dim %d is not a multiple of the head dim %d", path, cfg->dim,
                       WAN22_HEAD_DIM);
    cfg->num_heads = cfg->dim / WAN22_HEAD_DIM;
    int64_t head_rows = dim_of(head, 0);
    if (head_rows % (WAN22_PATCH * WAN22_PATCH) != 0 || dim_of(head, 1) != cfg->dim)
        return wr_fail(WR_E_FORMAT, "%s: head.head.weight shape does not fit dim %d", path, cfg->dim);
    cfg->out_dim = (int)(head_rows / (WAN22_PATCH * WAN22_PATCH));
    if (cfg->freq_dim % 2 != 0 || dim_of(tt, 0) != cfg->dim || dim_of(te, 0) != cfg->dim ||
        dim_of(ffn, 1) != cfg->dim)
        return wr_fail(WR_E_FORMAT, "%s: embedding/ffn shapes disagree with dim %d", path, cfg->dim);
    switch (cfg->in_dim) {
    case 16: cfg->variant = WAN22_T2V; break;
    case 36: cfg->variant = WAN22_I2V; break;
    case 48: cfg->variant = WAN22_TI2V; break;
    default:
        return wr_fail(WR_E_UNSUPPORTED, "%s: input channels %d match no Wan 2.2 model (16, 36, 48)", path,
                       cfg->in_dim);
    }
    char name[64];
    while (cfg->num_layers < 4096) {
        snprintf(name, sizeof name, "blocks.%d.ffn.0.weight", cfg->num_layers);
        if (!wr_weightfile_find(wf, name))
            break;
        cfg->num_layers++;
    }
    cfg->text_len = text_len_override > 0 ? text_len_override : metadata_text_len(wf);
    if (cfg->text_len <= 0)
        cfg->text_len = 512;
    return WR_OK;
}

wr_status wan22_config_named(const char *name, wan22_config *cfg)
{
    static const struct {
        const char *name;
        wan22_variant variant;
        int dim, ffn_dim, in_dim, out_dim, num_layers;
    } known[] = {
        {"t2v-a14b", WAN22_T2V, 5120, 13824, 16, 16, 40},
        {"i2v-a14b", WAN22_I2V, 5120, 13824, 36, 16, 40},
        {"ti2v-5b", WAN22_TI2V, 3072, 14336, 48, 48, 30},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(name, known[i].name)) {
            *cfg = (wan22_config){.variant = known[i].variant, .dim = known[i].dim, .ffn_dim = known[i].ffn_dim,
                                  .freq_dim = 256, .text_dim = 4096, .text_len = 512, .in_dim = known[i].in_dim,
                                  .out_dim = known[i].out_dim, .num_heads = known[i].dim / WAN22_HEAD_DIM,
                                  .num_layers = known[i].num_layers, .eps = 1e-6f};
            return WR_OK;
        }
    return wr_fail(WR_E_ARG, "unknown model config '%s' (t2v-a14b, i2v-a14b or ti2v-5b)", name);
}
