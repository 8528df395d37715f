/* Tiny model writer (see tiny_models.h). */
#include "models/tiny_models.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "media/png_io.h"
#include "models/tiny_list.h"
#include "runtime/io/atomic_file.h"
#include "runtime/numeric.h"
#include "runtime/rng.h"

/* ---- models -------------------------------------------------------------------------------- */

static wr_status write_dit(const char *dir, const char *file, int in_dim, uint64_t seed)
{
    const int dim = 256, ffn = 512, freq = 256, text = 64, out = in_dim == 48 ? 48 : 16, layers = 2;
    tiny_list l;
    char n[128];
    tiny_list_init(&l, seed, WR_DTYPE_BF16);
    tiny_list_add(&l, "patch_embedding.weight", 5, (int64_t[]){dim, in_dim, 1, 2, 2}, 1.0f / sqrtf((float)in_dim * 4), 0);
    tiny_list_vec(&l, "patch_embedding.bias", dim, 0);
    tiny_list_mat(&l, "text_embedding.0.weight", dim, text), tiny_list_vec(&l, "text_embedding.0.bias", dim, 0);
    tiny_list_mat(&l, "text_embedding.2.weight", dim, dim), tiny_list_vec(&l, "text_embedding.2.bias", dim, 0);
    tiny_list_mat(&l, "time_embedding.0.weight", dim, freq), tiny_list_vec(&l, "time_embedding.0.bias", dim, 0);
    tiny_list_mat(&l, "time_embedding.2.weight", dim, dim), tiny_list_vec(&l, "time_embedding.2.bias", dim, 0);
    tiny_list_mat(&l, "time_projection.1.weight", 6 * dim, dim), tiny_list_vec(&l, "time_projection.1.bias", 6 * dim, 0);
    for (int b = 0; b < layers; b++) {
        const char *attn[2] = {"self_attn", "cross_attn"};
        snprintf(n, sizeof n, "blocks.%d.modulation", b);
        tiny_list_add(&l, n, 3, (int64_t[]){1, 6, dim}, 0.02f, 0);
        for (int a = 0; a < 2; a++) {
            const char *p[4] = {"q", "k", "v", "o"};
            for (int i = 0; i < 4; i++) {
                snprintf(n, sizeof n, "blocks.%d.%s.%s.weight", b, attn[a], p[i]);
                tiny_list_mat(&l, n, dim, dim);
                snprintf(n, sizeof n, "blocks.%d.%s.%s.bias", b, attn[a], p[i]);
                tiny_list_vec(&l, n, dim, 0);
            }
            snprintf(n, sizeof n, "blocks.%d.%s.norm_q.weight", b, attn[a]);
            tiny_list_vec(&l, n, dim, 1);
            snprintf(n, sizeof n, "blocks.%d.%s.norm_k.weight", b, attn[a]);
            tiny_list_vec(&l, n, dim, 1);
        }
        snprintf(n, sizeof n, "blocks.%d.norm3.weight", b), tiny_list_vec(&l, n, dim, 1);
        snprintf(n, sizeof n, "blocks.%d.norm3.bias", b), tiny_list_vec(&l, n, dim, 0);
        snprintf(n, sizeof n, "blocks.%d.ffn.0.weight", b), tiny_list_mat(&l, n, ffn, dim);
        snprintf(n, sizeof n, "blocks.%d.ffn.0.bias", b), tiny_list_vec(&l, n, ffn, 0);
        snprintf(n, sizeof n, "blocks.%d.ffn.2.weight", b), tiny_list_mat(&l, n, dim, ffn);
        snprintf(n, sizeof n, "blocks.%d.ffn.2.bias", b), tiny_list_vec(&l, n, dim, 0);
    }
    tiny_list_add(&l, "head.modulation", 3, (int64_t[]){1, 2, dim}, 0.02f, 0);
    tiny_list_mat(&l, "head.head.weight", out * 4, dim), tiny_list_vec(&l, "head.head.bias", out * 4, 0);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"model_type\": \"%s\", \"dim\": %d, \"text_len\": 32, \"note\": \"wanrt tiny random weights\"}",
             in_dim == 16 ? "t2v" : in_dim == 36 ? "i2v" : "ti2v", dim);
    const char *meta[1][2] = {{"config", cfg}};
    return tiny_list_write(&l, dir, file, meta, 1);
}

static wr_status write_t5(const char *dir, int vocab)
{
    const int dim = 64, ffn = 128, heads = 4, layers = 2, buckets = 32;
    tiny_list l;
    char n[128];
    tiny_list_init(&l, 5, WR_DTYPE_BF16);
    tiny_list_add(&l, "token_embedding.weight", 2, (int64_t[]){vocab, dim}, 1.0f, 0);
    for (int b = 0; b < layers; b++) {
        const char *p[4] = {"q", "k", "v", "o"};
        snprintf(n, sizeof n, "blocks.%d.norm1.weight", b), tiny_list_vec(&l, n, dim, 1);
        for (int i = 0; i < 4; i++) {
            snprintf(n, sizeof n, "blocks.%d.attn.%s.weight", b, p[i]);
            tiny_list_mat(&l, n, dim, dim);
        }
        snprintf(n, sizeof n, "blocks.%d.norm2.weight", b), tiny_list_vec(&l, n, dim, 1);
        snprintf(n, sizeof n, "blocks.%d.ffn.gate.0.weight", b), tiny_list_mat(&l, n, ffn, dim);
        snprintf(n, sizeof n, "blocks.%d.ffn.fc1.weight", b), tiny_list_mat(&l, n, ffn, dim);
        snprintf(n, sizeof n, "blocks.%d.ffn.fc2.weight", b), tiny_list_mat(&l, n, dim, ffn);
        snprintf(n, sizeof n, "blocks.%d.pos_embedding.embedding.weight", b);
        tiny_list_add(&l, n, 2, (int64_t[]){buckets, heads}, 0.1f, 0);
    }
    tiny_list_vec(&l, "norm.weight", dim, 1);
    return tiny_list_write(&l, dir, "umt5_tiny.safetensors", NULL, 0);
}

static void conv(tiny_list *l, const char *prefix, int cout, int cin, int kt, int k)
{
    char n[160];
    snprintf(n, sizeof n, "%s.weight", prefix);
    if (kt)
        tiny_list_add(l, n, 5, (int64_t[]){cout, cin, kt, k, k}, 1.0f / sqrtf((float)(cin * kt * k * k)), 0);
    else
        tiny_list_add(l, n, 4, (int64_t[]){cout, cin, k, k}, 1.0f / sqrtf((float)(cin * k * k)), 0);
    snprintf(n, sizeof n, "%s.bias", prefix);
    tiny_list_vec(l, n, cout, 0);
}

static void norm_gamma(tiny_list *l, const char *name, int c, int images)
{
    if (images)
        tiny_list_add(l, name, 3, (int64_t[]){c, 1, 1}, 0, 1);
    else
        tiny_list_add(l, name, 4, (int64_t[]){c, 1, 1, 1}, 0, 1);
}

static void resblock(tiny_list *l, const char *p, int cin, int cout)
{
    char n[160];
    snprintf(n, sizeof n, "%s.residual.0.gamma", p), norm_gamma(l, n, cin, 0);
    snprintf(n, sizeof n, "%s.residual.2", p), conv(l, n, cout, cin, 3, 3);
    snprintf(n, sizeof n, "%s.residual.3.gamma", p), norm_gamma(l, n, cout, 0);
    snprintf(n, sizeof n, "%s.residual.6", p), conv(l, n, cout, cout, 3, 3);
    if (cin != cout)
        snprintf(n, sizeof n, "%s.shortcut", p), conv(l, n, cout, cin, 1, 1);
}

static void attnblock(tiny_list *l, const char *p, int c)
{
    char n[160];
    snprintf(n, sizeof n, "%s.norm.gamma", p), norm_gamma(l, n, c, 1);
    snprintf(n, sizeof n, "%s.to_qkv", p), conv(l, n, 3 * c, c, 0, 1);
    snprintf(n, sizeof n, "%s.proj", p), conv(l, n, c, c, 0, 1);
}

static wr_status write_vae21(const char *dir)
{
    const int d = 16, z = 16, mult[4] = {1, 2, 4, 4}, tdown[3] = {0, 1, 1};
    tiny_list l;
    char n[160];
    tiny_list_init(&l, 21, WR_DTYPE_BF16);
    conv(&l, "encoder.conv1", d, 3, 3, 3);
    int in = d, k = 0;
    for (int i = 0; i < 4; i++) {
        int out = d * mult[i];
        for (int r = 0; r < 2; r++, k++) {
            snprintf(n, sizeof n, "encoder.downsamples.%d", k);
            resblock(&l, n, in, out);
            in = out;
        }
        if (i < 3) {
            snprintf(n, sizeof n, "encoder.downsamples.%d.resample.1", k), conv(&l, n, out, out, 0, 3);
            if (tdown[i])
                snprintf(n, sizeof n, "encoder.downsamples.%d.time_conv", k), conv(&l, n, out, out, 3, 1);
            k++;
        }
    }
    resblock(&l, "encoder.middle.0", in, in), attnblock(&l, "encoder.middle.1", in), resblock(&l, "encoder.middle.2", in, in);
    norm_gamma(&l, "encoder.head.0.gamma", in, 0), conv(&l, "encoder.head.2", 2 * z, in, 3, 3);
    conv(&l, "conv1", 2 * z, 2 * z, 1, 1), conv(&l, "conv2", z, z, 1, 1);
    int dims[5] = {d * 4, d * 4, d * 4, d * 2, d};
    conv(&l, "decoder.conv1", dims[0], z, 3, 3);
    resblock(&l, "decoder.middle.0", dims[0], dims[0]), attnblock(&l, "decoder.middle.1", dims[0]);
    resblock(&l, "decoder.middle.2", dims[0], dims[0]);
    k = 0;
    for (int i = 0; i < 4; i++) {
        int cin = i ? dims[i] / 2 : dims[i], out = dims[i + 1];
        for (int r = 0; r < 3; r++, k++) {
            snprintf(n, sizeof n, "decoder.upsamples.%d", k);
            resblock(&l, n, cin, out);
            cin = out;
        }
        if (i < 3) {
            snprintf(n, sizeof n, "decoder.upsamples.%d.resample.1", k), conv(&l, n, out / 2, out, 0, 3);
            if (tdown[2 - i])
                snprintf(n, sizeof n, "decoder.upsamples.%d.time_conv", k), conv(&l, n, 2 * out, out, 3, 1);
            k++;
        }
    }
    norm_gamma(&l, "decoder.head.0.gamma", d, 0), conv(&l, "decoder.head.2", 3, d, 3, 3);
    return tiny_list_write(&l, dir, "wan21_vae_tiny.safetensors", NULL, 0);
}

/* The Wan 2.2 VAE layout of vae/vae22.c with base dims 8 (encoder) and 16 (decoder). */
static wr_status write_vae22(const char *dir)
{
    const int d = 8, dd = 16, z = 48, tdown[3] = {0, 1, 1};
    const int ed[5] = {d, d, 2 * d, 4 * d, 4 * d}, ud[5] = {4 * dd, 4 * dd, 4 * dd, 2 * dd, dd};
    tiny_list l;
    char n[160];
    tiny_list_init(&l, 22, WR_DTYPE_BF16);
    conv(&l, "encoder.conv1", d, 12, 3, 3);
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 2; j++) {
            snprintf(n, sizeof n, "encoder.downsamples.%d.downsamples.%d", i, j);
            resblock(&l, n, j ? ed[i + 1] : ed[i], ed[i + 1]);
        }
        if (i < 3) {
            snprintf(n, sizeof n, "encoder.downsamples.%d.downsamples.2.resample.1", i), conv(&l, n, ed[i + 1], ed[i + 1], 0, 3);
            if (tdown[i])
                snprintf(n, sizeof n, "encoder.downsamples.%d.downsamples.2.time_conv", i), conv(&l, n, ed[i + 1], ed[i + 1], 3, 1);
        }
    }
    resblock(&l, "encoder.middle.0", ed[4], ed[4]), attnblock(&l, "encoder.middle.1", ed[4]);
    resblock(&l, "encoder.middle.2", ed[4], ed[4]);
    norm_gamma(&l, "encoder.head.0.gamma", ed[4], 0), conv(&l, "encoder.head.2", 2 * z, ed[4], 3, 3);
    conv(&l, "conv1", 2 * z, 2 * z, 1, 1), conv(&l, "conv2", z, z, 1, 1);
    conv(&l, "decoder.conv1", ud[0], z, 3, 3);
    resblock(&l, "decoder.middle.0", ud[0], ud[0]), attnblock(&l, "decoder.middle.1", ud[0]);
    resblock(&l, "decoder.middle.2", ud[0], ud[0]);
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 3; j++) {
            snprintf(n, sizeof n, "decoder.upsamples.%d.upsamples.%d", i, j);
            resblock(&l, n, j ? ud[i + 1] : ud[i], ud[i + 1]);
        }
        if (i < 3) {
            snprintf(n, sizeof n, "decoder.upsamples.%d.upsamples.3.resample.1", i), conv(&l, n, ud[i + 1], ud[i + 1], 0, 3);
            if (tdown[2 - i])
                snprintf(n, sizeof n, "decoder.upsamples.%d.upsamples.3.time_conv", i), conv(&l, n, 2 * ud[i + 1], ud[i + 1], 3, 1);
        }
    }
    norm_gamma(&l, "decoder.head.0.gamma", dd, 0), conv(&l, "decoder.head.2", 12, dd, 3, 3);
    return tiny_list_write(&l, dir, "wan22_vae_tiny.safetensors", NULL, 0);
}

/* ---- tokenizer (.model protobuf) ------------------------------------------------------------ */

typedef struct pbuf {
    uint8_t *p;
    size_t n, cap;
} pbuf;

static void pb_raw(pbuf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t want = (b->n + n) * 2 + 64;
        uint8_t *q = realloc(b->p, want);
        if (!q)
            return;
        b->p = q, b->cap = want;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void pb_varint(pbuf *b, uint64_t v)
{
    uint8_t tmp[10];
    int n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    pb_raw(b, tmp, (size_t)n);
}

static void pb_field_varint(pbuf *b, int f, uint64_t v) { pb_varint(b, (uint64_t)f << 3), pb_varint(b, v); }

static void pb_field_bytes(pbuf *b, int f, const void *d, size_t n)
{
    pb_varint(b, (uint64_t)f << 3 | 2);
    pb_varint(b, n);
    pb_raw(b, d, n);
}

static void pb_piece(pbuf *b, const char *text, float score, int type)
{
    pbuf m = {0};
    pb_field_bytes(&m, 1, text, strlen(text));
    uint32_t bits;
    memcpy(&bits, &score, 4);
    pb_varint(&m, 2 << 3 | 5);
    pb_raw(&m, &bits, 4);
    if (type != 1)
        pb_field_varint(&m, 3, (uint64_t)type);
    pb_field_bytes(b, 1, m.p, m.n);
    free(m.p);
}

static const char *const words[] = {
    "a", "an", "the", "cat", "dog", "walks", "runs", "on", "in", "of", "with", "and", "grass", "city", "street",
    "night", "day", "sun", "sky", "sea", "water", "light", "red", "blue", "green", "white", "black", "man", "woman",
    "girl", "boy", "camera", "slow", "motion", "close", "up", "view", "realistic", "style", "cinematic", "video",
    "forest", "mountain", "river", "car", "rain", "snow", "fire", "bird", "flies", "over", "under", "smiling",
};

static wr_status write_tokenizer(const char *dir, int *vocab)
{
    pbuf b = {0};
    int n = 0;
    pb_piece(&b, "<pad>", 0, 3), pb_piece(&b, "</s>", 0, 3), pb_piece(&b, "<unk>", 0, 2);
    n += 3;
    for (int i = 0; i < 256; i++, n++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", i);
        pb_piece(&b, s, 0, 6);
    }
    pb_piece(&b, "\xE2\x96\x81", -3.0f, 1), n++;
    for (char c = 'a'; c <= 'z'; c++, n++) {
        char s[2] = {c, 0};
        pb_piece(&b, s, -4.0f, 1);
    }
    const char *punct[] = {",", ".", "!", "?", "'", "-"};
    for (size_t i = 0; i < sizeof punct / sizeof punct[0]; i++, n++)
        pb_piece(&b, punct[i], -4.0f, 1);
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++, n++) {
        char s[64];
        snprintf(s, sizeof s, "\xE2\x96\x81%s", words[i]);
        pb_piece(&b, s, -5.0f, 1);
    }
    pbuf tr = {0}, norm = {0};
    pb_field_varint(&tr, 3, 1);  /* model_type UNIGRAM */
    pb_field_varint(&tr, 35, 1); /* byte_fallback */
    pb_field_varint(&tr, 40, 2), pb_field_varint(&tr, 42, 1), pb_field_varint(&tr, 43, 0);
    pb_field_bytes(&b, 2, tr.p, tr.n);
    pb_field_bytes(&norm, 1, "identity", 8);
    pb_field_varint(&norm, 3, 1), pb_field_varint(&norm, 4, 1), pb_field_varint(&norm, 5, 1);
    pb_field_bytes(&b, 3, norm.p, norm.n);
    free(tr.p), free(norm.p);
    char path[4096], tmp[4096];
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    wr_status st = wr_atomic_tmp_name(path, tmp, sizeof tmp);
    FILE *f = st == WR_OK ? fopen(tmp, "wb") : NULL;
    if (st == WR_OK && (!f || fwrite(b.p, 1, b.n, f) != b.n)) {
        st = wr_fail(WR_E_IO, "%s: cannot write: %s", path, strerror(errno));
        if (f)
            fclose(f), wr_atomic_abandon(tmp);
    } else if (st == WR_OK)
        st = fclose(f) == 0 ? wr_atomic_commit(tmp, path) : wr_fail(WR_E_IO, "%s: write failed", path);
    free(b.p);
    *vocab = n;
    return st;
}

static wr_status write_image(const char *dir, const char *file, int flip)
{
    uint8_t rgb[64 * 64 * 3];
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++) {
            uint8_t *p = rgb + (y * 64 + x) * 3;
            int xx = flip ? 63 - x : x;
            p[0] = (uint8_t)(xx * 4);
            p[1] = (uint8_t)(y * 4);
            p[2] = (uint8_t)(((xx / 8 + y / 8) & 1) ? 200 : 40);
        }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return wr_png_write_rgb(path, 64, 64, rgb);
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
                return 0;
            *p = '/';
        }
    return mkdir(tmp, 0777) == 0 || errno == EEXIST;
}

wr_status wr_make_tiny_models(const char *dir)
{
    if (!make_dirs(dir))
        return wr_fail(WR_E_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
    int vocab;
    WR_TRY(write_tokenizer(dir, &vocab));
    WR_TRY(write_t5(dir, vocab));
    WR_TRY(write_dit(dir, "wan22_t2v_high_noise.safetensors", 16, 101));
    WR_TRY(write_dit(dir, "wan22_t2v_low_noise.safetensors", 16, 102));
    WR_TRY(write_dit(dir, "wan22_i2v_high_noise.safetensors", 36, 103));
    WR_TRY(write_dit(dir, "wan22_i2v_low_noise.safetensors", 36, 104));
    WR_TRY(write_dit(dir, "wan22_ti2v_5b.safetensors", 48, 105));
    WR_TRY(write_vae21(dir));
    WR_TRY(write_vae22(dir));
    WR_TRY(write_image(dir, "start.png", 0));
    WR_TRY(write_image(dir, "end.png", 1));
    return wr_make_tiny_post_models(dir);
}
