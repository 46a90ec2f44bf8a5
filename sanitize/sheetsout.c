/*
 * sanitize/sheetsout.c - the jail's side of a spreadsheet's sheets: send the CSV files
 * LibreOffice exported in the jail, with which sheets are hidden, as one framed stream.
 *
 * Runs in a jail's init as the jail user (the cold jail's, jail.c, and each Office service
 * child's, render/office.c), after LibreOffice converted an untrusted document there: every
 * file, name and report it reads was made by a process the document may have taken over.
 * It opens only regular files without following links or blocking, reads bounded amounts
 * and never lets a file's size exceed what the trusted side takes ([render] max_text_mb a
 * sheet, [jail] file_size_mb in all, [office] max_sheets). The stream is checked again by
 * the trusted side (sheets.c): this side only keeps the worker's disk from filling.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "conf.h"
#include "mg.h"
#include "san_int.h"

/* The most sheets sent, and the longest LibreOffice report read. */
#define SHEETS_INIT_MAX 1024
#define SHEETS_LOG_MAX (1u << 20)

/* One CSV LibreOffice left in work/csv and the sheet it came from (-1: unknown). */
typedef struct sheet_file {
    char name[NAME_MAX + 1];
    size_t len; /* strlen(name) */
    long index;
} sheet_file;

/* Add name (len bytes) to f (*n so far) as sheet index, when it is a real file "input-*.csv"
 * in the directory dir and not there yet. */
static void sheet_add(int dir, const char *name, size_t len, long index, sheet_file *f, size_t *n)
{
    struct stat st;

    if (*n >= SHEETS_INIT_MAX || len > NAME_MAX || len < 11 || memchr(name, '/', len) ||
        memchr(name, '\0', len) || memcmp(name, "input-", 6) != 0 ||
        memcmp(name + len - 4, ".csv", 4) != 0)
        return;
    for (size_t i = 0; i < *n; i++)
        if (f[i].len == len && memcmp(f[i].name, name, len) == 0)
            return;
    memcpy(f[*n].name, name, len);
    f[*n].name[len] = '\0';
    f[*n].len = len;
    if (fstatat(dir, f[*n].name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        f[(*n)++].index = index;
}

/* Add the files LibreOffice's report (work/csv.log) names, in its order: its line number k
 * "Writing sheet NAME -> DIR/FILE" is the k-th sheet (from 0). */
static void sheets_from_log(int work, int dir, sheet_file *f, size_t *n)
{
    struct stat st;
    char *log = malloc(SHEETS_LOG_MAX);
    int fd = openat(work, "csv.log", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    ssize_t len = fd < 0 || !log || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)
                      ? -1
                      : read(fd, log, SHEETS_LOG_MAX);
    long index = 0;

    for (const char *p = log, *end = log + (len > 0 ? len : 0); p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (eol - p > 14 && memcmp(p, "Writing sheet ", 14) == 0) {
            const char *slash = memrchr(p, '/', (size_t)(eol - p));
            if (slash)
                sheet_add(dir, slash + 1, (size_t)(eol - slash - 1), index, f, n);
            index++;
        }
        p = eol + 1;
    }
    if (fd >= 0)
        close(fd);
    free(log);
}

/* Add the files the report did not name, as of an unknown sheet. */
static void sheets_from_dir(int dir, sheet_file *f, size_t *n)
{
    int fd = dup(dir);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    struct dirent *e;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((e = readdir(d)) != NULL)
        sheet_add(dir, e->d_name, strlen(e->d_name), -1, f, n);
    closedir(d);
}

/* Mark in vis (SHEETS_INIT_MAX entries) the anchors <A NAME="tableN"> that start in the
 * first scan of the have bytes at h; their count. */
static size_t sheets_anchors(const char *h, size_t scan, size_t have, unsigned char *vis)
{
    static const char anchor[] = "<A NAME=\"table";
    const char *end = h + have;
    size_t anchors = 0;

    for (const char *p = h;
         (p = memmem(p, (size_t)(end - p), anchor, sizeof anchor - 1)) && p < h + scan;) {
        unsigned long k = 0;
        for (p += sizeof anchor - 1; p < end && *p >= '0' && *p <= '9' && k < SHEETS_INIT_MAX; p++)
            k = k * 10 + (unsigned long)(*p - '0');
        if (p < end && *p == '"' && k < SHEETS_INIT_MAX)
            vis[k] = 1, anchors++;
    }
    return anchors;
}

/* Mark in vis (SHEETS_INIT_MAX entries) the sheets LibreOffice's HTML export (work/html/
 * input.html) shows: it leaves hidden sheets out, and empty ones, and when it shows more than
 * one it names each with an anchor <A NAME="tableN">, N its index; cell text is escaped, so
 * only the export itself writes one. The directory and the file must be real ones, and no
 * more than max bytes of it are read, a piece at a time. 0, or -1 when that tells nothing:
 * no export, or no anchor (one sheet shown or none, which one unknown). */
static int sheets_visible(int work, unsigned char *vis, uint64_t max)
{
    enum { PIECE = 65536, KEEP = 32 }; /* KEEP: more than an anchor and its number */
    struct stat st;
    char *buf = malloc(PIECE + KEEP);
    int dir = openat(work, "html", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int fd =
        dir < 0 ? -1 : openat(dir, "input.html", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    size_t anchors = 0, kept = 0;

    if (buf && fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        for (uint64_t off = 0;;) {
            size_t want = max - off < PIECE ? (size_t)(max - off) : PIECE;
            ssize_t k = want ? pread(fd, buf + kept, want, (off_t)off) : 0;
            size_t have = kept + (size_t)(k > 0 ? k : 0);
            /* An anchor that starts in the last KEEP bytes is looked at with the next piece. */
            size_t scan = k <= 0 ? have : have > KEEP ? have - KEEP : 0;
            anchors += sheets_anchors(buf, scan, have, vis);
            if (k <= 0)
                break;
            memmove(buf, buf + scan, have - scan);
            kept = have - scan;
            off += (uint64_t)k;
        }
    if (fd >= 0)
        close(fd);
    if (dir >= 0)
        close(dir);
    free(buf);
    return anchors > 0 ? 0 : -1;
}

/* Mark in vis (SHEETS_INIT_MAX entries) the sheets work/sheets.vis says are visible: one byte
 * a sheet in the workbook's order, '1' visible, anything else hidden; the Office service's
 * program writes it from LibreOffice's own answer. Only a real file is read, no more than
 * SHEETS_INIT_MAX bytes of it. 0, or -1 when there is none. */
static int sheets_listed(int work, unsigned char *vis)
{
    struct stat st;
    unsigned char *buf = malloc(SHEETS_INIT_MAX);
    int fd = openat(work, "sheets.vis", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    ssize_t len = !buf || fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)
                      ? -1
                      : read(fd, buf, SHEETS_INIT_MAX);

    for (ssize_t i = 0; i < len; i++)
        vis[i] = buf[i] == '1';
    if (fd >= 0)
        close(fd);
    free(buf);
    return len > 0 ? 0 : -1;
}

/* Write v as 4 little-endian bytes to fd. 0 or -1. */
static int put_u32(int fd, uint32_t v)
{
    unsigned char b[4] = {v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff, v >> 24 & 0xff};

    return mg_write_all(fd, b, 4);
}

/* Non-zero when the CSV on fd (size bytes) holds a value: anything but separators, quotes
 * and line ends. An empty sheet is one the HTML export leaves out although it is visible. */
static int csv_has_data(int fd, size_t size)
{
    char buf[4096];
    size_t off = 0;

    while (off < size) {
        ssize_t k = pread(fd, buf, sizeof buf, (off_t)off);
        if (k <= 0)
            return 1;
        for (ssize_t i = 0; i < k; i++)
            if (!strchr(",\"\r\n", buf[i]) || buf[i] == '\0')
                return 1;
        off += (size_t)k;
    }
    return 0;
}

/* Send one sheet's frame: flags (1: hidden), the file's name, its bytes. A sheet over max
 * bytes or over what is *left for all sheets goes no further than its size, which the trusted
 * side refuses: a file LibreOffice made (sparse, linked many times) never fills the worker's
 * disk. 0 or an errno. */
static int sheet_send(int out, int dir, const sheet_file *f, const unsigned char *vis,
                      int vis_known, uint64_t max, uint64_t *left)
{
    struct stat st;
    char buf[65536];
    int rc = 0;
    int fd = openat(dir, f->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > UINT32_MAX) {
        rc = fd < 0 ? errno : EFBIG;
        goto out;
    }
    uint32_t size = (uint32_t)st.st_size;
    int over = size > max || size > *left;
    int hidden = !over && vis_known && f->index >= 0 &&
                 (f->index >= SHEETS_INIT_MAX || !vis[f->index]) && csv_has_data(fd, size);
    if (put_u32(out, (uint32_t)hidden) < 0 || put_u32(out, (uint32_t)f->len) < 0 ||
        mg_write_all(out, f->name, f->len) < 0 || put_u32(out, size) < 0) {
        rc = errno ? errno : EIO;
        goto out;
    }
    if (over) {
        rc = EFBIG;
        goto out;
    }
    *left -= size;
    for (uint32_t off = 0; off < size && rc == 0;) {
        size_t want = size - off < sizeof buf ? size - off : sizeof buf;
        ssize_t k = pread(fd, buf, want, off);
        if (k <= 0 || mg_write_all(out, buf, (size_t)k) < 0)
            rc = k == 0 ? EIO : errno;
        else
            off += (uint32_t)k;
    }
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int jail_sheets_send(const conf *c, const char *work_dir, int out)
{
    uint64_t max = (uint64_t)c->max_text_mb << 20, left = (uint64_t)c->jail_file_size_mb << 20;
    sheet_file *f = calloc(SHEETS_INIT_MAX, sizeof *f);
    unsigned char *vis = calloc(SHEETS_INIT_MAX, 1);
    int work = open(work_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int dir = work < 0 ? -1 : openat(work, "csv", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    size_t n = 0;
    int rc = 0;

    if (!f || !vis || dir < 0) {
        rc = !f || !vis ? ENOMEM : errno;
    } else {
        sheets_from_log(work, dir, f, &n);
        sheets_from_dir(dir, f, &n);
        int known = sheets_listed(work, vis) == 0 || sheets_visible(work, vis, left) == 0;
        if (mg_write_all(out, "MGS1", 4) < 0 || put_u32(out, (uint32_t)n) < 0)
            rc = errno ? errno : EIO;
        /* More than the trusted side takes: the count alone, which it refuses. */
        for (size_t i = 0; i < n && n <= c->office_max_sheets && rc == 0; i++)
            rc = sheet_send(out, dir, &f[i], vis, known, max, &left);
    }
    if (dir >= 0)
        close(dir);
    if (work >= 0)
        close(work);
    free(f);
    free(vis);
    return rc;
}
