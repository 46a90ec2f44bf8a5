/*
 * sanitize/sheets.c - a spreadsheet's sheets as CSV: read what the jail sent
 * (jail_office_convert) and rebuild each sheet with the trusted CSV writer.
 *
 * Runs in the sanitizer worker (trusted) on bytes written by the jail's init
 * from files LibreOffice made of an untrusted document: every count, length,
 * name and byte is hostile. It bounds the number of sheets ([office]
 * max_sheets), each CSV ([render] max_text_mb) and all of them ([jail]
 * file_size_mb) before reading, takes a sheet's name only from a file name
 * of the form input-NAME.csv and makes it safe the way archive member names
 * are (no separators, controls, bidi or other unsafe characters, bounded),
 * and writes nothing but what the CSV writer (mg_csv_neutralize) rebuilt. It
 * never parses the original document.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"
#include "san_int.h"

/* The stream being read: its file and how far it has been read. */
typedef struct sheet_rd {
    int fd;
    off_t off;
    off_t size;
} sheet_rd;

/* Read exactly n bytes. 0, or -1 when the stream ends first. */
static int rd_bytes(sheet_rd *rd, void *buf, size_t n)
{
    size_t got = 0;

    if ((off_t)n > rd->size - rd->off)
        return -1;
    while (got < n) {
        ssize_t k = pread(rd->fd, (char *)buf + got, n - got, rd->off + (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    rd->off += (off_t)n;
    return 0;
}

/* Read one little-endian 32-bit integer. As rd_bytes. */
static int rd_u32(sheet_rd *rd, uint32_t *v)
{
    uint8_t b[4];

    if (rd_bytes(rd, b, 4) < 0)
        return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

/* Non-zero for a character no file name on the recipient's side may hold. */
static int name_forbidden(gunichar ch)
{
    return ch < 0x80 && strchr("/\\:*?\"<>|", (int)ch) != NULL;
}

/* The sheet's name from the raw bytes between "input-" and ".csv": unsafe characters
 * (mg_uchar_unsafe) dropped, separators and what Windows refuses in names as '_', blanks and
 * dots trimmed at both ends, cut to SAN_SHEET_NAME_MAX bytes on a character boundary;
 * "sheetN" (N = index + 1) when nothing is left. Caller g_free()s. */
static char *name_clean(const char *raw, size_t len, size_t index)
{
    char *safe = mg_utf8_safe(raw, (ssize_t)len);
    GString *g = g_string_new(NULL);

    for (const char *p = safe; *p; p = g_utf8_next_char(p)) {
        gunichar ch = g_utf8_get_char(p);
        if (name_forbidden(ch))
            g_string_append_c(g, '_');
        else
            g_string_append_unichar(g, ch);
    }
    g_free(safe);
    while (g->len > SAN_SHEET_NAME_MAX) {
        const char *last = g_utf8_find_prev_char(g->str, g->str + g->len);
        g_string_truncate(g, last ? (size_t)(last - g->str) : 0);
    }
    size_t start = strspn(g->str, " .");
    g_string_erase(g, 0, (gssize)start);
    while (g->len > 0 && (g->str[g->len - 1] == ' ' || g->str[g->len - 1] == '.'))
        g_string_truncate(g, g->len - 1);
    if (g->len == 0)
        g_string_printf(g, "sheet%zu", index + 1);
    return g_string_free(g, FALSE);
}

/* The key under which s's file name is compared with the others': compatibility-normalized
 * and case-folded, as Windows and macOS would take two names for one. Caller g_free()s. */
static char *name_key(const san_sheet *s)
{
    char *file = san_sheet_file_name("", s);
    char *norm = g_utf8_normalize(file, -1, G_NORMALIZE_ALL);
    char *key = g_utf8_casefold(norm ? norm : file, -1);

    g_free(norm);
    g_free(file);
    return key;
}

/* Make s's name differ from those of the sheets before it, whose keys are in taken (s's key
 * is added): " (2)", " (3)", ... added, the name cut so that it stays within
 * SAN_SHEET_NAME_MAX bytes. Each sheet tries at most as many suffixes as there are sheets
 * before it, so that names alike cost no more than the square of their number. */
static void name_unique(GHashTable *taken, san_sheet *s)
{
    char *base = s->name, *key = name_key(s);

    for (unsigned k = 2; g_hash_table_contains(taken, key); k++) {
        char suffix[16];
        g_snprintf(suffix, sizeof suffix, " (%u)", k);
        size_t keep = strlen(base);
        while (keep + strlen(suffix) > SAN_SHEET_NAME_MAX)
            keep = (size_t)(g_utf8_find_prev_char(base, base + keep) - base);
        if (s->name != base)
            g_free(s->name);
        s->name = g_strdup_printf("%.*s%s", (int)keep, base, suffix);
        g_free(key);
        key = name_key(s);
    }
    if (s->name != base)
        g_free(base);
    g_hash_table_add(taken, key);
}

/* Write the CSV text (len bytes, hostile) rebuilt by the CSV writer, with a BOM, into a new
 * anonymous file; its descriptor, rewound, or -1 with the reason in why. */
static int csv_file(const char *text, size_t len, size_t *out_size, char *why, size_t why_len)
{
    if (!g_utf8_validate(text, (gssize)len, NULL))
        return mg_snprintf(why, why_len, "a sheet is not UTF-8 text"), -1;
    char *csv = mg_csv_neutralize(text, len, ',', ',');
    if (!csv)
        return mg_snprintf(why, why_len, "a sheet's CSV could not be rebuilt"), -1;
    size_t n = strlen(csv);
    int fd = mg_tmp_file(g_get_tmp_dir());
    if (fd < 0 || mg_write_all(fd, "\xEF\xBB\xBF", 3) < 0 || mg_write_all(fd, csv, n) < 0 ||
        (n > 0 && csv[n - 1] != '\n' && mg_write_all(fd, "\n", 1) < 0) ||
        lseek(fd, 0, SEEK_SET) < 0) {
        mg_snprintf(why, why_len, "cannot write a sheet's CSV to %s: %s", g_get_tmp_dir(),
                    g_strerror(errno));
        if (fd >= 0)
            close(fd);
        g_free(csv);
        return -1;
    }
    *out_size = 3 + n + (n > 0 && csv[n - 1] != '\n');
    g_free(csv);
    return fd;
}

/* Read one sheet's frame (index: its place in the stream) into s, within *left bytes of CSV
 * for all sheets. 0, or -1 with the reason in why. */
static int sheet_one(const conf *c, sheet_rd *rd, size_t index, uint64_t *left, san_sheet *s,
                     char *why, size_t why_len)
{
    uint64_t max = (uint64_t)c->max_text_mb << 20;
    uint32_t flags = 0, nlen = 0, dlen = 0;
    char name[NAME_MAX + 1];

    if (rd_u32(rd, &flags) < 0 || rd_u32(rd, &nlen) < 0)
        return mg_snprintf(why, why_len, "the sheets' stream ends early"), -1;
    if (flags > 1 || nlen < 11 || nlen > NAME_MAX || rd_bytes(rd, name, nlen) < 0 ||
        memcmp(name, "input-", 6) != 0 || memcmp(name + nlen - 4, ".csv", 4) != 0)
        return mg_snprintf(why, why_len, "sheet %zu has a bad frame or file name", index + 1), -1;
    if (rd_u32(rd, &dlen) < 0)
        return mg_snprintf(why, why_len, "the sheets' stream ends early"), -1;
    if (dlen > max || dlen > *left)
        return mg_snprintf(why, why_len, "sheet %zu is %u bytes, over the limit", index + 1, dlen),
               -1;
    *left -= dlen;
    char *text = g_malloc((size_t)dlen + 1);
    int rc = rd_bytes(rd, text, dlen);
    text[dlen] = '\0';
    s->fd = rc < 0 ? (mg_snprintf(why, why_len, "the sheets' stream ends early"), -1)
                   : csv_file(text, dlen, &s->out_size, why, why_len);
    g_free(text);
    if (s->fd < 0)
        return -1;
    s->hidden = (int)flags;
    s->name = name_clean(name + 6, nlen - 10, index);
    return 0;
}

int sheets_read(const conf *c, int fd, san_result *r, char *why, size_t why_len)
{
    struct stat st;
    char magic[4];
    uint32_t n = 0, total = 0;
    uint64_t left = (uint64_t)c->jail_file_size_mb << 20;

    if (fstat(fd, &st) < 0)
        return mg_snprintf(why, why_len, "cannot read the sheets: %s", g_strerror(errno)), -1;
    sheet_rd rd = {fd, 0, st.st_size};
    if (rd_bytes(&rd, magic, 4) < 0 || memcmp(magic, "MGS2", 4) != 0 || rd_u32(&rd, &n) < 0 ||
        rd_u32(&rd, &total) < 0)
        return mg_snprintf(why, why_len, "LibreOffice exported no sheets"), -1;
    if (n > c->office_max_sheets)
        return mg_snprintf(why, why_len, "%u sheets, over the limit of %u", n,
                           c->office_max_sheets),
               -1;
    /* The workbook's sheets, which the reader is told of when some did not come: no fewer
     * than came, no more than a jail's init tells of. */
    if (total < n || total > JAIL_SHEETS_MAX + 1)
        return mg_snprintf(why, why_len,
                           "the sheets' stream counts %u sheets in the workbook and "
                           "%u sent",
                           total, n),
               -1;
    san_sheet *sheets = g_new0(san_sheet, n ? n : 1);
    GHashTable *taken = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    size_t got = 0;
    int rc = 0;
    for (; got < n; got++) {
        sheets[got].fd = -1;
        if ((rc = sheet_one(c, &rd, got, &left, &sheets[got], why, why_len)) < 0)
            break;
        name_unique(taken, &sheets[got]);
    }
    g_hash_table_destroy(taken);
    if (rc == 0 && rd.off != rd.size)
        rc = -1, mg_snprintf(why, why_len, "bytes follow the last sheet");
    if (rc == 0) {
        r->sheets = sheets;
        r->nsheets = n;
        r->sheets_lost = total - n;
        return 0;
    }
    for (size_t i = 0; i <= got && i < n; i++) {
        g_free(sheets[i].name);
        if (sheets[i].fd >= 0)
            close(sheets[i].fd);
    }
    g_free(sheets);
    return -1;
}
