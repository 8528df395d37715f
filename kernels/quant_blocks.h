/* GGUF block quantisation layouts, byte-compatible with ggml (ggml-common.h).
 * Valid C11 and CUDA (NVRTC and the emulator): the one definition every side uses (STYLE.md 9.4).
 * Half-precision fields are stored as raw IEEE binary16 bits (uint16_t). */
#ifndef WR_QUANT_BLOCKS_H
#define WR_QUANT_BLOCKS_H

#if defined(__CUDACC_RTC__)
typedef unsigned char uint8_t;
typedef signed char int8_t;
typedef unsigned short uint16_t;
typedef short int16_t;
typedef unsigned int uint32_t;
#define WR_STATIC_ASSERT(c, m) static_assert(c, m)
#elif defined(__cplusplus)
#include <stdint.h>
#define WR_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#include <stdint.h>
#define WR_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct { uint16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
WR_STATIC_ASSERT(sizeof(block_q4_0) == 2 + QK4_0 / 2, "block_q4_0 size");

typedef struct { uint16_t d; uint16_t m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
WR_STATIC_ASSERT(sizeof(block_q4_1) == 4 + QK4_1 / 2, "block_q4_1 size");

/* qh: bit j = 5th bit of element j (little-endian u32, stored as bytes to stay unaligned-safe) */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
WR_STATIC_ASSERT(sizeof(block_q5_0) == 2 + 4 + QK5_0 / 2, "block_q5_0 size");

typedef struct { uint16_t d; uint16_t m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
WR_STATIC_ASSERT(sizeof(block_q5_1) == 4 + 4 + QK5_1 / 2, "block_q5_1 size");

typedef struct { uint16_t d; int8_t qs[QK8_0]; } block_q8_0;
WR_STATIC_ASSERT(sizeof(block_q8_0) == 2 + QK8_0, "block_q8_0 size");

/* 2.625 bits per weight: 16 sub-blocks of 16, 4-bit scale and 4-bit min per sub-block */
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    uint16_t d;
    uint16_t dmin;
} block_q2_K;
WR_STATIC_ASSERT(sizeof(block_q2_K) == 2 * 2 + QK_K / 16 + QK_K / 4, "block_q2_K size");

/* 3.4375 bits per weight: 16 sub-blocks of 16, 6-bit scales packed in 12 bytes */
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} block_q3_K;
WR_STATIC_ASSERT(sizeof(block_q3_K) == 2 + QK_K / 4 + QK_K / 8 + 12, "block_q3_K size");

/* 4.5 bits per weight: 8 sub-blocks of 32, 6-bit scales and mins packed in 12 bytes */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;
WR_STATIC_ASSERT(sizeof(block_q4_K) == 2 * 2 + K_SCALE_SIZE + QK_K / 2, "block_q4_K size");

/* 5.5 bits per weight */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
WR_STATIC_ASSERT(sizeof(block_q5_K) == 2 * 2 + K_SCALE_SIZE + QK_K / 2 + QK_K / 8, "block_q5_K size");

/* 6.5625 bits per weight: 16 sub-blocks of 16, int8 scales */
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} block_q6_K;
WR_STATIC_ASSERT(sizeof(block_q6_K) == 2 + QK_K / 16 + 3 * QK_K / 4, "block_q6_K size");

#endif
