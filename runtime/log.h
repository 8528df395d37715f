/* Levelled logging to stderr. WANRT_LOG=error|warn|info|debug sets the level (default info). */
#ifndef WR_LOG_H
#define WR_LOG_H

typedef enum wr_log_level {
    WR_LOG_ERROR,
    WR_LOG_WARN,
    WR_LOG_INFO,
    WR_LOG_DEBUG,
    WR_LOG_LEVEL_COUNT
} wr_log_level;

void wr_log_set_level(wr_log_level level);
wr_log_level wr_log_get_level(void);
void wr_log(wr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define wr_log_error(...) wr_log(WR_LOG_ERROR, __VA_ARGS__)
#define wr_log_warn(...) wr_log(WR_LOG_WARN, __VA_ARGS__)
#define wr_log_info(...) wr_log(WR_LOG_INFO, __VA_ARGS__)
#define wr_log_debug(...) wr_log(WR_LOG_DEBUG, __VA_ARGS__)

#endif
