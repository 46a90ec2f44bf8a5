/*
 * common/mg.h - small helpers shared by every mugai program: leveled
 * logging to stderr or syslog, whole-buffer I/O, and checked formatting.
 */
#ifndef MG_H
#define MG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum {
    MG_LOG_DEBUG,
    MG_LOG_INFO,
    MG_LOG_WARNING,
    MG_LOG_ERROR,
    MG_LOG_FATAL,
    MG_LOG_PANIC
} mg_log_level;

/* Set the program name, destination (syslog when use_syslog) and threshold. */
void mg_log_init(const char *prog, int use_syslog, mg_log_level min);
/* Parse "debug", "info", "warning", "error"; -1 when unknown. */
int mg_log_level_parse(const char *name);
/* Non-zero when a message at this level would be written. */
int mg_log_enabled(mg_log_level level);
void mg_log(mg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define mg_debug(...) mg_log(MG_LOG_DEBUG, __VA_ARGS__)
#define mg_info(...) mg_log(MG_LOG_INFO, __VA_ARGS__)
#define mg_warn(...) mg_log(MG_LOG_WARNING, __VA_ARGS__)
#define mg_error(...) mg_log(MG_LOG_ERROR, __VA_ARGS__)
/* Log and exit(1). */
void mg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A broken invariant: log and abort(). */
void mg_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Write all len bytes, retrying on EINTR and short writes. 0 or -1. */
int mg_write_all(int fd, const void *buf, size_t len);
/* Read exactly len bytes. 0 on success, -1 on error or early end of file. */
int mg_read_full(int fd, void *buf, size_t len);
/* Read up to max bytes until end of file; *out is NUL-terminated, caller frees with free().
 * Returns 0, or -1 on error or when the input exceeds max (errno EFBIG). */
int mg_read_all(int fd, size_t max, char **out, size_t *len);
/* snprintf that returns -1 on truncation or error instead of a length. */
int mg_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Monotonic clock in seconds. */
double mg_now(void);
/* Lower-case hex SHA-256 of a file's content into out[65]. 0 or -1. */
int mg_sha256_fd(int fd, char out[65]);

#endif
