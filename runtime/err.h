/* Error reporting for everything that depends on input or environment (STYLE.md 9.3).
 *
 * A failing site calls wr_fail(status, fmt, ...): the message (which names the file and the
 * object) and the call site are stored in a thread-local slot and the status is returned, so
 * callers forward with WR_TRY. WR_ASSERT is for our own bugs only and aborts in every build. */
#ifndef WR_ERR_H
#define WR_ERR_H

#include <stdio.h>
#include <stdlib.h>

typedef enum wr_status {
    WR_OK = 0,
    WR_E_IO,          /* open/read/write/mmap failed */
    WR_E_FORMAT,      /* file contents malformed, truncated or inconsistent */
    WR_E_UNSUPPORTED, /* valid but not implemented (dtype, version, feature) */
    WR_E_OOM,         /* allocation failed or a size overflowed */
    WR_E_DEVICE,      /* CUDA driver / device error */
    WR_E_JIT,         /* NVRTC compile error */
    WR_E_ARG,         /* bad argument from the user (CLI value, shape, range) */
    WR_E_INTERRUPTED, /* stopped by the user (Ctrl-C) */
    WR_STATUS_COUNT
} wr_status;

const char *wr_status_name(wr_status s);

/* Records "file:line: message" in the thread-local error slot, returns status. */
#define wr_fail(status, ...) wr_fail_at(__FILE__, __LINE__, (status), __VA_ARGS__)
wr_status wr_fail_at(const char *file, int line, wr_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The last message recorded on this thread ("" when none). */
const char *wr_last_error(void);
/* Where it was recorded ("file:line"), for debug output. */
const char *wr_last_error_site(void);
void wr_clear_error(void);

#define WR_TRY(expr)                   \
    do {                               \
        wr_status wr_try_s_ = (expr);  \
        if (wr_try_s_ != WR_OK)        \
            return wr_try_s_;          \
    } while (0)

/* For functions with a `fail:` cleanup label and a `wr_status st` variable. */
#define WR_TRY_GOTO(expr)              \
    do {                               \
        st = (expr);                   \
        if (st != WR_OK)               \
            goto fail;                 \
    } while (0)

void wr_abort_at(const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));

#define WR_ASSERT(cond, ...)                                        \
    do {                                                            \
        if (!(cond))                                                \
            wr_abort_at(__FILE__, __LINE__, __func__, __VA_ARGS__); \
    } while (0)

#endif
