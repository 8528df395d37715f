/* Small helpers shared by the op launchers (runtime/gpu/<op>.c). */
#ifndef WR_OPS_UTIL_H
#define WR_OPS_UTIL_H

#include <stdint.h>

#include "runtime/gpu/gpu_ops.h"

/* Fails unless t is a contiguous F32 tensor. */
static inline wr_status ops_need_f32(const char *op, const char *name, const wr_tensor *t)
{
    if (!t)
        return wr_fail(WR_E_ARG, "%s: tensor '%s' is missing", op, name);
    if (t->dtype != WR_DTYPE_F32)
        return wr_fail(WR_E_UNSUPPORTED, "%s: tensor '%s' is %s; the GPU backend takes F32 activations", op, name,
                       wr_dtype_name(t->dtype));
    if (!wr_tensor_is_contiguous(t))
        return wr_fail(WR_E_UNSUPPORTED, "%s: tensor '%s' is not contiguous", op, name);
    return WR_OK;
}

/* Blocks for a grid-stride loop over n elements. */
static inline unsigned ops_grid_1d(int64_t n, unsigned block)
{
    int64_t b = (n + block - 1) / block;
    return b < 1 ? 1u : (b > 8192 ? 8192u : (unsigned)b);
}

/* The function of spec (file, entry, one integer define or none). */
static inline wr_status ops_jit1(wr_gpu *g, const char *file, const char *entry, const char *def, long long val,
                                 wr_gpu_func **fn)
{
    wr_kspec s;
    wr_kspec_init(&s, file, entry);
    if (def)
        wr_kspec_define_int(&s, def, val);
    return wr_gpu_jit(g, &s, fn);
}

#endif
