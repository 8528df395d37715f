/* The tokenizer from GGUF metadata and from tokenizer.json, and the umT5 encoder under HF and
 * llama.cpp tensor names, must behave exactly like the official files they are made from. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/wan22/t5.h"
#include "models/wan22/tokenizer_sources.h"
#include "runtime/io/gguf_write.h"
#include "runtime/io/mapped_file.h"
#include "runtime/io/safetensors_write.h"
#include "runtime/json.h"
#include "tests/common/testutil.h"

static void expect_same_ids(const wan22_tokenizer *a, const wan22_tokenizer *b)
{
    wr_mapped_file f;
    cr_assert_eq(wr_mapped_file_open(&f, wr_test_shared("golden/tokenizer/tokenizer_cases.json")), WR_OK);
    wr_json root;
    cr_assert_eq(wr_json_parse((const char *)f.data, f.size, "cases", &root), WR_OK);
    const wr_json *cases = wr_json_get(&root, "cases");
    for (size_t c = 0; c < cases->count; c++) {
        const char *raw = wr_json_get(&cases->items[c], "raw")->string;
        int32_t *ia, *ib;
        int na, nb;
        cr_assert_eq(wan22_tokenizer_encode(a, raw, &ia, &na), WR_OK);
        cr_assert_eq(wan22_tokenizer_encode(b, raw, &ib, &nb), WR_OK);
        cr_assert_eq(na, nb, "'%s'", raw);
        cr_assert_eq(memcmp(ia, ib, (size_t)na * sizeof *ia), 0, "'%s'", raw);
        free(ia), free(ib);
    }
    wr_json_free(&root);
    wr_mapped_file_close(&f);
}

Test(sources, tokenizer_from_gguf_and_json)
{
    wan22_tokenizer *ref;
    cr_assert_eq(wan22_tokenizer_load(&ref, wr_test_shared("golden/tokenizer/tiny_unigram.model")), WR_OK);
    int n = wan22_tokenizer_vocab_size(ref);
    const char **toks = malloc((size_t)n * sizeof *toks);
    float *scores = malloc((size_t)n * sizeof *scores);
    int32_t *types = malloc((size_t)n * sizeof *types);
    for (int i = 0; i < n; i++) {
        toks[i] = wan22_tokenizer_piece(ref, i);
        scores[i] = wan22_tokenizer_score(ref, i);
        types[i] = wan22_tokenizer_type(ref, i);
    }
    size_t cm_len = wan22_tokenizer_charsmap(ref, NULL, 0);
    uint8_t *cm = malloc(cm_len);
    wan22_tokenizer_charsmap(ref, cm, cm_len);
    char gpath[128], jpath[128];
    snprintf(gpath, sizeof gpath, "/tmp/wanrt-tok-%d.gguf", (int)getpid());
    snprintf(jpath, sizeof jpath, "/tmp/wanrt-tok-%d.json", (int)getpid());
    wr_gguf_writer *w;
    cr_assert_eq(wr_gguf_writer_new(&w), WR_OK);
    wr_gguf_writer_add_str(w, "tokenizer.ggml.model", "t5");
    wr_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", toks, (uint64_t)n);
    wr_gguf_writer_add_array(w, "tokenizer.ggml.scores", WR_GGUF_FLOAT32, scores, (uint64_t)n);
    wr_gguf_writer_add_array(w, "tokenizer.ggml.token_type", WR_GGUF_INT32, types, (uint64_t)n);
    wr_gguf_writer_add_array(w, "tokenizer.ggml.precompiled_charsmap", WR_GGUF_UINT8, cm, cm_len);
    cr_assert_eq(wr_gguf_writer_write(w, gpath, 0), WR_OK, "%s", wr_last_error());
    wr_gguf_writer_free(w);
    /* tokenizer.json: vocab as [piece, score], byte fallback, base64 charsmap */
    FILE *jf = fopen(jpath, "w");
    fprintf(jf, "{\"added_tokens\": [{\"id\": 0, \"content\": \"<pad>\", \"special\": true}, "
                "{\"id\": 1, \"content\": \"</s>\", \"special\": true}],\n \"normalizer\": {\"type\": \"Sequence\", "
                "\"normalizers\": [{\"type\": \"Precompiled\", \"precompiled_charsmap\": \"");
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < cm_len; i += 3) {
        uint32_t v = (uint32_t)cm[i] << 16 | (i + 1 < cm_len ? (uint32_t)cm[i + 1] << 8 : 0) | (i + 2 < cm_len ? cm[i + 2] : 0);
        fprintf(jf, "%c%c%c%c", b64[v >> 18], b64[v >> 12 & 63], i + 1 < cm_len ? b64[v >> 6 & 63] : '=',
                i + 2 < cm_len ? b64[v & 63] : '=');
    }
    fprintf(jf, "\"}]},\n \"model\": {\"type\": \"Unigram\", \"unk_id\": 2, \"byte_fallback\": true, \"vocab\": [");
    for (int i = 0; i < n; i++) {
        fprintf(jf, "%s[\"", i ? ", " : "");
        for (const char *p = toks[i]; *p; p++)
            fprintf(jf, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
        fprintf(jf, "\", %.9g]", (double)scores[i]);
    }
    fprintf(jf, "]}}\n");
    fclose(jf);
    wan22_tokenizer *fromg, *fromj;
    cr_assert_eq(wan22_tokenizer_load(&fromg, gpath), WR_OK, "%s", wr_last_error());
    cr_assert_eq(wan22_tokenizer_load(&fromj, jpath), WR_OK, "%s", wr_last_error());
    expect_same_ids(ref, fromg);
    expect_same_ids(ref, fromj);
    wan22_tokenizer_free(fromg), wan22_tokenizer_free(fromj), wan22_tokenizer_free(ref);
    free(toks), free(scores), free(types), free(cm);
    unlink(gpath), unlink(jpath);
}

/* official name -> (HF, llama.cpp) for the renamed copies */
static void rename_t5(const char *name, int gguf, char *out, size_t len)
{
    static const char *const map[][3] = {
        {"norm1.weight", "layer.0.layer_norm.weight", "attn_norm.weight"},
        {"attn.q.weight", "layer.0.SelfAttention.q.weight", "attn_q.weight"},
        {"attn.k.weight", "layer.0.SelfAttention.k.weight", "attn_k.weight"},
        {"attn.v.weight", "layer.0.SelfAttention.v.weight", "attn_v.weight"},
        {"attn.o.weight", "layer.0.SelfAttention.o.weight", "attn_o.weight"},
        {"pos_embedding.embedding.weight", "layer.0.SelfAttention.relative_attention_bias.weight", "attn_rel_b.weight"},
        {"norm2.weight", "layer.1.layer_norm.weight", "ffn_norm.weight"},
        {"ffn.gate.0.weight", "layer.1.DenseReluDense.wi_0.weight", "ffn_gate.weight"},
        {"ffn.fc1.weight", "layer.1.DenseReluDense.wi_1.weight", "ffn_up.weight"},
        {"ffn.fc2.weight", "layer.1.DenseReluDense.wo.weight", "ffn_down.weight"},
    };
    int b, used = 0;
    if (sscanf(name, "blocks.%d.%n", &b, &used) == 1 && used)
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (!strcmp(name + used, map[i][0])) {
                snprintf(out, len, gguf ? "enc.blk.%d.%s" : "encoder.block.%d.%s", b, map[i][gguf ? 2 : 1]);
                return;
            }
    if (!strcmp(name, "token_embedding.weight"))
        snprintf(out, len, "%s", gguf ? "token_embd.weight" : "shared.weight");
    else if (!strcmp(name, "norm.weight"))
        snprintf(out, len, "%s", gguf ? "enc.output_norm.weight" : "encoder.final_layer_norm.weight");
    else
        snprintf(out, len, "%s", name);
}

Test(sources, t5_under_hf_and_gguf_names, .timeout = 60)
{
    wr_weightfile wf, cs;
    wr_test_open(&wf, wr_test_shared("golden/t5/t5_weights.safetensors"));
    wr_test_open(&cs, wr_test_shared("golden/t5/t5_case_b2_L40.safetensors"));
    const int64_t *ids = wr_weightfile_find(&cs, "input.ids")->t.data, *mask = wr_weightfile_find(&cs, "input.mask")->t.data;
    int64_t nref;
    float *want = wr_test_load_f32(&cs, "output.hidden", &nref);
    for (int gguf = 0; gguf < 2; gguf++) {
        char path[128];
        snprintf(path, sizeof path, "/tmp/wanrt-t5-%d.%s", (int)getpid(), gguf ? "gguf" : "safetensors");
        int n = (int)wf.n_tensors;
        char (*names)[160] = calloc((size_t)n, sizeof *names);
        float **f32 = calloc((size_t)n, sizeof *f32);
        wr_st_entry *e = calloc((size_t)n, sizeof *e);
        wr_gguf_writer *gw = NULL;
        if (gguf)
            cr_assert_eq(wr_gguf_writer_new(&gw), WR_OK);
        for (int i = 0; i < n; i++) {
            const wr_wtensor *t = &wf.tensors[i];
            rename_t5(t->name, gguf, names[i], sizeof names[i]);
            int64_t cnt;
            f32[i] = wr_test_load_f32(&wf, t->name, &cnt);
            if (gguf) {
                wr_tensor tt;
                wr_tensor_init(&tt, WR_DTYPE_F32, t->t.n_dims, t->t.ne, f32[i]);
                cr_assert_eq(wr_gguf_writer_add_tensor(gw, names[i], &tt), WR_OK);
            } else {
                e[i] = (wr_st_entry){.name = names[i], .dtype = t->t.dtype, .n_dims = t->t.n_dims, .data = t->t.data};
                for (int d = 0; d < t->t.n_dims; d++)
                    e[i].shape[d] = t->t.ne[t->t.n_dims - 1 - d];
            }
        }
        if (gguf) {
            cr_assert_eq(wr_gguf_writer_write(gw, path, 0), WR_OK, "%s", wr_last_error());
            wr_gguf_writer_free(gw);
        } else
            cr_assert_eq(wr_safetensors_write(path, e, n, NULL, 0), WR_OK, "%s", wr_last_error());
        wr_weightfile rf;
        wr_test_open(&rf, path);
        wan22_t5 *m;
        cr_assert_eq(wan22_t5_load(&m, &rf), WR_OK, "%s: %s", path, wr_last_error());
        float *got = malloc((size_t)nref * sizeof *got);
        for (int b = 0; b < 2; b++) {
            int32_t id32[40], m32[40];
            for (int i = 0; i < 40; i++)
                id32[i] = (int32_t)ids[b * 40 + i], m32[i] = (int32_t)mask[b * 40 + i];
            cr_assert_eq(wan22_t5_encode(m, id32, m32, 40, got + b * 40 * 64), WR_OK);
        }
        wr_test_err err = wr_test_compare(got, want, nref);
        cr_assert_leq(err.rel_to_max, 1e-5, "%s: rel %g", gguf ? "GGUF names" : "HF names", err.rel_to_max);
        free(got);
        wan22_t5_free(m);
        wr_weightfile_close(&rf);
        for (int i = 0; i < n; i++)
            free(f32[i]);
        free(f32), free(names), free(e);
        unlink(path);
    }
    free(want);
    wr_weightfile_close(&wf), wr_weightfile_close(&cs);
}
