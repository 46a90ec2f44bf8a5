/*
 * render/unlock.c - mugai-render's unlock mode: which password candidate opens
 * an encrypted zip or PDF, and what it holds.
 *
 * Runs inside mugai-render, under the jail and seccomp, on untrusted bytes (the
 * encrypted input on fd 0) and on the candidates the trusted side sent on
 * RND_FD_KEYS. A zip candidate counts only once an encrypted member holding
 * data was read to its end through libarchive's checks (ZipCrypto's CRC,
 * WinZip AES's authentication code): ZipCrypto's one-byte header check lets
 * one wrong password in 256 through, so a zip whose encrypted members are all
 * empty is opened by none; nor is a PDF that opens without a password (poppler
 * takes any). With the right one, every member is written decrypted, as an
 * unencrypted zip with each member's name bytes as they were (UTF-8 flag kept
 * exactly for names that are UTF-8), to RND_FD_OUTPUT, a file in the jail's work
 * directory that the jail's init hands on once this process has ended. A PDF is
 * rendered with the password that opened it, as in PDF mode. It must never write
 * a candidate anywhere (not on the wire, not in a message, not in a file), never
 * write past --max-output bytes of members or --max-entries members, and never
 * create a file.
 */
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include <glib.h>

#include "mg.h"
#include "rnd_int.h"

#define UNLOCK_BUF (64 * 1024)

/* Locales for member names: C.UTF-8 to read them (UTF-8 names come out as UTF-8, others as
 * their bytes) and to write UTF-8 names with the UTF-8 flag; C to write other bytes as they
 * are, without it. Made before the seccomp filter. */
static locale_t loc_utf8, loc_c;

void rnd_keys_free(rnd_keys *k)
{
    for (size_t i = 0; i < k->n; i++) {
        explicit_bzero(k->key[i], strlen(k->key[i]));
        free(k->key[i]);
    }
    free(k->key);
    k->key = NULL;
    k->n = 0;
}

rnd_status rnd_keys_read(int fd, rnd_keys *k, char *msg, size_t msg_len)
{
    char magic[4];
    uint32_t n = 0, len = 0;

    memset(k, 0, sizeof *k);
    if (mg_read_full(fd, magic, 4) < 0 || memcmp(magic, RND_KEYS_MAGIC, 4) != 0 ||
        mg_read_u32le(fd, &n) < 0 || n > RND_MAX_KEYS) {
        snprintf(msg, msg_len, "the candidates are not readable");
        return RND_ERR_USAGE;
    }
    k->key = calloc(n + 1, sizeof *k->key);
    for (uint32_t i = 0; k->key && i < n; i++) {
        if (mg_read_u32le(fd, &len) < 0 || len > RND_MAX_KEY_LEN ||
            !(k->key[i] = malloc(len + 1)) || mg_read_full(fd, k->key[i], len) < 0 ||
            memchr(k->key[i], '\0', len)) {
            free(k->key[i]);
            k->key[i] = NULL;
            rnd_keys_free(k);
            snprintf(msg, msg_len, "candidate %u is not readable", i);
            return RND_ERR_USAGE;
        }
        k->key[i][len] = '\0';
        k->n = i + 1;
    }
    if (!k->key) {
        snprintf(msg, msg_len, "out of memory");
        return RND_ERR_INTERNAL;
    }
    return RND_OK;
}

int rnd_unlock_prepare(void)
{
    loc_utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    loc_c = newlocale(LC_CTYPE_MASK, "C", (locale_t)0);
    return loc_utf8 && loc_c ? 0 : -1;
}

/* A zip reader on data with key as its only passphrase; NULL when it cannot be opened. */
static struct archive *zip_open(const void *data, size_t len, const char *key)
{
    struct archive *a = archive_read_new();

    if (!a)
        return NULL;
    uselocale(loc_utf8);
    if (archive_read_support_format_zip(a) != ARCHIVE_OK ||
        archive_read_add_passphrase(a, key) != ARCHIVE_OK ||
        archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
        archive_read_free(a);
        return NULL;
    }
    return a;
}

/* Read the current entry's data to its end, at most max bytes in all (*total so far); buf
 * is UNLOCK_BUF bytes. Its size, or -1 when libarchive refused it (a wrong password among
 * others), -2 over max. */
static int64_t entry_drain(struct archive *a, char *buf, uint64_t max, uint64_t *total)
{
    int64_t size = 0;

    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, UNLOCK_BUF);
        if (n == 0)
            return size;
        if (n < 0)
            return -1;
        *total += (uint64_t)n;
        if (*total > max)
            return -2;
        size += n;
    }
}

/* What one candidate did to the zip (zip_key_opens). */
typedef enum {
    KEY_WRONG,   /* libarchive refused an encrypted member's data with it */
    KEY_OPENS,   /* an encrypted member holding data was read to its end with it */
    KEY_NO_DATA, /* no encrypted member holds data: nothing can tell a right key */
    KEY_NONE,    /* the zip has no encrypted member */
    KEY_BIG,     /* a member expands past the bound */
    KEY_ENTRIES  /* more entries than the bound */
} key_result;

/* What key does to the zip: opens it when an encrypted member that holds data is read to its
 * end with every check libarchive makes. An empty member proves nothing: ZipCrypto checks a
 * key on it with one byte, which one wrong key in 256 passes. */
static key_result zip_key_opens(const void *data, size_t len, const char *key,
                                const rnd_unlock_lim *lim, char *buf)
{
    struct archive *a = zip_open(data, len, key);
    struct archive_entry *ent;
    uint64_t total = 0;
    unsigned entries = 0;
    int seen = 0;
    key_result rc = KEY_NO_DATA;

    if (!a)
        return KEY_WRONG;
    for (int h; rc == KEY_NO_DATA &&
                ((h = archive_read_next_header(a, &ent)) == ARCHIVE_OK || h == ARCHIVE_WARN);) {
        if (++entries > lim->max_entries)
            rc = KEY_ENTRIES;
        else if (archive_entry_is_data_encrypted(ent)) {
            seen = 1;
            int64_t size = entry_drain(a, buf, lim->max_output, &total);
            rc = size == -2 ? KEY_BIG : size < 0 ? KEY_WRONG : size > 0 ? KEY_OPENS : rc;
        }
    }
    archive_read_free(a);
    return rc == KEY_NO_DATA && !seen ? KEY_NONE : rc;
}

rnd_status rnd_zip_find(const void *data, size_t len, const rnd_keys *k, const rnd_unlock_lim *lim,
                        int *which, unsigned *tried, char *msg, size_t msg_len)
{
    char *buf = malloc(UNLOCK_BUF);
    key_result rc = KEY_WRONG;

    *which = -1;
    *tried = 0;
    if (!buf)
        return snprintf(msg, msg_len, "out of memory"), RND_ERR_INTERNAL;
    for (size_t i = 0; i < k->n && rc == KEY_WRONG; i++) {
        rc = zip_key_opens(data, len, k->key[i], lim, buf);
        *tried = (unsigned)i + 1;
        if (rc == KEY_OPENS)
            *which = (int)i;
    }
    free(buf);
    switch (rc) {
    case KEY_NONE:
        return snprintf(msg, msg_len, "the zip has no encrypted member"), RND_ERR_MALFORMED;
    case KEY_NO_DATA:
        return snprintf(msg, msg_len, "no encrypted member of the zip holds data"),
               RND_ERR_MALFORMED;
    case KEY_BIG:
        return snprintf(msg, msg_len, "a member expands past %llu bytes",
                        (unsigned long long)lim->max_output),
               RND_ERR_LIMIT;
    case KEY_ENTRIES:
        return snprintf(msg, msg_len, "more than %u entries", lim->max_entries), RND_ERR_LIMIT;
    default:
        return RND_OK;
    }
}

/* The new zip's entry for ent: its name bytes as read, a regular file or a symbolic link,
 * its time; the size left unset (the writer ends each member with a data descriptor). */
static struct archive_entry *entry_copy(struct archive_entry *ent)
{
    struct archive_entry *we = archive_entry_new();
    const char *name = archive_entry_pathname(ent);

    if (!we)
        return NULL;
    archive_entry_copy_pathname(we, name ? name : "");
    archive_entry_set_filetype(we, archive_entry_filetype(ent));
    archive_entry_set_perm(we, 0644);
    if (archive_entry_mtime_is_set(ent))
        archive_entry_set_mtime(we, archive_entry_mtime(ent), 0);
    if (archive_entry_filetype(ent) == AE_IFLNK && archive_entry_symlink(ent))
        archive_entry_copy_symlink(we, archive_entry_symlink(ent));
    return we;
}

/* Write the current entry ent of rd into wr: its header (in the locale its name needs) and,
 * for a regular file, its data, counted in *total within lim. RND_OK or a failure. */
static rnd_status entry_write(struct archive *rd, struct archive *wr, struct archive_entry *ent,
                              const rnd_unlock_lim *lim, uint64_t *total, char *buf, char *msg,
                              size_t msg_len)
{
    struct archive_entry *we = entry_copy(ent);
    const char *name = archive_entry_pathname(ent);
    rnd_status st = RND_OK;

    if (!we)
        return snprintf(msg, msg_len, "out of memory"), RND_ERR_INTERNAL;
    uselocale(name && g_utf8_validate(name, -1, NULL) ? loc_utf8 : loc_c);
    int hrc = archive_write_header(wr, we);
    uselocale(loc_utf8);
    if (hrc != ARCHIVE_OK && hrc != ARCHIVE_WARN)
        st = RND_ERR_INTERNAL, snprintf(msg, msg_len, "cannot write the decrypted zip");
    while (st == RND_OK && archive_entry_filetype(ent) == AE_IFREG) {
        la_ssize_t n = archive_read_data(rd, buf, UNLOCK_BUF);
        if (n == 0)
            break;
        if (n < 0)
            st = RND_ERR_MALFORMED, snprintf(msg, msg_len, "a member cannot be decrypted");
        else if ((*total += (uint64_t)n) > lim->max_output)
            st = RND_ERR_LIMIT, snprintf(msg, msg_len, "the members expand past %llu bytes",
                                         (unsigned long long)lim->max_output);
        else if (archive_write_data(wr, buf, (size_t)n) != n)
            st = RND_ERR_INTERNAL, snprintf(msg, msg_len, "cannot write the decrypted zip");
    }
    archive_entry_free(we);
    return st;
}

/* Copy every member of rd (but directories) into wr within lim. */
static rnd_status zip_copy(struct archive *rd, struct archive *wr, const rnd_unlock_lim *lim,
                           char *buf, char *msg, size_t msg_len)
{
    struct archive_entry *ent;
    uint64_t total = 0;
    unsigned entries = 0;
    rnd_status st = RND_OK;
    int rc;

    while (st == RND_OK && (rc = archive_read_next_header(rd, &ent)) != ARCHIVE_EOF) {
        if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
            return snprintf(msg, msg_len, "a member's header cannot be read"), RND_ERR_MALFORMED;
        if (++entries > lim->max_entries)
            return snprintf(msg, msg_len, "more than %u entries", lim->max_entries), RND_ERR_LIMIT;
        mode_t type = archive_entry_filetype(ent);
        if (type == AE_IFREG || type == AE_IFLNK)
            st = entry_write(rd, wr, ent, lim, &total, buf, msg, msg_len);
    }
    return st;
}

rnd_status rnd_zip_decrypt(const void *data, size_t len, const char *key, const rnd_unlock_lim *lim,
                           int out_fd, char *msg, size_t msg_len)
{
    struct archive *rd = zip_open(data, len, key);
    struct archive *wr = archive_write_new();
    char *buf = malloc(UNLOCK_BUF);
    rnd_status st = RND_OK;

    if (!rd || !wr || !buf || archive_write_set_format_zip(wr) != ARCHIVE_OK ||
        archive_write_open_fd(wr, out_fd) != ARCHIVE_OK) {
        st = RND_ERR_INTERNAL;
        snprintf(msg, msg_len, "cannot start the decrypted zip");
    } else {
        st = zip_copy(rd, wr, lim, buf, msg, msg_len);
        if (st == RND_OK && archive_write_close(wr) != ARCHIVE_OK)
            st = RND_ERR_INTERNAL, snprintf(msg, msg_len, "cannot finish the decrypted zip");
    }
    if (rd)
        archive_read_free(rd);
    if (wr)
        archive_write_free(wr);
    free(buf);
    return st;
}

rnd_status rnd_pdf_find(const void *data, size_t len, const rnd_keys *k, int *which,
                        unsigned *tried, char *msg, size_t msg_len)
{
    *which = -1;
    *tried = 0;
    /* poppler opens a PDF that needs no password whatever password it is given */
    rnd_status st = k->n > 0 ? rnd_pdf_check(data, len, NULL, msg, msg_len) : RND_ERR_ENCRYPTED;
    if (st == RND_OK)
        return snprintf(msg, msg_len, "the PDF opens without a password"), RND_ERR_MALFORMED;
    if (st != RND_ERR_ENCRYPTED)
        return st;
    for (size_t i = 0; i < k->n && *which < 0; i++) {
        st = rnd_pdf_check(data, len, k->key[i], msg, msg_len);
        *tried = (unsigned)i + 1;
        if (st == RND_OK)
            *which = (int)i;
        else if (st != RND_ERR_ENCRYPTED)
            return st;
    }
    return RND_OK;
}
