/* A native SentencePiece unigram tokenizer (the umT5 tokenizer of Wan), read from a `.model`
 * protobuf (google/umt5-xxl spiece.model or any unigram model).
 *
 * Normalisation as sentencepiece's Normalizer: the precompiled charsmap (a Darts double-array
 * trie of NFKC-style rewrites, longest match first), leading/trailing/duplicate whitespace
 * removal, a dummy "▁" prefix, spaces escaped as U+2581. Segmentation: Viterbi over piece
 * scores; characters no piece covers become the unknown piece, or, with byte_fallback, one
 * <0xXX> piece per UTF-8 byte. Invalid UTF-8 is read as U+FFFD one byte at a time, as
 * sentencepiece does. */
#ifndef WAN22_TOKENIZER_H
#define WAN22_TOKENIZER_H

#include <stdint.h>

#include "runtime/err.h"

typedef struct wan22_tokenizer wan22_tokenizer;

wr_status wan22_tokenizer_load(wan22_tokenizer **out, const char *path);
void wan22_tokenizer_free(wan22_tokenizer *t);

/* Token ids of text (no EOS). *ids is malloc'd; the caller frees it. */
wr_status wan22_tokenizer_encode(const wan22_tokenizer *t, const char *text, int32_t **ids, int *n);
const char *wan22_tokenizer_piece(const wan22_tokenizer *t, int32_t id);
int wan22_tokenizer_vocab_size(const wan22_tokenizer *t);
int32_t wan22_tokenizer_eos_id(const wan22_tokenizer *t);
int32_t wan22_tokenizer_pad_id(const wan22_tokenizer *t);

/* The encoder's input as HuggingFace's tokenizer builds it for Wan: ids + EOS, truncated to
 * text_len keeping the EOS last, padded with pad id; mask 1 for real tokens and EOS.
 * Returns the real length (EOS included). */
int wan22_tokenizer_pad(const wan22_tokenizer *t, const int32_t *ids, int n, int text_len, int32_t *out_ids,
                        int32_t *out_mask);

#endif
