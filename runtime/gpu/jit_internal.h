/* Helpers shared by runtime/gpu/jit.c and jit_cache.c (not part of the public JIT API). */
#ifndef WR_JIT_INTERNAL_H
#define WR_JIT_INTERNAL_H

/* A malloc'd copy of src with // and block comments blanked (string literals kept). */
char *wr_jit_strip_comments(const char *src);

#endif
