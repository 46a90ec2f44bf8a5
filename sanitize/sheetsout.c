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
#include <sys/types.h>
#include <unistd.h>
#include "conf.h"
#include "mg.h"
#include "san_int.h"

/* The most sheets sent (JAIL_SHEETS_MAX, which the Office service's program also writes down
 * at most), and the longest LibreOffice report read. */
#define SHEETS_INIT_MAX JAIL_SHEETS_MAX
#define SHEETS_LOG_MAX (1u << 20)

/* Read at most max bytes of the file name in the directory work into buf: only a real file,
 * never through a link or blocking on a FIFO. How many bytes, or -1. */
static ssize_t work_read(int work, const char *name, void *buf, size_t max)
{
    struct stat st;
    int fd = openat(work, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    ssize_t len =
        !buf || fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ? -1 : read(fd, buf, max);

    if (fd >= 0)
        close(fd);
    return len;
}

/* One CSV LibreOffice left in work/csv and the sheet it came from (-1: unknown). */
typedef struct sheet_file {
    char name[NAME_MAX + 1];
    size_t len; /* strlen(name) */
    long index;
} sheet_file;

/* Add name (len bytes) to f (*n so far, room for SHEETS_INIT_MAX + 1) as sheet index, when it
 * is a real file "input-*.csv" in the directory dir and not there yet. One more than
 * SHEETS_INIT_MAX (over any [office] max_sheets) stands for all those left out: the count
 * alone is sent, which the trusted side refuses, rather than some of the sheets. */
static void sheet_add(int dir, const char *name, size_t len, long index, sheet_file *f, size_t *n)
{
    struct stat st;

    if (*n > SHEETS_INIT_MAX || len > NAME_MAX || len < 11 || memchr(name, '/', len) ||
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

/* Add the files LibreOffice's report (work/csv.log) names, in its order: its k-th line
 * "Writing sheet NAME -> DIR/input-NAME.csv" is the k-th sheet (from 0). How many sheets it
 * names, their files made or not (a name too long for one is named, and no file made). */
static long sheets_from_log(int work, int dir, sheet_file *f, size_t *n)
{
    char *log = malloc(SHEETS_LOG_MAX);
    ssize_t len = work_read(work, "csv.log", log, SHEETS_LOG_MAX);
    long index = 0;

    for (const char *p = log, *end = log + (len > 0 ? len : 0); p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *arrow = memmem(p, (size_t)(eol - p), " -> /", 5);
        const char *slash = arrow ? memrchr(arrow, '/', (size_t)(eol - arrow)) : NULL;
        /* A sheet's name may hold line ends but never a '/': of its lines, only the one with
         * the arrow to its file counts it, whatever the name made of the others. */
        if (slash && eol - slash > 6 && memcmp(slash + 1, "input-", 6) == 0) {
            sheet_add(dir, slash + 1, (size_t)(eol - slash - 1), index, f, n);
            index++;
        }
        p = eol + 1;
    }
    free(log);
    return index;
}

/* Add the files the report did not name, as of an unknown sheet. */
static void sheets_from_dir(int dir, sheet_file *f, size_t *n)
{
    DIR *d = mg_dir_dup(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d)) != NULL)
        sheet_add(dir, e->d_name, strlen(e->d_name), -1, f, n);
    closedir(d);
}

/* The most hidden table styles and the longest style name the flat-ODS reader keeps, and the
 * longest tag it reads whole. */
#define FODS_STYLES_MAX 64
#define FODS_NAME_MAX 64
#define FODS_TAG_MAX 4096

/* What the flat-ODS reader has learnt so far. */
typedef struct fods_scan {
    char hidden[FODS_STYLES_MAX][FODS_NAME_MAX + 1]; /* table styles with display false */
    size_t nhidden;
    char style[FODS_NAME_MAX + 1]; /* the table style being read, "" outside one */
    size_t tables;                 /* the workbook's sheets seen */
    int in_sheet;                  /* inside the workbook's <office:spreadsheet> */
    int past;                      /* its sheets are over: tables that are no sheets follow */
    size_t objects; /* depth of embedded objects (a chart's own tables, a spreadsheet's) */
    int broken;     /* a tag too long or too many styles: tells nothing */
} fods_scan;

/* Non-zero when the tag at t (len bytes) is the element name (with its '<'), followed by a
 * space, '/' or '>'. */
static int fods_is(const char *t, size_t len, const char *name)
{
    size_t n = strlen(name);

    return len > n && memcmp(t, name, n) == 0 && t[n] != '\0' && strchr(" \t\r\n/>", t[n]);
}

/* The value of attribute name (with its =") in the tag at t (len bytes): where it starts,
 * its length in *vlen; NULL when it is absent or unended. */
static const char *fods_value(const char *t, size_t len, const char *name, size_t *vlen)
{
    size_t n = strlen(name);
    const char *end = t + len;

    for (const char *p = t; (p = memmem(p, (size_t)(end - p), name, n)) != NULL; p += n) {
        if (p == t || p[-1] == '\0' || !strchr(" \t\r\n", p[-1]))
            continue;
        const char *v = p + n, *q = memchr(v, '"', (size_t)(end - v));
        if (!q)
            return NULL;
        *vlen = (size_t)(q - v);
        return v;
    }
    return NULL;
}

/* The value of attribute name (with its =") in the tag at t (len bytes) into out (size bytes
 * with its NUL). Its length, or -1 when it is absent or too long. */
static ssize_t fods_attr(const char *t, size_t len, const char *name, char *out, size_t size)
{
    size_t n = 0;
    const char *v = fods_value(t, len, name, &n);

    if (!v || n >= size)
        return -1;
    memcpy(out, v, n);
    out[n] = '\0';
    return (ssize_t)n;
}

/* Non-zero when the <table:table> tag at t (len bytes) is no sheet of the workbook but
 * LibreOffice's copy of another document's sheet that a formula refers to (named
 * "'URL'#SHEET", which no sheet's name can be: none begins with an apostrophe). */
static int fods_external(const char *t, size_t len)
{
    size_t n = 0;
    const char *v = fods_value(t, len, "table:name=\"", &n);

    return v && ((n >= 1 && v[0] == '\'') || (n >= 6 && memcmp(v, "&apos;", 6) == 0) ||
                 (n >= 5 && memcmp(v, "&#39;", 5) == 0));
}

/* Take in one tag of the flat ODS (t, len bytes, '<' to '>'), marking in vis each sheet that
 * is not hidden. Names are compared as written (escaped alike on both sides). An embedded
 * object is a document of its own, written inline: an embedded spreadsheet has its own
 * <office:spreadsheet>, tables and styles, none of them the workbook's. After the workbook's
 * sheets LibreOffice writes tables that are none: the copies of other documents' sheets that
 * formulas refer to, and each DDE link's data in <table:dde-links>; the first of them ends
 * the sheets, so that they are neither counted nor shift which sheet is which. */
static void fods_tag(fods_scan *f, const char *t, size_t len, unsigned char *vis)
{
    char v[FODS_NAME_MAX + 1];
    int closing = len >= 2 && t[len - 2] == '/';

    if (fods_is(t, len, "<draw:object") && !closing)
        f->objects++;
    else if (fods_is(t, len, "</draw:object") && f->objects > 0)
        f->objects--;
    else if (f->objects > 0)
        return;
    else if (fods_is(t, len, "<office:spreadsheet"))
        f->in_sheet = !closing;
    else if (fods_is(t, len, "</office:spreadsheet"))
        f->in_sheet = 0;
    else if (fods_is(t, len, "<style:style")) {
        f->style[0] = '\0'; /* an empty element has no table properties */
        if (!closing && fods_attr(t, len, "style:family=\"", v, sizeof v) >= 0 &&
            strcmp(v, "table") == 0 &&
            fods_attr(t, len, "style:name=\"", f->style, sizeof f->style) < 0)
            f->broken = 1, f->style[0] = '\0';
    } else if (fods_is(t, len, "</style:style")) {
        f->style[0] = '\0';
    } else if (fods_is(t, len, "<style:table-properties") && f->style[0] &&
               fods_attr(t, len, "table:display=\"", v, sizeof v) >= 0 && strcmp(v, "false") == 0) {
        if (f->nhidden < FODS_STYLES_MAX)
            memcpy(f->hidden[f->nhidden++], f->style, sizeof f->style);
        else
            f->broken = 1;
    } else if (fods_is(t, len, "<table:dde-links") && f->in_sheet) {
        f->past = 1;
    } else if (fods_is(t, len, "<table:table") && f->in_sheet && !f->past &&
               fods_external(t, len)) {
        f->past = 1;
    } else if (fods_is(t, len, "<table:table") && f->in_sheet && !f->past) {
        size_t k = f->tables++;
        int hidden = 0;
        ssize_t n = fods_attr(t, len, "table:style-name=\"", v, sizeof v);
        for (size_t i = 0; n >= 0 && i < f->nhidden; i++)
            hidden |= strcmp(v, f->hidden[i]) == 0;
        if (n < 0 && memmem(t, len, "table:style-name=", 17))
            f->broken = 1; /* named, but too long to tell */
        if (k < SHEETS_INIT_MAX)
            vis[k] = !hidden;
    }
}

/* Take in the tags that end within the have bytes at buf, (final: the file's end). How many
 * bytes were read whole; the rest (an unfinished tag, less than FODS_TAG_MAX) is for the next
 * piece. The first '>' after a '<' is looked for once for all the '<' before it, so that a
 * piece of '<' alone costs a pass, not FODS_TAG_MAX bytes each. At the file's end the
 * workbook's <office:spreadsheet> must be closed: an export cut short (at [jail]
 * file_size_mb) or an object left open would leave its last sheets unseen. */
static size_t fods_piece(fods_scan *f, const char *buf, size_t have, int final, unsigned char *vis)
{
    const char *p = buf, *end = buf + have, *lt, *gt = buf;

    while ((lt = memchr(p, '<', (size_t)(end - p))) != NULL) {
        size_t rest = (size_t)(end - lt);
        if (gt && gt <= lt)             /* passed (or buf, not looked for yet) */
            gt = memchr(lt, '>', rest); /* NULL: none in the piece, for any '<' left either */
        if (gt && (size_t)(gt - lt) < FODS_TAG_MAX) {
            fods_tag(f, lt, (size_t)(gt - lt + 1), vis);
            p = gt + 1;
            continue;
        }
        if (!final && rest < FODS_TAG_MAX)
            return (size_t)(lt - buf);
        /* Longer than any tag read whole: harmless unless it is one of those. */
        if (rest > 1 && (lt[1] == 't' || lt[1] == 's') &&
            (fods_is(lt, rest, "<table:table") || fods_is(lt, rest, "<style:")))
            f->broken = 1;
        p = lt + 1;
    }
    if (final && (f->in_sheet || f->objects > 0))
        f->broken = 1;
    return have;
}

/* Mark in vis (SHEETS_INIT_MAX entries) the sheets LibreOffice's flat-ODS export (work/fods/
 * input.fods) does not show as hidden: each sheet is a <table:table> of <office:spreadsheet>,
 * in the workbook's order, whose table style says table:display="false" when it is hidden;
 * the tables of an embedded object (a chart's data) are not sheets. Cell text is escaped, so
 * only the export itself writes a tag. The directory and the file must be real ones, and no
 * more than max bytes of it are read, a piece at a time. How many sheets it tells of, or -1
 * when that tells nothing: no export, no sheet, or a tag or a style it cannot read whole. */
static long sheets_visible(int work, unsigned char *vis, uint64_t max)
{
    enum { PIECE = 65536 };
    struct stat st;
    char *buf = malloc(PIECE + FODS_TAG_MAX);
    fods_scan *f = calloc(1, sizeof *f);
    int dir = openat(work, "fods", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int fd =
        dir < 0 ? -1 : openat(dir, "input.fods", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    size_t kept = 0;
    long rc = -1;

    if (buf && f && fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        for (uint64_t off = 0;;) {
            size_t want = max - off < PIECE ? (size_t)(max - off) : PIECE;
            ssize_t k = want ? pread(fd, buf + kept, want, (off_t)off) : 0;
            size_t have = kept + (size_t)(k > 0 ? k : 0);
            size_t used = fods_piece(f, buf, have, k <= 0, vis);
            if (k <= 0)
                break;
            memmove(buf, buf + used, have - used);
            kept = have - used;
            off += (uint64_t)k;
        }
        rc = f->tables > 0 && !f->broken
                 ? (long)(f->tables < SHEETS_INIT_MAX ? f->tables : SHEETS_INIT_MAX)
                 : -1;
    }
    if (fd >= 0)
        close(fd);
    if (dir >= 0)
        close(dir);
    free(buf);
    free(f);
    return rc;
}

/* Mark in vis (SHEETS_INIT_MAX entries) the sheets work/sheets.vis says are visible: one byte
 * a sheet in the workbook's order, '1' visible, anything else hidden; the Office service's
 * program writes it from LibreOffice's own answer. Only a real file is read, no more than
 * SHEETS_INIT_MAX bytes of it. How many sheets it tells of, or -1 when there is none. */
static long sheets_listed(int work, unsigned char *vis)
{
    unsigned char *buf = malloc(SHEETS_INIT_MAX);
    ssize_t len = work_read(work, "sheets.vis", buf, SHEETS_INIT_MAX);

    for (ssize_t i = 0; i < len; i++)
        vis[i] = buf[i] == '1';
    free(buf);
    return len > 0 ? (long)len : -1;
}

/* Write v as 4 little-endian bytes to fd. 0 or -1. */
static int put_u32(int fd, uint32_t v)
{
    unsigned char b[4] = {v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff, v >> 24 & 0xff};

    return mg_write_all(fd, b, 4);
}

/* Send one sheet's frame: flags (1: hidden, when it is one of the known first sheets that vis
 * does not show), the file's name, its bytes. A sheet over max
 * bytes or over what is *left for all sheets goes no further than its size, which the trusted
 * side refuses: a file LibreOffice made (sparse, linked many times) never fills the worker's
 * disk. 0 or an errno. */
static int sheet_send(int out, int dir, const sheet_file *f, const unsigned char *vis, long known,
                      uint64_t max, uint64_t *left)
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
    int hidden = !over && f->index >= 0 && f->index < known && !vis[f->index];
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
    uint64_t left = (uint64_t)c->jail_file_size_mb << 20;
    /* A file of [jail] file_size_mb is one the limit cut short (LibreOffice was stopped at it):
     * too large as well. */
    uint64_t max =
        (uint64_t)c->max_text_mb << 20 < left ? (uint64_t)c->max_text_mb << 20 : left - 1;
    sheet_file *f = calloc(SHEETS_INIT_MAX + 1, sizeof *f);
    unsigned char *vis = calloc(SHEETS_INIT_MAX, 1);
    int work = open(work_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int dir = work < 0 ? -1 : openat(work, "csv", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    size_t n = 0;
    int rc = 0;

    if (!f || !vis || dir < 0) {
        rc = !f || !vis ? ENOMEM : errno;
    } else {
        long logged = sheets_from_log(work, dir, f, &n);
        sheets_from_dir(dir, f, &n);
        long known = sheets_listed(work, vis);
        if (known < 0)
            known = sheets_visible(work, vis, left);
        /* The sheets the workbook has, as far as any source tells: more than were sent is
         * sheets lost, of which the trusted side tells the reader. */
        long total = logged > known ? logged : known;
        if (total < (long)n)
            total = (long)n;
        if (total > (long)SHEETS_INIT_MAX + 1)
            total = (long)SHEETS_INIT_MAX + 1;
        if (mg_write_all(out, "MGS2", 4) < 0 || put_u32(out, (uint32_t)n) < 0 ||
            put_u32(out, (uint32_t)total) < 0)
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
