/*
 * fuzz/fuzz_archive.c - libFuzzer harness of the archive walker: the input's
 * first byte picks the archive's name (x.zip, x.7z, x.tar.gz, memo.txt.gz...,
 * which names the member of a lone compressed file), the rest is the archive,
 * given to archive_sanitize as the engine gives it an attachment.
 *
 * Runs the trusted side for real (libarchive listing and decompression under
 * the bounds, member name decoding and normalization, libmagic classification,
 * libclamav with the EICAR signature, the engine on every member, nested
 * archives and messages, repacking) with the render jail replaced by
 * stub_jail.c. Beyond the sanitizers' reports it reads the new zip back and
 * checks what the walker promises: one entry per sanitized member, in order,
 * under its output name, and every name safe (UTF-8 without unsafe
 * characters, relative, no empty, "." or ".." component). Each run frees
 * everything it made.
 */
#include <fcntl.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <glib.h>

#include "conf.h"
#include "engine_fixture.h"
#include "mg.h"
#include "san.h"
#include "san_int.h"

static conf *cfg;
static san_engine *engine;

/* The names the first byte picks from: each format's usual name, lone compressed files
 * whose member is named after them (also a name that leaves no member name, as an archive
 * member may have), and no extension at all. */
static const char *const archive_names[] = {
    "x.zip",       "x.7z",      "x.tar",       "x.tar.gz",    "x.tgz",    "x.lzh",
    "memo.txt.gz", "x.bz2",     "data.txt.xz", "x.cpio",      "x.rar",    "x.cab",
    "archive",     "x.tar.bz2", "dir/.gz",     "資料.txt.gz", "x.tar.xz",
};

/* Small limits, so that every bound is within the fuzzer's reach and each run is fast. */
static void limits_small(conf *c)
{
    c->max_input_mb = 1;
    c->max_text_mb = 1;
    c->max_pages = 3;
    c->mail_max_depth = 8;
    c->mail_max_parts = 20;
    c->archive_max_depth = 3;
    c->archive_max_entries = 24;
    c->archive_max_total_mb = 8;
    c->archive_max_entry_mb = 2;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    mg_log_init("fuzz_archive", 0, MG_LOG_FATAL);
    cfg = conf_new_defaults();
    limits_small(cfg);
    engine = fuzz_engine_start("fuzz_archive", cfg);
    return 0;
}

/* Abort with a message about the new zip. */
static void zip_bad(const char *what, const char *name)
{
    fprintf(stderr, "fuzz_archive: new zip: %s: \"%s\"\n", what, name ? name : "(null)");
    abort();
}

/* Abort unless name is a safe member name: valid UTF-8 without unsafe characters, relative,
 * '/'-separated components none of which is empty, "." or "..". */
static void name_check(const char *name)
{
    if (!name || !*name || !g_utf8_validate(name, -1, NULL))
        zip_bad("name missing or not UTF-8", name);
    for (const char *p = name; *p; p = g_utf8_next_char(p))
        if (mg_uchar_unsafe(g_utf8_get_char(p)) || *p == '\\')
            zip_bad("unsafe character in name", name);
    gchar **parts = g_strsplit(name, "/", -1);
    for (size_t i = 0; parts[i]; i++)
        if (!parts[i][0] || strcmp(parts[i], ".") == 0 || strcmp(parts[i], "..") == 0)
            zip_bad("empty, . or .. component in name", name);
    g_strfreev(parts);
}

/* Read the new zip on fd back: one entry per member with an output name, in order, under
 * that name, each name safe. */
static void zip_check(int fd, const san_result *r)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ent;
    size_t m = 0;

    if (lseek(fd, 0, SEEK_SET) < 0 || archive_read_support_format_zip(a) != ARCHIVE_OK ||
        archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK)
        zip_bad("cannot be opened", archive_error_string(a));
    for (int rc; (rc = archive_read_next_header(a, &ent)) != ARCHIVE_EOF;) {
        const char *name = archive_entry_pathname_utf8(ent);
        if (rc != ARCHIVE_OK)
            zip_bad("unreadable entry", archive_error_string(a));
        while (m < r->nmembers && !r->members[m].output_name)
            m++;
        if (m == r->nmembers)
            zip_bad("entry for no sanitized member", name);
        if (!name || strcmp(name, r->members[m].output_name) != 0)
            zip_bad("entry not named as its member", name);
        name_check(name);
        m++;
    }
    while (m < r->nmembers && !r->members[m].output_name)
        m++;
    if (m != r->nmembers)
        zip_bad("sanitized member missing", r->members[m].output_name);
    archive_read_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *name = archive_names[data[0] % G_N_ELEMENTS(archive_names)];
    int in = fuzz_memfd("fuzz-archive-in", data + 1, size - 1);
    int out = memfd_create("fuzz-archive-out", MFD_CLOEXEC);
    san_budget b = {0};
    san_result r = {0};
    /* The walker's names come out as UTF-8 in this locale, as archive.c reads them. */
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;

    if (out < 0) {
        perror("fuzz_archive: output");
        exit(1);
    }
    if (archive_sanitize(engine, in, name, &b, out, &r) == 0 && r.verdict == SAN_SANITIZED)
        zip_check(out, &r);
    san_result_clear(&r);
    if (utf8) {
        uselocale(old);
        freelocale(utf8);
    }
    close(out);
    close(in);
    return 0;
}
