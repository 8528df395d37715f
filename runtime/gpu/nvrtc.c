/* NVRTC loader: dlopen + dlsym of the handful of functions the JIT uses (see nvrtc.h). */
#include "runtime/gpu/nvrtc.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static wr_nvrtc g_nv;
static wr_status g_status = WR_OK;
static char g_msg[1024];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void *try_open(const char *path, char *tried, size_t len)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h) {
        snprintf(g_nv.lib_path, sizeof g_nv.lib_path, "%s", path);
        return h;
    }
    size_t used = strlen(tried);
    if (used < len)
        snprintf(tried + used, len - used, "%s%s", used ? ", " : "", path);
    return NULL;
}

static void find_include(void)
{
    const char *homes[3] = {getenv("CUDA_HOME"), getenv("CUDA_PATH"), "/usr/local/cuda"};
    char p[600];
    for (int i = 0; i < 3; i++) {
        if (!homes[i] || !*homes[i])
            continue;
        snprintf(p, sizeof p, "%s/include/cuda_bf16.h", homes[i]);
        if (is_file(p)) {
            snprintf(g_nv.include_dir, sizeof g_nv.include_dir, "%.490s/include", homes[i]);
            return;
        }
    }
    /* ../include beside the library (toolkit layout lib64/ + include/) */
    char dir[512];
    snprintf(dir, sizeof dir, "%s", g_nv.lib_path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        snprintf(p, sizeof p, "%s/../include/cuda_bf16.h", dir);
        if (is_file(p))
            snprintf(g_nv.include_dir, sizeof g_nv.include_dir, "%.490s/../include", dir);
    }
}

static void load(void)
{
    char tried[1024] = "";
    void *h = NULL;
    const char *env = getenv("WANRT_NVRTC");
    if (env && *env) {
        h = try_open(env, tried, sizeof tried);
    } else {
        const char *names[] = {"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"};
        for (size_t i = 0; !h && i < sizeof names / sizeof names[0]; i++)
            h = try_open(names[i], tried, sizeof tried);
        const char *homes[2] = {getenv("CUDA_HOME"), "/usr/local/cuda"};
        char p[512];
        for (int i = 0; !h && i < 2; i++) {
            if (!homes[i] || !*homes[i])
                continue;
            snprintf(p, sizeof p, "%s/lib64/libnvrtc.so", homes[i]);
            h = try_open(p, tried, sizeof tried);
        }
    }
    if (!h) {
        g_status = WR_E_JIT;
        snprintf(g_msg, sizeof g_msg, "NVRTC not found (tried %.900s); install the CUDA toolkit or set WANRT_NVRTC",
                 tried);
        return;
    }
#define SYM(field, name)                                                                \
    do {                                                                                \
        *(void **)&g_nv.field = dlsym(h, name);                                         \
        if (!g_nv.field) {                                                              \
            g_status = WR_E_JIT;                                                        \
            snprintf(g_msg, sizeof g_msg, "%s: symbol %s missing", g_nv.lib_path, name); \
            return;                                                                     \
        }                                                                               \
    } while (0)
    SYM(GetErrorString, "nvrtcGetErrorString");
    SYM(CreateProgram, "nvrtcCreateProgram");
    SYM(DestroyProgram, "nvrtcDestroyProgram");
    SYM(CompileProgram, "nvrtcCompileProgram");
    SYM(GetProgramLogSize, "nvrtcGetProgramLogSize");
    SYM(GetProgramLog, "nvrtcGetProgramLog");
    SYM(GetCUBINSize, "nvrtcGetCUBINSize");
    SYM(GetCUBIN, "nvrtcGetCUBIN");
#undef SYM
    int (*version)(int *, int *);
    *(void **)&version = dlsym(h, "nvrtcVersion");
    if (!version || version(&g_nv.major, &g_nv.minor) != 0) {
        g_status = WR_E_JIT;
        snprintf(g_msg, sizeof g_msg, "%s: nvrtcVersion failed", g_nv.lib_path);
        return;
    }
    find_include();
    if (!g_nv.include_dir[0]) {
        g_status = WR_E_JIT;
        snprintf(g_msg, sizeof g_msg,
                 "%s: the CUDA headers (cuda_bf16.h) were not found in $CUDA_HOME/include, "
                 "/usr/local/cuda/include or beside the library; set CUDA_HOME",
                 g_nv.lib_path);
    }
}

wr_status wr_nvrtc_get(const wr_nvrtc **out)
{
    pthread_once(&g_once, load);
    if (g_status != WR_OK)
        return wr_fail(g_status, "%s", g_msg);
    *out = &g_nv;
    return WR_OK;
}
