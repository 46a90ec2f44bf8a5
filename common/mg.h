/*
 * common/mg.h - small helpers shared by every mugai program: leveled
 * logging to stderr or syslog, whole-buffer I/O, and checked formatting.
 */
#ifndef MG_H
#define MG_H

#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct _GString GString; /* GLib's */

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
/* Read one little-endian 32-bit integer (mg_read_full). 0 or -1. */
int mg_read_u32le(int fd, uint32_t *v);
/* A directory stream over its own copy of the descriptor dir (which stays the caller's);
 * closedir() frees it. NULL with errno. */
DIR *mg_dir_dup(int dir);
/* The file URL of the absolute path (bytes other than letters, digits and "/-._~" as %XX),
 * as LibreOffice takes a location, into out (size bytes). 0, or -1 (errno ENAMETOOLONG). */
int mg_file_url(char *out, size_t size, const char *path);
/* A new anonymous 0600 read-write file in dir, close-on-exec: O_TMPFILE, or where the file
 * system has none, a named file removed at once. -1 with errno on error. */
int mg_tmp_file(const char *dir);
/* Read up to max bytes until end of file; *out is NUL-terminated, caller frees with free().
 * Returns 0, or -1 on error or when the input exceeds max (errno EFBIG). */
int mg_read_all(int fd, size_t max, char **out, size_t *len);
/* snprintf that returns -1 on truncation or error instead of a length. */
int mg_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Monotonic clock in seconds. */
double mg_now(void);
/* Lower-case hex SHA-256 of a file's content into out[65]. 0 or -1. */
int mg_sha256_fd(int fd, char out[65]);
/* Remove dir and everything under it, children first, following no symbolic link; an entry
 * that cannot be removed is logged (a warning naming it) and skipped. */
void mg_remove_tree(const char *dir);

/* Non-zero for a code point never shown in a name or in displayed header text: C0 and C1
 * controls, format characters (bidirectional controls U+061C, U+200E, U+200F, U+202A-U+202E,
 * U+2066-U+2069; invisible ones such as U+200B, U+2060, U+FEFF; tag characters
 * U+E0000-U+E007F) except ZWNJ and ZWJ, line and paragraph separators, surrogates and
 * noncharacters. */
int mg_uchar_unsafe(uint32_t c);
/* s (len bytes, or up to its NUL when len < 0) as UTF-8 without the characters
 * mg_uchar_unsafe names, each invalid byte replaced by U+FFFD. The one filter for file
 * names, archive member names, decoded header values and the notice. Never NULL; caller
 * frees with g_free. */
char *mg_utf8_safe(const char *s, ssize_t len);
/* The same filter on s (n bytes) into a new GString; with blanks, TAB, CR and LF become a
 * space instead of being dropped (header text). Caller frees with g_string_free. */
GString *mg_utf8_filter(const char *s, size_t n, int blanks);

/* The canonical name ("UTF-8", "US-ASCII", "ISO-8859-1", "CP1252", "CP932", "EUC-JP",
 * "EUC-JP-MS", "ISO-2022-JP", "ISO-2022-JP-2", "ISO-2022-JP-3") of a charset label, compared
 * without case, spaces and quotes; Shift_JIS labels name CP932. NULL when the label names no
 * charset the trusted side converts. The result is static. */
const char *mg_charset_canonical(const char *label);
/* Copy a charset label from mail without spaces and quotes into buf (size bytes); -1 when
 * it is empty, too long or holds anything but letters, digits and - _ . : ( ). */
int mg_charset_label_clean(const char *label, char *buf, size_t size);

/* CSV or TSV text (UTF-8, len bytes) read with delimiter in_delim and written again with
 * out_delim, every cell starting with = + - @ TAB or CR prefixed with a single quote (inside
 * its quotes), quoting kept valid. Idempotent. NULL only on a NULL or oversized input;
 * caller frees with g_free. */
char *mg_csv_neutralize(const char *s, size_t len, char in_delim, char out_delim);
/* The delimiter the first record of s uses: tab when it has more tabs than commas outside
 * quotes, else comma. For a reader that is not told which one the file uses. */
char mg_csv_guess_delimiter(const char *s, size_t len);

/* secret.c: one line of at most max bytes (max <= 1024) from f, without its line end; NULL
 * at end of input or when longer. Caller wipes and frees it (g_free). */
char *mg_read_secret_line(FILE *f, size_t max);
/* Print prompt on stderr and read one line from the terminal on stdin without echo, as
 * mg_read_secret_line. NULL when stdin is no terminal or at end of input. */
char *mg_prompt_secret(const char *prompt, size_t max);

#endif
