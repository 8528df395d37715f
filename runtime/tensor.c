/* Tensor shape and stride helpers (see tensor.h). */
#include "runtime/tensor.h"

#include <stdio.h>
#include <string.h>

#include "runtime/err.h"

bool wr_tensor_init(wr_tensor *t, wr_dtype dtype, int n_dims, const int64_t *ne, void *data)
{
    const wr_dtype_traits *tr = wr_dtype_info(dtype);
    if (!tr || n_dims < 1 || n_dims > WR_MAX_DIMS)
        return false;
    wr_tensor out = {.dtype = dtype, .n_dims = n_dims, .data = data, .scale = 1.0f};
    for (int i = 0; i < WR_MAX_DIMS; i++)
        out.ne[i] = i < n_dims ? ne[i] : 1;
    for (int i = 0; i < n_dims; i++)
        if (out.ne[i] < 0)
            return false;
    if (out.ne[0] % tr->block_elems != 0)
        return false;
    out.nb[0] = tr->block_bytes;
    size_t row;
    if (!wr_dtype_row_bytes(dtype, out.ne[0], &row))
        return false;
    out.nb[1] = row;
    for (int i = 2; i < WR_MAX_DIMS; i++) {
        uint64_t n = (uint64_t)out.ne[i - 1];
        if (n != 0 && out.nb[i - 1] > SIZE_MAX / n)
            return false;
        out.nb[i] = out.nb[i - 1] * (size_t)n;
    }
    uint64_t last = (uint64_t)out.ne[WR_MAX_DIMS - 1];
    if (last != 0 && out.nb[WR_MAX_DIMS - 1] > SIZE_MAX / last)
        return false;
    *t = out;
    return true;
}

bool wr_tensor_init_torch(wr_tensor *t, wr_dtype dtype, int n_dims, const int64_t *shape, void *data)
{
    int64_t ne[WR_MAX_DIMS];
    if (n_dims < 1 || n_dims > WR_MAX_DIMS)
        return false;
    for (int i = 0; i < n_dims; i++)
        ne[i] = shape[n_dims - 1 - i];
    return wr_tensor_init(t, dtype, n_dims, ne, data);
}

int64_t wr_tensor_nelements(const wr_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < WR_MAX_DIMS; i++)
        n *= t->ne[i];
    return n;
}

int64_t wr_tensor_nrows(const wr_tensor *t)
{
    int64_t n = 1;
    for (int i = 1; i < WR_MAX_DIMS; i++)
        n *= t->ne[i];
    return n;
}

size_t wr_tensor_nbytes(const wr_tensor *t)
{
    return t->nb[1] * (size_t)wr_tensor_nrows(t);
}

bool wr_tensor_is_contiguous(const wr_tensor *t)
{
    const wr_dtype_traits *tr = wr_dtype_info(t->dtype);
    if (t->nb[0] != tr->block_bytes)
        return false;
    size_t expect = t->nb[0] * (size_t)(t->ne[0] / tr->block_elems);
    for (int i = 1; i < WR_MAX_DIMS; i++) {
        if (t->ne[i] != 1 && t->nb[i] != expect)
            return false;
        expect *= (size_t)t->ne[i];
    }
    return true;
}

bool wr_tensor_same_shape(const wr_tensor *a, const wr_tensor *b)
{
    for (int i = 0; i < WR_MAX_DIMS; i++)
        if (a->ne[i] != b->ne[i])
            return false;
    return true;
}

void wr_tensor_shape_str(const wr_tensor *t, char *buf, size_t len)
{
    size_t pos = 0;
    pos += (size_t)snprintf(buf + pos, pos < len ? len - pos : 0, "[");
    for (int i = t->n_dims - 1; i >= 0; i--)
        pos += (size_t)snprintf(buf + pos, pos < len ? len - pos : 0, "%lld%s",
                                (long long)t->ne[i], i ? ", " : "");
    snprintf(buf + pos, pos < len ? len - pos : 0, "]");
}

void *wr_tensor_row(const wr_tensor *t, int64_t r)
{
    size_t off = 0;
    for (int i = 1; i < WR_MAX_DIMS; i++) {
        int64_t idx = r % t->ne[i];
        r /= t->ne[i];
        off += (size_t)idx * t->nb[i];
    }
    return (char *)t->data + off;
}

bool wr_tensor_row_stride(const wr_tensor *t, size_t *stride)
{
    size_t st = 0, next = 0;
    bool seen = false;
    for (int i = 1; i < WR_MAX_DIMS; i++) {
        if (t->ne[i] == 1)
            continue;
        if (seen && t->nb[i] != next)
            return false;
        if (!seen)
            st = t->nb[i], seen = true;
        next = t->nb[i] * (size_t)t->ne[i];
    }
    *stride = st;
    return true;
}

wr_tensor wr_tensor_slice(const wr_tensor *t, int dim, int64_t start, int64_t len)
{
    WR_ASSERT(dim >= 0 && dim < WR_MAX_DIMS, "slice dim %d", dim);
    WR_ASSERT(start >= 0 && len >= 0 && start + len <= t->ne[dim],
              "slice [%lld, +%lld) out of dim %d of size %lld", (long long)start, (long long)len,
              dim, (long long)t->ne[dim]);
    const wr_dtype_traits *tr = wr_dtype_info(t->dtype);
    WR_ASSERT(dim != 0 || (start % tr->block_elems == 0 && len % tr->block_elems == 0),
              "slice of a %s row must keep whole blocks", tr->name);
    wr_tensor v = *t;
    size_t step = dim == 0 ? t->nb[0] / 1 : t->nb[dim];
    int64_t unit = dim == 0 ? start / tr->block_elems : start;
    v.data = (char *)t->data + (size_t)unit * step;
    v.ne[dim] = len;
    return v;
}

wr_tensor wr_tensor_reshape(const wr_tensor *t, int n_dims, const int64_t *ne)
{
    WR_ASSERT(wr_tensor_is_contiguous(t), "reshape of a non-contiguous tensor");
    wr_tensor v;
    WR_ASSERT(wr_tensor_init(&v, t->dtype, n_dims, ne, t->data), "reshape: invalid shape");
    WR_ASSERT(wr_tensor_nelements(&v) == wr_tensor_nelements(t), "reshape changes element count");
    v.scale = t->scale;
    return v;
}
