/* cuBLASLt through dlopen (see cublaslt.h). The few cuBLASLt types and constants used are declared
 * here with an lt_ prefix, values from cublasLt.h / cublas_api.h / library_types.h of CUDA 13.0
 * (unchanged since CUDA 12.0), as gpu_cuda.c does for the driver API; when the toolkit headers
 * are present (WR_HAVE_CUDA_H) the block at the end of the declarations checks every value and
 * struct size against them at compile time. */
#include "runtime/gpu/cublaslt.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/err.h"

/* ---- declarations (cublasLt.h, CUDA 13.0) ------------------------------------------------- */

typedef int lt_status; /* cublasStatus_t; 0 = CUBLAS_STATUS_SUCCESS */
typedef struct lt_context *lt_handle;                        /* cublasLtHandle_t */
typedef struct { uint64_t data[32]; } lt_desc_opaque;        /* cublasLtMatmulDescOpaque_t */
typedef struct { uint64_t data[8]; } lt_layout_opaque;       /* cublasLtMatrixLayoutOpaque_t */
typedef struct { uint64_t data[8]; } lt_pref_opaque;         /* cublasLtMatmulPreferenceOpaque_t */
typedef lt_desc_opaque *lt_desc;                             /* cublasLtMatmulDesc_t */
typedef lt_layout_opaque *lt_layout;                         /* cublasLtMatrixLayout_t */
typedef lt_pref_opaque *lt_pref;                             /* cublasLtMatmulPreference_t */
typedef struct { uint64_t data[8]; } lt_algo;                /* cublasLtMatmulAlgo_t */
typedef struct lt_heuristic {                                /* cublasLtMatmulHeuristicResult_t */
    lt_algo algo;
    size_t workspace_size;
    lt_status state;
    float waves_count;
    int reserved[4];
} lt_heuristic;
typedef struct CUstream_st *lt_stream; /* cudaStream_t */

enum {
    LT_SUCCESS = 0,                 /* CUBLAS_STATUS_SUCCESS */
    LT_R_32F = 0,                   /* cudaDataType CUDA_R_32F */
    LT_R_16BF = 14,                 /* CUDA_R_16BF */
    LT_R_8F_E4M3 = 28,              /* CUDA_R_8F_E4M3 */
    LT_COMPUTE_32F = 68,            /* cublasComputeType_t CUBLAS_COMPUTE_32F */
    LT_OP_N = 0,                    /* cublasOperation_t CUBLAS_OP_N */
    LT_OP_T = 1,                    /* CUBLAS_OP_T */
    LT_DESC_TRANSA = 3,             /* cublasLtMatmulDescAttributes_t CUBLASLT_MATMUL_DESC_TRANSA (int32_t) */
    LT_DESC_TRANSB = 4,             /* CUBLASLT_MATMUL_DESC_TRANSB (int32_t) */
    LT_DESC_A_SCALE_POINTER = 17,   /* CUBLASLT_MATMUL_DESC_A_SCALE_POINTER (const void *) */
    LT_DESC_B_SCALE_POINTER = 18,   /* CUBLASLT_MATMUL_DESC_B_SCALE_POINTER (const void *) */
    LT_DESC_FAST_ACCUM = 25,        /* CUBLASLT_MATMUL_DESC_FAST_ACCUM (int8_t) */
    LT_PREF_MAX_WORKSPACE_BYTES = 1 /* CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES (uint64_t) */
};

#ifdef WR_HAVE_CUDA_H
#include <cublasLt.h>
_Static_assert((int)LT_SUCCESS == (int)CUBLAS_STATUS_SUCCESS, "cublasLt.h value");
_Static_assert((int)LT_R_32F == (int)CUDA_R_32F && (int)LT_R_16BF == (int)CUDA_R_16BF && (int)LT_R_8F_E4M3 == (int)CUDA_R_8F_E4M3,
               "cudaDataType values");
_Static_assert((int)LT_COMPUTE_32F == (int)CUBLAS_COMPUTE_32F && (int)LT_OP_N == (int)CUBLAS_OP_N && (int)LT_OP_T == (int)CUBLAS_OP_T,
               "cublas_api.h values");
_Static_assert((int)LT_DESC_TRANSA == (int)CUBLASLT_MATMUL_DESC_TRANSA && (int)LT_DESC_TRANSB == (int)CUBLASLT_MATMUL_DESC_TRANSB &&
                   (int)LT_DESC_A_SCALE_POINTER == (int)CUBLASLT_MATMUL_DESC_A_SCALE_POINTER &&
                   (int)LT_DESC_B_SCALE_POINTER == (int)CUBLASLT_MATMUL_DESC_B_SCALE_POINTER &&
                   (int)LT_DESC_FAST_ACCUM == (int)CUBLASLT_MATMUL_DESC_FAST_ACCUM,
               "cublasLtMatmulDescAttributes_t values");
_Static_assert((int)LT_PREF_MAX_WORKSPACE_BYTES == (int)CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, "preference value");
_Static_assert(sizeof(lt_heuristic) == sizeof(cublasLtMatmulHeuristicResult_t) &&
                   sizeof(lt_algo) == sizeof(cublasLtMatmulAlgo_t) &&
                   sizeof(lt_desc_opaque) == sizeof(cublasLtMatmulDescOpaque_t) &&
                   sizeof(lt_layout_opaque) == sizeof(cublasLtMatrixLayoutOpaque_t) &&
                   sizeof(lt_pref_opaque) == sizeof(cublasLtMatmulPreferenceOpaque_t),
               "cublasLt.h struct sizes");
_Static_assert(offsetof(cublasLtMatmulHeuristicResult_t, workspaceSize) == offsetof(lt_heuristic, workspace_size) &&
                   offsetof(cublasLtMatmulHeuristicResult_t, state) == offsetof(lt_heuristic, state),
               "cublasLtMatmulHeuristicResult_t layout");
/* The signatures lt_api transcribes (by position: lt_ handles are the header's opaque pointers,
 * enum parameters are passed as int), checked against the header's prototypes. */
#define LT_SIG(fn, ret, ...) \
    _Static_assert(__builtin_types_compatible_p(__typeof__(fn), ret(__VA_ARGS__)), #fn ": signature changed")
LT_SIG(cublasLtCreate, cublasStatus_t, cublasLtHandle_t *);
LT_SIG(cublasLtDestroy, cublasStatus_t, cublasLtHandle_t);
LT_SIG(cublasLtGetVersion, size_t, void);
LT_SIG(cublasLtGetStatusName, const char *, cublasStatus_t);
LT_SIG(cublasLtMatmulDescCreate, cublasStatus_t, cublasLtMatmulDesc_t *, cublasComputeType_t, cudaDataType_t);
LT_SIG(cublasLtMatmulDescDestroy, cublasStatus_t, cublasLtMatmulDesc_t);
LT_SIG(cublasLtMatmulDescSetAttribute, cublasStatus_t, cublasLtMatmulDesc_t, cublasLtMatmulDescAttributes_t,
       const void *, size_t);
LT_SIG(cublasLtMatrixLayoutCreate, cublasStatus_t, cublasLtMatrixLayout_t *, cudaDataType, uint64_t, uint64_t, int64_t);
LT_SIG(cublasLtMatrixLayoutDestroy, cublasStatus_t, cublasLtMatrixLayout_t);
LT_SIG(cublasLtMatmulPreferenceCreate, cublasStatus_t, cublasLtMatmulPreference_t *);
LT_SIG(cublasLtMatmulPreferenceDestroy, cublasStatus_t, cublasLtMatmulPreference_t);
LT_SIG(cublasLtMatmulPreferenceSetAttribute, cublasStatus_t, cublasLtMatmulPreference_t,
       cublasLtMatmulPreferenceAttributes_t, const void *, size_t);
LT_SIG(cublasLtMatmulAlgoGetHeuristic, cublasStatus_t, cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
       cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int,
       cublasLtMatmulHeuristicResult_t *, int *);
LT_SIG(cublasLtMatmul, cublasStatus_t, cublasLtHandle_t, cublasLtMatmulDesc_t, const void *, const void *,
       cublasLtMatrixLayout_t, const void *, cublasLtMatrixLayout_t, const void *, const void *, cublasLtMatrixLayout_t,
       void *, cublasLtMatrixLayout_t, const cublasLtMatmulAlgo_t *, void *, size_t, cudaStream_t);
#undef LT_SIG
_Static_assert(sizeof(cublasStatus_t) == sizeof(lt_status) && sizeof(cudaDataType) == sizeof(int) &&
                   sizeof(cublasComputeType_t) == sizeof(int) && sizeof(cublasLtMatmulDescAttributes_t) == sizeof(int) &&
                   sizeof(cublasLtMatmulPreferenceAttributes_t) == sizeof(int),
               "enum parameters passed as int");
#endif

typedef struct lt_api {
    void *lib;
    lt_status (*Create)(lt_handle *);
    lt_status (*Destroy)(lt_handle);
    size_t (*GetVersion)(void);
    const char *(*GetStatusName)(lt_status); /* optional */
    lt_status (*MatmulDescCreate)(lt_desc *, int compute, int scale_type);
    lt_status (*MatmulDescDestroy)(lt_desc);
    lt_status (*MatmulDescSetAttribute)(lt_desc, int attr, const void *buf, size_t size);
    lt_status (*MatrixLayoutCreate)(lt_layout *, int type, uint64_t rows, uint64_t cols, int64_t ld);
    lt_status (*MatrixLayoutDestroy)(lt_layout);
    lt_status (*MatmulPreferenceCreate)(lt_pref *);
    lt_status (*MatmulPreferenceDestroy)(lt_pref);
    lt_status (*MatmulPreferenceSetAttribute)(lt_pref, int attr, const void *buf, size_t size);
    lt_status (*MatmulAlgoGetHeuristic)(lt_handle, lt_desc, lt_layout a, lt_layout b, lt_layout c, lt_layout d, lt_pref,
                                        int requested, lt_heuristic *results, int *returned);
    lt_status (*Matmul)(lt_handle, lt_desc, const void *alpha, const void *a, lt_layout, const void *b, lt_layout,
                        const void *beta, const void *c, lt_layout, void *d, lt_layout, const lt_algo *,
                        void *workspace, size_t workspace_bytes, lt_stream);
} lt_api;

/* One problem's descriptors and chosen algorithm, kept for the handle's lifetime. */
typedef struct lt_plan {
    wr_cublaslt_op op;
    int64_t M, N, K;
    wr_dtype y_dtype;
    bool fast_accum, x_scaled, w_scaled; /* scale pointers present (FP8) */
    lt_desc desc;
    lt_layout a, b, d;
    lt_algo algo;
    size_t workspace;
    struct lt_plan *next;
} lt_plan;

struct wr_cublaslt {
    wr_gpu *g;
    lt_api api;
    lt_handle h;
    void *workspace;
    size_t workspace_bytes;
    lt_plan *plans;
    char version[64];
};

static const char *status_name(const wr_cublaslt *lt, lt_status st)
{
    const char *n = lt->api.GetStatusName ? lt->api.GetStatusName(st) : NULL;
    return n ? n : "CUBLAS_STATUS_?";
}

/* A cuBLASLt call that failed: WR_E_DEVICE with the statement and cuBLAS's status name (STYLE.md 9.3). */
#define LT_TRY(expr)                                                                                              \
    do {                                                                                                          \
        lt_status lt_st_ = (expr);                                                                                \
        if (lt_st_ != LT_SUCCESS)                                                                                 \
            return wr_fail(WR_E_DEVICE, "%s: cuBLASLt call `%s` failed: %s (%d)", __func__, #expr,                \
                           status_name(lt, lt_st_), lt_st_);                                                      \
    } while (0)

/* ---- library, handle ---------------------------------------------------------------------- */

static wr_status load_api(lt_api *a)
{
    const char *names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
    for (size_t i = 0; !a->lib && i < sizeof names / sizeof names[0]; i++)
        a->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!a->lib)
        return wr_fail(WR_E_DEVICE,
                       "cuBLASLt: libcublasLt.so.13 / .so.12 is not installed or not on the loader path (%s); "
                       "install the CUDA toolkit's cuBLAS library (libcublas-13-0 / libcublas-12-x)",
                       dlerror());
#define SYM(field, name)                                                                                     \
    do {                                                                                                     \
        *(void **)&a->field = dlsym(a->lib, name);                                                           \
        if (!a->field)                                                                                       \
            return wr_fail(WR_E_DEVICE, "libcublasLt: symbol %s missing (cuBLASLt older than 12.0?)", name); \
    } while (0)
    SYM(Create, "cublasLtCreate");
    SYM(Destroy, "cublasLtDestroy");
    SYM(GetVersion, "cublasLtGetVersion");
    SYM(MatmulDescCreate, "cublasLtMatmulDescCreate");
    SYM(MatmulDescDestroy, "cublasLtMatmulDescDestroy");
    SYM(MatmulDescSetAttribute, "cublasLtMatmulDescSetAttribute");
    SYM(MatrixLayoutCreate, "cublasLtMatrixLayoutCreate");
    SYM(MatrixLayoutDestroy, "cublasLtMatrixLayoutDestroy");
    SYM(MatmulPreferenceCreate, "cublasLtMatmulPreferenceCreate");
    SYM(MatmulPreferenceDestroy, "cublasLtMatmulPreferenceDestroy");
    SYM(MatmulPreferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute");
    SYM(MatmulAlgoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic");
    SYM(Matmul, "cublasLtMatmul");
#undef SYM
    *(void **)&a->GetStatusName = dlsym(a->lib, "cublasLtGetStatusName");
    return WR_OK;
}

static void plan_free(wr_cublaslt *lt, lt_plan *p)
{
    if (p->desc)
        lt->api.MatmulDescDestroy(p->desc);
    if (p->a)
        lt->api.MatrixLayoutDestroy(p->a);
    if (p->b)
        lt->api.MatrixLayoutDestroy(p->b);
    if (p->d)
        lt->api.MatrixLayoutDestroy(p->d);
    free(p);
}

void wr_cublaslt_close(wr_cublaslt *lt)
{
    if (!lt)
        return;
    while (lt->plans) {
        lt_plan *p = lt->plans;
        lt->plans = p->next;
        plan_free(lt, p);
    }
    if (lt->workspace)
        wr_gpu_free(lt->g, lt->workspace);
    if (lt->h)
        lt->api.Destroy(lt->h);
    if (lt->api.lib)
        dlclose(lt->api.lib);
    free(lt);
}

static wr_status open_into(wr_cublaslt *lt, size_t workspace_bytes)
{
    WR_TRY(load_api(&lt->api));
    LT_TRY(lt->api.Create(&lt->h));
    size_t v = lt->api.GetVersion(); /* major * 10000 + minor * 100 + patch */
    snprintf(lt->version, sizeof lt->version, "cuBLASLt %zu.%zu.%zu", v / 10000, v / 100 % 100, v % 100);
    lt->workspace_bytes = workspace_bytes ? workspace_bytes : (size_t)32 << 20;
    return wr_gpu_alloc(lt->g, lt->workspace_bytes, &lt->workspace);
}

wr_status wr_cublaslt_open(wr_gpu *g, size_t workspace_bytes, wr_cublaslt **out)
{
    *out = NULL;
    if (wr_gpu_get_kind(g) != WR_GPU_CUDA)
        return wr_fail(WR_E_UNSUPPORTED, "cuBLASLt: runs on a CUDA device only, not on %s", wr_gpu_name(g));
    wr_cublaslt *lt = calloc(1, sizeof *lt);
    if (!lt)
        return wr_fail(WR_E_OOM, "cuBLASLt: out of host memory");
    lt->g = g;
    wr_status st = open_into(lt, workspace_bytes);
    if (st != WR_OK) {
        wr_cublaslt_close(lt);
        return st;
    }
    *out = lt;
    return WR_OK;
}

const char *wr_cublaslt_version(const wr_cublaslt *lt) { return lt->version; }

bool wr_cublaslt_supports(const wr_cublaslt *lt, wr_cublaslt_op op)
{
    int arch = wr_gpu_arch(lt->g);
    return op == WR_CUBLASLT_BF16 ? arch >= 80 : op == WR_CUBLASLT_FP8 ? arch >= 89 : false;
}

/* ---- plans: descriptors + heuristic, once per problem -------------------------------------- */

static wr_status plan_build(wr_cublaslt *lt, const wr_cublaslt_gemm *p, lt_plan *pl)
{
    int in_type = p->op == WR_CUBLASLT_FP8 ? LT_R_8F_E4M3 : LT_R_16BF;
    int out_type = p->y_dtype == WR_DTYPE_BF16 ? LT_R_16BF : LT_R_32F;
    LT_TRY(lt->api.MatmulDescCreate(&pl->desc, LT_COMPUTE_32F, LT_R_32F));
    int32_t ta = LT_OP_T, tb = LT_OP_N;
    LT_TRY(lt->api.MatmulDescSetAttribute(pl->desc, LT_DESC_TRANSA, &ta, sizeof ta));
    LT_TRY(lt->api.MatmulDescSetAttribute(pl->desc, LT_DESC_TRANSB, &tb, sizeof tb));
    if (p->op == WR_CUBLASLT_FP8) { /* the scale pointers are set before the heuristic sees the descriptor */
        int8_t fast = p->fast_accum ? 1 : 0;
        const void *as = p->w_scale, *bs = p->x_scale;
        LT_TRY(lt->api.MatmulDescSetAttribute(pl->desc, LT_DESC_FAST_ACCUM, &fast, sizeof fast));
        LT_TRY(lt->api.MatmulDescSetAttribute(pl->desc, LT_DESC_A_SCALE_POINTER, &as, sizeof as));
        LT_TRY(lt->api.MatmulDescSetAttribute(pl->desc, LT_DESC_B_SCALE_POINTER, &bs, sizeof bs));
    }
    /* column-major: A = w (K rows × N cols, ld K, used transposed), B = x (K × M, ld K), D = y (N × M, ld N);
     * C is D's layout (beta = 0, C = D) */
    LT_TRY(lt->api.MatrixLayoutCreate(&pl->a, in_type, (uint64_t)p->K, (uint64_t)p->N, p->K));
    LT_TRY(lt->api.MatrixLayoutCreate(&pl->b, in_type, (uint64_t)p->K, (uint64_t)p->M, p->K));
    LT_TRY(lt->api.MatrixLayoutCreate(&pl->d, out_type, (uint64_t)p->N, (uint64_t)p->M, p->N));
    lt_pref pref = NULL;
    LT_TRY(lt->api.MatmulPreferenceCreate(&pref));
    uint64_t ws = lt->workspace_bytes;
    lt_status st = lt->api.MatmulPreferenceSetAttribute(pref, LT_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    lt_heuristic res[8];
    int got = 0;
    if (st == LT_SUCCESS)
        st = lt->api.MatmulAlgoGetHeuristic(lt->h, pl->desc, pl->a, pl->b, pl->d, pl->d, pref, 8, res, &got);
    lt->api.MatmulPreferenceDestroy(pref);
    if (st != LT_SUCCESS || got == 0)
        return wr_fail(WR_E_UNSUPPORTED, "cuBLASLt: no algorithm for %s M=%lld N=%lld K=%lld -> %s on %s: %s",
                       p->op == WR_CUBLASLT_FP8 ? "e4m3" : "bf16", (long long)p->M, (long long)p->N, (long long)p->K,
                       wr_dtype_name(p->y_dtype), wr_gpu_name(lt->g),
                       st != LT_SUCCESS ? status_name(lt, st) : "heuristic returned none");
    for (int i = 0; i < got; i++) /* ordered by estimated time: the first one that fits */
        if (res[i].state == LT_SUCCESS && res[i].workspace_size <= lt->workspace_bytes) {
            pl->algo = res[i].algo;
            pl->workspace = res[i].workspace_size;
            return WR_OK;
        }
    return wr_fail(WR_E_UNSUPPORTED, "cuBLASLt: none of %d heuristic results fits a %zu-byte workspace", got,
                   lt->workspace_bytes);
}

static wr_status plan_get(wr_cublaslt *lt, const wr_cublaslt_gemm *p, lt_plan **out)
{
    for (lt_plan *q = lt->plans; q; q = q->next)
        if (q->op == p->op && q->M == p->M && q->N == p->N && q->K == p->K && q->y_dtype == p->y_dtype &&
            q->fast_accum == p->fast_accum && q->x_scaled == (p->x_scale != NULL) &&
            q->w_scaled == (p->w_scale != NULL)) {
            *out = q;
            return WR_OK;
        }
    lt_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return wr_fail(WR_E_OOM, "cuBLASLt: out of host memory");
    pl->op = p->op, pl->M = p->M, pl->N = p->N, pl->K = p->K, pl->y_dtype = p->y_dtype;
    pl->fast_accum = p->fast_accum, pl->x_scaled = p->x_scale != NULL, pl->w_scaled = p->w_scale != NULL;
    wr_status st = plan_build(lt, p, pl);
    if (st != WR_OK) {
        plan_free(lt, pl);
        return st;
    }
    pl->next = lt->plans;
    lt->plans = pl;
    *out = pl;
    return WR_OK;
}

/* ---- the GEMM ---------------------------------------------------------------------------- */

static wr_status check(const wr_cublaslt *lt, const wr_cublaslt_gemm *p, const wr_gpu_stream *s)
{
    if ((unsigned)p->op >= WR_CUBLASLT_OP_COUNT)
        return wr_fail(WR_E_ARG, "cuBLASLt: unknown op %d", (int)p->op);
    if (!wr_cublaslt_supports(lt, p->op))
        return wr_fail(WR_E_UNSUPPORTED, "cuBLASLt: %s GEMM needs sm_%d, device is sm_%d",
                       p->op == WR_CUBLASLT_FP8 ? "e4m3" : "bf16", p->op == WR_CUBLASLT_FP8 ? 89 : 80,
                       wr_gpu_arch(lt->g));
    if (s)
        return wr_fail(WR_E_UNSUPPORTED, "cuBLASLt: only the default stream is supported (see cublaslt.h)");
    if (p->M < 1 || p->N < 1 || p->K < 1 || !p->x || !p->w || !p->y)
        return wr_fail(WR_E_ARG, "cuBLASLt: empty GEMM M=%lld N=%lld K=%lld or NULL operand", (long long)p->M,
                       (long long)p->N, (long long)p->K);
    if (p->y_dtype != WR_DTYPE_F32 && p->y_dtype != WR_DTYPE_BF16)
        return wr_fail(WR_E_ARG, "cuBLASLt: output dtype %s (F32 or BF16)", wr_dtype_name(p->y_dtype));
    if (p->op == WR_CUBLASLT_FP8 && (p->M % 16 || p->N % 16 || p->K % 16))
        return wr_fail(WR_E_UNSUPPORTED, "cuBLASLt: e4m3 GEMM needs M, N, K multiples of 16 (M=%lld N=%lld K=%lld)",
                       (long long)p->M, (long long)p->N, (long long)p->K);
    return WR_OK;
}

wr_status wr_cublaslt_matmul(wr_cublaslt *lt, const wr_cublaslt_gemm *p, wr_gpu_stream *s)
{
    WR_TRY(check(lt, p, s));
    lt_plan *pl = NULL;
    WR_TRY(plan_get(lt, p, &pl));
    if (p->op == WR_CUBLASLT_FP8) { /* scale pointers live in the descriptor; set per call (cheap, host-side) */
        const void *as = p->w_scale, *bs = p->x_scale;
        LT_TRY(lt->api.MatmulDescSetAttribute(pl->desc, LT_DESC_A_SCALE_POINTER, &as, sizeof as));
        LT_TRY(lt->api.MatmulDescSetAttribute(pl->desc, LT_DESC_B_SCALE_POINTER, &bs, sizeof bs));
    }
    float alpha = 1.0f, beta = 0.0f;
    LT_TRY(lt->api.Matmul(lt->h, pl->desc, &alpha, p->w, pl->a, p->x, pl->b, &beta, p->y, pl->d, p->y, pl->d,
                          &pl->algo, lt->workspace, lt->workspace_bytes, (lt_stream)0));
    return WR_OK;
}
