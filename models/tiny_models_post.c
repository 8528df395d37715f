/* Tiny random-weight post-processing models (see tiny_models.h): RIFE 4.7 at its real widths,
 * SeedVR2 3B-structure DiT and video VAE at tiny widths, and a SeedVR2 text embedding. Key
 * names, shapes and metadata follow the real checkpoints (rife/rife.c, upscale/svr_dit_weights.c
 * and upscale/svr_vae_load.c bind them); the values are our own seeded draws, stored as F16
 * like the released files. Weights are N(0, 1/fan_in), norm weights and scales 1 + N(0, 0.1²),
 * biases 0, so activations keep unit scale through the random layers. */
#include "models/tiny_models.h"

#include <math.h>
#include <stdio.h>

#include "models/tiny_list.h"

/* ---- RIFE 4.7 IFNet ------------------------------------------------------------------------- */

static void rife_conv(tiny_list *l, const char *prefix, int cout, int cin, float gain)
{
    char n[128];
    snprintf(n, sizeof n, "%s.weight", prefix);
    tiny_list_add(l, n, 4, (int64_t[]){cout, cin, 3, 3}, gain / sqrtf((float)cin * 9), 0);
    snprintf(n, sizeof n, "%s.bias", prefix);
    tiny_list_vec(l, n, cout, 0);
}

/* ConvTranspose2d(k4, s2): weight [in, out, 4, 4]; each output pixel sums in·4 taps. */
static void rife_tconv(tiny_list *l, const char *prefix, int cin, int cout, float gain)
{
    char n[128];
    snprintf(n, sizeof n, "%s.weight", prefix);
    tiny_list_add(l, n, 4, (int64_t[]){cin, cout, 4, 4}, gain / sqrtf((float)cin * 4), 0);
    snprintf(n, sizeof n, "%s.bias", prefix);
    tiny_list_vec(l, n, cout, 0);
}

/* The 124 tensors of rife47.pth (rife.md section 8). The flow head (lastconv) is scaled down so
 * the flows stay within a few pixels and the mask near 0 (an even blend): the output looks like
 * a cross-fade of slightly warped inputs rather than noise. */
static wr_status write_rife(const char *dir)
{
    static const int cs[4] = {192, 128, 96, 64}, cins[4] = {15, 20, 20, 20};
    tiny_list l;
    char n[128];
    tiny_list_init(&l, 47, WR_DTYPE_F16);
    rife_conv(&l, "encode.0", 16, 3, 1.0f);
    rife_tconv(&l, "encode.1", 16, 4, 1.0f);
    for (int b = 0; b < 4; b++) {
        int c = cs[b];
        snprintf(n, sizeof n, "block%d.conv0.0.0", b), rife_conv(&l, n, c / 2, cins[b], 1.4f);
        snprintf(n, sizeof n, "block%d.conv0.1.0", b), rife_conv(&l, n, c, c / 2, 1.4f);
        for (int k = 0; k < 8; k++) {
            snprintf(n, sizeof n, "block%d.convblock.%d.beta", b, k);
            tiny_list_add(&l, n, 4, (int64_t[]){1, c, 1, 1}, 0.2f, 0.2f);
            snprintf(n, sizeof n, "block%d.convblock.%d.conv", b, k), rife_conv(&l, n, c, c, 1.0f);
        }
        snprintf(n, sizeof n, "block%d.lastconv.0", b), rife_tconv(&l, n, c, 24, 0.1f);
    }
    return tiny_list_write(&l, dir, "rife_tiny.safetensors", NULL, 0);
}

/* ---- SeedVR2 DiT (3B "dit_v2" structure) ------------------------------------------------------ */

enum {
    DIT_VID_IN = 33, DIT_VID_OUT = 16, DIT_DIM = 64, DIT_HEADS = 2, DIT_HEAD_DIM = 32, DIT_TXT_IN = 48,
    DIT_MLP = 4 * DIT_DIM, DIT_LAYERS = 4, DIT_MM_LAYERS = 2, DIT_FREQ = 256, DIT_TXT_TOKENS = 32,
};

static const char dit_config[] =
    "{\"vid_in_channels\": 33, \"vid_out_channels\": 16, \"vid_dim\": 64, \"vid_out_norm\": \"fusedrms\", "
    "\"txt_in_dim\": 48, \"txt_in_norm\": \"fusedln\", \"txt_dim\": 64, \"emb_dim\": 384, \"heads\": 2, "
    "\"head_dim\": 32, \"expand_ratio\": 4, \"norm\": \"fusedrms\", \"norm_eps\": 1e-05, \"ada\": \"single\", "
    "\"qk_bias\": false, \"qk_norm\": \"fusedrms\", \"patch_size\": [1, 2, 2], \"num_layers\": 4, \"mm_layers\": 2, "
    "\"mlp_type\": \"swiglu\", \"window\": [[4, 3, 3], [4, 3, 3], [4, 3, 3], [4, 3, 3]], \"window_method\": "
    "[\"720pwin_by_size_bysize\", \"720pswin_by_size_bysize\", \"720pwin_by_size_bysize\", "
    "\"720pswin_by_size_bysize\"], \"rope_type\": \"mmrope3d\", \"rope_dim\": 32}";

/* One branch (vid, txt or shared all) of layer b; the last layer's text branch has no ada/MLP. */
static void dit_branch(tiny_list *l, int b, const char *br, int ada_mlp)
{
    char n[160];
    const int D = DIT_DIM, inner = DIT_HEADS * DIT_HEAD_DIM;
    snprintf(n, sizeof n, "blocks.%d.attn.proj_qkv.%s.weight", b, br), tiny_list_mat(l, n, 3 * inner, D);
    snprintf(n, sizeof n, "blocks.%d.attn.proj_out.%s.weight", b, br), tiny_list_mat(l, n, D, inner);
    snprintf(n, sizeof n, "blocks.%d.attn.proj_out.%s.bias", b, br), tiny_list_vec(l, n, D, 0);
    snprintf(n, sizeof n, "blocks.%d.attn.norm_q.%s.weight", b, br), tiny_list_add(l, n, 1, (int64_t[]){DIT_HEAD_DIM}, 0.1f, 1);
    snprintf(n, sizeof n, "blocks.%d.attn.norm_k.%s.weight", b, br), tiny_list_add(l, n, 1, (int64_t[]){DIT_HEAD_DIM}, 0.1f, 1);
    if (!ada_mlp)
        return;
    static const char *const layer[2] = {"attn", "mlp"};
    for (int i = 0; i < 2; i++) { /* AdaSingle parameters: shift/gate ~ 0, scale ~ 1 */
        snprintf(n, sizeof n, "blocks.%d.ada.%s.%s_shift", b, br, layer[i]), tiny_list_add(l, n, 1, (int64_t[]){D}, 0.1f, 0);
        snprintf(n, sizeof n, "blocks.%d.ada.%s.%s_scale", b, br, layer[i]), tiny_list_add(l, n, 1, (int64_t[]){D}, 0.1f, 1);
        snprintf(n, sizeof n, "blocks.%d.ada.%s.%s_gate", b, br, layer[i]), tiny_list_add(l, n, 1, (int64_t[]){D}, 0.1f, 0);
    }
    snprintf(n, sizeof n, "blocks.%d.mlp.%s.proj_in.weight", b, br), tiny_list_mat(l, n, DIT_MLP, D);
    snprintf(n, sizeof n, "blocks.%d.mlp.%s.proj_in_gate.weight", b, br), tiny_list_mat(l, n, DIT_MLP, D);
    snprintf(n, sizeof n, "blocks.%d.mlp.%s.proj_out.weight", b, br), tiny_list_mat(l, n, D, DIT_MLP);
}

static wr_status write_svr_dit(const char *dir)
{
    const int D = DIT_DIM, axis = DIT_HEAD_DIM / 3, n_freq = axis / 2;
    tiny_list l;
    char n[160];
    tiny_list_init(&l, 3003, WR_DTYPE_F16);
    tiny_list_mat(&l, "vid_in.proj.weight", D, 4 * DIT_VID_IN), tiny_list_vec(&l, "vid_in.proj.bias", D, 0);
    tiny_list_mat(&l, "txt_in.weight", D, DIT_TXT_IN), tiny_list_vec(&l, "txt_in.bias", D, 0);
    tiny_list_mat(&l, "emb_in.proj_in.weight", D, DIT_FREQ), tiny_list_vec(&l, "emb_in.proj_in.bias", D, 0);
    tiny_list_mat(&l, "emb_in.proj_hid.weight", D, D), tiny_list_vec(&l, "emb_in.proj_hid.bias", D, 0);
    tiny_list_mat(&l, "emb_in.proj_out.weight", 6 * D, D), tiny_list_vec(&l, "emb_in.proj_out.bias", 6 * D, 0);
    float freqs[DIT_HEAD_DIM]; /* the RoPE buffer the constructor stores: 1/10000^(2j/axis) */
    for (int j = 0; j < n_freq; j++)
        freqs[j] = (float)pow(10000.0, -2.0 * j / axis);
    for (int b = 0; b < DIT_LAYERS; b++) {
        int last = b == DIT_LAYERS - 1;
        if (b < DIT_MM_LAYERS) {
            dit_branch(&l, b, "vid", 1);
            dit_branch(&l, b, "txt", !last);
        } else {
            dit_branch(&l, b, "all", 1);
        }
        snprintf(n, sizeof n, "blocks.%d.attn.rope.rope.freqs", b);
        tiny_list_add_values(&l, n, n_freq, freqs, WR_DTYPE_F32);
    }
    tiny_list_add(&l, "vid_out_norm.weight", 1, (int64_t[]){D}, 0.1f, 1);
    tiny_list_add(&l, "vid_out_ada.out_shift", 1, (int64_t[]){D}, 0.1f, 0);
    tiny_list_add(&l, "vid_out_ada.out_scale", 1, (int64_t[]){D}, 0.1f, 1);
    tiny_list_mat(&l, "vid_out.proj.weight", 4 * DIT_VID_OUT, D), tiny_list_vec(&l, "vid_out.proj.bias", 4 * DIT_VID_OUT, 0);
    const char *meta[2][2] = {{"config", dit_config}, {"note", "wanrt tiny random weights"}};
    return tiny_list_write(&l, dir, "seedvr2_dit_tiny.safetensors", meta, 2);
}

/* A text embedding as the DiT's txt_in expects it: [tokens, txt_in], named like the release's
 * pos_emb.pt tensor. */
static wr_status write_svr_text(const char *dir)
{
    tiny_list l;
    tiny_list_init(&l, 3004, WR_DTYPE_F16);
    tiny_list_add(&l, "pos_emb", 2, (int64_t[]){DIT_TXT_TOKENS, DIT_TXT_IN}, 1.0f, 0);
    return tiny_list_write(&l, dir, "seedvr2_pos_emb.safetensors", NULL, 0);
}

/* ---- SeedVR2 causal video VAE (video_vae_v3) ------------------------------------------------- */

#define VAE_BLOCKS 4
#define VAE_LATENT 16

static const char vae_config[] =
    "{\"act_fn\": \"silu\", \"block_out_channels\": [8, 8, 16, 16], \"in_channels\": 3, \"latent_channels\": 16, "
    "\"layers_per_block\": 2, \"norm_num_groups\": 4, \"out_channels\": 3, \"slicing_sample_min_size\": 4, "
    "\"temporal_scale_num\": 2, \"inflation_mode\": \"pad\", \"spatial_downsample_factor\": 8, "
    "\"temporal_downsample_factor\": 4, \"use_quant_conv\": false, \"use_post_quant_conv\": false}";

static void vae_conv(tiny_list *l, const char *prefix, int cout, int cin, int kt, int k)
{
    char n[192];
    snprintf(n, sizeof n, "%s.weight", prefix);
    tiny_list_add(l, n, 5, (int64_t[]){cout, cin, kt, k, k}, 1.0f / sqrtf((float)(cin * kt * k * k)), 0);
    snprintf(n, sizeof n, "%s.bias", prefix);
    tiny_list_vec(l, n, cout, 0);
}

static void vae_norm(tiny_list *l, const char *prefix, int c)
{
    char n[192];
    snprintf(n, sizeof n, "%s.weight", prefix), tiny_list_add(l, n, 1, (int64_t[]){c}, 0.1f, 1);
    snprintf(n, sizeof n, "%s.bias", prefix), tiny_list_vec(l, n, c, 0);
}

static void vae_res(tiny_list *l, const char *prefix, int cin, int cout)
{
    char p[192];
    snprintf(p, sizeof p, "%s.norm1", prefix), vae_norm(l, p, cin);
    snprintf(p, sizeof p, "%s.conv1", prefix), vae_conv(l, p, cout, cin, 3, 3);
    snprintf(p, sizeof p, "%s.norm2", prefix), vae_norm(l, p, cout);
    snprintf(p, sizeof p, "%s.conv2", prefix), vae_conv(l, p, cout, cout, 3, 3);
    if (cin != cout)
        snprintf(p, sizeof p, "%s.conv_shortcut", prefix), vae_conv(l, p, cout, cin, 1, 1);
}

static void vae_mid(tiny_list *l, const char *prefix, int c)
{
    char p[192];
    static const char *const proj[4] = {"to_q", "to_k", "to_v", "to_out.0"};
    snprintf(p, sizeof p, "%s.resnets.0", prefix), vae_res(l, p, c, c);
    snprintf(p, sizeof p, "%s.resnets.1", prefix), vae_res(l, p, c, c);
    snprintf(p, sizeof p, "%s.attentions.0.group_norm", prefix), vae_norm(l, p, c);
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s.attentions.0.%s.weight", prefix, proj[i]), tiny_list_mat(l, p, c, c);
        snprintf(p, sizeof p, "%s.attentions.0.%s.bias", prefix, proj[i]), tiny_list_vec(l, p, c, 0);
    }
}

/* block_out_channels 8/8/16/16, 2 resnets per encoder block and 3 per decoder block; the
 * encoder downsamples in space at blocks 0-2 and in time at 1-2 (temporal_scale_num 2); the
 * decoder mirrors it (upscale_conv x8 = space and time at blocks 0-1, x4 = space at block 2). */
static wr_status write_svr_vae(const char *dir)
{
    static const int enc[VAE_BLOCKS] = {8, 8, 16, 16}, dec[VAE_BLOCKS] = {16, 16, 8, 8};
    static const int enc_down_t[VAE_BLOCKS] = {1, 3, 3, 0}, dec_up_z[VAE_BLOCKS] = {2, 2, 1, 0};
    tiny_list l;
    char p[192];
    tiny_list_init(&l, 3005, WR_DTYPE_F16);
    vae_conv(&l, "encoder.conv_in", enc[0], 3, 3, 3);
    int ch = enc[0];
    for (int i = 0; i < VAE_BLOCKS; i++) {
        for (int j = 0; j < 2; j++) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.resnets.%d", i, j);
            vae_res(&l, p, j ? enc[i] : ch, enc[i]);
        }
        ch = enc[i];
        if (enc_down_t[i])
            snprintf(p, sizeof p, "encoder.down_blocks.%d.downsamplers.0.conv", i), vae_conv(&l, p, ch, ch, enc_down_t[i], 3);
    }
    vae_mid(&l, "encoder.mid_block", ch);
    vae_norm(&l, "encoder.conv_norm_out", ch);
    vae_conv(&l, "encoder.conv_out", 2 * VAE_LATENT, ch, 3, 3);
    ch = dec[0];
    vae_conv(&l, "decoder.conv_in", ch, VAE_LATENT, 3, 3);
    vae_mid(&l, "decoder.mid_block", ch);
    for (int i = 0; i < VAE_BLOCKS; i++) {
        for (int j = 0; j < 3; j++) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.resnets.%d", i, j);
            vae_res(&l, p, j ? dec[i] : ch, dec[i]);
        }
        ch = dec[i];
        if (dec_up_z[i]) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.upsamplers.0.upscale_conv", i);
            vae_conv(&l, p, ch * 4 * dec_up_z[i], ch, 1, 1);
            snprintf(p, sizeof p, "decoder.up_blocks.%d.upsamplers.0.conv", i), vae_conv(&l, p, ch, ch, 3, 3);
        }
    }
    vae_norm(&l, "decoder.conv_norm_out", ch);
    vae_conv(&l, "decoder.conv_out", 3, ch, 3, 3);
    const char *meta[2][2] = {{"config", vae_config}, {"note", "wanrt tiny random weights"}};
    return tiny_list_write(&l, dir, "seedvr2_vae_tiny.safetensors", meta, 2);
}

wr_status wr_make_tiny_post_models(const char *dir)
{
    WR_TRY(write_rife(dir));
    WR_TRY(write_svr_dit(dir));
    WR_TRY(write_svr_text(dir));
    return write_svr_vae(dir);
}
