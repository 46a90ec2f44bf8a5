/*
 * sanitize/archive.c - archives (zip, 7z, lzh, tar, cpio, rar, cab, and gz,
 * bz2, xz around them or around a lone file): read member by member with
 * libarchive within the [archive] bounds, sanitize every member through the
 * engine, and repack the sanitized members as a new zip with UTF-8 names.
 *
 * Runs in the trusted process (sanitize-file, pool workers) on untrusted
 * bytes: libarchive only lists and decompresses, with only the formats the
 * policy names and only decompressors built into it; member content goes
 * through san_convert_fd like any other input. It must never create a file at
 * a path taken from the archive (members go to anonymous temporary files),
 * never let libarchive start an external program, never read on past a
 * bound, and never put into the new zip anything the engine did not
 * sanitize. Every libarchive call runs under a lowered soft RLIMIT_DATA
 * (libarchive reads some data, such as a 7z symlink's target, into memory
 * where no bound of ours applies), and data mugai does not use is still read
 * here, counted and bounded: libarchive would otherwise decompress it, with
 * no bound, when it skips to the next header.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <glib.h>

#include "mg.h"
#include "san_int.h"

#define ARCH_BUF_SIZE (64 * 1024)
/* Expansion below this never counts as a bomb: small, very regular files compress well. */
#define ARCH_RATIO_FLOOR ((uint64_t)1024 * 1024)
#define ARCH_NAME_CHARSETS "UTF-8,CP932,EUC-JP"
/* Heap libarchive may add during one call: [archive] max_entry_mb and this much for its own
 * buffers, and never less than ARCH_MEM_FLOOR. */
#define ARCH_MEM_EXTRA ((uint64_t)256 * 1024 * 1024)
#define ARCH_MEM_FLOOR ((uint64_t)512 * 1024 * 1024)

/* What reading one entry led to. */
typedef enum {
    STEP_NEXT = 0,  /* go on with the next entry */
    STEP_STOP = 1,  /* the archive's verdict is reached: stop reading */
    STEP_SKIP = 2,  /* this member could not be read; the next one can */
    STEP_ERROR = -1 /* internal error: verdict and reason set */
} arch_step;

typedef struct arch {
    san_engine *e;
    const conf *c;
    const char *name; /* the archive's own name (borrowed) */
    san_budget *b;    /* of the input the archive is part of */
    san_result *r;
    struct archive *rd;
    struct archive *wr; /* the new zip, NULL until a member survives */
    int out_fd;
    GHashTable *outnames;    /* case-folded output names already used */
    unsigned char *buf;      /* ARCH_BUF_SIZE bytes */
    uint64_t expanded;       /* bytes of all members read so far */
    size_t entries;          /* headers read, directories included */
    size_t kept;             /* members written to the new zip */
    size_t cap;              /* allocated r->members */
    struct rlimit mem_saved; /* RLIMIT_DATA as found, restored after every libarchive call */
    rlim_t mem_cap;          /* the soft limit libarchive runs under, RLIM_INFINITY: none */
    int mem_lowered;         /* the soft limit is mem_cap now */
    char cut[128];           /* why the rest of the archive is not read; "" while it is */
} arch;

/* ---- names ---- */

/* A raw member name as UTF-8: kept when valid, else decoded (zips from Japanese Windows
 * carry CP932 names without the UTF-8 flag). Caller g_free()s; never NULL. */
static char *name_to_utf8(const char *raw, size_t len)
{
    const char *used = NULL;
    char *s;

    if (g_utf8_validate(raw, (gssize)len, NULL))
        return g_strndup(raw, len);
    s = rnd_text_to_utf8(raw, len, NULL, ARCH_NAME_CHARSETS, &used);
    return s ? s : g_utf8_make_valid(raw, (gssize)len);
}

/* One path component without control, bidi or other unsafe characters (mg_uchar_unsafe);
 * first: drop a drive letter ("C:"). */
static char *component_clean(const char *comp, int first)
{
    if (first && g_ascii_isalpha(comp[0]) && comp[1] == ':')
        comp += 2;
    return mg_utf8_safe(comp, -1);
}

/* Make a UTF-8 member name safe: '/' separators, no empty, "." or ".." components, no
 * leading '/', drive letter, control or bidi character; "member-N" (N = index) when nothing
 * is left. Caller g_free()s; never NULL. */
static char *name_normalize(const char *utf8, size_t index)
{
    GString *out = g_string_new(NULL);
    char *copy = g_strdelimit(g_strdup(utf8), "\\", '/');
    char **parts = g_strsplit(copy, "/", -1);

    for (size_t i = 0; parts[i]; i++) {
        char *comp = component_clean(parts[i], out->len == 0);
        if (comp[0] && strcmp(comp, ".") != 0 && strcmp(comp, "..") != 0) {
            if (out->len)
                g_string_append_c(out, '/');
            g_string_append(out, comp);
        }
        g_free(comp);
    }
    g_strfreev(parts);
    g_free(copy);
    if (out->len == 0)
        g_string_printf(out, "member-%zu", index);
    return g_string_free(out, FALSE);
}

/* A name fit for a one-line reason: unsafe characters (mg_uchar_unsafe) shown as '?'.
 * Caller g_free()s. */
static char *name_printable(const char *utf8)
{
    GString *out = g_string_new(NULL);

    for (const char *p = utf8; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (mg_uchar_unsafe(c))
            g_string_append_c(out, '?');
        else
            g_string_append_unichar(out, c);
    }
    return g_string_free(out, FALSE);
}

/* Length of name without the extension of its last component ("a/b.txt" -> 5). */
static size_t name_stem_len(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strrchr(base, '.');

    return dot && dot != base ? (size_t)(dot - name) : strlen(name);
}

/* name with its extension replaced by ext, " (n)" before it when n > 1. NULL when the name is
 * too long to format. Caller g_free()s. */
static char *name_with_ext(const char *name, const char *ext, unsigned n)
{
    size_t stem = name_stem_len(name);

    if (stem > INT_MAX)
        return NULL;
    if (n > 1)
        return g_strdup_printf("%.*s (%u).%s", (int)stem, name, n, ext);
    return g_strdup_printf("%.*s.%s", (int)stem, name, ext);
}

/* The output name for a sanitized member: its extension replaced by ext, made unique
 * (ignoring case) among the names already written. Caller g_free()s; NULL when too long. */
static char *name_output(GHashTable *used, const char *name, const char *ext)
{
    for (unsigned n = 1; n < UINT_MAX; n++) {
        char *cand = name_with_ext(name, ext, n);
        char *key;
        if (!cand)
            return NULL;
        key = g_utf8_casefold(cand, -1);
        if (!g_hash_table_contains(used, key)) {
            g_hash_table_add(used, key);
            return cand;
        }
        g_free(key);
        g_free(cand);
    }
    return NULL;
}

/* The name of the single member of a lone compressed file: the archive's base name without
 * the compression extension ("report.txt.gz" -> "report.txt", "x.tgz" -> "x.tar"). Caller
 * g_free()s; "member-1" when nothing is left. */
static char *name_raw_member(const char *archive_name)
{
    static const char *const strip[] = {".gz", ".bz2", ".xz", ".lzma", ".z", ".lz", ".zst"};
    static const char *const to_tar[] = {".tgz", ".tbz2", ".tbz", ".txz"};
    char *base = g_path_get_basename(archive_name ? archive_name : "");
    size_t len = strlen(base);
    char *res = NULL;

    for (size_t i = 0; !res && i < G_N_ELEMENTS(strip); i++) {
        size_t el = strlen(strip[i]);
        if (len > el && g_ascii_strcasecmp(base + len - el, strip[i]) == 0)
            res = g_strndup(base, len - el);
    }
    for (size_t i = 0; !res && i < G_N_ELEMENTS(to_tar); i++) {
        size_t el = strlen(to_tar[i]);
        if (len > el && g_ascii_strcasecmp(base + len - el, to_tar[i]) == 0)
            res = g_strdup_printf("%.*s.tar", (int)(len - el), base);
    }
    g_free(base);
    if (res && (res[0] == '\0' || strcmp(res, ".") == 0 || strcmp(res, "..") == 0)) {
        g_free(res);
        res = NULL;
    }
    return res ? res : g_strdup("member-1");
}

/* ---- the result's member list ---- */

/* Append a member named name (taken) to r->members; returns it, zeroed but for the name. */
static san_member *member_add(arch *x, char *name)
{
    san_result *r = x->r;
    san_member *m;

    if (r->nmembers == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 16;
        r->members = g_renew(san_member, r->members, x->cap);
    }
    m = &r->members[r->nmembers++];
    memset(m, 0, sizeof(*m));
    m->name = name;
    return m;
}

/* Note in m's reason that its name was changed from orig. */
static void member_note_rename(san_member *m, const char *orig)
{
    char *shown = name_printable(orig);
    char *reason =
        g_strdup_printf("%s; name normalized from \"%s\"", m->r.reason ? m->r.reason : "", shown);

    g_free(m->r.reason);
    m->r.reason = reason;
    g_free(shown);
}

/* ---- memory ---- */

/* The heap libarchive may add while it reads one entry, in bytes. */
static uint64_t mem_margin(const conf *c)
{
    uint64_t m = (uint64_t)c->archive_max_entry_mb * 1024 * 1024 + ARCH_MEM_EXTRA;

    return MAX(m, ARCH_MEM_FLOOR);
}

/* The data segment of this process in bytes (VmData, what RLIMIT_DATA counts), read through
 * buf; 0 when unknown. */
static uint64_t mem_data_now(char *buf, size_t len)
{
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;
    unsigned long long kb = 0;
    const char *p;

    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strstr(buf, "\nVmData:");
    if (!p || sscanf(p + 8, "%llu", &kb) != 1)
        return 0;
    return (uint64_t)kb * 1024;
}

/* Set the cap for the next libarchive calls: the data segment now plus the margin. */
static void mem_measure(arch *x)
{
    static int warned;
    uint64_t now = mem_data_now((char *)x->buf, ARCH_BUF_SIZE);

    x->mem_cap = RLIM_INFINITY;
    if (now && now < (uint64_t)RLIM_INFINITY - mem_margin(x->c))
        x->mem_cap = (rlim_t)(now + mem_margin(x->c));
    else if (!warned++)
        mg_warn("archive: cannot read VmData from /proc/self/status: archive memory unbounded");
}

/* Lower the soft data limit to the cap before a libarchive call; never raise it. */
static void mem_lower(arch *x)
{
    struct rlimit rl = x->mem_saved;

    if (x->mem_cap == RLIM_INFINITY || (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur <= x->mem_cap))
        return;
    rl.rlim_cur = x->mem_cap;
    if (setrlimit(RLIMIT_DATA, &rl) == 0)
        x->mem_lowered = 1;
    else
        mg_warn("archive: cannot lower RLIMIT_DATA: %s", g_strerror(errno));
}

/* Put the soft data limit back after the call, so that our own allocations (g_malloc aborts)
 * and the jails forked for members see the limit as it was. */
static void mem_restore(arch *x)
{
    if (x->mem_lowered && setrlimit(RLIMIT_DATA, &x->mem_saved) < 0)
        mg_warn("archive: cannot restore RLIMIT_DATA: %s", g_strerror(errno));
    x->mem_lowered = 0;
}

/* archive_read_next_header under a cap measured for this entry. */
static int rd_header(arch *x, struct archive_entry **ent)
{
    int rc;

    mem_measure(x);
    mem_lower(x);
    rc = archive_read_next_header(x->rd, ent);
    mem_restore(x);
    return rc;
}

/* archive_read_data into x->buf under the entry's cap. */
static la_ssize_t rd_data(arch *x)
{
    la_ssize_t n;

    mem_lower(x);
    n = archive_read_data(x->rd, x->buf, ARCH_BUF_SIZE);
    mem_restore(x);
    return n;
}

/* ---- reading ---- */

/* Non-zero when libarchive's last error says the data is encrypted. Its own answer is asked
 * for only once a header was read: until a format is chosen (a stream no format recognizes,
 * such as an empty one, never has one), libarchive leaves its format pointer past the end of
 * its table, and archive_read_has_encrypted_entries would call a function pointer read from
 * beyond the reader's memory. */
static int read_error_encrypted(arch *x)
{
    const char *msg = archive_error_string(x->rd);

    return (x->entries > 0 && archive_read_has_encrypted_entries(x->rd) > 0) ||
           (msg && (strstr(msg, "ncrypt") || strstr(msg, "assphrase")));
}

/* Block the archive: libarchive needed more memory than it may use. */
static void verdict_memory(arch *x)
{
    san_result_set(x->r, SAN_BLOCKED, NULL,
                   "reading it needs more than %zu MiB of memory: over a memory limit",
                   (size_t)(mem_margin(x->c) >> 20));
}

/* Set the verdict for a libarchive read error: blocked when it ran out of the memory it may
 * use, held when encrypted, else failed. */
static void read_error_verdict(arch *x, const char *what)
{
    const char *msg = archive_error_string(x->rd);

    if (archive_errno(x->rd) == ENOMEM)
        verdict_memory(x);
    else if (read_error_encrypted(x))
        san_result_set(x->r, SAN_HELD, "encrypted", "encrypted archive: cannot inspect");
    else
        san_result_set(x->r, SAN_FAILED, NULL, "malformed archive (%s): %s", what,
                       msg ? msg : "unknown error");
}

/* Stop reading the archive after this entry; the reason ends the archive's own. */
static void walk_cut(arch *x, const char *why)
{
    if (!x->cut[0])
        g_strlcpy(x->cut, why, sizeof(x->cut));
}

/* Check the bounds after n more bytes, entry_bytes in all, of the current entry were read;
 * the input's budget counts the n bytes. */
static arch_step check_bounds(arch *x, uint64_t entry_bytes, size_t n)
{
    const conf *c = x->c;
    int64_t packed = archive_filter_bytes(x->rd, -1);
    char why[128];

    if (entry_bytes > (uint64_t)c->archive_max_entry_mb * 1024 * 1024) {
        san_result_set(x->r, SAN_BLOCKED, NULL, "a member is larger than %zu MiB",
                       c->archive_max_entry_mb);
        return STEP_STOP;
    }
    if (san_budget_expand(x->b, c, (uint64_t)n, why, sizeof(why)) < 0) {
        san_result_set(x->r, SAN_BLOCKED, NULL, "%s", why);
        return STEP_STOP;
    }
    if (x->expanded > ARCH_RATIO_FLOOR && packed > 0 &&
        x->expanded / (uint64_t)packed >= c->archive_max_ratio) {
        san_result_set(x->r, SAN_BLOCKED, NULL, "compression ratio over %u: archive bomb",
                       c->archive_max_ratio);
        return STEP_STOP;
    }
    return STEP_NEXT;
}

/* Count n more bytes of the current entry (entry_bytes so far) and check the bounds. */
static arch_step count_bytes(arch *x, uint64_t *entry_bytes, size_t n)
{
    *entry_bytes += (uint64_t)n;
    x->expanded += (uint64_t)n;
    return check_bounds(x, *entry_bytes, n);
}

/* Non-zero when libarchive passes over the rest of an entry without decompressing anything:
 * tar, cpio, zip or lha not compressed as a whole, where it seeks or reads stored bytes. */
static int skip_is_cheap(arch *x)
{
    int base = archive_format(x->rd) & ARCHIVE_FORMAT_BASE_MASK;

    return archive_filter_count(x->rd) <= 1 &&
           (base == ARCHIVE_FORMAT_TAR || base == ARCHIVE_FORMAT_CPIO ||
            base == ARCHIVE_FORMAT_ZIP || base == ARCHIVE_FORMAT_LHA);
}

/* After the data of an entry could not be read: go on when skipping the rest costs nothing,
 * else stop reading the archive, which libarchive would decompress without a bound. */
static arch_step skip_unread(arch *x)
{
    if (!skip_is_cheap(x))
        walk_cut(x, "a member could not be read");
    return STEP_NEXT;
}

/* A read error in an entry's data: the whole archive stops when libarchive cannot go on
 * (held when encrypted). Otherwise member m fails and the walk goes on; for data read only
 * to pass over it (m NULL), the walk goes on only where skipping the rest costs nothing. */
static arch_step data_error(arch *x, san_member *m, la_ssize_t code)
{
    const char *msg = archive_error_string(x->rd);

    if (code == ARCHIVE_FATAL || read_error_encrypted(x)) {
        read_error_verdict(x, "member data");
        return STEP_STOP;
    }
    if (!m)
        return skip_unread(x);
    san_result_set(&m->r, SAN_FAILED, "unknown", "cannot be read from the archive: %s",
                   msg ? msg : "unknown error");
    return STEP_SKIP;
}

/* Read the current entry's data within the bounds: member m's into fd, or, with m NULL and
 * fd -1, an entry mugai does not use, read and discarded so that the next header does not
 * decompress it without a bound. */
static arch_step copy_data(arch *x, san_member *m, int fd)
{
    uint64_t entry_bytes = 0;

    for (;;) {
        la_ssize_t n = rd_data(x);
        arch_step st;
        if (n == 0)
            return STEP_NEXT;
        if (n < 0)
            return data_error(x, m, n);
        if ((st = count_bytes(x, &entry_bytes, (size_t)n)) != STEP_NEXT)
            return st;
        if (fd >= 0 && mg_write_all(fd, x->buf, (size_t)n) < 0) {
            san_result_set(x->r, SAN_FAILED, NULL, "cannot write a temporary file: %s",
                           g_strerror(errno));
            return STEP_ERROR;
        }
    }
}

/* Pass over an entry mugai does not use (see copy_data). */
static arch_step drain(arch *x)
{
    return copy_data(x, NULL, -1);
}

/* ---- writing the new zip ---- */

/* Start the new zip on out_fd: deflate, UTF-8 names, no block padding. 0 or -1. */
static int zip_start(arch *x)
{
    x->wr = archive_write_new();
    if (!x->wr || archive_write_set_format_zip(x->wr) != ARCHIVE_OK ||
        archive_write_set_options(x->wr, "zip:compression=deflate,zip:hdrcharset=UTF-8") !=
            ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(x->wr, 1) != ARCHIVE_OK ||
        archive_write_open_fd(x->wr, x->out_fd) != ARCHIVE_OK) {
        san_result_set(x->r, SAN_FAILED, NULL, "cannot start the new zip: %s",
                       x->wr ? archive_error_string(x->wr) : "out of memory");
        return -1;
    }
    return 0;
}

/* Write the sanitized member on fd (rewound) to the zip as outname. 0 or -1. */
static int zip_add(arch *x, const char *outname, int fd, time_t mtime)
{
    struct archive_entry *we;
    struct stat st;
    int rc = 0;

    if ((!x->wr && zip_start(x) < 0))
        return -1;
    if (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        san_result_set(x->r, SAN_FAILED, NULL, "cannot read a sanitized member: %s",
                       g_strerror(errno));
        return -1;
    }
    we = archive_entry_new();
    archive_entry_set_pathname_utf8(we, outname);
    archive_entry_set_filetype(we, AE_IFREG);
    archive_entry_set_perm(we, 0644);
    archive_entry_set_size(we, (la_int64_t)st.st_size);
    archive_entry_set_mtime(we, mtime, 0);
    if (archive_write_header(x->wr, we) != ARCHIVE_OK)
        rc = -1;
    for (ssize_t n; rc == 0 && (n = read(fd, x->buf, ARCH_BUF_SIZE)) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || archive_write_data(x->wr, x->buf, (size_t)n) != n)
            rc = -1;
    }
    if (rc < 0)
        san_result_set(x->r, SAN_FAILED, NULL, "cannot write the new zip: %s",
                       archive_error_string(x->wr) ? archive_error_string(x->wr) : "read error");
    archive_entry_free(we);
    return rc;
}

/* Drop whatever was written of the new zip: the caller writes nothing unless sanitized. */
static void zip_discard(arch *x)
{
    if (x->wr) {
        archive_write_free(x->wr);
        x->wr = NULL;
    }
    if (ftruncate(x->out_fd, 0) < 0 || lseek(x->out_fd, 0, SEEK_SET) < 0)
        mg_warn("archive: cannot empty the output: %s", g_strerror(errno));
}

/* ---- entries ---- */

/* Close the CSV of every sheet of r: once in the zip (or left out) it is not needed, and an
 * archive of many spreadsheets must not hold a descriptor per sheet until it is repacked. */
static void sheets_close(san_result *r)
{
    for (size_t i = 0; i < r->nsheets; i++)
        if (r->sheets[i].fd >= 0) {
            close(r->sheets[i].fd);
            r->sheets[i].fd = -1;
        }
}

/* Count sheet s of member m against the input's budget: one more member and its bytes. 0, or
 * -1 when the budget refuses it: the member's reason then says which sheet was left out and
 * why. */
static int sheet_budget(arch *x, san_member *m, const san_sheet *s)
{
    char why[160];

    if (san_budget_part(x->b, x->c, why, sizeof(why)) == 0 &&
        san_budget_expand(x->b, x->c, s->out_size, why, sizeof(why)) == 0)
        return 0;
    gchar *old = g_strdup(m->r.reason ? m->r.reason : "converted");
    san_result_set(&m->r, SAN_SANITIZED, NULL, "%s; the CSV of sheet %s left out: %s", old, s->name,
                   why);
    g_free(old);
    return -1;
}

/* Add the CSV of every sheet of member m (a spreadsheet) to the zip after its output, as
 * "STEM-SHEET.csv" beside it, made unique like every output name, each within the input's
 * budget; each sheet's output_path gets that name and its descriptor is closed once added.
 * 0 or -1. */
static int member_sheets(arch *x, san_member *m, time_t mtime)
{
    gchar *stem = g_strndup(m->output_name, name_stem_len(m->output_name));
    int rc = 0;

    for (size_t i = 0; i < m->r.nsheets && rc == 0; i++) {
        san_sheet *s = &m->r.sheets[i];
        if (sheet_budget(x, m, s) < 0)
            continue;
        char *base = san_sheet_file_name(stem, s);
        s->output_path = name_output(x->outnames, base, "csv");
        g_free(base);
        if (s->output_path && lseek(s->fd, 0, SEEK_SET) == 0)
            rc = zip_add(x, s->output_path, s->fd, mtime);
        close(s->fd);
        s->fd = -1;
    }
    g_free(stem);
    return rc;
}

/* Sanitize the member data already copied to fd and add the result to the zip. */
static arch_step member_convert(arch *x, san_member *m, int fd, time_t mtime)
{
    const char *ext = NULL;
    int out = -1;
    arch_step st = STEP_NEXT;

    if (lseek(fd, 0, SEEK_SET) < 0 ||
        san_convert_fd(x->e, fd, m->name, x->b, &m->r, &out, &ext) < 0) {
        san_result_set(x->r, SAN_FAILED, NULL, "internal error on member %s: %s", m->name,
                       m->r.reason ? m->r.reason : g_strerror(errno));
        st = STEP_ERROR;
    } else if (m->r.verdict == SAN_SANITIZED && out >= 0 && ext) {
        m->output_name = name_output(x->outnames, m->name, ext);
        if (!m->output_name)
            san_result_set(&m->r, SAN_BLOCKED, NULL, "member name too long");
        else if (zip_add(x, m->output_name, out, mtime) < 0 || member_sheets(x, m, mtime) < 0)
            st = STEP_ERROR;
        else
            x->kept++;
    }
    if (out >= 0)
        close(out);
    sheets_close(&m->r);
    return st;
}

/* A regular member: copy it out within the bounds, then sanitize it. */
static arch_step entry_regular(arch *x, struct archive_entry *ent, san_member *m)
{
    int fd = mg_tmp_file(g_get_tmp_dir());
    time_t mtime = archive_entry_mtime_is_set(ent) ? archive_entry_mtime(ent) : time(NULL);
    arch_step st;

    if (fd < 0) {
        san_result_set(x->r, SAN_FAILED, NULL, "cannot create a temporary file in %s: %s",
                       g_get_tmp_dir(), g_strerror(errno));
        return STEP_ERROR;
    }
    st = copy_data(x, m, fd);
    if (st == STEP_NEXT)
        st = member_convert(x, m, fd, mtime);
    else if (st == STEP_SKIP)
        st = skip_unread(x);
    else
        san_result_set(&m->r, x->r->verdict, "unknown", "%s", x->r->reason);
    close(fd);
    return st;
}

/* Non-zero for an entry that is a link or a special file rather than data. */
static int entry_is_special(arch *x, struct archive_entry *ent)
{
    if (archive_format(x->rd) == ARCHIVE_FORMAT_RAW)
        return 0;
    return archive_entry_filetype(ent) != AE_IFREG || archive_entry_hardlink(ent) != NULL;
}

/* The member's name: normalized UTF-8; *orig gets the decoded original. */
static char *entry_name(arch *x, struct archive_entry *ent, char **orig)
{
    const char *raw = archive_entry_pathname(ent);

    if (archive_format(x->rd) == ARCHIVE_FORMAT_RAW) {
        *orig = name_raw_member(x->name);
        return g_strdup(*orig);
    }
    if (!raw)
        raw = archive_entry_pathname_utf8(ent);
    *orig = name_to_utf8(raw ? raw : "", raw ? strlen(raw) : 0);
    return name_normalize(*orig, x->entries);
}

/* Handle one entry whose header was just read. */
static arch_step entry_handle(arch *x, struct archive_entry *ent)
{
    char *orig = NULL, why[128];
    san_member *m;
    arch_step st = STEP_NEXT;

    if (archive_format(x->rd) == ARCHIVE_FORMAT_RAW && archive_filter_count(x->rd) <= 1) {
        san_result_set(x->r, SAN_FAILED, NULL, "not a recognised archive format");
        return STEP_STOP;
    }
    if (archive_entry_is_encrypted(ent)) {
        san_result_set(x->r, SAN_HELD, "encrypted", "encrypted archive: cannot inspect");
        return STEP_STOP;
    }
    if (archive_entry_filetype(ent) == AE_IFDIR && archive_format(x->rd) != ARCHIVE_FORMAT_RAW)
        return drain(x);
    m = member_add(x, entry_name(x, ent, &orig));
    if (san_budget_part(x->b, x->c, why, sizeof(why)) < 0) {
        san_result_set(&m->r, SAN_BLOCKED, "unknown", "%s: removed", why);
        walk_cut(x, why);
    } else if (entry_is_special(x, ent)) {
        san_result_set(&m->r, SAN_BLOCKED, "unknown", "link/special file: removed");
        st = drain(x);
    } else
        st = entry_regular(x, ent, m);
    if (strcmp(orig, m->name) != 0)
        member_note_rename(m, orig);
    g_free(orig);
    return st;
}

/* Read every entry until the end or a verdict. */
static arch_step read_entries(arch *x)
{
    struct archive_entry *ent;

    for (;;) {
        int rc = rd_header(x, &ent);
        arch_step st;
        if (rc == ARCHIVE_EOF)
            return STEP_NEXT;
        if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
            read_error_verdict(x, "header");
            return STEP_STOP;
        }
        if (++x->entries > x->c->archive_max_entries) {
            san_result_set(x->r, SAN_BLOCKED, NULL, "more than %u entries",
                           x->c->archive_max_entries);
            return STEP_STOP;
        }
        if ((st = entry_handle(x, ent)) != STEP_NEXT || x->cut[0])
            return st;
    }
}

typedef int (*arch_support)(struct archive *);

/* The archive formats of the policy (detect.c), and raw: the content of a lone compressed
 * file, which becomes one member and is classified like any other. Not "all": that adds
 * formats such as mtree, whose entries name files on this host. */
static const arch_support arch_formats[] = {
    archive_read_support_format_zip,  archive_read_support_format_7zip,
    archive_read_support_format_lha,  archive_read_support_format_tar,
    archive_read_support_format_cpio, archive_read_support_format_rar,
    archive_read_support_format_rar5, archive_read_support_format_cab,
    archive_read_support_format_raw,
};

/* The compressions of the policy. Not "all": with lrzip, lzop or grzip, libarchive would
 * start those programs on hostile bytes in this trusted process. */
static const arch_support arch_filters[] = {
    archive_read_support_filter_gzip,
    archive_read_support_filter_bzip2,
    archive_read_support_filter_xz,
};

/* Non-zero when libarchive decompresses with fn itself. ARCHIVE_WARN means it would start an
 * external program, and a filter once added cannot be taken back: ask a scratch reader. */
static int filter_builtin(arch_support fn)
{
    struct archive *probe = archive_read_new();
    int rc = probe ? fn(probe) : ARCHIVE_FATAL;

    archive_read_free(probe);
    return rc == ARCHIVE_OK;
}

/* Enable the policy's formats and its built-in filters on rd. 0 or -1. */
static int reader_support(struct archive *rd)
{
    for (size_t i = 0; i < G_N_ELEMENTS(arch_formats); i++)
        if (arch_formats[i](rd) != ARCHIVE_OK)
            return -1;
    for (size_t i = 0; i < G_N_ELEMENTS(arch_filters); i++)
        if (filter_builtin(arch_filters[i]) && arch_filters[i](rd) != ARCHIVE_OK)
            return -1;
    return 0;
}

/* Open the reader on in_fd: the policy's formats and filters, raw for a lone compressed
 * file. */
static int reader_open(arch *x, int in_fd)
{
    int rc;

    x->rd = archive_read_new();
    if (!x->rd || lseek(in_fd, 0, SEEK_SET) < 0 || reader_support(x->rd) < 0) {
        san_result_set(x->r, SAN_FAILED, NULL, "cannot start the archive reader");
        return -1;
    }
    mem_measure(x);
    mem_lower(x);
    rc = archive_read_open_fd(x->rd, in_fd, ARCH_BUF_SIZE);
    mem_restore(x);
    if (rc != ARCHIVE_OK) {
        read_error_verdict(x, "open");
        return 1;
    }
    return 0;
}

/* Set the final verdict once every entry was read. */
static arch_step finish(arch *x)
{
    size_t n = x->r->nmembers;
    const char *sep = x->cut[0] ? "; the rest removed unread: " : "";

    if (x->kept == 0) {
        san_result_set(x->r, SAN_BLOCKED, NULL, "no member could be sanitized (%zu members)%s%s", n,
                       sep, x->cut);
        return STEP_STOP;
    }
    if (archive_write_close(x->wr) != ARCHIVE_OK) {
        san_result_set(x->r, SAN_FAILED, NULL, "cannot finish the new zip: %s",
                       archive_error_string(x->wr));
        return STEP_ERROR;
    }
    san_result_set(x->r, SAN_SANITIZED, NULL, "%zu of %zu members sanitized%s%s", x->kept, n, sep,
                   x->cut);
    return STEP_NEXT;
}

/* ---- 7z: headers read in a child first ---- */

/* Non-zero when in_fd may be read as 7z: the 7z signature, or an executable a 7z
 * self-extractor could hide in. */
static int maybe_7z(int in_fd)
{
    unsigned char head[6] = {0};

    if (pread(in_fd, head, sizeof(head), 0) < 2)
        return 0;
    return memcmp(head, "7z\xbc\xaf\x27\x1c", 6) == 0 || memcmp(head, "MZ", 2) == 0 ||
           memcmp(head, "\177ELF", 4) == 0;
}

/* In the child: read every header, draining the data within the bounds. Exit status 0 when it
 * ended (at the end, at a bound, or on an error the parent will meet and report too), 3 when
 * libarchive ran out of memory. */
static void probe_child(arch *x, int in_fd)
{
    struct archive_entry *ent;
    int rc = reader_open(x, in_fd);

    while (rc == 0) {
        rc = rd_header(x, &ent);
        if (rc == ARCHIVE_OK || rc == ARCHIVE_WARN)
            rc = ++x->entries > x->c->archive_max_entries || drain(x) != STEP_NEXT || x->cut[0];
        else
            _exit(rc != ARCHIVE_EOF && archive_errno(x->rd) == ENOMEM ? 3 : 0);
    }
    _exit(0);
}

/* For a 7z archive, read its headers in a child under the memory bound first: libarchive 3.6
 * reads a 7z symlink's whole target inside archive_read_next_header and exits the process
 * when it cannot allocate a copy of it. 0 to go on, -1 when over the bound (verdict set). */
static int probe_7z(arch *x, int in_fd)
{
    int status = 0;
    pid_t pid;

    if (!maybe_7z(in_fd))
        return 0;
    fflush(NULL); /* an exit in the child must not write our buffers twice */
    pid = fork();
    if (pid == 0)
        probe_child(x, in_fd);
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (pid < 0) {
        san_result_set(x->r, SAN_FAILED, NULL, "cannot check the 7z archive: %s",
                       g_strerror(errno));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        verdict_memory(x);
        return -1;
    }
    return 0;
}

/* Read, sanitize and repack; the verdict is in x->r. */
static arch_step arch_run(arch *x, int in_fd)
{
    int rc = probe_7z(x, in_fd) < 0 ? 1 : reader_open(x, in_fd);
    arch_step st;

    if (rc != 0)
        return rc < 0 ? STEP_ERROR : STEP_STOP;
    st = read_entries(x);
    if (st == STEP_NEXT)
        st = finish(x);
    return st;
}

/* See san_int.h: the verdict is in r, the new zip on out_fd only when sanitized. */
int archive_sanitize(san_engine *e, int in_fd, const char *name, san_budget *b, int out_fd,
                     san_result *r)
{
    arch x = {
        .e = e, .c = san_engine_conf(e), .name = name, .b = b, .r = r, .mem_cap = RLIM_INFINITY};
    /* Names libarchive converts (UTF-8 zip names, 7z, pax) must come out as UTF-8. */
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;
    char why[128];
    arch_step st;

    if (san_budget_enter(b, x.c, 1, why, sizeof(why)) < 0) {
        san_result_set(r, SAN_BLOCKED, NULL, "%s", why);
        st = STEP_STOP;
    } else {
        x.out_fd = out_fd;
        x.outnames = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        x.buf = g_malloc(ARCH_BUF_SIZE);
        if (getrlimit(RLIMIT_DATA, &x.mem_saved) < 0)
            x.mem_saved.rlim_cur = x.mem_saved.rlim_max = 0; /* mem_lower: leave it */
        st = arch_run(&x, in_fd);
        if (st != STEP_NEXT)
            zip_discard(&x);
        else
            archive_write_free(x.wr);
        archive_read_free(x.rd);
        g_hash_table_destroy(x.outnames);
        g_free(x.buf);
        san_budget_leave(b, 1);
    }
    if (utf8) {
        uselocale(old);
        freelocale(utf8);
    }
    return st == STEP_ERROR ? -1 : 0;
}
