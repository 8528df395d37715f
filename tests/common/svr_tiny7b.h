/* A tiny random SeedVR2 7B-structure DiT checkpoint (the key layout of seedvr2.md 5) for tests:
 * width 64, 2 heads of 32, MLP 128, 2 layers (both with separate vid/txt weights), text width
 * 48, all F32. Shared by the upscale and GPU test areas. */
#ifndef WR_TESTS_SVR_TINY7B_H
#define WR_TESTS_SVR_TINY7B_H

#define SVR7B_D 64
#define SVR7B_HD 32
#define SVR7B_HIDDEN 128
#define SVR7B_LAYERS 2
#define SVR7B_TXT_IN 48
#define SVR7B_NF 2 /* pixel rope for head_dim 32: (32/2)//3 = 5 dims per axis -> 2 frequencies */

/* Writes the checkpoint to path (seeded: the same bytes every time); asserts on failure. */
void wr_test_write_svr_7b(const char *path);

#endif
