/* Wan 2.2 DiT hyperparameters, read from a weight file's tensor shapes (never guessed from a
 * layer count) and validated. Examples: A14B (t2v/i2v experts) and TI2V-5B. */
#ifndef WAN22_CONFIG_H
#define WAN22_CONFIG_H

#include "runtime/io/weightfile.h"

typedef enum wan22_variant {
    WAN22_T2V,  /* in_dim 16: noise latent only */
    WAN22_I2V,  /* in_dim 36: noise 16 + mask 4 + image latent 16 */
    WAN22_TI2V, /* in_dim 48 = out_dim: the 5B model, per-token timesteps */
    WAN22_VARIANT_COUNT
} wan22_variant;

const char *wan22_variant_name(wan22_variant v);

typedef struct wan22_config {
    wan22_variant variant;
    int dim;        /* 5120 (A14B) / 3072 (5B): patch_embedding.weight [dim, in_dim, 1, 2, 2] */
    int ffn_dim;    /* 13824 / 14336: blocks.0.ffn.0.weight [ffn_dim, dim] */
    int freq_dim;   /* 256: time_embedding.0.weight [dim, freq_dim] */
    int text_dim;   /* 4096 (umT5-XXL): text_embedding.0.weight [dim, text_dim] */
    int text_len;   /* 512: not stored in weights; metadata "config" JSON or the default */
    int in_dim;     /* 16 / 36 / 48: patch_embedding.weight dim 1 */
    int out_dim;    /* 16 / 48: head.head.weight rows / (1·2·2) */
    int num_heads;  /* dim / 128 (every Wan model has head dim 128) */
    int num_layers; /* 40 / 30: count of blocks.N.* */
    float eps;      /* 1e-6 for every norm */
} wan22_config;

#define WAN22_HEAD_DIM 128
#define WAN22_PATCH 2 /* spatial patch (1, 2, 2); temporal patch 1 */

/* Reads the config from wf. text_len_override > 0 replaces the metadata/default text_len.
 * Errors name the file and the missing or inconsistent tensor. */
wr_status wan22_config_read(const wr_weightfile *wf, int text_len_override, wan22_config *cfg);

/* The published configs by name, for planning before anything is downloaded: "t2v-a14b",
 * "i2v-a14b" (each of the two experts), "ti2v-5b" (Wan2.2 config.json values). */
wr_status wan22_config_named(const char *name, wan22_config *cfg);

#endif
