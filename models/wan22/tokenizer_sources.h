/* Other sources of the same unigram tokenizer, and the builder API they (and tests) use:
 *  - GGUF text-encoder files (llama.cpp / city96 umT5): tokenizer.ggml.tokens, .scores,
 *    .token_type, .precompiled_charsmap, .add_space_prefix, .remove_extra_whitespaces;
 *  - HuggingFace tokenizer.json with a Unigram model: model.vocab [[piece, score]...],
 *    model.unk_id, model.byte_fallback, a "Precompiled" normalizer (base64 charsmap),
 *    added_tokens marked special -> control pieces. */
#ifndef WAN22_TOKENIZER_SOURCES_H
#define WAN22_TOKENIZER_SOURCES_H

#include <stddef.h>
#include <stdint.h>

#include "models/wan22/tokenizer.h"

/* Piece types as sentencepiece's ModelProto (and GGUF token_type) number them. */
enum { WAN22_PIECE_NORMAL = 1, WAN22_PIECE_UNKNOWN = 2, WAN22_PIECE_CONTROL = 3, WAN22_PIECE_USER = 4,
       WAN22_PIECE_UNUSED = 5, WAN22_PIECE_BYTE = 6 };

wr_status wan22_tokenizer_from_gguf(wan22_tokenizer *t, const char *path);
wr_status wan22_tokenizer_from_json(wan22_tokenizer *t, const char *text, size_t len, const char *path);

/* builder */
wr_status wan22_tokenizer_reserve(wan22_tokenizer *t, int n, const char *path);
wr_status wan22_tokenizer_add_piece(wan22_tokenizer *t, const char *text, size_t len, float score, int type);
wr_status wan22_tokenizer_set_charsmap(wan22_tokenizer *t, const uint8_t *blob, size_t len, const char *path);
void wan22_tokenizer_set_flags(wan22_tokenizer *t, int add_dummy_prefix, int remove_extra_ws, int byte_fallback);

/* accessors (to export a model into another format) */
float wan22_tokenizer_score(const wan22_tokenizer *t, int32_t id);
int wan22_tokenizer_type(const wan22_tokenizer *t, int32_t id);
int wan22_tokenizer_byte_fallback(const wan22_tokenizer *t);
/* The charsmap blob (size returned; copied when out has room); 0 when the model has none. */
size_t wan22_tokenizer_charsmap(const wan22_tokenizer *t, uint8_t *out, size_t cap);

#endif
