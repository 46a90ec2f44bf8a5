/*
 * sanitize/unlock7z.c - a 7z with AES opened in the jail's init ([ppap]).
 *
 * libarchive cannot decrypt 7z AES, so the jail's init (jail.c), already the
 * jail user inside the jail's namespaces, runs 7-Zip (7zz) once with an empty
 * password (an archive that passes that test is refused: any candidate would
 * seem to open it), then once per password candidate to test the archive, the
 * candidate on 7-Zip's standard input (never on its command line), then once
 * more to extract it with the one that opened it into the jail's work
 * directory, and writes what it extracted as an unencrypted zip to the
 * worker's output file. Towards the worker it then speaks as mugai-render's
 * unlock mode does (rnd.h: OPEN, DONE or FAIL), and the worker checks it as it
 * checks the renderer. It must never write a candidate anywhere but 7-Zip's
 * standard input, never follow a link or open anything but a regular file or
 * directory 7-Zip left, and never write past [archive] max_total_mb or
 * max_entries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <glib.h>

#include "mg.h"
#include "san_int.h"

/* Directories below the extraction directory the packing walks into, at most. */
#define PACK_DEPTH_MAX 32
#define PACK_BUF (64 * 1024)

/* The packing of the extracted tree into the zip. */
typedef struct pack {
    struct archive *w;
    uint64_t bytes, max_bytes;
    unsigned entries, max_entries;
    char *buf;
    char msg[RND_MAX_MSG];
    rnd_status st;
} pack;

/* Write a tag and n little-endian 32-bit values to fd. 0 or -1. */
static int frame(int fd, const char *tag, const uint32_t *v, size_t n)
{
    uint8_t b[16];

    memcpy(b, tag, 4);
    for (size_t i = 0; i < n && i < 3; i++)
        for (int k = 0; k < 4; k++)
            b[4 + i * 4 + k] = (uint8_t)(v[i] >> (8 * k));
    return mg_write_all(fd, b, 4 + 4 * (n < 3 ? n : 3));
}

/* End the stream with FAIL code msg (printable ASCII, as mugai-render sends it). */
static void fail(int fd, rnd_status code, const char *msg)
{
    uint32_t v[2] = {(uint32_t)code, (uint32_t)strlen(msg)};

    if (v[1] <= RND_MAX_MSG && frame(fd, RND_TAG_FAIL, v, 2) == 0)
        (void)mg_write_all(fd, msg, v[1]);
}

/* The candidates on fd (rnd.h), from its start; NULL-terminated, g_strfreev. NULL when the
 * file is not what jail_unlock writes. */
static char **keys_read(int fd, size_t *n)
{
    char magic[4];
    uint32_t count = 0, len = 0;

    if (lseek(fd, 0, SEEK_SET) < 0 || mg_read_full(fd, magic, 4) < 0 ||
        memcmp(magic, RND_KEYS_MAGIC, 4) != 0 || mg_read_u32le(fd, &count) < 0 ||
        count > RND_MAX_KEYS)
        return NULL;
    char **keys = g_new0(char *, (size_t)count + 1);
    for (uint32_t i = 0; i < count; i++) {
        if (mg_read_u32le(fd, &len) < 0 || len > RND_MAX_KEY_LEN ||
            mg_read_full(fd, keys[i] = g_malloc0((size_t)len + 1), len) < 0 ||
            memchr(keys[i], '\0', len)) {
            g_strfreev(keys);
            return NULL;
        }
    }
    *n = count;
    return keys;
}

/* Wipe and free the candidates. */
static void keys_free(char **keys)
{
    for (size_t i = 0; keys && keys[i]; i++)
        explicit_bzero(keys[i], strlen(keys[i]));
    g_strfreev(keys);
}

/* Add the regular file name in dir (its path in the zip: path) to the zip. */
static void pack_file(pack *p, int dir, const char *name, const char *path)
{
    struct stat st;
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct archive_entry *e = archive_entry_new();
    archive_entry_copy_pathname(e, path);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, st.st_mtime, 0);
    if (archive_write_header(p->w, e) != ARCHIVE_OK)
        p->st = RND_ERR_INTERNAL, g_strlcpy(p->msg, "cannot write the zip", sizeof p->msg);
    for (ssize_t k; p->st == RND_OK && (k = read(fd, p->buf, PACK_BUF)) != 0;) {
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 || archive_write_data(p->w, p->buf, (size_t)k) != k)
            p->st = RND_ERR_INTERNAL, g_strlcpy(p->msg, "cannot write the zip", sizeof p->msg);
        else if ((p->bytes += (uint64_t)k) > p->max_bytes)
            p->st = RND_ERR_LIMIT,
            g_snprintf(p->msg, sizeof p->msg, "the members expand past %llu bytes",
                       (unsigned long long)p->max_bytes);
    }
    archive_entry_free(e);
    close(fd);
}

/* Add what the directory dir (at path prefix in the zip, "" at the top) holds, depth levels
 * down. Links and special files are left out. */
static void pack_dir(pack *p, int dir, const char *prefix, unsigned depth)
{
    DIR *d = mg_dir_dup(dir);
    struct dirent *e;

    if (!d)
        return;
    while (p->st == RND_OK && (e = readdir(d)) != NULL) {
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            fstatat(dir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        char *path = prefix[0] ? g_strdup_printf("%s/%s", prefix, e->d_name) : g_strdup(e->d_name);
        if (++p->entries > p->max_entries)
            p->st = RND_ERR_LIMIT,
            g_snprintf(p->msg, sizeof p->msg, "more than %u entries", p->max_entries);
        else if (S_ISREG(st.st_mode))
            pack_file(p, dir, e->d_name, path);
        else if (S_ISDIR(st.st_mode) && depth < PACK_DEPTH_MAX) {
            int sub = openat(dir, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                pack_dir(p, sub, path, depth + 1);
                close(sub);
            }
        }
        g_free(path);
    }
    closedir(d);
}

/* Write the tree 7-Zip extracted into xdir as a zip to zip_fd within c's archive bounds. */
static rnd_status pack_tree(const conf *c, const char *xdir, int zip_fd, char *msg, size_t len)
{
    pack p = {.max_bytes = (uint64_t)c->archive_max_total_mb << 20,
              .max_entries = c->archive_max_entries,
              .buf = g_malloc(PACK_BUF),
              .st = RND_OK};
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;
    int dir = open(xdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    p.w = archive_write_new();
    if (dir < 0 || !p.w || archive_write_set_format_zip(p.w) != ARCHIVE_OK ||
        archive_write_open_fd(p.w, zip_fd) != ARCHIVE_OK)
        p.st = RND_ERR_INTERNAL, g_strlcpy(p.msg, "cannot start the zip", sizeof p.msg);
    else
        pack_dir(&p, dir, "", 0);
    if (p.st == RND_OK && archive_write_close(p.w) != ARCHIVE_OK)
        p.st = RND_ERR_INTERNAL, g_strlcpy(p.msg, "cannot finish the zip", sizeof p.msg);
    if (p.w)
        archive_write_free(p.w);
    if (dir >= 0)
        close(dir);
    if (utf8) {
        uselocale(old);
        freelocale(utf8);
    }
    g_free(p.buf);
    g_strlcpy(msg, p.msg, len);
    return p.st;
}

/* Non-zero when 7-Zip's extraction (wait status st) stopped at the jail's bounds: the file
 * size limit, or a work directory (dir) with no room or no file left (its tmpfs holds at most
 * a few thousand files). */
static int over_bounds(int st, const char *dir)
{
    struct statvfs v;

    if (st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGXFSZ)
        return 1;
    return statvfs(dir, &v) == 0 &&
           (v.f_bavail * (uint64_t)v.f_frsize < PACK_BUF || v.f_favail == 0);
}

/* Non-zero when 7-Zip's wait status says it succeeded. */
static int ok_status(int st)
{
    return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Test the archive with every candidate in order until one opens it: its index, or -1;
 * *tried how many were tried. A candidate 7-Zip cannot read on one line is not tried on it
 * (counted as tried). -2 when the archive passes the test with no password at all (no
 * encrypted stream, or an empty password): then every candidate would seem to open it. */
static int find_key(char *const *keys, size_t n, const char *program, const char *input,
                    unlock7z_run_fn run, void *ctx, unsigned *tried)
{
    char *argv[] = {(char *)program, "t", "-bso0", "-bse0", "-bsp0", "-y", "--",
                    (char *)input,   NULL};

    if (n > 0 && ok_status(run(ctx, argv, "")))
        return -2;
    for (size_t i = 0; i < n; i++) {
        *tried = (unsigned)i + 1;
        if (strpbrk(keys[i], "\r\n"))
            continue;
        if (ok_status(run(ctx, argv, keys[i])))
            return (int)i;
    }
    return -1;
}

int unlock7z_init(const conf *c, const char *program, const char *work, int keys_fd, int out,
                  int zip_fd, unlock7z_run_fn run, void *ctx)
{
    char input[PATH_MAX], xdir[PATH_MAX], xopt[PATH_MAX + 4], msg[RND_MAX_MSG] = "";
    size_t n = 0;
    unsigned tried = 0;
    char **keys = keys_read(keys_fd, &n);

    if (mg_write_all(out, RND_MAGIC, 4) < 0)
        return keys_free(keys), -1;
    if (!keys || mg_snprintf(input, sizeof input, "%s/input.7z", work) < 0 ||
        mg_snprintf(xdir, sizeof xdir, "%s/x", work) < 0 ||
        mg_snprintf(xopt, sizeof xopt, "-o%s", xdir) < 0) {
        fail(out, RND_ERR_USAGE, "the candidates are not readable");
        return keys_free(keys), -1;
    }
    int which = find_key(keys, n, program, input, run, ctx, &tried);
    if (which == -2) {
        keys_free(keys);
        fail(out, RND_ERR_MALFORMED, "the 7z opens without a password");
        return 0;
    }
    uint32_t v[2] = {which < 0 ? RND_NONE : (uint32_t)which, tried};
    rnd_status st = frame(out, RND_TAG_OPEN, v, 2) < 0 ? RND_ERR_INTERNAL : RND_OK;
    if (st == RND_OK && which >= 0) {
        char *argv[] = {(char *)program, "x", "-bso0", "-bse0", "-bsp0", "-y", xopt, "--",
                        input,           NULL};
        int done = run(ctx, argv, keys[which]);
        if (!ok_status(done) && over_bounds(done, work))
            st = RND_ERR_LIMIT,
            g_snprintf(msg, sizeof msg, "the 7z expands past %zu MiB or the jail's file count",
                       c->jail_file_size_mb);
        else if (!ok_status(done))
            st = RND_ERR_MALFORMED, g_strlcpy(msg, "the 7z cannot be extracted", sizeof msg);
        else
            st = pack_tree(c, xdir, zip_fd, msg, sizeof msg);
    }
    keys_free(keys);
    uint32_t zero[1] = {0};
    if (st != RND_OK)
        fail(out, st, msg[0] ? msg : "the 7z cannot be opened");
    else if (frame(out, RND_TAG_DONE, zero, 1) < 0)
        return -1;
    return 0;
}
