/* The kernel cache and the NVRTC compiler (contract in jit.h; the emulator's compiler is in
 * jit_emu.c).
 *
 * Key = hash of (compiler id, compiler version, arch, kernel file, sorted defines, the bytes of
 * the kernel file and of every header). NVRTC gets every header as a named header so #include works
 * without a filesystem. Every write goes to a unique temporary name and is renamed into place. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/gpu/jit.h"
#include "runtime/gpu/jit_internal.h"
#include "runtime/gpu/nvrtc.h"

wr_jit_stats wr_jit_g_stats;

wr_jit_stats wr_jit_get_stats(void)
{
    wr_jit_stats s;
    s.compiled = __atomic_load_n(&wr_jit_g_stats.compiled, __ATOMIC_RELAXED);
    s.cached = __atomic_load_n(&wr_jit_g_stats.cached, __ATOMIC_RELAXED);
    return s;
}

/* ---- hashing: two 64-bit FNV-1a streams with different bases, printed as 32 hex digits ------ */


void wr_jit_hash_init(wr_jit_hasher *h)
{
    h->a = 0xcbf29ce484222325ull;
    h->b = 0x84222325cbf29ce4ull;
}

void wr_jit_hash_bytes(wr_jit_hasher *h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h->a = (h->a ^ s[i]) * 0x100000001b3ull;
        h->b = (h->b ^ s[i]) * 0x100000001b3ull;
        h->b ^= h->b >> 29;
    }
}

void wr_jit_hash_str(wr_jit_hasher *h, const char *s)
{
    wr_jit_hash_bytes(h, s, strlen(s) + 1); /* the NUL separates fields */
}

void wr_jit_hash_hex(const wr_jit_hasher *h, char out[33])
{
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h->a, (unsigned long long)h->b);
}

/* Path and bytes of the kernel file `only` and of every header (all sources when only is NULL):
 * editing one .cu file leaves the other files' modules cached. NVRTC never sees the emulator's
 * headers (kernels/emu/, runtime/), so `device` leaves them out. */
wr_status wr_jit_hash_sources(wr_jit_hasher *h, const char *only, bool device)
{
    int n = wr_jit_source_count();
    for (int i = 0; i < n; i++) {
        const char *b, *p = wr_jit_source_path(i);
        size_t sz, pl = strlen(p);
        if (only && pl > 3 && strcmp(p + pl - 3, ".cu") == 0 && strcmp(p, only) != 0)
            continue;
        if (device && (strncmp(p, "kernels/emu/", 12) == 0 || strncmp(p, "kernels/", 8) != 0))
            continue;
        WR_TRY(wr_jit_source(p, &b, &sz));
        wr_jit_hash_str(h, wr_jit_source_path(i));
        wr_jit_hash_bytes(h, &sz, sizeof sz);
        wr_jit_hash_bytes(h, b, sz);
    }
    return WR_OK;
}

void wr_jit_hash_spec(wr_jit_hasher *h, const wr_kspec *s, int arch)
{
    wr_jit_hash_str(h, s->file);
    wr_jit_hash_bytes(h, &arch, sizeof arch);
    for (int i = 0; i < s->n_defines; i++) {
        wr_jit_hash_str(h, s->defines[i].name);
        wr_jit_hash_str(h, s->defines[i].value);
    }
}

/* ---- cache folder and atomic files --------------------------------------------------------- */

int wr_jit_mkdir_p(const char *path)
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
    if (wr_jit_mkdir_p(buf) != 0)
        return wr_fail(WR_E_IO, "kernel cache folder %s: cannot create: %s", buf, strerror(errno));
    return WR_OK;
}

char *wr_jit_slurp(const char *path, size_t *size)
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
wr_status wr_jit_write_atomic(const char *path, const void *bytes, size_t size)
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

bool wr_jit_exists(const char *path)
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
    wr_jit_hasher h;
    wr_jit_hash_init(&h);
    wr_jit_hash_str(&h, "nvrtc-cubin-1");
    wr_jit_hash_bytes(&h, &nv->major, sizeof nv->major);
    wr_jit_hash_bytes(&h, &nv->minor, sizeof nv->minor);
    wr_jit_hash_spec(&h, spec, arch);
    WR_TRY(wr_jit_hash_sources(&h, spec->file, true));
    char key[33], dir[1024], path[1100], info_path[1100];
    wr_jit_hash_hex(&h, key);
    WR_TRY(wr_jit_cache_dir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/%s.cubin", dir, key);
    snprintf(info_path, sizeof info_path, "%s/%s.info", dir, key);
    *cubin = wr_jit_slurp(path, size);
    if (*cubin) {
        *info = wr_jit_slurp(info_path, NULL);
        if (*info) {
            __atomic_fetch_add(&wr_jit_g_stats.cached, 1, __ATOMIC_RELAXED);
            return WR_OK;
        }
        free(*cubin);
    }
    char *bin = NULL;
    WR_TRY(nvrtc_compile(nv, spec, arch, &bin, size, info));
    /* the info is written first: a cubin without its report is never taken from the cache */
    wr_status st = wr_jit_write_atomic(info_path, *info, strlen(*info));
    if (st == WR_OK)
        st = wr_jit_write_atomic(path, bin, *size);
    if (st != WR_OK) {
        free(bin);
        free(*info);
        return st;
    }
    *cubin = bin;
    __atomic_fetch_add(&wr_jit_g_stats.compiled, 1, __ATOMIC_RELAXED);
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

