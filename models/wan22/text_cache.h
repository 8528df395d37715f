/* An on-disk cache of text-encoder outputs: the same prompt with the same encoder file (path,
 * size, modification time) and text_len is encoded once, then read back from
 * DIR/<key>.safetensors ("context" [len, dim]). */
#ifndef WAN22_TEXT_CACHE_H
#define WAN22_TEXT_CACHE_H

#include "runtime/err.h"

/* The cache file for (text, encoder file, tokenizer file, text_len), the files by path, size and
 * modification time; fails only if a file cannot be stat'ed. */
wr_status wan22_text_cache_path(const char *dir, const char *text, const char *model, const char *tokenizer,
                                int text_len, char *out, size_t len);
/* 1 and a malloc'd context on a hit with the expected dim, 0 on a miss. */
int wan22_text_cache_load(const char *path, int dim, float **ctx, int *ctx_len);
wr_status wan22_text_cache_store(const char *path, const float *ctx, int ctx_len, int dim);

#endif
