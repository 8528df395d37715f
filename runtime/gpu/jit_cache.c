/* The two kernel compilers and their shared disk cache (contract in jit.h).
 *
 * Key = hash of (compiler id, compiler version, arch, kernel file, sorted defines, the bytes of
 * the kernel file and of every header). NVRTC gets every header as a named header so #include works
 * without a filesystem; the emulator's compiler gets them as a folder written once per source set
 * under the cache. Every write goes to a unique temporary name and is renamed into place. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernels/emu/emu_abi.h"
#include "runtime/gpu/jit.h"
#include "runtime/gpu/jit_internal.h"
#include "runtime/gpu/nvrtc.h"
#include "runtime/log.h"

extern char **environ;

static wr_jit_stats g_stats;

wr_jit_stats wr_jit_get_stats(void)
{
    wr_jit_stats s;
    s.compiled = __atomic_load_n(&g_stats.compiled, __ATOMIC_RELAXED);
    s.cached = __atomic_load_n(&g_stats.cached, __ATOMIC_RELAXED);
    return s;
}

/* ---- hashing: two 64-bit FNV-1a streams with different bases, printed as 32 hex digits ------ */

typedef struct hasher {
    uint64_t a, b;
} hasher;

static void h_init(hasher *h)
{
    h->a = 0xcbf29ce484222325ull;
    h->b = 0x84222325cbf29ce4ull;
}

static void h_bytes(hasher *h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h->a = (h->a ^ s[i]) * 0x100000001b3ull;
        h->b = (h->b ^ s[i]) * 0x100000001b3ull;
        h->b ^= h->b >> 29;
    }
}

static void h_str(hasher *h, const char *s)
{
    h_bytes(h, s, strlen(s) + 1); /* the NUL separates fields */
}

static void h_hex(const hasher *h, char out[33])
{
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h->a, (unsigned long long)h->b);
}

/* Path and bytes of the kernel file `only` and of every header (all sources when only is NULL):
 * editing one .cu file leaves the other files' modules cached. */
static wr_status h_sources(hasher *h, const char *only)
{
    int n = wr_jit_source_count();
    for (int i = 0; i < n; i++) {
        const char *b, *p = wr_jit_source_path(i);
        size_t sz, pl = strlen(p);
        if (only && pl > 3 && strcmp(p + pl - 3, ".cu") == 0 && strcmp(p, only) != 0)
            continue;
        WR_TRY(wr_jit_source(p, &b, &sz));
        h_str(h, wr_jit_source_path(i));
        h_bytes(h, &sz, sizeof sz);
        h_bytes(h, b, sz);
    }
    return WR_OK;
}

static void h_spec(hasher *h, const wr_kspec *s, int arch)
{
    h_str(h, s->file);
    h_bytes(h, &arch, sizeof arch);
    for (int i = 0; i < s->n_defines; i++) {
        h_str(h, s->defines[i].name);
        h_str(h, s->defines[i].value);
    }
}

/* ---- cache folder and atomic files --------------------------------------------------------- */

static int mkdir_p(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

wr_status wr_jit_cache_dir(char *buf, size_t len)
{
    const char *dir = getenv("WANRT_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (dir && *dir)
        snprintf(buf, len, "%s", dir);
    else if (xdg && *xdg)
        snprintf(buf, len, "%s/wanrt/kernels", xdg);
    else if (home && *home)
        snprintf(buf, len, "%s/.cache/wanrt/kernels", home);
    else
        snprintf(buf, len, "/tmp/wanrt-kernels-%d", (int)getuid());
    if (mkdir_p(buf) != 0)
        return wr_fail(WR_E_IO, "kernel cache folder %s: cannot create: %s", buf, strerror(errno));
    return WR_OK;
}

static char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = 0;
            if (size)
                *size = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

/* Writes bytes to path through a unique temporary name and rename (readers never see a partial
 * file; concurrent writers of the same key write identical bytes). */
static wr_status write_atomic(const char *path, const void *bytes, size_t size)
{
    char tmp[1100];
    static unsigned counter;
    snprintf(tmp, sizeof tmp, "%s.%d.%u.tmp", path, (int)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return wr_fail(WR_E_IO, "kernel cache %s: cannot create: %s", tmp, strerror(errno));
    size_t w = fwrite(bytes, 1, size, f);
    int closed = fclose(f);
    if (w != size || closed != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return wr_fail(WR_E_IO, "kernel cache %s: write failed: %s", path, strerror(e));
    }
    return WR_OK;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- NVRTC -> cubin ------------------------------------------------------------------------ */

static wr_status nvrtc_compile(const wr_nvrtc *nv, const wr_kspec *spec, int arch, char **cubin, size_t *size,
                               char **info)
{
    const char *src;
    size_t src_size;
    WR_TRY(wr_jit_source(spec->file, &src, &src_size));
    int n = wr_jit_source_count();
    const char **hdr = calloc((size_t)n + 1, sizeof *hdr), **hdr_names = calloc((size_t)n + 1, sizeof *hdr_names);
    char (*opt_buf)[600] = calloc(WR_KSPEC_MAX_DEFINES + 8, sizeof *opt_buf);
    const char *opts[WR_KSPEC_MAX_DEFINES + 8];
    wr_nvrtc_program prog = NULL;
    char *log = NULL;
    wr_status st = WR_OK;
    if (!hdr || !hdr_names || !opt_buf) {
        st = wr_fail(WR_E_OOM, "%s: out of memory", spec->file);
        goto fail;
    }
    int nh = 0;
    for (int i = 0; i < n; i++) {
        const char *p = wr_jit_source_path(i);
        size_t pl = strlen(p);
        if (pl > 3 && strcmp(p + pl - 3, ".cu") == 0)
            continue;
        size_t sz;
        WR_TRY_GOTO(wr_jit_source(p, &hdr[nh], &sz));
        hdr_names[nh++] = p;
    }
    int no = 0;
    snprintf(opt_buf[no], 600, "-arch=sm_%d", arch), no++;
    snprintf(opt_buf[no], 600, "-std=c++17"), no++;
    snprintf(opt_buf[no], 600, "-Xptxas=-v"), no++;
    snprintf(opt_buf[no], 600, "-lineinfo"), no++;
    snprintf(opt_buf[no], 600, "-I%s", nv->include_dir), no++;
    for (int i = 0; i < spec->n_defines; i++)
        snprintf(opt_buf[no], 600, "-D%s=%s", spec->defines[i].name, spec->defines[i].value), no++;
    for (int i = 0; i < no; i++)
        opts[i] = opt_buf[i];

    WR_NVRTC_TRY(nv, nv->CreateProgram(&prog, src, spec->file, nh, hdr, hdr_names));
    int r = nv->CompileProgram(prog, no, opts);
    size_t log_size = 0;
    nv->GetProgramLogSize(prog, &log_size);
    log = malloc(log_size + 1);
    if (!log) {
        st = wr_fail(WR_E_OOM, "%s: out of memory", spec->file);
        goto fail;
    }
    log[0] = 0;
    if (log_size)
        nv->GetProgramLog(prog, log);
    log[log_size] = 0;
    if (r != 0) {
        char what[1024];
        wr_kspec_str(spec, what, sizeof what);
        st = wr_fail(WR_E_JIT, "NVRTC failed to compile %s for sm_%d (%s); defines and log:\n%s", what, arch,
                     nv->GetErrorString(r), log);
        goto fail;
    }
    WR_NVRTC_TRY(nv, nv->GetCUBINSize(prog, size));
    *cubin = malloc(*size ? *size : 1);
    if (!*cubin) {
        st = wr_fail(WR_E_OOM, "%s: out of memory", spec->file);
        goto fail;
    }
    WR_NVRTC_TRY(nv, nv->GetCUBIN(prog, *cubin));
    *info = log;
    log = NULL;
fail:
    if (prog)
        nv->DestroyProgram(&prog);
    free(log);
    free(hdr);
    free(hdr_names);
    free(opt_buf);
    return st;
}

wr_status wr_jit_cubin(const wr_kspec *spec, int arch, void **cubin, size_t *size, char **info)
{
    const wr_nvrtc *nv;
    WR_TRY(wr_nvrtc_get(&nv));
    if (arch == 0)
        arch = spec->arch;
    if (arch < 50 || arch > 200)
        return wr_fail(WR_E_ARG, "%s: no valid target arch (%d)", spec->file, arch);
    hasher h;
    h_init(&h);
    h_str(&h, "nvrtc-cubin-1");
    h_bytes(&h, &nv->major, sizeof nv->major);
    h_bytes(&h, &nv->minor, sizeof nv->minor);
    h_spec(&h, spec, arch);
    WR_TRY(h_sources(&h, spec->file));
    char key[33], dir[1024], path[1100], info_path[1100];
    h_hex(&h, key);
    WR_TRY(wr_jit_cache_dir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/%s.cubin", dir, key);
    snprintf(info_path, sizeof info_path, "%s/%s.info", dir, key);
    *cubin = slurp(path, size);
    if (*cubin) {
        *info = slurp(info_path, NULL);
        if (*info) {
            __atomic_fetch_add(&g_stats.cached, 1, __ATOMIC_RELAXED);
            return WR_OK;
        }
        free(*cubin);
    }
    char *bin = NULL;
    WR_TRY(nvrtc_compile(nv, spec, arch, &bin, size, info));
    /* the info is written first: a cubin without its report is never taken from the cache */
    wr_status st = write_atomic(info_path, *info, strlen(*info));
    if (st == WR_OK)
        st = write_atomic(path, bin, *size);
    if (st != WR_OK) {
        free(bin);
        free(*info);
        return st;
    }
    *cubin = bin;
    __atomic_fetch_add(&g_stats.compiled, 1, __ATOMIC_RELAXED);
    return WR_OK;
}

bool wr_jit_parse_resources(const char *info, const char *entry, wr_kresources *out)
{
    memset(out, 0, sizeof *out);
    char needle[128];
    snprintf(needle, sizeof needle, "Function properties for %s\n", entry);
    const char *p = info ? strstr(info, needle) : NULL;
    if (!p)
        return false;
    p += strlen(needle);
    const char *s = strstr(p, "bytes stack frame");
    /* "ptxas . 256 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads" */
    if (s) {
        const char *b = s;
        while (b > p && b[-1] == ' ')
            b--;
        while (b > p && b[-1] >= '0' && b[-1] <= '9')
            b--;
        out->stack = atoi(b);
    }
    const char *ss = strstr(p, "bytes spill stores");
    if (ss) {
        const char *b = ss;
        while (b > p && b[-1] == ' ')
            b--;
        while (b > p && b[-1] >= '0' && b[-1] <= '9')
            b--;
        out->spill_stores = atoi(b);
        const char *c = strchr(ss, ',');
        if (c)
            out->spill_loads = atoi(c + 1);
    }
    const char *u = strstr(p, "Used ");
    if (u)
        out->registers = atoi(u + 5);
    const char *end = u ? strchr(u, '\n') : NULL;
    const char *sm = u ? strstr(u, "bytes smem") : NULL;
    if (sm && (!end || sm < end)) {
        const char *b = sm;
        while (b > u && b[-1] == ' ')
            b--;
        while (b > u && b[-1] >= '0' && b[-1] <= '9')
            b--;
        out->smem = atoi(b);
    }
    return true;
}

/* ---- host C++ compiler -> emulator module ------------------------------------------------- */

static const char *cxx(void)
{
    const char *c = getenv("WANRT_CXX");
    return c && *c ? c : "c++";
}

static char g_cxx_version[256];
static pthread_once_t g_cxx_once = PTHREAD_ONCE_INIT;

static void read_cxx_version(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s --version 2>/dev/null", cxx());
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    if (!fgets(g_cxx_version, sizeof g_cxx_version, p))
        g_cxx_version[0] = 0;
    pclose(p);
}

/* Writes every kernel source under dir/emu-src-<hash of the sources>/ once (the emulator's
 * compiler reads headers from a folder). */
static wr_status emu_source_tree(const char *dir, char *out, size_t len)
{
    hasher h;
    h_init(&h);
    WR_TRY(h_sources(&h, NULL));
    char key[33];
    h_hex(&h, key);
    snprintf(out, len, "%s/emu-src-%s", dir, key);
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/kernels/emu/emu.h", out);
    if (exists(probe))
        return WR_OK;
    /* files are written atomically one by one, emu.h last, so a complete tree is recognised by it */
    int n = wr_jit_source_count();
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            const char *p = wr_jit_source_path(i);
            bool is_probe = strcmp(p, "kernels/emu/emu.h") == 0;
            if (is_probe != (pass == 1))
                continue;
            char path[1200];
            snprintf(path, sizeof path, "%s/%s", out, p);
            char *slash = strrchr(path, '/');
            *slash = 0;
            if (mkdir_p(path) != 0)
                return wr_fail(WR_E_IO, "kernel cache %s: cannot create: %s", path, strerror(errno));
            *slash = '/';
            const char *b;
            size_t sz;
            WR_TRY(wr_jit_source(p, &b, &sz));
            WR_TRY(write_atomic(path, b, sz));
        }
    return WR_OK;
}

/* The translation unit the emulator compiles: the kernel file, definitions for its
 * `extern __shared__` arrays, and one trampoline per entry point. */
static wr_status emu_wrapper(const wr_kspec *spec, char **out)
{
    const char *src;
    size_t size;
    WR_TRY(wr_jit_source(spec->file, &src, &size));
    char names[64][WR_KSPEC_NAME];
    int n = 0;
    WR_TRY(wr_jit_entries(spec->file, names, 64, &n));
    size_t cap = 4096 + (size_t)n * 512;
    char *w = malloc(cap);
    char *text = wr_jit_strip_comments(src);
    if (!w) {
        free(text);
        return wr_fail(WR_E_OOM, "%s: out of memory", spec->file);
    }
    size_t o = (size_t)snprintf(w, cap, "/* generated by runtime/gpu/jit_cache.c */\n#include \"%s\"\n", spec->file);
    char fill[2048] = "";
    size_t fo = 0;
    char seen[8][WR_KSPEC_NAME];
    int n_seen = 0;
    /* extern __shared__ <type> <name>[]; -> a thread_local definition WR_EMU_MAX_DYN_SMEM elements long */
    for (const char *p = strstr(text, "extern __shared__"); p; p = strstr(p + 1, "extern __shared__")) {
        const char *t = p + strlen("extern __shared__");
        const char *br = strchr(t, '[');
        const char *semi = strchr(t, ';');
        if (!br || (semi && semi < br))
            continue;
        const char *e = br;
        while (e > t && e[-1] == ' ')
            e--;
        const char *b = e;
        while (b > t && (b[-1] == '_' || (b[-1] >= '0' && b[-1] <= '9') || (b[-1] >= 'a' && b[-1] <= 'z') ||
                         (b[-1] >= 'A' && b[-1] <= 'Z')))
            b--;
        char name[WR_KSPEC_NAME], type[128];
        snprintf(name, sizeof name, "%.*s", (int)(e - b), b);
        snprintf(type, sizeof type, "%.*s", (int)(b - t), t);
        bool dup = false;
        for (int i = 0; i < n_seen; i++)
            dup |= strcmp(seen[i], name) == 0;
        if (dup || !name[0] || n_seen == 8)
            continue;
        snprintf(seen[n_seen++], WR_KSPEC_NAME, "%s", name);
        o += (size_t)snprintf(w + o, cap - o, "__shared__ %s %s[WR_EMU_MAX_DYN_SMEM];\n", type, name);
        fo += (size_t)snprintf(fill + fo, sizeof fill - fo, " memset(%s, b, sizeof %s);", name, name);
    }
    o += (size_t)snprintf(w + o, cap - o, "extern \"C\" void wr_emu_fill_dyn_smem(int b) { (void)b;%s }\n", fill);
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(w + o, cap - o,
                              "extern \"C\" void wr_emu_entry_%s(void **args) { wr_emu::invoke(%s, args); }\n"
                              "extern \"C\" int wr_emu_args_%s(unsigned long *s, int max) "
                              "{ return wr_emu::arg_sizes(%s, s, max); }\n",
                              names[i], names[i], names[i], names[i]);
    free(text);
    *out = w;
    return WR_OK;
}

static wr_status run_compiler(char *const argv[], const char *log_path)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 2, 1);
    pid_t pid;
    int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0)
        return wr_fail(WR_E_JIT, "emulator: cannot run the C++ compiler '%s': %s (set WANRT_CXX)", argv[0],
                       strerror(r));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return wr_fail(WR_E_JIT, "emulator: waitpid for '%s': %s", argv[0], strerror(errno));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? WR_OK : WR_E_JIT;
}

wr_status wr_jit_emu(const wr_kspec *spec, int arch, char *so_path, size_t len)
{
    if (arch == 0)
        arch = spec->arch;
    pthread_once(&g_cxx_once, read_cxx_version);
    hasher h;
    h_init(&h);
    h_str(&h, "emu-so-1");
    h_str(&h, cxx());
    h_str(&h, g_cxx_version);
    int abi = WR_EMU_ABI_VERSION;
    h_bytes(&h, &abi, sizeof abi);
    h_spec(&h, spec, arch);
    WR_TRY(h_sources(&h, spec->file));
    char key[33], dir[1024];
    h_hex(&h, key);
    WR_TRY(wr_jit_cache_dir(dir, sizeof dir));
    snprintf(so_path, len, "%s/%s.so", dir, key);
    if (exists(so_path)) {
        __atomic_fetch_add(&g_stats.cached, 1, __ATOMIC_RELAXED);
        return WR_OK;
    }
    char srcdir[1100];
    WR_TRY(emu_source_tree(dir, srcdir, sizeof srcdir));
    char *wrapper = NULL;
    WR_TRY(emu_wrapper(spec, &wrapper));
    char cpp[1200], tmp_so[1200], log_path[1200], inc[1200], emu_h[1200], arch_def[64];
    snprintf(cpp, sizeof cpp, "%s/%s.%d.cpp", dir, key, (int)getpid());
    snprintf(tmp_so, sizeof tmp_so, "%s/%s.%d.so.tmp", dir, key, (int)getpid());
    snprintf(log_path, sizeof log_path, "%s/%s.%d.log", dir, key, (int)getpid());
    snprintf(inc, sizeof inc, "-I%s", srcdir);
    snprintf(emu_h, sizeof emu_h, "%s/kernels/emu/emu.h", srcdir);
    snprintf(arch_def, sizeof arch_def, "-D__CUDA_ARCH__=%d", arch * 10);
    wr_status st = write_atomic(cpp, wrapper, strlen(wrapper));
    free(wrapper);
    if (st != WR_OK)
        return st;
    char def_buf[WR_KSPEC_MAX_DEFINES][128];
    char *argv[WR_KSPEC_MAX_DEFINES + 24];
    int a = 0;
    argv[a++] = (char *)cxx();
    argv[a++] = "-std=c++17";
    argv[a++] = "-O1";
    argv[a++] = "-fPIC";
    argv[a++] = "-shared";
    argv[a++] = "-Wno-unknown-pragmas";
    argv[a++] = arch_def;
    for (int i = 0; i < spec->n_defines; i++) {
        snprintf(def_buf[i], sizeof def_buf[i], "-D%s=%s", spec->defines[i].name, spec->defines[i].value);
        argv[a++] = def_buf[i];
    }
    argv[a++] = inc;
    argv[a++] = "-include";
    argv[a++] = emu_h;
    argv[a++] = cpp;
    argv[a++] = "-o";
    argv[a++] = tmp_so;
    argv[a] = NULL;
    char what[1024];
    wr_kspec_str(spec, what, sizeof what);
    wr_log_debug("emu: compiling %s", what);
    st = run_compiler(argv, log_path);
    unlink(cpp);
    if (st != WR_OK) {
        char *log = slurp(log_path, NULL);
        unlink(log_path);
        unlink(tmp_so);
        size_t ll = log ? strlen(log) : 0;
        st = wr_fail(WR_E_JIT, "emulator: %s failed to compile %s for sm_%d; log:\n%s", cxx(), what, arch,
                     log ? log + (ll > 6000 ? ll - 6000 : 0) : "(none)");
        free(log);
        return st;
    }
    unlink(log_path);
    if (rename(tmp_so, so_path) != 0) {
        int e = errno;
        unlink(tmp_so);
        return wr_fail(WR_E_IO, "kernel cache %s: rename failed: %s", so_path, strerror(e));
    }
    __atomic_fetch_add(&g_stats.compiled, 1, __ATOMIC_RELAXED);
    return WR_OK;
}
