/* The dtype traits table (see dtype.h). GGML type ids are those of ggml's `enum ggml_type`. */
#include "runtime/dtype.h"

#include <string.h>

#include "kernels/quant_blocks.h"

static const wr_dtype_traits traits[] = {
    [WR_DTYPE_F32] = {"F32", 1, 4, false, true, 0},
    [WR_DTYPE_F16] = {"F16", 1, 2, false, true, 1},
    [WR_DTYPE_BF16] = {"BF16", 1, 2, false, true, 30},
    [WR_DTYPE_F8_E4M3FN] = {"F8_E4M3", 1, 1, false, true, -1},
    [WR_DTYPE_F8_E5M2] = {"F8_E5M2", 1, 1, false, true, -1},
    [WR_DTYPE_F64] = {"F64", 1, 8, false, true, 28},
    [WR_DTYPE_I8] = {"I8", 1, 1, false, false, 24},
    [WR_DTYPE_U8] = {"U8", 1, 1, false, false, -1},
    [WR_DTYPE_I16] = {"I16", 1, 2, false, false, 25},
    [WR_DTYPE_I32] = {"I32", 1, 4, false, false, 26},
    [WR_DTYPE_I64] = {"I64", 1, 8, false, false, 27},
    [WR_DTYPE_BOOL] = {"BOOL", 1, 1, false, false, -1},
    [WR_DTYPE_Q4_0] = {"Q4_0", QK4_0, sizeof(block_q4_0), true, true, 2},
    [WR_DTYPE_Q4_1] = {"Q4_1", QK4_1, sizeof(block_q4_1), true, true, 3},
    [WR_DTYPE_Q5_0] = {"Q5_0", QK5_0, sizeof(block_q5_0), true, true, 6},
    [WR_DTYPE_Q5_1] = {"Q5_1", QK5_1, sizeof(block_q5_1), true, true, 7},
    [WR_DTYPE_Q8_0] = {"Q8_0", QK8_0, sizeof(block_q8_0), true, true, 8},
    [WR_DTYPE_Q2_K] = {"Q2_K", QK_K, sizeof(block_q2_K), true, true, 10},
    [WR_DTYPE_Q3_K] = {"Q3_K", QK_K, sizeof(block_q3_K), true, true, 11},
    [WR_DTYPE_Q4_K] = {"Q4_K", QK_K, sizeof(block_q4_K), true, true, 12},
    [WR_DTYPE_Q5_K] = {"Q5_K", QK_K, sizeof(block_q5_K), true, true, 13},
    [WR_DTYPE_Q6_K] = {"Q6_K", QK_K, sizeof(block_q6_K), true, true, 14},
};
_Static_assert(sizeof(traits) / sizeof(traits[0]) == WR_DTYPE_COUNT,
               "dtype traits must cover every wr_dtype");

const wr_dtype_traits *wr_dtype_info(wr_dtype t)
{
    if ((unsigned)t >= WR_DTYPE_COUNT)
        return NULL;
    return &traits[t];
}

const char *wr_dtype_name(wr_dtype t)
{
    const wr_dtype_traits *tr = wr_dtype_info(t);
    return tr ? tr->name : "invalid";
}

bool wr_dtype_from_name(const char *name, wr_dtype *out)
{
    for (int i = 0; i < WR_DTYPE_COUNT; i++) {
        if (strcmp(traits[i].name, name) == 0) {
            *out = (wr_dtype)i;
            return true;
        }
    }
    /* safetensors spells the OCP fp8 format "F8_E4M3"; some writers add the "FN" suffix */
    if (strcmp(name, "F8_E4M3FN") == 0) {
        *out = WR_DTYPE_F8_E4M3FN;
        return true;
    }
    return false;
}

bool wr_dtype_from_ggml(int ggml_type, wr_dtype *out)
{
    if (ggml_type < 0)
        return false;
    for (int i = 0; i < WR_DTYPE_COUNT; i++) {
        if (traits[i].ggml_type == ggml_type) {
            *out = (wr_dtype)i;
            return true;
        }
    }
    return false;
}

bool wr_dtype_row_bytes(wr_dtype t, int64_t n, size_t *out)
{
    const wr_dtype_traits *tr = wr_dtype_info(t);
    if (!tr || n < 0 || n % tr->block_elems != 0)
        return false;
    uint64_t blocks = (uint64_t)(n / tr->block_elems);
    if (blocks != 0 && tr->block_bytes > SIZE_MAX / blocks)
        return false;
    *out = (size_t)(blocks * tr->block_bytes);
    return true;
}
