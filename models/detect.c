/* Model detection by characteristic tensors (see detect.h). */
#include "models/detect.h"

#include <stdio.h>
#include <string.h>

#include "models/wan22/config.h"

static int has(const wr_weightfile *wf, const char *name) { return wr_weightfile_find(wf, name) != NULL; }

static int has_prefix(const wr_weightfile *wf, const char *prefix)
{
    size_t n = strlen(prefix);
    for (int64_t i = 0; i < wf->n_tensors; i++)
        if (strncmp(wf->tensors[i].name, prefix, n) == 0)
            return 1;
    return 0;
}

static int64_t tdim(const wr_weightfile *wf, const char *name, int i)
{
    const wr_wtensor *w = wr_weightfile_find(wf, name);
    return w && i < w->t.n_dims ? w->t.ne[w->t.n_dims - 1 - i] : 0;
}

wr_model_kind wr_detect_model(const wr_weightfile *wf, char *desc, size_t len)
{
    if (has(wf, "patch_embedding.weight") && has(wf, "head.head.weight")) {
        wan22_config c;
        if (wan22_config_read(wf, 0, &c) == WR_OK) {
            snprintf(desc, len, "Wan DiT %s: dim %d, %d heads, %d layers, ffn %d, in %d, out %d, text_dim %d, freq_dim %d, text_len %d%s",
                     wan22_variant_name(c.variant), c.dim, c.num_heads, c.num_layers, c.ffn_dim, c.in_dim, c.out_dim,
                     c.text_dim, c.freq_dim, c.text_len, wr_weightfile_meta(wf, "config") ? "" : " (default: not stored in the file)");
            return WR_MODEL_WAN_DIT;
        }
        wr_clear_error();
    }
    if (has(wf, "encoder.conv1.weight") && has(wf, "decoder.conv1.weight") && has(wf, "conv2.weight")) {
        int64_t z = tdim(wf, "conv2.weight", 0), dim = tdim(wf, "encoder.conv1.weight", 0);
        int64_t in = tdim(wf, "encoder.conv1.weight", 1);
        int v22 = z == 48 || in == 12;
        snprintf(desc, len, "Wan %s VAE: base dim %lld, latent channels %lld", v22 ? "2.2" : "2.1", (long long)dim,
                 (long long)z);
        return v22 ? WR_MODEL_WAN_VAE22 : WR_MODEL_WAN_VAE21;
    }
    if (has(wf, "token_embedding.weight") && has(wf, "blocks.0.attn.q.weight") && has(wf, "blocks.0.ffn.fc1.weight")) {
        int layers = 0;
        char n[64];
        while (layers < 1024 && (snprintf(n, sizeof n, "blocks.%d.attn.q.weight", layers), has(wf, n)))
            layers++;
        snprintf(desc, len, "umT5 encoder: vocab %lld, dim %lld, %lld heads, ffn %lld, %d layers",
                 (long long)tdim(wf, "token_embedding.weight", 0), (long long)tdim(wf, "token_embedding.weight", 1),
                 (long long)tdim(wf, "blocks.0.pos_embedding.embedding.weight", 1),
                 (long long)tdim(wf, "blocks.0.ffn.fc1.weight", 0), layers);
        return WR_MODEL_UMT5;
    }
    if (has(wf, "encoder.block.0.layer.0.SelfAttention.q.weight") || has(wf, "enc.blk.0.attn_q.weight")) {
        snprintf(desc, len, "umT5 / T5 encoder (%s tensor names)", has(wf, "enc.blk.0.attn_q.weight") ? "llama.cpp GGUF" : "HF");
        return WR_MODEL_UMT5;
    }
    if (has_prefix(wf, "block0.") || has_prefix(wf, "module.block0.") || has_prefix(wf, "encode.") ||
        has_prefix(wf, "module.encode.")) {
        snprintf(desc, len, "RIFE IFNet (frame interpolation)");
        return WR_MODEL_RIFE;
    }
    if (has_prefix(wf, "vid_in.") || has_prefix(wf, "blocks.0.mlp") || has_prefix(wf, "emb_in.")) {
        snprintf(desc, len, "SeedVR2 DiT (upscaler)");
        return WR_MODEL_SEEDVR2;
    }
    if (has(wf, "decoder.conv_in.weight") && has(wf, "decoder.conv_norm_out.weight")) {
        snprintf(desc, len, "SeedVR2 video VAE: latent channels %lld", (long long)tdim(wf, "decoder.conv_in.weight", 1));
        return WR_MODEL_SEEDVR2;
    }
    snprintf(desc, len, "unknown");
    return WR_MODEL_UNKNOWN;
}
