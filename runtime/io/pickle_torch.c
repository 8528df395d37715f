/* Storage types, torch dtypes and tensor-rebuild calls of torch pickles (see pickle_torch.h).
 *
 * _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
 * [, metadata]) describes a strided view of a storage; offsets and strides count elements of
 * the storage type. _rebuild_tensor_v3 adds the dtype as its 7th argument for UntypedStorage
 * (offset then counts elements of that dtype). requires_grad, hooks and metadata are ignored. */
#include "runtime/io/pickle_torch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct storage_type {
    const char *name; /* GLOBAL torch.<name> */
    wr_dtype dtype;
    size_t itemsize;
    bool ok;      /* representable as a wr_dtype */
    bool untyped;
} storage_type;

static const storage_type storage_types[] = {
    {"DoubleStorage", WR_DTYPE_F64, 8, true, false},
    {"FloatStorage", WR_DTYPE_F32, 4, true, false},
    {"HalfStorage", WR_DTYPE_F16, 2, true, false},
    {"BFloat16Storage", WR_DTYPE_BF16, 2, true, false},
    {"Float8_e4m3fnStorage", WR_DTYPE_F8_E4M3FN, 1, true, false},
    {"Float8_e5m2Storage", WR_DTYPE_F8_E5M2, 1, true, false},
    {"LongStorage", WR_DTYPE_I64, 8, true, false},
    {"IntStorage", WR_DTYPE_I32, 4, true, false},
    {"ShortStorage", WR_DTYPE_I16, 2, true, false},
    {"CharStorage", WR_DTYPE_I8, 1, true, false},
    {"ByteStorage", WR_DTYPE_U8, 1, true, false},
    {"BoolStorage", WR_DTYPE_BOOL, 1, true, false},
    {"ComplexFloatStorage", WR_DTYPE_F32, 8, false, false},
    {"ComplexDoubleStorage", WR_DTYPE_F64, 16, false, false},
    {"UntypedStorage", WR_DTYPE_U8, 1, true, true},
};

typedef struct torch_dtype {
    const char *name; /* GLOBAL torch.<name> */
    wr_dtype dtype;
    size_t itemsize;
} torch_dtype;

static const torch_dtype torch_dtypes[] = {
    {"float32", WR_DTYPE_F32, 4},        {"float", WR_DTYPE_F32, 4},
    {"float64", WR_DTYPE_F64, 8},        {"double", WR_DTYPE_F64, 8},
    {"float16", WR_DTYPE_F16, 2},        {"half", WR_DTYPE_F16, 2},
    {"bfloat16", WR_DTYPE_BF16, 2},      {"float8_e4m3fn", WR_DTYPE_F8_E4M3FN, 1},
    {"float8_e5m2", WR_DTYPE_F8_E5M2, 1}, {"int64", WR_DTYPE_I64, 8},
    {"long", WR_DTYPE_I64, 8},           {"int32", WR_DTYPE_I32, 4},
    {"int", WR_DTYPE_I32, 4},            {"int16", WR_DTYPE_I16, 2},
    {"short", WR_DTYPE_I16, 2},          {"int8", WR_DTYPE_I8, 1},
    {"uint8", WR_DTYPE_U8, 1},           {"bool", WR_DTYPE_BOOL, 1},
};

__attribute__((format(printf, 4, 5))) static wr_status why(wr_status st, char *msg, size_t n,
                                                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
    return st;
}

static int show(wr_pkl_str s) { return s.len > 100 ? 100 : (int)s.len; }

static bool is_global(const wr_pkl_value *v, const char *module, const char *name)
{
    return v->kind == WR_PKL_GLOBAL && wr_pkl_str_eq(v->u.global.module, module) &&
           wr_pkl_str_eq(v->u.global.name, name);
}

wr_status wr_pkl_torch_storage(wr_pkl *arena, const wr_pkl_value *pid, wr_pkl_value **out,
                               char *msg, size_t msg_len)
{
    if (pid->kind != WR_PKL_TUPLE || pid->u.seq.n < 5 || pid->u.seq.n > 6 ||
        !wr_pkl_str_is(pid->u.seq.items[0], "storage"))
        return why(WR_E_UNSUPPORTED, msg, msg_len,
                   "persistent id is not ('storage', type, key, location, numel[, view])");
    wr_pkl_value *const *it = pid->u.seq.items;
    if (it[1]->kind != WR_PKL_GLOBAL || it[2]->kind != WR_PKL_STR || it[4]->kind != WR_PKL_INT ||
        it[4]->u.i < 0)
        return why(WR_E_FORMAT, msg, msg_len,
                   "storage persistent id: expected (str, GLOBAL, str, str, int >= 0)");
    const wr_pkl_str mod = it[1]->u.global.module, name = it[1]->u.global.name;
    const storage_type *type = NULL;
    for (size_t i = 0; i < sizeof storage_types / sizeof storage_types[0]; i++)
        if (wr_pkl_str_eq(mod, "torch") && wr_pkl_str_eq(name, storage_types[i].name))
            type = &storage_types[i];
    if (!type)
        return why(WR_E_UNSUPPORTED, msg, msg_len, "unknown storage type %.*s.%.*s", show(mod),
                   mod.s, show(name), name.s);
    wr_pkl_value *v = wr_pkl_new_value(arena, WR_PKL_STORAGE);
    if (!v)
        return why(WR_E_OOM, msg, msg_len, "out of memory");
    v->u.storage = (wr_pkl_storage){
        .type_name = name,
        .dtype_ok = type->ok,
        .dtype = type->dtype,
        .itemsize = type->itemsize,
        .untyped = type->untyped,
        .key = it[2]->u.str,
        .numel = it[4]->u.i,
        .is_view = pid->u.seq.n == 6 && it[5]->kind != WR_PKL_NONE,
    };
    *out = v;
    return WR_OK;
}

/* size/stride arguments: a tuple of non-negative ints. */
static bool int_tuple(const wr_pkl_value *v, int64_t *vals, int *n)
{
    if (v->kind != WR_PKL_TUPLE || v->u.seq.n > WR_PKL_MAX_DIMS)
        return false;
    for (int64_t i = 0; i < v->u.seq.n; i++) {
        const wr_pkl_value *x = v->u.seq.items[i];
        if (x->kind != WR_PKL_INT || x->u.i < 0)
            return false;
        vals[i] = x->u.i;
    }
    *n = (int)v->u.seq.n;
    return true;
}

static wr_status rebuild_tensor(wr_pkl *arena, const wr_pkl_value *args, int version,
                                wr_pkl_value **out, char *msg, size_t n)
{
    const char *fn = version == 1 ? "_rebuild_tensor" : version == 2 ? "_rebuild_tensor_v2"
                                                                     : "_rebuild_tensor_v3";
    int64_t need = version == 3 ? 7 : 4;
    if (args->u.seq.n < need)
        return why(WR_E_FORMAT, msg, n, "%s: %lld arguments, expected at least %lld", fn,
                   (long long)args->u.seq.n, (long long)need);
    wr_pkl_value *const *a = args->u.seq.items;
    if (a[0]->kind != WR_PKL_STORAGE)
        return why(WR_E_FORMAT, msg, n, "%s: argument 0 is not a storage (persistent id)", fn);
    if (a[1]->kind != WR_PKL_INT || a[1]->u.i < 0)
        return why(WR_E_FORMAT, msg, n, "%s: storage offset is not an int >= 0", fn);
    wr_pkl_value *v = wr_pkl_new_value(arena, WR_PKL_TENSOR);
    if (!v)
        return why(WR_E_OOM, msg, n, "out of memory");
    wr_pkl_tensor *t = &v->u.tensor;
    int n_stride = -1;
    if (!int_tuple(a[2], t->shape, &t->n_dims) || !int_tuple(a[3], t->stride, &n_stride))
        return why(WR_E_FORMAT, msg, n,
                   "%s: size and stride must be tuples of at most %d ints >= 0", fn,
                   WR_PKL_MAX_DIMS);
    if (n_stride != t->n_dims)
        return why(WR_E_FORMAT, msg, n, "%s: size has %d dims but stride has %d", fn, t->n_dims,
                   n_stride);
    const wr_pkl_storage *s = &a[0]->u.storage;
    t->storage = a[0];
    t->offset = a[1]->u.i;
    t->dtype_ok = s->dtype_ok;
    t->dtype = s->dtype;
    t->itemsize = s->itemsize;
    t->dtype_name = s->type_name;
    if (version == 3) {
        const wr_pkl_value *d = a[6];
        if (d->kind != WR_PKL_GLOBAL || !wr_pkl_str_eq(d->u.global.module, "torch"))
            return why(WR_E_FORMAT, msg, n, "%s: argument 6 is not a torch dtype", fn);
        t->dtype_ok = false;
        t->dtype_name = d->u.global.name;
        for (size_t i = 0; i < sizeof torch_dtypes / sizeof torch_dtypes[0]; i++)
            if (wr_pkl_str_eq(d->u.global.name, torch_dtypes[i].name)) {
                t->dtype_ok = true;
                t->dtype = torch_dtypes[i].dtype;
                t->itemsize = torch_dtypes[i].itemsize;
            }
    }
    *out = v;
    return WR_OK;
}

static wr_status call(wr_pkl *arena, const wr_pkl_value *f, const wr_pkl_value *args, int depth,
                      wr_pkl_value **out, char *msg, size_t n)
{
    int64_t argc = args->u.seq.n;
    wr_pkl_value *const *a = args->u.seq.items;
    if (is_global(f, "collections", "OrderedDict") && argc == 0) {
        *out = wr_pkl_new_value(arena, WR_PKL_DICT);
        return *out ? WR_OK : why(WR_E_OOM, msg, n, "out of memory");
    }
    if (is_global(f, "torch._utils", "_rebuild_tensor"))
        return rebuild_tensor(arena, args, 1, out, msg, n);
    if (is_global(f, "torch._utils", "_rebuild_tensor_v2"))
        return rebuild_tensor(arena, args, 2, out, msg, n);
    if (is_global(f, "torch._utils", "_rebuild_tensor_v3"))
        return rebuild_tensor(arena, args, 3, out, msg, n);
    if ((is_global(f, "torch._utils", "_rebuild_parameter") ||
         is_global(f, "torch._utils", "_rebuild_parameter_with_state")) &&
        argc >= 1 && a[0]->kind == WR_PKL_TENSOR) {
        *out = a[0]; /* a Parameter is its data tensor */
        return WR_OK;
    }
    /* (func, type, args, state): a tensor subclass; func rebuilds the plain tensor. */
    if (is_global(f, "torch._tensor", "_rebuild_from_type_v2") && depth == 0 && argc >= 3 &&
        a[2]->kind == WR_PKL_TUPLE)
        return call(arena, a[0], a[2], depth + 1, out, msg, n);
    *out = wr_pkl_new_value(arena, WR_PKL_OBJECT); /* never executed */
    if (!*out)
        return why(WR_E_OOM, msg, n, "out of memory");
    /* Remember torch rebuild functions we do not implement (quantized, sparse, meta, wrapper
     * subclass tensors...) so the loader can reject such a tensor instead of skipping it. */
    if (f->kind == WR_PKL_GLOBAL && f->u.global.module.len >= 5 &&
        memcmp(f->u.global.module.s, "torch", 5) == 0 && f->u.global.name.len >= 8 &&
        memcmp(f->u.global.name.s, "_rebuild", 8) == 0)
        (*out)->u.global = f->u.global;
    return WR_OK;
}

wr_status wr_pkl_torch_call(wr_pkl *arena, const wr_pkl_value *callable, const wr_pkl_value *args,
                            wr_pkl_value **out, char *msg, size_t msg_len)
{
    return call(arena, callable, args, 0, out, msg, msg_len);
}
