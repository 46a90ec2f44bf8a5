/*
 * common/io.c - whole-buffer reads and writes, checked formatting, clocks
 * and hashing.
 *
 * Used by trusted and jailed processes alike; allocates only what callers
 * bound with an explicit maximum.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"

int mg_tmp_file(const char *dir)
{
    char path[4096];
    int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);

    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    if (mg_snprintf(path, sizeof(path), "%s/mugai-XXXXXX", dir) < 0)
        return errno = ENAMETOOLONG, -1;
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

int mg_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int mg_read_full(int fd, void *buf, size_t len)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* See mg.h. */
int mg_read_u32le(int fd, uint32_t *v)
{
    uint8_t b[4];

    if (mg_read_full(fd, b, 4) < 0)
        return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

DIR *mg_dir_dup(int dir)
{
    int fd = dup(dir);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);

    if (!d && fd >= 0) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return d;
}

/* Grow *buf so that it holds at least need bytes. 0 or -1. */
static int grow(char **buf, size_t *cap, size_t need)
{
    size_t ncap = *cap ? *cap : 65536;
    char *nbuf;

    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    if (ncap == *cap)
        return 0;
    nbuf = realloc(*buf, ncap);
    if (!nbuf)
        return -1;
    *buf = nbuf;
    *cap = ncap;
    return 0;
}

int mg_read_all(int fd, size_t max, char **out, size_t *len)
{
    char *buf = NULL;
    size_t cap = 0, used = 0;

    for (;;) {
        if (grow(&buf, &cap, used + 4097) < 0)
            goto fail;
        ssize_t n = read(fd, buf + used, cap - used - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > max) {
            errno = EFBIG;
            goto fail;
        }
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
    return 0;
fail:
    free(buf);
    return -1;
}

int mg_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size)
        return -1;
    return n;
}

double mg_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int mg_sha256_fd(int fd, char out[65])
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    unsigned char buf[65536];
    ssize_t n;
    off_t off = 0;

    while ((n = pread(fd, buf, sizeof(buf), off)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            g_checksum_free(ck);
            return -1;
        }
        g_checksum_update(ck, buf, (gssize)n);
        off += n;
    }
    g_strlcpy(out, g_checksum_get_string(ck), 65);
    g_checksum_free(ck);
    return 0;
}

/* nftw callback: remove one entry, children first. */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
        mg_warn("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

/* Remove a directory tree; see mg.h. */
void mg_remove_tree(const char *dir)
{
    if (dir[0] && nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        mg_warn("cannot remove %s: %s", dir, strerror(errno));
}

int mg_file_url(char *out, size_t size, const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    if (size < 8)
        return errno = ENAMETOOLONG, -1;
    memcpy(out, "file://", 7);
    n = 7;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("/-._~", *p) != NULL;
        if (n + (plain ? 1 : 3) >= size)
            return errno = ENAMETOOLONG, -1;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return 0;
}
