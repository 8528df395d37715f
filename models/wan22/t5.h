/* The umT5 encoder of Wan (wan/modules/t5.py T5Encoder, umt5_xxl: vocab 256384, dim 4096,
 * 64 heads, FFN 10240, 24 layers, a relative position table per layer).
 *
 * Forward: token embedding; per block x += o(attn(norm1(x))) with the layer's bucketed
 * relative position bias, no 1/√d scaling, masked keys at float's lowest value;
 * x += fc2(fc1(h) · gelu_tanh(gate(h))) with h = norm2(x); final T5 RMS norm. */
#ifndef WAN22_T5_H
#define WAN22_T5_H

#include <stdint.h>

#include "runtime/io/weightfile.h"

typedef struct wan22_t5 wan22_t5;

typedef struct wan22_t5_config {
    int vocab;      /* 256384: token_embedding.weight [vocab, dim] */
    int dim;        /* 4096 */
    int dim_attn;   /* 4096: blocks.0.attn.q.weight [dim_attn, dim] */
    int dim_ffn;    /* 10240: blocks.0.ffn.fc1.weight [dim_ffn, dim] */
    int num_heads;  /* 64: blocks.0.pos_embedding.embedding.weight [num_buckets, num_heads] */
    int num_buckets; /* 32 */
    int num_layers; /* 24 */
} wan22_t5_config;

wr_status wan22_t5_load(wan22_t5 **out, const wr_weightfile *wf);
void wan22_t5_free(wan22_t5 *m);
const wan22_t5_config *wan22_t5_config_of(const wan22_t5 *m);

/* ids/mask [len] -> hidden [len, dim]. Rows of masked (padding) positions are computed with
 * masked keys, as the official model does; callers keep the first seq_len rows. */
wr_status wan22_t5_encode(const wan22_t5 *m, const int32_t *ids, const int32_t *mask, int len, float *hidden);

/* The bidirectional relative-position bucket of k − q (32 buckets, max distance 128). */
int wan22_t5_bucket(int rel, int num_buckets);

#endif
