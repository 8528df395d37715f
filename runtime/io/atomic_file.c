/* Temporary names and the final rename for atomic outputs (see atomic_file.h). */
#include "runtime/io/atomic_file.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_int tmp_counter;

wr_status wr_atomic_tmp_name(const char *path, char *tmp, size_t len)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    const char *ext = dot && dot != base ? dot : "";
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    int base_len = (int)(strlen(base) - strlen(ext));
    int n = snprintf(tmp, len, "%.*s.%.*s.tmp-%d-%d%s", dir_len, path, base_len, base, (int)getpid(),
                     atomic_fetch_add(&tmp_counter, 1), ext);
    if (n < 0 || (size_t)n >= len)
        return wr_fail(WR_E_ARG, "%s: output path too long", path);
    return WR_OK;
}

wr_status wr_atomic_commit(const char *tmp, const char *path)
{
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return wr_fail(WR_E_IO, "%s: cannot rename the finished temporary %s into place: %s", path,
                       tmp, strerror(e));
    }
    return WR_OK;
}

void wr_atomic_abandon(const char *tmp) { unlink(tmp); }
